//! The server's shared state: the conductor and its bus, the runs in progress, the per-project
//! WebSocket hubs, the counters, and the rebuild of past projects from their event logs.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use automl_core::event::{Envelope, ErrorPayload, Stage, StageStatus};
use automl_core::{Conductor, Event, EventBus, RunHandle, RunRequest};
use axum::extract::ws::Utf8Bytes;
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

use super::error::AppError;

/// Everything `automl serve` can be told.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Holds `runs/<project>/` (event logs, artifacts) and `uploads/<project>/`.
    pub data_dir: PathBuf,
    /// `redis://HOST:PORT`: share every project's event log through Redis Streams with the
    /// other servers of the same Redis (docs/scale-out.md). `None` (the default): this
    /// process's memory only.
    pub redis_url: Option<String>,
    /// `--store`: the object store holding ended runs' folders (decision 0090). Downloads
    /// of a project this server does not hold on its disk come from there, and a finished
    /// project whose Redis stream has expired is replayed from its archived log. A run in
    /// this process is archived there when it ends. `None` (the default): the disk only.
    pub store: Option<crate::scale::ArtifactStore>,
    /// The built UI (`ui/dist`); `None` (the default) serves a notice instead.
    pub ui_dir: Option<PathBuf>,
    /// The bundled catalog (default: found at run time).
    pub catalog_dir: Option<PathBuf>,
    /// Largest upload accepted, in bytes.
    pub max_upload_bytes: u64,
    /// Largest total a zip may expand to, in bytes.
    pub max_unzipped_bytes: u64,
    /// Most entries a zip may hold.
    pub max_zip_entries: usize,
    /// Largest expansion ratio of one zip entry (uncompressed / compressed).
    pub max_zip_ratio: u64,
    /// How often the server pings each WebSocket; a client silent for three intervals is
    /// disconnected.
    pub ws_ping_interval: Duration,
    /// How long one write to a WebSocket may wait before the client counts as too slow.
    pub ws_send_timeout: Duration,
    /// Frames held per project for live delivery; a client further behind is disconnected
    /// (it reconnects with `?since=` and misses nothing).
    pub ws_live_buffer: usize,
    /// Most runs in progress at once.
    pub max_active_runs: usize,
    /// Training budget when the request gives none, in seconds.
    pub default_time_budget_s: f64,
    /// The token every request must carry (see `access.rs`); required for a non-loopback bind
    /// or when `exposed` is set.
    pub token: Option<super::access::Token>,
    /// The server is reachable from other machines although it listens on a loopback address
    /// (a reverse proxy in front): a token is then required as for a non-loopback bind.
    pub exposed: bool,
    /// Host names (besides IP literals and `localhost`) this server answers to, e.g. the name a
    /// reverse proxy forwards with `Host`.
    pub allowed_hosts: Vec<String>,
    /// Origins (`https://dash.example.org`) that may call the API from a browser: they get CORS
    /// headers and may send commands and open sockets. Empty: same origin only.
    pub cors_origins: Vec<String>,
    /// Largest body of a command (JSON), in bytes; uploads have `max_upload_bytes`.
    pub max_body_bytes: usize,
    /// Most WebSocket clients at once, in all.
    pub ws_max_clients: usize,
    /// Most WebSocket clients at once on one project.
    pub ws_max_per_project: usize,
    /// How long a socket to a project id the server does not know waits for it to appear (a
    /// UI follows a project just before it starts the run) before it is closed with 4404.
    pub ws_unknown_grace: Duration,
    /// How long a request or socket waits for a finished project's archived log from the
    /// object store (`--store`) before it is answered without it (not found).
    pub archive_fetch_timeout: Duration,
    /// Never ask the Hugging Face Hub (`--offline`); the skip is announced in every run.
    pub offline: bool,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            data_dir: PathBuf::from("automl-data"),
            redis_url: None,
            store: None,
            ui_dir: None,
            catalog_dir: None,
            offline: false,
            max_upload_bytes: 64 << 20,
            max_unzipped_bytes: 512 << 20,
            max_zip_entries: 20_000,
            max_zip_ratio: 200,
            ws_ping_interval: Duration::from_secs(20),
            ws_send_timeout: Duration::from_secs(10),
            ws_live_buffer: 4096,
            max_active_runs: 4,
            default_time_budget_s: automl_core::conductor::DEFAULT_TIME_BUDGET_S,
            token: None,
            exposed: false,
            allowed_hosts: Vec::new(),
            cors_origins: Vec::new(),
            max_body_bytes: 1 << 20,
            ws_max_clients: 10_000,
            ws_max_per_project: 2_000,
            ws_unknown_grace: Duration::from_secs(30),
            archive_fetch_timeout: Duration::from_secs(90),
        }
    }
}

impl ServerConfig {
    /// `data_dir/runs`.
    pub fn runs_dir(&self) -> PathBuf {
        self.data_dir.join("runs")
    }

    /// `data_dir/uploads/<project>`.
    pub fn upload_dir(&self, project: &ProjectId) -> PathBuf {
        self.data_dir.join("uploads").join(project.as_str())
    }

    /// `data_dir/runs/<project>`.
    pub fn run_dir(&self, project: &ProjectId) -> PathBuf {
        self.runs_dir().join(project.as_str())
    }

