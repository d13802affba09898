//! Fan-out benchmark of the automl server's WebSocket (loopback only, bounded in time).
//!
//! ```text
//! cargo run --release -p ws-fanout -- --clients 100,1000,10000 --rate 1000 --projects 1,100 --seconds 10
//! ```
//!
//! For each (clients, projects) pair: this process runs the server (automl_server::server on
//! 127.0.0.1, port 0) and emits events at `--rate` events/s in all (spread over the projects);
//! a child process (this binary with `clients`) opens the WebSocket connections, spread evenly
//! over the projects, and measures each event's delivery latency from the emit time written
//! into it. Printed per row: delivered events, p50/p99/max latency, server memory per
//! connection (the server process's RSS growth once every client is connected, divided by the
//! clients), and clients dropped (closed by the server, errors, or connections that failed).
//!
//! `--redis`: two `automl serve --redis` processes on one Redis instead, fed by a publisher in
//! a worker's place (see `redis_mode.rs`; figures in docs/scale-out.md).

use std::process::Stdio;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use automl_core::Event;
use automl_server::server::{self, ServerConfig};
use clap::Parser;
use futures::StreamExt;
use std::io::{BufRead, Write};
use tokio_tungstenite::tungstenite::Message;

mod redis_mode;

#[derive(Debug, Parser)]
struct Args {
    /// Client counts to run, comma-separated.
    #[arg(long, default_value = "100,1000", value_delimiter = ',')]
    clients: Vec<usize>,
    /// Project counts to spread the clients over, comma-separated (1 = all on one project).
    #[arg(long, default_value = "1,10", value_delimiter = ',')]
    projects: Vec<usize>,
    /// Events per second, in all.
    #[arg(long, default_value_t = 1000)]
    rate: u64,
    /// Seconds of events per row.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Internal: run as the client process.
    #[arg(long, hide = true)]
    role_clients: Option<String>,
    /// Two `automl serve --redis` processes and a publisher writing to Redis Streams instead
    /// of one in-process server (see `redis_mode`).
    #[arg(long)]
    redis: bool,
    /// The `automl` binary for `--redis` (default: beside this one).
    #[arg(long)]
    automl: Option<std::path::PathBuf>,
}

pub(crate) fn now_ns() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0)
}

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        })
        .unwrap_or(0)
}

#[derive(Debug, Default, serde::Serialize, serde::Deserialize)]
pub(crate) struct ClientReport {
    connected: usize,
    failed_connects: usize,
    dropped: usize,
    close_reasons: Vec<String>,
    gaps: u64,
    delivered: u64,
    /// Latency percentiles in microseconds: p50, p99, max.
    p50_us: u64,
    p99_us: u64,
    max_us: u64,
    rss_kib_per_conn: f64,
}

fn main() -> std::process::ExitCode {
    let args = Args::parse();
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e}");
            return std::process::ExitCode::from(1);
        }
    };
    if let Some(spec) = args.role_clients.clone() {
        return rt.block_on(clients_role(&spec));
    }
    if args.redis {
        return rt.block_on(redis_mode::driver(&args));
    }
    rt.block_on(driver(args))
}

