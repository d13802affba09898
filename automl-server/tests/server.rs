//! The server against real clients on 127.0.0.1: a WebSocket client (tokio-tungstenite) and a
//! small HTTP/1.1 client over a TCP stream.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use automl_core::Event;
use automl_server::server::{self, RunningServer, ServerConfig};
use futures::{SinkExt, StreamExt};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::tungstenite::Message;

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

fn catalog() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../datasets")
}

fn config(dir: &Path) -> ServerConfig {
    ServerConfig {
        data_dir: dir.to_path_buf(),
        ui_dir: None,
        catalog_dir: Some(catalog()),
        offline: true,
        ..ServerConfig::default()
    }
}

async fn start(cfg: ServerConfig) -> RunningServer {
    server::spawn(cfg, "127.0.0.1:0".parse().expect("addr"))
        .await
        .expect("server starts")
}

struct HttpResponse {
    status: u16,
    headers: String,
    body: Vec<u8>,
}

impl HttpResponse {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).to_string()
    }
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }
    fn code(&self) -> String {
        self.json()["error"]["code"]
            .as_str()
            .unwrap_or("")
            .to_string()
    }
}

async fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    ctype: &str,
    body: &[u8],
) -> HttpResponse {
    let mut s = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes()).await.expect("write");
    // The server may answer (e.g. 413) before it has read the whole body.
    let _ = s.write_all(body).await;
    let mut buf = Vec::new();
    let _ = s.read_to_end(&mut buf).await;
    let split = buf
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a response head");
    let headers = String::from_utf8_lossy(&buf[..split]).to_string();
    let status: u16 = headers
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("status");
    let mut body = buf[split + 4..].to_vec();
    if headers
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        body = dechunk(&body);
    }
    HttpResponse {
        status,
        headers,
        body,
    }
}

fn dechunk(mut b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(nl) = b.windows(2).position(|w| w == b"\r\n") {
        let n = usize::from_str_radix(std::str::from_utf8(&b[..nl]).unwrap_or("0").trim(), 16)
            .unwrap_or(0);
        if n == 0 || b.len() < nl + 2 + n + 2 {
            break;
        }
        out.extend_from_slice(&b[nl + 2..nl + 2 + n]);
        b = &b[nl + 2 + n + 2..];
    }
    out
}

async fn post(addr: SocketAddr, path: &str) -> HttpResponse {
    http(addr, "POST", path, "application/json", b"").await
}

async fn get(addr: SocketAddr, path: &str) -> HttpResponse {
    http(addr, "GET", path, "text/plain", b"").await
}

