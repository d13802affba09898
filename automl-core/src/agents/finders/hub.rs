//! DATA_SOURCE from the Hugging Face Hub: search `/api/datasets`, read licences, rank, and
//! download the chosen files with `hf-hub` into the standard cache.
//!
//! Search: `GET {endpoint}/api/datasets?search=…&filter=task_categories:…&sort=downloads&
//! direction=-1&limit=…&full=true`, following `Link: <…>; rel="next"` pages. Licences come
//! from `cardData.license` (a string or a list), else from `license:` tags; a gated, private or
//! disabled data set is rejected whatever its licence. Candidates are ranked by task match,
//! popularity (downloads) and size fit; the top three allowed ones are offered, the rest and
//! every rejected one with its reason. The chosen one's card and data files are downloaded with
//! hf-hub (0.5 line; see `docs/decisions/0011-hub-client.md`) into
//! `<cache>/datasets--owner--name/{blobs,snapshots/<commit>,refs/main}`, and a preview of its
//! first rows is read from the dataset viewer API (`/first-rows`) where it answers.
//!
//! The Hub is only asked when configured ([`HubConfig::from_env`]): `AUTOML_HUB` (`1` for
//! huggingface.co or a URL) or `HF_ENDPOINT`; `HF_HUB_OFFLINE=1` turns it off; `HF_TOKEN` is
//! sent as a bearer token. 429 answers are retried with backoff (`Retry-After` honoured).

use std::path::PathBuf;
use std::time::Duration;

use async_trait::async_trait;
use serde::Deserialize;
use serde_json::Value;
use tokio_util::sync::CancellationToken;

