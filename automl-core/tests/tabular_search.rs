//! Tabular search quality on real tables. Imbalance: census income (datasets/tabular/adult.csv) with the `>50K` class
//! thinned to one in five (about 6% of rows). A run optimising macro-F1 tunes the decision
//! threshold on out-of-sample predictions; on rows the run never saw, the tuned model beats the
//! same model deciding by the most probable class on macro-F1 and balanced accuracy, and the
//! saved model predicts the same labels after a reload.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use automl_core::conductor::{Conductor, RunRequest, RunStatus};
use automl_core::metrics;
use automl_core::train::TrainedModel;
use automl_core::train::decision::{self, DecisionModel};
use automl_core::{Predictions, load_model, predict_file};

fn adult() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../datasets/tabular/adult.csv")
}

/// Writes the train and held-out test files: the first 9,000 rows, every fifth `>50K` row kept,
/// then one row in three held out. Returns (train, test, the test rows' labels).
fn imbalanced_split(dir: &Path) -> (PathBuf, PathBuf, Vec<String>) {
    let text = std::fs::read_to_string(adult()).expect("adult.csv");
    let mut lines = text.lines();
    let header = lines.next().expect("header").to_string();
    let mut kept = Vec::new();
    let mut positives = 0;
    for line in lines.take(9000) {
        if line.trim_end().ends_with(">50K") {
            positives += 1;
            if positives % 5 != 0 {
                continue;
            }
        }
        kept.push(line.to_string());
    }
    let (mut train, mut test) = (vec![header.clone()], vec![header]);
    let mut labels = Vec::new();
    for (i, l) in kept.into_iter().enumerate() {
        if i % 3 == 0 {
            labels.push(l.rsplit(',').next().unwrap_or_default().trim().to_string());
            test.push(l);
        } else {
            train.push(l);
        }
    }
    let (tr, te) = (dir.join("train.csv"), dir.join("test.csv"));
    std::fs::write(&tr, train.join("\n")).expect("write train");
    std::fs::write(&te, test.join("\n")).expect("write test");
    (tr, te, labels)
}

fn proba(p: &Predictions) -> ndarray::Array2<f64> {
    match p {
        Predictions::Classes { proba, .. } => proba.clone(),
        Predictions::Values(_) => panic!("classification expected"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tuned_threshold_lifts_macro_f1_on_held_out_rows_and_survives_a_reload() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let (train, test, labels) = imbalanced_split(tmp.path());
    let rare = labels.iter().filter(|l| *l == ">50K").count();
    assert!(
        rare * 10 < labels.len() && rare > 50,
        "{rare} of {}",
        labels.len()
    );

    let conductor = Conductor::builder()
        .runs_dir(tmp.path().join("runs"))
        .build()
        .expect("build");
    let handle = conductor
        .start(
            RunRequest::new("predict income")
                .data(&train)
                .target("income")
                .metric("macro_f1")
                .time_budget(6.0)
                .seed(0)
                .out_dir(tmp.path().join("run")),
        )
        .expect("valid request");
    let outcome = handle.wait().await.expect("run");
    assert_eq!(outcome.status, RunStatus::Finished);

    // The leaderboard announces the tuned row, scored by its cross-fitted metrics.
    let row = outcome
        .leaderboard
        .iter()
        .find(|r| r.params.contains_key("decision_of"))
        .expect("a decision-threshold row on the leaderboard");
    let threshold = row.params["threshold"]
        .as_f64()
        .expect("a binary threshold");
    assert!(threshold > 0.0 && threshold < 0.5, "threshold {threshold}");
    assert!(
        row.score
            > row.params["untuned_macro_f1"]
                .as_f64()
                .expect("untuned score")
    );

    // The exported model is the tuned one, around its base model.
    let run = tmp.path().join("run");
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("model.json")).expect("model"))
            .expect("json");
    assert_eq!(manifest["format"], decision::FORMAT);
    let tuned = load_model(&run).expect("the tuned model loads");
    let base = load_model(&run.join("base")).expect("its base model loads");
    assert_eq!(tuned.classes(), base.classes());
    let y: Vec<usize> = labels
        .iter()
        .map(|l| {
            tuned
                .classes()
                .iter()
                .position(|c| c == l)
                .expect("known class")
        })
        .collect();

    // On rows the run never saw: the threshold beats deciding by the most probable class.
    let p_tuned = proba(
        &predict_file(tuned.as_ref(), &test)
            .expect("predict")
            .predictions,
    );
    let p_base = proba(
        &predict_file(base.as_ref(), &test)
            .expect("predict")
            .predictions,
    );
    let m_tuned = metrics::classification(&y, &p_tuned);
    let m_base = metrics::classification(&y, &p_base);
    assert!(
        m_tuned["macro_f1"] > m_base["macro_f1"],
        "macro-F1 {} vs {}",
        m_tuned["macro_f1"],
        m_base["macro_f1"]
    );
    assert!(
        m_tuned["balanced_accuracy"] > m_base["balanced_accuracy"],
        "balanced accuracy {} vs {}",
        m_tuned["balanced_accuracy"],
        m_base["balanced_accuracy"]
    );
    // The ranking of rows is the base's: ROC AUC is unchanged.
    assert!((m_tuned["roc_auc"] - m_base["roc_auc"]).abs() < 1e-9);
    eprintln!(
        "held-out: macro-F1 {:.4} -> {:.4}, balanced accuracy {:.4} -> {:.4}, threshold {threshold:.3}",
        m_base["macro_f1"],
        m_tuned["macro_f1"],
        m_base["balanced_accuracy"],
        m_tuned["balanced_accuracy"]
    );

    // The loaded model decides exactly by the saved threshold.
    let labels_tuned = metrics::argmax_rows(&p_tuned);
    for (i, l) in labels_tuned.iter().enumerate() {
        let expect = usize::from(p_base[[i, 1]] > threshold);
        if (p_base[[i, 1]] - threshold).abs() > 1e-9 {
            assert_eq!(*l, expect, "row {i}");
        }
    }

    // Saved again and reloaded, it predicts the same labels.
    let weights = manifest["class_weights"]
        .as_array()
        .expect("weights")
        .iter()
        .map(|w| w.as_f64().expect("number"))
        .collect::<Vec<_>>();
    let base: Arc<dyn TrainedModel> = Arc::from(base);
    for bad in [vec![1.0], vec![1.0, -1.0], vec![1.0, f64::NAN]] {
        let e = DecisionModel::new(base.clone(), bad.clone()).err();
        assert!(e.is_some(), "weights {bad:?} were accepted");
    }
    let again = DecisionModel::new(base, weights).expect("model");
    let dir2 = tmp.path().join("again");
    std::fs::create_dir_all(&dir2).expect("mkdir");
    again.save(&dir2).expect("save");
    let reloaded = load_model(&dir2).expect("reload");
    let p2 = proba(
        &predict_file(reloaded.as_ref(), &test)
            .expect("predict")
            .predictions,
    );
    assert_eq!(metrics::argmax_rows(&p2), labels_tuned);
}

