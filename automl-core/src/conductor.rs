//! The [`Conductor`]: runs the eight stages of a request in order, as one task per project,
//! through the pluggable agents, trainers and sinks, and turns every state change into an event.
//!
//! ```no_run
//! # async fn demo() -> automl_core::Result<()> {
//! use automl_core::{Conductor, RunRequest};
//! let conductor = Conductor::builder().build()?;
//! let outcome = conductor.run(RunRequest::new("classify iris species")).await?;
//! println!("{:?}", outcome.metrics);
//! # Ok(()) }
//! ```

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::agent::{Agent, Prompt, RunSettings, StageContext};
use crate::bus::{Emitter, EventBus, Subscription};
use crate::catalog::{ChosenDataset, DatasetChoice, DatasetQuery};
use crate::data::{self, Dataset};
use crate::error::{AutomlError, Result};
use crate::event::{
    Artifact, ArtifactsPayload, DatasetCandidatesPayload, DatasetSelectedPayload, ErrorPayload,
    Event, LeaderboardRow, Metrics, Misclassified, ModelCandidate, ModelCandidatesPayload,
    ReviewPayload, RunSummaryPayload, Stage, StageStatus,
};
use crate::export::{self, ExportInput};
use crate::intent::{Intent, Modality, Objective};
use crate::linear::LinearTrainer;
use crate::metrics;
use crate::preprocess::{self, PreprocessSummary, SplitSizes, Targets};
use crate::profile::{self, Profile, TargetHints, TaskKind};
use crate::selector::SelectionInput;
use crate::sink::{EventSink, JsonlSink, SinkReport, join_sink, spawn_sink};
use crate::trainer::{
    BestModel, ImageData, Predictions, TaskSpec, TrainContext, TrainInput, Trainer,
};

/// The default training budget when neither the caller nor the prompt gives one.
pub const DEFAULT_TIME_BUDGET_S: f64 = 60.0;

/// The share of the remaining budget each trainer but the last may use.
const TRAINER_SHARE: f64 = 0.3;
/// The same on text data, where the first (linear) trainer is usually the best.
const TEXT_LINEAR_SHARE: f64 = 0.7;

/// A request to run.
#[derive(Debug, Clone, Default)]
pub struct RunRequest {
    /// What to build, in plain words.
    pub prompt: String,
    /// A data file or image folder (else the catalog is searched).
    pub data: Option<PathBuf>,
    /// The target column (must exist when given).
    pub target: Option<String>,
    /// Training budget in seconds (overrides the prompt's).
    pub time_budget_s: Option<f64>,
    /// Trial count (overrides the prompt's); makes runs reproducible.
    pub max_trials: Option<u32>,
    /// Seed (default 0).
    pub seed: Option<u64>,
    /// Run folder (default `<runs dir>/<project id>`).
    pub out_dir: Option<PathBuf>,
    /// Project id (default generated).
    pub project_id: Option<String>,
    /// Wait at REVIEW_EDIT for [`RunHandle::confirm`] instead of auto-confirming.
    pub review: bool,
    /// Allow research/demo-only licences (CC-BY-NC), flagged.
    pub allow_restricted: bool,
    /// Rows (0-based, in file order) to hold out as the test split, e.g. to score on the same
    /// rows as another system; the rest is split into train and valid.
    pub test_rows: Option<Vec<usize>>,
    /// The metric to optimise (overrides the prompt's).
    pub metric: Option<String>,
    /// When no usable data set is found, wait at DATA_SOURCE for an upload
    /// (`confirm(DATA_SOURCE, Edit({"data": path}))`) instead of failing.
    pub wait_for_upload: bool,
}

impl RunRequest {
    /// A request with just a prompt.
    pub fn new(prompt: impl Into<String>) -> Self {
        Self {
            prompt: prompt.into(),
            ..Default::default()
        }
    }

    /// Sets the data file or folder.
    pub fn data(mut self, path: impl Into<PathBuf>) -> Self {
        self.data = Some(path.into());
        self
    }

    /// Sets the target column.
    pub fn target(mut self, col: impl Into<String>) -> Self {
        self.target = Some(col.into());
        self
    }

    /// Sets the time budget in seconds.
    pub fn time_budget(mut self, secs: f64) -> Self {
        self.time_budget_s = Some(secs);
        self
    }

    /// Sets the run folder.
    pub fn out_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.out_dir = Some(dir.into());
        self
    }

    /// Sets the project id.
    pub fn project_id(mut self, id: impl Into<String>) -> Self {
        self.project_id = Some(id.into());
        self
    }

    /// Sets the trial count.
    pub fn max_trials(mut self, n: u32) -> Self {
        self.max_trials = Some(n);
        self
    }

    /// Sets the seed.
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = Some(seed);
        self
    }

    /// Asks the run to wait at REVIEW_EDIT for a confirmation.
    pub fn review(mut self, yes: bool) -> Self {
        self.review = yes;
        self
    }
}

/// How a run ended (failures are `Err`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    /// All eight stages completed.
    Finished,
    /// Cancelled; the best model so far was exported when there was one.
    Cancelled,
}

/// The result of a run.
#[derive(Debug, Clone)]
pub struct RunOutcome {
    /// The project.
    pub project_id: String,
    /// Finished or cancelled.
    pub status: RunStatus,
    /// Held-out test metrics of the exported model.
    pub metrics: Metrics,
    /// The exported model's name.
    pub model: Option<String>,
    /// The run folder.
    pub run_dir: PathBuf,
    /// Files written by EXPORT.
    pub artifacts: Vec<Artifact>,
    /// The parsed intent.
    pub intent: Option<Intent>,
    /// The final leaderboard.
    pub leaderboard: Vec<LeaderboardRow>,
    /// What each sink did.
    pub sinks: Vec<SinkReport>,
}

/// A caller's answer to a stage that waits.
#[derive(Debug, Clone, PartialEq)]
pub enum Choice {
    /// Accept what the stage proposes.
    Accept,
    /// Change it: at REVIEW_EDIT, `{"run_id": "r-3"}` exports that trial instead of the best.
    Edit(serde_json::Value),
}

/// Builds a [`Conductor`].
pub struct ConductorBuilder {
    parser: Arc<dyn Agent<Prompt, Intent>>,
    finder: Arc<dyn Agent<DatasetQuery, DatasetChoice>>,
    selector: Arc<dyn Agent<SelectionInput, Vec<ModelCandidate>>>,
    trainers: Vec<Arc<dyn Trainer>>,
    default_trainers: bool,
    sinks: Vec<Arc<dyn EventSink>>,
    bus: Option<EventBus>,
    catalog_dir: Option<PathBuf>,
    runs_dir: PathBuf,
    default_time_budget_s: f64,
    sink_drain_timeout: Duration,
}