    /// `data_dir/runs/<project>/events.jsonl`.
    pub fn event_log(&self, project: &ProjectId) -> PathBuf {
        self.run_dir(project).join(EVENT_LOG)
    }
}

/// A run's event log, beside its artifacts.
pub const EVENT_LOG: &str = "events.jsonl";

/// Where a project's events are now.
pub enum Located {
    /// In the bus (a run in progress, or one that just ended): a subscription from `since` and
    /// the project's live frames.
    Live(automl_core::Subscription, broadcast::Receiver<Frame>),
    /// Only on disk (a finished run, evicted from memory): replay this `events.jsonl`.
    OnDisk(PathBuf),
}

/// A checked project id: 1-64 of `[A-Za-z0-9_-]`, starting with a letter or digit, so it is
/// always one safe path component.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ProjectId(String);

impl ProjectId {
    /// Checks `s`.
    pub fn parse(s: &str) -> Result<Self, AppError> {
        if automl_core::conductor::is_safe_project_id(s) {
            Ok(Self(s.to_string()))
        } else {
            Err(AppError::bad_id(s))
        }
    }

    /// The id.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for ProjectId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// The request of a project's run, written beside its event log (`runs/<id>/prompt.txt`) so the
/// project list still shows it after a restart.
pub const PROMPT_FILE: &str = "prompt.txt";

/// Longest prompt shown in the project list, in characters.
const PROMPT_SHOWN: usize = 200;

/// One project of `GET /api/projects`.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct ProjectSummary {
    /// The project id (open it with `/ws/projects/{id}?since=0`).
    pub id: String,
    /// The request, cut to 200 characters; `null` when it was not recorded.
    pub prompt: Option<String>,
    /// `running`, `finished`, `cancelled` or `failed`.
    pub status: String,
    /// Time of the first event (RFC 3339).
    pub started: Option<String>,
    /// Time of the terminal event, once there is one.
    pub finished: Option<String>,
    /// The exported model.
    pub model: Option<String>,
    /// The headline test metric: the optimised one when known (`{"name", "value"}`).
    pub metric: Option<HeadlineMetric>,
    /// Events so far.
    pub events: u64,
}

/// A metric's name and value.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct HeadlineMetric {
    /// e.g. `accuracy`, `rmse`.
    pub name: String,
    /// Its value on the held-out test split.
    pub value: f64,
}

/// A request as the project list shows it: trimmed, cut to [`PROMPT_SHOWN`] characters.
fn shown_prompt(p: &str) -> String {
    let p = p.trim();
    match p.char_indices().nth(PROMPT_SHOWN) {
        Some((i, _)) => format!("{}…", &p[..i]),
        None => p.to_string(),
    }
}

/// Summarises a project's events for the project list; `None` when it has none.
pub fn summarize(
    id: &str,
    events: &[Envelope],
    running: bool,
    prompt: Option<String>,
) -> Option<ProjectSummary> {
    let first = events.first()?;
    let mut optimised: Option<String> = None;
    let mut end: Option<(&str, &Envelope)> = None;
    let mut model = None;
    let mut metrics = None;
    for e in events {
        match &e.event {
            Event::LeaderboardUpdated(p) => optimised = Some(p.metric.clone()),
            Event::ReviewReady(p) => {
                model = Some(p.model.clone());
                metrics = Some(p.metrics.clone());
            }
            Event::RunFinished(p) | Event::RunCancelled(p) => {
                let kind = if matches!(e.event, Event::RunFinished(_)) {
                    "finished"
                } else {
                    "cancelled"
                };
                end = Some((kind, e));
                if p.model.is_some() {
                    model = p.model.clone();
                }
                if !p.metrics.is_empty() {
                    metrics = Some(p.metrics.clone());
                }
            }
            Event::Error(_) => end = Some(("failed", e)),
            _ => {}
        }
    }
    let metric = metrics.and_then(|m| {
        let name = optimised
            .filter(|n| m.contains_key(n))
            .or_else(|| {
                ["accuracy", "r2"]
                    .iter()
                    .find(|n| m.contains_key(**n))
                    .map(|n| n.to_string())
            })
            .or_else(|| m.keys().next().cloned())?;
        let value = m[&name];
        Some(HeadlineMetric { name, value })
    });
    let status = match end {
        Some((kind, _)) => kind,
        None if running => "running",
        // A log without an end whose run is not here: the restore marks these `interrupted`.
        None => "failed",
    };
    Some(ProjectSummary {
        id: id.to_string(),
        prompt: prompt.as_deref().map(shown_prompt),
        status: status.to_string(),
        started: Some(first.ts.clone()),
        finished: end.map(|(_, e)| e.ts.clone()),
        model,
        metric,
        events: events.len() as u64,
    })
}

/// One envelope serialised once for every WebSocket client of its project.
#[derive(Debug, Clone)]
pub struct Frame {
    /// The envelope's seq.
    pub seq: u64,
    /// Its JSON text.
    pub text: Utf8Bytes,
}

