//! Every surface gives the same answer because every surface makes the same core call: the
//! command line's `automl parse --json` and the server's `/parse` agree on the intent for the
//! same prompt and environment (the Python binding is held to the same in automl-py/tests).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;

use automl_server::server::{self, ServerConfig};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn catalog() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../datasets")
}

async fn post_json(addr: SocketAddr, path: &str, body: &Value) -> (u16, Value) {
    let body = body.to_string();
    let mut s = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes()).await.expect("write");
    s.write_all(body.as_bytes()).await.expect("write");
    let mut buf = Vec::new();
    let _ = s.read_to_end(&mut buf).await;
    let text = String::from_utf8_lossy(&buf).to_string();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let json = text
        .split_once("\r\n\r\n")
        .and_then(|(_, b)| serde_json::from_str(b).ok())
        .unwrap_or(Value::Null);
    (status, json)
}

fn cli_parse(prompt: &str) -> Value {
    let out = Command::new(env!("CARGO_BIN_EXE_automl"))
        .args(["parse", prompt, "--json"])
        .env_remove("AUTOML_LLM_BASE_URL")
        .output()
        .expect("run automl parse");
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "automl parse printed no JSON ({e}): {}",
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_and_server_parse_the_same_way() {
    // Both sides read the LLM settings from the environment; none is configured in tests, so
    // both use the embedded parser (the CLI's environment is cleared of it explicitly).
    let dir = tempfile::tempdir().expect("tmp");
    let cfg = ServerConfig {
        data_dir: dir.path().to_path_buf(),
        ui_dir: None,
        catalog_dir: Some(catalog()),
        ..ServerConfig::default()
    };
    let srv = server::spawn(cfg, "127.0.0.1:0".parse().expect("addr"))
        .await
        .expect("server starts");
    let prompts = [
        "classify iris species",
        "predict wine quality from this CSV in 30 seconds",
        "Build a cat/dog classifier",
        "forecast daily sales for the next 14 days, optimise MAE",
        "detect spam in these SMS messages",
        "draw bounding boxes around cars in street photos",
    ];
    for p in prompts {
        let (status, from_server) = post_json(
            srv.addr,
            "/api/projects/p1/parse",
            &serde_json::json!({"prompt": p}),
        )
        .await;
        assert_eq!(status, 200, "{from_server}");
        let from_cli = cli_parse(p);
        assert_eq!(from_server, from_cli, "prompt {p:?}");
    }
    // The same limits too: a prompt over the core's size limit is refused by both.
    let long = "classify iris species ".repeat(2_000);
    let (status, _) = post_json(
        srv.addr,
        "/api/projects/p1/parse",
        &serde_json::json!({"prompt": long}),
    )
    .await;
    assert_eq!(status, 400);
    let out = Command::new(env!("CARGO_BIN_EXE_automl"))
        .args(["parse", &long, "--json"])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("20000"));
    let _ = srv.shutdown().await;
}
