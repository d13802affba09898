//! The Hub client's failure modes against fake servers on 127.0.0.1 that speak raw HTTP/1.1, so
//! that a test can stall a body, trickle it, send more than announced or redirect elsewhere:
//! the byte cap, the time limits, the token kept to the endpoint's origin (Link pages and
//! redirects on another host get none), 429 with Retry-After and 5xx retried and announced,
//! the offline probe, the on-disk search cache, Range never sent, and the relevance floor.
#![cfg(feature = "hub")]

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use automl_core::agents::finders::catalog::CatalogFinder;
use automl_core::agents::finders::hub::{HubConfig, HubFinder, HubSetting};
use automl_core::agents::finders::{DatasetQuery, FinderChain};
use automl_core::agents::parser::parse;
use automl_core::agents::{Agent, RunSettings, StageContext};
use automl_core::error::HubProblem;
use automl_core::event::{Event, StageStatus};
use automl_core::{AutomlError, EventBus};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_util::sync::CancellationToken;

/// One request as the fake saw it.
#[derive(Debug, Clone)]
struct Seen {
    path: String,
    headers: Vec<(String, String)>,
}

impl Seen {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// What the fake answers.
enum Reply {
    /// A whole answer.
    Full {
        status: u16,
        headers: Vec<(String, String)>,
        body: Vec<u8>,
    },
    /// Headers announcing `len` bytes, `first` of them, then nothing.
    Stall { len: usize, first: Vec<u8> },
    /// `len` bytes, one every `every`; without a Content-Length unless `announce`.
    Trickle {
        len: usize,
        every: Duration,
        announce: bool,
    },
}

fn full(status: u16, headers: &[(&str, &str)], body: impl Into<Vec<u8>>) -> Reply {
    Reply::Full {
        status,
        headers: headers
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        body: body.into(),
    }
}

type Handler = Arc<dyn Fn(&Seen, usize) -> Reply + Send + Sync>;

struct Fake {
    base: String,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl Fake {
    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().expect("lock").clone()
    }
}

/// A raw HTTP/1.1 server: one request per connection, answered by `h(request, n)` where `n`
/// counts requests from 1.
async fn fake(h: Handler) -> Fake {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let seen: Arc<Mutex<Vec<Seen>>> = Arc::default();
    let log = seen.clone();
    tokio::spawn(async move {
        loop {
            let Ok((mut sock, _)) = listener.accept().await else {
                return;
            };
            let h = h.clone();
            let log = log.clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                    match sock.read(&mut chunk).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    }
                }
                let text = String::from_utf8_lossy(&buf).to_string();
                let mut lines = text.split("\r\n");
                let path = lines
                    .next()
                    .and_then(|l| l.split_whitespace().nth(1))
                    .unwrap_or("/")
                    .to_string();
                let headers = lines
                    .take_while(|l| !l.is_empty())
                    .filter_map(|l| l.split_once(':'))
                    .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
                    .collect();
                let req = Seen { path, headers };
                let n = {
                    let mut l = log.lock().expect("lock");
                    l.push(req.clone());
                    l.len()
                };
                let reply = h(&req, n);
                let head = |status: u16, len: Option<usize>, extra: &[(String, String)]| {
                    let mut s = format!("HTTP/1.1 {status} X\r\nconnection: close\r\n");
                    if let Some(len) = len {
                        s.push_str(&format!("content-length: {len}\r\n"));
                    }
                    for (k, v) in extra {
                        s.push_str(&format!("{k}: {v}\r\n"));
                    }
                    s.push_str("\r\n");
                    s.into_bytes()
                };
                match reply {
                    Reply::Full {
                        status,
                        headers,
                        body,
                    } => {
                        let _ = sock
                            .write_all(&head(status, Some(body.len()), &headers))
                            .await;
                        let _ = sock.write_all(&body).await;
                    }
                    Reply::Stall { len, first } => {
                        let _ = sock.write_all(&head(200, Some(len), &[])).await;
                        let _ = sock.write_all(&first).await;
                        let _ = sock.flush().await;
                        tokio::time::sleep(Duration::from_secs(30)).await;
                    }
                    Reply::Trickle {
                        len,
                        every,
                        announce,
                    } => {
                        let _ = sock
                            .write_all(&head(200, announce.then_some(len), &[]))
                            .await;
                        for _ in 0..len {
                            if sock.write_all(b"x").await.is_err() {
                                return;
                            }
                            let _ = sock.flush().await;
                            tokio::time::sleep(every).await;
                        }
                    }
                }
                let _ = sock.shutdown().await;
            });
        }
    });
    Fake { base, seen }
}

