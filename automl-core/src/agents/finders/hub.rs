//! DATA_SOURCE from the Hugging Face Hub: search `/api/datasets`, read licences, rank, and
//! download the chosen files into the standard Hugging Face cache layout.
//!
//! Search: `GET {endpoint}/api/datasets?search=…&filter=task_categories:…&sort=downloads&
//! direction=-1&limit=…&full=true`, following `Link: <…>; rel="next"` pages. Licences come
//! from `cardData.license` (a string or a list), else from `license:` tags; a gated, private or
//! disabled data set is rejected whatever its licence. Candidates are ranked by task match,
//! popularity (downloads) and size fit; the top three allowed ones are offered, the rest and
//! every rejected one with its reason. The chosen one's card and data files are downloaded by
//! our own plain-GET downloader (see `docs/decisions/0066-hub-default-own-downloads-relevance-floor.md`) into
//! `<cache>/datasets--owner--name/{blobs,snapshots/<commit>,refs/main}`, and a preview of its
//! first rows is read from the dataset viewer API (`/first-rows`) where it answers.
//!
//! The Hub is asked by default (huggingface.co, or `HF_ENDPOINT` / `AUTOML_HUB=<url>`), after a
//! fast reachability probe (a TCP connection to the endpoint's host within
//! [`HubConfig::probe_timeout`], remembered for a minute in the process), so that a machine
//! without a network loses at most that much. `--offline`, `HF_HUB_OFFLINE=1` or `AUTOML_HUB=0`
//! skip it (announced). `HF_TOKEN` is sent as a bearer token, and only to the endpoint's own
//! origin: never to a `Link` page or a redirect on another host. 429 and 5xx answers are
//! retried with backoff (`Retry-After`, seconds or an HTTP date, honoured up to [`HubConfig::max_retry_wait`]), each
//! retry announced as a WARNING. Search answers are cached on disk beside the downloads
//! (`<cache>/automl-search/`, reused for [`HubConfig::search_ttl`], announced with their age).
//! Downloads are plain GETs (no Range requests, so servers that ignore Range work), capped in
//! bytes ([`HubConfig::max_bytes`]) and time ([`HubConfig::download_timeout`],
//! [`HubConfig::stall_timeout`]), with typed errors ([`HubProblem`]).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use serde::Deserialize;
use serde_json::Value;
use tokio_util::sync::CancellationToken;

use super::hf::{
    self, category_modality, decide_with_evidence, loadable_path, search_terms, term_overlap,
    wanted_task_categories,
};
use super::{ChosenDataset, DatasetChoice, DatasetQuery, Topic};
use crate::agents::licence::{LicenceDecision, Verdict};
use crate::agents::{Agent, StageContext};
use crate::error::{AutomlError, HubProblem, Result};
use crate::event::{ColumnType, DatasetCandidate, DatasetSamplePayload, Event, Stage, StageStatus};

/// The public Hub.
pub const DEFAULT_ENDPOINT: &str = "https://huggingface.co";
/// The public dataset viewer API.
pub const DEFAULT_VIEWER: &str = "https://datasets-server.huggingface.co";

/// How to reach the Hub.
#[derive(Clone)]
pub struct HubConfig {
    /// Base URL, e.g. `https://huggingface.co`.
    pub endpoint: String,
    /// Dataset viewer base URL (`/first-rows`).
    pub viewer: String,
    /// Bearer token (`HF_TOKEN`).
    pub token: Option<String>,
    /// The hub cache folder downloads go to.
    pub cache_dir: PathBuf,
    /// Connect timeout.
    pub connect_timeout: Duration,
    /// Whole-request timeout for API calls.
    pub timeout: Duration,
    /// Retries after 429/5xx.
    pub max_retries: u32,
    /// First backoff delay (doubles; `Retry-After` wins, capped at 10 s).
    pub backoff: Duration,
    /// Results per page.
    pub page_limit: u32,
    /// Pages followed per search.
    pub max_pages: u32,
    /// Files downloaded at most for the chosen data set.
    pub max_files: usize,
    /// Probe the endpoint's host before the first call (off for tests that time the calls
    /// themselves).
    pub probe: bool,
    /// How long the reachability probe waits for a connection.
    pub probe_timeout: Duration,
    /// The longest `Retry-After` waited for; a longer one ends the step.
    pub max_retry_wait: Duration,
    /// Bytes downloaded at most for one data set (`AUTOML_HUB_MAX_BYTES`).
    pub max_bytes: u64,
    /// Time for all downloads of one data set (`AUTOML_HUB_DOWNLOAD_TIMEOUT`, seconds).
    pub download_timeout: Duration,
    /// Longest pause between two pieces of a body.
    pub stall_timeout: Duration,
    /// How long a cached search answer is reused (`AUTOML_HUB_SEARCH_TTL`, seconds; 0 = never).
    pub search_ttl: Duration,
}

impl std::fmt::Debug for HubConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HubConfig")
            .field("endpoint", &self.endpoint)
            .field("viewer", &self.viewer)
            .field("token", &self.token.as_ref().map(|_| "<set>"))
            .field("cache_dir", &self.cache_dir)
            .finish()
    }
}

/// Whether the Hub is to be asked, and why not.
#[derive(Debug, Clone)]
pub enum HubSetting {
    /// Ask it.
    Enabled(HubConfig),
    /// Do not; the reason is announced when the step is skipped.
    Disabled(String),
}

fn env(k: &str) -> Option<String> {
    std::env::var(k)
        .ok()
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
}

impl HubConfig {
    /// A configuration for `endpoint` with default limits (2 s connect, 15 s per call,
    /// 3 retries from 1 s, 50 results × 2 pages, 2,000 files).
    pub fn new(endpoint: impl Into<String>, cache_dir: impl Into<PathBuf>) -> Self {
        let endpoint = endpoint.into().trim_end_matches('/').to_string();
        let viewer = if endpoint == DEFAULT_ENDPOINT {
            DEFAULT_VIEWER.to_string()
        } else {
            endpoint.clone()
        };
        Self {
            endpoint,
            viewer,
            token: None,
            cache_dir: cache_dir.into(),
            connect_timeout: Duration::from_secs(2),
            timeout: Duration::from_secs(15),
            max_retries: 3,
            backoff: Duration::from_secs(1),
            page_limit: 50,
            max_pages: 2,
            max_files: 2000,
            probe: true,
            probe_timeout: Duration::from_millis(1500),
            max_retry_wait: Duration::from_secs(10),
            max_bytes: 2 << 30,
            download_timeout: Duration::from_secs(600),
            stall_timeout: Duration::from_secs(30),
            search_ttl: Duration::from_secs(3600),
        }
    }