/// Counters exported at `/metrics`.
#[derive(Debug, Default)]
pub struct Counters {
    /// HTTP requests served.
    pub http_requests: AtomicU64,
    /// WebSocket connections open now.
    pub ws_open: AtomicU64,
    /// WebSocket connections accepted in all.
    pub ws_accepted: AtomicU64,
    /// Envelopes written to WebSockets.
    pub ws_sent: AtomicU64,
    /// Clients disconnected for being too slow.
    pub ws_slow_disconnects: AtomicU64,
    /// Clients disconnected for not answering pings.
    pub ws_ping_timeouts: AtomicU64,
    /// Runs started.
    pub runs_started: AtomicU64,
    /// Uploads accepted.
    pub uploads_accepted: AtomicU64,
    /// Uploads refused.
    pub uploads_rejected: AtomicU64,
    /// Projects rebuilt from event logs at start-up.
    pub projects_restored: AtomicU64,
}

impl Counters {
    /// Adds one to `c`.
    pub fn inc(c: &AtomicU64) {
        c.fetch_add(1, Ordering::Relaxed);
    }
}

pub(crate) struct Inner {
    pub config: ServerConfig,
    pub conductor: Conductor,
    pub bus: EventBus,
    /// The run queue under `--redis`: runs go to `automl worker`s instead of this process.
    pub queue: Option<crate::scale::RunQueue>,
    pub counters: Counters,
    pub shutdown: CancellationToken,
    runs: Mutex<HashMap<ProjectId, RunHandle>>,
    /// Runs whose stream has ended but whose sinks (the event log file) are still finishing.
    finishing: AtomicU64,
    hubs: Mutex<HashMap<ProjectId, broadcast::Sender<Frame>>>,
    uploads: Mutex<HashMap<ProjectId, PathBuf>>,
    /// Summaries of finished projects whose events are on disk only (for the project list).
    finished: Mutex<HashMap<ProjectId, ProjectSummary>>,
    /// WebSocket clients per project, and in all.
    slots: Mutex<(usize, HashMap<ProjectId, usize>)>,
    /// Bumped whenever a project comes into being (a run starts, an upload lands), to wake
    /// sockets waiting for one.
    created: tokio::sync::watch::Sender<u64>,
}

/// A WebSocket client's place under the caps; freed when dropped.
pub struct Slot {
    state: AppState,
    id: ProjectId,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut slots = lock(&self.state.0.slots);
        slots.0 = slots.0.saturating_sub(1);
        if let Some(n) = slots.1.get_mut(&self.id) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                slots.1.remove(&self.id);
            }
        }
    }
}

