//! Faults a real process meets, on the real binary: a full disk during a run, and `kill -9` of
//! the server mid-run followed by a restart on the same data folder. The figures of
//! docs/reliability.md come from these tests.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use futures::StreamExt;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::tungstenite::Message;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn iris() -> PathBuf {
    root().join("datasets/tabular/iris.csv")
}

/// Every line of an event log parses as an envelope, and the seqs run 1..=n without a gap.
fn whole_log(path: &Path) -> Vec<automl_core::Envelope> {
    let text = std::fs::read_to_string(path).expect("read the log");
    assert!(
        text.is_empty() || text.ends_with('\n'),
        "{} ends with a torn line",
        path.display()
    );
    let envs: Vec<automl_core::Envelope> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad line ({e}): {l}")))
        .collect();
    let seqs: Vec<u64> = envs.iter().map(|e| e.seq).collect();
    assert_eq!(seqs, (1..=envs.len() as u64).collect::<Vec<_>>(), "gapless");
    envs
}

// ---------------------------------------------------------------------------------------------
// A full disk

/// `automl run` on iris with its run folder on a tmpfs of `size_kib` (a private mount in a user
/// namespace, so no root is needed); the mount lives only inside the namespace, so the run
/// folder is copied out to `keep` right after the run. `None` when this machine cannot make
/// such a mount.
fn run_and_keep(size_kib: u64, keep: &Path) -> Option<Output> {
    let script = format!(
        "m=$(mktemp -d) && mount -t tmpfs -o size={size_kib}k none \"$m\" || exit 97; \
         \"$0\" run 'classify iris species' --json --time-budget 2s --max-trials 6 --seed 1 \
         --data \"$1\" --out \"$m/run\"; rc=$?; cp -a \"$m/run\" \"$2\" 2>/dev/null; exit $rc"
    );
    let out = Command::new("unshare")
        .args(["--user", "--map-root-user", "--mount", "sh", "-c", &script])
        .arg(env!("CARGO_BIN_EXE_automl"))
        .arg(iris())
        .arg(keep)
        .env("HF_HUB_OFFLINE", "1")
        .output()
        .ok()?;
    (out.status.code() != Some(97)).then_some(out)
}

