//! The attack list (issue 17), run in CI against the real server on 127.0.0.1 with an
//! ephemeral port; no traffic leaves the loopback. "Exposed" servers are loopback servers
//! configured as if reachable from other machines (`ServerConfig::exposed`).
//!
//! * cross-origin commands (every form a browser can send) and sockets are refused;
//! * a rebinding `Host` is refused;
//! * a missing or wrong token is refused on an exposed server, the right one accepted as a
//!   bearer header, a WebSocket subprotocol or the login cookie;
//! * traversal in every path parameter is refused, and only the run's own files are served;
//! * oversized bodies are refused;
//! * `since` at the integer limit is handled;
//! * reads of 2,000 unknown project ids create nothing (projects, hubs, sockets all back to 0);
//! * the per-project and global socket caps hold;
//! * uploads are found again after a restart.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use automl_core::Event;
use automl_server::server::access::Token;
use automl_server::server::{self, RunningServer, ServerConfig, StartError};
use futures::{SinkExt, StreamExt};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

const TOKEN: &str = "test-token-0123456789abcdef";

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

fn exposed(dir: &Path) -> ServerConfig {
    ServerConfig {
        exposed: true,
        token: Some(Token::new(TOKEN).expect("token")),
        ..config(dir)
    }
}

async fn start(cfg: ServerConfig) -> RunningServer {
    server::spawn(cfg, "127.0.0.1:0".parse().expect("addr"))
        .await
        .expect("server starts")
}

struct Resp {
    status: u16,
    headers: String,
    body: Vec<u8>,
}

impl Resp {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }
    fn code(&self) -> String {
        self.json()["error"]["code"]
            .as_str()
            .unwrap_or("")
            .to_string()
    }
    fn header(&self, name: &str) -> Option<String> {
        let name = format!("{}:", name.to_ascii_lowercase());
        self.headers.lines().find_map(|l| {
            l.to_ascii_lowercase()
                .starts_with(&name)
                .then(|| l[name.len()..].trim().to_string())
        })
    }
}

/// One HTTP/1.1 request with exactly the given extra header lines (`Host` included when
/// wanted), so that a test can send what a browser or an attacker would.
async fn raw(addr: SocketAddr, method: &str, path: &str, headers: &[String], body: &[u8]) -> Resp {
    let mut s = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let mut head = format!("{method} {path} HTTP/1.1\r\nConnection: close\r\n");
    for h in headers {
        head.push_str(h);
        head.push_str("\r\n");
    }
    head.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
    s.write_all(head.as_bytes()).await.expect("write");
    let _ = s.write_all(body).await;
    let mut buf = Vec::new();
    let _ = s.read_to_end(&mut buf).await;
    let split = buf
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a response head");
    let headers = String::from_utf8_lossy(&buf[..split]).to_string();
    let status = headers
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("status");
    Resp {
        status,
        headers,
        body: buf[split + 4..].to_vec(),
    }
}

fn host(addr: SocketAddr) -> String {
    format!("Host: {addr}")
}

async fn get(addr: SocketAddr, path: &str) -> Resp {
    raw(addr, "GET", path, &[host(addr)], b"").await
}

async fn post_json(addr: SocketAddr, path: &str, extra: &[&str], body: &[u8]) -> Resp {
    let mut h = vec![host(addr), "Content-Type: application/json".to_string()];
    h.extend(extra.iter().map(|s| s.to_string()));
    raw(addr, "POST", path, &h, body).await
}

/// A WebSocket handshake with extra headers: Ok(socket) or Err(HTTP status).
async fn ws_with(
    addr: SocketAddr,
    path: &str,
    headers: &[(&str, String)],
) -> Result<
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>,
    u16,
> {
    let mut req = format!("ws://{addr}{path}")
        .into_client_request()
        .expect("request");
    for (k, v) in headers {
        req.headers_mut().insert(
            axum::http::HeaderName::from_bytes(k.as_bytes()).expect("name"),
            v.parse().expect("value"),
        );
    }
    match tokio_tungstenite::connect_async(req).await {
        Ok((s, _)) => Ok(s),
        Err(tokio_tungstenite::tungstenite::Error::Http(r)) => Err(r.status().as_u16()),
        Err(e) => panic!("{path}: {e}"),
    }
}

