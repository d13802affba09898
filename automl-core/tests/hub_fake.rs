//! The Hub finder and the DATA_SOURCE fallback chain against a local fake Hub on 127.0.0.1
//! that speaks `/api/datasets` (licences in cardData and tags, `other`, missing, a gated set,
//! Link-header pagination, 429, a slow answer), `/resolve/` file downloads (Range is never sent), and the
//! dataset viewer's `/first-rows`.
#![cfg(feature = "hub")]

use std::collections::HashMap;
use std::path::{Path as FsPath, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use automl_core::EventBus;
use automl_core::agents::finders::DatasetQuery;
use automl_core::agents::finders::FinderChain;
use automl_core::agents::finders::catalog::CatalogFinder;
use automl_core::agents::finders::hfcache::HfCacheFinder;
use automl_core::agents::finders::hub::{HubConfig, HubFinder};
use automl_core::agents::parser::parse;
use automl_core::agents::{Agent, RunSettings, StageContext};
use automl_core::event::{Event, StageStatus};
use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

const SHA: &str = "0123456789abcdef0123456789abcdef01234567";

#[derive(Clone)]
struct Hub {
    base: Arc<std::sync::OnceLock<String>>,
    searches: Arc<AtomicUsize>,
    /// Answer the first N searches with 429.
    throttle: usize,
    /// Sleep this long before every search answer.
    delay: Duration,
    files: Arc<HashMap<String, Vec<u8>>>,
}

fn image_bytes() -> HashMap<String, Vec<u8>> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../datasets/images/cats_dogs");
    let mut out = HashMap::new();
    for class in ["cat", "dog"] {
        let mut files: Vec<PathBuf> = std::fs::read_dir(dir.join(class))
            .map(|r| r.flatten().map(|e| e.path()).collect())
            .unwrap_or_default();
        files.sort();
        for (i, f) in files.iter().take(3).enumerate() {
            let bytes = std::fs::read(f).expect("read image");
            out.insert(format!("train/{class}/{class}_{i}.jpg"), bytes);
        }
    }
    out.insert(
        "README.md".to_string(),
        b"---\nlicense: mit\ntask_categories:\n- image-classification\npretty_name: Cats vs dogs\nsize_categories:\n- n<1K\n---\n# Cats vs dogs\nPet photos.\n"
            .to_vec(),
    );
    out
}

fn ds(id: &str, downloads: u64, card: Value, tags: &[&str], gated: Value, files: &[&str]) -> Value {
    let mut t: Vec<String> = tags.iter().map(|s| s.to_string()).collect();
    t.push("task_categories:image-classification".to_string());
    t.push("modality:image".to_string());
    t.push("size_categories:1K<n<10K".to_string());
    json!({
        "_id": format!("id-{id}"),
        "id": id,
        "author": id.split('/').next(),
        "sha": SHA,
        "lastModified": "2024-05-01T10:00:00.000Z",
        "private": false,
        "gated": gated,
        "disabled": false,
        "downloads": downloads,
        "likes": downloads / 100,
        "tags": t,
        "cardData": card,
        "siblings": files.iter().map(|f| json!({"rfilename": f})).collect::<Vec<_>>(),
        "createdAt": "2023-01-01T00:00:00.000Z",
        "description": "Photos of cats and dogs"
    })
}

fn page(n: u32) -> Vec<Value> {
    let all_files: Vec<&str> = vec![
        "README.md",
        "train/cat/cat_0.jpg",
        "train/cat/cat_1.jpg",
        "train/cat/cat_2.jpg",
        "train/dog/dog_0.jpg",
        "train/dog/dog_1.jpg",
        "train/dog/dog_2.jpg",
    ];
    let f = &all_files[..];
    if n == 1 {
        vec![
            ds(
                "acme/cats-vs-dogs",
                90_000,
                json!({"license": "mit", "task_categories": ["image-classification"]}),
                &["license:mit"],
                json!(false),
                f,
            ),
            ds(
                "gnu/cat-dog-photos",
                80_000,
                json!({"license": "gpl-3.0"}),
                &["license:gpl-3.0"],
                json!(false),
                f,
            ),
            ds(
                "zoo/cat-and-dog-pets",
                40_000,
                json!({}),
                &["license:cc-by-4.0"],
                json!(false),
                f,
            ),
            ds(
                "misc/cat-dog-other",
                30_000,
                json!({"license": "other", "license_name": "custom"}),
                &["license:other"],
                json!(false),
                f,
            ),
            ds(
                "lab/cat-dog-gated",
                25_000,
                json!({"license": "apache-2.0"}),
                &["license:apache-2.0"],
                json!("manual"),
                f,
            ),
        ]
    } else {
        vec![
            ds(
                "anon/cat-dog-nolicence",
                20_000,
                json!({}),
                &[],
                json!(false),
                f,
            ),
            ds(
                "uni/catdog-apache",
                500,
                json!({"license": ["apache-2.0"]}),
                &[],
                json!(false),
                f,
            ),
            ds(
                "parquet/cat-dog-parquet",
                10,
                json!({"license": "cc0-1.0"}),
                &[],
                json!(false),
                &["README.md", "data/train-00000.parquet"],
            ),
        ]
    }
}