fn cfg(base: &str, cache: &std::path::Path) -> HubConfig {
    let mut c = HubConfig::new(base, cache);
    c.timeout = Duration::from_secs(3);
    c.backoff = Duration::from_millis(10);
    c.max_retry_wait = Duration::from_secs(2);
    c.stall_timeout = Duration::from_millis(400);
    c.download_timeout = Duration::from_secs(5);
    c.page_limit = 5;
    c.token = Some("hf_secret".to_string());
    c
}

fn cx(bus: &EventBus) -> StageContext {
    StageContext {
        emitter: bus.emitter("p"),
        cancel: CancellationToken::new(),
        settings: Arc::new(RunSettings {
            seed: 0,
            time_budget_s: 5.0,
            max_trials: None,
            run_dir: PathBuf::from("unused"),
            catalog_dir: Some(catalog()),
        }),
    }
}

fn catalog() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../datasets")
}

fn warnings(bus: &EventBus) -> Vec<(String, String)> {
    bus.history("p")
        .into_iter()
        .filter_map(|e| match e.event {
            Event::Warning(w) => Some((w.code, w.message)),
            _ => None,
        })
        .collect()
}

fn problem(r: automl_core::Result<PathBuf>) -> HubProblem {
    match r {
        Err(AutomlError::Hub { problem, .. }) => problem,
        other => panic!("expected a Hub error, got {other:?}"),
    }
}

fn dataset(id: &str, cats: &[&str], description: &str, files: &[&str]) -> serde_json::Value {
    json!({
        "id": id, "sha": "abc123", "downloads": 1000, "gated": false, "private": false,
        "tags": ["license:mit"],
        "cardData": {"license": "mit", "task_categories": cats},
        "description": description,
        "siblings": files.iter().map(|f| json!({"rfilename": f})).collect::<Vec<_>>()
    })
}

#[tokio::test]
async fn a_body_over_the_byte_cap_is_refused_announced_or_not() {
    // Announced by Content-Length, and sent without (more bytes than the cap arrive).
    let f = fake(Arc::new(|req: &Seen, _| {
        if req.path.contains("big.csv") {
            full(200, &[], vec![b'a'; 5000])
        } else {
            Reply::Trickle {
                len: 3000,
                every: Duration::ZERO,
                announce: false,
            }
        }
    }))
    .await;
    let cache = tempfile::tempdir().expect("tmp");
    let mut c = cfg(&f.base, cache.path());
    c.max_bytes = 1000;
    let hub = HubFinder::new(c);
    let bus = EventBus::default();
    let t = Instant::now();
    let p = problem(hub.download("o/big", &["big.csv".into()], &cx(&bus)).await);
    assert_eq!(p, HubProblem::TooLarge { limit: 1000 });
    let p = problem(
        hub.download("o/big", &["stream.csv".into()], &cx(&bus))
            .await,
    );
    assert_eq!(p, HubProblem::TooLarge { limit: 1000 });
    assert!(t.elapsed() < Duration::from_secs(3), "{:?}", t.elapsed());
    assert_eq!(p.code(), "hub_too_large");
    // Nothing half-written is left in the cache.
    let blobs = cache.path().join("datasets--o--big/blobs");
    let left: Vec<_> = std::fs::read_dir(&blobs)
        .map(|r| r.flatten().map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "{left:?}");
}