    /// The origin (`scheme://host:port`) the token may be sent to.
    fn origin(&self) -> Option<String> {
        reqwest::Url::parse(&self.endpoint)
            .ok()
            .map(|u| u.origin().ascii_serialization())
    }

    /// Whether `url` is on the endpoint's own origin (the only one that gets the token).
    pub fn same_origin(&self, url: &str) -> bool {
        let theirs = reqwest::Url::parse(url)
            .ok()
            .map(|u| u.origin().ascii_serialization());
        theirs.is_some() && theirs == self.origin()
    }

    /// Reads the environment: the Hub is asked unless `HF_HUB_OFFLINE=1` or `AUTOML_HUB=0`;
    /// its address is `AUTOML_HUB` (a URL), else `HF_ENDPOINT`, else huggingface.co.
    /// `AUTOML_HUB_VIEWER` overrides the viewer URL; `HF_TOKEN` is the token;
    /// `AUTOML_HUB_MAX_BYTES`, `AUTOML_HUB_DOWNLOAD_TIMEOUT` and `AUTOML_HUB_SEARCH_TTL` set the
    /// limits.
    pub fn from_env() -> HubSetting {
        Self::from_env_or_offline(None)
    }

    /// As [`HubConfig::from_env`], with the caller's `--offline` (its reason) first.
    pub fn from_env_or_offline(offline: Option<&str>) -> HubSetting {
        if let Some(why) = offline {
            return HubSetting::Disabled(why.to_string());
        }
        if env("HF_HUB_OFFLINE").is_some_and(|v| v == "1" || v.eq_ignore_ascii_case("true")) {
            return HubSetting::Disabled("offline (HF_HUB_OFFLINE is set)".to_string());
        }
        let hub = env("AUTOML_HUB");
        let endpoint = match hub.as_deref() {
            Some("0") | Some("off") | Some("false") => {
                return HubSetting::Disabled("AUTOML_HUB is off".to_string());
            }
            Some("1") | Some("on") | Some("true") | None => {
                env("HF_ENDPOINT").unwrap_or_else(|| DEFAULT_ENDPOINT.to_string())
            }
            Some(url) => url.to_string(),
        };
        let Some(cache) = hf::hub_cache_dir() else {
            return HubSetting::Disabled(
                "no cache folder for downloads (set HF_HOME or HF_HUB_CACHE)".to_string(),
            );
        };
        let mut cfg = HubConfig::new(endpoint, cache);
        cfg.token = env("HF_TOKEN");
        if let Some(v) = env("AUTOML_HUB_VIEWER") {
            cfg.viewer = v.trim_end_matches('/').to_string();
        }
        if let Some(n) = env("AUTOML_HUB_MAX_BYTES").and_then(|v| v.parse::<u64>().ok()) {
            cfg.max_bytes = n;
        }
        let secs = |k: &str| {
            env(k)
                .and_then(|v| v.parse::<f64>().ok())
                .filter(|v| v.is_finite() && *v >= 0.0)
                .map(Duration::from_secs_f64)
        };
        if let Some(d) = secs("AUTOML_HUB_DOWNLOAD_TIMEOUT") {
            cfg.download_timeout = d;
        }
        if let Some(d) = secs("AUTOML_HUB_SEARCH_TTL") {
            cfg.search_ttl = d;
        }
        HubSetting::Enabled(cfg)
    }
}

/// Probe answers by endpoint, remembered for a minute so that a server's runs (or a test
/// binary's) pay for the probe once.
static PROBES: std::sync::Mutex<Vec<(String, Instant, std::result::Result<(), HubProblem>)>> =
    std::sync::Mutex::new(Vec::new());

/// Whether the endpoint's host accepts a TCP connection within `limit` (name resolution
/// included).
pub async fn probe(endpoint: &str, limit: Duration) -> std::result::Result<(), HubProblem> {
    const REMEMBER: Duration = Duration::from_secs(60);
    if let Ok(p) = PROBES.lock() {
        if let Some((_, at, r)) = p.iter().find(|(e, _, _)| e == endpoint) {
            if at.elapsed() < REMEMBER {
                return r.clone();
            }
        }
    }
    let url = reqwest::Url::parse(endpoint)
        .map_err(|e| HubProblem::Transport(format!("{endpoint:?} is not a URL: {e}")))?;
    let host = url.host_str().unwrap_or("").to_string();
    let port = url.port_or_known_default().unwrap_or(443);
    let hp = format!("{host}:{port}");
    let r = match tokio::time::timeout(limit, tokio::net::TcpStream::connect(hp.clone())).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => Err(HubProblem::Offline {
            host: hp,
            limit_s: limit.as_secs_f64(),
            detail: e.to_string(),
        }),
        Err(_) => Err(HubProblem::Offline {
            host: hp,
            limit_s: limit.as_secs_f64(),
            detail: "no answer".to_string(),
        }),
    };
    if let Ok(mut p) = PROBES.lock() {
        p.retain(|(e, _, _)| e != endpoint);
        p.push((endpoint.to_string(), Instant::now(), r.clone()));
    }
    r
}

/// A search page as cached on disk.
#[derive(Debug, serde::Serialize, Deserialize)]
struct CachedPage {
    url: String,
    fetched_unix_s: u64,
    body: String,
    next: Option<String>,
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// FNV-1a, for cache file names.
fn fnv(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf29ce484222325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x100000001b3);
    }
    h
}