impl Default for ConductorBuilder {
    fn default() -> Self {
        // LLM parser when configured (else embedded), Hub → HF cache → catalog, cheapest-first
        // selector (explained by the LLM when configured): see `finders::default_agents`.
        let agents = crate::finders::default_agents();
        Self {
            parser: agents.parser,
            finder: agents.finder,
            selector: agents.selector,
            trainers: Vec::new(),
            default_trainers: true,
            sinks: Vec::new(),
            bus: None,
            catalog_dir: None,
            runs_dir: PathBuf::from("runs"),
            default_time_budget_s: DEFAULT_TIME_BUDGET_S,
            sink_drain_timeout: Duration::from_secs(10),
        }
    }
}

impl ConductorBuilder {
    /// Replaces the prompt parser (default: the LLM parser when `AUTOML_LLM_BASE_URL` is set,
    /// else the embedded rule parser; see [`crate::finders::default_agents`]).
    pub fn parser(mut self, p: Arc<dyn Agent<Prompt, Intent>>) -> Self {
        self.parser = p;
        self
    }

    /// Replaces the data set finder (default: caller's data, else Hub → local HF cache →
    /// bundled catalog, see [`crate::finders::FinderChain`]).
    pub fn finder(mut self, f: Arc<dyn Agent<DatasetQuery, DatasetChoice>>) -> Self {
        self.finder = f;
        self
    }

    /// Replaces the model selector (default: cheapest first).
    pub fn selector(mut self, s: Arc<dyn Agent<SelectionInput, Vec<ModelCandidate>>>) -> Self {
        self.selector = s;
        self
    }

    /// Adds a trainer (tried after the ones added before it).
    pub fn trainer(mut self, t: Arc<dyn Trainer>) -> Self {
        self.trainers.push(t);
        self
    }

    /// Leaves out the built-in trainers (only the added ones are used).
    pub fn without_default_trainers(mut self) -> Self {
        self.default_trainers = false;
        self
    }

    /// Adds a sink that receives every event of every run.
    pub fn sink(mut self, s: Arc<dyn EventSink>) -> Self {
        self.sinks.push(s);
        self
    }

    /// Shares an event bus (e.g. with a server that subscribes to it).
    pub fn bus(mut self, bus: EventBus) -> Self {
        self.bus = Some(bus);
        self
    }

    /// Where the bundled catalog is (default: located at run time).
    pub fn catalog_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.catalog_dir = Some(dir.into());
        self
    }

    /// Where run folders go (default `runs/`).
    pub fn runs_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.runs_dir = dir.into();
        self
    }

    /// The training budget when neither caller nor prompt gives one.
    pub fn default_time_budget(mut self, secs: f64) -> Self {
        self.default_time_budget_s = secs;
        self
    }

    /// How long a run's end waits for its sinks to drain.
    pub fn sink_drain_timeout(mut self, d: Duration) -> Self {
        self.sink_drain_timeout = d;
        self
    }

    /// Builds the conductor.
    pub fn build(self) -> Result<Conductor> {
        if !(self.default_time_budget_s > 0.0) {
            return Err(AutomlError::InvalidOption {
                name: "default_time_budget".to_string(),
                message: "must be a positive number of seconds".to_string(),
            });
        }
        let mut trainers = self.trainers;
        if self.default_trainers {
            trainers.push(Arc::new(LinearTrainer));
            trainers.push(Arc::new(crate::gbdt::GbdtTrainer));
            #[cfg(feature = "image")]
            trainers.push(Arc::new(crate::image::ImageTrainer::default()));
        }
        Ok(Conductor {
            inner: Arc::new(Inner {
                parser: self.parser,
                finder: self.finder,
                selector: self.selector,
                trainers,
                sinks: self.sinks,
                bus: self.bus.unwrap_or_default(),
                catalog_dir: self.catalog_dir,
                runs_dir: self.runs_dir,
                default_time_budget_s: self.default_time_budget_s,
                sink_drain_timeout: self.sink_drain_timeout,
            }),
        })
    }
}

struct Inner {
    parser: Arc<dyn Agent<Prompt, Intent>>,
    finder: Arc<dyn Agent<DatasetQuery, DatasetChoice>>,
    selector: Arc<dyn Agent<SelectionInput, Vec<ModelCandidate>>>,
    trainers: Vec<Arc<dyn Trainer>>,
    sinks: Vec<Arc<dyn EventSink>>,
    bus: EventBus,
    catalog_dir: Option<PathBuf>,
    runs_dir: PathBuf,
    default_time_budget_s: f64,
    sink_drain_timeout: Duration,
}

/// Runs requests. Cheap to clone; each run is its own tokio task.
#[derive(Clone)]
pub struct Conductor {
    inner: Arc<Inner>,
}

/// A run in progress.
pub struct RunHandle {
    project_id: String,
    bus: EventBus,
    control: RunControl,
    join: tokio::task::JoinHandle<Result<RunOutcome>>,
}

impl RunHandle {
    /// The project id.
    pub fn project_id(&self) -> &str {
        &self.project_id
    }

    /// Every event of the run from the start, then live ones; ends after the last.
    pub fn events(&self) -> Subscription {
        self.bus.subscribe(&self.project_id, 0)
    }

    /// Events after `since`, then live ones.
    pub fn events_since(&self, since: u64) -> Subscription {
        self.bus.subscribe(&self.project_id, since)
    }

    /// Answers a stage that waits (REVIEW_EDIT when the request asked for review).
    pub fn confirm(&self, stage: Stage, choice: Choice) -> Result<()> {
        self.control.confirm(stage, choice)
    }

    /// Cancels the run: it stops at the next check, exports the best model so far (if any),
    /// and ends with RUN_CANCELLED.
    pub fn cancel(&self) {
        self.control.cancel();
    }

    /// A token that cancels this run when cancelled.
    pub fn cancel_token(&self) -> CancellationToken {
        self.control.cancel.clone()
    }

    /// Waits for the end of the run.
    pub async fn wait(self) -> Result<RunOutcome> {
        self.join
            .await
            .map_err(|e| AutomlError::Internal(format!("run task failed: {e}")))?
    }

