//! `--redis`: the fan-out over two server processes sharing one Redis (docs/scale-out.md).
//!
//! ```text
//! cargo build --locked -p ws-fanout -p automl-server --bin automl --bin ws_fanout
//! target/debug/ws_fanout --redis --clients 1000,10000 --projects 10 --rate 1000 --seconds 10
//! ```
//!
//! Per row, all on loopback: a `redis-server` (Debian package, started on a free port for the
//! whole bench), two `automl serve --redis` processes (the real binary, `--automl` or beside
//! this one), this process as the publisher in a worker's place (an `EventBus` whose backend
//! is `RedisStreams`, so events go through the same batched, fenced appends as a worker's run),
//! and a child process holding the WebSocket clients, spread evenly over both servers and the
//! projects. Each event carries its emit time; the clients measure its delivery latency
//! (publisher → Redis → the server's tail → its sockets). Printed: delivered and expected
//! events, p50/p99/max latency, each server's RSS (before the clients, once they are
//! connected, at the end), server KiB per connection, dropped clients, failed connects and
//! seq gaps. The soft limit of open files is raised to the hard one (children inherit it);
//! a row that needs more is refused, naming `ulimit -n`. Every wait is bounded.

use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use automl_core::{BusBackend, Event, EventBus};
use automl_server::scale::{KEY_PREFIX, RedisStreams};

use super::{Args, ClientReport, now_ns};

/// A child process killed (by its own pid) when dropped.
struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> Result<u16, String> {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| format!("no free port: {e}"))
}

