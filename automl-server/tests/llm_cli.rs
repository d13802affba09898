//! `automl parse` and `automl run` with `AUTOML_LLM_BASE_URL` pointing at a local fake
//! OpenAI-compatible endpoint: PARSE_INTENT goes through the LLM; with the endpoint gone the
//! embedded parser answers with a warning.

use std::path::PathBuf;
use std::process::Command;

use axum::Json;
use axum::routing::post;
use serde_json::{Value, json};

fn workspace() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
        .to_path_buf()
}

async fn chat(Json(body): Json<Value>) -> Json<Value> {
    let has_schema = body
        .pointer("/response_format/json_schema/schema")
        .is_some();
    let content = if has_schema {
        json!({
            "modality": "tabular", "objective": "classification",
            "task_type": "tabular_classification", "supported": true, "reason": null,
            "target": "species", "dataset_hint": "iris", "keywords": ["iris", "flowers"],
            "constraints": {"time_budget_s": 20.0, "metric": null, "max_trials": null},
            "confidence": 0.91
        })
        .to_string()
    } else {
        "Cheaper models first.".to_string()
    };
    Json(json!({
        "id": "c-1", "object": "chat.completion", "created": 0, "model": "m",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": content},
                     "finish_reason": "stop"}]
    }))
}

fn fake_endpoint() -> String {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(async move {
            let l = tokio::net::TcpListener::bind("127.0.0.1:0")
                .await
                .expect("bind");
            tx.send(l.local_addr().expect("addr")).expect("send");
            let app = axum::Router::new().route("/v1/chat/completions", post(chat));
            let _ = axum::serve(l, app).await;
        });
    });
    format!("http://{}/v1", rx.recv().expect("addr"))
}

fn automl(base: &str, home: &std::path::Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_automl"));
    c.current_dir(workspace())
        .env("AUTOML_LLM_BASE_URL", base)
        .env("AUTOML_LLM_MODEL", "fake-model")
        .env("AUTOML_LLM_TIMEOUT_S", "3")
        .env("HF_HOME", home)
        .env_remove("AUTOML_HUB")
        .env("HF_HUB_OFFLINE", "1")
        .env_remove("HF_ENDPOINT")
        .env_remove("AUTOML_LLM_API_KEY");
    c
}

#[test]
fn parse_and_run_use_the_llm_endpoint() {
    let base = fake_endpoint();
    let home = tempfile::tempdir().expect("tmp");
    let out = automl(&base, home.path())
        .args([
            "parse",
            "I want to know the kind of flower from its petals",
            "--json",
        ])
        .output()
        .expect("run automl");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(v["parser"], "llm");
    assert_eq!(v["target"], "species");

    let run_dir = tempfile::tempdir().expect("tmp");
    let out = automl(&base, home.path())
        .args([
            "run",
            "classify iris species",
            "--json",
            "--max-trials",
            "2",
            "--out",
        ])
        .arg(run_dir.path())
        .output()
        .expect("run automl");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let events: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    let parsed = events
        .iter()
        .find(|e| e["event"]["name"] == "PROMPT_PARSED")
        .expect("PROMPT_PARSED");
    assert_eq!(parsed["event"]["payload"]["parser"], "llm");
    assert!(events.iter().any(|e| {
        e["event"]["name"] == "STAGE_STATUS"
            && e["event"]["payload"]["stage"] == "MODEL_SELECT"
            && e["event"]["payload"]["message"]
                .as_str()
                .is_some_and(|m| m.starts_with("explanation (LLM)"))
    }));
    assert_eq!(
        events.last().expect("events")["event"]["name"],
        "RUN_FINISHED"
    );
}

#[test]
fn parse_falls_back_with_a_warning_when_the_endpoint_is_gone() {
    // Port 1 lies below the ephemeral range: no fake server of a test running beside this one
    // can be given it (a port taken with `:0` and dropped can be).
    let base = "http://127.0.0.1:1/v1".to_string();
    let home = tempfile::tempdir().expect("tmp");
    let out = automl(&base, home.path())
        .args(["parse", "predict diamond prices", "--json"])
        .output()
        .expect("run automl");
    assert!(out.status.success());
    let v: Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(v["parser"], "embedded");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("warning [llm_unreachable]"), "{err}");
}