    /// A cheap, cloneable control (confirm and cancel) that stays usable while another task
    /// owns the handle in [`RunHandle::wait`].
    pub fn control(&self) -> RunControl {
        self.control.clone()
    }
}

/// Confirms and cancels a run from anywhere; see [`RunHandle::control`].
#[derive(Clone)]
pub struct RunControl {
    cancel: CancellationToken,
    confirm_tx: mpsc::UnboundedSender<(Stage, Choice)>,
}

impl RunControl {
    /// As [`RunHandle::confirm`].
    pub fn confirm(&self, stage: Stage, choice: Choice) -> Result<()> {
        self.confirm_tx
            .send((stage, choice))
            .map_err(|_| AutomlError::InvalidOption {
                name: "confirm".to_string(),
                message: "the run has already ended".to_string(),
            })
    }

    /// As [`RunHandle::cancel`].
    pub fn cancel(&self) {
        self.cancel.cancel();
    }
}

impl Conductor {
    /// A builder with the embedded defaults.
    pub fn builder() -> ConductorBuilder {
        ConductorBuilder::default()
    }

    /// The bus this conductor emits into.
    pub fn bus(&self) -> &EventBus {
        &self.inner.bus
    }

    /// Runs a request to its end.
    pub async fn run(&self, req: RunRequest) -> Result<RunOutcome> {
        self.start(req).wait().await
    }

    /// Starts a request and returns its handle at once. Must be called inside a tokio runtime.
    pub fn start(&self, req: RunRequest) -> RunHandle {
        let project_id = req.project_id.clone().unwrap_or_else(new_project_id);
        let cancel = CancellationToken::new();
        let (confirm_tx, confirm_rx) = mpsc::unbounded_channel();
        let inner = self.inner.clone();
        // Create the project's log now so that `events()` works before the task runs.
        let emitter = inner.bus.emitter(&project_id);
        let join = tokio::spawn(drive(
            inner,
            req,
            project_id.clone(),
            emitter,
            cancel.clone(),
            confirm_rx,
        ));
        RunHandle {
            project_id,
            bus: self.inner.bus.clone(),
            control: RunControl { cancel, confirm_tx },
            join,
        }
    }
}

fn new_project_id() -> String {
    use rand::Rng;
    let now = chrono::Utc::now().format("%Y%m%d-%H%M%S");
    let tag: u32 = rand::thread_rng().r#gen::<u32>() & 0xffff;
    format!("p-{now}-{tag:04x}")
}

async fn drive(
    inner: Arc<Inner>,
    req: RunRequest,
    project_id: String,
    em: Emitter,
    cancel: CancellationToken,
    confirm_rx: mpsc::UnboundedReceiver<(Stage, Choice)>,
) -> Result<RunOutcome> {
    let run_dir = req
        .out_dir
        .clone()
        .unwrap_or_else(|| inner.runs_dir.join(&project_id));
    let since = em.last_seq();
    let mut sinks: Vec<Arc<dyn EventSink>> = inner.sinks.clone();
    let log_path = run_dir.join("events.jsonl");
    let log_result = async {
        tokio::fs::create_dir_all(&run_dir)
            .await
            .map_err(|e| AutomlError::io(&run_dir, e))?;
        // A new run starts a new log.
        tokio::fs::write(&log_path, b"")
            .await
            .map_err(|e| AutomlError::io(&log_path, e))?;
        JsonlSink::open(&log_path).await
    }
    .await;
    let log_error = match log_result {
        Ok(s) => {
            sinks.push(Arc::new(s));
            None
        }
        Err(e) => Some(e),
    };
    let handles: Vec<_> = sinks
        .iter()
        .map(|s| {
            (
                s.name().to_string(),
                spawn_sink(s.clone(), inner.bus.subscribe(&project_id, since)),
            )
        })
        .collect();

    let settings = Arc::new(RunSettings {
        seed: req.seed.unwrap_or(0),
        time_budget_s: req.time_budget_s.unwrap_or(inner.default_time_budget_s),
        max_trials: req.max_trials,
        run_dir: run_dir.clone(),
        catalog_dir: inner.catalog_dir.clone(),
    });
    let mut state = RunState {
        inner: inner.clone(),
        cx: StageContext {
            emitter: em.clone(),
            cancel: cancel.clone(),
            settings,
        },
        req,
        project_id: project_id.clone(),
        run_dir,
        started: Instant::now(),
        current: Stage::ParseIntent,
        intent: None,
        dataset: None,
        profile: None,
        loaded: None,
        input: None,
        train_cx: None,
        ranked: vec![],
        best: None,
        review: None,
        confirm_rx,
    };
    let result = match log_error {
        Some(e) => Err(e),
        None => state.execute().await,
    };
    let result = match result {
        Ok(o) => Ok(o),
        Err(AutomlError::Cancelled) => state.finish_cancelled().await,
        Err(e) => {
            state.fail(&e);
            Err(e)
        }
    };
    inner.bus.close(&project_id);
    let mut reports = Vec::new();
    let deadline = tokio::time::Instant::now() + inner.sink_drain_timeout;
    let total = em.last_seq().saturating_sub(since);
    for (name, h) in handles {
        reports.push(join_sink(name, h, deadline, total).await);
    }
    for r in &reports {
        if r.failed > 0 || r.timed_out {
            tracing::warn!(sink = %r.name, failed = r.failed, timed_out = r.timed_out, error = ?r.first_error, "event sink lost events");
        }
    }
    result.map(|mut o| {
        o.sinks = reports;
        o
    })
}

struct RunState {
    inner: Arc<Inner>,
    cx: StageContext,
    req: RunRequest,
    project_id: String,
    run_dir: PathBuf,
    started: Instant,
    current: Stage,
    intent: Option<Intent>,
    dataset: Option<ChosenDataset>,
    profile: Option<Profile>,
    loaded: Option<Dataset>,
    input: Option<TrainInput>,
    train_cx: Option<TrainContext>,
    ranked: Vec<ModelCandidate>,
    best: Option<BestModel>,
    review: Option<ReviewPayload>,
    confirm_rx: mpsc::UnboundedReceiver<(Stage, Choice)>,
}

impl RunState {
    fn emit(&self, e: Event) {
        self.cx.emitter.emit(e);
    }

    fn begin(&mut self, stage: Stage, message: &str) -> Result<()> {
        self.cx.check_cancelled()?;
        self.current = stage;
        self.emit(Event::stage(stage, StageStatus::Running, message));
        Ok(())
    }