fn multipart(filename: &str, content: &[u8]) -> (String, Vec<u8>) {
    let boundary = "----automltestboundary7";
    let mut body = Vec::new();
    body.extend_from_slice(
        format!("--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{filename}\"\r\nContent-Type: application/octet-stream\r\n\r\n").as_bytes(),
    );
    body.extend_from_slice(content);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

async fn upload(addr: SocketAddr, project: &str, filename: &str, content: &[u8]) -> HttpResponse {
    let (ctype, body) = multipart(filename, content);
    http(
        addr,
        "POST",
        &format!("/api/projects/{project}/upload"),
        &ctype,
        &body,
    )
    .await
}

async fn ws(addr: SocketAddr, project: &str, since: u64) -> Ws {
    let url = format!("ws://{addr}/ws/projects/{project}?since={since}");
    tokio_tungstenite::connect_async(url)
        .await
        .expect("ws connects")
        .0
}

/// The next envelope, skipping control frames; `None` when the socket closes.
async fn next_env(ws: &mut Ws) -> Option<Value> {
    loop {
        let m = tokio::time::timeout(Duration::from_secs(60), ws.next())
            .await
            .expect("an event within 60 s")?;
        match m.ok()? {
            Message::Text(t) => {
                let v: Value = serde_json::from_str(t.as_str()).expect("JSON");
                if v["type"] == "event" {
                    return Some(v);
                }
            }
            Message::Close(_) => return None,
            _ => {}
        }
    }
}

fn is_terminal(v: &Value) -> bool {
    matches!(
        v["event"]["name"].as_str(),
        Some("RUN_FINISHED" | "RUN_CANCELLED" | "ERROR")
    )
}

async fn until_terminal(ws: &mut Ws, out: &mut Vec<Value>) {
    while let Some(v) = next_env(ws).await {
        let end = is_terminal(&v);
        out.push(v);
        if end {
            return;
        }
    }
    panic!("socket closed before the run ended");
}

fn seqs(v: &[Value]) -> Vec<u64> {
    v.iter().map(|e| e["seq"].as_u64().expect("seq")).collect()
}

async fn demo(addr: SocketAddr, project: &str, extra: &str) -> HttpResponse {
    post(
        addr,
        &format!("/api/demo/run/{project}?prompt=classify%20iris%20species{extra}"),
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_reconnect_many_clients_artifacts_and_restart() {
    let dir = tempfile::tempdir().expect("tmp");
    let srv = start(config(dir.path())).await;
    let addr = srv.addr;
    // Clients may connect before the run exists.
    let mut early = ws(addr, "iris-1", 0).await;
    let r = demo(addr, "iris-1", "&max_trials=2&time_budget_s=20").await;
    assert_eq!(r.status, 202, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.json()["events"], "/ws/projects/iris-1?since=0");
    // Many clients at once, all live.
    let mut many = Vec::new();
    for _ in 0..20 {
        many.push(ws(addr, "iris-1", 0).await);
    }
    // One client drops after 5 events and comes back with since=5.
    let mut first = Vec::new();
    {
        let mut c = ws(addr, "iris-1", 0).await;
        for _ in 0..5 {
            first.push(next_env(&mut c).await.expect("event"));
        }
    }
    let mut c = ws(addr, "iris-1", 5).await;
    until_terminal(&mut c, &mut first).await;
    let mut all = Vec::new();
    until_terminal(&mut early, &mut all).await;
    let n = all.len() as u64;
    assert_eq!(seqs(&all), (1..=n).collect::<Vec<_>>(), "gapless from 1");
    assert_eq!(
        all.last().map(|e| e["event"]["name"].clone()),
        Some("RUN_FINISHED".into())
    );
    assert_eq!(
        first, all,
        "reconnecting with since loses nothing and repeats nothing"
    );
    for mut m in many {
        let mut got = Vec::new();
        until_terminal(&mut m, &mut got).await;
        assert_eq!(got, all);
    }
    // Envelopes are exactly the contract: they parse as automl_core::Envelope and print back
    // identically.
    for v in &all {
        let env: automl_core::Envelope = serde_json::from_value(v.clone()).expect("an Envelope");
        assert_eq!(serde_json::to_value(&env).expect("json"), *v);
        assert_eq!(env.project_id, "iris-1");
    }
    let completed: Vec<String> = all
        .iter()
        .filter(|v| {
            v["event"]["name"] == "STAGE_STATUS" && v["event"]["payload"]["status"] == "completed"
        })
        .map(|v| {
            v["event"]["payload"]["stage"]
                .as_str()
                .unwrap_or("")
                .to_string()
        })
        .collect();
    assert_eq!(
        completed,
        [
            "PARSE_INTENT",
            "DATA_SOURCE",
            "PROFILE_DATA",
            "PREPROCESS",
            "MODEL_SELECT",
            "TRAIN",
            "REVIEW_EDIT",
            "EXPORT"
        ]
    );
    // Replay of a finished project with since=N/2.
    let mut late = ws(addr, "iris-1", n / 2).await;
    let mut tail = Vec::new();
    until_terminal(&mut late, &mut tail).await;
    assert_eq!(seqs(&tail), ((n / 2 + 1)..=n).collect::<Vec<_>>());
    // A second run on the same project is refused.
    let again = demo(addr, "iris-1", "").await;
    assert_eq!(
        (again.status, again.code().as_str()),
        (409, "project_exists")
    );
    // Artifacts download; names that leave the folder do not.
    let model = get(addr, "/api/projects/iris-1/artifacts/model.json").await;
    assert_eq!(model.status, 200);
    assert!(
        model
            .headers
            .to_ascii_lowercase()
            .contains("content-disposition: attachment")
    );
    let on_disk = std::fs::read(dir.path().join("runs/iris-1/model.json")).expect("model on disk");
    assert_eq!(model.body, on_disk);
    for bad in ["..%2F..%2Fetc%2Fpasswd", ".hidden", "nope.json", "%2E%2E"] {
        let r = get(addr, &format!("/api/projects/iris-1/artifacts/{bad}")).await;
        assert_eq!(r.status, 404, "{bad}");
    }
    // Metrics count what happened.
    let m = String::from_utf8(get(addr, "/metrics").await.body).expect("utf8");
    assert!(m.contains("automl_runs_started_total 1"), "{m}");
    assert!(m.contains("# TYPE automl_ws_connections gauge"));
    srv.shutdown().await.expect("clean shutdown");

    // Restart: the project is rebuilt from its event log, with the same envelopes.
    let srv = start(config(dir.path())).await;
    let mut again = ws(srv.addr, "iris-1", 0).await;
    let mut replay = Vec::new();
    until_terminal(&mut again, &mut replay).await;
    assert_eq!(
        replay, all,
        "state after a restart is the same fold of the same log"
    );
    let again = demo(srv.addr, "iris-1", "").await;
    assert_eq!(again.status, 409, "the restored project is known");
    srv.shutdown().await.expect("clean shutdown");
}

/// A run that ends within milliseconds: every event is emitted, and the stream closed, before
/// the client's socket finds the project, while the log's writer has not yet marked them on
/// disk. The socket must wait for them, not drop them (the UI's "hello there" run once sat at
/// seq 3 with the run long failed).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_not_on_disk_when_the_stream_closes_still_reach_the_socket() {
    let dir = tempfile::tempdir().expect("tmp");
    let srv = start(config(dir.path())).await;
    let bus = srv.state.bus().clone();
    bus.hold_until_durable("quick", 0);
    let em = bus.emitter("quick");
    em.emit(Event::stage(
        automl_core::Stage::ParseIntent,
        automl_core::StageStatus::Running,
        "x",
    ));
    em.emit(Event::warning("w", "about to fail"));
    em.emit(Event::Error(automl_core::event::ErrorPayload {
        code: "bad_prompt".into(),
        message: "nothing to predict".into(),
        stage: Some(automl_core::Stage::ParseIntent),
        user_error: true,
    }));
    bus.close("quick");
    let mut c = ws(srv.addr, "quick", 0).await;
    // Nothing is on disk yet, so nothing may be sent yet.
    let early = tokio::time::timeout(Duration::from_millis(300), c.next()).await;
    assert!(
        early.is_err(),
        "an event went out before it was on disk: {early:?}"
    );
    bus.mark_durable("quick", 2);
    let in_time = Duration::from_secs(20);
    let mut got = Vec::new();
    for _ in 0..2 {
        let e = tokio::time::timeout(in_time, next_env(&mut c)).await;
        got.push(e.expect("sent in time").expect("an event on disk is sent"));
    }
    bus.release_durable("quick");
    let e = tokio::time::timeout(in_time, next_env(&mut c)).await;
    got.push(
        e.expect("sent in time")
            .expect("the last event, once the writer is done"),
    );
    assert_eq!(seqs(&got), vec![1, 2, 3]);
    assert_eq!(got[2]["event"]["payload"]["code"], "bad_prompt");
    srv.shutdown().await.expect("shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interrupted_log_is_closed_with_an_error_on_restart() {
    let dir = tempfile::tempdir().expect("tmp");
    let bus = automl_core::EventBus::default();
    let em = bus.emitter("half");
    em.emit(Event::stage(
        automl_core::Stage::ParseIntent,
        automl_core::StageStatus::Running,
        "x",
    ));
    em.emit(Event::warning("w", "still going"));
    let log_dir = dir.path().join("runs/half");
    std::fs::create_dir_all(&log_dir).expect("mkdir");
    let lines: Vec<String> = bus
        .history("half")
        .iter()
        .map(|e| e.to_json_line())
        .collect();
    std::fs::write(log_dir.join("events.jsonl"), lines.join("\n") + "\n").expect("write");
    let srv = start(config(dir.path())).await;
    let mut c = ws(srv.addr, "half", 0).await;
    let mut got = Vec::new();
    until_terminal(&mut c, &mut got).await;
    assert_eq!(seqs(&got), vec![1, 2, 3]);
    assert_eq!(got[2]["event"]["payload"]["code"], "interrupted");
    assert_eq!(got[2]["event"]["payload"]["stage"], "PARSE_INTENT");
    let on_disk = automl_core::sink::read_jsonl(log_dir.join("events.jsonl")).expect("log");
    assert_eq!(on_disk.len(), 3, "the ERROR is appended to the log too");
    srv.shutdown().await.expect("shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_client_is_closed_with_a_reason_and_resumes_without_loss() {
    let dir = tempfile::tempdir().expect("tmp");
    let cfg = ServerConfig {
        ws_live_buffer: 512,
        ws_send_timeout: Duration::from_millis(300),
        ..config(dir.path())
    };
    let srv = start(cfg).await;
    // The project exists (its log is open) before the clients come.
    let em = srv.state.bus().emitter("flood");
    // The slow client's receive buffer is small, so that the server's writes block soon
    // whatever the machine's TCP buffer defaults are.
    let sock = tokio::net::TcpSocket::new_v4().expect("socket");
    sock.set_recv_buffer_size(8 << 10).expect("rcvbuf");
    let stream = sock.connect(srv.addr).await.expect("connect");
    let (mut slow, _) = tokio_tungstenite::client_async(
        format!("ws://{}/ws/projects/flood?since=0", srv.addr),
        tokio_tungstenite::MaybeTlsStream::Plain(stream),
    )
    .await
    .expect("ws handshake");
    let mut fast = ws(srv.addr, "flood", 0).await;
    let big = "x".repeat(4000);
    let total = 3000u64;
    let emitter = tokio::spawn(async move {
        for i in 0..total {
            em.emit(Event::warning("flood", format!("{i} {big}")));
            if i % 20 == 0 {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }
    });
    // The fast client keeps up and gets everything while the slow one does not read.
    let mut fast_got = 0u64;
    while fast_got < total {
        let v = next_env(&mut fast)
            .await
            .expect("the fast client is not dropped");
        fast_got += 1;
        assert_eq!(v["seq"].as_u64(), Some(fast_got));
    }
    emitter.await.expect("emitter");
    srv.state.bus().close("flood");
    // Now the slow one reads: what was buffered, then a close frame naming where to resume.
    let mut last = 0u64;
    let mut close = None;
    while let Some(m) = tokio::time::timeout(Duration::from_secs(30), slow.next())
        .await
        .expect("progress")
    {
        match m {
            Ok(Message::Text(t)) => {
                let v: Value = serde_json::from_str(t.as_str()).expect("json");
                let s = v["seq"].as_u64().expect("seq");
                assert_eq!(s, last + 1, "in order, no gaps");
                last = s;
            }
            Ok(Message::Close(f)) => {
                close = f;
                break;
            }
            Ok(_) => {}
            Err(e) => panic!("expected a close frame, got {e}"),
        }
    }
    let close = close.expect("a close frame with a reason");
    assert_eq!(u16::from(close.code), 1008);
    assert!(
        close.reason.as_str().contains("too slow"),
        "{}",
        close.reason
    );
    assert!(last < total, "the slow client was cut off early ({last})");
    // It reconnects from its last seq and gets the rest, nothing twice.
    let mut again = ws(srv.addr, "flood", last).await;
    let mut n = last;
    while let Some(v) = tokio::time::timeout(Duration::from_secs(2), next_env(&mut again))
        .await
        .ok()
        .flatten()
    {
        n += 1;
        assert_eq!(v["seq"].as_u64(), Some(n));
        if n == total {
            break;
        }
    }
    assert_eq!(n, total);
    let m = String::from_utf8(get(srv.addr, "/metrics").await.body).expect("utf8");
    assert!(m.contains("automl_ws_slow_disconnects_total 1"), "{m}");
    srv.shutdown().await.expect("shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_ids_and_bad_requests_are_refused_plainly() {
    let dir = tempfile::tempdir().expect("tmp");
    let srv = start(config(dir.path())).await;
    let addr = srv.addr;
    let long = "a".repeat(65);
    for bad in ["-x", "a%20b", "a.b", "%2E%2E", long.as_str(), "x%00"] {
        let r = demo(addr, bad, "").await;
        assert_eq!(
            (r.status, r.code().as_str()),
            (400, "bad_project_id"),
            "{bad}"
        );
        let url = format!("ws://{addr}/ws/projects/{bad}");
        match tokio_tungstenite::connect_async(url).await {
            Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => {
                assert_eq!(resp.status(), 400)
            }
            other => panic!(
                "{bad}: expected a 400 handshake, got {:?}",
                other.map(|_| ())
            ),
        }
    }
    let url = format!("ws://{addr}/ws/projects/ok?since=abc");
    assert!(tokio_tungstenite::connect_async(url).await.is_err());
    let r = post(addr, "/api/demo/run/ok").await;
    assert_eq!(
        (r.status, r.code().as_str()),
        (400, "bad_request"),
        "a prompt is required"
    );
    let r = post(addr, "/api/projects/nobody/cancel").await;
    assert_eq!((r.status, r.code().as_str()), (404, "no_active_run"));
    let r = http(
        addr,
        "POST",
        "/api/projects/nobody/confirm",
        "application/json",
        br#"{"stage":"REVIEW_EDIT"}"#,
    )
    .await;
    assert_eq!(r.status, 404);
    let r = http(
        addr,
        "POST",
        "/api/projects/p/confirm",
        "application/json",
        br#"{"stage":"NOPE"}"#,
    )
    .await;
    assert_eq!((r.status, r.code().as_str()), (400, "bad_request"));
    let r = http(
        addr,
        "POST",
        "/api/projects/p/parse",
        "application/json",
        br#"{"prompt":"classify iris species"}"#,
    )
    .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["objective"], "classification");
    let r = http(
        addr,
        "POST",
        "/api/projects/p/train",
        "application/json",
        br#"{"prompt":"predict y"}"#,
    )
    .await;
    assert_eq!(r.status, 400, "no upload yet");
    assert!(
        r.json()["error"]["message"]
            .as_str()
            .unwrap_or("")
            .contains("upload")
    );
    let h = get(addr, "/healthz").await;
    assert_eq!(h.json()["status"], "ok");
    let api = get(addr, "/openapi.json").await.json();
    for p in [
        "/api/demo/run/{project_id}",
        "/api/projects/{project_id}/upload",
        "/ws/projects/{project_id}",
        "/metrics",
    ] {
        assert!(api["paths"].get(p).is_some(), "openapi lists {p}");
    }
    srv.shutdown().await.expect("shutdown");
}

fn zip_bytes(entries: &[(&str, Vec<u8>)], method: zip::CompressionMethod) -> Vec<u8> {
    let mut buf = std::io::Cursor::new(Vec::new());
    {
        let mut w = zip::ZipWriter::new(&mut buf);
        for (name, data) in entries {
            let opts = zip::write::SimpleFileOptions::default().compression_method(method);
            w.start_file(*name, opts).expect("entry");
            std::io::Write::write_all(&mut w, data).expect("write");
        }
        w.finish().expect("finish");
    }
    buf.into_inner()
}

fn list_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            if e.path().is_dir() {
                out.extend(list_files(&e.path()));
            } else {
                out.push(e.path());
            }
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uploads_are_validated_and_never_escape_the_project_folder() {
    let dir = tempfile::tempdir().expect("tmp");
    let cfg = ServerConfig {
        max_upload_bytes: 200_000,
        max_unzipped_bytes: 2 << 20,
        ..config(dir.path())
    };
    let srv = start(cfg).await;
    let addr = srv.addr;
    let csv = b"a,b,y\n1,2,0\n3,4,1\n5,6,0\n7,8,1\n";
    // A traversal name is cut to its last component, inside the project's folder.
    let r = upload(addr, "up", "../../../outside.csv", csv).await;
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.json()["name"], "outside.csv");
    assert_eq!(r.json()["rows"], 4);
    assert!(dir.path().join("uploads/up/outside.csv").is_file());
    assert!(
        !dir.path().join("outside.csv").exists() && !dir.path().join("../outside.csv").exists()
    );
    // Too large.
    let big = vec![b'1'; 300_000];
    let r = upload(addr, "up", "big.csv", &big).await;
    assert_eq!((r.status, r.code().as_str()), (413, "upload_too_large"));
    // Wrong type, bad CSV.
    let r = upload(addr, "up", "x.exe", b"MZ").await;
    assert_eq!((r.status, r.code().as_str()), (415, "unsupported_type"));
    let r = upload(addr, "up", "empty.csv", b"a,b\n").await;
    assert_eq!((r.status, r.code().as_str()), (400, "bad_data"));
    assert!(
        !r.json()["error"]["message"]
            .as_str()
            .unwrap_or("")
            .contains(dir.path().to_str().unwrap_or("?")),
        "no server paths to clients"
    );
    // A zip with ../ entries: refused, nothing written anywhere.
    let before = list_files(dir.path());
    let evil = zip_bytes(
        &[
            ("cats/ok.png", vec![1; 10]),
            ("../../evil.png", vec![1; 10]),
        ],
        zip::CompressionMethod::Stored,
    );
    let r = upload(addr, "up", "evil.zip", &evil).await;
    assert_eq!((r.status, r.code().as_str()), (400, "path_traversal"));
    let abs = zip_bytes(
        &[("/tmp/abs.png", vec![1; 10])],
        zip::CompressionMethod::Stored,
    );
    let r = upload(addr, "up", "abs.zip", &abs).await;
    assert_eq!((r.status, r.code().as_str()), (400, "path_traversal"));
    assert_eq!(
        list_files(dir.path()),
        before,
        "a refused zip leaves nothing behind"
    );
    // A zip bomb: 20 MiB of zeros in a few KiB.
    let bomb = zip_bytes(
        &[("a/zero.png", vec![0; 20 << 20])],
        zip::CompressionMethod::Deflated,
    );
    assert!(bomb.len() < 200_000);
    let r = upload(addr, "up", "bomb.zip", &bomb).await;
    assert_eq!((r.status, r.code().as_str()), (413, "zip_bomb"));
    assert_eq!(list_files(dir.path()), before);
    let r = upload(addr, "up", "junk.zip", b"not a zip").await;
    assert_eq!((r.status, r.code().as_str()), (400, "bad_zip"));
    // A good zip of images (real, decodable ones: the loader decodes every image).
    let good = zip_bytes(
        &[
            ("pets/cat/1.png", picture(image::ImageFormat::Png, 10)),
            ("pets/cat/2.png", picture(image::ImageFormat::Png, 120)),
            ("pets/dog/1.jpg", picture(image::ImageFormat::Jpeg, 200)),
            ("__MACOSX/x", vec![0; 5]),
        ],
        zip::CompressionMethod::Deflated,
    );
    let r = upload(addr, "up", "pets.zip", &good).await;
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.json()["classes"], serde_json::json!(["cat", "dog"]));
    assert_eq!(r.json()["images"], 3);
    assert!(dir.path().join("uploads/up/pets/cat/1.png").is_file());
    // A run on the images: its sample images are served by index, and nothing else is.
    let r = http(
        addr,
        "POST",
        "/api/projects/up/train",
        "application/json",
        br#"{"prompt":"classify pet images","data":"pets","max_trials":1,"time_budget_s":5}"#,
    )
    .await;
    assert_eq!(r.status, 202, "{}", String::from_utf8_lossy(&r.body));
    let mut c = ws(addr, "up", 0).await;
    loop {
        let v = next_env(&mut c)
            .await
            .expect("DATASET_SAMPLE_READY before the end");
        if v["event"]["name"] == "DATASET_SAMPLE_READY" {
            assert_eq!(
                v["event"]["payload"]["images"].as_array().map(|a| a.len()),
                Some(2),
                "one image per class"
            );
            break;
        }
        assert!(!is_terminal(&v), "ended without a sample: {v}");
    }
    let img = get(addr, "/api/projects/up/sample/0").await;
    assert_eq!(img.status, 200);
    assert!(
        img.headers
            .to_ascii_lowercase()
            .contains("content-type: image/png")
    );
    // The sample is a PNG thumbnail the loader wrote from the first cat image.
    assert!(img.body.starts_with(b"\x89PNG"), "a PNG");
    assert!(image::load_from_memory(&img.body).is_ok(), "it decodes");
    assert_eq!(get(addr, "/api/projects/up/sample/7").await.status, 404);
    assert_eq!(
        get(addr, "/api/projects/nothing/sample/0").await.status,
        404
    );
    let m = String::from_utf8(get(addr, "/metrics").await.body).expect("utf8");
    assert!(m.contains("automl_uploads_accepted_total 2"), "{m}");
    assert!(m.contains("automl_uploads_rejected_total 7"), "{m}");
    srv.shutdown().await.expect("shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_ends_the_run_with_run_cancelled_and_shutdown_tells_clients() {
    let dir = tempfile::tempdir().expect("tmp");
    let srv = start(config(dir.path())).await;
    let addr = srv.addr;
    // Train on an upload with a long budget, then cancel while it trains.
    let mut csv = String::from("x1,x2,label\n");
    for i in 0..400 {
        let a = (i * 37 % 101) as f64 / 10.0;
        let b = (i * 53 % 89) as f64 / 10.0;
        csv.push_str(&format!(
            "{a},{b},{}\n",
            if a + b > 9.0 { "hi" } else { "lo" }
        ));
    }
    let r = upload(addr, "cx", "points.csv", csv.as_bytes()).await;
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    let r = http(
        addr,
        "POST",
        "/api/projects/cx/train",
        "application/json",
        br#"{"prompt":"classify label","target":"label","time_budget_s":120}"#,
    )
    .await;
    assert_eq!(r.status, 202, "{}", String::from_utf8_lossy(&r.body));
    let mut c = ws(addr, "cx", 0).await;
    let mut seen = Vec::new();
    loop {
        let v = next_env(&mut c).await.expect("event");
        let training = v["event"]["name"] == "STAGE_STATUS"
            && v["event"]["payload"]["stage"] == "TRAIN"
            && v["event"]["payload"]["status"] == "running";
        assert!(!is_terminal(&v), "ended before it was cancelled: {v}");
        seen.push(v);
        if training {
            break;
        }
    }
    let r = post(addr, "/api/projects/cx/cancel").await;
    assert_eq!(r.status, 202);
    until_terminal(&mut c, &mut seen).await;
    assert_eq!(
        seen.last().map(|v| v["event"]["name"].clone()),
        Some("RUN_CANCELLED".into())
    );
    // Once it has ended there is nothing to cancel.
    let mut ended = false;
    for _ in 0..100 {
        if post(addr, "/api/projects/cx/cancel").await.status == 404 {
            ended = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(ended);
    // Clean shutdown tells connected clients.
    let mut idle = ws(addr, "someone", 0).await;
    let mut idle2 = ws(addr, "cx", 0).await;
    let mut replayed = Vec::new();
    until_terminal(&mut idle2, &mut replayed).await;
    assert_eq!(replayed, seen);
    let stop = tokio::spawn(srv.shutdown());
    for sock in [&mut idle, &mut idle2] {
        let close = loop {
            match tokio::time::timeout(Duration::from_secs(10), sock.next())
                .await
                .expect("close in time")
            {
                Some(Ok(Message::Close(f))) => break f,
                Some(Ok(_)) => continue,
                other => panic!("expected a close frame, got {other:?}"),
            }
        };
        let close = close.expect("a close frame");
        assert_eq!(u16::from(close.code), 1001);
        assert_eq!(close.reason.as_str(), "server shutting down");
    }
    stop.await.expect("join").expect("shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn app_level_ping_gets_a_pong() {
    let dir = tempfile::tempdir().expect("tmp");
    let srv = start(config(dir.path())).await;
    // A project the server knows (an unknown id waits for its project, then is closed).
    let _em = srv.state.bus().emitter("pinger");
    let mut c = ws(srv.addr, "pinger", 0).await;
    c.send(Message::Text(r#"{"type":"ping"}"#.into()))
        .await
        .expect("send");
    let m = tokio::time::timeout(Duration::from_secs(5), c.next())
        .await
        .expect("in time");
    match m {
        Some(Ok(Message::Text(t))) => assert_eq!(t.as_str(), r#"{"type":"pong"}"#),
        other => panic!("expected a pong, got {other:?}"),
    }
    srv.shutdown().await.expect("shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_pings_and_drops_clients_that_never_answer() {
    let dir = tempfile::tempdir().expect("tmp");
    let cfg = ServerConfig {
        ws_ping_interval: Duration::from_millis(100),
        ..config(dir.path())
    };
    let srv = start(cfg).await;
    let _em = srv.state.bus().emitter("pings");
    // A reading client answers pings (tungstenite replies to them as it reads) and stays.
    let mut alive = ws(srv.addr, "pings", 0).await;
    // A silent client reads nothing for a second, so it never answers.
    let mut silent = ws(srv.addr, "pings", 0).await;
    let reader = tokio::spawn(async move {
        let mut pings = 0;
        let until = tokio::time::Instant::now() + Duration::from_millis(1000);
        while let Ok(Some(m)) = tokio::time::timeout_at(until, alive.next()).await {
            match m {
                Ok(Message::Ping(_)) => pings += 1,
                Ok(Message::Close(f)) => panic!("a client that answers was closed: {f:?}"),
                _ => {}
            }
        }
        pings
    });
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let pings = reader.await.expect("reader");
    assert!(
        pings >= 5,
        "the server pings every interval ({pings} pings)"
    );
    let close = loop {
        match tokio::time::timeout(Duration::from_secs(5), silent.next())
            .await
            .expect("in time")
        {
            Some(Ok(Message::Close(f))) => break f.expect("a close frame"),
            Some(Ok(_)) => continue,
            other => panic!("expected a close frame, got {other:?}"),
        }
    };
    assert_eq!(u16::from(close.code), 1001);
    assert!(
        close.reason.as_str().contains("no answer to pings"),
        "{}",
        close.reason
    );
    srv.shutdown().await.expect("shutdown");
}

/// A small real image in `format`, of one shade.
fn picture(format: image::ImageFormat, shade: u8) -> Vec<u8> {
    let img = image::RgbImage::from_pixel(8, 8, image::Rgb([shade, shade / 2, 255 - shade]));
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, format).expect("encode");
    out.into_inner()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn projects_are_listed_with_status_prompt_and_metric_and_survive_a_restart() {
    let dir = tempfile::tempdir().expect("tmp");
    let srv = start(config(dir.path())).await;
    let empty = get(srv.addr, "/api/projects").await;
    assert_eq!(empty.status, 200);
    assert_eq!(empty.json(), serde_json::json!([]));
    // A finished run.
    assert_eq!(
        demo(srv.addr, "done-1", "&time_budget_s=2").await.status,
        202
    );
    let mut c = ws(srv.addr, "done-1", 0).await;
    let mut got = Vec::new();
    until_terminal(&mut c, &mut got).await;
    assert_eq!(got.last().expect("events")["event"]["name"], "RUN_FINISHED");
    // A run that waits at REVIEW_EDIT is running; a socket to an unknown id lists nothing.
    assert_eq!(
        demo(srv.addr, "wait-2", "&time_budget_s=2&review=true")
            .await
            .status,
        202
    );
    let mut w = ws(srv.addr, "wait-2", 0).await;
    while let Some(v) = next_env(&mut w).await {
        if v["event"]["payload"]["status"] == "waiting" {
            break;
        }
    }
    let _ghost = ws(srv.addr, "ghost", 0).await;
    let list = get(srv.addr, "/api/projects").await.json();
    let rows = list.as_array().expect("a list");
    assert_eq!(rows.len(), 2, "{list}");
    assert_eq!(rows[0]["id"], "wait-2", "newest first: {list}");
    assert_eq!(rows[0]["status"], "running");
    assert_eq!(rows[0]["finished"], Value::Null);
    let done = &rows[1];
    assert_eq!(done["id"], "done-1");
    assert_eq!(done["prompt"], "classify iris species");
    assert_eq!(done["status"], "finished");
    assert_eq!(done["events"].as_u64(), Some(got.len() as u64));
    assert_eq!(done["started"], got[0]["ts"]);
    assert_eq!(done["finished"], got.last().expect("end")["ts"]);
    assert!(done["model"].is_string(), "{done}");
    let metric = done["metric"]["name"].as_str().expect("a headline metric");
    let value = done["metric"]["value"].as_f64().expect("a value");
    let finished = &got.last().expect("end")["event"]["payload"]["metrics"];
    assert_eq!(finished[metric].as_f64(), Some(value), "{done}");
    assert_eq!(
        post(srv.addr, "/api/projects/wait-2/cancel").await.status,
        202
    );
    let mut rest = Vec::new();
    until_terminal(&mut w, &mut rest).await;
    srv.shutdown().await.expect("shutdown");

    // After a restart the same projects are listed, from their logs and prompt files.
    let srv = start(config(dir.path())).await;
    let again = get(srv.addr, "/api/projects").await.json();
    let rows = again.as_array().expect("a list");
    let ids: Vec<&str> = rows.iter().filter_map(|r| r["id"].as_str()).collect();
    assert_eq!(ids, vec!["wait-2", "done-1"], "{again}");
    assert_eq!(rows[0]["status"], "cancelled");
    assert_eq!(rows[0]["prompt"], "classify iris species");
    assert_eq!(rows[1]["status"], "finished");
    assert_eq!(rows[1]["metric"], done["metric"]);
    srv.shutdown().await.expect("shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn misclassified_images_are_served_only_as_the_review_names_them() {
    use automl_core::event::{Misclassified, ReviewPayload};
    let dir = tempfile::tempdir().expect("tmp");
    // The run's own upload folder holds the image; a file outside every folder of the run is
    // never served, even when its event names it.
    std::fs::create_dir_all(dir.path().join("uploads/imgs")).expect("mkdir");
    let img = dir.path().join("uploads/imgs/cat.png");
    std::fs::write(&img, picture(image::ImageFormat::Png, 90)).expect("write");
    let outside = dir.path().join("secret.png");
    std::fs::write(&outside, picture(image::ImageFormat::Png, 10)).expect("write");
    let bus = automl_core::EventBus::default();
    let em = bus.emitter("imgs");
    em.emit(Event::ReviewReady(ReviewPayload {
        metrics: Default::default(),
        best_run_id: "r-1".into(),
        model: "small_cnn".into(),
        confusion_matrix: None,
        residuals: None,
        feature_importance: vec![],
        n_test: 1,
        misclassified: vec![
            Misclassified {
                item: img.display().to_string(),
                label: "cat".into(),
                predicted: "dog".into(),
                confidence: 0.9,
            },
            Misclassified {
                item: outside.display().to_string(),
                label: "cat".into(),
                predicted: "dog".into(),
                confidence: 0.9,
            },
            Misclassified {
                item: dir
                    .path()
                    .join("uploads/imgs/../../secret.png")
                    .display()
                    .to_string(),
                label: "cat".into(),
                predicted: "dog".into(),
                confidence: 0.9,
            },
        ],
        roc_curve: None,
        pr_curve: None,
        predicted_vs_actual: None,
        forecast: None,
    }));
    em.emit(Event::warning("w", "end"));
    em.emit(Event::Error(automl_core::event::ErrorPayload {
        code: "x".into(),
        message: "stop".into(),
        stage: None,
        user_error: false,
    }));
    let log_dir = dir.path().join("runs/imgs");
    std::fs::create_dir_all(&log_dir).expect("mkdir");
    let lines: Vec<String> = bus
        .history("imgs")
        .iter()
        .map(|e| e.to_json_line())
        .collect();
    std::fs::write(log_dir.join("events.jsonl"), lines.join("\n") + "\n").expect("write");
    let srv = start(config(dir.path())).await;
    let ok = get(srv.addr, "/api/projects/imgs/misclassified/0").await;
    assert_eq!(ok.status, 200);
    assert!(ok.headers.to_ascii_lowercase().contains("image/png"));
    assert_eq!(ok.body, std::fs::read(&img).expect("read"));
    for path in [
        "/api/projects/imgs/misclassified/1",
        "/api/projects/imgs/misclassified/2",
        "/api/projects/imgs/misclassified/3",
        "/api/projects/other/misclassified/0",
    ] {
        let r = get(srv.addr, path).await;
        assert_eq!(r.status, 404, "{path}");
        assert_eq!(r.code(), "artifact_not_found");
    }
    // A restored log without a prompt file is still listed, with its failure.
    let list = get(srv.addr, "/api/projects").await.json();
    assert_eq!(list[0]["id"], "imgs");
    assert_eq!(list[0]["prompt"], Value::Null);
    assert_eq!(list[0]["status"], "failed");
    assert_eq!(list[0]["model"], "small_cnn");
    srv.shutdown().await.expect("shutdown");
}

/// Rows about houses: the bundled catalog has nothing on the subject (diamonds has a price
/// column, which is not enough).
fn houses_csv() -> Vec<u8> {
    let mut s = String::from("sqft,rooms,age,price\n");
    for i in 0..120u32 {
        let sqft = 600 + (i * 37) % 2400;
        let rooms = 1 + i % 5;
        let age = (i * 7) % 60;
        let price = sqft * 150 + rooms * 9000 - age * 500 + (i * 131) % 5000;
        s.push_str(&format!("{sqft},{rooms},{age},{price}\n"));
    }
    s.into_bytes()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_data_about_the_request_waits_for_an_upload_that_continues_the_run() {
    let dir = tempfile::tempdir().expect("tmp");
    let srv = start(config(dir.path())).await;
    let addr = srv.addr;
    let r = post(
        addr,
        "/api/demo/run/houses?prompt=predict%20house%20prices&time_budget_s=3&max_trials=2",
    )
    .await;
    assert_eq!(r.status, 202, "{}", r.text());
    let mut sock = ws(addr, "houses", 0).await;
    let mut seen = Vec::new();
    // The run waits at DATA_SOURCE, having said what it looked for.
    loop {
        let v = next_env(&mut sock).await.expect("events until the wait");
        assert!(!is_terminal(&v), "the run ended instead of waiting: {v}");
        let p = &v["event"]["payload"];
        let waiting = v["event"]["name"] == "STAGE_STATUS"
            && p["stage"] == "DATA_SOURCE"
            && p["status"] == "waiting";
        seen.push(v.clone());
        if waiting {
            let msg = p["message"].as_str().unwrap_or_default();
            assert!(msg.contains("house") && msg.contains("upload"), "{msg}");
            break;
        }
    }
    assert!(
        !seen
            .iter()
            .any(|v| v["event"]["name"] == "DATASET_SELECTED"),
        "nothing chosen before the upload"
    );
    // Only this project's uploads answer the wait: no server paths, no unknown names.
    for bad in ["../../etc/passwd", "/etc/passwd", "nothere.csv"] {
        let body = serde_json::json!({"stage": "DATA_SOURCE", "edit": {"data": bad}}).to_string();
        let r = http(
            addr,
            "POST",
            "/api/projects/houses/confirm",
            "application/json",
            body.as_bytes(),
        )
        .await;
        assert_eq!(r.status, 400, "{bad}: {}", r.text());
    }
    let up = upload(addr, "houses", "houses.csv", &houses_csv()).await;
    assert!((200..300).contains(&up.status), "{}", up.text());
    let name = serde_json::from_slice::<Value>(&up.body).expect("json")["name"]
        .as_str()
        .expect("name")
        .to_string();
    let body = serde_json::json!({"stage": "DATA_SOURCE", "edit": {"data": name}}).to_string();
    let r = http(
        addr,
        "POST",
        "/api/projects/houses/confirm",
        "application/json",
        body.as_bytes(),
    )
    .await;
    assert_eq!(r.status, 202, "{}", r.text());
    let mut rest = Vec::new();
    until_terminal(&mut sock, &mut rest).await;
    let last = rest.last().expect("terminal");
    assert_eq!(last["event"]["name"], "RUN_FINISHED", "{last}");
    let selected = rest
        .iter()
        .find(|v| v["event"]["name"] == "DATASET_SELECTED")
        .expect("the upload is selected");
    assert_eq!(selected["event"]["payload"]["source"], "user");
    assert!(
        selected["event"]["payload"]["id"]
            .as_str()
            .unwrap_or_default()
            .contains("houses"),
        "{selected}"
    );
    // The same run: its sequence numbers go on from the wait.
    let all: Vec<u64> = seqs(&seen).into_iter().chain(seqs(&rest)).collect();
    assert!(all.windows(2).all(|w| w[1] == w[0] + 1), "{all:?}");
    srv.shutdown().await.expect("shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_a_store_a_run_is_archived_and_any_server_of_that_store_serves_its_files() {
    // `--store file:///dir`: the run of server 1 lands in the store when it ends; server 2,
    // which never ran it, serves its files from there, byte-equal.
    let root = tempfile::tempdir().expect("tmp");
    let url = format!("file://{}", root.path().join("store").display());
    let store = || automl_server::scale::ArtifactStore::open(&url).expect("store");
    let (d1, d2) = (
        tempfile::tempdir().expect("tmp"),
        tempfile::tempdir().expect("tmp"),
    );
    let one = start(ServerConfig {
        store: Some(store()),
        ..config(d1.path())
    })
    .await;
    let two = start(ServerConfig {
        store: Some(store()),
        ..config(d2.path())
    })
    .await;
    assert_eq!(
        demo(one.addr, "stored-1", "&max_trials=2").await.status,
        202
    );
    let mut log = Vec::new();
    until_terminal(&mut ws(one.addr, "stored-1", 0).await, &mut log).await;
    let archived = root.path().join("store/projects/stored-1/events.jsonl");
    let t = std::time::Instant::now();
    while !archived.is_file() {
        assert!(t.elapsed() < Duration::from_secs(30), "never archived");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let lines: Vec<Value> = std::fs::read_to_string(&archived)
        .expect("archived log")
        .lines()
        .map(|l| serde_json::from_str(l).expect("envelope"))
        .collect();
    assert_eq!(lines, log, "the archived log is the streamed one");
    for name in ["model_card.md", "model.json", "events.jsonl"] {
        let path = format!("/api/projects/stored-1/artifacts/{name}");
        let (a, b) = (get(one.addr, &path).await, get(two.addr, &path).await);
        assert_eq!((a.status, b.status), (200, 200), "{name}: {}", b.text());
        assert!(!a.body.is_empty() && a.body == b.body, "{name}: byte-equal");
    }
    let missing = get(two.addr, "/api/projects/stored-1/artifacts/nope.json").await;
    assert_eq!(missing.status, 404);
    assert_eq!(missing.code(), "artifact_not_found");
    // Without a store, server 2 does not know the project's files (today's behaviour).
    let d3 = tempfile::tempdir().expect("tmp");
    let three = start(config(d3.path())).await;
    let r = get(three.addr, "/api/projects/stored-1/artifacts/metrics.json").await;
    assert_eq!(r.status, 404);
}
