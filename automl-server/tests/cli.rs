//! The `automl` command line as a user meets it: exit codes, messages, `--json` output.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn automl(args: &[&str]) -> Output {
    // A fresh working folder, removed afterwards: a run without --out writes runs/<id> there
    // (the shared temp folder collected ten of them per test run).
    let cwd = tempfile::tempdir().expect("tmp");
    Command::new(env!("CARGO_BIN_EXE_automl"))
        .args(args)
        .env("AUTOML_CATALOG", root().join("datasets"))
        .env("HF_HUB_OFFLINE", "1")
        .current_dir(cwd.path())
        .output()
        .expect("run automl")
}

fn envelopes(stdout: &[u8]) -> Vec<Value> {
    let text = String::from_utf8_lossy(stdout);
    text.lines()
        .map(|l| {
            let v: Value =
                serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}"));
            assert_eq!(v["type"], "event", "{l}");
            assert!(v["project_id"].is_string() && v["ts"].is_string(), "{l}");
            assert!(
                v["event"]["name"].is_string() && v["event"]["payload"].is_object(),
                "{l}"
            );
            v
        })
        .collect()
}

fn named<'a>(ev: &'a [Value], name: &str) -> Vec<&'a Value> {
    ev.iter()
        .filter(|e| e["event"]["name"] == name)
        .map(|e| &e["event"]["payload"])
        .collect()
}

fn completed_stages(ev: &[Value]) -> Vec<String> {
    named(ev, "STAGE_STATUS")
        .into_iter()
        .filter(|p| p["status"] == "completed")
        .map(|p| p["stage"].as_str().unwrap_or_default().to_string())
        .collect()
}

const STAGES: [&str; 8] = [
    "PARSE_INTENT",
    "DATA_SOURCE",
    "PROFILE_DATA",
    "PREPROCESS",
    "MODEL_SELECT",
    "TRAIN",
    "REVIEW_EDIT",
    "EXPORT",
];