    fn complete(&self, stage: Stage, message: impl Into<String>) {
        self.emit(Event::stage(stage, StageStatus::Completed, message));
    }

    fn skip_rest(&self, after: Stage, message: &str) {
        for s in Stage::ALL.into_iter().filter(|s| *s > after) {
            self.emit(Event::stage(s, StageStatus::Skipped, message));
        }
    }

    async fn execute(&mut self) -> Result<RunOutcome> {
        for s in Stage::ALL {
            self.emit(Event::stage(s, StageStatus::Pending, "queued"));
        }
        self.parse_intent().await?;
        self.data_source().await?;
        self.preprocess_all()?;
        self.model_select().await?;
        self.train().await?;
        self.review_edit().await?;
        let artifacts = self.export(false)?;
        let best = self
            .review
            .clone()
            .ok_or_else(|| AutomlError::Internal("no review after export".to_string()))?;
        let summary = RunSummaryPayload {
            metrics: best.metrics.clone(),
            model: Some(best.model.clone()),
            dir: Some(self.run_dir.display().to_string()),
            duration_s: self.started.elapsed().as_secs_f64(),
            message: format!(
                "{} trained on {}; test {}",
                best.model,
                self.dataset.as_ref().map(|d| d.id.as_str()).unwrap_or("?"),
                fmt_metrics(&best.metrics)
            ),
        };
        self.emit(Event::RunFinished(summary));
        Ok(self.outcome(RunStatus::Finished, artifacts))
    }

    fn outcome(&self, status: RunStatus, artifacts: Vec<Artifact>) -> RunOutcome {
        RunOutcome {
            project_id: self.project_id.clone(),
            status,
            metrics: self
                .review
                .as_ref()
                .map(|r| r.metrics.clone())
                .unwrap_or_default(),
            model: self.review.as_ref().map(|r| r.model.clone()),
            run_dir: self.run_dir.clone(),
            artifacts,
            intent: self.intent.clone(),
            leaderboard: self
                .train_cx
                .as_ref()
                .map(|c| c.leaderboard())
                .unwrap_or_default(),
            sinks: vec![],
        }
    }

    async fn parse_intent(&mut self) -> Result<()> {
        self.begin(Stage::ParseIntent, "reading the request")?;
        let intent = self
            .inner
            .parser
            .run(
                Prompt {
                    text: self.req.prompt.clone(),
                    has_data: self.req.data.is_some(),
                },
                &self.cx,
            )
            .await?;
        self.emit(Event::PromptParsed(intent.clone()));
        self.intent = Some(intent.clone());
        if !intent.supported {
            return Err(AutomlError::UnsupportedTask {
                task_type: intent.task_type.clone(),
                reason: intent
                    .reason
                    .clone()
                    .unwrap_or_else(|| "not supported".to_string()),
            });
        }
        if self.req.data.is_none()
            && intent.objective == Objective::Other
            && intent.target.is_none()
            && intent.dataset_hint.is_none()
        {
            return Err(AutomlError::UnusablePrompt {
                reason: if self.req.prompt.trim().is_empty() {
                    "the request is empty".to_string()
                } else {
                    "no prediction task was recognised".to_string()
                },
                understood: intent.understood(),
                needed: "what to predict and from which data, e.g. \"predict price from houses.csv\" with --data FILE, or \"classify iris species\" for a bundled data set".to_string(),
            });
        }
        self.complete(
            Stage::ParseIntent,
            format!(
                "{} ({} parser, confidence {:.2})",
                intent.task_words(),
                match intent.parser {
                    crate::intent::ParserKind::Llm => "llm",
                    crate::intent::ParserKind::Embedded => "embedded",
                },
                intent.confidence
            ),
        );
        Ok(())
    }

    /// No usable data set: wait at DATA_SOURCE until the caller confirms it with the path of an
    /// upload (`Choice::Edit({"data": path})`), or cancels.
    async fn wait_for_upload(&mut self, why: &str) -> Result<ChosenDataset> {
        self.emit(Event::stage(
            Stage::DataSource,
            StageStatus::Waiting,
            format!("{why}; waiting for an upload (confirm DATA_SOURCE with {{\"data\": path}})"),
        ));
        loop {
            let msg = tokio::select! {
                m = self.confirm_rx.recv() => m,
                _ = self.cx.cancel.cancelled() => return Err(AutomlError::Cancelled),
            };
            let Some((stage, choice)) = msg else {
                return Err(AutomlError::Cancelled);
            };
            let path = match (&stage, &choice) {
                (Stage::DataSource, Choice::Edit(v)) => {
                    v.get("data").and_then(|d| d.as_str()).map(PathBuf::from)
                }
                _ => None,
            };
            let Some(path) = path else {
                self.emit(Event::warning(
                    "confirm_ignored",
                    format!("confirm for {stage} ignored: the run waits at DATA_SOURCE for {{\"data\": path}}"),
                ));
                continue;
            };
            let intent = self
                .intent
                .clone()
                .ok_or_else(|| AutomlError::Internal("no intent".into()))?;
            let choice = self
                .inner
                .finder
                .run(
                    DatasetQuery {
                        intent,
                        data: Some(path.clone()),
                        allow_restricted: self.req.allow_restricted,
                    },
                    &self.cx,
                )
                .await?;
            self.emit(Event::DatasetCandidates(DatasetCandidatesPayload {
                candidates: choice.candidates.clone(),
                rejected: choice.rejected.clone(),
            }));
            match choice.chosen {
                Some(c) => {
                    self.req.data = Some(path);
                    self.emit(Event::stage(
                        Stage::DataSource,
                        StageStatus::Running,
                        "using the uploaded data",
                    ));
                    return Ok(c);
                }
                None => self.emit(Event::warning(
                    "upload_unusable",
                    format!(
                        "{} cannot be used; still waiting for an upload",
                        path.display()
                    ),
                )),
            }
        }
    }

