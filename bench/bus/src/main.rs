//! Benchmark of the event bus backends (docs/scale-out.md has the table and the command).
//!
//! ```text
//! cargo run --release -p automl-bench-bus -- --events 20000 --rate 2000 --seconds 5
//! ```
//!
//! Rows:
//! * **throughput**: `--events` warnings emitted as fast as possible into one project; appended
//!   = events/s until the backend holds them all (`flush_backend`), delivered = events/s until
//!   a subscriber has read them all: on the writer's own bus ("1 bus"), or on a second bus
//!   that follows the project through the backend ("2 buses": its own connections, its own
//!   tail; both buses live in this OS process).
//! * **latency**: events at `--rate`/s for `--seconds`; the time from emit to delivery on the
//!   follower, p50/p99/max.
//!
//! Redis rows start their own `redis-server` (Debian package) on a free loopback port.

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use automl_core::event::Event;
use automl_core::{BusBackend, EventBus, MemoryBackend};
use automl_server::scale::RedisStreams;
use clap::Parser;

#[derive(Debug, Parser)]
struct Args {
    /// Events per throughput row.
    #[arg(long, default_value_t = 20_000)]
    events: u64,
    /// Events per second in the latency rows.
    #[arg(long, default_value_t = 2_000)]
    rate: u64,
    /// Seconds per latency row.
    #[arg(long, default_value_t = 5)]
    seconds: u64,
}

struct Redis(Child, u16);

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_redis() -> Result<Redis, String> {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map_err(|e| e.to_string())?
        .port();
    let child = Command::new("redis-server")
        .args(["--bind", "127.0.0.1", "--port", &port.to_string()])
        .args(["--save", "", "--appendonly", "no"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("redis-server: {e} (scripts/setup.d/60-redis.sh installs it)"))?;
    let r = Redis(child, port);
    let t = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        if t.elapsed() > Duration::from_secs(10) {
            return Err("redis-server did not answer".into());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(r)
}

fn warn(i: u64) -> Event {
    Event::warning("bench", format!("event {i} of the benchmark"))
}

type Make = Box<
    dyn Fn() -> std::pin::Pin<Box<dyn std::future::Future<Output = Option<Arc<dyn BusBackend>>>>>,
>;

async fn throughput(label: &str, make: &Make, events: u64) {
    let writer = match make().await {
        Some(b) => EventBus::with_backend(4096, b),
        None => EventBus::new(4096),
    };
    let project = format!("tp-{label}");
    let mut own = writer.subscribe(&project, 0);
    let em = writer.emitter(&project);
    let t = Instant::now();
    for i in 0..events {
        em.emit(warn(i));
    }
    let emitted = t.elapsed();
    writer.flush_backend(&project).await.expect("stored");
    let appended = t.elapsed();
    for _ in 0..events {
        own.next().await.expect("own");
    }
    let own_t = t.elapsed();
    let rate = |d: Duration| events as f64 / d.as_secs_f64();
    println!(
        "| {label} | 1 bus | {:.0} | {:.0} | {:.0} |",
        rate(emitted),
        rate(appended),
        rate(own_t)
    );
    if let Some(b) = make().await {
        // A second bus follows the project from the backend (it was written above).
        let project2 = format!("tp2-{label}");
        let follower = EventBus::with_backend(4096, b);
        follower.follow(&project2).await.expect("follow");
        let mut sub = follower.subscribe(&project2, 0);
        let em = writer.emitter(&project2);
        let t = Instant::now();
        for i in 0..events {
            em.emit(warn(i));
        }
        for _ in 0..events {
            sub.next().await.expect("follower");
        }
        let delivered = t.elapsed();
        println!("| {label} | 2 buses | | | {:.0} |", rate(delivered));
    }
}

async fn latency(label: &str, make: &Make, rate: u64, seconds: u64) {
    let (Some(wb), Some(fb)) = (make().await, make().await) else {
        return;
    };
    let writer = EventBus::with_backend(4096, wb);
    let follower = EventBus::with_backend(4096, fb);
    let project = format!("lat-{label}");
    follower.follow(&project).await.expect("follow");
    let mut sub = follower.subscribe(&project, 0);
    let n = rate * seconds;
    let start = Instant::now();
    let em = writer.emitter(&project);
    let emit = tokio::spawn(async move {
        let mut sent = Vec::with_capacity(n as usize);
        let mut tick = tokio::time::interval(Duration::from_micros(1_000_000 / rate.max(1)));
        for i in 0..n {
            tick.tick().await;
            sent.push(start.elapsed());
            em.emit(warn(i));
        }
        sent
    });
    let mut got = Vec::with_capacity(n as usize);
    for _ in 0..n {
        sub.next().await.expect("event");
        got.push(start.elapsed());
    }
    let sent = emit.await.expect("emitter");
    let mut lat: Vec<f64> = got
        .iter()
        .zip(&sent)
        .map(|(g, s)| g.saturating_sub(*s).as_secs_f64() * 1000.0)
        .collect();
    lat.sort_by(|a, b| a.total_cmp(b));
    let q = |p: f64| lat[((lat.len() as f64 - 1.0) * p) as usize];
    println!(
        "| {label} | {rate}/s × {seconds} s | {:.2} | {:.2} | {:.2} |",
        q(0.5),
        q(0.99),
        lat.last().copied().unwrap_or(0.0)
    );
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args = Args::parse();
    let redis = match start_redis() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(1);
        }
    };
    let url = format!("redis://127.0.0.1:{}", redis.1);
    let none: Make = Box::new(|| Box::pin(async { None }));
    let shared = Arc::new(MemoryBackend::new());
    let memory: Make = Box::new(move || {
        let s = shared.clone();
        Box::pin(async move { Some(s as Arc<dyn BusBackend>) })
    });
    let redis_make: Make = Box::new(move || {
        let url = url.clone();
        Box::pin(async move {
            Some(
                Arc::new(RedisStreams::connect(&url, "bench:").await.expect("redis"))
                    as Arc<dyn BusBackend>,
            )
        })
    });
    println!(
        "throughput, {} events into one project (events/s)\n",
        args.events
    );
    println!("| backend | readers | emitted | appended | delivered |");
    println!("|---|---|---:|---:|---:|");
    throughput("none (default)", &none, args.events).await;
    throughput("MemoryBackend", &memory, args.events).await;
    throughput("Redis Streams", &redis_make, args.events).await;
    println!("\nemit → delivery on a following bus (ms)\n");
    println!("| backend | load | p50 | p99 | max |");
    println!("|---|---|---:|---:|---:|");
    latency("MemoryBackend", &memory, args.rate, args.seconds).await;
    latency("Redis Streams", &redis_make, args.rate, args.seconds).await;
    drop(redis);
}