/// Writes a finished project's event log (and nothing else) as a past run would have.
fn write_log(dir: &Path, id: &str, events: Vec<Event>) {
    let bus = automl_core::EventBus::default();
    let em = bus.emitter(id);
    for e in events {
        em.emit(e);
    }
    em.emit(Event::Error(automl_core::event::ErrorPayload {
        code: "x".into(),
        message: "end".into(),
        stage: None,
        user_error: false,
    }));
    let d = dir.join("runs").join(id);
    std::fs::create_dir_all(&d).expect("mkdir");
    let lines: Vec<String> = bus.history(id).iter().map(|e| e.to_json_line()).collect();
    std::fs::write(d.join("events.jsonl"), lines.join("\n") + "\n").expect("write");
}

fn png() -> Vec<u8> {
    let img = image::RgbImage::from_pixel(4, 4, image::Rgb([200, 10, 10]));
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Png)
        .expect("encode");
    out.into_inner()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cross_origin_commands_and_sockets_are_refused() {
    let dir = tempfile::tempdir().expect("tmp");
    let srv = start(config(dir.path())).await;
    let a = srv.addr;
    let run = "/api/demo/run/x1?prompt=classify%20iris%20species&time_budget_s=1";
    // Every form a page on another site can send: a no-body POST, a form post, a text/plain
    // "simple" request, multipart, JSON; Origin null (sandboxed frames, file://).
    let forms: [(&str, &[u8]); 4] = [
        ("application/x-www-form-urlencoded", b"a=1"),
        ("text/plain", b"{}"),
        ("multipart/form-data; boundary=x", b"--x--\r\n"),
        ("application/json", b"{\"prompt\":\"x\"}"),
    ];
    for origin in [
        "http://evil.example",
        "null",
        "http://127.0.0.1:1",
        "https://localhost",
    ] {
        for (ctype, body) in forms {
            for path in [
                run,
                "/api/projects/x1/train",
                "/api/projects/x1/upload",
                "/api/projects/x1/cancel",
                "/api/projects/x1/confirm",
                "/api/projects/x1/parse",
            ] {
                let r = raw(
                    a,
                    "POST",
                    path,
                    &[
                        host(a),
                        format!("Origin: {origin}"),
                        format!("Content-Type: {ctype}"),
                    ],
                    body,
                )
                .await;
                assert_eq!(
                    (r.status, r.code().as_str()),
                    (403, "cross_origin"),
                    "{origin} {ctype} {path}"
                );
                assert!(r.header("access-control-allow-origin").is_none());
            }
        }
    }
    // A browser that sends no Origin but says the request is cross-site.
    let r = raw(
        a,
        "POST",
        run,
        &[host(a), "Sec-Fetch-Site: cross-site".into()],
        b"",
    )
    .await;
    assert_eq!(r.status, 403);
    // Sockets from another origin.
    for origin in ["http://evil.example", "null"] {
        let r = ws_with(a, "/ws/projects/x1?since=0", &[("origin", origin.into())]).await;
        assert_eq!(r.err(), Some(403), "{origin}");
    }
    // Nothing was created by any of it.
    assert_eq!(get(a, "/api/projects").await.json(), serde_json::json!([]));
    assert!(!dir.path().join("runs/x1").exists() && !dir.path().join("uploads/x1").exists());
    // CORS is closed: a cross-origin read gets no Access-Control-Allow-Origin.
    let r = raw(
        a,
        "GET",
        "/api/projects",
        &[host(a), "Origin: http://evil.example".into()],
        b"",
    )
    .await;
    assert_eq!(r.status, 200);
    assert!(r.header("access-control-allow-origin").is_none());
    let pre = raw(
        a,
        "OPTIONS",
        "/api/projects/x1/cancel",
        &[
            host(a),
            "Origin: http://evil.example".into(),
            "Access-Control-Request-Method: POST".into(),
        ],
        b"",
    )
    .await;
    assert_eq!(pre.status, 403);
    // The UI's own origin, and clients that send none (curl, backends), keep working.
    let same = format!("Origin: http://{a}");
    let r = post_json(a, run, &[same.as_str()], b"").await;
    assert_eq!(r.status, 202, "{}", String::from_utf8_lossy(&r.body));
    let mut s = ws_with(
        a,
        "/ws/projects/x1?since=0",
        &[("origin", format!("http://{a}"))],
    )
    .await
    .expect("same-origin socket");
    let first = tokio::time::timeout(Duration::from_secs(30), s.next())
        .await
        .expect("an event")
        .expect("open")
        .expect("frame");
    assert!(matches!(first, Message::Text(_)));
    let r = post_json(
        a,
        "/api/demo/run/x2?prompt=classify%20iris%20species&time_budget_s=1",
        &[],
        b"",
    )
    .await;
    assert_eq!(r.status, 202, "no Origin: not a browser");
    srv.shutdown().await.expect("shutdown");

    // With an allow-listed origin: CORS headers, preflight answered, commands accepted.
    let dir = tempfile::tempdir().expect("tmp");
    let srv = start(ServerConfig {
        cors_origins: vec!["https://dash.example.org".into()],
        ..config(dir.path())
    })
    .await;
    let a = srv.addr;
    let r = raw(
        a,
        "GET",
        "/api/projects",
        &[host(a), "Origin: https://dash.example.org".into()],
        b"",
    )
    .await;
    assert_eq!(
        r.header("access-control-allow-origin").as_deref(),
        Some("https://dash.example.org")
    );
    let pre = raw(
        a,
        "OPTIONS",
        "/api/projects/y/cancel",
        &[
            host(a),
            "Origin: https://dash.example.org".into(),
            "Access-Control-Request-Method: POST".into(),
        ],
        b"",
    )
    .await;
    assert_eq!(pre.status, 204);
    let r = post_json(
        a,
        "/api/projects/y/cancel",
        &["Origin: https://dash.example.org"],
        b"",
    )
    .await;
    assert_eq!(
        (r.status, r.code().as_str()),
        (404, "no_active_run"),
        "passed the check"
    );
    let r = post_json(
        a,
        "/api/projects/y/cancel",
        &["Origin: https://other.example.org"],
        b"",
    )
    .await;
    assert_eq!(r.status, 403);
    srv.shutdown().await.expect("shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rebinding_host_is_refused() {
    let dir = tempfile::tempdir().expect("tmp");
    let srv = start(ServerConfig {
        allowed_hosts: vec!["automl.internal".into()],
        ..config(dir.path())
    })
    .await;
    let a = srv.addr;
    let port = a.port();
    for bad in [
        format!("evil.example:{port}"),
        "evil.example".to_string(),
        format!("127.0.0.1.nip.example:{port}"),
        format!("localhost.evil.example:{port}"),
    ] {
        for path in [
            "/api/projects",
            "/healthz",
            "/metrics",
            "/",
            "/api/projects/p/artifacts/model.json",
        ] {
            let r = raw(a, "GET", path, &[format!("Host: {bad}")], b"").await;
            assert_eq!(
                (r.status, r.code().as_str()),
                (403, "bad_host"),
                "{bad} {path}"
            );
        }
        let r = ws_with(a, "/ws/projects/p", &[("host", bad.clone())]).await;
        assert_eq!(r.err(), Some(403), "{bad}");
    }
    // No Host at all (HTTP/1.0 style) is refused too.
    let r = raw(a, "GET", "/api/projects", &[], b"").await;
    assert_eq!(r.status, 403);
    for ok in [
        format!("127.0.0.1:{port}"),
        format!("localhost:{port}"),
        "automl.internal".to_string(),
    ] {
        let r = raw(a, "GET", "/healthz", &[format!("Host: {ok}")], b"").await;
        assert_eq!(r.status, 200, "{ok}");
    }
    srv.shutdown().await.expect("shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_exposed_server_needs_its_token() {
    let dir = tempfile::tempdir().expect("tmp");
    // No token: it does not start, whether exposed by flag or by a non-loopback address (the
    // check comes before the bind, so nothing listens beyond the loopback).
    for (cfg, addr) in [
        (
            ServerConfig {
                exposed: true,
                ..config(dir.path())
            },
            "127.0.0.1:0",
        ),
        (config(dir.path()), "0.0.0.0:0"),
        (config(dir.path()), "[::]:0"),
    ] {
        match server::spawn(cfg, addr.parse().expect("addr")).await {
            Err(StartError::TokenRequired { .. }) => {}
            other => panic!(
                "{addr}: expected TokenRequired, got {:?}",
                other.map(|s| s.addr)
            ),
        }
    }
    assert!(Token::new("short").is_err(), "weak tokens are refused");

    let srv = start(exposed(dir.path())).await;
    let a = srv.addr;
    let wrong = "test-token-0123456789abcdeX";
    for (what, extra) in [
        ("none", vec![]),
        ("wrong", vec![format!("Authorization: Bearer {wrong}")]),
        (
            "prefix",
            vec!["Authorization: Bearer test-token".to_string()],
        ),
        ("longer", vec![format!("Authorization: Bearer {TOKEN}x")]),
        ("basic", vec![format!("Authorization: Basic {TOKEN}")]),
        ("cookie", vec![format!("Cookie: automl_token={wrong}")]),
    ] {
        for (method, path) in [
            ("GET", "/api/projects"),
            ("GET", "/metrics"),
            ("GET", "/openapi.json"),
            ("GET", "/"),
            ("POST", "/api/demo/run/t1?prompt=classify%20iris"),
            ("POST", "/api/projects/t1/cancel"),
            ("GET", "/api/projects/t1/artifacts/events.jsonl"),
        ] {
            let mut h = vec![host(a)];
            h.extend(extra.iter().cloned());
            let r = raw(a, method, path, &h, b"").await;
            assert_eq!(
                (r.status, r.code().as_str()),
                (401, "unauthorized"),
                "{what} {method} {path}"
            );
            assert!(!String::from_utf8_lossy(&r.body).contains(TOKEN));
        }
    }
    let r = ws_with(a, "/ws/projects/t1", &[]).await;
    assert_eq!(r.err(), Some(401));
    let r = ws_with(
        a,
        "/ws/projects/t1",
        &[("sec-websocket-protocol", format!("automl, bearer.{wrong}"))],
    )
    .await;
    assert_eq!(r.err(), Some(401));
    // Liveness stays open for load balancers.
    assert_eq!(get(a, "/healthz").await.status, 200);
    // The right token, as a bearer header.
    let bearer = format!("Authorization: Bearer {TOKEN}");
    let r = raw(a, "GET", "/api/projects", &[host(a), bearer.clone()], b"").await;
    assert_eq!(r.status, 200);
    let r = raw(
        a,
        "POST",
        "/api/demo/run/t1?prompt=classify%20iris%20species&time_budget_s=1",
        &[host(a), bearer.clone()],
        b"",
    )
    .await;
    assert_eq!(r.status, 202);
    // As a WebSocket subprotocol (offered beside `automl`, which the server selects).
    let s = ws_with(
        a,
        "/ws/projects/t1?since=0",
        &[("sec-websocket-protocol", format!("automl, bearer.{TOKEN}"))],
    )
    .await;
    let mut s = s.expect("the token as a subprotocol opens the socket");
    let m = tokio::time::timeout(Duration::from_secs(30), s.next())
        .await
        .expect("event");
    assert!(matches!(m, Some(Ok(Message::Text(_)))));
    // As the cookie `/?token=` sets for the browser UI.
    let r = get(a, &format!("/?token={wrong}")).await;
    assert_eq!(r.status, 401);
    let r = get(a, &format!("/?token={TOKEN}")).await;
    assert_eq!(r.status, 303);
    assert_eq!(
        r.header("location").as_deref(),
        Some("/"),
        "the token leaves the address bar"
    );
    let cookie = r.header("set-cookie").expect("a cookie");
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    let pair = cookie.split(';').next().expect("pair").to_string();
    let r = raw(
        a,
        "GET",
        "/api/projects",
        &[host(a), format!("Cookie: {pair}")],
        b"",
    )
    .await;
    assert_eq!(r.status, 200);
    // The API never takes the token from the query (it would end up in logs and history).
    let r = get(a, &format!("/api/projects?token={TOKEN}")).await;
    assert_eq!(r.status, 401);
    srv.shutdown().await.expect("shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn traversal_in_every_path_parameter_is_refused() {
    let dir = tempfile::tempdir().expect("tmp");
    let d = dir.path();
    std::fs::write(d.join("secret.png"), png()).expect("write");
    std::fs::write(d.join("secret.json"), b"{\"secret\":1}").expect("write");
    // A past run whose events name files outside its folder (as a hostile Hub mirror or a
    // tampered log would), one inside it, and an artifact that is a link out of it.
    let run = d.join("runs/p1");
    std::fs::create_dir_all(run.join("samples")).expect("mkdir");
    std::fs::write(run.join("samples/ok.png"), png()).expect("write");
    let sample = |images: Vec<String>| {
        Event::DatasetSampleReady(automl_core::event::DatasetSamplePayload {
            images,
            columns: vec![],
            n_rows: 1,
            rows: vec![],
        })
    };
    write_log(
        d,
        "p1",
        vec![sample(vec![
            run.join("samples/ok.png").display().to_string(),
            d.join("secret.png").display().to_string(),
            run.join("samples/../../../secret.png")
                .display()
                .to_string(),
            "https://evil.example/x.png".to_string(),
            run.join("events.jsonl").display().to_string(),
        ])],
    );
    #[cfg(unix)]
    std::os::unix::fs::symlink(d.join("secret.json"), run.join("link.json")).expect("link");
    let srv = start(config(d)).await;
    let a = srv.addr;
    let ok = get(a, "/api/projects/p1/sample/0").await;
    assert_eq!(ok.status, 200);
    assert_eq!(ok.body, png());
    for i in 1..=5 {
        let r = get(a, &format!("/api/projects/p1/sample/{i}")).await;
        assert_eq!(r.status, 404, "sample {i}");
    }
    let ids = [
        "..",
        "%2E%2E",
        "..%2F..%2Fetc",
        "a%2Fb",
        "a%5Cb",
        "%00",
        "p1%00",
        "p1%2F..%2Fp1",
        ".p1",
        "~",
    ];
    for id in ids {
        for (m, path) in [
            ("GET", format!("/api/projects/{id}/artifacts/events.jsonl")),
            ("GET", format!("/api/projects/{id}/sample/0")),
            ("GET", format!("/api/projects/{id}/misclassified/0")),
            ("POST", format!("/api/projects/{id}/cancel")),
            ("POST", format!("/api/projects/{id}/confirm")),
            ("POST", format!("/api/projects/{id}/train")),
            ("POST", format!("/api/projects/{id}/upload")),
            ("POST", format!("/api/projects/{id}/parse")),
            ("POST", format!("/api/demo/run/{id}?prompt=classify%20iris")),
        ] {
            let r = raw(
                a,
                m,
                &path,
                &[host(a), "Content-Type: application/json".into()],
                b"{}",
            )
            .await;
            assert!(
                matches!(r.status, 400 | 404 | 405 | 415 | 422),
                "{m} {path}: {}",
                r.status
            );
            assert!(
                !String::from_utf8_lossy(&r.body).contains("secret"),
                "{path}"
            );
        }
        let r = ws_with(a, &format!("/ws/projects/{id}"), &[]).await;
        assert!(matches!(r.err(), Some(400 | 404)), "ws {id}");
    }
    for name in [
        "..%2F..%2Fsecret.json",
        "%2E%2E%2F%2E%2E%2Fsecret.json",
        "..%5C..%5Csecret.json",
        "link.json",
        ".",
        "..",
        "%2Fetc%2Fpasswd",
        "events.jsonl%00.png",
    ] {
        let r = get(a, &format!("/api/projects/p1/artifacts/{name}")).await;
        assert_eq!(r.status, 404, "{name}");
        assert!(!String::from_utf8_lossy(&r.body).contains("\"secret\":1"));
    }
    for idx in ["..%2F0", "-1", "18446744073709551616", "0%2F..", "0.png"] {
        let r = get(a, &format!("/api/projects/p1/sample/{idx}")).await;
        assert!(matches!(r.status, 400 | 404), "{idx}: {}", r.status);
    }
    // The `data` of /train names an upload by one safe component only.
    std::fs::create_dir_all(d.join("uploads/p2")).expect("mkdir");
    for data in [
        "../../secret.json",
        "/etc/passwd",
        "..",
        "a/../../secret.json",
    ] {
        let body = serde_json::json!({"prompt": "predict y", "data": data}).to_string();
        let r = post_json(a, "/api/projects/p2/train", &[], body.as_bytes()).await;
        assert_eq!(r.status, 400, "{data}");
    }
    srv.shutdown().await.expect("shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_bodies_are_refused() {
    let dir = tempfile::tempdir().expect("tmp");
    let srv = start(ServerConfig {
        max_upload_bytes: 256 << 10,
        max_body_bytes: 64 << 10,
        ..config(dir.path())
    })
    .await;
    let a = srv.addr;
    let big = format!("{{\"prompt\": \"{}\"}}", "x".repeat(200 << 10));
    for path in [
        "/api/projects/b1/train",
        "/api/projects/b1/parse",
        "/api/projects/b1/confirm",
    ] {
        let r = post_json(a, path, &[], big.as_bytes()).await;
        assert_eq!(r.status, 413, "{path}");
    }
    let boundary = "b0undary";
    let mut body = format!("--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"big.csv\"\r\n\r\n").into_bytes();
    body.extend(std::iter::repeat_n(b'1', 1 << 20));
    body.extend(format!("\r\n--{boundary}--\r\n").as_bytes());
    let r = raw(
        a,
        "POST",
        "/api/projects/b1/upload",
        &[
            host(a),
            format!("Content-Type: multipart/form-data; boundary={boundary}"),
        ],
        &body,
    )
    .await;
    assert_eq!(r.status, 413);
    // A socket message over 64 KiB ends that socket, not the server.
    write_log(dir.path(), "b2", vec![]);
    let mut s = ws_with(a, "/ws/projects/b2?since=0", &[])
        .await
        .expect("socket");
    let _ = s.send(Message::Text("x".repeat(100 << 10).into())).await;
    let mut ended = false;
    while let Ok(Some(m)) = tokio::time::timeout(Duration::from_secs(5), s.next()).await {
        if m.is_err() || matches!(m, Ok(Message::Close(_))) {
            ended = true;
            break;
        }
    }
    assert!(ended, "the oversized message closed the socket");
    assert_eq!(get(a, "/healthz").await.status, 200);
    srv.shutdown().await.expect("shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn since_at_the_integer_limit_is_handled() {
    let dir = tempfile::tempdir().expect("tmp");
    write_log(dir.path(), "s1", vec![Event::warning("w", "one")]);
    let srv = start(config(dir.path())).await;
    let a = srv.addr;
    // A live project too.
    let em = srv.state.bus().emitter("s2");
    em.emit(Event::warning("w", "live"));
    for id in ["s1", "s2"] {
        let mut s = ws_with(
            a,
            &format!("/ws/projects/{id}?since=18446744073709551615"),
            &[],
        )
        .await
        .expect("accepted");
        s.send(Message::Text(r#"{"type":"ping"}"#.into()))
            .await
            .expect("send");
        let m = tokio::time::timeout(Duration::from_secs(5), s.next())
            .await
            .expect("an answer")
            .expect("open")
            .expect("frame");
        assert_eq!(
            m,
            Message::Text(r#"{"type":"pong"}"#.into()),
            "{id}: no event, no crash"
        );
    }
    em.emit(Event::warning("w", "after"));
    let r = ws_with(a, "/ws/projects/s1?since=18446744073709551616", &[]).await;
    assert_eq!(r.err(), Some(400));
    let r = ws_with(a, "/ws/projects/s1?since=-1", &[]).await;
    assert_eq!(r.err(), Some(400));
    assert_eq!(get(a, "/healthz").await.json()["status"], "ok");
    srv.shutdown().await.expect("shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_of_unknown_projects_create_nothing() {
    let dir = tempfile::tempdir().expect("tmp");
    let srv = start(ServerConfig {
        ws_unknown_grace: Duration::from_millis(50),
        ..config(dir.path())
    })
    .await;
    let a = srv.addr;
    let mut seed = 0x9E37_79B9_7F4A_7C15u64;
    let mut rand_id = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        format!("r{seed:016x}")
    };
    let ids: Vec<String> = (0..2000).map(|_| rand_id()).collect();
    // 1,000 sockets, 50 at a time: each gets a close frame 4404, nothing more.
    for chunk in ids[..1000].chunks(50) {
        let mut tasks = Vec::new();
        for id in chunk {
            let id = id.clone();
            tasks.push(tokio::spawn(async move {
                let mut s = ws_with(a, &format!("/ws/projects/{id}?since=0"), &[])
                    .await
                    .expect("upgrade");
                loop {
                    match tokio::time::timeout(Duration::from_secs(10), s.next()).await {
                        Ok(Some(Ok(Message::Close(Some(f))))) => return u16::from(f.code),
                        Ok(Some(Ok(Message::Text(t)))) => panic!("{id}: unexpected {t}"),
                        Ok(Some(Ok(_))) => continue,
                        other => panic!("{id}: no close frame: {other:?}"),
                    }
                }
            }));
        }
        for t in tasks {
            assert_eq!(t.await.expect("task"), 4404);
        }
    }
    // 1,000 HTTP reads and commands on the others.
    for (i, id) in ids[1000..].iter().enumerate() {
        let r = match i % 5 {
            0 => get(a, &format!("/api/projects/{id}/sample/0")).await,
            1 => get(a, &format!("/api/projects/{id}/misclassified/0")).await,
            2 => get(a, &format!("/api/projects/{id}/artifacts/events.jsonl")).await,
            3 => post_json(a, &format!("/api/projects/{id}/cancel"), &[], b"").await,
            _ => {
                post_json(
                    a,
                    &format!("/api/projects/{id}/confirm"),
                    &[],
                    br#"{"stage":"REVIEW_EDIT"}"#,
                )
                .await
            }
        };
        assert_eq!(r.status, 404, "{id}");
    }
    // Everything is back to nothing.
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        srv.state.memory_footprint(),
        (0, 0),
        "no project log, no hub"
    );
    assert_eq!(srv.state.slots_in_use(), (0, 0), "no socket place held");
    assert_eq!(get(a, "/api/projects").await.json(), serde_json::json!([]));
    let m = String::from_utf8(get(a, "/metrics").await.body).expect("utf8");
    assert!(m.contains("automl_projects 0"), "{m}");
    assert!(m.contains("automl_ws_connections 0"), "{m}");
    assert_eq!(
        std::fs::read_dir(dir.path().join("runs"))
            .expect("runs")
            .count(),
        0
    );
    assert!(!dir.path().join("uploads").exists());
    srv.shutdown().await.expect("shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn socket_caps_hold_and_finished_logs_leave_memory() {
    let dir = tempfile::tempdir().expect("tmp");
    write_log(dir.path(), "c1", vec![Event::warning("w", "x")]);
    write_log(dir.path(), "c2", vec![Event::warning("w", "x")]);
    let srv = start(ServerConfig {
        ws_max_per_project: 2,
        ws_max_clients: 3,
        ..config(dir.path())
    })
    .await;
    let a = srv.addr;
    let s1 = ws_with(a, "/ws/projects/c1", &[]).await.expect("1");
    let s2 = ws_with(a, "/ws/projects/c1", &[]).await.expect("2");
    assert_eq!(
        ws_with(a, "/ws/projects/c1", &[]).await.err(),
        Some(503),
        "per project"
    );
    let s3 = ws_with(a, "/ws/projects/c2", &[]).await.expect("3");
    assert_eq!(
        ws_with(a, "/ws/projects/c2", &[]).await.err(),
        Some(503),
        "in all"
    );
    drop((s1, s2, s3));
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(srv.state.slots_in_use(), (0, 0));
    // Past projects are served from their files: none is held in memory.
    assert_eq!(srv.state.memory_footprint(), (0, 0));
    // A run that ends leaves memory too, and is then replayed from its file.
    let r = post_json(
        a,
        "/api/demo/run/c3?prompt=classify%20iris%20species&time_budget_s=1&max_trials=1",
        &[],
        b"",
    )
    .await;
    assert_eq!(r.status, 202);
    let mut s = ws_with(a, "/ws/projects/c3?since=0", &[])
        .await
        .expect("socket");
    let mut live = Vec::new();
    while let Ok(Some(Ok(m))) = tokio::time::timeout(Duration::from_secs(60), s.next()).await {
        if let Message::Text(t) = m {
            let v: Value = serde_json::from_str(t.as_str()).expect("json");
            let end = matches!(
                v["event"]["name"].as_str(),
                Some("RUN_FINISHED" | "ERROR" | "RUN_CANCELLED")
            );
            live.push(v);
            if end {
                break;
            }
        }
    }
    drop(s);
    let mut left = false;
    for _ in 0..100 {
        if srv.state.memory_footprint() == (0, 0) {
            left = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        left,
        "the finished run's log left memory: {:?}",
        srv.state.memory_footprint()
    );
    let mut s = ws_with(a, "/ws/projects/c3?since=0", &[])
        .await
        .expect("socket");
    let mut again = Vec::new();
    while again.len() < live.len() {
        match tokio::time::timeout(Duration::from_secs(10), s.next()).await {
            Ok(Some(Ok(Message::Text(t)))) => {
                again.push(serde_json::from_str::<Value>(t.as_str()).expect("json"))
            }
            Ok(Some(Ok(_))) => {}
            other => panic!("replay ended early: {other:?}"),
        }
    }
    assert_eq!(again, live, "the replay from the file is the same stream");
    let list = get(a, "/api/projects").await.json();
    assert!(
        list.as_array()
            .expect("list")
            .iter()
            .any(|p| p["id"] == "c3" && p["status"] == "finished"),
        "{list}"
    );
    let r = post_json(
        a,
        "/api/demo/run/c3?prompt=classify%20iris%20species",
        &[],
        b"",
    )
    .await;
    assert_eq!(r.status, 409, "an evicted project still exists");
    srv.shutdown().await.expect("shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uploads_are_found_again_after_a_restart() {
    let dir = tempfile::tempdir().expect("tmp");
    let srv = start(config(dir.path())).await;
    let a = srv.addr;
    let csv = std::fs::read(catalog().join("iris/iris.csv")).unwrap_or_else(|_| {
        let mut s = String::from("a,b,label\n");
        for i in 0..60 {
            s.push_str(&format!("{i},{},{}\n", i * 2, i % 2));
        }
        s.into_bytes()
    });
    let boundary = "b0undary";
    let mut body = format!("--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"data.csv\"\r\n\r\n").into_bytes();
    body.extend(&csv);
    body.extend(format!("\r\n--{boundary}--\r\n").as_bytes());
    let r = raw(
        a,
        "POST",
        "/api/projects/u1/upload",
        &[
            host(a),
            format!("Content-Type: multipart/form-data; boundary={boundary}"),
        ],
        &body,
    )
    .await;
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    srv.shutdown().await.expect("shutdown");
    let srv = start(config(dir.path())).await;
    let r = post_json(
        srv.addr,
        "/api/projects/u1/train",
        &[],
        br#"{"prompt": "classify the last column", "time_budget_s": 1, "max_trials": 1}"#,
    )
    .await;
    assert_eq!(r.status, 202, "{}", String::from_utf8_lossy(&r.body));
    let _ = post_json(srv.addr, "/api/projects/u1/cancel", &[], b"").await;
    srv.shutdown().await.expect("shutdown");
}
