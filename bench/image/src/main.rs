//! Image trainer benchmark: test accuracy within a time budget through the whole Conductor
//! run, and training throughput (images/s) beside PyTorch CPU training the same architecture
//! with the same thread count, in the same run.
//!
//! Run (release, from the repository root):
//!
//! ```text
//! bash bench/image/setup.sh        # a venv with torch, once
//! RAYON_NUM_THREADS=2 cargo run --release -p automl-bench-image -- \
//!     --data-root datasets/images --sets mnist_5k,cats_dogs --budget 120
//! ```
//!
//! The thread count is `RAYON_NUM_THREADS` (what candle uses), else the number of cores; the
//! PyTorch side gets the same through `torch.set_num_threads`.

use std::path::PathBuf;
use std::process::Command;
use std::time::Instant;

use automl_core::train::image::{ArchSpec, ImageTrainer, ImageTrainerConfig, throughput};
use automl_core::{Conductor, RunRequest};

/// mimalloc keeps freed pages for reuse; glibc's malloc hands the large, short-lived tensors
/// of CNN training back to the kernel and page-faults them in again, which cost about half of
/// the CPU time of an image training step.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

struct Args {
    data_root: PathBuf,
    sets: Vec<String>,
    budget: f64,
    steps: usize,
    python: PathBuf,
    out: Option<PathBuf>,
    only: Option<(String, usize)>,
    /// The image trainer's settings (`--width`, `--flat-head`, `--batch`, `--lr`,
    /// `--min-epochs`, `--no-pretrained`), to compare recipes.
    image: ImageTrainerConfig,
}

fn parse() -> Result<Args, String> {
    let mut a = Args {
        data_root: PathBuf::from("datasets/images"),
        sets: vec!["mnist_5k".into(), "cats_dogs".into()],
        budget: 120.0,
        steps: 20,
        python: PathBuf::from("bench/image/.venv/bin/python"),
        out: None,
        only: None,
        image: ImageTrainerConfig::default(),
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut val = || it.next().ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--data-root" => a.data_root = PathBuf::from(val()?),
            "--sets" => a.sets = val()?.split(',').map(str::to_string).collect(),
            "--budget" => a.budget = val()?.parse().map_err(|e| format!("--budget: {e}"))?,
            "--steps" => a.steps = val()?.parse().map_err(|e| format!("--steps: {e}"))?,
            "--python" => a.python = PathBuf::from(val()?),
            "--out" => a.out = Some(PathBuf::from(val()?)),
            // Throughput only, for one architecture: --only '<ArchSpec JSON>' BATCH.
            "--only" => {
                let spec = val()?;
                let batch = val()?.parse().map_err(|e| format!("--only batch: {e}"))?;
                a.only = Some((spec, batch));
            }
            "--width" => a.image.width = Some(val()?.parse().map_err(|e| format!("--width: {e}"))?),
            "--flat-head" => {
                a.image.flat_head = Some(val()?.parse().map_err(|e| format!("--flat-head: {e}"))?)
            }
            "--batch" => {
                a.image.batch_size = Some(val()?.parse().map_err(|e| format!("--batch: {e}"))?)
            }
            "--lr" => a.image.lr = val()?.parse().map_err(|e| format!("--lr: {e}"))?,
            "--min-epochs" => {
                a.image.min_epochs = val()?.parse().map_err(|e| format!("--min-epochs: {e}"))?
            }
            "--no-pretrained" => a.image.weight_cache = false,
            "--rotate" => a.image.rotate = val()?.parse().map_err(|e| format!("--rotate: {e}"))?,
            "--zoom" => a.image.zoom = val()?.parse().map_err(|e| format!("--zoom: {e}"))?,
            other => return Err(format!("unknown option {other}")),
        }
    }
    Ok(a)
}

fn threads() -> usize {
    std::env::var("RAYON_NUM_THREADS")
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|n: &usize| *n > 0)
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}

fn torch_throughput(
    python: &PathBuf,
    arch: &ArchSpec,
    batch: usize,
    steps: usize,
    threads: usize,
) -> Result<serde_json::Value, String> {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("torch_bench.py");
    let spec = serde_json::to_string(arch).map_err(|e| e.to_string())?;
    let out = Command::new(python)
        .arg(&script)
        .arg(spec)
        .arg(batch.to_string())
        .arg(steps.to_string())
        .arg(threads.to_string())
        .env("OMP_NUM_THREADS", threads.to_string())
        .output()
        .map_err(|e| format!("cannot run {}: {e}", python.display()))?;
    if !out.status.success() {
        return Err(format!(
            "torch bench failed: {}",
            String::from_utf8_lossy(&out.stderr)
                .lines()
                .last()
                .unwrap_or("")
        ));
    }
    serde_json::from_slice(&out.stdout).map_err(|e| format!("torch bench output: {e}"))
}