async fn search(State(h): State<Hub>, Query(q): Query<HashMap<String, String>>) -> Response {
    let n = h.searches.fetch_add(1, Ordering::SeqCst) + 1;
    if !h.delay.is_zero() {
        tokio::time::sleep(h.delay).await;
    }
    if n <= h.throttle {
        let mut hm = HeaderMap::new();
        hm.insert("retry-after", "0".parse().expect("header"));
        return (StatusCode::TOO_MANY_REQUESTS, hm, "rate limited").into_response();
    }
    if q.get("sort").map(String::as_str) != Some("downloads")
        || q.get("full").map(String::as_str) != Some("true")
        || q.get("filter").map(String::as_str) != Some("task_categories:image-classification")
    {
        return (StatusCode::BAD_REQUEST, format!("unexpected query {q:?}")).into_response();
    }
    let terms: Vec<String> = q
        .get("search")
        .map(|s| s.split_whitespace().map(str::to_lowercase).collect())
        .unwrap_or_default();
    let p: u32 = q.get("cursor").and_then(|c| c.parse().ok()).unwrap_or(1);
    let items: Vec<Value> = page(p)
        .into_iter()
        .filter(|d| {
            let id = d["id"].as_str().unwrap_or("").to_lowercase();
            terms.iter().all(|t| id.contains(t.as_str()))
        })
        .collect();
    let mut hm = HeaderMap::new();
    if p == 1 {
        let base = h.base.get().cloned().unwrap_or_default();
        let next = format!(
            "<{base}/api/datasets?search={}&filter=task_categories%3Aimage-classification&sort=downloads&direction=-1&limit=5&full=true&cursor=2>; rel=\"next\"",
            terms.join("+")
        );
        hm.insert("link", next.parse().expect("link header"));
    }
    (hm, Json(items)).into_response()
}

async fn resolve(
    State(h): State<Hub>,
    Path((_owner, _name, _rev, file)): Path<(String, String, String, String)>,
    headers: HeaderMap,
) -> Response {
    let Some(bytes) = h.files.get(&file) else {
        return (StatusCode::NOT_FOUND, "Entry not found").into_response();
    };
    let len = bytes.len();
    let (start, end) = headers
        .get("range")
        .and_then(|v| v.to_str().ok())
        .and_then(|r| r.strip_prefix("bytes="))
        .and_then(|r| r.split_once('-'))
        .and_then(|(a, b)| Some((a.parse::<usize>().ok()?, b.parse::<usize>().ok()?)))
        .unwrap_or((0, len - 1));
    let end = end.min(len - 1);
    let mut hm = HeaderMap::new();
    hm.insert("x-repo-commit", SHA.parse().expect("h"));
    let etag = format!("\"{:016x}{}\"", len, file.len());
    hm.insert("etag", etag.parse().expect("h"));
    hm.insert(
        "content-range",
        format!("bytes {start}-{end}/{len}").parse().expect("h"),
    );
    (StatusCode::PARTIAL_CONTENT, hm, bytes[start..=end].to_vec()).into_response()
}

async fn first_rows(Query(q): Query<HashMap<String, String>>) -> Response {
    let id = q.get("dataset").cloned().unwrap_or_default();
    if id != "acme/cats-vs-dogs" {
        return (StatusCode::NOT_FOUND, Json(json!({"error": "not found"}))).into_response();
    }
    Json(json!({
        "dataset": id, "config": "default", "split": "train",
        "features": [
            {"feature_idx": 0, "name": "image", "type": {"_type": "Image"}},
            {"feature_idx": 1, "name": "label", "type": {"_type": "ClassLabel", "names": ["cat", "dog"]}}
        ],
        "rows": [
            {"row_idx": 0, "row": {"image": {"src": "https://example.invalid/0.jpg", "height": 96, "width": 96}, "label": 0}, "truncated_cells": []},
            {"row_idx": 1, "row": {"image": {"src": "https://example.invalid/1.jpg", "height": 96, "width": 96}, "label": 1}, "truncated_cells": []}
        ],
        "truncated": false
    }))
    .into_response()
}