#[tokio::test]
async fn a_stalled_body_and_a_slow_one_end_within_their_limits() {
    let f = fake(Arc::new(|req: &Seen, _| {
        if req.path.contains("stall.csv") {
            Reply::Stall {
                len: 10_000,
                first: b"a,b\n1,2\n".to_vec(),
            }
        } else {
            Reply::Trickle {
                len: 200,
                every: Duration::from_millis(50),
                announce: true,
            }
        }
    }))
    .await;
    let cache = tempfile::tempdir().expect("tmp");
    let mut c = cfg(&f.base, cache.path());
    c.download_timeout = Duration::from_millis(1500);
    let hub = HubFinder::new(c);
    let bus = EventBus::default();
    let t = Instant::now();
    let p = problem(hub.download("o/s", &["stall.csv".into()], &cx(&bus)).await);
    assert!(matches!(p, HubProblem::Stalled { .. }), "{p:?}");
    assert!(t.elapsed() < Duration::from_secs(2), "{:?}", t.elapsed());
    // 200 bytes at 20 a second would take 10 s: the 1.5 s limit ends it.
    let t = Instant::now();
    let p = problem(hub.download("o/s", &["slow.csv".into()], &cx(&bus)).await);
    assert!(matches!(p, HubProblem::TimedOut { .. }), "{p:?}");
    assert!(
        t.elapsed() < Duration::from_millis(2500),
        "{:?}",
        t.elapsed()
    );
}

#[tokio::test]
async fn downloads_send_no_range_and_keep_the_token_on_the_endpoint() {
    let other = fake(Arc::new(|_: &Seen, _| full(200, &[], "a,b\n1,2\n3,4\n"))).await;
    let elsewhere = format!("{}/cdn/blob", other.base);
    let f = fake(Arc::new(move |req: &Seen, _| {
        if req.path.contains("moved.csv") {
            full(302, &[("location", elsewhere.as_str())], "")
        } else {
            full(
                200,
                &[("x-repo-commit", "c0ffee"), ("etag", "\"e1\"")],
                "x,y\n1,2\n",
            )
        }
    }))
    .await;
    let cache = tempfile::tempdir().expect("tmp");
    let hub = HubFinder::new(cfg(&f.base, cache.path()));
    let bus = EventBus::default();
    let snap = hub
        .download(
            "o/d",
            &["data/train.csv".into(), "moved.csv".into()],
            &cx(&bus),
        )
        .await
        .expect("downloaded");
    assert!(
        snap.ends_with("datasets--o--d/snapshots/c0ffee"),
        "{snap:?}"
    );
    assert_eq!(
        std::fs::read_to_string(snap.join("data/train.csv")).expect("file"),
        "x,y\n1,2\n"
    );
    assert_eq!(
        std::fs::read_to_string(snap.join("moved.csv")).expect("file"),
        "a,b\n1,2\n3,4\n"
    );
    let ours = f.seen();
    assert!(ours.iter().all(|r| r.header("range").is_none()), "{ours:?}");
    assert!(
        ours.iter()
            .all(|r| r.header("authorization") == Some("Bearer hf_secret")),
        "{ours:?}"
    );
    let theirs = other.seen();
    assert_eq!(theirs.len(), 1);
    assert_eq!(theirs[0].header("authorization"), None, "{theirs:?}");
}

#[tokio::test]
async fn a_link_to_another_host_is_not_followed_and_gets_no_token() {
    let other = fake(Arc::new(|_: &Seen, _| full(200, &[], "[]"))).await;
    let next = format!("<{}/api/datasets?cursor=2>; rel=\"next\"", other.base);
    let page = json!([dataset(
        "acme/cats-vs-dogs",
        &["image-classification"],
        "cat and dog photos",
        &["README.md"]
    )])
    .to_string();
    let f = fake(Arc::new(move |_: &Seen, _| {
        full(200, &[("link", next.as_str())], page.clone())
    }))
    .await;
    let cache = tempfile::tempdir().expect("tmp");
    let hub = HubFinder::new(cfg(&f.base, cache.path()));
    let bus = EventBus::default();
    let found = hub
        .search("cat dog", Some("image-classification"), &cx(&bus))
        .await
        .expect("search");
    assert_eq!(found.len(), 1);
    assert!(other.seen().is_empty(), "{:?}", other.seen());
    assert_eq!(
        f.seen()[0].header("authorization"),
        Some("Bearer hf_secret")
    );
    let w = warnings(&bus);
    assert_eq!(w.len(), 1, "{w:?}");
    assert_eq!(w[0].0, "hub_link_ignored");
    assert!(!w[0].1.contains("hf_secret"));
}

