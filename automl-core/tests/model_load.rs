//! Loading a model trusts nothing: a corrupt or hostile `model.json` (an index out of range, a
//! cycle in a tree, ragged weights, a wrong class count, a path to weights elsewhere) is a
//! `ModelLoad` error, never a panic or a hang; and random mutations of real saved models either
//! load and predict, or fail with an error. The libFuzzer target `fuzz/fuzz_targets/model_load.rs`
//! runs the same path unseeded.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use automl_core::data::preprocess::prepare_table;
use automl_core::data::profile::{TargetHints, profile_dataset};
use automl_core::data::{self, Dataset};
use automl_core::train::gbdt::GbdtTrainer;
use automl_core::train::linear::LinearTrainer;
use automl_core::train::{TrainContext, TrainInput, Trainer};
use automl_core::{AutomlError, ErrorCategory, EventBus, api};
use rand::{Rng, SeedableRng};
use serde_json::Value;

fn iris() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../datasets/tabular/iris.csv")
}

/// Trains one model with `trainer` on iris and saves it into a fresh folder.
async fn saved(trainer: Arc<dyn Trainer>) -> tempfile::TempDir {
    let ds = data::load(&iris()).expect("iris loads");
    let intent = automl_core::agents::parser::parse("classify iris species");
    let profile = profile_dataset(&ds, &TargetHints::default(), &intent).expect("profile");
    let Dataset::Table(t) = ds else {
        panic!("iris is a table")
    };
    let (tab, _) = prepare_table(&t.batch, &profile, 0, None).expect("prepare");
    let bus = EventBus::default();
    let cx = TrainContext::new(
        bus.emitter("m"),
        Default::default(),
        Instant::now() + Duration::from_secs(20),
        0,
        Some(1),
        "accuracy",
    );
    trainer
        .train(TrainInput::Tabular(Arc::new(tab)), cx.clone())
        .await
        .expect("trains");
    let best = cx.best().expect("a trial finished");
    let dir = tempfile::tempdir().expect("tmp");
    best.model.save(dir.path()).expect("saves");
    dir
}

fn read(dir: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(dir.join("model.json")).expect("read"))
        .expect("json")
}

fn write(dir: &Path, v: &Value) {
    std::fs::write(dir.join("model.json"), v.to_string()).expect("write");
}

fn load_err(dir: &Path) -> String {
    match automl_core::load_model(dir) {
        Ok(_) => panic!("a corrupt model loaded"),
        Err(e) => {
            assert_eq!(e.category(), ErrorCategory::ModelLoad, "{e}");
            assert!(matches!(e, AutomlError::ModelLoad { .. }));
            e.to_string()
        }
    }
}