/// A data set as `/api/datasets?full=true` describes it (the fields we use).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HubDataset {
    /// `owner/name`.
    pub id: String,
    /// Downloads in the last month.
    #[serde(default)]
    pub downloads: Option<u64>,
    /// Likes.
    #[serde(default)]
    pub likes: Option<u64>,
    /// `false`, `"auto"` or `"manual"`.
    #[serde(default)]
    pub gated: Value,
    /// Private.
    #[serde(default)]
    pub private: Option<bool>,
    /// Disabled by the Hub.
    #[serde(default)]
    pub disabled: Option<bool>,
    /// Tags such as `license:mit`, `task_categories:image-classification`,
    /// `size_categories:1K<n<10K`, `modality:image`.
    #[serde(default)]
    pub tags: Vec<String>,
    /// The card's metadata.
    #[serde(default)]
    pub card_data: Option<Value>,
    /// Files in the repository.
    #[serde(default)]
    pub siblings: Option<Vec<Sibling>>,
    /// The current commit.
    #[serde(default)]
    pub sha: Option<String>,
    /// A short description.
    #[serde(default)]
    pub description: Option<String>,
}

/// A file of a repository.
#[derive(Debug, Clone, Deserialize)]
pub struct Sibling {
    /// Path in the repository.
    pub rfilename: String,
}

impl HubDataset {
    fn tag_values(&self, prefix: &str) -> Vec<String> {
        self.tags
            .iter()
            .filter_map(|t| t.strip_prefix(prefix))
            .map(str::to_string)
            .collect()
    }

    /// The licence strings and where they were read.
    pub fn licences(&self) -> (Vec<String>, String) {
        if let Some(l) = self.card_data.as_ref().and_then(|c| c.get("license")) {
            let v: Vec<String> = match l {
                Value::String(s) => vec![s.clone()],
                Value::Array(a) => a
                    .iter()
                    .filter_map(Value::as_str)
                    .map(str::to_string)
                    .collect(),
                _ => vec![],
            };
            if !v.is_empty() {
                return (v, format!("cardData.license of {}", self.id));
            }
        }
        let t = self.tag_values("license:");
        if !t.is_empty() {
            return (t, format!("the license: tags of {}", self.id));
        }
        (
            vec![],
            format!("{} (no cardData.license, no license: tag)", self.id),
        )
    }

    /// Task categories from the card or the tags.
    pub fn task_categories(&self) -> Vec<String> {
        let mut v: Vec<String> = self
            .card_data
            .as_ref()
            .and_then(|c| c.get("task_categories"))
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default();
        for t in self.tag_values("task_categories:") {
            if !v.contains(&t) {
                v.push(t);
            }
        }
        v
    }

    /// The words a data set is known by: its id, description, pretty name and tags (less the
    /// licence, size and format ones), what [`Topic`] compares with the request's subject.
    pub fn topic_text(&self) -> String {
        let mut text = format!(
            "{} {}",
            self.id.replace(['/', '-', '_'], " "),
            self.description.clone().unwrap_or_default()
        );
        if let Some(c) = &self.card_data {
            if let Some(p) = c.get("pretty_name").and_then(Value::as_str) {
                text.push(' ');
                text.push_str(p);
            }
            if let Some(tags) = c.get("tags").and_then(Value::as_array) {
                for t in tags.iter().filter_map(Value::as_str) {
                    text.push(' ');
                    text.push_str(t);
                }
            }
        }
        for t in &self.tags {
            let skip = [
                "license:",
                "size_categories:",
                "format:",
                "library:",
                "region:",
                "modality:",
            ];
            if skip.iter().any(|p| t.starts_with(p)) {
                continue;
            }
            text.push(' ');
            text.push_str(t.rsplit(':').next().unwrap_or(t));
        }
        text
    }

    fn gated(&self) -> Option<String> {
        match &self.gated {
            Value::Bool(true) => Some("true".to_string()),
            Value::String(s) if s != "false" => Some(s.clone()),
            _ => None,
        }
    }

    /// Rows implied by the `size_categories` tag (the category's lower bound) and how well it
    /// fits a quick run, 0..1.
    pub fn size_fit(&self) -> (Option<u64>, f64) {
        let cat = self
            .tag_values("size_categories:")
            .into_iter()
            .next()
            .or_else(|| {
                self.card_data
                    .as_ref()
                    .and_then(|c| c.get("size_categories"))
                    .and_then(|s| s.get(0).or(Some(s)))
                    .and_then(Value::as_str)
                    .map(str::to_string)
            });
        match cat.as_deref() {
            Some("n<1K") => (Some(0), 0.7),
            Some("1K<n<10K") => (Some(1_000), 1.0),
            Some("10K<n<100K") => (Some(10_000), 0.9),
            Some("100K<n<1M") => (Some(100_000), 0.5),
            Some("1M<n<10M") => (Some(1_000_000), 0.25),
            Some(_) => (None, 0.1),
            None => (None, 0.5),
        }
    }
}

/// The Hub finder.
#[derive(Debug, Clone)]
pub struct HubFinder {
    cfg: HubConfig,
}

/// A scored search hit.
#[derive(Debug, Clone)]
struct Hit {
    ds: HubDataset,
    score: f64,
    decision: LicenceDecision,
    block: Option<String>,
}

impl HubFinder {
    /// A finder for `cfg`.
    pub fn new(cfg: HubConfig) -> Self {
        Self { cfg }
    }

    /// The configuration.
    pub fn config(&self) -> &HubConfig {
        &self.cfg
    }