async fn driver(args: Args) -> std::process::ExitCode {
    println!(
        "| clients | projects | rate ev/s | delivered | expected | p50 ms | p99 ms | max ms | server KiB/conn | client KiB/conn | dropped | failed connects |"
    );
    println!("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    let mut first = true;
    for &n in &args.clients {
        for &p in &args.projects {
            let p = p.clamp(1, n.max(1));
            let r = row(n, p, args.rate, args.seconds, first).await;
            first = false;
            match r {
                Ok(line) => println!("{line}"),
                Err(e) => println!("| {n} | {p} | {} | error: {e} |", args.rate),
            }
        }
    }
    println!(
        "\nserver KiB/conn is measured on the first row only: memory freed by a row stays in the process and hides the next row's growth."
    );
    std::process::ExitCode::SUCCESS
}

async fn row(
    n: usize,
    projects: usize,
    rate: u64,
    seconds: u64,
    measure_server_memory: bool,
) -> Result<String, String> {
    let dir = std::env::temp_dir().join(format!("ws-fanout-{}", std::process::id()));
    let cfg = ServerConfig {
        data_dir: dir.clone(),
        ui_dir: None,
        // This bench measures fan-out, not the caps: let every client in.
        ws_max_clients: n + 16,
        ws_max_per_project: n + 16,
        ..ServerConfig::default()
    };
    let srv = server::spawn(cfg, "127.0.0.1:0".parse().map_err(|e| format!("{e}"))?)
        .await
        .map_err(|e| e.to_string())?;
    let ids: Vec<String> = (0..projects).map(|i| format!("bench-{i}")).collect();
    // The projects exist before the clients come (sockets to unknown ids are closed).
    let emitters: Vec<_> = ids.iter().map(|i| srv.state.bus().emitter(i)).collect();
    // Warm the projects (and their hubs) before measuring memory.
    let rss0 = rss_kib();
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let spec = format!("{}|{}|{}", srv.addr, n, ids.join(","));
    let mut child = std::process::Command::new(exe)
        .arg("--role-clients")
        .arg(&spec)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| e.to_string())?;
    let stdout = child.stdout.take().ok_or("no stdout")?;
    let mut stdin = child.stdin.take().ok_or("no stdin")?;
    // The child's lines arrive on a channel from a reader thread.
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
    // 1. Wait until every client is connected (or failed).
    let ready = tokio::time::timeout(Duration::from_secs(120), line_rx.recv())
        .await
        .map_err(|_| "clients did not connect within 120 s".to_string())?
        .ok_or("client process ended early")?;
    if ready != "CONNECTED" {
        let _ = child.kill();
        return Err(format!("unexpected line from clients: {ready}"));
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let rss1 = rss_kib();
    // 2. Emit at the fixed rate, spread over the projects, for `seconds`.
    let total = rate * seconds;
    let start = Instant::now();
    let tick = Duration::from_millis(1);
    let mut ticker = tokio::time::interval(tick);
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
    // Expected deliveries: each client gets its project's events.
    let per_project: Vec<u64> = (0..projects)
        .map(|i| total / projects as u64 + u64::from((i as u64) < total % projects as u64))
        .collect();
    let expected: u64 = (0..n).map(|c| per_project[c % projects]).sum();
    // 3. Collect the report.
    let _ = stdin.write_all(b"\n");
    let _ = stdin.flush();
    let report_line = match tokio::time::timeout(Duration::from_secs(60), line_rx.recv()).await {
        Ok(Some(l)) => l,
        Ok(None) => return Err("client process ended without a report".to_string()),
        Err(_) => {
            let _ = child.kill();
            return Err("clients did not report within 60 s".to_string());
        }
    };
    let rep: ClientReport =
        serde_json::from_str(&report_line).map_err(|e| format!("{e}: {report_line}"))?;
    let _ = child.wait();
    let _ = srv.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
    if !rep.close_reasons.is_empty() {
        eprintln!("close reasons (first few): {:?}", rep.close_reasons);
    }
    let server_per_conn = if measure_server_memory {
        format!("{:.1}", rss1.saturating_sub(rss0) as f64 / n.max(1) as f64)
    } else {
        "–".to_string()
    };
    Ok(format!(
        "| {n} | {projects} | {} | {} | {expected} | {:.2} | {:.2} | {:.2} | {server_per_conn} | {:.1} | {} | {} |",
        (total as f64 / emit_secs).round(),
        rep.delivered,
        rep.p50_us as f64 / 1000.0,
        rep.p99_us as f64 / 1000.0,
        rep.max_us as f64 / 1000.0,
        rep.rss_kib_per_conn,
        rep.dropped,
        rep.failed_connects,
    ))
}

/// Delivery latencies of all clients: 100 µs buckets up to 10 s (the last bucket holds the rest).
struct Histogram {
    buckets: Vec<std::sync::atomic::AtomicU64>,
    max_us: std::sync::atomic::AtomicU64,
}

const BUCKET_US: u128 = 100;

impl Histogram {
    fn new() -> Self {
        Self {
            buckets: (0..100_001)
                .map(|_| std::sync::atomic::AtomicU64::new(0))
                .collect(),
            max_us: std::sync::atomic::AtomicU64::new(0),
        }
    }

    fn add(&self, us: u128) {
        use std::sync::atomic::Ordering::Relaxed;
        let i = ((us / BUCKET_US) as usize).min(self.buckets.len() - 1);
        self.buckets[i].fetch_add(1, Relaxed);
        self.max_us
            .fetch_max(us.min(u64::MAX as u128) as u64, Relaxed);
    }

    /// The upper edge of the bucket holding quantile `q`, in µs.
    fn quantile(&self, q: f64) -> u64 {
        use std::sync::atomic::Ordering::Relaxed;
        let total: u64 = self.buckets.iter().map(|b| b.load(Relaxed)).sum();
        if total == 0 {
            return 0;
        }
        let want = ((total as f64) * q).ceil().max(1.0) as u64;
        let mut seen = 0;
        for (i, b) in self.buckets.iter().enumerate() {
            seen += b.load(Relaxed);
            if seen >= want {
                return ((i as u128 + 1) * BUCKET_US) as u64;
            }
        }
        self.max_us.load(Relaxed)
    }
}

struct ClientResult {
    delivered: u64,
    gaps: u64,
    dropped: Option<String>,
}

async fn clients_role(spec: &str) -> std::process::ExitCode {
    let mut parts = spec.split('|');
    let (Some(addr), Some(n), Some(ids)) = (parts.next(), parts.next(), parts.next()) else {
        eprintln!("bad client spec {spec}");
        return std::process::ExitCode::from(2);
    };
    let n: usize = n.parse().unwrap_or(0);
    let ids: Vec<String> = ids.split(',').map(str::to_string).collect();
    // One server, or several (`--redis`): a project's clients are spread over all of them.
    let addrs: Vec<String> = addr.split(',').map(str::to_string).collect();
    let rss0 = rss_kib();
    let mut sockets = Vec::with_capacity(n);
    let mut failed = 0usize;
    // Connect in waves so that the accept queue is not overrun.
    for chunk_start in (0..n).step_by(200) {
        let mut wave = Vec::new();
        for c in chunk_start..(chunk_start + 200).min(n) {
            let addr = &addrs[(c / ids.len()) % addrs.len()];
            let url = format!("ws://{addr}/ws/projects/{}?since=0", ids[c % ids.len()]);
            wave.push(tokio::spawn(async move {
                for _ in 0..3 {
                    match tokio::time::timeout(
                        Duration::from_secs(10),
                        tokio_tungstenite::connect_async(url.clone()),
                    )
                    .await
                    {
                        Ok(Ok((ws, _))) => return Some(ws),
                        _ => tokio::time::sleep(Duration::from_millis(200)).await,
                    }
                }
                None
            }));
        }
        for w in wave {
            match w.await {
                Ok(Some(ws)) => sockets.push(ws),
                _ => failed += 1,
            }
        }
    }
    let connected = sockets.len();
    let rss1 = rss_kib();
    let hist = std::sync::Arc::new(Histogram::new());
    let tasks: Vec<_> = sockets
        .into_iter()
        .map(|mut ws| {
            let hist = hist.clone();
            tokio::spawn(async move {
                let mut r = ClientResult {
                    delivered: 0,
                    gaps: 0,
                    dropped: None,
                };
                let mut last_seq = 0u64;
                loop {
                    let m = tokio::time::timeout(Duration::from_secs(90), ws.next()).await;
                    let m = match m {
                        Err(_) => {
                            r.dropped = Some("no event for 90 s".into());
                            break;
                        }
                        Ok(None) => {
                            r.dropped = Some("stream ended".into());
                            break;
                        }
                        Ok(Some(Err(e))) => {
                            r.dropped = Some(e.to_string());
                            break;
                        }
                        Ok(Some(Ok(m))) => m,
                    };
                    match m {
                        Message::Text(t) => {
                            let now = now_ns();
                            let s = t.as_str();
                            let seq = field_u64(s, "\"seq\":").unwrap_or(0);
                            if seq != last_seq + 1 {
                                r.gaps += 1;
                            }
                            last_seq = seq;
                            let end = s.contains("\"code\":\"bench_end\"");
                            if end {
                                break;
                            }
                            if let Some(sent) = field_str_u128(s, "\"message\":\"") {
                                r.delivered += 1;
                                hist.add(now.saturating_sub(sent) / 1000);
                            }
                        }
                        Message::Close(f) => {
                            r.dropped = Some(
                                f.map(|f| format!("{} {}", u16::from(f.code), f.reason))
                                    .unwrap_or_else(|| "closed".into()),
                            );
                            break;
                        }
                        _ => {}
                    }
                }
                r
            })
        })
        .collect();
    println!("CONNECTED");
    // Wait for the driver's go-ahead to report (it writes a line after its last event).
    let _ = tokio::task::spawn_blocking(|| {
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line)
    })
    .await;
    let mut rep = ClientReport {
        connected,
        failed_connects: failed,
        rss_kib_per_conn: rss1.saturating_sub(rss0) as f64 / connected.max(1) as f64,
        ..Default::default()
    };
    for t in tasks {
        match tokio::time::timeout(Duration::from_secs(30), t).await {
            Ok(Ok(r)) => {
                rep.delivered += r.delivered;
                rep.gaps += r.gaps;
                if let Some(d) = r.dropped {
                    rep.dropped += 1;
                    if rep.close_reasons.len() < 5 {
                        rep.close_reasons.push(d);
                    }
                }
            }
            _ => rep.dropped += 1,
        }
    }
    rep.p50_us = hist.quantile(0.50);
    rep.p99_us = hist.quantile(0.99);
    rep.max_us = hist.max_us.load(std::sync::atomic::Ordering::Relaxed);
    match serde_json::to_string(&rep) {
        Ok(s) => println!("{s}"),
        Err(e) => eprintln!("{e}"),
    }
    std::process::ExitCode::SUCCESS
}

fn field_u64(s: &str, key: &str) -> Option<u64> {
    let i = s.find(key)? + key.len();
    let rest = &s[i..];
    let end = rest
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(rest.len());
    rest[..end].parse().ok()
}

fn field_str_u128(s: &str, key: &str) -> Option<u128> {
    let i = s.find(key)? + key.len();
    let rest = &s[i..];
    let end = rest.find('"')?;
    rest[..end].parse().ok()
}
