//! Artifacts in an object store (decision 0090), through the `object_store` crate.
//!
//! `--store URL` (or `AUTOML_STORE`) on `automl serve` and `automl worker`:
//!
//! * `file:///dir` or a plain path: a folder (a disk every process mounts);
//! * `s3://bucket/prefix`: S3 or an S3-compatible server, configured by the usual `AWS_*`
//!   environment variables (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_REGION`,
//!   `AWS_ENDPOINT_URL`, `AWS_ALLOW_HTTP`...).
//!
//! A run's folder lands under `<prefix>/projects/<id>/<file>` once the run has ended (finished,
//! failed or cancelled); its `events.jsonl` is written last and is the project's archived event
//! log, so the presence of that object means "the whole folder is there". Servers serve the
//! artifact route from the store, streamed, so any server serves any project's files.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use automl_core::event::Envelope;
use futures::StreamExt;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The archived event log's name in a project's folder.
pub const ARCHIVED_LOG: &str = "events.jsonl";

/// Why the object store refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// `--store` is not a URL the server knows how to open.
    #[error("bad store URL {url:?}: {message}")]
    BadUrl {
        /// The URL as given.
        url: String,
        /// What is wrong with it.
        message: String,
    },
    /// The store cannot be reached or failed the request.
    #[error("object store {url} unavailable: {message}")]
    Unavailable {
        /// The store's URL.
        url: String,
        /// The cause.
        message: String,
    },
    /// No such object.
    #[error("{key} not found in the object store {url}")]
    NotFound {
        /// The store's URL.
        url: String,
        /// The object's key.
        key: String,
    },
    /// A local file to archive cannot be read.
    #[error("cannot read {path}: {source}")]
    Local {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
}

/// Where run folders are kept for every process: a folder or an S3 bucket.
#[derive(Clone)]
pub struct ArtifactStore {
    store: Arc<dyn ObjectStore>,
    /// Key parts before `projects/` (the `prefix` of `s3://bucket/prefix`).
    prefix: Vec<String>,
    url: String,
}

impl std::fmt::Debug for ArtifactStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ArtifactStore")
            .field("url", &self.url)
            .finish()
    }
}

/// Retries of one request before the store counts as unavailable: a few, within seconds, not
/// the crate's default of ten over three minutes (a download would hang that long).
fn retry() -> object_store::RetryConfig {
    object_store::RetryConfig {
        backoff: object_store::BackoffConfig::default(),
        max_retries: 3,
        retry_timeout: Duration::from_secs(15),
    }
}

impl ArtifactStore {
    /// Opens `url`; an S3 store is configured by this process's `AWS_*` environment variables.
    pub fn open(url: &str) -> Result<Self, StoreError> {
        Self::open_with(url, std::env::vars())
    }