    fn http(&self) -> Result<reqwest::Client> {
        // Redirects are followed by hand, so that the token goes to the endpoint's origin only.
        reqwest::Client::builder()
            .connect_timeout(self.cfg.connect_timeout)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("automl/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| AutomlError::Internal(format!("HTTP client: {e}")))
    }

    fn hub_err(what: impl Into<String>, problem: HubProblem) -> AutomlError {
        AutomlError::Hub {
            what: what.into(),
            problem,
        }
    }

    /// One GET (the token only on the endpoint's origin), redirects followed by hand (at most
    /// 5), answered within `limit` for the headers.
    async fn send(
        &self,
        http: &reqwest::Client,
        url: &str,
        limit: Duration,
        cancel: &CancellationToken,
    ) -> Result<reqwest::Response> {
        let mut url = url.to_string();
        for _hop in 0..=5 {
            let mut req = http.get(&url).timeout(limit);
            if let Some(t) = &self.cfg.token {
                if self.cfg.same_origin(&url) {
                    req = req.bearer_auth(t);
                }
            }
            let resp = tokio::select! {
                r = req.send() => r,
                _ = cancel.cancelled() => return Err(AutomlError::Cancelled),
            };
            let resp = resp.map_err(|e| {
                if e.is_timeout() {
                    Self::hub_err(
                        format!("GET {url}"),
                        HubProblem::TimedOut {
                            limit_s: limit.as_secs_f64(),
                        },
                    )
                } else {
                    Self::hub_err(format!("GET {url}"), HubProblem::Transport(chain(&e)))
                }
            })?;
            if !resp.status().is_redirection() {
                return Ok(resp);
            }
            let loc = resp
                .headers()
                .get(reqwest::header::LOCATION)
                .and_then(|v| v.to_str().ok())
                .ok_or_else(|| {
                    Self::hub_err(
                        format!("GET {url}"),
                        HubProblem::Redirect(format!(
                            "HTTP {} without a Location",
                            resp.status().as_u16()
                        )),
                    )
                })?;
            let next = reqwest::Url::parse(&url)
                .and_then(|u| u.join(loc))
                .map_err(|e| {
                    Self::hub_err(
                        format!("GET {url}"),
                        HubProblem::Redirect(format!("{loc:?}: {e}")),
                    )
                })?;
            url = next.to_string();
        }
        Err(Self::hub_err(
            format!("GET {url}"),
            HubProblem::Redirect("more than 5 redirects".to_string()),
        ))
    }

    /// GET with retries on 429/5xx, each announced; returns the response of the last try.
    async fn get(
        &self,
        http: &reqwest::Client,
        url: &str,
        cx: &StageContext,
    ) -> Result<reqwest::Response> {
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            let resp = match self.send(http, url, self.cfg.timeout, &cx.cancel).await {
                Err(AutomlError::Hub {
                    problem: HubProblem::TimedOut { .. },
                    ..
                }) => {
                    return Err(AutomlError::NoDataset(format!(
                        "the Hub at {} did not answer within {:.1} s",
                        self.cfg.endpoint,
                        self.cfg.timeout.as_secs_f64()
                    )));
                }
                r => r?,
            };
            let st = resp.status();
            let retryable = st.as_u16() == 429 || st.is_server_error();
            if !retryable || attempt > self.cfg.max_retries {
                return Ok(resp);
            }
            let asked = crate::agents::retry_after(resp.headers(), std::time::SystemTime::now())
                .map(|d| d.as_secs_f64());
            if let Some(a) = asked {
                if Duration::from_secs_f64(a) > self.cfg.max_retry_wait {
                    return Err(Self::hub_err(
                        format!("GET {}", strip_query(url)),
                        HubProblem::RetryTooLate {
                            status: st.as_u16(),
                            retry_after_s: a,
                        },
                    ));
                }
            }
            let delay = asked
                .map(Duration::from_secs_f64)
                .unwrap_or(self.cfg.backoff * 2u32.saturating_pow(attempt - 1))
                .min(self.cfg.max_retry_wait);
            cx.emitter.emit(Event::warning(
                "hub_retry",
                format!(
                    "the Hub answered HTTP {} to {}{}; retrying in {:.1} s (try {} of {})",
                    st.as_u16(),
                    strip_query(url),
                    if asked.is_some() {
                        " with Retry-After"
                    } else {
                        ""
                    },
                    delay.as_secs_f64(),
                    attempt + 1,
                    self.cfg.max_retries + 1
                ),
            ));
            tokio::select! {
                _ = tokio::time::sleep(delay) => {}
                _ = cx.cancel.cancelled() => return Err(AutomlError::Cancelled),
            }
        }
    }

    fn cache_file(&self, url: &str) -> PathBuf {
        self.cfg
            .cache_dir
            .join("automl-search")
            .join(format!("{:016x}.json", fnv(url.as_bytes())))
    }

    /// A cached answer for `url` younger than the TTL, with its age in seconds.
    fn cached_page(&self, url: &str) -> Option<(CachedPage, u64)> {
        if self.cfg.search_ttl.is_zero() {
            return None;
        }
        let text = std::fs::read_to_string(self.cache_file(url)).ok()?;
        let page: CachedPage = serde_json::from_str(&text).ok()?;
        let age = unix_now().saturating_sub(page.fetched_unix_s);
        (page.url == url && age <= self.cfg.search_ttl.as_secs()).then_some((page, age))
    }

    fn store_page(&self, page: &CachedPage) {
        let f = self.cache_file(&page.url);
        let write = || -> std::io::Result<()> {
            if let Some(d) = f.parent() {
                std::fs::create_dir_all(d)?;
            }
            let tmp = f.with_extension("json.tmp");
            std::fs::write(&tmp, serde_json::to_vec(page).unwrap_or_default())?;
            std::fs::rename(&tmp, &f)
        };
        if let Err(e) = write() {
            tracing::debug!(error = %e, "Hub search answer not cached");
        }
    }