#[tokio::main]
async fn main() {
    let args = match parse() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("bench-image: {e}");
            std::process::exit(2);
        }
    };
    let threads = threads();
    if let Some((spec, batch)) = &args.only {
        let arch: ArchSpec = match serde_json::from_str(spec) {
            Ok(a) => a,
            Err(e) => {
                eprintln!("bench-image: --only: {e}");
                std::process::exit(2);
            }
        };
        let ours = throughput(&arch, *batch, args.steps, 0).map_err(|e| e.to_string());
        let theirs = torch_throughput(&args.python, &arch, *batch, args.steps, threads);
        println!("automl {ours:?} images/s; torch {theirs:?}");
        return;
    }
    let scratch = std::env::temp_dir().join(format!("automl-bench-image-{}", std::process::id()));
    let mut results = Vec::new();
    println!(
        "threads: {threads}; budget {} s per data set; throughput over {} steps",
        args.budget, args.steps
    );
    println!(
        "| data set | arch | side×side×c | batch | automl img/s | PyTorch img/s | ratio | test accuracy (model, wall s) |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    for set in &args.sets {
        let dir = args.data_root.join(set);
        let mut builder = Conductor::builder()
            .runs_dir(scratch.join("runs"))
            .without_default_trainers();
        for t in automl_core::conductor::defaults::trainers() {
            if t.name() == "image" {
                builder =
                    builder.trainer(std::sync::Arc::new(ImageTrainer::new(args.image.clone())));
            } else {
                builder = builder.trainer(t);
            }
        }
        let conductor = match builder.build() {
            Ok(c) => c,
            Err(e) => {
                eprintln!("bench-image: {e}");
                std::process::exit(1);
            }
        };
        let t0 = Instant::now();
        let outcome = conductor
            .run(
                RunRequest::new(format!("classify the images in {set}"))
                    .data(&dir)
                    .time_budget(args.budget)
                    .seed(0)
                    .out_dir(scratch.join(set)),
            )
            .await;
        let wall = t0.elapsed().as_secs_f64();
        let (accuracy, best_model, rows) = match &outcome {
            Ok(o) => (
                o.metrics.get("accuracy").copied(),
                o.model.clone().unwrap_or_default(),
                o.leaderboard.clone(),
            ),
            Err(e) => {
                eprintln!("bench-image: {set}: {e}");
                (None, String::new(), vec![])
            }
        };
        for row in &rows {
            let p = &row.params;
            let get = |k: &str| p.get(k).and_then(|v| v.as_u64()).unwrap_or(0) as usize;
            let n_classes = std::fs::read_dir(&dir)
                .map(|d| {
                    d.filter_map(|e| e.ok())
                        .filter(|e| e.path().is_dir())
                        .count()
                })
                .unwrap_or(2);
            let arch = ArchSpec {
                arch: row.model.clone(),
                width: get("width"),
                in_channels: get("channels"),
                side: get("side"),
                n_classes,
                flat_head: p
                    .get("flat_head")
                    .and_then(|v| v.as_bool())
                    .unwrap_or(false),
            };
            let batch = get("batch_size");
            let ours = throughput(&arch, batch, args.steps, 0).map_err(|e| e.to_string());
            let theirs = torch_throughput(&args.python, &arch, batch, args.steps, threads);
            let ratio = match (&ours, &theirs) {
                (Ok(a), Ok(b)) => b["images_per_s"].as_f64().map(|b| a / b),
                _ => None,
            };
            let acc = if row.model == best_model {
                accuracy.map_or("-".to_string(), |a| {
                    format!("{:.2} % ({best_model}, {wall:.0} s)", a * 100.0)
                })
            } else {
                format!("valid {:.2} %", row.score * 100.0)
            };
            println!(
                "| {set} | {} | {}×{}×{} | {batch} | {} | {} | {} | {acc} |",
                row.model,
                arch.side,
                arch.side,
                arch.in_channels,
                ours.as_ref()
                    .map_or_else(|e| e.clone(), |v| format!("{v:.0}")),
                theirs.as_ref().map_or_else(
                    |e| e.clone(),
                    |v| format!("{:.0}", v["images_per_s"].as_f64().unwrap_or(f64::NAN))
                ),
                ratio.map_or("-".to_string(), |r| format!("{r:.2}")),
            );
            results.push(serde_json::json!({
                "set": set,
                "arch": arch,
                "batch": batch,
                "threads": threads,
                "automl_images_per_s": ours.ok(),
                "torch": theirs.unwrap_or_else(|e| serde_json::json!({"error": e})),
                "trained_epochs": get("epochs"),
                "train_images_per_s_in_run": get("images_per_s"),
                "valid_score": row.score,
                "best": row.model == best_model,
                "test_accuracy": if row.model == best_model { accuracy } else { None },
                "wall_s": wall,
            }));
        }
    }
    if let Some(out) = &args.out {
        let text = serde_json::to_string_pretty(&results).unwrap_or_default();
        if let Err(e) = std::fs::write(out, text) {
            eprintln!("bench-image: cannot write {}: {e}", out.display());
        }
    }
    let _ = std::fs::remove_dir_all(&scratch);
}