    async fn data_source(&mut self) -> Result<()> {
        self.begin(Stage::DataSource, "looking for data")?;
        let intent = self
            .intent
            .clone()
            .ok_or_else(|| AutomlError::Internal("no intent".into()))?;
        let choice = self
            .inner
            .finder
            .run(
                DatasetQuery {
                    intent,
                    data: self.req.data.clone(),
                    allow_restricted: self.req.allow_restricted,
                },
                &self.cx,
            )
            .await?;
        self.emit(Event::DatasetCandidates(DatasetCandidatesPayload {
            candidates: choice.candidates.clone(),
            rejected: choice.rejected.clone(),
        }));
        let licence_only = choice.candidates.is_empty() && !choice.rejected.is_empty();
        let chosen = match choice.chosen {
            Some(c) => c,
            None => {
                let why = choice
                    .why_none
                    .unwrap_or_else(|| "nothing matched; pass --data FILE".to_string());
                if self.req.wait_for_upload {
                    self.wait_for_upload(&why).await?
                } else if licence_only {
                    return Err(AutomlError::LicenceRejected(why));
                } else {
                    return Err(AutomlError::NoDataset(why));
                }
            }
        };
        if chosen.license.verdict == crate::licence::Verdict::Restricted {
            self.emit(Event::warning(
                "restricted_licence",
                format!(
                    "{} is {}: research/demo use only",
                    chosen.id, chosen.license.license
                ),
            ));
        }
        self.emit(Event::DatasetSelected(DatasetSelectedPayload {
            id: chosen.id.clone(),
            source: chosen.source.clone(),
            revision: chosen.revision.clone(),
            license: chosen.license.license.clone(),
            evidence: chosen.evidence.clone(),
            path: chosen.path.display().to_string(),
            attribution: chosen.attribution.clone(),
        }));
        self.dataset = Some(chosen.clone());
        let loaded = tokio::task::spawn_blocking({
            let p = chosen.path.clone();
            move || data::load(&p)
        })
        .await
        .map_err(|e| AutomlError::Internal(format!("loader task failed: {e}")))??;
        for note in data::load_notes(&loaded) {
            self.emit(Event::warning("data_loaded_with_notes", note));
        }
        let sample = data::sample_payload(&loaded, Some(&self.run_dir.join("samples")));
        self.emit(Event::DatasetSampleReady(sample));
        self.complete(
            Stage::DataSource,
            format!(
                "{} ({}, {})",
                chosen.id, chosen.source, chosen.license.license
            ),
        );
        self.loaded = Some(loaded);
        Ok(())
    }
}

impl RunState {
    fn preprocess_all(&mut self) -> Result<()> {
        self.begin(Stage::ProfileData, "profiling the data")?;
        let intent = self
            .intent
            .clone()
            .ok_or_else(|| AutomlError::Internal("no intent".into()))?;
        let loaded = self
            .loaded
            .take()
            .ok_or_else(|| AutomlError::Internal("no data loaded".into()))?;
        let hints = TargetHints {
            explicit: self.req.target.clone(),
            from_prompt: intent.target.clone(),
            from_catalog: self.dataset.as_ref().and_then(|d| d.target.clone()),
        };
        let profile = match &loaded {
            Dataset::Table(t) => profile::profile_table(&t.batch, &hints, &intent)?,
            Dataset::Images(f) => {
                if let Some(t) = &self.req.target {
                    if t != "label" {
                        return Err(AutomlError::TargetNotFound {
                            target: t.clone(),
                            available: vec!["image".to_string(), "label".to_string()],
                        });
                    }
                }
                profile::profile_images(f)?
            }
        };
        self.emit(Event::ProfileReady(profile.clone()));
        self.complete(
            Stage::ProfileData,
            format!(
                "{} rows, target {:?} ({}), {}",
                profile.n_rows,
                profile.target,
                profile.target_reason,
                profile.task.as_str()
            ),
        );
        self.profile = Some(profile.clone());

        self.begin(Stage::Preprocess, "splitting and fitting the preprocessing")?;
        let seed = self.cx.settings.seed;
        let (input, summary) = match loaded {
            Dataset::Table(t) => {
                let (data, summary) = preprocess::prepare_table(
                    &t.batch,
                    &profile,
                    seed,
                    self.req.test_rows.as_deref(),
                )?;
                (TrainInput::Tabular(Arc::new(data)), summary)
            }
            Dataset::Images(f) => {
                let rows: Vec<usize> = (0..f.files.len()).collect();
                let strata: Vec<usize> = f.files.iter().map(|(_, c)| *c).collect();
                let split = preprocess::split_rows(&rows, Some(&strata), seed);
                let summary = PreprocessSummary {
                    steps: vec![],
                    dropped: vec![],
                    n_features: 0,
                    split: SplitSizes {
                        train: split.train.len() as u64,
                        valid: split.valid.len() as u64,
                        test: split.test.len() as u64,
                    },
                    seed,
                    stratified: true,
                };
                (
                    TrainInput::Images(Arc::new(ImageData { folder: f, split })),
                    summary,
                )
            }
        };
        self.emit(Event::PreprocessReady(summary.clone()));
        self.complete(
            Stage::Preprocess,
            format!(
                "{} features; split {}/{}/{} (train/valid/test)",
                summary.n_features, summary.split.train, summary.split.valid, summary.split.test
            ),
        );
        self.input = Some(input);
        Ok(())
    }

    fn task_spec(&self) -> Result<TaskSpec> {
        let profile = self
            .profile
            .as_ref()
            .ok_or_else(|| AutomlError::Internal("no profile".into()))?;
        let input = self
            .input
            .as_ref()
            .ok_or_else(|| AutomlError::Internal("no input".into()))?;
        Ok(match input {
            TrainInput::Tabular(d) => TaskSpec {
                modality: if d
                    .pipeline
                    .steps
                    .iter()
                    .any(|s| matches!(s, preprocess::FeatureStep::TextHash { .. }))
                {
                    "text".to_string()
                } else {
                    "tabular".to_string()
                },
                task: profile.task,
                n_rows: d.x_train.nrows() as u64,
                n_features: d.x_train.ncols() as u64,
                n_classes: d.pipeline.classes.len() as u64,
            },
            TrainInput::Images(i) => TaskSpec {
                modality: "image".to_string(),
                task: TaskKind::Classification,
                n_rows: i.split.train.len() as u64,
                n_features: 0,
                n_classes: i.folder.classes.len() as u64,
            },
        })
    }