async fn start(throttle: usize, delay: Duration) -> (String, Arc<AtomicUsize>) {
    let hub = Hub {
        base: Arc::new(std::sync::OnceLock::new()),
        searches: Arc::new(AtomicUsize::new(0)),
        throttle,
        delay,
        files: Arc::new(image_bytes()),
    };
    let searches = hub.searches.clone();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    hub.base.set(base.clone()).expect("once");
    let app = axum::Router::new()
        .route("/api/datasets", get(search))
        .route(
            "/datasets/{owner}/{name}/resolve/{rev}/{*file}",
            get(resolve),
        )
        .route("/first-rows", get(first_rows))
        .with_state(hub);
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (base, searches)
}

fn config(base: &str, cache: &FsPath) -> HubConfig {
    let mut c = HubConfig::new(base, cache);
    c.timeout = Duration::from_millis(700);
    c.backoff = Duration::from_millis(10);
    c.page_limit = 5;
    c
}

fn catalog() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../datasets")
}

fn cx(bus: &EventBus) -> StageContext {
    StageContext {
        emitter: bus.emitter("p-hub"),
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

fn query() -> DatasetQuery {
    DatasetQuery {
        intent: parse("Build a cat/dog classifier"),
        data: None,
        allow_restricted: false,
    }
}

fn chain(hub: Option<HubConfig>, cache: &FsPath) -> FinderChain {
    let c = FinderChain::new();
    let c = match hub {
        Some(cfg) => c.step("hub", "the fake Hub", Arc::new(HubFinder::new(cfg))),
        None => c.skipped("hub", "the Hub", "not configured"),
    };
    c.step(
        "hf_cache",
        "the local HF cache",
        Arc::new(HfCacheFinder::new(Some(cache.to_path_buf()))),
    )
    .step(
        "catalog",
        "the bundled catalog",
        Arc::new(CatalogFinder::new(Some(catalog()))),
    )
}

fn warnings(bus: &EventBus) -> Vec<(String, String)> {
    bus.history("p-hub")
        .into_iter()
        .filter_map(|e| match e.event {
            Event::Warning(w) => Some((w.code, w.message)),
            _ => None,
        })
        .collect()
}

fn stage_messages(bus: &EventBus) -> Vec<String> {
    bus.history("p-hub")
        .into_iter()
        .filter_map(|e| match e.event {
            Event::StageStatus(s) if s.status == StageStatus::Running => Some(s.message),
            _ => None,
        })
        .collect()
}

/// A Hub address where nothing listens. Port 1 lies below the ephemeral range, so no fake
/// server of a test running beside this one is ever given it; a port taken with `:0` and
/// dropped again was (twice in one CI run): the "dead" Hub answered another test's requests.
const DEAD_HUB: &str = "http://127.0.0.1:1";

#[tokio::test]
async fn cat_dog_from_the_hub_top3_allowed_rejections_and_cache_layout() {
    let (base, searches) = start(1, Duration::ZERO).await;
    let cache = tempfile::tempdir().expect("tmp");
    let bus = EventBus::default();
    let choice = chain(Some(config(&base, cache.path())), cache.path())
        .run(query(), &cx(&bus))
        .await
        .expect("finder");
    // one 429, then page 1 and page 2 (Link header)
    assert_eq!(searches.load(Ordering::SeqCst), 3);
    let ids: Vec<&str> = choice.candidates.iter().map(|c| c.id.as_str()).collect();
    assert_eq!(
        ids,
        [
            "acme/cats-vs-dogs",
            "zoo/cat-and-dog-pets",
            "uni/catdog-apache"
        ]
    );
    assert!(
        choice
            .candidates
            .iter()
            .all(|c| c.verdict == "allowed" && c.source == "hub")
    );
    assert!(choice.candidates[1].reason.contains("license: tags"));
    let rej: HashMap<&str, &str> = choice
        .rejected
        .iter()
        .map(|r| (r.id.as_str(), r.reason.as_str()))
        .collect();
    assert!(rej["gnu/cat-dog-photos"].contains("GPL"), "{rej:?}");
    assert!(rej["misc/cat-dog-other"].contains("\"other\""), "{rej:?}");
    assert!(
        rej["anon/cat-dog-nolicence"].contains("no licence"),
        "{rej:?}"
    );
    assert!(rej["lab/cat-dog-gated"].contains("gated"), "{rej:?}");
    assert!(choice.rejected.iter().all(|r| r.verdict == "rejected"));
    let chosen = choice.chosen.expect("chosen");
    assert_eq!(chosen.id, "acme/cats-vs-dogs");
    assert_eq!(chosen.source, "hub");
    assert!(chosen.evidence.contains("cardData.license"));
    // The standard HF cache layout.
    let repo = cache.path().join("datasets--acme--cats-vs-dogs");
    assert_eq!(
        std::fs::read_to_string(repo.join("refs/main"))
            .expect("ref")
            .trim(),
        SHA
    );
    let snap = repo.join("snapshots").join(SHA);
    assert_eq!(chosen.path, snap.join("train"));
    assert!(snap.join("README.md").is_file());
    assert!(snap.join("train/cat/cat_0.jpg").is_file());
    assert!(snap.join("train/dog/dog_2.jpg").is_file());
    assert!(
        std::fs::read_dir(repo.join("blobs"))
            .expect("blobs")
            .count()
            >= 7
    );
    let want = image_bytes();
    assert_eq!(
        std::fs::read(snap.join("train/dog/dog_1.jpg")).expect("read"),
        want["train/dog/dog_1.jpg"]
    );
    let data = automl_core::data::load(&chosen.path).expect("loadable");
    assert!(
        matches!(data, automl_core::data::Dataset::Images(f) if f.classes == ["cat", "dog"] && f.files.len() == 6)
    );
    // preview from the viewer API
    let preview = bus
        .history("p-hub")
        .into_iter()
        .find_map(|e| match e.event {
            Event::DatasetSampleReady(p) => Some(p),
            _ => None,
        });
    let preview = preview.expect("preview");
    assert_eq!(preview.images.len(), 2);
    assert_eq!(preview.columns[1].name, "label");
    // The one 429 was retried and announced; nothing else went wrong.
    let w = warnings(&bus);
    assert_eq!(w.len(), 1, "{w:?}");
    assert_eq!(w[0].0, "hub_retry");
    assert!(w[0].1.contains("HTTP 429"), "{w:?}");

    // Hub down now: the same prompt is served from the cache.
    let dead = DEAD_HUB;
    let bus2 = EventBus::default();
    let choice = chain(Some(config(dead, cache.path())), cache.path())
        .run(query(), &cx(&bus2))
        .await
        .expect("finder");
    let chosen = choice.chosen.expect("from cache");
    assert_eq!(chosen.source, "cache");
    assert_eq!(chosen.id, "acme/cats-vs-dogs");
    assert_eq!(chosen.license.license, "MIT");
    let w = warnings(&bus2);
    assert_eq!(w.len(), 1, "{w:?}");
    assert_eq!(w[0].0, "hub_unavailable");
}

#[tokio::test]
async fn hub_down_and_empty_cache_falls_back_to_the_catalog() {
    let dead = DEAD_HUB;
    let cache = tempfile::tempdir().expect("tmp");
    let bus = EventBus::default();
    let t = std::time::Instant::now();
    let choice = chain(Some(config(dead, cache.path())), cache.path())
        .run(query(), &cx(&bus))
        .await
        .expect("finder");
    assert!(t.elapsed() < Duration::from_secs(5));
    let chosen = choice.chosen.expect("catalog");
    assert_eq!(chosen.source, "catalog");
    assert_eq!(chosen.id, "cats_dogs");
    let codes: Vec<String> = warnings(&bus).into_iter().map(|w| w.0).collect();
    assert_eq!(codes, ["hub_unavailable", "hf_cache_no_dataset"]);
    let msgs = stage_messages(&bus);
    assert!(
        msgs.iter()
            .any(|m| m.contains("step 1/3: searching the fake Hub"))
    );
    assert!(
        msgs.iter()
            .any(|m| m.contains("step 3/3: searching the bundled catalog"))
    );
}

#[tokio::test]
async fn slow_hub_times_out_and_falls_back() {
    let (base, _) = start(0, Duration::from_secs(3)).await;
    let cache = tempfile::tempdir().expect("tmp");
    let bus = EventBus::default();
    let choice = chain(Some(config(&base, cache.path())), cache.path())
        .run(query(), &cx(&bus))
        .await
        .expect("finder");
    assert_eq!(choice.chosen.expect("catalog").source, "catalog");
    let w = warnings(&bus);
    assert_eq!(w[0].0, "hub_unavailable");
    assert!(w[0].1.contains("did not answer within"), "{w:?}");
}

#[tokio::test]
async fn unconfigured_hub_is_skipped_and_announced() {
    let cache = tempfile::tempdir().expect("tmp");
    let bus = EventBus::default();
    let choice = chain(None, cache.path())
        .run(query(), &cx(&bus))
        .await
        .expect("finder");
    assert_eq!(choice.chosen.expect("catalog").id, "cats_dogs");
    assert!(
        stage_messages(&bus)
            .iter()
            .any(|m| m.contains("skipping the Hub: not configured"))
    );
}

#[tokio::test]
async fn nothing_allowed_anywhere_asks_for_an_upload() {
    let cache = tempfile::tempdir().expect("tmp");
    let bus = EventBus::default();
    let q = DatasetQuery {
        intent: parse("classify bird calls from audio recordings"),
        data: None,
        allow_restricted: false,
    };
    let choice = chain(None, cache.path())
        .run(q, &cx(&bus))
        .await
        .expect("finder");
    assert!(choice.chosen.is_none());
    assert!(choice.why_none.expect("why").contains("upload"));
    assert_eq!(warnings(&bus).last().expect("warning").0, "upload_needed");
}
