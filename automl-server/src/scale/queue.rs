//! The run queue (decision 0080): `automl serve --redis` pushes a [`RunJob`] to an apalis
//! queue on Redis instead of running it; `automl worker --redis` takes jobs, runs them with a
//! bus whose backend is the same Redis (so every server streams them), heartbeats, and takes
//! over the jobs of a worker that stopped heartbeating (apalis re-enqueues them). A job taken
//! over continues the project's stored log: it loads it, says so with a RESUMED event naming
//! the last stored seq, and runs the request again from the start.
//! Cancel: the server sets `<prefix>cancel:<project>`; the worker holding the run polls it.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use apalis::prelude::*;
use apalis_redis::{Config, RedisStorage};
use automl_core::event::{ResumePoint, ResumedPayload};
use automl_core::{BusBackend, Conductor, Event, EventBus, RunRequest};
use serde::{Deserialize, Serialize};

use super::{ArtifactStore, KEY_PREFIX, ProjectIndex, RedisStreams};

/// The apalis queue's name.
const QUEUE: &str = "automl:runs";
/// How often the worker holding a run looks for a cancel request.
const CANCEL_POLL: Duration = Duration::from_millis(300);

/// A run as queued: the parts of a [`RunRequest`] that travel (no in-memory table, no
/// waiting for an upload or a review, which need the process that holds the run).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RunJob {
    /// The project.
    pub project_id: String,
    /// The request text.
    pub prompt: String,
    /// A data file or folder readable by the workers.
    pub data: Option<PathBuf>,
    /// The target column.
    pub target: Option<String>,
    /// Training budget, seconds.
    pub time_budget_s: Option<f64>,
    /// Trial count.
    pub max_trials: Option<u32>,
    /// Seed.
    pub seed: Option<u64>,
    /// Research licences allowed.
    pub allow_restricted: bool,
    /// Metric to optimise.
    pub metric: Option<String>,
    /// Forecast horizon.
    pub horizon: Option<usize>,
    /// Held-out test rows.
    pub test_rows: Option<Vec<usize>>,
}

impl RunJob {
    /// The job for `req` on `project_id`; refuses what a queued run cannot do.
    pub fn from_request(project_id: &str, req: &RunRequest) -> Result<Self, String> {
        if req.table.is_some() {
            return Err("a run on rows in memory cannot be queued; upload a file".into());
        }
        if req.review {
            return Err("a queued run cannot wait for a review".into());
        }
        Ok(Self {
            project_id: project_id.to_string(),
            prompt: req.prompt.clone(),
            data: req.data.clone(),
            target: req.target.clone(),
            time_budget_s: req.time_budget_s,
            max_trials: req.max_trials,
            seed: req.seed,
            allow_restricted: req.allow_restricted,
            metric: req.metric.clone(),
            horizon: req.horizon,
            test_rows: req.test_rows.clone(),
        })
    }

    fn request(&self) -> RunRequest {
        RunRequest {
            prompt: self.prompt.clone(),
            data: self.data.clone(),
            target: self.target.clone(),
            time_budget_s: self.time_budget_s,
            max_trials: self.max_trials,
            seed: self.seed,
            project_id: Some(self.project_id.clone()),
            allow_restricted: self.allow_restricted,
            metric: self.metric.clone(),
            horizon: self.horizon,
            test_rows: self.test_rows.clone(),
            ..Default::default()
        }
    }
}

fn queue_config(heartbeat: Duration) -> Config {
    Config::default()
        .queue(QUEUE)
        .batch_size(1)
        .heartbeat_interval(heartbeat)
        .missed_heartbeats(2)
}

fn cancel_key(project_id: &str) -> String {
    format!("{KEY_PREFIX}cancel:{project_id}")
}

/// The server's end of the queue: pushes jobs, asks for cancels.
#[derive(Clone)]
pub struct RunQueue {
    storage: RedisStorage<RunJob>,
    conn: redis::aio::MultiplexedConnection,
    index: ProjectIndex,
}

impl RunQueue {
    /// Connects to the queue on `url`.
    pub async fn connect(url: &str) -> Result<Self, String> {
        let manager = apalis_redis::connect(url)
            .await
            .map_err(|e| format!("run queue on redis {url}: {e}"))?;
        let conn = redis::Client::open(url)
            .map_err(|e| format!("redis {url}: {e}"))?
            .get_multiplexed_async_connection()
            .await
            .map_err(|e| format!("redis {url}: {e}"))?;
        Ok(Self {
            storage: RedisStorage::new(manager).with_config(queue_config(Duration::from_secs(5))),
            index: ProjectIndex::new(conn.clone(), KEY_PREFIX),
            conn,
        })
    }