    async fn model_select(&mut self) -> Result<()> {
        self.begin(Stage::ModelSelect, "choosing model candidates")?;
        let spec = self.task_spec()?;
        let offered: Vec<ModelCandidate> = self
            .inner
            .trainers
            .iter()
            .filter(|t| t.supports(&spec))
            .flat_map(|t| t.candidates(&spec))
            .collect();
        if offered.is_empty() {
            return Err(AutomlError::NoTrainer { task: spec.words() });
        }
        if self
            .intent
            .as_ref()
            .is_some_and(|i| i.modality == Modality::TimeSeries)
        {
            self.emit(Event::warning(
                "forecast_as_regression",
                "forecasting is trained as tabular regression on the given columns (no lag features yet)",
            ));
        }
        let ranked = self
            .inner
            .selector
            .run(
                SelectionInput {
                    spec: spec.clone(),
                    candidates: offered,
                },
                &self.cx,
            )
            .await?;
        if ranked.is_empty() {
            return Err(AutomlError::NoTrainer { task: spec.words() });
        }
        self.emit(Event::ModelCandidates(ModelCandidatesPayload {
            candidates: ranked.clone(),
        }));
        self.complete(
            Stage::ModelSelect,
            format!(
                "{} candidates: {}",
                ranked.len(),
                ranked
                    .iter()
                    .map(|c| c.model.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        );
        self.ranked = ranked;
        Ok(())
    }

    fn metric_for(&mut self, task: TaskKind) -> String {
        let asked = self
            .intent
            .as_ref()
            .and_then(|i| i.constraints.metric.clone());
        let classification = [
            "accuracy",
            "balanced_accuracy",
            "macro_f1",
            "roc_auc",
            "log_loss",
            "precision",
            "recall",
        ];
        let regression = ["r2", "rmse", "mae"];
        if let Some(m) = asked {
            let ok = match task {
                TaskKind::Classification => classification.contains(&m.as_str()),
                TaskKind::Regression => regression.contains(&m.as_str()),
            };
            let binary_only = ["roc_auc", "precision", "recall"].contains(&m.as_str());
            let n_classes = self.profile.as_ref().map_or(0, |p| p.class_balance.len());
            if ok && !(binary_only && n_classes != 2) {
                return m;
            }
            self.emit(Event::warning(
                "metric_not_applicable",
                format!(
                    "metric {m:?} does not apply to this {} task; using the default",
                    task.as_str()
                ),
            ));
        }
        match task {
            TaskKind::Regression => "r2".to_string(),
            TaskKind::Classification => {
                let imbalanced = self.profile.as_ref().is_some_and(|p| {
                    match (p.class_balance.first(), p.class_balance.last()) {
                        (Some(a), Some(b)) => a.count as f64 >= 3.0 * b.count.max(1) as f64,
                        _ => false,
                    }
                });
                if imbalanced { "macro_f1" } else { "accuracy" }.to_string()
            }
        }
    }

    async fn train(&mut self) -> Result<()> {
        let spec = self.task_spec()?;
        let budget = self
            .req
            .time_budget_s
            .or_else(|| {
                self.intent
                    .as_ref()
                    .and_then(|i| i.constraints.time_budget_s)
            })
            .unwrap_or(self.inner.default_time_budget_s);
        if !(budget > 0.0) || !budget.is_finite() {
            return Err(AutomlError::InvalidOption {
                name: "time_budget".to_string(),
                message: format!("{budget} is not a positive number of seconds"),
            });
        }
        let max_trials = self
            .req
            .max_trials
            .or_else(|| self.intent.as_ref().and_then(|i| i.constraints.max_trials));
        let metric = self.metric_for(spec.task);
        self.begin(
            Stage::Train,
            &format!("training for up to {budget:.0} s, optimising {metric}"),
        )?;
        let tcx = TrainContext::new(
            self.cx.emitter.clone(),
            self.cx.cancel.clone(),
            Instant::now() + Duration::from_secs_f64(budget),
            self.cx.settings.seed,
            max_trials,
            &metric,
        );
        self.train_cx = Some(tcx.clone());
        let input = self
            .input
            .clone()
            .ok_or_else(|| AutomlError::Internal("no input".into()))?;
        // Trainers in the order of their best-ranked candidate.
        let mut order: Vec<Arc<dyn Trainer>> = Vec::new();
        for c in &self.ranked {
            if let Some(t) = self
                .inner
                .trainers
                .iter()
                .find(|t| t.name() == c.trainer && t.supports(&spec))
            {
                if !order.iter().any(|o| o.name() == t.name()) {
                    order.push(t.clone());
                }
            }
        }
        // Cost-frugal sharing: every trainer but the last may use at most its share of what is
        // left (cheap ones come first and finish early); the last gets everything that is left.
        let n = order.len();
        for (i, t) in order.into_iter().enumerate() {
            if tcx.should_stop() {
                break;
            }
            // On text, linear models over the hashed n-grams are the strong family: they get more.
            let share = if spec.modality == "text" {
                TEXT_LINEAR_SHARE
            } else {
                TRAINER_SHARE
            };
            let sub = if i + 1 < n {
                tcx.with_deadline(Instant::now() + tcx.time_left().mul_f64(share))
            } else {
                tcx.clone()
            };
            if let Err(e) = t.train(input.clone(), sub).await {
                if matches!(e, AutomlError::Cancelled) {
                    break;
                }
                if tcx.best().is_some() {
                    self.emit(Event::warning(
                        "trainer_failed",
                        format!("trainer {} failed and was skipped: {e}", t.name()),
                    ));
                } else {
                    return Err(e);
                }
            }
        }
        self.best = tcx.best();
        if self.cx.cancel.is_cancelled() {
            return Err(AutomlError::Cancelled);
        }
        let best = self.best.clone().ok_or_else(|| AutomlError::Training {
            model: "search".to_string(),
            message: format!("no trial finished within the {budget:.1} s budget"),
        })?;
        let refitted = self.refit(&best, &input, &tcx).await?;
        self.complete(
            Stage::Train,
            format!(
                "best {} ({}), {metric} {:.4} on validation{}",
                best.model.model_name(),
                best.run_id,
                best.score,
                if refitted {
                    "; refitted on train + valid"
                } else {
                    ""
                }
            ),
        );
        Ok(())
    }

    /// Refits the best configuration on train + valid when its trainer offers it and the time
    /// left covers the estimated cost (the trial's time scaled by the extra rows, with margin).
    async fn refit(
        &mut self,
        best: &BestModel,
        input: &TrainInput,
        tcx: &TrainContext,
    ) -> Result<bool> {
        let (Some(refit), TrainInput::Tabular(data)) = (best.refit.clone(), input) else {
            return Ok(false);
        };
        let n_train = data.train_rows.num_rows().max(1);
        let n_all = n_train + data.valid_rows.num_rows();
        let estimate = best.duration_s * n_all as f64 / n_train as f64 * 1.3 + 0.02;
        if estimate > tcx.time_left().as_secs_f64() {
            return Ok(false);
        }
        let run_id = format!("{}-refit", best.run_id);
        let mut params = serde_json::Map::new();
        params.insert("refit_of".into(), best.run_id.clone().into());
        params.insert("rows".into(), (n_all as u64).into());
        self.emit(Event::TrainRunStarted(
            crate::event::TrainRunStartedPayload {
                run_id: run_id.clone(),
                model: best.model.model_name().to_string(),
                params,
            },
        ));
        let started = Instant::now();
        let data = data.clone();
        let result = tokio::task::spawn_blocking(move || refit(&data))
            .await
            .map_err(|e| AutomlError::Internal(format!("refit task failed: {e}")))?;
        let ok = result.is_ok();
        self.emit(Event::TrainRunFinished(
            crate::event::TrainRunFinishedPayload {
                run_id,
                model: best.model.model_name().to_string(),
                metrics: Metrics::new(),
                duration_s: started.elapsed().as_secs_f64(),
                status: if ok { "completed" } else { "failed" }.to_string(),
            },
        ));
        match result {
            Ok(model) => {
                if let Some(b) = self.best.as_mut() {
                    b.model = model;
                }
                Ok(true)
            }
            Err(e) => {
                self.emit(Event::warning(
                    "refit_failed",
                    format!(
                        "refitting {} on train + valid failed ({e}); the validated model is kept",
                        best.run_id
                    ),
                ));
                Ok(false)
            }
        }
    }

    fn evaluate(&self, best: &BestModel) -> Result<ReviewPayload> {
        let input = self
            .input
            .as_ref()
            .ok_or_else(|| AutomlError::Internal("no input".into()))?;
        let d = match input {
            TrainInput::Tabular(d) => d,
            TrainInput::Images(i) => return self.evaluate_images(best, i),
        };
        let (pred, _) = best.model.predict_batch(&d.test_rows)?;
        let mut review = ReviewPayload {
            metrics: Metrics::new(),
            best_run_id: best.run_id.clone(),
            model: best.model.model_name().to_string(),
            confusion_matrix: None,
            residuals: None,
            feature_importance: best.model.feature_importance(),
            n_test: d.y_test.len() as u64,
            misclassified: vec![],
            roc_curve: None,
            pr_curve: None,
            predicted_vs_actual: None,
        };
        match (pred, &d.y_test) {
            (Predictions::Classes { classes, proba }, Targets::Classes(y)) => {
                review.metrics = metrics::classification(y, &proba);
                review.confusion_matrix = Some(metrics::confusion_matrix(y, &proba, &classes));
                review.roc_curve = metrics::roc_curve(y, &proba);
                review.pr_curve = metrics::pr_curve(y, &proba);
            }
            (Predictions::Values(p), Targets::Values(y)) => {
                review.metrics = metrics::regression(y, &p);
                review.residuals = Some(metrics::residuals(y, &p));
                review.predicted_vs_actual = Some(metrics::predicted_vs_actual(y, &p));
            }
            _ => {
                return Err(AutomlError::Internal(
                    "model output does not match the task".to_string(),
                ));
            }
        }
        Ok(review)
    }

    /// Evaluates an image model on the test split: metrics, confusion matrix and a few
    /// misclassified examples. Test files that cannot be decoded are counted and left out.
    fn evaluate_images(&self, best: &BestModel, d: &ImageData) -> Result<ReviewPayload> {
        let files: Vec<PathBuf> = d
            .split
            .test
            .iter()
            .filter_map(|&i| d.folder.files.get(i).map(|(p, _)| p.clone()))
            .collect();
        let labels: Vec<usize> = d
            .split
            .test
            .iter()
            .filter_map(|&i| d.folder.files.get(i).map(|(_, c)| *c))
            .collect();
        let (pred, failed) = best.model.predict_images(&files)?;
        if !failed.is_empty() {
            self.emit(Event::warning(
                "images_unreadable",
                format!(
                    "{} of {} test images could not be decoded and were left out of the evaluation: {}",
                    failed.len(),
                    files.len(),
                    failed
                        .iter()
                        .take(5)
                        .map(|(p, e)| format!("{} ({e})", p.display()))
                        .collect::<Vec<_>>()
                        .join("; ")
                ),
            ));
        }
        let kept: Vec<(PathBuf, usize)> = files
            .into_iter()
            .zip(labels)
            .filter(|(p, _)| !failed.iter().any(|(f, _)| f == p))
            .collect();
        let Predictions::Classes { classes, proba } = pred else {
            return Err(AutomlError::Internal(
                "image model gave numbers, not classes".to_string(),
            ));
        };
        if proba.nrows() != kept.len() {
            return Err(AutomlError::Internal(format!(
                "image model gave {} rows for {} test images",
                proba.nrows(),
                kept.len()
            )));
        }
        let y: Vec<usize> = kept.iter().map(|(_, c)| *c).collect();
        let predicted = metrics::argmax_rows(&proba);
        let misclassified = kept
            .iter()
            .zip(&predicted)
            .enumerate()
            .filter(|(_, ((_, c), p))| c != *p)
            .take(5)
            .map(|(i, ((path, c), p))| Misclassified {
                item: path.display().to_string(),
                label: classes.get(*c).cloned().unwrap_or_default(),
                predicted: classes.get(*p).cloned().unwrap_or_default(),
                confidence: proba[[i, *p]],
            })
            .collect();
        Ok(ReviewPayload {
            metrics: metrics::classification(&y, &proba),
            best_run_id: best.run_id.clone(),
            model: best.model.model_name().to_string(),
            confusion_matrix: Some(metrics::confusion_matrix(&y, &proba, &classes)),
            residuals: None,
            feature_importance: vec![],
            n_test: y.len() as u64,
            misclassified,
            roc_curve: metrics::roc_curve(&y, &proba),
            pr_curve: metrics::pr_curve(&y, &proba),
            predicted_vs_actual: None,
        })
    }

    async fn review_edit(&mut self) -> Result<()> {
        self.begin(Stage::ReviewEdit, "evaluating on the held-out test split")?;
        let best = self
            .best
            .clone()
            .ok_or_else(|| AutomlError::Internal("no model".into()))?;
        let review = self.evaluate(&best)?;
        self.emit(Event::ReviewReady(review.clone()));
        self.review = Some(review);
        if self.req.review {
            self.emit(Event::stage(
                Stage::ReviewEdit,
                StageStatus::Waiting,
                "waiting for confirm (accept, or edit {\"run_id\": ...})",
            ));
            loop {
                let msg = tokio::select! {
                    m = self.confirm_rx.recv() => m,
                    _ = self.cx.cancel.cancelled() => return Err(AutomlError::Cancelled),
                };
                let Some((stage, choice)) = msg else {
                    return Err(AutomlError::Cancelled);
                };
                if stage != Stage::ReviewEdit {
                    self.emit(Event::warning(
                        "confirm_ignored",
                        format!("confirm for {stage} ignored: the run waits at REVIEW_EDIT"),
                    ));
                    continue;
                }
                match choice {
                    Choice::Accept => break,
                    Choice::Edit(v) => {
                        let Some(run_id) = v.get("run_id").and_then(|r| r.as_str()) else {
                            self.emit(Event::warning(
                                "edit_ignored",
                                format!(
                                    "edit {v} not understood; expected {{\"run_id\": \"r-N\"}}"
                                ),
                            ));
                            continue;
                        };
                        let tcx = self
                            .train_cx
                            .clone()
                            .ok_or_else(|| AutomlError::Internal("no train context".into()))?;
                        match tcx.model_of(run_id) {
                            Some(m) => {
                                self.best = Some(m.clone());
                                let review = self.evaluate(&m)?;
                                self.emit(Event::ReviewReady(review.clone()));
                                self.review = Some(review);
                                break;
                            }
                            None => self.emit(Event::warning(
                                "edit_ignored",
                                format!("no trial {run_id:?} on the leaderboard"),
                            )),
                        }
                    }
                }
            }
        }
        self.complete(
            Stage::ReviewEdit,
            if self.req.review {
                "confirmed"
            } else {
                "auto-confirmed"
            },
        );
        Ok(())
    }

    fn export(&mut self, partial: bool) -> Result<Vec<Artifact>> {
        if !partial {
            self.begin(Stage::Export, "writing artifacts")?;
        } else {
            self.current = Stage::Export;
            self.emit(Event::stage(
                Stage::Export,
                StageStatus::Running,
                "writing the best model so far",
            ));
        }
        let best = self
            .best
            .clone()
            .ok_or_else(|| AutomlError::Internal("no model".into()))?;
        let review = match &self.review {
            Some(r) => r.clone(),
            None => {
                let r = self.evaluate(&best)?;
                self.emit(Event::ReviewReady(r.clone()));
                self.review = Some(r.clone());
                r
            }
        };
        let dataset = self
            .dataset
            .clone()
            .ok_or_else(|| AutomlError::Internal("no dataset".into()))?;
        let profile = self
            .profile
            .clone()
            .ok_or_else(|| AutomlError::Internal("no profile".into()))?;
        let mut artifacts = export::write_all(&ExportInput {
            dir: &self.run_dir,
            model: best.model.as_ref(),
            review: &review,
            dataset: &dataset,
            profile: &profile,
            prompt: &self.req.prompt,
            project_id: &self.project_id,
            partial,
        })?;
        if let Some(TrainInput::Tabular(d)) = &self.input {
            let nb = crate::notebook::write(&crate::notebook::NotebookInput {
                dir: &self.run_dir,
                review: &review,
                profile: &profile,
                test_rows: &d.test_rows,
                prompt: &self.req.prompt,
                project_id: &self.project_id,
                dataset_id: &dataset.id,
            })?;
            self.emit(Event::NotebookReady(ArtifactsPayload {
                dir: self.run_dir.display().to_string(),
                artifacts: nb.clone(),
            }));
            artifacts.extend(nb);
        }
        self.emit(Event::ExportReady(ArtifactsPayload {
            dir: self.run_dir.display().to_string(),
            artifacts: artifacts.clone(),
        }));
        self.complete(
            Stage::Export,
            format!("{} files in {}", artifacts.len(), self.run_dir.display()),
        );
        Ok(artifacts)
    }

    /// Cancelled: keep the best model so far when there is one, and end with RUN_CANCELLED.
    async fn finish_cancelled(&mut self) -> Result<RunOutcome> {
        let stage = self.current;
        let mut artifacts = vec![];
        let can_export = self.best.is_some() && self.dataset.is_some() && self.profile.is_some();
        if can_export && stage >= Stage::Train {
            if stage == Stage::Train {
                self.complete(Stage::Train, "cancelled; keeping the best model so far");
                self.emit(Event::stage(
                    Stage::ReviewEdit,
                    StageStatus::Skipped,
                    "cancelled",
                ));
            } else if stage == Stage::ReviewEdit {
                self.complete(Stage::ReviewEdit, "cancelled; keeping the current model");
            }
            match self.export(true) {
                Ok(a) => artifacts = a,
                Err(e) => {
                    self.emit(Event::stage(
                        Stage::Export,
                        StageStatus::Failed,
                        e.to_string(),
                    ));
                    self.emit(Event::warning(
                        "export_failed",
                        format!("the best model so far could not be written: {e}"),
                    ));
                }
            }
        } else {
            self.emit(Event::stage(stage, StageStatus::Failed, "cancelled"));
            self.skip_rest(stage, "cancelled");
        }
        let metrics = self
            .review
            .as_ref()
            .map(|r| r.metrics.clone())
            .unwrap_or_default();
        self.emit(Event::RunCancelled(RunSummaryPayload {
            metrics,
            model: self.review.as_ref().map(|r| r.model.clone()),
            dir: (!artifacts.is_empty()).then(|| self.run_dir.display().to_string()),
            duration_s: self.started.elapsed().as_secs_f64(),
            message: if artifacts.is_empty() {
                format!("cancelled during {stage}; no model was kept")
            } else {
                format!("cancelled during {stage}; the best model so far was exported")
            },
        }));
        Ok(self.outcome(RunStatus::Cancelled, artifacts))
    }

    fn fail(&self, e: &AutomlError) {
        let stage = self.current;
        self.emit(Event::stage(stage, StageStatus::Failed, e.to_string()));
        self.skip_rest(stage, "an earlier stage failed");
        self.emit(Event::Error(ErrorPayload {
            code: e.code().to_string(),
            message: e.to_string(),
            stage: Some(stage),
            user_error: e.is_user_error(),
        }));
    }
}

fn fmt_metrics(m: &Metrics) -> String {
    m.iter()
        .filter(|(k, _)| ["accuracy", "macro_f1", "roc_auc", "r2", "rmse"].contains(&k.as_str()))
        .map(|(k, v)| format!("{k} {v:.4}"))
        .collect::<Vec<_>>()
        .join(", ")
}