    /// Searches `/api/datasets`, following `Link` pages on the endpoint's origin; answers
    /// younger than the TTL come from the on-disk cache (announced with their age).
    pub async fn search(
        &self,
        terms: &str,
        category: Option<&str>,
        cx: &StageContext,
    ) -> Result<Vec<HubDataset>> {
        let http = self.http()?;
        let mut url =
            reqwest::Url::parse(&format!("{}/api/datasets", self.cfg.endpoint)).map_err(|e| {
                AutomlError::InvalidOption {
                    name: "HF_ENDPOINT".to_string(),
                    message: format!("{:?} is not a URL: {e}", self.cfg.endpoint),
                }
            })?;
        {
            let mut q = url.query_pairs_mut();
            if !terms.is_empty() {
                q.append_pair("search", terms);
            }
            if let Some(c) = category {
                q.append_pair("filter", &format!("task_categories:{c}"));
            }
            q.append_pair("sort", "downloads");
            q.append_pair("direction", "-1");
            q.append_pair("limit", &self.cfg.page_limit.to_string());
            q.append_pair("full", "true");
        }
        let mut next = Some(url.to_string());
        let mut out: Vec<HubDataset> = Vec::new();
        let mut pages = 0;
        while let Some(u) = next.take() {
            pages += 1;
            let (text, link) = match self.cached_page(&u) {
                Some((page, age)) => {
                    cx.emitter.emit(Event::stage(
                        Stage::DataSource,
                        StageStatus::Running,
                        format!(
                            "Hub search answer for {terms:?} from the cache ({} min old; kept {} min)",
                            age / 60,
                            self.cfg.search_ttl.as_secs() / 60
                        ),
                    ));
                    (page.body, page.next)
                }
                None => {
                    if self.cfg.probe && pages == 1 {
                        probe(&self.cfg.endpoint, self.cfg.probe_timeout)
                            .await
                            .map_err(|p| {
                                Self::hub_err(format!("reaching {}", self.cfg.endpoint), p)
                            })?;
                    }
                    let resp = self.get(&http, &u, cx).await?;
                    let st = resp.status();
                    if !st.is_success() {
                        let body: String = resp
                            .text()
                            .await
                            .unwrap_or_default()
                            .chars()
                            .take(200)
                            .collect();
                        return Err(AutomlError::NoDataset(format!(
                            "the Hub search at {} answered HTTP {}: {body}",
                            strip_query(&u),
                            st.as_u16()
                        )));
                    }
                    let link = resp
                        .headers()
                        .get(reqwest::header::LINK)
                        .and_then(|v| v.to_str().ok())
                        .and_then(next_link)
                        .map(|l| self.absolute(&l));
                    let text = resp.text().await.map_err(|e| {
                        AutomlError::NoDataset(format!(
                            "reading the Hub search answer: {}",
                            chain(&e)
                        ))
                    })?;
                    // Only a list is cached.
                    if serde_json::from_str::<Vec<Value>>(&text).is_ok() {
                        self.store_page(&CachedPage {
                            url: u.clone(),
                            fetched_unix_s: unix_now(),
                            body: text.clone(),
                            next: link.clone(),
                        });
                    }
                    (text, link)
                }
            };
            let page: Vec<HubDataset> = serde_json::from_str(&text).map_err(|e| {
                AutomlError::NoDataset(format!(
                    "the Hub search answer is not a list of data sets: {e}"
                ))
            })?;
            for d in page {
                if !out.iter().any(|o| o.id == d.id) {
                    out.push(d);
                }
            }
            if pages < self.cfg.max_pages {
                match link {
                    Some(l) if self.cfg.same_origin(&l) => next = Some(l),
                    Some(l) => {
                        cx.emitter.emit(Event::warning(
                            "hub_link_ignored",
                            format!(
                                "the Hub's next page is on another host ({}); not followed",
                                strip_query(&l)
                            ),
                        ));
                    }
                    None => {}
                }
            }
        }
        Ok(out)
    }

    fn absolute(&self, link: &str) -> String {
        if link.starts_with("http://") || link.starts_with("https://") {
            link.to_string()
        } else {
            format!("{}/{}", self.cfg.endpoint, link.trim_start_matches('/'))
        }
    }

    /// The file list of a data set (`/api/datasets/{id}`), when the search did not carry it.
    async fn files_of(&self, ds: &HubDataset, cx: &StageContext) -> Result<Vec<String>> {
        if let Some(s) = &ds.siblings {
            return Ok(s.iter().map(|s| s.rfilename.clone()).collect());
        }
        let http = self.http()?;
        let url = format!("{}/api/datasets/{}", self.cfg.endpoint, ds.id);
        let resp = self.get(&http, &url, cx).await?;
        if !resp.status().is_success() {
            return Err(AutomlError::NoDataset(format!(
                "{url} answered HTTP {}",
                resp.status().as_u16()
            )));
        }
        let info: HubDataset = resp.json().await.map_err(|e| {
            AutomlError::NoDataset(format!("{url}: not a data set description: {}", chain(&e)))
        })?;
        Ok(info
            .siblings
            .unwrap_or_default()
            .into_iter()
            .map(|s| s.rfilename)
            .collect())
    }