use super::hf::{
    self, category_modality, decide_with_evidence, loadable_path, search_terms, term_overlap,
    wanted_task_categories,
};
use super::{ChosenDataset, DatasetChoice, DatasetQuery};
use crate::agents::licence::{LicenceDecision, Verdict};
use crate::agents::{Agent, StageContext};
use crate::error::{AutomlError, Result};
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
        }
    }

    /// Reads the environment: the Hub is asked only when `AUTOML_HUB` (`1`/`on` for
    /// huggingface.co, or a URL) or `HF_ENDPOINT` is set, and `HF_HUB_OFFLINE` is not `1`.
    /// `AUTOML_HUB_VIEWER` overrides the viewer URL; `HF_TOKEN` is the token.
    pub fn from_env() -> HubSetting {
        if env("HF_HUB_OFFLINE").is_some_and(|v| v == "1" || v.eq_ignore_ascii_case("true")) {
            return HubSetting::Disabled("HF_HUB_OFFLINE is set".to_string());
        }
        let hub = env("AUTOML_HUB");
        let endpoint = match hub.as_deref() {
            Some("0") | Some("off") | Some("false") => {
                return HubSetting::Disabled("AUTOML_HUB is off".to_string());
            }
            Some("1") | Some("on") | Some("true") => {
                env("HF_ENDPOINT").unwrap_or_else(|| DEFAULT_ENDPOINT.to_string())
            }
            Some(url) => url.to_string(),
            None => match env("HF_ENDPOINT") {
                Some(e) => e,
                None => {
                    return HubSetting::Disabled(
                        "not configured (set AUTOML_HUB=1 or HF_ENDPOINT to search it)".to_string(),
                    );
                }
            },
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
        HubSetting::Enabled(cfg)
    }
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
        reqwest::Client::builder()
            .connect_timeout(self.cfg.connect_timeout)
            .timeout(self.cfg.timeout)
            .user_agent(concat!("automl/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| AutomlError::Internal(format!("HTTP client: {e}")))
    }

    /// GET with retries on 429/5xx; returns the response of the last try.
    async fn get(
        &self,
        http: &reqwest::Client,
        url: &str,
        cancel: &CancellationToken,
    ) -> Result<reqwest::Response> {
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            let mut req = http.get(url);
            if let Some(t) = &self.cfg.token {
                req = req.bearer_auth(t);
            }
            let resp = tokio::select! {
                r = req.send() => r,
                _ = cancel.cancelled() => return Err(AutomlError::Cancelled),
            };
            let resp = resp.map_err(|e| {
                AutomlError::NoDataset(if e.is_timeout() {
                    format!(
                        "the Hub at {} did not answer within {:.1} s",
                        self.cfg.endpoint,
                        self.cfg.timeout.as_secs_f64()
                    )
                } else {
                    format!(
                        "the Hub at {} is unreachable: {}",
                        self.cfg.endpoint,
                        chain(&e)
                    )
                })
            })?;
            let st = resp.status();
            let retryable = st.as_u16() == 429 || st.is_server_error();
            if !retryable || attempt > self.cfg.max_retries {
                return Ok(resp);
            }
            let delay = resp
                .headers()
                .get(reqwest::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<f64>().ok())
                .filter(|s| s.is_finite() && *s >= 0.0)
                .map(Duration::from_secs_f64)
                .unwrap_or(self.cfg.backoff * 2u32.saturating_pow(attempt - 1))
                .min(Duration::from_secs(10));
            tracing::debug!(
                url,
                status = st.as_u16(),
                ?delay,
                "Hub call will be retried"
            );
            tokio::select! {
                _ = tokio::time::sleep(delay) => {}
                _ = cancel.cancelled() => return Err(AutomlError::Cancelled),
            }
        }
    }

    /// Searches `/api/datasets`, following `Link` pages.
    pub async fn search(
        &self,
        terms: &str,
        category: Option<&str>,
        cancel: &CancellationToken,
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
            let resp = self.get(&http, &u, cancel).await?;
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
                    "the Hub search at {u} answered HTTP {}: {body}",
                    st.as_u16()
                )));
            }
            let link = resp
                .headers()
                .get(reqwest::header::LINK)
                .and_then(|v| v.to_str().ok())
                .and_then(next_link);
            let text = resp.text().await.map_err(|e| {
                AutomlError::NoDataset(format!("reading the Hub search answer: {}", chain(&e)))
            })?;
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
                next = link.map(|l| self.absolute(&l));
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
    async fn files_of(&self, ds: &HubDataset, cancel: &CancellationToken) -> Result<Vec<String>> {
        if let Some(s) = &ds.siblings {
            return Ok(s.iter().map(|s| s.rfilename.clone()).collect());
        }
        let http = self.http()?;
        let url = format!("{}/api/datasets/{}", self.cfg.endpoint, ds.id);
        let resp = self.get(&http, &url, cancel).await?;
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

    /// Downloads `files` of `id` into the hub cache with hf-hub; returns the snapshot folder.
    pub async fn download(
        &self,
        id: &str,
        files: &[String],
        cancel: &CancellationToken,
    ) -> Result<PathBuf> {
        use hf_hub::api::tokio::{ApiBuilder, ApiError};
        let api = ApiBuilder::from_cache(hf_hub::Cache::new(self.cfg.cache_dir.clone()))
            .with_endpoint(self.cfg.endpoint.clone())
            .with_token(self.cfg.token.clone())
            .with_progress(false)
            .build()
            .map_err(|e| AutomlError::Internal(format!("hf-hub client: {e}")))?;
        let repo = api.repo(hf_hub::Repo::new(id.to_string(), hf_hub::RepoType::Dataset));
        let mut snapshot: Option<PathBuf> = None;
        for f in files {
            let mut attempt = 0u32;
            let path = loop {
                attempt += 1;
                let r = tokio::select! {
                    r = repo.download(f) => r,
                    _ = cancel.cancelled() => return Err(AutomlError::Cancelled),
                };
                match r {
                    Ok(p) => break p,
                    Err(ApiError::RequestError(e))
                        if attempt <= self.cfg.max_retries
                            && e.status()
                                .is_some_and(|s| s.as_u16() == 429 || s.is_server_error()) =>
                    {
                        let delay = (self.cfg.backoff * 2u32.saturating_pow(attempt - 1))
                            .min(Duration::from_secs(10));
                        tokio::time::sleep(delay).await;
                    }
                    Err(e) => {
                        return Err(AutomlError::NoDataset(format!(
                            "downloading {f} of {id} from {} failed: {e}",
                            self.cfg.endpoint
                        )));
                    }
                }
            };
            if snapshot.is_none() {
                // path = <snapshot>/<f>
                let depth = f.split('/').count();
                snapshot = path.ancestors().nth(depth).map(PathBuf::from);
            }
        }
        snapshot.ok_or_else(|| AutomlError::NoDataset(format!("no files of {id} to download")))
    }

    /// First rows from the dataset viewer, when it answers.
    pub async fn preview(
        &self,
        id: &str,
        cancel: &CancellationToken,
    ) -> Option<DatasetSamplePayload> {
        let http = self.http().ok()?;
        let url = format!(
            "{}/first-rows?dataset={}&config=default&split=train",
            self.cfg.viewer, id
        );
        let resp = self.get(&http, &url, cancel).await.ok()?;
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
        let words = format!(
            "{} {} {}",
            ds.id,
            ds.description.clone().unwrap_or_default(),
            ds.card_data
                .as_ref()
                .and_then(|c| c.get("pretty_name"))
                .and_then(Value::as_str)
                .unwrap_or("")
        );
        let terms = term_overlap(&q.intent, &words);
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
        let mut found = self.search(&terms.join(" "), category, &cx.cancel).await?;
        if found.is_empty() && terms.len() > 1 {
            for t in &terms {
                for d in self.search(t, category, &cx.cancel).await? {
                    if !found.iter().any(|o| o.id == d.id) {
                        found.push(d);
                    }
                }
            }
        }
        let mut hits: Vec<Hit> = found
            .into_iter()
            .filter_map(|ds| {
                let score = self.score(&q, &ds)?;
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
            let files = match self.files_of(&h.ds, &cx.cancel).await {
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
            let snapshot = match self.download(&h.ds.id, &wanted_files, &cx.cancel).await {
                Ok(s) => s,
                Err(AutomlError::Cancelled) => return Err(AutomlError::Cancelled),
                Err(e) => {
                    skipped.push(format!("{}: {e}", h.ds.id));
                    continue;
                }
            };
            if let Some(p) = self.preview(&h.ds.id, &cx.cancel).await {
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
                    format!(
                        "the Hub search for {:?} ({}) found no matching data set",
                        terms.join(" "),
                        category.unwrap_or("any task")
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