#[test]
fn a_bad_decision_file_is_a_model_load_error_naming_the_problem() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let write = |v: serde_json::Value| {
        std::fs::write(tmp.path().join("model.json"), v.to_string()).expect("write")
    };
    let err = |needle: &str| {
        let e = match load_model(tmp.path()) {
            Ok(_) => panic!("a bad decision model loaded"),
            Err(e) => e.to_string(),
        };
        assert!(e.contains(needle), "{needle:?} not in {e}");
    };
    write(serde_json::json!({
        "format": decision::FORMAT, "classes": ["a", "b"], "class_weights": [1.0, 2.0],
        "base": "../elsewhere"
    }));
    err("is not \"base\"");
    write(serde_json::json!({
        "format": decision::FORMAT, "classes": ["a", "b"], "class_weights": [1.0, 2.0],
        "base": "base", "extra": 1
    }));
    err("unknown field");
    write(serde_json::json!({
        "format": decision::FORMAT, "classes": ["a", "b"], "class_weights": [1.0, 2.0],
        "base": "base"
    }));
    // No base model saved.
    err("base");
    // A base that is itself a decision model.
    std::fs::create_dir_all(tmp.path().join("base")).expect("mkdir");
    std::fs::write(
        tmp.path().join("base/model.json"),
        serde_json::json!({"format": decision::FORMAT}).to_string(),
    )
    .expect("write");
    err("itself a decision model");
}

/// Seconds since midnight of an RFC 3339 `...THH:MM:SS.mmmZ` stamp.
fn seconds_of_day(ts: &str) -> f64 {
    let t = ts
        .split('T')
        .nth(1)
        .expect("time part")
        .trim_end_matches('Z');
    let mut parts = t.split(':');
    let h: f64 = parts.next().and_then(|v| v.parse().ok()).expect("hours");
    let m: f64 = parts.next().and_then(|v| v.parse().ok()).expect("minutes");
    let s: f64 = parts.next().and_then(|v| v.parse().ok()).expect("seconds");
    h * 3600.0 + m * 60.0 + s
}

/// Seconds from the run's first event to its first TRAIN_RUN_FINISHED with a completed trial.
async fn first_model_s(data: &Path, target: &str, tmp: &Path) -> f64 {
    let conductor = Conductor::builder()
        .runs_dir(tmp.join("runs"))
        .build()
        .expect("build");
    let handle = conductor
        .start(
            RunRequest::new(format!("predict {target}"))
                .data(data)
                .target(target)
                .time_budget(3.0)
                .seed(0)
                .out_dir(tmp.join(format!("run-{target}"))),
        )
        .expect("valid request");
    let project = handle.project_id().to_string();
    let outcome = handle.wait().await.expect("run");
    assert_eq!(outcome.status, RunStatus::Finished);
    let history = conductor.bus().history(&project);
    let start = seconds_of_day(&history.first().expect("events").ts);
    let first = history
        .iter()
        .find(|e| matches!(&e.event, automl_core::Event::TrainRunFinished(p) if p.status == "completed"))
        .expect("a finished trial");
    let mut s = seconds_of_day(&first.ts) - start;
    if s < 0.0 {
        s += 86_400.0;
    }
    s
}

/// Issue #14's goal is a first trained model within 1 s of the start on sets under 10k rows;
/// the assertion is looser (2.5 s) because tests share a loaded machine.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_first_model_is_trained_within_seconds_on_small_tables() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let (train, _, _) = imbalanced_split(tmp.path());
    let bc = Path::new(env!("CARGO_MANIFEST_DIR")).join("../datasets/tabular/breast_cancer.csv");
    for (data, target) in [(bc.as_path(), "diagnosis"), (train.as_path(), "income")] {
        let s = first_model_s(data, target, tmp.path()).await;
        eprintln!("{}: first model after {s:.3} s", data.display());
        assert!(s < 2.5, "{}: first model after {s:.3} s", data.display());
    }
}