    /// Downloads `files` of `id` into the hub cache
    /// (`datasets--owner--name/{blobs,snapshots/<commit>,refs/main}`) with plain GETs, within
    /// the byte cap and the time limits; returns the snapshot folder.
    pub async fn download(&self, id: &str, files: &[String], cx: &StageContext) -> Result<PathBuf> {
        let http = self.http()?;
        let repo = self.cfg.cache_dir.join(hf::repo_folder(id));
        let blobs = repo.join("blobs");
        std::fs::create_dir_all(&blobs).map_err(|e| {
            Self::hub_err(
                format!("caching {id}"),
                HubProblem::Write(format!("{}: {e}", blobs.display())),
            )
        })?;
        let deadline = Instant::now() + self.cfg.download_timeout;
        let mut total: u64 = 0;
        let mut commit: Option<String> = None;
        let mut done: Vec<(String, String)> = Vec::new(); // (file, blob name)
        for f in files {
            let what = format!("downloading {f} of {id}");
            let path: String = f
                .split('/')
                .map(|seg| {
                    seg.bytes()
                        .map(|b| {
                            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                                (b as char).to_string()
                            } else {
                                format!("%{b:02X}")
                            }
                        })
                        .collect::<String>()
                })
                .collect::<Vec<_>>()
                .join("/");
            let url = format!("{}/datasets/{id}/resolve/main/{path}", self.cfg.endpoint);
            let left = deadline.saturating_duration_since(Instant::now());
            let timed_out = || {
                Self::hub_err(
                    what.clone(),
                    HubProblem::TimedOut {
                        limit_s: self.cfg.download_timeout.as_secs_f64(),
                    },
                )
            };
            if left.is_zero() {
                return Err(timed_out());
            }
            let mut attempt = 0u32;
            let mut resp = loop {
                attempt += 1;
                let r = match self.send(&http, &url, left, &cx.cancel).await {
                    Err(AutomlError::Hub {
                        problem: HubProblem::TimedOut { .. },
                        ..
                    }) => return Err(timed_out()),
                    r => r?,
                };
                let st = r.status();
                if (st.as_u16() == 429 || st.is_server_error()) && attempt <= self.cfg.max_retries {
                    let delay = (self.cfg.backoff * 2u32.saturating_pow(attempt - 1))
                        .min(self.cfg.max_retry_wait);
                    cx.emitter.emit(Event::warning(
                        "hub_retry",
                        format!(
                            "the Hub answered HTTP {} to {url}; retrying in {:.1} s",
                            st.as_u16(),
                            delay.as_secs_f64()
                        ),
                    ));
                    tokio::select! {
                        _ = tokio::time::sleep(delay) => {}
                        _ = cx.cancel.cancelled() => return Err(AutomlError::Cancelled),
                    }
                    continue;
                }
                break r;
            };
            let st = resp.status();
            if !st.is_success() {
                return Err(Self::hub_err(
                    what,
                    HubProblem::Status {
                        status: st.as_u16(),
                    },
                ));
            }
            if commit.is_none() {
                commit = resp
                    .headers()
                    .get("x-repo-commit")
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_string)
                    .filter(|c| {
                        !c.is_empty()
                            && c.len() <= 64
                            && c.bytes().all(|b| b.is_ascii_alphanumeric())
                    });
            }
            let etag = resp
                .headers()
                .get("x-linked-etag")
                .or(resp.headers().get(reqwest::header::ETAG))
                .and_then(|v| v.to_str().ok())
                .map(|e| e.trim_start_matches("W/").trim_matches('"').to_string())
                .filter(|e| {
                    !e.is_empty()
                        && e.len() <= 128
                        && e.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                });
            let too_large = || {
                Self::hub_err(
                    what.clone(),
                    HubProblem::TooLarge {
                        limit: self.cfg.max_bytes,
                    },
                )
            };
            if let Some(n) = resp.content_length() {
                if total.saturating_add(n) > self.cfg.max_bytes {
                    return Err(too_large());
                }
            }
            let tmp = blobs.join(format!("{:016x}.incomplete", fnv(f.as_bytes())));
            let write_err = |e: std::io::Error| {
                Self::hub_err(
                    what.clone(),
                    HubProblem::Write(format!("{}: {e}", tmp.display())),
                )
            };
            let mut out = tokio::fs::File::create(&tmp).await.map_err(write_err)?;
            let mut h: u64 = 0xcbf29ce484222325;
            let body = async {
                use tokio::io::AsyncWriteExt;
                loop {
                    let next = tokio::time::timeout(self.cfg.stall_timeout, resp.chunk());
                    let chunk = tokio::select! {
                        c = next => c,
                        _ = cx.cancel.cancelled() => return Err(AutomlError::Cancelled),
                    };
                    let chunk = match chunk {
                        Err(_) => {
                            return Err(Self::hub_err(
                                what.clone(),
                                HubProblem::Stalled {
                                    after_s: self.cfg.stall_timeout.as_secs_f64(),
                                },
                            ));
                        }
                        Ok(Err(e)) if e.is_timeout() => return Err(timed_out()),
                        Ok(Err(e)) => {
                            return Err(Self::hub_err(
                                what.clone(),
                                HubProblem::Transport(chain(&e)),
                            ));
                        }
                        Ok(Ok(None)) => break,
                        Ok(Ok(Some(c))) => c,
                    };
                    total += chunk.len() as u64;
                    if total > self.cfg.max_bytes {
                        return Err(too_large());
                    }
                    for b in chunk.iter() {
                        h ^= u64::from(*b);
                        h = h.wrapping_mul(0x100000001b3);
                    }
                    out.write_all(&chunk).await.map_err(write_err)?;
                }
                out.flush().await.map_err(write_err)?;
                Ok(())
            };
            let r = match tokio::time::timeout_at(deadline.into(), body).await {
                Ok(r) => r,
                Err(_) => Err(timed_out()),
            };
            if let Err(e) = r {
                let _ = std::fs::remove_file(&tmp);
                return Err(e);
            }
            let blob = etag.unwrap_or_else(|| format!("{h:016x}"));
            std::fs::rename(&tmp, blobs.join(&blob))
                .map_err(|e| Self::hub_err(what.clone(), HubProblem::Write(e.to_string())))?;
            done.push((f.clone(), blob));
        }
        let commit = commit.unwrap_or_else(|| "main".to_string());
        let snapshot = repo.join("snapshots").join(&commit);
        for (f, blob) in &done {
            link_blob(&repo, &snapshot, f, blob).map_err(|e| {
                Self::hub_err(
                    format!("caching {f} of {id}"),
                    HubProblem::Write(e.to_string()),
                )
            })?;
        }
        std::fs::create_dir_all(repo.join("refs"))
            .and_then(|()| std::fs::write(repo.join("refs").join("main"), &commit))
            .map_err(|e| {
                Self::hub_err(format!("caching {id}"), HubProblem::Write(e.to_string()))
            })?;
        if done.is_empty() {
            return Err(AutomlError::NoDataset(format!(
                "no files of {id} to download"
            )));
        }
        Ok(snapshot)
    }

    /// First rows from the dataset viewer, when it answers.
    pub async fn preview(&self, id: &str, cx: &StageContext) -> Option<DatasetSamplePayload> {
        let http = self.http().ok()?;
        let url = format!(
            "{}/first-rows?dataset={}&config=default&split=train",
            self.cfg.viewer, id
        );
        let resp = self.get(&http, &url, cx).await.ok()?;
        if !resp.status().is_success() {
            return None;
        }
        let v: Value = resp.json().await.ok()?;
        let columns: Vec<ColumnType> = v
            .get("features")?
            .as_array()?
            .iter()
            .filter_map(|f| {
                Some(ColumnType {
                    name: f.get("name")?.as_str()?.to_string(),
                    dtype: f
                        .get("type")
                        .and_then(|t| t.get("_type").or(t.get("dtype")))
                        .and_then(Value::as_str)
                        .unwrap_or("unknown")
                        .to_string(),
                })
            })
            .collect();
        let mut images = Vec::new();
        let rows: Vec<serde_json::Map<String, Value>> = v
            .get("rows")?
            .as_array()?
            .iter()
            .filter_map(|r| r.get("row")?.as_object().cloned())
            .take(5)
            .collect();
        for r in &rows {
            for val in r.values() {
                if let Some(src) = val.get("src").and_then(Value::as_str) {
                    if images.len() < 3 {
                        images.push(src.to_string());
                    }
                }
            }
        }
        Some(DatasetSamplePayload {
            images,
            columns,
            n_rows: rows.len() as u64,
            rows,
        })
    }

    fn score(&self, q: &DatasetQuery, ds: &HubDataset) -> Option<f64> {
        let wanted = wanted_task_categories(&q.intent);
        let cats = ds.task_categories();
        let task = if cats.iter().any(|c| wanted.contains(&c.as_str())) {
            1.0
        } else if cats
            .iter()
            .any(|c| category_modality(c) == Some(q.intent.modality))
        {
            0.3
        } else if cats.is_empty() {
            0.2
        } else {
            return None;
        };
        let pop = ((ds.downloads.unwrap_or(0) as f64 + 1.0).log10() / 6.0).min(1.0);
        let (_, size) = ds.size_fit();
        let terms = term_overlap(&q.intent, &ds.topic_text());
        Some(2.0 * task + pop + 0.5 * size + terms)
    }
}

fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(x) = src {
        s = format!("{s}: {x}");
        src = x.source();
    }
    s
}

/// `url` without its query (messages need not repeat the search).
fn strip_query(url: &str) -> &str {
    url.split('?').next().unwrap_or(url)
}

/// `snapshot/<file>` pointing at `blobs/<blob>`: a relative symbolic link where the platform
/// has them (the Hugging Face layout), else a copy.
fn link_blob(
    #[allow(unused_variables)] repo: &Path,
    snapshot: &Path,
    file: &str,
    blob: &str,
) -> std::io::Result<()> {
    let dest = snapshot.join(file);
    if let Some(d) = dest.parent() {
        std::fs::create_dir_all(d)?;
    }
    let _ = std::fs::remove_file(&dest);
    #[cfg(unix)]
    {
        let depth = file.split('/').count() + 1; // snapshots/<commit>/<file...>
        let mut rel = PathBuf::new();
        for _ in 0..depth {
            rel.push("..");
        }
        rel.push("blobs");
        rel.push(blob);
        std::os::unix::fs::symlink(rel, &dest)
    }
    #[cfg(not(unix))]
    {
        std::fs::copy(repo.join("blobs").join(blob), &dest).map(|_| ())
    }
}

/// The `rel="next"` URL of a `Link` header.
pub fn next_link(h: &str) -> Option<String> {
    h.split(',').find_map(|part| {
        let (url, params) = part.split_once(';')?;
        params
            .split(';')
            .any(|p| {
                let p = p.trim().replace(' ', "");
                p == "rel=\"next\"" || p == "rel=next"
            })
            .then(|| {
                url.trim()
                    .trim_start_matches('<')
                    .trim_end_matches('>')
                    .to_string()
            })
    })
}

#[async_trait]
impl Agent<DatasetQuery, DatasetChoice> for HubFinder {
    fn name(&self) -> &str {
        "hub"
    }