/// Shared by every handler. Cheap to clone.
#[derive(Clone)]
pub struct AppState(pub(crate) Arc<Inner>);

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl AppState {
    /// Builds the state: a conductor sharing one bus, with run folders under `data_dir/runs`.
    pub fn new(config: ServerConfig) -> Result<Self, AppError> {
        Self::with_bus(config, EventBus::default())
    }

    /// Builds the state around `bus` (one with a shared backend under `--redis`).
    pub fn with_bus(config: ServerConfig, bus: EventBus) -> Result<Self, AppError> {
        Self::with_bus_and_queue(config, bus, None)
    }

    /// Builds the state around `bus`, queueing runs on `queue` when given.
    pub fn with_bus_and_queue(
        config: ServerConfig,
        bus: EventBus,
        queue: Option<crate::scale::RunQueue>,
    ) -> Result<Self, AppError> {
        let mut builder = Conductor::builder()
            .bus(bus.clone())
            .runs_dir(config.runs_dir())
            .default_time_budget(config.default_time_budget_s);
        if let Some(c) = &config.catalog_dir {
            builder = builder.catalog_dir(c);
        }
        if config.offline {
            builder = builder.offline("offline (the server runs with --offline)");
        }
        let conductor = builder.build().map_err(AppError::internal)?;
        Ok(Self(Arc::new(Inner {
            config,
            conductor,
            bus,
            queue,
            counters: Counters::default(),
            shutdown: CancellationToken::new(),
            runs: Mutex::new(HashMap::new()),
            finishing: AtomicU64::new(0),
            hubs: Mutex::new(HashMap::new()),
            uploads: Mutex::new(HashMap::new()),
            finished: Mutex::new(HashMap::new()),
            slots: Mutex::new((0, HashMap::new())),
            created: tokio::sync::watch::channel(0).0,
        })))
    }

    /// The configuration.
    pub fn config(&self) -> &ServerConfig {
        &self.0.config
    }

    /// The bus every run emits into.
    pub fn bus(&self) -> &EventBus {
        &self.0.bus
    }

    /// The counters.
    pub fn counters(&self) -> &Counters {
        &self.0.counters
    }

    /// Cancelled when the server stops.
    pub fn shutdown_token(&self) -> &CancellationToken {
        &self.0.shutdown
    }

    /// True when the project has a run, in progress or finished (in memory or on disk).
    /// Creates nothing.
    pub fn project_exists(&self, id: &ProjectId) -> bool {
        lock(&self.0.runs).contains_key(id)
            || self.has_events(id)
            || lock(&self.0.finished).contains_key(id)
            || self.0.config.event_log(id).is_file()
    }

    fn has_events(&self, id: &ProjectId) -> bool {
        self.0.bus.contains(id.as_str()) && !self.0.bus.history(id.as_str()).is_empty()
    }

    /// The project's events: from memory while it is live, else read back from its log
    /// (`None` for a project with neither).
    pub async fn events(&self, id: &ProjectId) -> Option<Vec<Envelope>> {
        self.follow_shared(id).await;
        if self.0.bus.contains(id.as_str()) {
            return Some(self.0.bus.history(id.as_str()));
        }
        let log = self.0.config.event_log(id);
        tokio::task::spawn_blocking(move || read_events(&log))
            .await
            .ok()
            .flatten()
    }

    /// With a shared bus (`--redis`): reads a project this server does not hold from the
    /// shared log and follows it from now on, so that any server serves any project's
    /// events. A failure is logged and leaves the project to the local sources.
    pub async fn follow_shared(&self, id: &ProjectId) {
        if self.0.bus.backend_name().is_none() || lock(&self.0.runs).contains_key(id) {
            return;
        }
        // A finished project whose log is archived in the store: the archive is whole (the
        // log is its last object), while its Redis stream expires soon after. The archive is
        // asked first: reading the stream page by page could race its expiry and leave a log
        // cut short, which a socket would then wait on for ever. It is replayed from a local
        // copy.
        if !self.0.bus.contains(id.as_str())
            && !self.0.config.event_log(id).is_file()
            && let Some(store) = self.0.config.store.clone()
            && self.fetch_archived(&store, id).await
        {
            return;
        }
        match self.0.bus.follow(id.as_str()).await {
            Ok(()) => {
                if self.has_events(id) {
                    self.notify_created();
                }
            }
            Err(e) => {
                tracing::warn!(project = %id, error = %e, "cannot follow the project in the shared event log")
            }
        }
    }

    /// Copies `id`'s archived log from the store to `runs/<id>/events.jsonl` (whole, then
    /// renamed into place) and indexes it; true when there was one.
    async fn fetch_archived(&self, store: &crate::scale::ArtifactStore, id: &ProjectId) -> bool {
        // Bounded as a whole (the store client bounds each request, not their retries): a
        // socket or request waiting on it gets its answer, never a hang.
        let limit = self.0.config.archive_fetch_timeout;
        let fetched = tokio::time::timeout(limit, store.archived_log(id.as_str())).await;
        let bytes = match fetched {
            Ok(Ok(Some(b))) => b,
            Ok(Ok(None)) => return false,
            Ok(Err(e)) => {
                tracing::warn!(project = %id, error = %e, "cannot read the archived event log");
                return false;
            }
            Err(_) => {
                tracing::warn!(project = %id, after = ?limit, "the archived event log did not arrive in time");
                return false;
            }
        };
        // Writing and indexing a log of many megabytes is blocking work: off the runtime.
        let this = self.clone();
        let id = id.clone();
        let kept = tokio::task::spawn_blocking(move || this.keep_archived(&id, &bytes)).await;
        kept.unwrap_or(false)
    }

    fn keep_archived(&self, id: &ProjectId, bytes: &[u8]) -> bool {
        let log = self.0.config.event_log(id);
        let part = self.0.config.run_dir(id).join(format!(".{EVENT_LOG}.part"));
        let written = std::fs::create_dir_all(self.0.config.run_dir(id))
            .and_then(|()| std::fs::write(&part, bytes))
            .and_then(|()| std::fs::rename(&part, &log));
        if let Err(e) = written {
            tracing::warn!(project = %id, error = %e, "cannot keep the archived event log");
            return false;
        }
        match self.restore_one(id, &log) {
            Ok(n) => {
                tracing::info!(project = %id, events = n, "finished project read from its archived log");
                self.notify_created();
                true
            }
            Err(e) => {
                tracing::warn!(project = %id, error = %e, "archived event log not loaded");
                false
            }
        }
    }

    /// True when a shared bus backend is configured.
    pub fn shared_bus(&self) -> bool {
        self.0.bus.backend_name().is_some()
    }

    /// True when the project has a run or an upload: a socket to it waits for events.
    pub fn project_known(&self, id: &ProjectId) -> bool {
        self.project_exists(id) || self.0.config.upload_dir(id).is_dir()
    }

    /// Where the project's events are, without creating anything for an unknown project
    /// (`None`). A live project is subscribed from `since`; its live frames are subscribed
    /// first so that nothing falls between the two.
    pub fn locate(&self, id: &ProjectId, since: u64) -> Option<Located> {
        // Under the hubs lock: the reaper forgets a finished log under the same lock, so a
        // project is never half-forgotten here.
        let mut hubs = lock(&self.0.hubs);
        let in_bus = self.0.bus.contains(id.as_str());
        if !in_bus {
            let log = self.0.config.event_log(id);
            if log.is_file() {
                return Some(Located::OnDisk(log));
            }
            if !self.0.config.upload_dir(id).is_dir() {
                return None;
            }
        }
        let live = self.hub_locked(&mut hubs, id);
        let sub = self.0.bus.subscribe_durable(id.as_str(), since);
        Some(Located::Live(sub, live))
    }

    /// A receiver that changes whenever a project comes into being.
    pub fn watch_created(&self) -> tokio::sync::watch::Receiver<u64> {
        self.0.created.subscribe()
    }

    fn notify_created(&self) {
        self.0.created.send_modify(|n| *n += 1);
    }

    /// Takes a WebSocket client's place under the caps (`ws_max_clients` in all,
    /// `ws_max_per_project` on one project).
    pub fn reserve_slot(&self, id: &ProjectId) -> Result<Slot, AppError> {
        let mut slots = lock(&self.0.slots);
        if slots.0 >= self.0.config.ws_max_clients {
            return Err(AppError::TooManyClients("the server's limit"));
        }
        let n = slots.1.get(id).copied().unwrap_or(0);
        if n >= self.0.config.ws_max_per_project {
            return Err(AppError::TooManyClients("this project's limit"));
        }
        slots.0 += 1;
        slots.1.insert(id.clone(), n + 1);
        Ok(Slot {
            state: self.clone(),
            id: id.clone(),
        })
    }

    /// WebSocket clients holding a place now, and projects with at least one.
    pub fn slots_in_use(&self) -> (usize, usize) {
        let slots = lock(&self.0.slots);
        (slots.0, slots.1.len())
    }

    /// Projects whose events are held in memory now, and live hubs.
    pub fn memory_footprint(&self) -> (usize, usize) {
        (self.0.bus.projects().len(), lock(&self.0.hubs).len())
    }

    /// Runs in progress.
    pub fn active_runs(&self) -> usize {
        lock(&self.0.runs).len()
    }

    /// Remembers the latest upload of a project (the data `/train` uses by default).
    pub fn set_upload(&self, id: &ProjectId, path: PathBuf) {
        lock(&self.0.uploads).insert(id.clone(), path);
        self.notify_created();
    }

    /// The latest upload of a project: the one received since the server started, else the
    /// newest one on disk (so uploads survive a restart).
    pub fn upload(&self, id: &ProjectId) -> Option<PathBuf> {
        if let Some(p) = lock(&self.0.uploads).get(id).cloned() {
            return Some(p);
        }
        latest_upload(&self.0.config.upload_dir(id))
    }

    /// Starts a run for a project that has none yet: in this process, or, under `--redis`,
    /// queued for a worker (then the project is followed in the shared log like any other
    /// server's).
    pub async fn submit_run(&self, id: &ProjectId, mut req: RunRequest) -> Result<(), AppError> {
        let Some(queue) = self.0.queue.clone() else {
            return self.start_run(id, req);
        };
        if self.0.shutdown.is_cancelled() {
            return Err(AppError::ShuttingDown);
        }
        req.project_id = Some(id.to_string());
        req.out_dir = None;
        // Waiting for an upload needs the process holding the run; a queued run fails instead.
        req.wait_for_upload = false;
        req.validate()?;
        if self.project_exists(id) || self.0.bus.load(id.as_str()).await.unwrap_or(0) > 0 {
            return Err(AppError::ProjectExists(id.to_string()));
        }
        // A finished project whose stream has expired is in the store only.
        if let Some(store) = &self.0.config.store {
            let archived = store
                .has(id.as_str(), crate::scale::ARCHIVED_LOG)
                .await
                .map_err(|e| AppError::StoreUnavailable(e.to_string()))?;
            if archived {
                return Err(AppError::ProjectExists(id.to_string()));
            }
        }
        let job =
            crate::scale::RunJob::from_request(id.as_str(), &req).map_err(AppError::BadRequest)?;
        queue.push(job).await.map_err(AppError::internal)?;
        Counters::inc(&self.0.counters.runs_started);
        tracing::info!(project = %id, "run queued");
        self.follow_shared(id).await;
        self.notify_created();
        self.record_end_when_over(id, req.prompt.clone(), queue.index().clone());
        Ok(())
    }

    /// Under `--redis`: stores the project's summary in the shared project list when its log
    /// reaches a terminal event (the server that queued a run follows it to the end).
    fn record_end_when_over(
        &self,
        id: &ProjectId,
        prompt: String,
        index: crate::scale::ProjectIndex,
    ) {
        let state = self.clone();
        let id = id.clone();
        let mut sub = self.0.bus.subscribe(id.as_str(), 0);
        let stop = self.0.shutdown.clone();
        tokio::spawn(async move {
            loop {
                let next = tokio::select! {
                    n = sub.next() => n,
                    () = stop.cancelled() => return,
                };
                match next {
                    Some(e) if e.event.is_terminal() => break,
                    Some(_) => {}
                    None => return,
                }
            }
            let events = state.0.bus.history(id.as_str());
            let Some(summary) = summarize(id.as_str(), &events, false, Some(prompt)) else {
                return;
            };
            if let Err(e) = index.record_end(&summary).await {
                tracing::warn!(project = %id, error = %e, "the finished project's summary is not in the shared list; the next listing makes it from the log");
            }
        });
    }

    /// `GET /api/projects`: this server's projects and, under `--redis`, every project any
    /// server of the same Redis queued, newest first. A shared project this server follows
    /// is summarised from its copy; another from its stored summary, or, while it has none,
    /// from its event stream (`queued` while it has no events).
    pub async fn list_projects(&self) -> Result<Vec<ProjectSummary>, AppError> {
        let mut out = self.projects();
        let Some(queue) = self.0.queue.clone() else {
            return Ok(out);
        };
        let index = queue.index();
        let unavailable = |e: String| {
            tracing::warn!(error = %e, "shared project list");
            AppError::SharedUnavailable(e)
        };
        let listed = index.list().await.map_err(unavailable)?;
        // Sort key: the first event's time, else the time the run was queued.
        let mut queued_at: HashMap<String, String> = HashMap::new();
        let mut pending = Vec::new();
        for p in listed {
            if let Some(q) = &p.queued {
                queued_at.insert(p.id.clone(), q.clone());
            }
            if let Some(local) = out.iter_mut().find(|o| o.id == p.id) {
                if local.prompt.is_none() {
                    local.prompt = p.prompt.as_deref().map(shown_prompt);
                }
                continue;
            }
            match p.summary {
                Some(mut s) => {
                    if s.prompt.is_none() {
                        s.prompt = p.prompt.as_deref().map(shown_prompt);
                    }
                    out.push(s);
                }
                None => pending.push(p),
            }
        }
        let ids: Vec<String> = pending.iter().map(|p| p.id.clone()).collect();
        let ends = index.ends(&ids).await.map_err(unavailable)?;
        for (p, ends) in pending.into_iter().zip(ends) {
            let prompt = p.prompt.clone();
            let summary = match ends {
                None => ProjectSummary {
                    id: p.id.clone(),
                    prompt: prompt.as_deref().map(shown_prompt),
                    status: "queued".into(),
                    started: None,
                    finished: None,
                    model: None,
                    metric: None,
                    events: 0,
                },
                Some((_, last)) if last.event.is_terminal() => {
                    // Ended: summarise the whole log once and store it for every server.
                    let events = index.log(&p.id).await.map_err(unavailable)?;
                    let Some(s) = summarize(&p.id, &events, false, prompt) else {
                        continue;
                    };
                    if let Err(e) = index.record_end(&s).await {
                        tracing::warn!(project = %p.id, error = %e, "summary not stored in the shared list");
                    }
                    s
                }
                Some((first, last)) => {
                    let Some(mut s) = summarize(&p.id, &[first, last.clone()], true, prompt) else {
                        continue;
                    };
                    s.events = last.seq;
                    s
                }
            };
            out.push(summary);
        }
        let key = |s: &ProjectSummary| {
            s.started
                .clone()
                .or_else(|| queued_at.get(&s.id).cloned())
                .unwrap_or_default()
        };
        out.sort_by(|a, b| key(b).cmp(&key(a)).then_with(|| a.id.cmp(&b.id)));
        Ok(out)
    }

    /// Starts a run for a project that has none yet.
    pub fn start_run(&self, id: &ProjectId, mut req: RunRequest) -> Result<(), AppError> {
        if self.0.shutdown.is_cancelled() {
            return Err(AppError::ShuttingDown);
        }
        req.project_id = Some(id.to_string());
        req.out_dir = None;
        {
            let mut runs = lock(&self.0.runs);
            if runs.contains_key(id)
                || self.has_events(id)
                || lock(&self.0.finished).contains_key(id)
                || self.0.config.event_log(id).is_file()
            {
                return Err(AppError::ProjectExists(id.to_string()));
            }
            if runs.len() >= self.0.config.max_active_runs {
                return Err(AppError::Busy(runs.len()));
            }
            // Checked before anything is written for the project.
            req.validate()?;
            let dir = self.0.config.runs_dir().join(id.as_str());
            if let Err(e) = std::fs::create_dir_all(&dir)
                .and_then(|()| std::fs::write(dir.join(PROMPT_FILE), &req.prompt))
            {
                tracing::warn!(project = %id, error = %e, "prompt not recorded");
            }
            let handle = self.0.conductor.start(req)?;
            runs.insert(id.clone(), handle);
        }
        Counters::inc(&self.0.counters.runs_started);
        tracing::info!(project = %id, "run started");
        self.notify_created();
        // Reap the run once its stream is closed (the conductor closes it at the very end).
        let state = self.clone();
        let id = id.clone();
        let mut sub = self.0.bus.subscribe_durable(id.as_str(), 0);
        tokio::spawn(async move {
            while sub.next().await.is_some() {}
            let handle = {
                let mut runs = lock(&state.0.runs);
                let h = runs.remove(&id);
                if h.is_some() {
                    state.0.finishing.fetch_add(1, Ordering::SeqCst);
                }
                h
            };
            let had_handle = handle.is_some();
            if let Some(h) = handle {
                match h.wait().await {
                    Ok(o) => {
                        tracing::info!(project = %id, status = ?o.status, model = ?o.model, "run ended")
                    }
                    Err(e) => tracing::warn!(project = %id, error = %e, "run failed"),
                }
            }
            // With a shared bus, the other servers read the log from it: wait until all of
            // it is there before this server lets go of its copy.
            if let Err(e) = state.0.bus.flush_backend(id.as_str()).await {
                tracing::error!(project = %id, error = %e, "the run's events did not all reach the shared event log");
            }
            if let Some(store) = &state.0.config.store {
                let log = state.0.bus.history(id.as_str());
                let dir = state.0.config.run_dir(&id);
                match store.archive_run(id.as_str(), Some(&dir), &log).await {
                    Ok(n) => tracing::info!(project = %id, objects = n, "run folder archived"),
                    Err(e) => {
                        tracing::error!(project = %id, error = %e, "run folder not archived in the store")
                    }
                }
            }
            // The JSONL sink has written the whole log (wait() joins the sinks): keep only a
            // summary in memory, and replay from the file from now on.
            state.evict(&id);
            if had_handle {
                state.0.finishing.fetch_sub(1, Ordering::SeqCst);
            }
        });
        Ok(())
    }

    /// Drops a finished project's log from memory, keeping its summary for the project list.
    /// Its events are then replayed from `events.jsonl`.
    pub fn evict(&self, id: &ProjectId) {
        let events = self.0.bus.history(id.as_str());
        let hubs = lock(&self.0.hubs);
        if let Some(s) = summarize(id.as_str(), &events, false, self.prompt(id)) {
            lock(&self.0.finished).insert(id.clone(), s);
        }
        let gone = self.0.config.event_log(id).is_file() && self.0.bus.forget(id.as_str());
        drop(hubs);
        tracing::debug!(project = %id, evicted = gone, "finished project's log leaves memory");
    }

    fn prompt(&self, id: &ProjectId) -> Option<String> {
        std::fs::read_to_string(self.0.config.run_dir(id).join(PROMPT_FILE)).ok()
    }

    /// Every project with events, newest first.
    pub fn projects(&self) -> Vec<ProjectSummary> {
        let running: Vec<ProjectId> = lock(&self.0.runs).keys().cloned().collect();
        let mut out: Vec<ProjectSummary> = self
            .0
            .bus
            .projects()
            .into_iter()
            .filter_map(|id| {
                let pid = ProjectId::parse(&id).ok()?;
                let events = self.0.bus.history(&id);
                // Under a shared bus, a log without an end is a run on a worker.
                let is_running = running.contains(&pid) || self.shared_bus();
                summarize(&id, &events, is_running, self.prompt(&pid))
            })
            .collect();
        for (id, s) in lock(&self.0.finished).iter() {
            if !out.iter().any(|o| o.id == id.as_str()) {
                out.push(s.clone());
            }
        }
        out.sort_by(|a, b| b.started.cmp(&a.started).then_with(|| a.id.cmp(&b.id)));
        out
    }

    /// Cancels the project's run.
    pub fn cancel(&self, id: &ProjectId) -> Result<(), AppError> {
        match lock(&self.0.runs).get(id) {
            Some(h) => {
                h.cancel();
                Ok(())
            }
            None => Err(AppError::NoActiveRun(id.to_string())),
        }
    }

    /// Cancels the project's run: in this process, or, for a queued run, by asking the
    /// worker that holds it (through Redis).
    pub async fn cancel_any(&self, id: &ProjectId) -> Result<(), AppError> {
        let local = self.cancel(id);
        let Some(queue) = self.0.queue.clone() else {
            return local;
        };
        if local.is_ok() {
            return local;
        }
        self.follow_shared(id).await;
        let history = self.0.bus.history(id.as_str());
        if history.is_empty() || history.last().is_some_and(|e| e.event.is_terminal()) {
            return Err(AppError::NoActiveRun(id.to_string()));
        }
        queue.cancel(id.as_str()).await.map_err(AppError::internal)
    }

    /// Answers a stage that waits.
    pub fn confirm(
        &self,
        id: &ProjectId,
        stage: Stage,
        choice: automl_core::Choice,
    ) -> Result<(), AppError> {
        match lock(&self.0.runs).get(id) {
            Some(h) => h.confirm(stage, choice).map_err(AppError::from),
            None => Err(AppError::NoActiveRun(id.to_string())),
        }
    }

    /// Cancels every run and waits up to `grace` for them to end (their logs then end with
    /// RUN_CANCELLED).
    pub async fn cancel_all(&self, grace: Duration) {
        let ids: Vec<ProjectId> = {
            let runs = lock(&self.0.runs);
            for h in runs.values() {
                h.cancel();
            }
            runs.keys().cloned().collect()
        };
        let deadline = tokio::time::Instant::now() + grace;
        // Until every run has ended and its event log is written whole.
        while (self.active_runs() > 0 || self.0.finishing.load(Ordering::SeqCst) > 0)
            && tokio::time::Instant::now() < deadline
        {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        if !ids.is_empty() {
            tracing::info!(
                runs = ids.len(),
                left = self.active_runs(),
                "runs cancelled for shutdown"
            );
        }
    }

    /// The live frames of a project, serialised once and shared by all its clients. The hub
    /// task ends when the project's stream closes.
    fn hub_locked(
        &self,
        hubs: &mut HashMap<ProjectId, broadcast::Sender<Frame>>,
        id: &ProjectId,
    ) -> broadcast::Receiver<Frame> {
        if let Some(tx) = hubs.get(id) {
            return tx.subscribe();
        }
        let (tx, rx) = broadcast::channel(self.0.config.ws_live_buffer.max(16));
        hubs.insert(id.clone(), tx.clone());
        let emitter = self.0.bus.emitter(id.as_str());
        // Every event after this point reaches the hub; clients fill anything earlier from the
        // log themselves.
        let mut sub = self
            .0
            .bus
            .subscribe_durable(id.as_str(), emitter.last_seq());
        let state = self.clone();
        let id = id.clone();
        tokio::spawn(async move {
            while let Some(env) = sub.next().await {
                let frame = Frame {
                    seq: env.seq,
                    text: Utf8Bytes::from(env.to_json_line()),
                };
                // No receiver right now is fine: the log keeps the event.
                let _ = tx.send(frame);
            }
            let mut hubs = lock(&state.0.hubs);
            if hubs.get(&id).is_some_and(|t| t.same_channel(&tx)) {
                hubs.remove(&id);
            }
        });
        rx
    }

    /// Indexes past projects from `data_dir/runs/*/events.jsonl`: each log is read once for
    /// its summary (the project list) and left on disk, where sockets replay it from. A log that
    /// stops before a terminal event (the server died mid-run) gets an ERROR `interrupted`
    /// appended. Returns how many projects were found.
    pub fn restore(&self) -> usize {
        let dir = self.0.config.runs_dir();
        let Ok(entries) = std::fs::read_dir(&dir) else {
            return 0;
        };
        let mut n = 0;
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let Ok(id) = ProjectId::parse(&name) else {
                continue;
            };
            let log = entry.path().join(EVENT_LOG);
            if !log.is_file() {
                continue;
            }
            // The space a killed run had set aside for its last event (JsonlSink's reserve).
            let _ = std::fs::remove_file(entry.path().join(format!(".{EVENT_LOG}.reserve")));
            match self.restore_one(&id, &log) {
                Ok(k) => {
                    n += 1;
                    tracing::info!(project = %id, events = k, "project indexed from its event log");
                }
                Err(e) => {
                    tracing::warn!(project = %id, log = %log.display(), error = %e, "event log not loaded")
                }
            }
        }
        self.0
            .counters
            .projects_restored
            .store(n as u64, Ordering::Relaxed);
        n
    }

    fn restore_one(&self, id: &ProjectId, log: &Path) -> automl_core::Result<usize> {
        // Leniently: a line the contract cannot read back (GD_PATH_UPDATE with a `null` loss,
        // for one) costs that line in the summary, not the whole project. Sockets replay the
        // raw lines, so they still get every event.
        let mut events = read_events(log).ok_or_else(|| automl_core::AutomlError::Io {
            path: log.to_path_buf(),
            source: std::io::Error::other("unreadable"),
        })?;
        if let Some(e) = events.iter().find(|e| e.project_id != id.as_str()) {
            return Err(automl_core::AutomlError::InvalidOption {
                name: format!("event log of {id}"),
                message: format!("seq {} belongs to project {:?}", e.seq, e.project_id),
            });
        }
        let last_stage = events.iter().rev().find_map(|e| match &e.event {
            Event::StageStatus(p) if p.status == StageStatus::Running => Some(p.stage),
            _ => None,
        });
        let ended = events.last().is_some_and(|e| e.event.is_terminal());
        if !ended {
            let env = Envelope {
                kind: "event".to_string(),
                project_id: id.to_string(),
                seq: events.last().map_or(0, |e| e.seq) + 1,
                ts: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
                event: Event::Error(ErrorPayload {
                    code: "interrupted".to_string(),
                    message:
                        "the server stopped during this run; start a new project to run it again"
                            .to_string(),
                    stage: last_stage,
                    user_error: false,
                }),
            };
            use std::io::Write;
            let io = |e| automl_core::AutomlError::Io {
                path: log.to_path_buf(),
                source: e,
            };
            end_on_a_whole_line(log).map_err(io)?;
            let mut f = std::fs::OpenOptions::new()
                .append(true)
                .open(log)
                .map_err(io)?;
            writeln!(f, "{}", env.to_json_line()).map_err(io)?;
            f.sync_data().map_err(io)?;
            events.push(env);
        }
        let k = events.len();
        if let Some(s) = summarize(id.as_str(), &events, false, self.prompt(id)) {
            lock(&self.0.finished).insert(id.clone(), s);
        }
        Ok(k)
    }
}

