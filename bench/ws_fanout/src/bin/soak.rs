//! Soak bench of the automl server (issue 17): loopback only, bounded in time, stops by itself.
//!
//! ```text
//! cargo build -p ws-fanout --bin soak && target/debug/soak --clients 2000 --seconds 600
//! ```
//!
//! The server (automl_server::server on 127.0.0.1, port 0) runs in this process. Real runs come
//! and go (`POST /api/demo/run/{id}`, iris, 1 s budget, one every `--run-every` seconds), while
//! `--clients` client tasks loop for `--seconds`: each connects to a random known project with
//! a random `since`, reads a few frames and leaves, or opens a random unknown project id (closed
//! with 4404), or reconnects to the newest run from its last seq. Every `--sample` seconds it
//! prints: elapsed s, process RSS MiB, open sockets, projects held in memory, hubs, runs
//! started, socket connects, 4404 closes. The last line says whether RSS stayed flat (the
//! second half's peak within 15% + 16 MiB of the first half's peak).
//!
//! The clients run in the same process, so RSS includes their (constant) share.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use automl_server::server::{self, ServerConfig};
use clap::Parser;
use futures::StreamExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::tungstenite::Message;

#[derive(Debug, Parser)]
struct Args {
    /// Concurrent client tasks.
    #[arg(long, default_value_t = 2000)]
    clients: usize,
    /// How long to run.
    #[arg(long, default_value_t = 600)]
    seconds: u64,
    /// Seconds between runs started.
    #[arg(long, default_value_t = 5)]
    run_every: u64,
    /// Seconds between samples.
    #[arg(long, default_value_t = 10)]
    sample: u64,
}

fn rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        })
        .unwrap_or(0.0)
        / 1024.0
}

#[derive(Default)]
struct Stats {
    connects: AtomicU64,
    not_found: AtomicU64,
    frames: AtomicU64,
    errors: AtomicU64,
}

fn rand(seed: &mut u64) -> u64 {
    *seed ^= *seed << 13;
    *seed ^= *seed >> 7;
    *seed ^= *seed << 17;
    *seed
}

async fn post(addr: std::net::SocketAddr, path: &str) -> u16 {
    let Ok(mut s) = tokio::net::TcpStream::connect(addr).await else {
        return 0;
    };
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"
    );
    if s.write_all(head.as_bytes()).await.is_err() {
        return 0;
    }
    let mut buf = Vec::new();
    let _ = s.read_to_end(&mut buf).await;
    String::from_utf8_lossy(&buf)
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0)
}

fn main() -> std::process::ExitCode {
    let args = Args::parse();
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: {e}");
            return std::process::ExitCode::from(1);
        }
    };
    rt.block_on(soak(args))
}