    /// Queues `job`, first recording its project in the shared project list (taken back if
    /// the job cannot be queued).
    pub async fn push(&self, job: RunJob) -> Result<(), String> {
        let id = job.project_id.clone();
        self.index.register(&id, &job.prompt).await?;
        let mut storage = self.storage.clone();
        if let Err(e) = storage.push(job).await {
            if let Err(u) = self.index.unregister(&id).await {
                tracing::warn!(project = %id, error = %u, "a project whose run was not queued stays in the shared list");
            }
            return Err(format!("cannot queue the run: {e}"));
        }
        Ok(())
    }

    /// The project list shared by the servers of this Redis.
    pub fn index(&self) -> &ProjectIndex {
        &self.index
    }

    /// Asks the worker holding `project_id`'s run to cancel it.
    pub async fn cancel(&self, project_id: &str) -> Result<(), String> {
        let mut conn = self.conn.clone();
        redis::cmd("SET")
            .arg(cancel_key(project_id))
            .arg(1)
            .arg("EX")
            .arg(86_400)
            .query_async::<()>(&mut conn)
            .await
            .map_err(|e| format!("cannot ask for the cancel: {e}"))
    }
}

/// Options of `automl worker`.
#[derive(Debug, clap::Args)]
pub struct WorkerArgs {
    /// The Redis of the servers (`redis://HOST:PORT`): the run queue and the event bus.
    #[arg(long, env = "AUTOML_REDIS_URL")]
    pub redis: String,
    /// Runs at once in this worker.
    #[arg(long, default_value_t = 1)]
    pub concurrency: usize,
    /// Run folders (`runs/<project>`) go here.
    #[arg(long, default_value = "automl-worker-data")]
    pub data_dir: PathBuf,
    /// The bundled catalog (default: found at run time).
    #[arg(long)]
    pub catalog_dir: Option<PathBuf>,
    /// Seconds between heartbeats; a worker silent for two is taken to be dead and its runs
    /// go to another worker.
    #[arg(long, default_value_t = 5)]
    pub heartbeat_s: u64,
    /// Never search the Hugging Face Hub.
    #[arg(long)]
    pub offline: bool,
    /// The object store for ended runs' folders (`file:///dir`, a folder, or
    /// `s3://bucket/prefix` with the `AWS_*` environment variables; decision 0090): the
    /// servers serve downloads from it. Without it, run folders stay on this worker's disk.
    #[arg(long, env = "AUTOML_STORE")]
    pub store: Option<String>,
    /// Seconds a finished project's Redis stream is kept once its log is archived in the
    /// store; then it expires and followers read the archived log.
    #[arg(long, default_value_t = 600)]
    pub trim_after_s: u64,
}

struct WorkerCtx {
    /// This worker's name (in the queue and in RESUMED messages).
    name: String,
    conductor: Conductor,
    bus: EventBus,
    conn: redis::aio::MultiplexedConnection,
    /// The event logs in Redis (to trim archived ones).
    streams: Arc<RedisStreams>,
    /// `--store`.
    store: Option<ArtifactStore>,
    runs_dir: PathBuf,
    trim_after: Duration,
}

/// Puts an ended run's folder and its whole log (`log`, as the bus holds it) into the store,
/// then lets its Redis stream expire after the grace. A failure is logged: the stream then
/// stays in Redis (nothing is lost), and downloads of that project answer 404.
async fn archive(ctx: &WorkerCtx, id: &str, log: &[automl_core::event::Envelope]) {
    let Some(store) = &ctx.store else { return };
    if !log.last().is_some_and(|e| e.event.is_terminal()) {
        tracing::error!(project = %id, "not archived: the log in this worker does not end the run");
        return;
    }
    let dir = ctx.runs_dir.join(id);
    let dir = dir.is_dir().then_some(dir);
    match store.archive_run(id, dir.as_deref(), log).await {
        Ok(n) => {
            tracing::info!(project = %id, objects = n, store = %store.url(), "run folder archived");
            if let Err(e) = ctx.streams.expire(id, ctx.trim_after).await {
                tracing::warn!(project = %id, error = %e, "the archived log's stream was not set to expire");
            }
        }
        Err(e) => {
            tracing::error!(project = %id, error = %e, "run folder not archived; its log stays in Redis")
        }
    }
}