fn first_split(v: &mut Value) -> &mut Value {
    let trees = v["booster"]["rounds"].as_array_mut().expect("rounds");
    for round in trees {
        for tree in round.as_array_mut().expect("round") {
            let nodes = tree["nodes"].as_array_mut().expect("nodes");
            if let Some(i) = nodes.iter().position(|n| n["t"] == "split") {
                return &mut tree["nodes"][i];
            }
        }
    }
    panic!("no split in the model")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gbdt_node_out_of_range_and_cycles_are_errors() {
    let dir = saved(Arc::new(GbdtTrainer)).await;
    let good = read(dir.path());
    assert!(
        automl_core::load_model(dir.path()).is_ok(),
        "the saved model loads"
    );

    let mut v = good.clone();
    first_split(&mut v)["left"] = Value::from(1_000_000u32);
    write(dir.path(), &v);
    let e = load_err(dir.path());
    assert!(e.contains("points to node 1000000"), "{e}");

    // A split whose child is the root: a cycle that would loop forever at predict time.
    let mut v = good.clone();
    first_split(&mut v)["right"] = Value::from(0u32);
    write(dir.path(), &v);
    let e = load_err(dir.path());
    assert!(e.contains("reached twice"), "{e}");

    let mut v = good.clone();
    first_split(&mut v)["feature"] = Value::from(99u32);
    write(dir.path(), &v);
    assert!(load_err(dir.path()).contains("feature 99"));

    // Three classes in the pipeline, but the objective claims four.
    let mut v = good.clone();
    v["booster"]["objective"] = serde_json::json!({"multiclass": 4});
    write(dir.path(), &v);
    load_err(dir.path());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ragged_or_mis_sized_linear_weights_are_errors() {
    let dir = saved(Arc::new(LinearTrainer)).await;
    let good = read(dir.path());
    assert!(automl_core::load_model(dir.path()).is_ok());

    let mut v = good.clone();
    v["weights"][0].as_array_mut().expect("row").pop();
    write(dir.path(), &v);
    assert!(load_err(dir.path()).contains("ragged"));

    let mut v = good.clone();
    v["weights"].as_array_mut().expect("rows").pop();
    write(dir.path(), &v);
    load_err(dir.path());

    let mut v = good.clone();
    v["pipeline"]["classes"] = serde_json::json!(["only"]);
    write(dir.path(), &v);
    load_err(dir.path());

    write(dir.path(), &Value::String("not a model".into()));
    load_err(dir.path());
    std::fs::write(dir.path().join("model.json"), b"{\"format\": ").expect("write");
    assert!(load_err(dir.path()).contains("not JSON"));
}

/// Replaces a random number, string or array of the document with a hostile value.
fn mutate(v: &mut Value, rng: &mut impl Rng) {
    let hostile = |rng: &mut dyn rand::RngCore| -> Value {
        match rng.next_u32() % 9 {
            0 => Value::from(-1i64),
            1 => Value::from(u32::MAX),
            2 => Value::from(0),
            3 => Value::from(1e308),
            4 => Value::Null,
            5 => Value::String(String::new()),
            6 => Value::Array(vec![]),
            7 => Value::from(rng.next_u32() % 64),
            _ => Value::from(f64::from(rng.next_u32() % 1000) / 7.0),
        }
    };
    match v {
        Value::Object(m) if !m.is_empty() => {
            let i = rng.gen_range(0..m.len());
            let key = m.keys().nth(i).cloned().unwrap_or_default();
            if let Some(child) = m.get_mut(&key) {
                if rng.gen_bool(0.3) {
                    *child = hostile(rng);
                } else {
                    mutate(child, rng);
                }
            }
        }
        Value::Array(a) if !a.is_empty() => {
            let i = rng.gen_range(0..a.len());
            match rng.gen_range(0..4) {
                0 => {
                    a.remove(i);
                }
                1 => {
                    let c = a[i].clone();
                    a.push(c);
                }
                2 => a[i] = hostile(rng),
                _ => mutate(&mut a[i], rng),
            }
        }
        other => *other = hostile(rng),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mutated_models_load_and_predict_or_fail_cleanly() {
    let cases: usize = std::env::var("AUTOML_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(300);
    let rows = match data::load(&iris()).expect("iris") {
        Dataset::Table(t) => t.batch,
        Dataset::Images(_) => panic!("table"),
    };
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
    let (mut loaded, mut refused) = (0, 0);
    for trainer in [
        Arc::new(GbdtTrainer) as Arc<dyn Trainer>,
        Arc::new(LinearTrainer),
    ] {
        let dir = saved(trainer).await;
        let good = read(dir.path());
        for case in 0..cases {
            let mut v = good.clone();
            for _ in 0..rng.gen_range(1..4) {
                mutate(&mut v, &mut rng);
            }
            write(dir.path(), &v);
            let path = dir.path().to_path_buf();
            let batch = rows.clone();
            // On its own thread with a deadline: a panic or a hang fails the test.
            let outcome = tokio::time::timeout(
                Duration::from_secs(10),
                tokio::task::spawn_blocking(move || match automl_core::load_model(&path) {
                    Ok(m) => {
                        let _ = api::predict_table(m.as_ref(), &batch);
                        let _ = m.feature_importance();
                        true
                    }
                    Err(e) => {
                        assert_eq!(e.category(), ErrorCategory::ModelLoad, "{e}");
                        false
                    }
                }),
            )
            .await;
            match outcome {
                Ok(Ok(true)) => loaded += 1,
                Ok(Ok(false)) => refused += 1,
                Ok(Err(panic)) => panic!("case {case} panicked: {panic}\n{v}"),
                Err(_) => panic!("case {case} did not finish within 10 s\n{v}"),
            }
        }
    }
    assert!(
        refused > 0,
        "mutations were refused ({refused}) or loaded ({loaded})"
    );
}