#[test]
fn iris_json_run_is_a_gapless_contract_stream_with_accuracy_above_090() {
    let out_dir = tempfile::tempdir().expect("tmp");
    let out = automl(&[
        "run",
        "classify iris species",
        "--time-budget",
        "5s",
        "--json",
        "--out",
        out_dir.path().to_str().expect("utf8"),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let ev = envelopes(&out.stdout);
    let seqs: Vec<u64> = ev.iter().map(|e| e["seq"].as_u64().expect("seq")).collect();
    assert_eq!(
        seqs,
        (1..=ev.len() as u64).collect::<Vec<_>>(),
        "seq 1..N without gaps"
    );
    assert_eq!(completed_stages(&ev), STAGES);
    let sel = named(&ev, "DATASET_SELECTED");
    assert_eq!(sel[0]["id"], "iris");
    let review = named(&ev, "REVIEW_READY");
    let acc = review[0]["metrics"]["accuracy"].as_f64().expect("accuracy");
    assert!(acc >= 0.9, "held-out accuracy {acc}");
    assert!(review[0]["metrics"]["macro_f1"].is_f64());
    let fin = named(&ev, "RUN_FINISHED");
    assert_eq!(fin.len(), 1);
    assert_eq!(fin[0]["metrics"]["accuracy"].as_f64(), Some(acc));
    // The event log on disk is the same stream.
    let log = std::fs::read(out_dir.path().join("events.jsonl")).expect("events.jsonl");
    assert_eq!(envelopes(&log).len(), ev.len());
    for f in ["model.json", "metrics.json", "model_card.md"] {
        assert!(out_dir.path().join(f).is_file(), "{f}");
    }
    let card = std::fs::read_to_string(out_dir.path().join("model_card.md")).expect("card");
    assert!(
        card.contains("iris") && card.contains("CC-BY-4.0"),
        "{card}"
    );
}

#[test]
fn diamonds_regression_reports_r2_and_rmse() {
    let out_dir = tempfile::tempdir().expect("tmp");
    let out = automl(&[
        "run",
        "predict diamond prices",
        "--time-budget",
        "5s",
        "--json",
        "--out",
        out_dir.path().to_str().expect("utf8"),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let ev = envelopes(&out.stdout);
    assert_eq!(named(&ev, "DATASET_SELECTED")[0]["id"], "diamonds");
    let m = &named(&ev, "REVIEW_READY")[0]["metrics"];
    let r2 = m["r2"].as_f64().expect("r2");
    assert!(r2 > 0.85, "r2 {r2}");
    assert!(m["rmse"].as_f64().expect("rmse") > 0.0);
    let metrics: Value = serde_json::from_str(
        &std::fs::read_to_string(out_dir.path().join("metrics.json")).expect("metrics.json"),
    )
    .expect("json");
    assert_eq!(metrics["metrics"]["r2"].as_f64(), Some(r2));
}

#[test]
fn plain_output_names_metrics_and_artifacts() {
    let out_dir = tempfile::tempdir().expect("tmp");
    let out = automl(&[
        "run",
        "classify penguin species",
        "--out",
        out_dir.path().to_str().expect("utf8"),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("accuracy") && text.contains("model.json"),
        "{text}"
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("EXPORT"), "stage lines on stderr: {err}");
}

#[test]
fn cat_dog_request_trains_on_the_bundled_image_set() {
    let out_dir = tempfile::tempdir().expect("tmp");
    let out = automl(&[
        "run",
        "Build a cat/dog classifier",
        "--time-budget",
        "6s",
        "--json",
        "--out",
        out_dir.path().to_str().expect("utf8"),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let ev = envelopes(&out.stdout);
    assert_eq!(
        named(&ev, "PROMPT_PARSED")[0]["task_type"],
        "image_classification"
    );
    assert_eq!(named(&ev, "DATASET_SELECTED")[0]["id"], "cats_dogs");
    assert!(
        !named(&ev, "DATASET_SAMPLE_READY")[0]["images"]
            .as_array()
            .expect("images")
            .is_empty()
    );
    assert_eq!(completed_stages(&ev), STAGES);
    assert!(!named(&ev, "METRIC_SCALAR").is_empty(), "a live loss curve");
    let review = named(&ev, "REVIEW_READY");
    assert!(review[0]["metrics"]["accuracy"].is_f64());
    assert!(review[0]["confusion_matrix"]["matrix"].is_array());
    assert!(out_dir.path().join("model.safetensors").is_file());
}

/// An exported iris model (3 s budget) in a fresh run folder.
fn iris_run(extra: &[&str]) -> tempfile::TempDir {
    let run_dir = tempfile::tempdir().expect("tmp");
    let out_dir = run_dir.path().to_str().expect("utf8").to_string();
    let mut args = vec![
        "run",
        "classify iris species",
        "--time-budget",
        "3s",
        "--out",
    ];
    args.push(&out_dir);
    args.extend_from_slice(extra);
    let out = automl(&args);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    run_dir
}

fn write(dir: &Path, name: &str, body: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, body).expect("write");
    p
}

fn assert_bad_input(out: &Output, needles: &[&str]) {
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(2),
        "exit code for bad input; stderr: {err}"
    );
    for n in needles {
        assert!(err.contains(n), "stderr should mention {n:?}: {err}");
    }
}

#[test]
fn missing_file_is_bad_input() {
    let out = automl(&["run", "predict price", "--data", "/nonexistent/houses.csv"]);
    assert_bad_input(&out, &["/nonexistent/houses.csv"]);
}

#[test]
fn empty_csv_is_bad_input() {
    let d = tempfile::tempdir().expect("tmp");
    let p = write(d.path(), "empty.csv", "");
    let out = automl(&["run", "predict price", "--data", p.to_str().expect("utf8")]);
    assert_bad_input(&out, &["empty", "empty.csv"]);
    let h = write(d.path(), "header.csv", "a,b,price\n");
    let out = automl(&["run", "predict price", "--data", h.to_str().expect("utf8")]);
    assert_bad_input(&out, &["header.csv", "only a header"]);
}

#[test]
fn unknown_target_is_bad_input_and_lists_the_columns() {
    let d = tempfile::tempdir().expect("tmp");
    let mut body = String::from("size,rooms,price\n");
    for i in 0..40 {
        body.push_str(&format!("{},{},{}\n", 50 + i, 1 + i % 4, 1000 + 10 * i));
    }
    let p = write(d.path(), "houses.csv", &body);
    let out = automl(&[
        "run",
        "predict price",
        "--data",
        p.to_str().expect("utf8"),
        "--target",
        "prize",
    ]);
    assert_bad_input(&out, &["\"prize\"", "size, rooms, price"]);
}

#[test]
fn a_prompt_with_no_task_says_what_it_understood_and_needs() {
    let out = automl(&["run", "hello there"]);
    assert_bad_input(&out, &["Understood", "Needed", "predict"]);
    let out = automl(&["run", "draw bounding boxes around cars in street photos"]);
    assert_bad_input(&out, &["object_detection"]);
}

#[test]
fn a_bad_budget_is_rejected_by_the_parser_of_options() {
    let out = automl(&["run", "classify iris species", "--time-budget", "soon"]);
    assert_bad_input(&out, &["soon"]);
}

#[test]
fn parse_prints_the_intent_as_json() {
    let out = automl(&[
        "parse",
        "predict wine quality from this CSV in 30 seconds",
        "--json",
    ]);
    assert!(out.status.success());
    let v: Value = serde_json::from_slice(&out.stdout).expect("json");
    for k in [
        "modality",
        "objective",
        "task_type",
        "supported",
        "target",
        "dataset_hint",
        "keywords",
        "constraints",
        "parser",
        "confidence",
    ] {
        assert!(v.get(k).is_some(), "missing {k}");
    }
    assert_eq!(v["constraints"]["time_budget_s"], 30.0);
}

#[test]
fn predict_applies_an_exported_model_in_input_order_and_counts_bad_values() {
    let run_dir = tempfile::tempdir().expect("tmp");
    let out = automl(&[
        "run",
        "classify iris species",
        "--time-budget",
        "3s",
        "--out",
        run_dir.path().to_str().expect("utf8"),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let d = tempfile::tempdir().expect("tmp");
    let rows = write(
        d.path(),
        "new.csv",
        "sepal_length,sepal_width,petal_length,petal_width,species\n5.1,3.5,1.4,0.2,x\n6.7,3.0,5.2,2.3,x\nabc,3.0,5.0,1.8,x\n",
    );
    let preds = d.path().join("preds.csv");
    let out = automl(&[
        "predict",
        "--model",
        run_dir.path().to_str().expect("utf8"),
        "--data",
        rows.to_str().expect("utf8"),
        "--out",
        preds.to_str().expect("utf8"),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = std::fs::read_to_string(&preds).expect("preds");
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines[0],
        "prediction,proba_setosa,proba_versicolor,proba_virginica"
    );
    assert_eq!(lines.len(), 4, "{text}");
    assert!(lines[1].starts_with("setosa,"), "{text}");
    assert!(lines[2].starts_with("virginica,"), "{text}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("1 values that were not numbers"), "{err}");
    // A model folder that is not one is bad input.
    let out = automl(&[
        "predict",
        "--model",
        d.path().to_str().expect("utf8"),
        "--data",
        rows.to_str().expect("utf8"),
    ]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn metric_option_is_optimised_and_shown_in_the_leaderboard_and_model_card() {
    let run_dir = tempfile::tempdir().expect("tmp");
    let out = automl(&[
        "run",
        "classify iris species",
        "--metric",
        "log_loss",
        "--time-budget",
        "3s",
        "--json",
        "--out",
        run_dir.path().to_str().expect("utf8"),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let ev = envelopes(&out.stdout);
    let boards = named(&ev, "LEADERBOARD_UPDATED");
    assert!(!boards.is_empty());
    for b in &boards {
        assert_eq!(b["metric"], "log_loss", "{b}");
        assert_eq!(b["higher_is_better"], false, "{b}");
    }
    // Ranked on log loss: scores ascend.
    let last = boards.last().expect("a board");
    let scores: Vec<f64> = last["rows"]
        .as_array()
        .expect("rows")
        .iter()
        .map(|r| r["score"].as_f64().expect("score"))
        .collect();
    assert!(scores.windows(2).all(|w| w[0] <= w[1]), "{scores:?}");
    let card = std::fs::read_to_string(run_dir.path().join("model_card.md")).expect("card");
    assert!(card.contains("chosen on validation log_loss"), "{card}");
    let metrics: Value = serde_json::from_str(
        &std::fs::read_to_string(run_dir.path().join("metrics.json")).expect("metrics"),
    )
    .expect("json");
    assert_eq!(metrics["optimised_metric"], "log_loss");
}

#[test]
fn an_unknown_or_unfit_metric_is_bad_input_listing_the_valid_ones() {
    let out = automl(&["run", "classify iris species", "--metric", "foo"]);
    assert_bad_input(&out, &["metric", "\"foo\"", "accuracy", "log_loss", "rmse"]);
    // A regression metric on a classification task is refused once the task is known.
    let out = automl(&[
        "run",
        "classify iris species",
        "--metric",
        "rmse",
        "--time-budget",
        "2s",
    ]);
    assert_bad_input(&out, &["rmse", "classification", "accuracy"]);
    // ROC AUC needs two classes; iris has three.
    let out = automl(&[
        "run",
        "classify iris species",
        "--metric",
        "roc_auc",
        "--time-budget",
        "2s",
    ]);
    assert_bad_input(&out, &["roc_auc", "3"]);
}

#[test]
fn an_unsafe_project_id_is_bad_input() {
    let out = automl(&["run", "classify iris species", "--project-id", "../escape"]);
    assert_bad_input(&out, &["project_id", "../escape"]);
}

#[test]
fn corrupt_or_hostile_models_are_bad_input_not_a_panic() {
    let run_dir = iris_run(&["--max-trials", "2"]);
    let iris = root().join("datasets/tabular/iris.csv");
    let model_json = run_dir.path().join("model.json");
    let good: Value =
        serde_json::from_str(&std::fs::read_to_string(&model_json).expect("model")).expect("json");
    let mut hostile = Vec::new();
    let mut v = good.clone();
    v["pipeline"]["classes"] = serde_json::json!(["one"]);
    hostile.push(v);
    let mut v = good.clone();
    v["format"] = Value::from("automl-unknown/9");
    hostile.push(v);
    hostile.push(Value::from("[]"));
    for (i, h) in hostile.iter().enumerate() {
        std::fs::write(&model_json, h.to_string()).expect("write");
        let out = automl(&[
            "predict",
            "--model",
            run_dir.path().to_str().expect("utf8"),
            "--data",
            iris.to_str().expect("utf8"),
        ]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "case {i}: {err}");
        assert!(err.contains("model.json"), "case {i} names the file: {err}");
        assert!(!err.contains("panicked"), "case {i}: {err}");
    }
    std::fs::write(&model_json, b"\x00\x01garbage").expect("write");
    let out = automl(&[
        "predict",
        "--model",
        run_dir.path().to_str().expect("utf8"),
        "--data",
        iris.to_str().expect("utf8"),
    ]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn predict_reads_every_loader_format() {
    let run_dir = iris_run(&[]);
    let d = tempfile::tempdir().expect("tmp");
    let json = write(
        d.path(),
        "rows.json",
        r#"[{"sepal_length":5.1,"sepal_width":3.5,"petal_length":1.4,"petal_width":0.2},
            {"sepal_length":6.7,"sepal_width":3.0,"petal_length":5.2,"petal_width":2.3}]"#,
    );
    let out = automl(&[
        "predict",
        "--model",
        run_dir.path().to_str().expect("utf8"),
        "--data",
        json.to_str().expect("utf8"),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3, "{text}");
    assert!(lines[1].starts_with("setosa,"), "{text}");
    assert!(lines[2].starts_with("virginica,"), "{text}");
}

#[test]
fn a_request_no_data_set_is_about_exits_2_and_says_how_to_pass_data() {
    for prompt in ["predict house prices", "predict salary from employee data"] {
        let out_dir = tempfile::tempdir().expect("tmp");
        let out = automl(&[
            "run",
            prompt,
            "--max-trials",
            "1",
            "--json",
            "--out",
            out_dir.path().to_str().expect("utf8"),
        ]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{prompt}: {err}");
        assert!(err.contains("--data"), "{prompt}: {err}");
        let ev = envelopes(&out.stdout);
        // Never a confident model of the wrong thing.
        assert!(named(&ev, "DATASET_SELECTED").is_empty(), "{prompt}");
        assert!(named(&ev, "RUN_FINISHED").is_empty(), "{prompt}");
        // The Hub skip is announced (HF_HUB_OFFLINE in this test), and what was looked for.
        let running: Vec<String> = named(&ev, "STAGE_STATUS")
            .into_iter()
            .filter_map(|p| p["message"].as_str().map(str::to_string))
            .collect();
        assert!(
            running
                .iter()
                .any(|m| m.contains("skipping the Hugging Face Hub: offline")),
            "{running:?}"
        );
    }
    // --offline says so in its own words.
    let out = automl(&["run", "predict house prices", "--offline", "--json"]);
    assert_eq!(out.status.code(), Some(2));
    let ev = envelopes(&out.stdout);
    assert!(named(&ev, "STAGE_STATUS").iter().any(|p| {
        p["message"]
            .as_str()
            .unwrap_or_default()
            .contains("offline (--offline)")
    }));
}

#[test]
fn forecast_run_splits_in_time_beats_naive_and_predict_extends_every_series() {
    let d = tempfile::tempdir().expect("tempdir");
    let run_dir = d.path().join("run");
    let data = root().join("datasets/timeseries/store_sales.csv");
    let out = automl(&[
        "run",
        "forecast daily sales for the next 14 days",
        "--data",
        data.to_str().expect("utf8"),
        "--time-budget",
        "6s",
        "--json",
        "--out",
        run_dir.to_str().expect("utf8"),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let ev = envelopes(&out.stdout);
    let profile = named(&ev, "PROFILE_READY")[0];
    let ts = &profile["time_series"];
    assert_eq!(ts["time_column"], "date");
    assert_eq!(ts["id_columns"], serde_json::json!(["store"]));
    assert_eq!(ts["frequency"], "daily");
    assert_eq!(
        (ts["horizon"].as_u64(), ts["season"].as_u64()),
        (Some(14), Some(7))
    );
    // The test split is the last 14 days of each of the 3 stores.
    let split = &named(&ev, "PREPROCESS_READY")[0]["split"];
    assert_eq!(
        (split["test"].as_u64(), split["valid"].as_u64()),
        (Some(42), Some(0))
    );
    let board = named(&ev, "LEADERBOARD_UPDATED");
    let rows = board.last().expect("leaderboard")["rows"]
        .as_array()
        .expect("rows")
        .clone();
    let score = |m: &str| {
        rows.iter()
            .find(|r| r["model"] == m)
            .and_then(|r| r["score"].as_f64())
            .unwrap_or_else(|| panic!("no {m} on the leaderboard"))
    };
    assert!(rows[0]["score"].as_f64().expect("score") < score("seasonal_naive"));
    assert!(score("seasonal_naive") < score("naive"));
    let review = named(&ev, "REVIEW_READY")[0];
    assert!(
        review["metrics"]["mase"].as_f64().expect("mase") < 2.0,
        "{review}"
    );
    let plot = &review["forecast"];
    assert_eq!(plot["series"].as_array().map(Vec::len), Some(3));
    assert_eq!(
        plot["series"][0]["forecast"].as_array().map(Vec::len),
        Some(14)
    );
    // Predict: every store extended by 5 days after its last date.
    let preds = d.path().join("f.csv");
    let out = automl(&[
        "predict",
        "--model",
        run_dir.to_str().expect("utf8"),
        "--data",
        data.to_str().expect("utf8"),
        "--horizon",
        "5",
        "--out",
        preds.to_str().expect("utf8"),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = std::fs::read_to_string(&preds).expect("preds");
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "store,date,prediction");
    assert_eq!(lines.len(), 1 + 3 * 5, "{text}");
    assert!(lines[1].starts_with("north,2024-05-20,"), "{text}");
    assert!(lines[5].starts_with("north,2024-05-24,"), "{text}");
    // A history without the value column is bad input naming it.
    let bad = write(d.path(), "bad.csv", "date,store\n2024-01-01,north\n");
    let out = automl(&[
        "predict",
        "--model",
        run_dir.to_str().expect("utf8"),
        "--data",
        bad.to_str().expect("utf8"),
    ]);
    assert_bad_input(&out, &["sales"]);
}

#[test]
fn forecasting_without_a_time_column_is_bad_input() {
    let d = tempfile::tempdir().expect("tempdir");
    let mut body = String::from("a,b,sales\n");
    for i in 0..60 {
        body.push_str(&format!("x{},{},{}\n", i % 3, i * 7 % 11, i));
    }
    let data = write(d.path(), "nodates.csv", &body);
    let out = automl(&[
        "run",
        "forecast sales for the next 5 days",
        "--data",
        data.to_str().expect("utf8"),
        "--horizon",
        "5",
    ]);
    assert_bad_input(&out, &["time column"]);
}

#[test]
fn a_bad_store_url_is_a_clear_startup_error() {
    // `serve` refuses it before binding (exit 2); `worker` before connecting anything (exit 1).
    let out = automl(&["serve", "--port", "0", "--store", "gs://bucket/x"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--store")
            && err.contains("gs://bucket/x")
            && err.contains("unsupported scheme"),
        "{err}"
    );
    let out = automl(&[
        "worker",
        "--redis",
        "redis://127.0.0.1:1",
        "--store",
        "s3://",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--store") && err.contains("no bucket"),
        "{err}"
    );
}
