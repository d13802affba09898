//! The object store of `--store` (decision 0090) without any service: URLs, a run folder's
//! round trip through a folder store, an unreachable S3 endpoint. The S3 path against a real
//! server is in scale_redis.rs (moto_server).

use std::time::Duration;

use automl_core::event::Envelope;
use automl_server::scale::{ArtifactStore, StoreError};
use futures::StreamExt;

#[test]
fn urls_are_checked_and_typed() {
    for (url, needle) in [
        ("s3://", "no bucket"),
        ("s3:///x", "no bucket"),
        ("file://relative/dir", "absolute path"),
        ("gs://bucket/x", "unsupported scheme"),
        ("", "empty"),
    ] {
        let err = ArtifactStore::open_with(url, Vec::new()).expect_err(url);
        assert!(matches!(err, StoreError::BadUrl { .. }), "{url}: {err}");
        assert!(err.to_string().contains(needle), "{url}: {err}");
    }
    let s3 = ArtifactStore::open_with(
        "s3://bucket/a/b/",
        [("AWS_REGION".to_string(), "us-east-1".to_string())],
    )
    .expect("s3 url");
    assert_eq!(
        s3.key("p1", "model.json").to_string(),
        "a/b/projects/p1/model.json"
    );
}

#[tokio::test]
async fn an_unreachable_s3_store_is_a_typed_error_naming_it() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("port");
    let vars = [
        ("AWS_ENDPOINT_URL", format!("http://127.0.0.1:{port}")),
        ("AWS_ALLOW_HTTP", "true".into()),
        ("AWS_REGION", "us-east-1".into()),
        ("AWS_ACCESS_KEY_ID", "k".into()),
        ("AWS_SECRET_ACCESS_KEY", "s".into()),
    ]
    .map(|(k, v)| (k.to_string(), v));
    let store = ArtifactStore::open_with("s3://b/p", vars).expect("opens without I/O");
    let t = std::time::Instant::now();
    let err = store.check().await.expect_err("nothing listens there");
    assert!(matches!(err, StoreError::Unavailable { .. }), "{err}");
    assert!(err.to_string().contains("s3://b/p"), "{err}");
    assert!(
        t.elapsed() < Duration::from_secs(30),
        "a few retries, not minutes"
    );
    assert!(matches!(
        store.get("x", "model.json").await.err(),
        Some(StoreError::Unavailable { .. })
    ));
}

#[tokio::test]
async fn a_run_folder_round_trips_through_a_local_store() {
    let root = tempfile::tempdir().expect("tmp");
    let run = tempfile::tempdir().expect("tmp");
    std::fs::write(run.path().join("model.json"), b"{\"m\":1}").expect("write");
    std::fs::write(run.path().join(".events.jsonl.reserve"), b"x").expect("write");
    std::fs::write(run.path().join("events.jsonl"), b"partial").expect("write");
    std::fs::create_dir(run.path().join("export")).expect("dir");
    std::fs::write(run.path().join("export/a.bin"), vec![7u8; 300 << 10]).expect("write");
    let url = format!("file://{}", root.path().join("store").display());
    let store = ArtifactStore::open(&url).expect("local store");
    store.check().await.expect("reachable");
    assert!(store.archived_log("p").await.expect("get").is_none());
    let log = vec![Envelope {
        kind: "event".into(),
        project_id: "p".into(),
        seq: 1,
        ts: "2026-01-01T00:00:00.000Z".into(),
        event: automl_core::Event::warning("t", "w"),
    }];
    let n = store
        .archive_run("p", Some(run.path()), &log)
        .await
        .expect("archived");
    assert_eq!(
        n, 3,
        "model.json, export/a.bin, events.jsonl; not the hidden file"
    );
    let (size, mut s) = store.get("p", "export/a.bin").await.expect("get");
    assert_eq!(size, 300 << 10);
    let mut got = Vec::new();
    while let Some(chunk) = s.next().await {
        got.extend_from_slice(&chunk.expect("chunk"));
    }
    assert_eq!(got, vec![7u8; 300 << 10]);
    let archived = store.archived_log("p").await.expect("get").expect("some");
    assert_eq!(
        String::from_utf8(archived).expect("utf8"),
        format!("{}\n", log[0].to_json_line()),
        "the bus's log, not the local partial file"
    );
    assert!(matches!(
        store.get("p", "nope.json").await.err(),
        Some(StoreError::NotFound { .. })
    ));
    assert!(
        root.path().join("store/projects/p/model.json").is_file(),
        "laid out as projects/<id>/<file>"
    );
}