    async fn run(&self, q: DatasetQuery, cx: &StageContext) -> Result<DatasetChoice> {
        let terms = search_terms(&q.intent);
        let wanted = wanted_task_categories(&q.intent);
        let category = wanted.first().copied();
        // The joined terms first; each term alone when that finds nothing.
        let mut found = self.search(&terms.join(" "), category, cx).await?;
        if found.is_empty() && terms.len() > 1 {
            for t in &terms {
                for d in self.search(t, category, cx).await? {
                    if !found.iter().any(|o| o.id == d.id) {
                        found.push(d);
                    }
                }
            }
        }
        // Only data sets about the request's subject (the relevance floor of `Topic`).
        let mut off_topic: Vec<String> = Vec::new();
        let mut hits: Vec<Hit> = found
            .into_iter()
            .filter_map(|ds| {
                let score = self.score(&q, &ds)?;
                let topic = Topic::of(&q.intent, &ds.topic_text());
                if !topic.relevant() {
                    off_topic.push(ds.id.clone());
                    return None;
                }
                let (lic, evidence) = ds.licences();
                let decision = decide_with_evidence(&lic, &evidence);
                let block = if let Some(g) = ds.gated() {
                    Some(format!(
                        "gated on the Hub (gated={g}): access must be requested and granted; not used"
                    ))
                } else if ds.private == Some(true) {
                    Some("private data set; not used".to_string())
                } else if ds.disabled == Some(true) {
                    Some("disabled on the Hub; not used".to_string())
                } else {
                    None
                };
                Some(Hit {
                    ds,
                    score,
                    decision,
                    block,
                })
            })
            .collect();
        hits.sort_by(|a, b| b.score.total_cmp(&a.score).then(a.ds.id.cmp(&b.ds.id)));
        let max_score = 2.0 + 1.0 + 0.5 + 1.0;
        let mut choice = DatasetChoice {
            chosen: None,
            candidates: vec![],
            rejected: vec![],
            why_none: None,
        };
        let mut allowed: Vec<&Hit> = Vec::new();
        for h in &hits {
            let (size, _) = h.ds.size_fit();
            let usable = h.block.is_none()
                && (h.decision.verdict == Verdict::Allowed
                    || (h.decision.verdict == Verdict::Restricted && q.allow_restricted));
            let mut reason = h.decision.reason.clone();
            if let Some(b) = &h.block {
                reason = format!("{b}; licence: {reason}");
            } else if h.decision.verdict == Verdict::Restricted && !q.allow_restricted {
                reason.push_str("; not enabled for this run (research/demo use only)");
            }
            let cand = DatasetCandidate {
                id: h.ds.id.clone(),
                source: "hub".to_string(),
                license: h.decision.license.clone(),
                verdict: if h.block.is_some() {
                    Verdict::Rejected.as_str().to_string()
                } else {
                    h.decision.verdict.as_str().to_string()
                },
                reason,
                downloads: h.ds.downloads,
                size,
                score: (h.score / max_score * 1000.0).round() / 1000.0,
            };
            if usable {
                if choice.candidates.len() < 3 {
                    choice.candidates.push(cand);
                    allowed.push(h);
                }
            } else {
                choice.rejected.push(cand);
            }
        }
        // Download the best allowed candidate whose files we can load.
        let mut skipped: Vec<String> = Vec::new();
        for h in allowed {
            let files = match self.files_of(&h.ds, cx).await {
                Ok(f) => f,
                Err(AutomlError::Cancelled) => return Err(AutomlError::Cancelled),
                Err(e) => {
                    skipped.push(format!("{}: {e}", h.ds.id));
                    continue;
                }
            };
            let probe = PathBuf::from("/");
            let Some((rel, _kind)) = loadable_path(&probe, &files) else {
                skipped.push(format!(
                    "{}: no CSV/TSV file or image class folders to load",
                    h.ds.id
                ));
                continue;
            };
            let rel = rel
                .strip_prefix(&probe)
                .map(|p| p.to_string_lossy().replace('\\', "/"))
                .unwrap_or_default();
            let mut wanted_files: Vec<String> = files
                .iter()
                .filter(|f| {
                    *f == "README.md"
                        || *f == &rel
                        || (!rel.is_empty() && f.starts_with(&format!("{rel}/")))
                        || rel.is_empty() && f.contains('/')
                })
                .cloned()
                .collect();
            wanted_files.truncate(self.cfg.max_files);
            cx.emitter.emit(Event::stage(
                Stage::DataSource,
                StageStatus::Running,
                format!(
                    "downloading {} file(s) of {} from {} into {}",
                    wanted_files.len(),
                    h.ds.id,
                    self.cfg.endpoint,
                    self.cfg.cache_dir.display()
                ),
            ));
            let snapshot = match self.download(&h.ds.id, &wanted_files, cx).await {
                Ok(s) => s,
                Err(AutomlError::Cancelled) => return Err(AutomlError::Cancelled),
                Err(e) => {
                    skipped.push(format!("{}: {e}", h.ds.id));
                    continue;
                }
            };
            if let Some(p) = self.preview(&h.ds.id, cx).await {
                cx.emitter.emit(Event::DatasetSampleReady(p));
            }
            let revision = snapshot
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .or(h.ds.sha.clone());
            let (lic, evidence) = h.ds.licences();
            choice.chosen = Some(ChosenDataset {
                id: h.ds.id.clone(),
                source: "hub".to_string(),
                path: if rel.is_empty() {
                    snapshot.clone()
                } else {
                    snapshot.join(&rel)
                },
                revision,
                license: h.decision.clone(),
                evidence: format!(
                    "license {:?} from {evidence} ({}/api/datasets)",
                    lic.join(", "),
                    self.cfg.endpoint
                ),
                attribution: Some(format!("{}/datasets/{}", self.cfg.endpoint, h.ds.id)),
                origin: format!("{}/datasets/{}", self.cfg.endpoint, h.ds.id),
                target: None,
            });
            break;
        }
        for s in &skipped {
            cx.emitter.emit(Event::warning(
                "hub_dataset_skipped",
                format!("allowed Hub data set not used: {s}"),
            ));
        }
        if choice.chosen.is_none() {
            choice.why_none = Some(if choice.candidates.is_empty() {
                if choice.rejected.is_empty() {
                    let subject = super::subject_terms(&q.intent)
                        .into_iter()
                        .collect::<Vec<_>>()
                        .join(", ");
                    format!(
                        "the Hub search for {:?} ({}) found no matching data set{}",
                        terms.join(" "),
                        category.unwrap_or("any task"),
                        if off_topic.is_empty() {
                            String::new()
                        } else {
                            format!(
                                "; {} result(s) not about {subject} were left out ({})",
                                off_topic.len(),
                                off_topic
                                    .iter()
                                    .take(5)
                                    .cloned()
                                    .collect::<Vec<_>>()
                                    .join(", ")
                            )
                        }
                    )
                } else {
                    format!(
                        "every matching Hub data set was rejected: {}",
                        choice
                            .rejected
                            .iter()
                            .map(|r| format!("{} ({})", r.id, r.license))
                            .collect::<Vec<_>>()
                            .join(", ")
                    )
                }
            } else {
                format!(
                    "no allowed Hub data set could be downloaded: {}",
                    skipped.join("; ")
                )
            });
        }
        Ok(choice)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn link_header() {
        assert_eq!(
            next_link(r#"<https://huggingface.co/api/datasets?cursor=abc&limit=2>; rel="next""#),
            Some("https://huggingface.co/api/datasets?cursor=abc&limit=2".to_string())
        );
        assert_eq!(
            next_link(r#"<http://x/a>; rel="prev", <http://x/b>; rel="next""#),
            Some("http://x/b".to_string())
        );
        assert_eq!(next_link(r#"<http://x/a>; rel="prev""#), None);
    }

    #[test]
    fn licences_from_card_then_tags() {
        let d: HubDataset = serde_json::from_value(serde_json::json!({
            "id": "a/b", "tags": ["license:mit"], "cardData": {"license": ["cc-by-4.0"]}
        }))
        .expect("json");
        assert_eq!(d.licences().0, vec!["cc-by-4.0"]);
        assert!(d.licences().1.contains("cardData.license"));
        let d: HubDataset =
            serde_json::from_value(serde_json::json!({"id": "a/b", "tags": ["license:gpl-3.0"]}))
                .expect("json");
        assert_eq!(d.licences().0, vec!["gpl-3.0"]);
        assert!(d.licences().1.contains("license: tags"));
        let d: HubDataset = serde_json::from_value(serde_json::json!({"id": "a/b"})).expect("json");
        assert!(d.licences().0.is_empty());
    }
}
