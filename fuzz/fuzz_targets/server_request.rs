//! libFuzzer target over whole HTTP requests to the server's router: method, path and query
//! (`?since=`, project ids, artifact names), headers (Origin, Host, token, content type) and
//! bodies of every command. Each request must get an answer (a status, never a panic or a
//! hang), and nothing outside the data folder may be read or written.
//! The data folder holds one finished project (`fixtures/server`), so `since`, artifacts and
//! replays reach real files; `max_active_runs` is 0, so a well-formed command is parsed and
//! checked but no training starts.
//! `RUSTC_BOOTSTRAP=1 cargo fuzz run server_request -s none -- -max_total_time=60`.
#![no_main]

use std::sync::OnceLock;
use std::time::Duration;

use automl_server::server::{AppState, ServerConfig, router};
use axum::body::Body;
use axum::http::{Method, Request};
use libfuzzer_sys::fuzz_target;
use tower::ServiceExt;

struct Fixture {
    rt: tokio::runtime::Runtime,
    app: axum::Router,
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("automl-fuzz-server-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        copy_dir(&std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/server"), &dir);
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let app = rt.block_on(async {
            let state = AppState::new(ServerConfig {
                data_dir: dir,
                max_active_runs: 0,
                offline: true,
                ws_unknown_grace: Duration::ZERO,
                ..ServerConfig::default()
            })
            .expect("state");
            router(state)
        });
        Fixture { rt, app }
    })
}

fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).expect("fixture dir");
    for e in std::fs::read_dir(from).expect("fixture").flatten() {
        let p = e.path();
        if p.is_dir() {
            copy_dir(&p, &to.join(e.file_name()));
        } else {
            std::fs::copy(&p, to.join(e.file_name())).expect("fixture file");
        }
    }
}

const METHODS: [Method; 5] = [Method::GET, Method::POST, Method::PUT, Method::DELETE, Method::OPTIONS];
const PREFIXES: [&str; 8] = [
    "",
    "/api/projects/p-20261129-193327-90c9/",
    "/api/projects/",
    "/ws/projects/p-20261129-193327-90c9?since=",
    "/api/projects/p-20261129-193327-90c9/artifacts/",
    "/api/projects/p-20261129-193327-90c9/confirm",
    "/api/demo/run/",
    "/api/projects/p-20261129-193327-90c9/sample/",
];

fuzz_target!(|bytes: &[u8]| {
    let Some((&sel, rest)) = bytes.split_first() else {
        return;
    };
    let method = METHODS[(sel & 7) as usize % METHODS.len()].clone();
    let prefix = PREFIXES[(sel >> 3) as usize % PREFIXES.len()];
    // Line 1: the rest of the URI; then headers up to an empty line; then the body.
    let mut parts = rest.splitn(2, |b| *b == b'\n');
    let uri = format!("{prefix}{}", String::from_utf8_lossy(parts.next().unwrap_or_default()));
    let mut builder = Request::builder().method(method).uri(uri.as_str());
    let mut body: &[u8] = &[];
    let mut tail = parts.next().unwrap_or_default();
    while !tail.is_empty() {
        let (line, next) = match tail.iter().position(|b| *b == b'\n') {
            Some(i) => (&tail[..i], &tail[i + 1..]),
            None => (tail, &[][..]),
        };
        if line.is_empty() {
            body = next;
            break;
        }
        if let Some(i) = line.iter().position(|b| *b == b':') {
            builder = builder.header(&line[..i], &line[i + 1..]);
        }
        tail = next;
    }
    let Ok(req) = builder.body(Body::from(body.to_vec())) else {
        return; // not a request hyper would have parsed either
    };
    let f = fixture();
    f.rt.block_on(async {
        let resp = tokio::time::timeout(Duration::from_secs(5), f.app.clone().oneshot(req))
            .await
            .expect("the server answers every request within 5 s");
        let resp = resp.expect("infallible");
        let _ = tokio::time::timeout(
            Duration::from_secs(5),
            axum::body::to_bytes(resp.into_body(), 1 << 26),
        )
        .await
        .expect("the body ends within 5 s");
    });
});