    /// Opens `url` with `vars` in place of the environment (the `AWS_*` ones are read).
    pub fn open_with(
        url: &str,
        vars: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, StoreError> {
        let bad = |message: String| StoreError::BadUrl {
            url: url.to_string(),
            message,
        };
        if let Some(rest) = url.strip_prefix("s3://") {
            let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
            if bucket.is_empty() {
                return Err(bad("no bucket: use s3://bucket/prefix".into()));
            }
            let mut builder = object_store::aws::AmazonS3Builder::new();
            for (k, v) in vars {
                if k.starts_with("AWS_")
                    && let Ok(key) = k.to_ascii_lowercase().parse()
                {
                    builder = builder.with_config(key, v);
                }
            }
            let s3 = builder
                .with_bucket_name(bucket)
                .with_retry(retry())
                .build()
                .map_err(|e| bad(e.to_string()))?;
            return Ok(Self {
                store: Arc::new(s3),
                prefix: parts(prefix),
                url: url.to_string(),
            });
        }
        let dir = match url.strip_prefix("file://") {
            Some(p) if p.starts_with('/') => PathBuf::from(p),
            Some(_) => return Err(bad("a file URL needs an absolute path: file:///dir".into())),
            None if url.contains("://") => {
                return Err(bad(
                    "unsupported scheme: use file:///dir, a folder path, or s3://bucket/prefix"
                        .into(),
                ));
            }
            None if url.trim().is_empty() => return Err(bad("empty".into())),
            None => PathBuf::from(url),
        };
        std::fs::create_dir_all(&dir)
            .map_err(|e| bad(format!("cannot create {}: {e}", dir.display())))?;
        let fs = object_store::local::LocalFileSystem::new_with_prefix(&dir)
            .map_err(|e| bad(e.to_string()))?;
        Ok(Self {
            store: Arc::new(fs),
            prefix: Vec::new(),
            url: url.to_string(),
        })
    }

    /// The URL it was opened with.
    pub fn url(&self) -> &str {
        &self.url
    }

    fn unavailable(&self, e: impl std::fmt::Display) -> StoreError {
        StoreError::Unavailable {
            url: self.url.clone(),
            message: e.to_string(),
        }
    }

    fn map(&self, key: &ObjectPath, e: object_store::Error) -> StoreError {
        match e {
            object_store::Error::NotFound { .. } => StoreError::NotFound {
                url: self.url.clone(),
                key: key.to_string(),
            },
            other => self.unavailable(other),
        }
    }

    /// `<prefix>/projects/<project>/<rel>` (`rel` split on `/`).
    pub fn key(&self, project: &str, rel: &str) -> ObjectPath {
        ObjectPath::from_iter(
            self.prefix
                .iter()
                .map(String::as_str)
                .chain(["projects", project])
                .chain(rel.split('/').filter(|p| !p.is_empty())),
        )
    }

    /// Asks the store for an object that need not exist: `Ok` when it answers at all (a
    /// server or worker refuses to start on a store it cannot reach).
    pub async fn check(&self) -> Result<(), StoreError> {
        let key = self.key(".probe", "none");
        match self.store.head(&key).await {
            Ok(_) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(self.unavailable(e)),
        }
    }

    /// True when `project`/`rel` exists.
    pub async fn has(&self, project: &str, rel: &str) -> Result<bool, StoreError> {
        let key = self.key(project, rel);
        match self.store.head(&key).await {
            Ok(_) => Ok(true),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(e) => Err(self.unavailable(e)),
        }
    }

    /// Writes `bytes` at `project`/`rel`.
    pub async fn put_bytes(
        &self,
        project: &str,
        rel: &str,
        bytes: Vec<u8>,
    ) -> Result<(), StoreError> {
        let key = self.key(project, rel);
        self.store
            .put(&key, bytes.into())
            .await
            .map(|_| ())
            .map_err(|e| self.map(&key, e))
    }

    /// Copies the local file `local` to `project`/`rel`, streamed (multipart for a large one).
    pub async fn put_file(
        &self,
        project: &str,
        rel: &str,
        local: &Path,
    ) -> Result<u64, StoreError> {
        let key = self.key(project, rel);
        let local_err = |source| StoreError::Local {
            path: local.to_path_buf(),
            source,
        };
        let mut f = tokio::fs::File::open(local).await.map_err(local_err)?;
        let mut w = object_store::buffered::BufWriter::new(self.store.clone(), key.clone());
        let mut buf = vec![0u8; 256 << 10];
        let mut n = 0u64;
        loop {
            let k = f.read(&mut buf).await.map_err(local_err)?;
            if k == 0 {
                break;
            }
            if let Err(e) = w.write_all(&buf[..k]).await {
                let _ = w.abort().await;
                return Err(self.unavailable(e));
            }
            n += k as u64;
        }
        w.shutdown().await.map_err(|e| self.unavailable(e))?;
        Ok(n)
    }

    /// Archives an ended run: every plain file of `run_dir` (sub-folders included, hidden
    /// files and links left out) under `projects/<project>/`, then `log` as its
    /// `events.jsonl`, last, so that the log's presence means the folder is complete.
    /// `log` is the project's whole log as the bus holds it (the same seqs as Redis), not the
    /// local file, which a worker that took the run over holds only in part. Returns the
    /// number of objects written.
    pub async fn archive_run(
        &self,
        project: &str,
        run_dir: Option<&Path>,
        log: &[Envelope],
    ) -> Result<usize, StoreError> {
        let mut files = Vec::new();
        if let Some(dir) = run_dir {
            let dir = dir.to_path_buf();
            files = tokio::task::spawn_blocking(move || walk(&dir))
                .await
                .map_err(|e| self.unavailable(e))?
                .map_err(|(path, source)| StoreError::Local { path, source })?;
        }
        let mut n = 0;
        for (rel, path) in &files {
            if rel == ARCHIVED_LOG {
                continue;
            }
            self.put_file(project, rel, path).await?;
            n += 1;
        }
        let mut text = String::new();
        for e in log {
            text.push_str(&e.to_json_line());
            text.push('\n');
        }
        self.put_bytes(project, ARCHIVED_LOG, text.into_bytes())
            .await?;
        Ok(n + 1)
    }

    /// The object `project`/`rel`: its size and a stream of its bytes.
    pub async fn get(
        &self,
        project: &str,
        rel: &str,
    ) -> Result<
        (
            u64,
            futures::stream::BoxStream<'static, std::io::Result<bytes::Bytes>>,
        ),
        StoreError,
    > {
        let key = self.key(project, rel);
        let got = self.store.get(&key).await.map_err(|e| self.map(&key, e))?;
        let size = got.meta.size;
        let stream = got
            .into_stream()
            .map(|r| r.map_err(std::io::Error::other))
            .boxed();
        Ok((size, stream))
    }

    /// The archived event log of `project`, parsed; `Ok(None)` when it has none (not
    /// archived yet, or no such project).
    pub async fn archived_log(&self, project: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let key = self.key(project, ARCHIVED_LOG);
        match self.store.get(&key).await {
            Ok(got) => got
                .bytes()
                .await
                .map(|b| Some(b.to_vec()))
                .map_err(|e| self.map(&key, e)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(self.unavailable(e)),
        }
    }
}

fn parts(prefix: &str) -> Vec<String> {
    prefix
        .split('/')
        .filter(|p| !p.is_empty())
        .map(str::to_string)
        .collect()
}

/// The plain files under `dir` as (path relative to `dir` with `/`, full path), in a stable
/// order; hidden entries (a sink's reserve file, partial writes) and links are left out.
fn walk(dir: &Path) -> Result<Vec<(String, PathBuf)>, (PathBuf, std::io::Error)> {
    let mut out = Vec::new();
    let mut stack = vec![(String::new(), dir.to_path_buf())];
    while let Some((rel, d)) = stack.pop() {
        let entries = match std::fs::read_dir(&d) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && rel.is_empty() => {
                return Ok(out);
            }
            Err(e) => return Err((d, e)),
        };
        for entry in entries {
            let entry = entry.map_err(|e| (d.clone(), e))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') {
                continue;
            }
            let ty = entry.file_type().map_err(|e| (entry.path(), e))?;
            let r = if rel.is_empty() {
                name
            } else {
                format!("{rel}/{name}")
            };
            if ty.is_dir() {
                stack.push((r, entry.path()));
            } else if ty.is_file() {
                out.push((r, entry.path()));
            }
        }
    }
    out.sort();
    Ok(out)
}