#[tokio::test]
async fn throttling_and_server_errors_are_retried_and_announced() {
    // 429 with Retry-After, then 503, then the answer.
    let f = fake(Arc::new(|_: &Seen, n| match n {
        1 => full(429, &[("retry-after", "0.2")], "slow down"),
        2 => full(503, &[], "busy"),
        _ => full(200, &[], "[]"),
    }))
    .await;
    let cache = tempfile::tempdir().expect("tmp");
    let hub = HubFinder::new(cfg(&f.base, cache.path()));
    let bus = EventBus::default();
    let t = Instant::now();
    let found = hub.search("x", None, &cx(&bus)).await.expect("search");
    assert!(found.is_empty());
    assert!(
        t.elapsed() >= Duration::from_millis(200),
        "Retry-After waited"
    );
    let w = warnings(&bus);
    assert_eq!(w.len(), 2, "{w:?}");
    assert!(w.iter().all(|(c, _)| c == "hub_retry"));
    assert!(
        w[0].1.contains("HTTP 429") && w[0].1.contains("Retry-After"),
        "{w:?}"
    );
    assert!(w[1].1.contains("HTTP 503"), "{w:?}");

    // A Retry-After longer than the stage waits ends the step at once, typed.
    let f = fake(Arc::new(|_: &Seen, _| {
        full(429, &[("retry-after", "3600")], "come back in an hour")
    }))
    .await;
    let hub = HubFinder::new(cfg(&f.base, cache.path()));
    let t = Instant::now();
    let r = hub.search("x", None, &cx(&EventBus::default())).await;
    assert!(t.elapsed() < Duration::from_secs(1));
    match r {
        Err(AutomlError::Hub {
            problem:
                HubProblem::RetryTooLate {
                    status,
                    retry_after_s,
                },
            ..
        }) => assert_eq!((status, retry_after_s), (429, 3600.0)),
        other => panic!("{other:?}"),
    }

    // The same in Retry-After's other form, an HTTP date an hour ahead.
    let date = (chrono::Utc::now() + chrono::Duration::hours(1))
        .format("%a, %d %b %Y %H:%M:%S GMT")
        .to_string();
    let f = fake(Arc::new(move |_: &Seen, _| {
        full(
            429,
            &[("retry-after", date.as_str())],
            "come back in an hour",
        )
    }))
    .await;
    let hub = HubFinder::new(cfg(&f.base, cache.path()));
    match hub.search("x", None, &cx(&EventBus::default())).await {
        Err(AutomlError::Hub {
            problem: HubProblem::RetryTooLate { retry_after_s, .. },
            ..
        }) => assert!(
            (3590.0..=3600.0).contains(&retry_after_s),
            "{retry_after_s}"
        ),
        other => panic!("{other:?}"),
    }

    // A Hub that keeps failing: the chain says so and falls back to the catalog.
    let f = fake(Arc::new(|_: &Seen, _| full(500, &[], "down"))).await;
    let chain = FinderChain::new()
        .step(
            "hub",
            "the fake Hub",
            Arc::new(HubFinder::new(cfg(&f.base, cache.path()))),
        )
        .step(
            "catalog",
            "the bundled catalog",
            Arc::new(CatalogFinder::new(Some(catalog()))),
        );
    let bus = EventBus::default();
    let choice = chain
        .run(
            DatasetQuery {
                intent: parse("classify iris species"),
                data: None,
                allow_restricted: false,
            },
            &cx(&bus),
        )
        .await
        .expect("chain");
    assert_eq!(choice.chosen.expect("catalog").id, "iris");
    let codes: Vec<String> = warnings(&bus).into_iter().map(|w| w.0).collect();
    assert_eq!(
        codes,
        ["hub_retry", "hub_retry", "hub_retry", "hub_unavailable"],
        "{:?}",
        warnings(&bus)
    );
    assert_eq!(f.seen().len(), 4, "one try and three retries");
}