fn envelopes(stdout: &[u8]) -> Vec<Value> {
    String::from_utf8_lossy(stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect()
}

/// A sweep of disk sizes from "the log fills up during training" to "everything fits": each run
/// either finishes whole, or fails with ERROR `disk_full` and leaves only whole files (a
/// complete log prefix, no temporary or staging files, any model file loadable).
#[test]
fn a_full_disk_fails_the_run_cleanly_and_leaves_only_whole_files() {
    // How much a whole run writes, on a normal disk.
    let probe = tempfile::tempdir().expect("tmp");
    let Some(out) = run_and_keep(64 * 1024, probe.path()) else {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must be able to mount a tmpfs in a user namespace (unshare)"
        );
        eprintln!("skipped: this machine cannot mount a tmpfs with unshare");
        return;
    };
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let run = probe.path().join("run");
    let total: u64 = std::fs::read_dir(&run)
        .expect("run folder")
        .flatten()
        .map(|e| e.metadata().expect("meta").len().div_ceil(4096) * 4)
        .sum();
    let log = std::fs::read_to_string(run.join("events.jsonl")).expect("log");
    let export_at = log
        .find("\"stage\":\"EXPORT\",\"status\":\"running\"")
        .expect("EXPORT in the log") as u64
        / 1024;

    let mut sizes: Vec<u64> = vec![total / 4];
    sizes.extend((export_at.saturating_sub(4)..=total + 8).step_by(4));
    let mut failed_in = Vec::new();
    let mut finished = 0;
    for size in sizes {
        let keep = tempfile::tempdir().expect("tmp");
        let out = run_and_keep(size, keep.path()).expect("the mount worked once");
        let ev = envelopes(&out.stdout);
        let last = ev.last().expect("events");
        let dir = keep.path().join("run");
        let names: Vec<String> = std::fs::read_dir(&dir)
            .expect("run folder copied")
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        for n in &names {
            assert!(
                !n.ends_with(".tmp") && !n.starts_with('.'),
                "{size} KiB: a temporary file was left behind: {n} in {names:?}"
            );
        }
        let on_disk = whole_log(&dir.join("events.jsonl"));
        if names.iter().any(|n| n == "model.json") {
            automl_core::api::load_model(&dir)
                .unwrap_or_else(|e| panic!("{size} KiB: model.json is not whole: {e}"));
        }
        if out.status.success() {
            assert_eq!(last["event"]["name"], "RUN_FINISHED", "{size} KiB");
            assert_eq!(
                on_disk.last().map(|e| e.event.name()),
                Some("RUN_FINISHED"),
                "{size} KiB: a finished run's log is complete"
            );
            finished += 1;
        } else {
            assert_eq!(out.status.code(), Some(1), "{size} KiB");
            assert_eq!(last["event"]["name"], "ERROR", "{size} KiB: {last}");
            assert_eq!(
                last["event"]["payload"]["code"], "disk_full",
                "{size} KiB: {last}"
            );
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert!(stderr.contains("No space left on device"), "{stderr}");
            // What the log holds is a prefix of what the caller saw.
            for (a, b) in on_disk.iter().zip(&ev) {
                assert_eq!(a.seq, b["seq"].as_u64().expect("seq"));
            }
            failed_in.push(
                last["event"]["payload"]["stage"]
                    .as_str()
                    .unwrap_or("")
                    .to_string(),
            );
        }
    }
    assert!(finished >= 1, "the largest disk holds a whole run");
    assert!(
        failed_in.iter().any(|s| s == "EXPORT"),
        "some size runs out during the export: {failed_in:?}"
    );
    assert!(
        failed_in.iter().any(|s| s != "EXPORT"),
        "and some before it: {failed_in:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// kill -9 of the server

struct Server {
    child: Child,
    addr: SocketAddr,
}

impl Server {
    fn start(data: &Path) -> Server {
        let mut child = Command::new(env!("CARGO_BIN_EXE_automl"))
            .args(["serve", "--port", "0", "--data-dir"])
            .arg(data)
            .env("AUTOML_CATALOG", root().join("datasets"))
            .env("HF_HUB_OFFLINE", "1")
            .env_remove("AUTOML_TOKEN")
            .current_dir(std::env::temp_dir())
            .stderr(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .expect("start automl serve");
        let mut lines = BufReader::new(child.stderr.take().expect("stderr")).lines();
        let addr = loop {
            let line = lines
                .next()
                .expect("the server says where it listens")
                .expect("stderr");
            if let Some(rest) = line.split("automl server on http://").nth(1) {
                break rest.trim_end_matches('/').parse().expect("an address");
            }
        };
        // Keep draining stderr so the server never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        Server { child, addr }
    }

    fn kill9(mut self) {
        self.child.kill().expect("SIGKILL");
        self.child.wait().expect("reaped");
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    ctype: &str,
    body: &[u8],
) -> (u16, Vec<u8>) {
    let mut s = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes()).await.expect("write");
    s.write_all(body).await.expect("body");
    let mut buf = Vec::new();
    let _ = s.read_to_end(&mut buf).await;
    let split = buf
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a response head");
    let status = String::from_utf8_lossy(&buf[..split])
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("status");
    let head = String::from_utf8_lossy(&buf[..split]).to_ascii_lowercase();
    let mut body = buf[split + 4..].to_vec();
    if head.contains("transfer-encoding: chunked") {
        let mut out = Vec::new();
        let mut b = &body[..];
        while let Some(nl) = b.windows(2).position(|w| w == b"\r\n") {
            let n = usize::from_str_radix(std::str::from_utf8(&b[..nl]).unwrap_or("0").trim(), 16)
                .unwrap_or(0);
            if n == 0 || b.len() < nl + 4 + n {
                break;
            }
            out.extend_from_slice(&b[nl + 2..nl + 2 + n]);
            b = &b[nl + 4 + n..];
        }
        body = out;
    }
    (status, body)
}

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn socket(addr: SocketAddr, project: &str, since: u64) -> Ws {
    tokio_tungstenite::connect_async(format!("ws://{addr}/ws/projects/{project}?since={since}"))
        .await
        .expect("ws connects")
        .0
}

/// Envelopes until the socket closes or `stop` says so (the envelope that stops is kept).
async fn read_until(ws: &mut Ws, stop: impl Fn(&Value) -> bool) -> Vec<Value> {
    let mut out = Vec::new();
    loop {
        let next = tokio::time::timeout(Duration::from_secs(120), ws.next()).await;
        let Ok(Some(Ok(m))) = next else {
            return out;
        };
        match m {
            Message::Text(t) => {
                let v: Value = serde_json::from_str(t.as_str()).expect("JSON");
                if v["type"] == "event" {
                    let end = stop(&v);
                    out.push(v);
                    if end {
                        return out;
                    }
                }
            }
            Message::Close(_) => return out,
            _ => {}
        }
    }
}

fn terminal(v: &Value) -> bool {
    matches!(
        v["event"]["name"].as_str(),
        Some("RUN_FINISHED" | "RUN_CANCELLED" | "ERROR")
    )
}

fn seqs(v: &[Value]) -> Vec<u64> {
    v.iter().map(|e| e["seq"].as_u64().expect("seq")).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_mid_run_then_restart_loses_nothing_that_was_written() {
    let data = tempfile::tempdir().expect("tmp");
    let srv = Server::start(data.path());
    let addr = srv.addr;

    // Before the crash: a finished run, and an upload that has not been trained on yet.
    let (st, _) = http(
        addr,
        "POST",
        "/api/demo/run/done-1?prompt=classify%20iris%20species&time_budget_s=2",
        "application/json",
        b"",
    )
    .await;
    assert_eq!(st, 202);
    let mut c = socket(addr, "done-1", 0).await;
    let done = read_until(&mut c, terminal).await;
    assert_eq!(
        done.last().expect("events")["event"]["name"],
        "RUN_FINISHED"
    );
    let model_before = std::fs::read(data.path().join("runs/done-1/model.json")).expect("model");
    let boundary = "----faultsboundary";
    let csv = std::fs::read(iris()).expect("iris");
    let mut body = format!("--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"flowers.csv\"\r\nContent-Type: text/csv\r\n\r\n").into_bytes();
    body.extend_from_slice(&csv);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    let (st, b) = http(
        addr,
        "POST",
        "/api/projects/up-1/upload",
        &format!("multipart/form-data; boundary={boundary}"),
        &body,
    )
    .await;
    assert!(
        st == 200 || st == 201,
        "{st} {}",
        String::from_utf8_lossy(&b)
    );

    // A long run, killed while it trains.
    let (st, _) = http(
        addr,
        "POST",
        "/api/demo/run/crash-1?prompt=predict%20diamond%20prices&time_budget_s=120",
        "application/json",
        b"",
    )
    .await;
    assert_eq!(st, 202);
    let mut c = socket(addr, "crash-1", 0).await;
    let seen = read_until(&mut c, |v| {
        v["event"]["name"] == "METRIC_SCALAR"
            || (v["event"]["name"] == "STAGE_STATUS"
                && v["event"]["payload"]["stage"] == "TRAIN"
                && v["event"]["payload"]["status"] == "running")
    })
    .await;
    assert!(
        !seen.iter().any(terminal),
        "still running: {:?}",
        seen.last()
    );
    let k = seen.len() as u64;
    assert_eq!(seqs(&seen), (1..=k).collect::<Vec<_>>());
    let t = Instant::now();
    srv.kill9();
    drop(c);
    // A write cut short by the kill: half a line at the end of the log.
    let log = data.path().join("runs/crash-1/events.jsonl");
    {
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&log)
            .expect("log");
        f.write_all(b"{\"type\":\"event\",\"project_id\":\"crash-1\",\"seq\":9")
            .expect("torn");
    }

    let srv = Server::start(data.path());
    let addr = srv.addr;
    let restart_ms = t.elapsed().as_millis();
    // The client that was following resumes where it was: the rest of the log, then the
    // ERROR that marks the run interrupted, in TRAIN.
    let mut c = socket(addr, "crash-1", k).await;
    let rest = read_until(&mut c, terminal).await;
    let all: Vec<u64> = seqs(&seen).into_iter().chain(seqs(&rest)).collect();
    assert_eq!(
        all,
        (1..=all.len() as u64).collect::<Vec<_>>(),
        "no gap, no repeat"
    );
    let end = rest.last().expect("an end");
    assert_eq!(end["event"]["name"], "ERROR", "{end}");
    assert_eq!(end["event"]["payload"]["code"], "interrupted");
    assert_eq!(end["event"]["payload"]["stage"], "TRAIN");
    // The log on disk is whole again: the torn half line is gone, the ERROR is appended.
    let on_disk = whole_log(&log);
    assert_eq!(on_disk.len(), all.len());

    // The finished run is still listed and served, byte for byte.
    let (st, list) = http(addr, "GET", "/api/projects", "text/plain", b"").await;
    assert_eq!(st, 200);
    let list: Value = serde_json::from_slice(&list).expect("JSON");
    let status = |id: &str| {
        list.as_array()
            .expect("a list")
            .iter()
            .find(|r| r["id"] == id)
            .map(|r| r["status"].as_str().unwrap_or("").to_string())
    };
    assert_eq!(status("done-1").as_deref(), Some("finished"), "{list}");
    assert_eq!(status("crash-1").as_deref(), Some("failed"), "{list}");
    let (st, model) = http(
        addr,
        "GET",
        "/api/projects/done-1/artifacts/model.json",
        "text/plain",
        b"",
    )
    .await;
    assert_eq!((st, model), (200, model_before));
    whole_log(&data.path().join("runs/done-1/events.jsonl"));
    let mut c = socket(addr, "done-1", 0).await;
    assert_eq!(
        read_until(&mut c, terminal).await,
        done,
        "the same events replay"
    );

    // The upload made before the crash trains after it.
    let (st, b) = http(
        addr,
        "POST",
        "/api/projects/up-1/train",
        "application/json",
        br#"{"prompt":"classify the species","time_budget_s":2}"#,
    )
    .await;
    assert_eq!(st, 202, "{}", String::from_utf8_lossy(&b));
    let mut c = socket(addr, "up-1", 0).await;
    let up = read_until(&mut c, terminal).await;
    assert_eq!(up.last().expect("end")["event"]["name"], "RUN_FINISHED");
    eprintln!("restart after kill -9 answered in {restart_ms} ms");
}
