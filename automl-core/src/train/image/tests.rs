//! Image trainer tests on tiny synthetic images (a few seconds in the debug profile).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rand::{Rng, SeedableRng};
use tokio_util::sync::CancellationToken;

use super::*;
use crate::api::load_model;
use crate::bus::EventBus;
use crate::data::load_image_folder;
use crate::data::preprocess::split_rows;
use crate::train::{ImageData, TrainContext, TrainInput, Trainer};

/// Writes a two-class folder of 12×12 PNGs: vertical stripes vs horizontal stripes, with
/// noise, plus one corrupt PNG and one text file.
fn synthetic_folder(dir: &Path, per_class: usize, seed: u64) {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    for (ci, class) in ["horizontal", "vertical"].iter().enumerate() {
        let d = dir.join(class);
        std::fs::create_dir_all(&d).expect("mkdir");
        for k in 0..per_class {
            let phase = rng.gen_range(0..2u32);
            let img = image::GrayImage::from_fn(12, 12, |x, y| {
                let t = if ci == 0 { y } else { x };
                let on = (t + phase) % 4 < 2;
                let base: i32 = if on { 200 } else { 50 };
                let v = base + rng.gen_range(-40..=40);
                image::Luma([v.clamp(0, 255) as u8])
            });
            img.save(d.join(format!("{k:03}.png"))).expect("save png");
        }
    }
    std::fs::write(
        dir.join("vertical").join("broken.png"),
        b"\x89PNG not really",
    )
    .expect("write corrupt");
    std::fs::write(dir.join("horizontal").join("notes.txt"), b"not an image").expect("write txt");
}

fn image_data(dir: &Path, seed: u64) -> Arc<ImageData> {
    // Scan without decoding, so that the trainer's own handling of undecodable files is what
    // these tests exercise (the loader's decode check has tests of its own).
    let opts = crate::data::LoadOptions {
        verify_images: false,
        ..Default::default()
    };
    let folder = load_image_folder(dir, &opts).expect("scan folder");
    let rows: Vec<usize> = (0..folder.files.len()).collect();
    let strata: Vec<usize> = folder.files.iter().map(|(_, c)| *c).collect();
    let split = split_rows(&rows, Some(&strata), seed);
    Arc::new(ImageData { folder, split })
}

fn context(bus: &EventBus, project: &str, budget: Duration, seed: u64) -> TrainContext {
    TrainContext::new(
        bus.emitter(project),
        CancellationToken::new(),
        Instant::now() + budget,
        seed,
        None,
        "accuracy",
    )
}

fn small_config() -> ImageTrainerConfig {
    ImageTrainerConfig {
        archs: vec!["small_cnn".to_string()],
        max_side: 12,
        max_epochs: 10,
        patience: 10,
        lr: 1e-2,
        batch_size: Some(16),
        weight_cache: false,
        ..Default::default()
    }
}