async fn soak(args: Args) -> std::process::ExitCode {
    let dir = std::env::temp_dir().join(format!("automl-soak-{}", std::process::id()));
    let cfg = ServerConfig {
        data_dir: dir.clone(),
        ui_dir: None,
        catalog_dir: Some(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../datasets")),
        ws_unknown_grace: Duration::from_millis(500),
        ..ServerConfig::default()
    };
    let srv = match server::spawn(cfg, "127.0.0.1:0".parse().expect("addr")).await {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return std::process::ExitCode::from(1);
        }
    };
    let addr = srv.addr;
    let stats = Arc::new(Stats::default());
    let runs = Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let end = Instant::now() + Duration::from_secs(args.seconds);
    // Runs come and go.
    let runner = {
        let runs = runs.clone();
        tokio::spawn(async move {
            let mut i = 0u64;
            while Instant::now() < end {
                let id = format!("soak-{i}");
                i += 1;
                let code = post(
                    addr,
                    &format!("/api/demo/run/{id}?prompt=classify%20iris%20species&time_budget_s=1&max_trials=2"),
                )
                .await;
                if code == 202 {
                    runs.lock().unwrap_or_else(|p| p.into_inner()).push(id);
                }
                tokio::time::sleep(Duration::from_secs(args.run_every)).await;
            }
            i
        })
    };
    let mut clients = Vec::new();
    for c in 0..args.clients {
        let stats = stats.clone();
        let runs = runs.clone();
        clients.push(tokio::spawn(async move {
            let mut seed =
                0x9E37_79B9_7F4A_7C15u64 ^ (c as u64 + 1).wrapping_mul(0x2545_F491_4F6C_DD1D);
            // Spread the first connections over a second.
            tokio::time::sleep(Duration::from_millis(rand(&mut seed) % 1000)).await;
            while Instant::now() < end {
                let known: Vec<String> = runs.lock().unwrap_or_else(|p| p.into_inner()).clone();
                let roll = rand(&mut seed) % 10;
                let (id, since) = if roll < 3 || known.is_empty() {
                    (format!("ghost-{:x}", rand(&mut seed)), 0)
                } else if roll < 6 {
                    (known[known.len() - 1].clone(), rand(&mut seed) % 200)
                } else {
                    let k = &known[(rand(&mut seed) as usize) % known.len()];
                    (k.clone(), rand(&mut seed) % 300)
                };
                let url = format!("ws://{addr}/ws/projects/{id}?since={since}");
                match tokio_tungstenite::connect_async(url).await {
                    Ok((mut ws, _)) => {
                        stats.connects.fetch_add(1, Ordering::Relaxed);
                        let want = 1 + rand(&mut seed) % 50;
                        let mut got = 0;
                        let until = tokio::time::Instant::now() + Duration::from_secs(3);
                        while got < want {
                            match tokio::time::timeout_at(until, ws.next()).await {
                                Ok(Some(Ok(Message::Text(_)))) => {
                                    got += 1;
                                    stats.frames.fetch_add(1, Ordering::Relaxed);
                                }
                                Ok(Some(Ok(Message::Close(f)))) => {
                                    if f.is_some_and(|f| u16::from(f.code) == 4404) {
                                        stats.not_found.fetch_add(1, Ordering::Relaxed);
                                    }
                                    break;
                                }
                                Ok(Some(Ok(_))) => {}
                                _ => break,
                            }
                        }
                        // Vanish half the time without a close frame.
                        if rand(&mut seed) % 2 == 0 {
                            let _ = ws.close(None).await;
                        }
                    }
                    Err(_) => {
                        stats.errors.fetch_add(1, Ordering::Relaxed);
                        tokio::time::sleep(Duration::from_millis(200)).await;
                    }
                }
                tokio::time::sleep(Duration::from_millis(rand(&mut seed) % 500)).await;
            }
        }));
    }
    println!(
        "t_s\trss_mib\tsockets\tprojects_in_memory\thubs\truns\tconnects\tclosed_4404\tframes\tconnect_errors"
    );
    let start = Instant::now();
    let mut curve: Vec<(u64, f64)> = Vec::new();
    while Instant::now() < end {
        tokio::time::sleep(Duration::from_secs(args.sample)).await;
        let t = start.elapsed().as_secs();
        let rss = rss_mib();
        let (sockets, _) = srv.state.slots_in_use();
        let (projects, hubs) = srv.state.memory_footprint();
        let nruns = runs.lock().unwrap_or_else(|p| p.into_inner()).len();
        println!(
            "{t}\t{rss:.1}\t{sockets}\t{projects}\t{hubs}\t{nruns}\t{}\t{}\t{}\t{}",
            stats.connects.load(Ordering::Relaxed),
            stats.not_found.load(Ordering::Relaxed),
            stats.frames.load(Ordering::Relaxed),
            stats.errors.load(Ordering::Relaxed),
        );
        curve.push((t, rss));
    }
    for c in clients {
        let _ = c.await;
    }
    let _ = runner.await;
    let _ = srv.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
    let half = curve.len() / 2;
    let peak = |s: &[(u64, f64)]| s.iter().map(|p| p.1).fold(0.0, f64::max);
    if half > 0 {
        let (a, b) = (peak(&curve[..half]), peak(&curve[half..]));
        let flat = b <= a * 1.15 + 16.0;
        println!(
            "rss peak first half {a:.1} MiB, second half {b:.1} MiB: {}",
            if flat { "flat" } else { "GROWING" }
        );
        if !flat {
            return std::process::ExitCode::from(1);
        }
    }
    std::process::ExitCode::SUCCESS
}
