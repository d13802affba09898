//! The Redis Streams bus backend against a real `redis-server` (Debian package, installed by
//! scripts/setup.d/60-redis.sh). Ignored in the plain `cargo test`; scripts/test.d/60-scale-out.sh
//! runs them with `--ignored`, where a missing redis-server fails them.

use std::sync::Arc;
use std::time::Duration;

use automl_core::event::{Envelope, Event, RunSummaryPayload};
use automl_core::{BusBackend, BusError, EventBus};
use automl_server::scale::RedisStreams;

mod redis_fixture;
mod s3_fixture;
use redis_fixture::RedisServer;

fn warn(i: u64) -> Event {
    Event::warning("t", format!("{i}"))
}

fn finished() -> Event {
    Event::RunFinished(RunSummaryPayload {
        metrics: Default::default(),
        model: None,
        dir: None,
        duration_s: 0.0,
        message: "done".into(),
    })
}

async fn backend(redis: &RedisServer) -> Arc<dyn BusBackend> {
    Arc::new(
        RedisStreams::connect(&redis.url(), "t:")
            .await
            .expect("connect"),
    )
}

fn seqs(envs: &[Envelope]) -> Vec<u64> {
    envs.iter().map(|e| e.seq).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs redis-server; run by scripts/test.d/60-scale-out.sh"]
async fn two_processes_share_a_gapless_log_through_redis() {
    let redis = RedisServer::start();
    let writer = EventBus::with_backend(8, backend(&redis).await);
    let reader = EventBus::with_backend(8, backend(&redis).await);
    assert!(
        reader
            .backend_name()
            .is_some_and(|n| n.starts_with("redis "))
    );
    let em = writer.emitter("p");
    for i in 0..25 {
        em.emit(warn(i));
    }
    writer.flush_backend("p").await.expect("stored");
    reader.follow("p").await.expect("follow");
    assert_eq!(reader.history("p").len(), 25, "backlog read with XRANGE");
    let mut sub = reader.subscribe("p", 20);
    // More than a live buffer's worth, emitted while the tail blocks in XREAD.
    for i in 25..2000 {
        em.emit(warn(i));
    }
    em.emit(finished());
    let got = tokio::time::timeout(Duration::from_secs(20), async {
        let mut v = vec![];
        while let Some(e) = sub.next().await {
            v.push(e.seq);
        }
        v
    })
    .await
    .expect("the follower ends with the run");
    assert_eq!(got, (21..=2001).collect::<Vec<_>>());
    let stored = backend(&redis).await.range("p", 1990).await.expect("range");
    assert_eq!(seqs(&stored), (1991..=2001).collect::<Vec<_>>());
    assert_eq!(
        stored,
        writer.history("p")[1990..].to_vec(),
        "stored as emitted"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs redis-server; run by scripts/test.d/60-scale-out.sh"]
async fn a_project_followed_while_the_tail_blocks_is_read_at_once() {
    let redis = RedisServer::start();
    let writer = EventBus::with_backend(8, backend(&redis).await);
    let reader = EventBus::with_backend(8, backend(&redis).await);
    writer.emitter("a").emit(warn(0));
    writer.flush_backend("a").await.expect("stored");
    reader.follow("a").await.expect("follow a");
    // The tail now blocks on "a" (for up to 5 s). Follow "b" and expect its live events fast.
    tokio::time::sleep(Duration::from_millis(100)).await;
    reader.follow("b").await.expect("follow b");
    let mut sub = reader.subscribe("b", 0);
    tokio::time::sleep(Duration::from_millis(100)).await;
    let t = std::time::Instant::now();
    writer.emitter("b").emit(warn(1));
    let e = tokio::time::timeout(Duration::from_secs(2), sub.next())
        .await
        .expect("woken, not left to the 5 s block");
    assert_eq!(e.map(|e| e.seq), Some(1));
    assert!(t.elapsed() < Duration::from_secs(2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs redis-server; run by scripts/test.d/60-scale-out.sh"]
async fn a_stale_writer_is_fenced_by_redis_and_a_new_one_continues() {
    let redis = RedisServer::start();
    let store = backend(&redis).await;
    let first = EventBus::with_backend(8, backend(&redis).await);
    for i in 0..3 {
        first.emitter("p").emit(warn(i));
    }
    first.flush_backend("p").await.expect("stored");
    // A worker takes over: it loads the log and continues at seq 4.
    let second = EventBus::with_backend(8, backend(&redis).await);
    assert_eq!(second.load("p").await.expect("load"), 3);
    assert_eq!(second.emitter("p").emit(warn(3)).seq, 4);
    second.flush_backend("p").await.expect("stored");
    // The old worker, not knowing, writes its seq 4: refused, and it stays fenced.
    first.emitter("p").emit(warn(99));
    let err = first.flush_backend("p").await.expect_err("fenced");
    assert_eq!(
        err,
        BusError::Fenced {
            project_id: "p".into(),
            seq: 4,
            last: 4
        }
    );
    first.emitter("p").emit(warn(100));
    assert!(first.flush_backend("p").await.is_err());
    let all = store.range("p", 0).await.expect("range");
    assert_eq!(seqs(&all), vec![1, 2, 3, 4]);
    assert_eq!(
        all[3].event,
        warn(3),
        "the new writer's event, not the stale one"
    );
    // An append that skips a seq is refused too (no gap can be written).
    let mut skip = all[3].clone();
    skip.seq = 6;
    assert!(matches!(
        store.append("p", &[skip]).await,
        Err(BusError::Fenced {
            seq: 6,
            last: 4,
            ..
        })
    ));
    // A corrupt entry is reported as such, not skipped.
    let mut conn = redis::Client::open(redis.url())
        .expect("client")
        .get_multiplexed_async_connection()
        .await
        .expect("conn");
    let _: () = redis::cmd("XADD")
        .arg("t:events:p")
        .arg("0-5")
        .arg("e")
        .arg("not json")
        .query_async(&mut conn)
        .await
        .expect("xadd");
    let err = store.range("p", 4).await.expect_err("corrupt");
    assert!(matches!(err, BusError::Corrupt { .. }), "{err}");
    assert!(err.to_string().contains("0-5"), "{err}");
}

#[tokio::test]
#[ignore = "needs redis-server; run by scripts/test.d/60-scale-out.sh"]
async fn an_unreachable_redis_is_a_typed_error_naming_it() {
    let port = redis_fixture::free_port();
    let url = format!("redis://127.0.0.1:{port}");
    let err = RedisStreams::connect(&url, "t:")
        .await
        .err()
        .expect("nothing listens there");
    assert!(matches!(err, BusError::Unavailable { .. }), "{err}");
    assert!(err.to_string().contains(&url), "{err}");
}

// --- Two `automl serve --redis` servers in this process, one Redis. ---

pub(crate) mod two_servers {
    use std::net::SocketAddr;
    use std::path::Path;
    use std::time::Duration;

    use automl_server::server::{self, RunningServer, ServerConfig};
    use futures::StreamExt;
    use serde_json::Value;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio_tungstenite::tungstenite::Message;

    use super::redis_fixture::RedisServer;

    type Ws = tokio_tungstenite::WebSocketStream<
        tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
    >;

    pub(crate) async fn start(dir: &Path, redis: &RedisServer) -> RunningServer {
        start_with_store(dir, redis, None).await
    }

    pub(crate) async fn start_with_store(
        dir: &Path,
        redis: &RedisServer,
        store: Option<automl_server::scale::ArtifactStore>,
    ) -> RunningServer {
        let cfg = ServerConfig {
            data_dir: dir.to_path_buf(),
            catalog_dir: Some(Path::new(env!("CARGO_MANIFEST_DIR")).join("../datasets")),
            offline: true,
            redis_url: Some(redis.url()),
            store,
            ..ServerConfig::default()
        };
        server::spawn(cfg, "127.0.0.1:0".parse().expect("addr"))
            .await
            .expect("server starts")
    }

    pub(crate) async fn post(addr: SocketAddr, path: &str) -> (u16, String) {
        let mut s = tokio::net::TcpStream::connect(addr).await.expect("connect");
        let head = format!(
            "POST {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"
        );
        s.write_all(head.as_bytes()).await.expect("write");
        let mut buf = Vec::new();
        let _ = s.read_to_end(&mut buf).await;
        let text = String::from_utf8_lossy(&buf).to_string();
        let status = text
            .split(' ')
            .nth(1)
            .and_then(|c| c.parse().ok())
            .unwrap_or(0);
        (status, text)
    }

    /// A GET: status and body bytes.
    pub(crate) async fn get(addr: SocketAddr, path: &str) -> (u16, Vec<u8>) {
        let mut s = tokio::net::TcpStream::connect(addr).await.expect("connect");
        let head = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
        s.write_all(head.as_bytes()).await.expect("write");
        let mut buf = Vec::new();
        let _ = s.read_to_end(&mut buf).await;
        let split = buf
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .expect("a response head");
        let head = String::from_utf8_lossy(&buf[..split]).to_string();
        let status = head
            .split(' ')
            .nth(1)
            .and_then(|c| c.parse().ok())
            .unwrap_or(0);
        let mut body = buf[split + 4..].to_vec();
        if head
            .to_ascii_lowercase()
            .contains("transfer-encoding: chunked")
        {
            body = dechunk(&body);
        }
        (status, body)
    }

    fn dechunk(mut b: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        loop {
            let Some(eol) = b.windows(2).position(|w| w == b"\r\n") else {
                return out;
            };
            let size = usize::from_str_radix(
                String::from_utf8_lossy(&b[..eol])
                    .split(';')
                    .next()
                    .unwrap_or("")
                    .trim(),
                16,
            )
            .expect("chunk size");
            if size == 0 {
                return out;
            }
            out.extend_from_slice(&b[eol + 2..eol + 2 + size]);
            b = &b[eol + 2 + size + 2..];
        }
    }

    pub(crate) async fn ws(addr: SocketAddr, project: &str, since: u64) -> Ws {
        let url = format!("ws://{addr}/ws/projects/{project}?since={since}");
        tokio_tungstenite::connect_async(url)
            .await
            .expect("ws connects")
            .0
    }

    pub(crate) async fn next_env(ws: &mut Ws) -> Option<Value> {
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

    pub(crate) async fn until_terminal(ws: &mut Ws, out: &mut Vec<Value>) {
        while let Some(v) = next_env(ws).await {
            let end = matches!(
                v["event"]["name"].as_str(),
                Some("RUN_FINISHED" | "RUN_CANCELLED" | "ERROR")
            );
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

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    #[ignore = "needs redis-server; run by scripts/test.d/60-scale-out.sh"]
    async fn a_run_queued_on_server_a_streams_gapless_from_server_b_with_since_after_a_reconnect() {
        let redis = RedisServer::start();
        let (da, db) = (
            tempfile::tempdir().expect("tmp"),
            tempfile::tempdir().expect("tmp"),
        );
        let a = start(da.path(), &redis).await;
        let b = start(db.path(), &redis).await;
        let dw = tempfile::tempdir().expect("tmp");
        let _worker = super::scenario::worker(&redis, dw.path());
        // B is asked before the run exists anywhere: it waits for it to appear in Redis.
        let mut early_b = ws(b.addr, "iris-s", 0).await;
        let (status, text) = post(
            a.addr,
            "/api/demo/run/iris-s?prompt=classify%20iris%20species&max_trials=2&time_budget_s=20",
        )
        .await;
        assert_eq!(status, 202, "{text}");
        let mut on_a = Vec::new();
        let mut from_a = ws(a.addr, "iris-s", 0).await;
        // A client of B drops after 5 events and comes back with since=5.
        let mut resumed = Vec::new();
        {
            let mut c = ws(b.addr, "iris-s", 0).await;
            for _ in 0..5 {
                resumed.push(next_env(&mut c).await.expect("event"));
            }
        }
        let mut c = ws(b.addr, "iris-s", 5).await;
        until_terminal(&mut c, &mut resumed).await;
        let mut on_b = Vec::new();
        until_terminal(&mut early_b, &mut on_b).await;
        until_terminal(&mut from_a, &mut on_a).await;
        let n = on_a.len() as u64;
        assert!(n > 10, "a whole run: {n} events");
        eprintln!("run of {n} events, same on A and B");
        assert_eq!(seqs(&on_a), (1..=n).collect::<Vec<_>>(), "gapless on A");
        assert_eq!(on_b, on_a, "B serves the same log as A");
        assert_eq!(
            resumed, on_a,
            "since after a reconnect on B: no gap, no repeat"
        );
        // After the run, a new client of B still gets it all (from B's copy of the shared log).
        let mut late = Vec::new();
        until_terminal(&mut ws(b.addr, "iris-s", 0).await, &mut late).await;
        assert_eq!(late, on_a);
        // A project nobody runs is still "not found" on B (after the grace it waits).
        drop((a, b));
    }
}

// --- The scenario: Redis, two servers, two worker processes, six runs, kill -9 mid-TRAIN. ---

pub(crate) mod scenario {
    use std::collections::BTreeMap;
    use std::process::{Child, Command, Stdio};
    use std::time::{Duration, Instant};

    use serde_json::Value;

    use super::redis_fixture::{RedisServer, free_port};
    use super::s3_fixture::MotoServer;
    use super::two_servers::{get, next_env, post, start_with_store, until_terminal, ws};

    pub(crate) struct Worker(pub(crate) Child);

    impl Drop for Worker {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }

    pub(crate) fn worker(redis: &RedisServer, dir: &std::path::Path) -> Worker {
        worker_with_store(redis, dir, None)
    }

    /// An `automl worker` process; with `store`, `--store URL` and the `AWS_*` variables
    /// of the S3 server, and a finished project's stream expires 1 s after its archive.
    pub(crate) fn worker_with_store(
        redis: &RedisServer,
        dir: &std::path::Path,
        store: Option<(&str, &MotoServer)>,
    ) -> Worker {
        let catalog = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../datasets");
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_automl"));
        cmd.arg("worker");
        if let Some((url, s3)) = store {
            cmd.args(["--store", url, "--trim-after-s", "1"])
                .envs(s3.env());
        }
        let child = cmd
            .args([
                "--redis",
                &redis.url(),
                "--concurrency",
                "2",
                "--heartbeat-s",
                "1",
            ])
            .arg("--data-dir")
            .arg(dir)
            .arg("--catalog-dir")
            .arg(catalog)
            .arg("--offline")
            .env("AUTOML_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("automl worker starts");
        Worker(child)
    }

    /// `automl serve --redis R --store URL` as a process of its own on `port` (so that it
    /// can be killed with SIGKILL and started again on the same port).
    pub(crate) async fn server_process(
        redis: &RedisServer,
        dir: &std::path::Path,
        port: u16,
        store: (&str, &MotoServer),
    ) -> Worker {
        let child = Command::new(env!("CARGO_BIN_EXE_automl"))
            .arg("serve")
            .args(["--redis", &redis.url(), "--store", store.0])
            .args(["--port", &port.to_string()])
            .arg("--data-dir")
            .arg(dir)
            .arg("--offline")
            .envs(store.1.env())
            .env("AUTOML_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("automl serve starts");
        // Killed by its Drop if it never listens.
        let server = Worker(child);
        let addr: std::net::SocketAddr = ([127, 0, 0, 1], port).into();
        let t = Instant::now();
        while t.elapsed() < Duration::from_secs(60) {
            if tokio::net::TcpStream::connect(addr).await.is_ok() {
                return server;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("automl serve did not listen on {addr}");
    }

    /// Follows `id` on `addr` to its end, reconnecting with `?since=<last seq seen>` whenever
    /// the connection drops (the server was killed) until it answers again.
    pub(crate) async fn follow_across_restarts(
        addr: std::net::SocketAddr,
        id: &str,
        out: &mut Vec<Value>,
        reconnects: &mut usize,
    ) {
        let url = |since: u64| format!("ws://{addr}/ws/projects/{id}?since={since}");
        let t = Instant::now();
        loop {
            let since = out.last().map_or(0, |e| e["seq"].as_u64().expect("seq"));
            let mut c = match tokio_tungstenite::connect_async(url(since)).await {
                Ok((c, _)) => c,
                Err(_) if t.elapsed() < Duration::from_secs(120) => {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
                Err(e) => panic!("{addr} never came back: {e}"),
            };
            if !out.is_empty() {
                *reconnects += 1;
            }
            while let Some(v) = next_env(&mut c).await {
                let end = matches!(
                    v["event"]["name"].as_str(),
                    Some("RUN_FINISHED" | "RUN_CANCELLED" | "ERROR")
                );
                out.push(v);
                if end {
                    return;
                }
            }
        }
    }

    fn seqs(v: &[Value]) -> Vec<u64> {
        v.iter().map(|e| e["seq"].as_u64().expect("seq")).collect()
    }

    fn in_train(v: &Value) -> bool {
        v["event"]["name"] == "STAGE_STATUS"
            && v["event"]["payload"]["stage"] == "TRAIN"
            && v["event"]["payload"]["status"] == "running"
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    #[ignore = "needs redis-server and moto_server; run by scripts/test.d/60-scale-out.sh"]
    async fn six_queued_runs_survive_a_worker_killed_mid_train_and_stream_gapless_everywhere() {
        let t0 = Instant::now();
        let redis = RedisServer::start();
        let mut s3 = MotoServer::start();
        s3.create_bucket("automl");
        let store_url = "s3://automl/scenario";
        let store =
            || automl_server::scale::ArtifactStore::open_with(store_url, s3.env()).expect("store");
        let dirs: Vec<tempfile::TempDir> =
            (0..5).map(|_| tempfile::tempdir().expect("tmp")).collect();
        // Server A is a process of its own (killed and restarted below), B runs in this one.
        let port_a = free_port();
        let mut proc_a = server_process(&redis, dirs[0].path(), port_a, (store_url, &s3)).await;
        let a_addr: std::net::SocketAddr = ([127, 0, 0, 1], port_a).into();
        let b = start_with_store(dirs[1].path(), &redis, Some(store())).await;
        let mut w1 = worker_with_store(&redis, dirs[2].path(), Some((store_url, &s3)));
        let ids: Vec<String> = (0..6).map(|i| format!("scale-{i}")).collect();
        for (i, id) in ids.iter().enumerate() {
            // The last run trains longer: server A is restarted while it trains.
            let budget = if i == 5 { 15 } else { 4 };
            let (status, text) = post(
                a_addr,
                &format!(
                    "/api/demo/run/{id}?prompt=classify%20iris%20species&time_budget_s={budget}"
                ),
            )
            .await;
            assert_eq!(status, 202, "{text}");
        }
        // Two runs followed on server B; one client of B reconnects with since.
        let mut follow0 = ws(b.addr, &ids[0], 0).await;
        let mut seen0 = Vec::new();
        // Wait until worker 1 is in TRAIN on that run, then bring worker 2 and kill -9 worker 1.
        loop {
            let v = next_env(&mut follow0).await.expect("events of run 0");
            let train = in_train(&v);
            seen0.push(v);
            if train {
                break;
            }
        }
        let _w2 = worker_with_store(&redis, dirs[3].path(), Some((store_url, &s3)));
        tokio::time::sleep(Duration::from_millis(500)).await;
        w1.0.kill().expect("kill -9 worker 1");
        let _ = w1.0.wait();
        let k = seen0.len() as u64;
        drop(follow0);
        let mut follow0 = ws(b.addr, &ids[0], k).await;
        until_terminal(&mut follow0, &mut seen0).await;
        let mut seen1 = Vec::new();
        until_terminal(&mut ws(b.addr, &ids[1], 0).await, &mut seen1).await;
        // Clients of A on runs 4 and 5; when run 5 trains, A is killed with SIGKILL and
        // started again on the same port: both clients reconnect with since and go on.
        let mut on_a5 = Vec::new();
        {
            let mut c = ws(a_addr, &ids[5], 0).await;
            loop {
                let v = next_env(&mut c).await.expect("events of run 5 on A");
                let train = in_train(&v);
                on_a5.push(v);
                if train {
                    break;
                }
            }
        }
        let mut on_a4 = Vec::new();
        {
            let mut c = ws(a_addr, &ids[4], 0).await;
            on_a4.push(next_env(&mut c).await.expect("an event of run 4 on A"));
        }
        let a4_mid = !matches!(
            on_a4.last().and_then(|v| v["event"]["name"].as_str()),
            Some("RUN_FINISHED" | "RUN_CANCELLED" | "ERROR")
        );
        proc_a.0.kill().expect("kill -9 server A");
        let _ = proc_a.0.wait();
        let killed_at = on_a5.len();
        let _proc_a2 = server_process(&redis, dirs[0].path(), port_a, (store_url, &s3)).await;
        let mut reconnects = 0;
        follow_across_restarts(a_addr, &ids[5], &mut on_a5, &mut reconnects).await;
        follow_across_restarts(a_addr, &ids[4], &mut on_a4, &mut reconnects).await;
        assert!(
            reconnects > usize::from(a4_mid),
            "clients of A came back after its restart: {reconnects}"
        );
        // Every run ends, gapless from 1, the same on A and B.
        let mut resumed = 0;
        let mut logs = BTreeMap::new();
        for id in &ids {
            let mut on_a = Vec::new();
            until_terminal(&mut ws(a_addr, id, 0).await, &mut on_a).await;
            let mut on_b = Vec::new();
            until_terminal(&mut ws(b.addr, id, 0).await, &mut on_b).await;
            let n = on_a.len() as u64;
            assert_eq!(seqs(&on_a), (1..=n).collect::<Vec<_>>(), "{id}: gapless");
            assert_eq!(on_a, on_b, "{id}: the same log on both servers");
            assert_eq!(
                on_a.last().map(|e| e["event"]["name"].clone()),
                Some("RUN_FINISHED".into()),
                "{id}"
            );
            resumed += on_a
                .iter()
                .filter(|e| e["event"]["name"] == "RESUMED")
                .count();
            logs.insert(id.clone(), on_a);
        }
        assert_eq!(
            seen0, logs[&ids[0]],
            "since after a reconnect: no gap, no repeat"
        );
        assert_eq!(seen1, logs[&ids[1]]);
        assert!(
            killed_at < logs[&ids[5]].len(),
            "A was killed before run 5 ended"
        );
        assert_eq!(
            on_a5, logs[&ids[5]],
            "a client of A across A's restart: seq 1..N, no gap, no repeat"
        );
        assert_eq!(on_a4, logs[&ids[4]]);
        assert!(resumed >= 1, "run 0 was taken over from the killed worker");

        // Artifacts: every run's folder, from the worker that ended it, downloads from both
        // servers through the store, byte for byte.
        let mut files = 0;
        for id in &ids {
            // The archive's last object is the log: once it is there, the folder is.
            let t = Instant::now();
            let log_bytes = loop {
                let (status, body) = get(
                    a_addr,
                    &format!("/api/projects/{id}/artifacts/events.jsonl"),
                )
                .await;
                if status == 200 {
                    break body;
                }
                assert_eq!(status, 404, "{}", String::from_utf8_lossy(&body));
                assert!(t.elapsed() < Duration::from_secs(60), "{id} never archived");
                tokio::time::sleep(Duration::from_millis(200)).await;
            };
            let archived: Vec<Value> = String::from_utf8(log_bytes)
                .expect("utf8")
                .lines()
                .map(|l| serde_json::from_str(l).expect("an envelope per line"))
                .collect();
            assert_eq!(
                archived, logs[id],
                "{id}: the archived log is the streamed one"
            );
            let folder = [dirs[3].path(), dirs[2].path()]
                .iter()
                .map(|d| d.join("runs").join(id))
                .find(|d| d.is_dir())
                .expect("a worker's run folder");
            let mut names: Vec<String> = std::fs::read_dir(&folder)
                .expect("run folder")
                .flatten()
                .filter(|e| e.path().is_file())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| !n.starts_with('.') && n != "events.jsonl")
                .collect();
            names.sort();
            assert!(
                names.iter().any(|n| n == "model_card.md")
                    && names.iter().any(|n| n == "model.json"),
                "{id}: {names:?}"
            );
            for name in &names {
                let path = format!("/api/projects/{id}/artifacts/{name}");
                let (sa, ba) = get(a_addr, &path).await;
                let (sb, bb) = get(b.addr, &path).await;
                assert_eq!((sa, sb), (200, 200), "{path}");
                let local = std::fs::read(folder.join(name)).expect("local file");
                assert!(
                    ba == local && bb == local,
                    "{path}: byte-equal on A, B and the worker"
                );
                files += 1;
            }
        }
        let (status, body) = get(
            b.addr,
            &format!("/api/projects/{}/artifacts/nope.json", ids[0]),
        )
        .await;
        assert_eq!(status, 404);
        assert!(String::from_utf8_lossy(&body).contains("artifact_not_found"));

        // Trim: archived streams expire from Redis (1 s here); a server that never saw the
        // projects replays them from the archived logs, gapless, with the same seqs.
        let mut conn = redis::Client::open(redis.url())
            .expect("client")
            .get_multiplexed_async_connection()
            .await
            .expect("conn");
        let t = Instant::now();
        loop {
            let mut left = 0;
            for id in &ids {
                let n: u64 = redis::cmd("EXISTS")
                    .arg(format!("automl:events:{id}"))
                    .query_async(&mut conn)
                    .await
                    .expect("exists");
                left += n;
            }
            if left == 0 {
                break;
            }
            assert!(
                t.elapsed() < Duration::from_secs(30),
                "{left} streams not trimmed"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let c = start_with_store(dirs[4].path(), &redis, Some(store())).await;
        for id in &ids {
            let mut all = Vec::new();
            until_terminal(&mut ws(c.addr, id, 0).await, &mut all).await;
            assert_eq!(all, logs[id], "{id}: replayed from the archive");
        }
        let mut tail = Vec::new();
        until_terminal(&mut ws(c.addr, &ids[0], 7).await, &mut tail).await;
        assert_eq!(
            tail,
            logs[&ids[0]][7..].to_vec(),
            "since on an archived log"
        );
        // The store gone: a download is a typed 503, not a hang or a 404.
        s3.stop();
        let (status, body) = get(
            c.addr,
            &format!("/api/projects/{}/artifacts/model.json", ids[1]),
        )
        .await;
        assert_eq!(status, 503, "{}", String::from_utf8_lossy(&body));
        assert!(String::from_utf8_lossy(&body).contains("store_unavailable"));
        eprintln!(
            "scenario: 6 runs, {resumed} taken over, A restarted ({reconnects} reconnects), {files} artifacts from both servers, {:.1} s",
            t0.elapsed().as_secs_f64()
        );
        drop((b, c));
    }
}

mod cancel {
    use super::redis_fixture::RedisServer;
    use super::scenario::worker;
    use super::two_servers::{next_env, post, start, until_terminal, ws};

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    #[ignore = "needs redis-server; run by scripts/test.d/60-scale-out.sh"]
    async fn cancel_on_server_b_reaches_the_worker_that_runs_a_run_queued_on_a() {
        let redis = RedisServer::start();
        let dirs: Vec<tempfile::TempDir> =
            (0..3).map(|_| tempfile::tempdir().expect("tmp")).collect();
        let a = start(dirs[0].path(), &redis).await;
        let b = start(dirs[1].path(), &redis).await;
        let _w = worker(&redis, dirs[2].path());
        // Nothing to cancel yet: a typed 404, not a silent success.
        let (status, text) = post(b.addr, "/api/projects/cq/cancel").await;
        assert_eq!(status, 404, "{text}");
        assert!(text.contains("no_active_run"), "{text}");
        let (status, text) = post(
            a.addr,
            "/api/demo/run/cq?prompt=classify%20iris%20species&time_budget_s=60",
        )
        .await;
        assert_eq!(status, 202, "{text}");
        let mut c = ws(b.addr, "cq", 0).await;
        let mut seen = Vec::new();
        loop {
            let v = next_env(&mut c).await.expect("events");
            let train =
                v["event"]["name"] == "STAGE_STATUS" && v["event"]["payload"]["stage"] == "TRAIN";
            seen.push(v);
            if train {
                break;
            }
        }
        let t = std::time::Instant::now();
        let (status, text) = post(b.addr, "/api/projects/cq/cancel").await;
        assert!((200..300).contains(&status), "{status} {text}");
        until_terminal(&mut c, &mut seen).await;
        assert_eq!(
            seen.last().map(|e| e["event"]["name"].clone()),
            Some("RUN_CANCELLED".into())
        );
        assert!(
            t.elapsed() < std::time::Duration::from_secs(30),
            "cancelled long before its 60 s budget"
        );
        // Over: a second cancel finds no active run.
        let (status, text) = post(b.addr, "/api/projects/cq/cancel").await;
        assert_eq!(status, 404, "{text}");
        assert!(text.contains("no_active_run"), "{text}");
    }
}

// --- GET /api/projects across servers: what any server queued, every server lists. ---

mod listing {
    use std::net::SocketAddr;
    use std::time::{Duration, Instant};

    use serde_json::Value;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::redis_fixture::RedisServer;
    use super::scenario::worker;
    use super::two_servers::{post, start, until_terminal, ws};

    async fn get(addr: SocketAddr, path: &str) -> (u16, String) {
        let mut s = tokio::net::TcpStream::connect(addr).await.expect("connect");
        let head = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
        s.write_all(head.as_bytes()).await.expect("write");
        let mut buf = Vec::new();
        let _ = s.read_to_end(&mut buf).await;
        let text = String::from_utf8_lossy(&buf).to_string();
        let status = text
            .split(' ')
            .nth(1)
            .and_then(|c| c.parse().ok())
            .unwrap_or(0);
        let body = text
            .split_once("\r\n\r\n")
            .map(|(_, b)| b.to_string())
            .unwrap_or_default();
        (status, body)
    }

    async fn projects(addr: SocketAddr) -> Vec<Value> {
        let (status, body) = get(addr, "/api/projects").await;
        assert_eq!(status, 200, "{body}");
        serde_json::from_str::<Vec<Value>>(&body).expect("a JSON list")
    }

    fn find<'a>(list: &'a [Value], id: &str) -> Option<&'a Value> {
        list.iter().find(|p| p["id"] == id)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    #[ignore = "needs redis-server; run by scripts/test.d/60-scale-out.sh"]
    async fn a_project_queued_on_server_a_is_listed_by_server_b() {
        let mut redis = Some(RedisServer::start());
        let dirs: Vec<tempfile::TempDir> =
            (0..3).map(|_| tempfile::tempdir().expect("tmp")).collect();
        let r = redis.as_ref().expect("redis");
        let a = start(dirs[0].path(), r).await;
        let b = start(dirs[1].path(), r).await;
        assert_eq!(projects(b.addr).await, Vec::<Value>::new(), "nothing yet");
        // No worker yet: the run waits in the queue, and B lists it as queued.
        for id in ["listed-1", "listed-2"] {
            let (status, text) = post(
                a.addr,
                &format!("/api/demo/run/{id}?prompt=classify%20iris%20species&time_budget_s=3"),
            )
            .await;
            assert_eq!(status, 202, "{text}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let on_b = projects(b.addr).await;
        let ids: Vec<&str> = on_b.iter().filter_map(|p| p["id"].as_str()).collect();
        assert_eq!(ids, ["listed-2", "listed-1"], "newest first: {on_b:?}");
        let q = find(&on_b, "listed-1").expect("listed");
        assert_eq!(q["status"], "queued", "{q}");
        assert_eq!(q["prompt"], "classify iris species", "{q}");
        assert_eq!(q["events"], 0, "{q}");
        // The same JSON shape as a local project's.
        let mut keys: Vec<&String> = q.as_object().expect("object").keys().collect();
        keys.sort();
        assert_eq!(
            keys,
            [
                "events", "finished", "id", "metric", "model", "prompt", "started", "status"
            ]
        );
        // A worker runs them; B (which never followed them) lists them finished, with the
        // metric and the event count of the log it serves, the same as A lists them.
        let _w = worker(r, dirs[2].path());
        let t = Instant::now();
        loop {
            let on_b = projects(b.addr).await;
            let done = ["listed-1", "listed-2"]
                .iter()
                .all(|id| find(&on_b, id).is_some_and(|p| p["status"] == "finished"));
            if done {
                break;
            }
            assert!(
                t.elapsed() < Duration::from_secs(120),
                "not finished in B's list: {on_b:?}"
            );
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
        let on_b = projects(b.addr).await;
        let on_a = projects(a.addr).await;
        for id in ["listed-1", "listed-2"] {
            let pb = find(&on_b, id).expect("on B");
            let pa = find(&on_a, id).expect("on A");
            assert_eq!(pa, pb, "{id}: A and B list the same summary");
            let mut log = Vec::new();
            until_terminal(&mut ws(b.addr, id, 0).await, &mut log).await;
            assert_eq!(pb["events"], log.len() as u64, "{pb}");
            assert_eq!(pb["started"], log[0]["ts"], "{pb}");
            assert_eq!(pb["finished"], log[log.len() - 1]["ts"], "{pb}");
            assert_eq!(pb["metric"]["name"], "accuracy", "{pb}");
            assert!(
                pb["metric"]["value"].as_f64().is_some_and(|v| v > 0.5),
                "{pb}"
            );
            assert!(pb["model"].is_string(), "{pb}");
        }
        // A third server started afterwards lists them too (from the stored summaries).
        let dc = tempfile::tempdir().expect("tmp");
        let c = start(dc.path(), r).await;
        let on_c = projects(c.addr).await;
        assert_eq!(on_c, on_b, "a new server lists what the others list");
        // Redis gone: a typed 503 naming the shared state, not an empty or partial list.
        drop(redis.take());
        let (status, body) = get(c.addr, "/api/projects").await;
        assert_eq!(status, 503, "{body}");
        assert!(body.contains("shared_unavailable"), "{body}");
        assert!(body.contains("Redis"), "{body}");
        drop((a, b, c));
    }
}