fn wait_port(port: u16, what: &str, child: &mut Child) -> Result<(), String> {
    let t = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        if let Ok(Some(st)) = child.try_wait() {
            return Err(format!("{what} exited before it listened: {st}"));
        }
        if t.elapsed() > Duration::from_secs(30) {
            return Err(format!("{what} did not listen on port {port} within 30 s"));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(())
}

fn start_redis() -> Result<(Proc, String), String> {
    let port = free_port()?;
    let mut child = Command::new("redis-server")
        .args(["--bind", "127.0.0.1", "--port", &port.to_string()])
        .args(["--save", "", "--appendonly", "no"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("redis-server: {e} (scripts/setup.d/60-redis.sh installs it)"))?;
    wait_port(port, "redis-server", &mut child)?;
    Ok((Proc(child), format!("redis://127.0.0.1:{port}")))
}

fn start_server(automl: &Path, redis: &str, dir: &Path) -> Result<(Proc, String), String> {
    let port = free_port()?;
    let mut child = Command::new(automl)
        .arg("serve")
        .args(["--redis", redis, "--port", &port.to_string(), "--offline"])
        .arg("--data-dir")
        .arg(dir)
        .env("AUTOML_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| format!("{}: {e}", automl.display()))?;
    wait_port(port, "automl serve", &mut child)?;
    Ok((Proc(child), format!("127.0.0.1:{port}")))
}

/// `VmRSS` (or another `/proc/PID/status` field) in KiB.
fn status_kib(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

/// Raises the soft limit of open files to the hard one; returns the soft limit now.
fn raise_nofile() -> Result<u64, String> {
    rlimit::increase_nofile_limit(u64::MAX).map_err(|e| format!("RLIMIT_NOFILE: {e}"))
}

/// The most WebSocket clients one `automl serve` takes on one project (its default cap).
const SERVER_PER_PROJECT: usize = 2_000;

pub(crate) async fn driver(args: &Args) -> ExitCode {
    match run(args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(1)
        }
    }
}

async fn run(args: &Args) -> Result<(), String> {
    let automl = match &args.automl {
        Some(p) => p.clone(),
        None => std::env::current_exe()
            .map_err(|e| e.to_string())?
            .with_file_name("automl"),
    };
    if !automl.is_file() {
        return Err(format!(
            "{} not found: build it with `cargo build --locked -p automl-server --bin automl` or pass --automl",
            automl.display()
        ));
    }
    let nofile = raise_nofile()?;
    let (_redis, url) = start_redis()?;
    println!(
        "two `automl serve --redis` processes, one redis-server, the publisher and the client process on one machine ({} cores); open files limit {nofile}\n",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    println!(
        "| clients | projects | rate ev/s | delivered | expected | p50 ms | p99 ms | max ms | RSS A MiB idle/conn/end | RSS B MiB idle/conn/end | server KiB/conn | dropped | failed connects | gaps |"
    );
    println!("|---:|---:|---:|---:|---:|---:|---:|---:|---|---|---:|---:|---:|---:|");
    for (row_no, &n) in args.clients.iter().enumerate() {
        for &p in &args.projects {
            let p = p.clamp(1, n.max(1));
            // The clients' process holds n sockets; each server about n/2.
            let line = if (n as u64) + 256 > nofile {
                Err(format!(
                    "{n} clients need more open files than the limit {nofile}: raise `ulimit -n` (hard limit)"
                ))
            } else if n.div_ceil(2 * p) > SERVER_PER_PROJECT {
                Err(format!(
                    "{} clients per project on one server exceed its cap of {SERVER_PER_PROJECT}: use more projects",
                    n.div_ceil(2 * p)
                ))
            } else {
                let bound = Duration::from_secs(args.seconds + 300);
                match tokio::time::timeout(
                    bound,
                    row(&automl, &url, row_no, n, p, args.rate, args.seconds),
                )
                .await
                {
                    Ok(r) => r,
                    Err(_) => Err(format!("row took longer than {} s", bound.as_secs())),
                }
            };
            match line {
                Ok(l) => println!("{l}"),
                Err(e) => println!("| {n} | {p} | {} | error: {e} |", args.rate),
            }
        }
    }
    Ok(())
}

struct Dir(PathBuf);

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

async fn row(
    automl: &Path,
    url: &str,
    row_no: usize,
    n: usize,
    projects: usize,
    rate: u64,
    seconds: u64,
) -> Result<String, String> {
    let tmp =
        Dir(std::env::temp_dir().join(format!("ws-fanout-redis-{}-{row_no}", std::process::id())));
    let (srv_a, addr_a) = start_server(automl, url, &tmp.0.join("a"))?;
    let (srv_b, addr_b) = start_server(automl, url, &tmp.0.join("b"))?;
    let pids = [srv_a.0.id(), srv_b.0.id()];
    // The publisher, in a worker's place: its bus appends to Redis Streams.
    let backend = RedisStreams::connect(url, KEY_PREFIX)
        .await
        .map_err(|e| e.to_string())?;
    let bus = EventBus::with_backend(
        automl_core::bus::DEFAULT_LIVE_BUFFER,
        Arc::new(backend) as Arc<dyn BusBackend>,
    );
    let ids: Vec<String> = (0..projects)
        .map(|i| format!("fanout-{}-{row_no}-{i}", std::process::id()))
        .collect();
    let emitters: Vec<_> = ids.iter().map(|i| bus.emitter(i)).collect();
    // Each project exists in Redis before its clients come (seq 1, not counted as delivered).
    for em in &emitters {
        em.emit(Event::warning("bench_start", "start"));
    }
    for id in &ids {
        bus.flush_backend(id).await.map_err(|e| e.to_string())?;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let idle = pids.map(|p| status_kib(p, "VmRSS:"));
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let spec = format!("{addr_a},{addr_b}|{n}|{}", ids.join(","));
    let mut child = Proc(
        std::process::Command::new(exe)
            .arg("--role-clients")
            .arg(&spec)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| e.to_string())?,
    );
    let stdout = child.0.stdout.take().ok_or("no stdout")?;
    let mut stdin = child.0.stdin.take().ok_or("no stdin")?;
    let (line_tx, mut line_rx) = tokio::sync::mpsc::unbounded_channel::<String>();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            if line_tx.send(line).is_err() {
                break;
            }
        }
    });
    let ready = tokio::time::timeout(Duration::from_secs(180), line_rx.recv())
        .await
        .map_err(|_| "clients did not connect within 180 s".to_string())?
        .ok_or("client process ended early")?;
    if ready != "CONNECTED" {
        return Err(format!("unexpected line from clients: {ready}"));
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let connected = pids.map(|p| status_kib(p, "VmRSS:"));
    // Emit at the fixed rate, round-robin over the projects, for `seconds`.
    let total = rate * seconds;
    let start = Instant::now();
    let mut ticker = tokio::time::interval(Duration::from_millis(1));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let mut sent = 0u64;
    while sent < total {
        ticker.tick().await;
        let due = ((start.elapsed().as_secs_f64() * rate as f64) as u64).min(total);
        while sent < due {
            let em = &emitters[(sent as usize) % emitters.len()];
            em.emit(Event::warning("bench", now_ns().to_string()));
            sent += 1;
        }
    }
    let emit_secs = start.elapsed().as_secs_f64();
    for em in &emitters {
        em.emit(Event::warning("bench_end", now_ns().to_string()));
    }
    for id in &ids {
        bus.flush_backend(id).await.map_err(|e| e.to_string())?;
    }
    let per_project: Vec<u64> = (0..projects)
        .map(|i| total / projects as u64 + u64::from((i as u64) < total % projects as u64))
        .collect();
    let expected: u64 = (0..n).map(|c| per_project[c % projects]).sum();
    let _ = stdin.write_all(b"\n");
    let _ = stdin.flush();
    let report_line = tokio::time::timeout(Duration::from_secs(120), line_rx.recv())
        .await
        .map_err(|_| "clients did not report within 120 s".to_string())?
        .ok_or("client process ended without a report")?;
    let rep: ClientReport =
        serde_json::from_str(&report_line).map_err(|e| format!("{e}: {report_line}"))?;
    let end = pids.map(|p| status_kib(p, "VmRSS:"));
    drop(child);
    drop((srv_a, srv_b));
    if !rep.close_reasons.is_empty() {
        eprintln!("close reasons (first few): {:?}", rep.close_reasons);
    }
    let mib = |k: u64| k as f64 / 1024.0;
    let per_conn = (connected[0] + connected[1]).saturating_sub(idle[0] + idle[1]) as f64
        / rep.connected.max(1) as f64;
    Ok(format!(
        "| {n} | {projects} | {} | {} | {expected} | {:.2} | {:.2} | {:.2} | {:.0}/{:.0}/{:.0} | {:.0}/{:.0}/{:.0} | {per_conn:.1} | {} | {} | {} |",
        (total as f64 / emit_secs).round(),
        rep.delivered,
        rep.p50_us as f64 / 1000.0,
        rep.p99_us as f64 / 1000.0,
        rep.max_us as f64 / 1000.0,
        mib(idle[0]),
        mib(connected[0]),
        mib(end[0]),
        mib(idle[1]),
        mib(connected[1]),
        mib(end[1]),
        rep.dropped,
        rep.failed_connects,
        rep.gaps,
    ))
}