/// A server killed in the middle of a write leaves half a line at the end of a log: that tail
/// is cut off (a last line that parses but lacks its newline gets one), so what is appended
/// next starts a line of its own and the file holds only whole envelopes.
fn end_on_a_whole_line(log: &Path) -> std::io::Result<()> {
    let bytes = std::fs::read(log)?;
    if bytes.is_empty() || bytes.ends_with(b"\n") {
        return Ok(());
    }
    let start = bytes.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
    let f = std::fs::OpenOptions::new().append(true).open(log)?;
    if serde_json::from_slice::<Envelope>(&bytes[start..]).is_ok() {
        use std::io::Write;
        return (&f).write_all(b"\n");
    }
    tracing::warn!(log = %log.display(), bytes = bytes.len() - start, "a torn last line was cut off");
    f.set_len(start as u64)
}

/// The envelopes of an event log; a line that does not parse is skipped (and logged) rather
/// than losing the whole log. `None` when the file cannot be read.
pub fn read_events(log: &Path) -> Option<Vec<Envelope>> {
    let text = std::fs::read_to_string(log).ok()?;
    let mut out = Vec::new();
    for (i, line) in text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
    {
        match serde_json::from_str::<Envelope>(line) {
            Ok(e) => out.push(e),
            Err(e) => {
                tracing::warn!(log = %log.display(), line = i + 1, error = %e, "event line skipped")
            }
        }
    }
    Some(out)
}

/// The newest upload in a project's upload folder (a table file or an image folder; partial
/// and hidden entries are skipped).
pub fn latest_upload(dir: &Path) -> Option<PathBuf> {
    std::fs::read_dir(dir)
        .ok()?
        .flatten()
        .filter(|e| !e.file_name().to_string_lossy().starts_with('.'))
        .filter_map(|e| {
            let m = e.metadata().ok()?;
            Some((m.modified().ok()?, e.path()))
        })
        .max_by(|a, b| a.0.cmp(&b.0).then_with(|| a.1.cmp(&b.1)))
        .map(|(_, p)| p)
}