fn events(bus: &EventBus, project: &str) -> Vec<Event> {
    bus.history(project).into_iter().map(|e| e.event).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trains_reports_skips_corrupt_files_and_reloads() {
    let tmp = tempfile::tempdir().expect("tempdir");
    synthetic_folder(tmp.path(), 40, 7);
    let data = image_data(tmp.path(), 0);
    assert_eq!(
        data.folder.skipped.len(),
        1,
        "the text file is skipped by extension"
    );
    let bus = EventBus::default();
    let cx = context(&bus, "p-img", Duration::from_secs(60), 3);
    let trainer = ImageTrainer::new(small_config());
    trainer
        .train(TrainInput::Images(data.clone()), cx.clone())
        .await
        .expect("train");
    let best = cx.best().expect("a trial was reported");
    assert_eq!(best.model.model_name(), "small_cnn");
    assert!(best.score >= 0.8, "valid accuracy {}", best.score);

    let ev = events(&bus, "p-img");
    let has = |pred: &dyn Fn(&Event) -> bool| ev.iter().any(pred);
    assert!(has(&|e| matches!(e, Event::TrainRunStarted(_))));
    assert!(has(
        &|e| matches!(e, Event::TrainRunFinished(p) if p.metrics.contains_key("accuracy"))
    ));
    assert!(has(&|e| matches!(e, Event::TrainProgress(_))));
    assert!(has(
        &|e| matches!(e, Event::GdPathUpdate(p) if p.points.len() >= 3)
    ));
    for (name, split) in [
        ("loss", "train"),
        ("accuracy", "train"),
        ("loss", "valid"),
        ("accuracy", "valid"),
    ] {
        assert!(
            has(&|e| matches!(e, Event::MetricScalar(m) if m.name == name && m.split == split)),
            "no METRIC_SCALAR {name}/{split}"
        );
    }
    assert!(has(
        &|e| matches!(e, Event::Warning(w) if w.code == "no_pretrained_weights")
    ));
    // The corrupt PNG is counted, whichever split it fell in (train, valid, or test).
    let corrupt_in_train_or_valid = data
        .split
        .train
        .iter()
        .chain(&data.split.valid)
        .any(|&i| data.folder.files[i].0.ends_with("broken.png"));
    assert_eq!(
        has(
            &|e| matches!(e, Event::Warning(w) if w.code == "images_unreadable" && w.message.starts_with("1 of"))
        ),
        corrupt_in_train_or_valid
    );

    // Save, reload through load_model, and predict the same.
    let out = tmp.path().join("export");
    let files = best.model.save(&out).expect("save");
    assert!(files.iter().any(|f| f.ends_with("model.safetensors")));
    let reloaded = load_model(&out).expect("load_model");
    let test_files: Vec<PathBuf> = data.folder.files.iter().map(|(p, _)| p.clone()).collect();
    let (a, fa) = best.model.predict_images(&test_files).expect("predict");
    let (b, fb) = reloaded
        .predict_images(&test_files)
        .expect("predict reloaded");
    assert_eq!(fa.len(), 1, "the corrupt file is reported, not a panic");
    assert_eq!(fa, fb);
    let (Predictions::Classes { proba: pa, .. }, Predictions::Classes { proba: pb, classes }) =
        (a, b)
    else {
        panic!("class predictions expected");
    };
    assert_eq!(classes, vec!["horizontal", "vertical"]);
    assert_eq!(pa.nrows(), test_files.len() - 1);
    for (x, y) in pa.iter().zip(pb.iter()) {
        assert!((x - y).abs() < 1e-6, "{x} vs {y}");
    }
    // Bytes give the same answer as the file.
    let direct = ImageModel::load(&out).expect("load");
    let bytes = std::fs::read(&test_files[0]).expect("read");
    let pbytes = direct.predict_bytes(&bytes).expect("bytes");
    for (x, y) in pbytes.iter().zip(pa.row(0).iter()) {
        assert!((x - y).abs() < 1e-6);
    }
    assert!(direct.predict_bytes(b"garbage").is_err());

    // Transfer learning from the saved weights: tensors are loaded and no warning is given.
    let bus2 = EventBus::default();
    let cx2 = context(&bus2, "p-tl", Duration::from_secs(60), 3);
    let mut cfg = small_config();
    cfg.max_epochs = 3;
    cfg.pretrained = Some(out.clone());
    ImageTrainer::new(cfg)
        .train(TrainInput::Images(data), cx2.clone())
        .await
        .expect("fine-tune");
    let ev2 = events(&bus2, "p-tl");
    assert!(
        !ev2.iter()
            .any(|e| matches!(e, Event::Warning(w) if w.code == "no_pretrained_weights"))
    );
    assert!(ev2.iter().any(|e| matches!(e, Event::TrainRunStarted(p)
        if p.params.get("pretrained_tensors").and_then(|v| v.as_u64()).unwrap_or(0) > 0)));
    assert!(cx2.best().expect("fine-tuned").score >= 0.8);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seeded_runs_repeat() {
    let tmp = tempfile::tempdir().expect("tempdir");
    synthetic_folder(tmp.path(), 16, 1);
    let data = image_data(tmp.path(), 0);
    let mut scores = vec![];
    for _ in 0..2 {
        let bus = EventBus::default();
        let cx = context(&bus, "p", Duration::from_secs(60), 11);
        let mut cfg = small_config();
        cfg.max_epochs = 2;
        ImageTrainer::new(cfg)
            .train(TrainInput::Images(data.clone()), cx)
            .await
            .expect("train");
        let losses: Vec<f64> = events(&bus, "p")
            .into_iter()
            .filter_map(|e| match e {
                Event::MetricScalar(m) if m.name == "loss" && m.split == "train" => Some(m.value),
                _ => None,
            })
            .collect();
        scores.push(losses);
    }
    assert!(!scores[0].is_empty());
    assert_eq!(scores[0], scores[1]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_deadline_cuts_training_short() {
    let tmp = tempfile::tempdir().expect("tempdir");
    synthetic_folder(tmp.path(), 40, 2);
    let data = image_data(tmp.path(), 0);
    let bus = EventBus::default();
    let budget = Duration::from_millis(1500);
    let cx = context(&bus, "p", budget, 0);
    let mut cfg = small_config();
    cfg.max_epochs = 100_000;
    cfg.patience = 100_000;
    let t0 = Instant::now();
    ImageTrainer::new(cfg)
        .train(TrainInput::Images(data), cx.clone())
        .await
        .expect("train");
    // One validation pass may follow the deadline; nothing more.
    assert!(
        t0.elapsed() < budget + Duration::from_secs(2),
        "{:?}",
        t0.elapsed()
    );
    assert!(cx.best().is_some(), "the best model so far is kept");
    assert!(
        events(&bus, "p")
            .iter()
            .any(|e| matches!(e, Event::TrainRunFinished(p) if p.status == "time_budget"))
    );
}

#[test]
fn the_schedule_warms_up_then_decays() {
    assert!((lr_at(1.0, 0, 10, 100) - 0.1).abs() < 1e-12);
    assert!((lr_at(1.0, 9, 10, 100) - 1.0).abs() < 1e-12);
    assert!((lr_at(1.0, 10, 10, 100) - 1.0).abs() < 1e-12);
    assert!(lr_at(1.0, 55, 10, 100) < 0.6);
    assert!((lr_at(1.0, 100, 10, 100) - 0.01).abs() < 1e-12);
    assert!((lr_at(1.0, 500, 10, 100) - 0.01).abs() < 1e-12);
}

#[test]
fn the_plan_shrinks_to_the_steps_that_fit_before_the_deadline() {
    let started = Instant::now() - Duration::from_secs(10);
    // 10 s for 100 steps: 0.1 s a step, 5 s left → about 50 more steps.
    let deadline = Instant::now() + Duration::from_secs(5);
    let plan = plan_steps(started, deadline, 100, 10_000);
    assert!((140..=150).contains(&plan), "{plan}");
    // A far deadline leaves the epoch cap; a past one ends the plan at the next step.
    let far = Instant::now() + Duration::from_secs(3600);
    assert_eq!(plan_steps(started, far, 100, 1000), 1000);
    assert_eq!(plan_steps(started, Instant::now(), 100, 1000), 101);
}

#[test]
fn a_folder_of_only_corrupt_images_is_an_error_not_a_panic() {
    let tmp = tempfile::tempdir().expect("tempdir");
    for c in ["a", "b"] {
        std::fs::create_dir_all(tmp.path().join(c)).expect("mkdir");
        for k in 0..4 {
            std::fs::write(tmp.path().join(c).join(format!("{k}.jpg")), b"nope").expect("write");
        }
    }
    let data = image_data(tmp.path(), 0);
    let bus = EventBus::default();
    let cx = context(&bus, "p", Duration::from_secs(10), 0);
    let err = train_blocking(&data, &cx, &small_config()).expect_err("nothing decodes");
    assert!(err.to_string().contains("could be decoded"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_conductor_runs_an_image_folder_through_all_stages() {
    use crate::conductor::{Conductor, RunRequest, RunStatus};
    use crate::event::{Stage, StageStatus};
    let tmp = tempfile::tempdir().expect("tempdir");
    let data_dir = tmp.path().join("shapes");
    synthetic_folder(&data_dir, 30, 5);
    let conductor = Conductor::builder()
        .runs_dir(tmp.path().join("runs"))
        .build()
        .expect("build");
    let handle = conductor
        .start(
            RunRequest::new("classify these images of stripes")
                .data(&data_dir)
                .time_budget(8.0)
                .max_trials(1)
                .out_dir(tmp.path().join("run")),
        )
        .expect("valid request");
    let project = handle.project_id().to_string();
    let outcome = handle.wait().await.expect("run");
    assert_eq!(outcome.status, RunStatus::Finished);
    assert!(
        outcome.metrics.contains_key("accuracy"),
        "{:?}",
        outcome.metrics
    );
    let ev = events(conductor.bus(), &project);
    for stage in Stage::ALL {
        assert!(
            ev.iter().any(|e| matches!(e, Event::StageStatus(s)
                if s.stage == stage && s.status == StageStatus::Completed)),
            "{stage} did not complete"
        );
    }
    let review = ev
        .iter()
        .find_map(|e| match e {
            Event::ReviewReady(r) => Some(r.clone()),
            _ => None,
        })
        .expect("REVIEW_READY");
    let cm = review.confusion_matrix.expect("confusion matrix");
    assert_eq!(cm.labels, vec!["horizontal", "vertical"]);
    let counted: u64 = cm.matrix.iter().flatten().sum();
    assert_eq!(counted, review.n_test);
    let wrong = counted - cm.matrix[0][0] - cm.matrix[1][1];
    assert_eq!(review.misclassified.len() as u64, wrong.min(5));
    let reloaded = load_model(&tmp.path().join("run")).expect("exported model loads");
    assert_eq!(reloaded.model_name(), review.model);
}

/// The head's input size computed from the spec agrees with what the body really outputs,
/// for both architectures, both heads and small to medium sides: a wrong count would be a
/// shape error in the head's matrix product.
#[test]
fn the_head_reads_what_the_body_outputs_at_every_size() {
    let dev = Device::Cpu;
    for arch in ["small_cnn", "resnet"] {
        for side in [8, 12, 28, 32, 40, 64] {
            for flat in [false, true] {
                let mut spec = ArchSpec::sized(arch, 1, side, 3, 100);
                spec.width = 4;
                spec.flat_head = flat;
                let varmap = VarMap::new();
                let vb = VarBuilder::from_varmap(&varmap, DType::F32, &dev);
                let net = Net::new(&spec, vb).expect("net");
                let x = Tensor::zeros((2, 1, side, side), DType::F32, &dev).expect("x");
                let y = net
                    .forward_t(&x, false)
                    .unwrap_or_else(|e| panic!("{arch} side {side} flat {flat}: {e}"));
                assert_eq!(y.dims(), &[2, 3], "{arch} side {side} flat {flat}");
            }
        }
    }
    let spec = ArchSpec::sized("small_cnn", 1, 28, 10, 100);
    assert_eq!(spec.final_side(), 7);
    assert_eq!(ArchSpec::sized("small_cnn", 1, 64, 10, 100).final_side(), 8);
    assert_eq!(
        ArchSpec::sized("small_cnn", 1, 96, 10, 100).final_side(),
        12
    );
}

#[test]
fn small_grayscale_images_get_the_flat_head_photos_the_average() {
    assert!(flat_head_for(&ArchSpec::sized("small_cnn", 1, 28, 10, 100)));
    assert!(flat_head_for(&ArchSpec::sized("small_cnn", 1, 8, 10, 100)));
    assert!(!flat_head_for(&ArchSpec::sized(
        "small_cnn",
        3,
        28,
        10,
        100
    )));
    assert!(!flat_head_for(&ArchSpec::sized(
        "small_cnn",
        1,
        96,
        10,
        100
    )));
}

/// A `model.json` written before the flat head existed still reads (as the average head),
/// and the average head is not written out, so such files stay as they were.
#[test]
fn an_arch_spec_without_flat_head_reads_as_the_average_head() {
    let old = r#"{"arch":"small_cnn","width":24,"in_channels":1,"side":12,"n_classes":2}"#;
    let spec: ArchSpec = serde_json::from_str(old).expect("old spec");
    assert!(!spec.flat_head);
    assert_eq!(serde_json::to_string(&spec).expect("json"), old);
    let mut flat = spec.clone();
    flat.flat_head = true;
    let back: ArchSpec =
        serde_json::from_str(&serde_json::to_string(&flat).expect("json")).expect("read");
    assert!(back.flat_head);
}

fn started_width(ev: &[Event]) -> Option<u64> {
    ev.iter().find_map(|e| match e {
        Event::TrainRunStarted(p) => p.params.get("width").and_then(|w| w.as_u64()),
        _ => None,
    })
}

/// When the measured step time says the data-sized net would get fewer epochs than
/// `min_epochs`, narrower widths are measured and the narrowest is trained, with a WARNING;
/// when it gets them, the width stays the data's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_short_budget_narrows_the_net_and_says_so() {
    let tmp = tempfile::tempdir().expect("tempdir");
    synthetic_folder(tmp.path(), 24, 5);
    let data = image_data(tmp.path(), 0);
    let sized = ArchSpec::sized("small_cnn", 1, 12, 2, 30).width as u64;
    for (min_epochs, want) in [(1_000_000, MIN_WIDTH as u64), (1, sized)] {
        let bus = EventBus::default();
        let cx = context(&bus, "p-w", Duration::from_secs(30), 1);
        let cfg = ImageTrainerConfig {
            max_epochs: 2,
            min_epochs,
            ..small_config()
        };
        ImageTrainer::new(cfg)
            .train(TrainInput::Images(data.clone()), cx.clone())
            .await
            .expect("train");
        let ev = events(&bus, "p-w");
        assert_eq!(started_width(&ev), Some(want), "min_epochs {min_epochs}");
        let warned = ev
            .iter()
            .any(|e| matches!(e, Event::Warning(w) if w.code == "image_width_reduced"));
        assert_eq!(warned, want != sized, "min_epochs {min_epochs}");
        let flat = ev.iter().find_map(|e| match e {
            Event::TrainRunStarted(p) => p.params.get("flat_head").and_then(|f| f.as_bool()),
            _ => None,
        });
        assert_eq!(flat, Some(true), "12 px grayscale images get the flat head");
        let best = cx.best().expect("a trial");
        let saved = tempfile::tempdir().expect("tmp");
        best.model.save(saved.path()).expect("save");
        let reloaded = load_model(saved.path()).expect("reload the flat-head model");
        assert_eq!(reloaded.model_name(), "small_cnn");
    }
}