#[tokio::test]
async fn search_answers_are_cached_on_disk_with_their_age() {
    let page = json!([dataset(
        "a/b",
        &["image-classification"],
        "x",
        &["README.md"]
    )])
    .to_string();
    let f = fake(Arc::new(move |_: &Seen, _| full(200, &[], page.clone()))).await;
    let cache = tempfile::tempdir().expect("tmp");
    let hub = HubFinder::new(cfg(&f.base, cache.path()));
    let bus = EventBus::default();
    assert_eq!(hub.search("b", None, &cx(&bus)).await.expect("1").len(), 1);
    assert_eq!(hub.search("b", None, &cx(&bus)).await.expect("2").len(), 1);
    assert_eq!(f.seen().len(), 1, "the second search came from the cache");
    let from_cache = bus.history("p").into_iter().any(|e| {
        matches!(e.event, Event::StageStatus(s) if s.status == StageStatus::Running
            && s.message.contains("from the cache (0 min old"))
    });
    assert!(from_cache);
    let files: Vec<_> = std::fs::read_dir(cache.path().join("automl-search"))
        .expect("cache folder")
        .flatten()
        .collect();
    assert_eq!(files.len(), 1);
    // A zero TTL asks the Hub every time.
    let mut c = cfg(&f.base, cache.path());
    c.search_ttl = Duration::ZERO;
    let hub = HubFinder::new(c);
    hub.search("b", None, &cx(&bus)).await.expect("3");
    assert_eq!(f.seen().len(), 2);
}

#[tokio::test]
async fn offline_is_detected_fast_and_the_catalog_serves() {
    // An address nothing answers on (TEST-NET-1, RFC 5737): dropped or refused, it must not
    // cost more than the probe's limit.
    let cache = tempfile::tempdir().expect("tmp");
    let mut c = cfg("http://192.0.2.1:81", cache.path());
    c.probe_timeout = Duration::from_millis(1500);
    let chain = FinderChain::new()
        .step("hub", "the Hub", Arc::new(HubFinder::new(c)))
        .step(
            "catalog",
            "the bundled catalog",
            Arc::new(CatalogFinder::new(Some(catalog()))),
        );
    let bus = EventBus::default();
    let t = Instant::now();
    let choice = chain
        .run(
            DatasetQuery {
                intent: parse("classify iris species"),
                data: None,
                allow_restricted: false,
            },
            &cx(&bus),
        )
        .await
        .expect("chain");
    let took = t.elapsed();
    assert!(took < Duration::from_secs(2), "{took:?}");
    assert_eq!(choice.chosen.expect("catalog").id, "iris");
    let w = warnings(&bus);
    assert_eq!(w[0].0, "hub_unavailable", "{w:?}");
    assert!(w[0].1.contains("offline"), "{w:?}");
    println!("offline detection took {took:?}");

    // --offline / HF_HUB_OFFLINE skip it before any probe.
    match HubConfig::from_env_or_offline(Some("offline (--offline)")) {
        HubSetting::Disabled(why) => assert!(why.contains("--offline")),
        HubSetting::Enabled(_) => panic!("--offline must disable the Hub"),
    }
}

#[tokio::test]
async fn hub_results_about_another_subject_are_not_chosen() {
    // The search finds a price data set, but it is about diamonds, not houses.
    let page = json!([dataset(
        "gems/diamond-prices",
        &["tabular-regression"],
        "Prices of round-cut diamonds by carat and clarity",
        &["README.md", "diamonds.csv"]
    )])
    .to_string();
    let f = fake(Arc::new(move |_: &Seen, _| full(200, &[], page.clone()))).await;
    let cache = tempfile::tempdir().expect("tmp");
    let hub = HubFinder::new(cfg(&f.base, cache.path()));
    let bus = EventBus::default();
    let choice = hub
        .run(
            DatasetQuery {
                intent: parse("predict house prices"),
                data: None,
                allow_restricted: false,
            },
            &cx(&bus),
        )
        .await
        .expect("finder");
    assert!(choice.chosen.is_none());
    let why = choice.why_none.expect("why");
    assert!(
        why.contains("not about house") && why.contains("gems/diamond-prices"),
        "{why}"
    );
    // Nothing was downloaded.
    assert!(f.seen().iter().all(|r| r.path.starts_with("/api/datasets")));
}