async fn execute(job: RunJob, ctx: Data<Arc<WorkerCtx>>) -> Result<(), BoxDynError> {
    let id = job.project_id.clone();
    let bus = &ctx.bus;
    // What the project's log holds already: a job taken over from a dead worker continues it.
    let last = bus.load(&id).await?;
    let history = bus.history(&id);
    if history.last().is_some_and(|e| e.event.is_terminal()) {
        tracing::info!(project = %id, "the run had ended before this worker took the job");
        // Its worker may have died before archiving it.
        if let Some(store) = &ctx.store
            && matches!(store.archived_log(&id).await, Ok(None))
        {
            archive(&ctx, &id, &history).await;
        }
        bus.close(&id);
        bus.forget(&id);
        return Ok(());
    }
    if last > 0 {
        tracing::warn!(project = %id, last, "taking over a run whose worker stopped");
        bus.emitter(&id).emit(Event::Resumed(ResumedPayload {
            after_seq: last,
            from: ResumePoint::Start,
            message: format!(
                "the worker running this project stopped after seq {last}; worker {} runs it again from the start",
                ctx.name
            ),
        }));
    }
    let handle = ctx.conductor.start(job.request())?;
    let control = handle.control();
    let mut conn = ctx.conn.clone();
    let key = cancel_key(&id);
    let watch = tokio::spawn(async move {
        loop {
            tokio::time::sleep(CANCEL_POLL).await;
            let asked: redis::RedisResult<bool> =
                redis::cmd("EXISTS").arg(&key).query_async(&mut conn).await;
            if matches!(asked, Ok(true)) {
                tracing::info!(key = %key, "cancel asked for");
                control.cancel();
                return;
            }
        }
    });
    let outcome = handle.wait().await;
    watch.abort();
    let stored = bus.flush_backend(&id).await;
    let log = bus.history(&id);
    bus.forget(&id);
    stored?;
    archive(&ctx, &id, &log).await;
    match outcome {
        Ok(o) => tracing::info!(project = %id, status = ?o.status, "run ended"),
        Err(e) => tracing::warn!(project = %id, error = %e, "run failed"),
    }
    Ok(())
}

/// `automl worker`: takes queued runs until Ctrl-C or SIGTERM.
pub async fn worker_cli(args: WorkerArgs) -> ExitCode {
    match run_worker(args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(1)
        }
    }
}

async fn run_worker(args: WorkerArgs) -> Result<(), String> {
    // A bad store URL is refused before anything is connected.
    let store = match &args.store {
        None => None,
        Some(url) => Some(ArtifactStore::open(url).map_err(|e| format!("--store: {e}"))?),
    };
    let backend = RedisStreams::connect(&args.redis, KEY_PREFIX)
        .await
        .map_err(|e| e.to_string())?;
    let streams = Arc::new(backend);
    let backend: Arc<dyn BusBackend> = streams.clone();
    if let Some(s) = &store {
        s.check().await.map_err(|e| e.to_string())?;
    }
    let bus = EventBus::with_backend(automl_core::bus::DEFAULT_LIVE_BUFFER, backend);
    let runs_dir = args.data_dir.join("runs");
    std::fs::create_dir_all(&runs_dir)
        .map_err(|e| format!("cannot create {}: {e}", runs_dir.display()))?;
    let mut builder = Conductor::builder().bus(bus.clone()).runs_dir(&runs_dir);
    if let Some(c) = &args.catalog_dir {
        builder = builder.catalog_dir(c);
    }
    if args.offline {
        builder = builder.offline("offline (the worker runs with --offline)");
    }
    let conductor = builder.build().map_err(|e| e.to_string())?;
    let conn = redis::Client::open(args.redis.as_str())
        .map_err(|e| e.to_string())?
        .get_multiplexed_async_connection()
        .await
        .map_err(|e| format!("redis {}: {e}", args.redis))?;
    let manager = apalis_redis::connect(args.redis.as_str())
        .await
        .map_err(|e| format!("run queue on redis {}: {e}", args.redis))?;
    let storage = RedisStorage::<RunJob>::new(manager)
        .with_config(queue_config(Duration::from_secs(args.heartbeat_s.max(1))));
    let name = format!(
        "automl-worker-{}-{}",
        std::process::id(),
        chrono::Utc::now().timestamp_millis()
    );
    let ctx = Arc::new(WorkerCtx {
        name: name.clone(),
        conductor,
        bus,
        conn,
        streams,
        store,
        runs_dir: runs_dir.clone(),
        trim_after: Duration::from_secs(args.trim_after_s),
    });
    eprintln!(
        "automl worker {name} on {} (concurrency {})",
        args.redis,
        args.concurrency.max(1)
    );
    let worker = WorkerBuilder::new(name.as_str())
        .backend(storage)
        .data(ctx)
        .concurrency(args.concurrency.max(1))
        .build(execute);
    worker
        .run_until(wait_for_signal())
        .await
        .map_err(|e| format!("worker stopped: {e}"))
}

async fn wait_for_signal() -> Result<(), std::io::Error> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut term = signal(SignalKind::terminate())?;
        tokio::select! {
            r = tokio::signal::ctrl_c() => r,
            _ = term.recv() => Ok(()),
        }
    }
    #[cfg(not(unix))]
    tokio::signal::ctrl_c().await
}
