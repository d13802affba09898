//! automl for any uniffi host: Kotlin (JVM, Android), Swift, Python, and the third-party
//! uniffi generators. A thin binding over automl-core, like automl-py and automl-node: each
//! export converts its arguments, makes one core call and maps the error by its category
//! ([`error`]).
//!
//! Async exports (`RunHandle.next_event`, `wait`, `run`, `parse`) become `async def` in Python,
//! `suspend fun` in Kotlin and `async` in Swift; their work runs on the binding's own tokio
//! runtime ([`runtime`]), which the host stops with `shutdown()` before it exits. The local,
//! CPU-only calls (`load`, `Model.predict`, `profile`) are plain blocking calls. Core values
//! cross as records with their JSON beside them (the wire form every surface shares).
//!
//! The bindings are generated from this library by `bash scripts/uniffi.sh` (docs/bindings.md).

// uniffi's generated scaffolding is `extern "C"` code with raw pointers; the binding itself
// writes no unsafe code.
#![allow(unsafe_code)]

mod error;
mod runtime;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use automl_core::{Choice, Envelope, Event, Stage, Subscription, TrainedModel};
use tokio::sync::Mutex;
use tokio_util::sync::CancellationToken;

pub use crate::error::AutomlError;
use crate::error::invalid;
pub use crate::runtime::{is_shut_down, shutdown};

uniffi::setup_scaffolding!();

/// The version of the library: the workspace's, shared with the crate, wheel and npm package.
#[uniffi::export]
pub fn version() -> String {
    automl_core::VERSION.to_string()
}

/// Where a conductor keeps runs and finds the bundled catalog.
#[derive(Debug, Clone, Default, uniffi::Record)]
pub struct ConductorOptions {
    /// Where run folders go (default `runs`).
    #[uniffi(default = None)]
    pub runs_dir: Option<String>,
    /// The bundled catalog folder (default: found from the working directory).
    #[uniffi(default = None)]
    pub catalog_dir: Option<String>,
    /// Training budget in seconds when neither the request nor the prompt gives one.
    #[uniffi(default = None)]
    pub default_time_budget_s: Option<f64>,
}

/// One run's request: the prompt, and what overrides it.
#[derive(Debug, Clone, uniffi::Record)]
pub struct RunRequest {
    /// What to do, in plain language ("classify species").
    pub prompt: String,
    /// A data file or image folder.
    #[uniffi(default = None)]
    pub data: Option<String>,
    /// The column to predict.
    #[uniffi(default = None)]
    pub target: Option<String>,
    /// `classification` or `regression`, overriding the prompt.
    #[uniffi(default = None)]
    pub task: Option<String>,
    /// The metric to optimise.
    #[uniffi(default = None)]
    pub metric: Option<String>,
    /// Training budget in seconds.
    #[uniffi(default = None)]
    pub time_budget_s: Option<f64>,
    /// Trial count.
    #[uniffi(default = None)]
    pub max_trials: Option<u32>,
    /// Seed (default 0).
    #[uniffi(default = None)]
    pub seed: Option<u64>,
    /// The run folder.
    #[uniffi(default = None)]
    pub out_dir: Option<String>,
    /// The project id (default: a new one).
    #[uniffi(default = None)]
    pub project_id: Option<String>,
    /// Wait at REVIEW_EDIT for `confirm`.
    #[uniffi(default = false)]
    pub review: bool,
    /// Allow research/demo-only licences.
    #[uniffi(default = false)]
    pub allow_restricted: bool,
    /// Forecasting: how many steps ahead (default: from the prompt, else per frequency).
    #[uniffi(default = None)]
    pub horizon: Option<u32>,
}

impl RunRequest {
    fn into_core(self) -> Result<automl_core::RunRequest, AutomlError> {
        let task = self
            .task
            .map(|t| {
                serde_json::from_value(serde_json::Value::String(t.clone())).map_err(|_| {
                    invalid(
                        "task",
                        format!("{t:?} is not a task; use \"classification\" or \"regression\""),
                    )
                })
            })
            .transpose()?;
        Ok(automl_core::RunRequest {
            prompt: self.prompt,
            data: self.data.map(PathBuf::from),
            target: self.target,
            task,
            metric: self.metric,
            time_budget_s: self.time_budget_s,
            max_trials: self.max_trials,
            seed: self.seed,
            out_dir: self.out_dir.map(PathBuf::from),
            project_id: self.project_id,
            review: self.review,
            allow_restricted: self.allow_restricted,
            horizon: self.horizon.map(|h| h as usize),
            ..automl_core::RunRequest::default()
        })
    }
}

/// One event as the wire envelope carries it.
#[derive(Debug, Clone, uniffi::Record)]
pub struct EventEnvelope {
    /// The project the event belongs to.
    pub project_id: String,
    /// 1, 2, 3... per project, no gaps.
    pub seq: u64,
    /// UTC time, RFC 3339 with milliseconds.
    pub ts: String,
    /// The event's name, e.g. `RUN_STARTED`, `TRIAL_FINISHED` (docs/events.md).
    pub name: String,
    /// The event's payload as JSON.
    pub payload_json: String,
    /// The whole envelope as one JSON line, exactly as the server and the JSONL log write it.
    pub json: String,
}

impl From<&Envelope> for EventEnvelope {
    fn from(e: &Envelope) -> Self {
        let json = e.to_json_line();
        let payload_json = serde_json::to_value(&e.event)
            .ok()
            .and_then(|v| v.get("payload").map(|p| p.to_string()))
            .unwrap_or_else(|| "null".to_string());
        Self {
            project_id: e.project_id.clone(),
            seq: e.seq,
            ts: e.ts.clone(),
            name: e.event.name().to_string(),
            payload_json,
            json,
        }
    }
}

/// How a run ended.
#[derive(Debug, Clone, uniffi::Record)]
pub struct RunOutcome {
    /// The project.
    pub project_id: String,
    /// `finished` or `cancelled`.
    pub status: String,
    /// The exported model's name, if one was exported.
    pub model: Option<String>,
    /// The run folder (what `load` reads).
    pub run_dir: String,
    /// Held-out test metrics of the exported model.
    pub metrics: HashMap<String, f64>,
    /// The whole outcome as JSON (intent, leaderboard, artifacts, sinks).
    pub json: String,
}

impl RunOutcome {
    fn from_core(o: &automl_core::RunOutcome) -> Result<Self, AutomlError> {
        let json = serde_json::to_string(o).map_err(|e| internal(e.to_string()))?;
        let status = serde_json::to_value(o.status)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_else(|| format!("{:?}", o.status).to_lowercase());
        Ok(Self {
            project_id: o.project_id.clone(),
            status,
            model: o.model.clone(),
            run_dir: o.run_dir.display().to_string(),
            metrics: o.metrics.iter().map(|(k, v)| (k.clone(), *v)).collect(),
            json,
        })
    }
}

fn internal(detail: String) -> AutomlError {
    AutomlError::Internal {
        code: "internal".to_string(),
        detail,
        stage: None,
    }
}

/// Builds requests and starts runs.
#[derive(uniffi::Object)]
pub struct Conductor {
    inner: automl_core::Conductor,
}

#[uniffi::export]
impl Conductor {
    /// A conductor with the embedded defaults and the given folders.
    #[uniffi::constructor(default(options = None))]
    pub fn new(options: Option<ConductorOptions>) -> Result<Arc<Self>, AutomlError> {
        let o = options.unwrap_or_default();
        let mut b = automl_core::Conductor::builder();
        if let Some(d) = o.runs_dir {
            b = b.runs_dir(d);
        }
        if let Some(d) = o.catalog_dir {
            b = b.catalog_dir(d);
        }
        if let Some(t) = o.default_time_budget_s {
            b = b.default_time_budget(t);
        }
        Ok(Arc::new(Self { inner: b.build()? }))
    }

    /// Starts a run and returns its handle at once. A bad request (an invalid option, an
    /// empty prompt) is refused here, before any event exists.
    pub fn start(&self, request: RunRequest) -> Result<Arc<RunHandle>, AutomlError> {
        let req = request.into_core()?;
        let rt = runtime::handle()?;
        let handle = {
            let _guard = rt.enter();
            self.inner.start(req)?
        };
        runtime::track(handle.cancel_token());
        let bus = self.inner.bus().clone();
        Ok(Arc::new(RunHandle {
            project_id: handle.project_id().to_string(),
            cancel: handle.cancel_token(),
            control: handle.control(),
            events: Arc::new(Mutex::new(bus.subscribe(handle.project_id(), 0))),
            bus,
            state: Arc::new(Mutex::new(HandleState {
                handle: Some(handle),
                done: None,
            })),
        }))
    }

    /// Runs a request to its end.
    pub async fn run(&self, request: RunRequest) -> Result<RunOutcome, AutomlError> {
        self.start(request)?.wait().await
    }
}

struct HandleState {
    handle: Option<automl_core::RunHandle>,
    done: Option<Result<RunOutcome, AutomlError>>,
}

/// A run in progress: its events, confirm, cancel and wait.
#[derive(uniffi::Object)]
pub struct RunHandle {
    project_id: String,
    cancel: CancellationToken,
    control: automl_core::RunControl,
    events: Arc<Mutex<Subscription>>,
    // The conductor's bus, for the stage named by the run's ERROR event.
    bus: automl_core::EventBus,
    state: Arc<Mutex<HandleState>>,
}

#[uniffi::export]
impl RunHandle {
    /// The project id.
    pub fn project_id(&self) -> String {
        self.project_id.clone()
    }

    /// The next event of the run, from the first (seq 1) on, in order with no gap; `None`
    /// once the run has ended and every event was read. Pull-based: a slow consumer holds
    /// nothing up and misses nothing.
    pub async fn next_event(&self) -> Result<Option<EventEnvelope>, AutomlError> {
        let events = self.events.clone();
        runtime::spawn(async move {
            let next = events.lock().await.next().await;
            Ok(next.as_ref().map(EventEnvelope::from))
        })
        .await
    }

    /// The seq `next_event` returns next.
    pub fn next_seq(&self) -> u64 {
        self.events.try_lock().map_or(0, |s| s.next_seq())
    }

    /// Answers a waiting stage (`REVIEW_EDIT` with `review: true`): `choice_json` is
    /// `"accept"` or an object of edits (`{"run_id": "r-3"}`), as JSON text.
    pub fn confirm(&self, stage: String, choice_json: String) -> Result<(), AutomlError> {
        let stage = Stage::parse(&stage).ok_or_else(|| {
            invalid(
                "stage",
                format!(
                    "unknown stage {stage:?}; expected one of {}",
                    Stage::ALL.map(|s| s.as_str()).join(", ")
                ),
            )
        })?;
        let v: serde_json::Value = serde_json::from_str(&choice_json)
            .map_err(|e| invalid("choice", format!("is not JSON data: {e}")))?;
        let choice = Choice::from_json(&v)?;
        Ok(self.control.confirm(stage, choice)?)
    }

    /// Cancels the run: it stops at its next check, keeps the best model so far, and ends
    /// with RUN_CANCELLED (`wait` then returns status `cancelled`).
    pub fn cancel(&self) {
        self.cancel.cancel();
    }

    /// True once the run was asked to cancel.
    pub fn is_cancelled(&self) -> bool {
        self.cancel.is_cancelled()
    }

    /// Waits for the run to end: its outcome, or its error naming the stage that failed.
    /// Every call gives the same answer.
    pub async fn wait(&self) -> Result<RunOutcome, AutomlError> {
        let state = self.state.clone();
        let bus = self.bus.clone();
        let project_id = self.project_id.clone();
        runtime::spawn(async move {
            let mut st = state.lock().await;
            if st.done.is_none() {
                let handle = st
                    .handle
                    .take()
                    .ok_or_else(|| internal("the run handle is gone".to_string()))?;
                st.done = Some(match handle.wait().await {
                    Ok(outcome) => RunOutcome::from_core(&outcome),
                    Err(e) => Err(AutomlError::from_core(&e, failed_stage(&bus, &project_id))),
                });
            }
            st.done
                .clone()
                .unwrap_or_else(|| Err(internal("no outcome".to_string())))
        })
        .await
    }
}

/// The stage named by the run's ERROR event, if it failed in one.
fn failed_stage(bus: &automl_core::EventBus, project_id: &str) -> Option<Stage> {
    bus.history(project_id)
        .into_iter()
        .rev()
        .find_map(|e| match e.event {
            Event::Error(p) => Some(p.stage),
            _ => None,
        })
        .flatten()
}

/// Runs a request to its end with a conductor built from `options`.
#[uniffi::export(default(options = None))]
pub async fn run(
    request: RunRequest,
    options: Option<ConductorOptions>,
) -> Result<RunOutcome, AutomlError> {
    Conductor::new(options)?.run(request).await
}

/// Parses a request as a run would (the LLM parser when configured, else the embedded one).
/// Returns JSON: `{intent, warnings}`.
#[uniffi::export]
pub async fn parse(prompt: String) -> Result<String, AutomlError> {
    runtime::spawn(async move {
        let parsed = automl_core::parse_prompt(&prompt).await?;
        serde_json::to_string(&parsed).map_err(|e| internal(e.to_string()))
    })
    .await
}

/// Loads a file or image folder and profiles it as PROFILE_READY does (as `automl profile`).
/// Returns the PROFILE_READY payload as JSON. Blocks the calling thread while it reads.
#[uniffi::export(default(target = None))]
pub fn profile(path: String, target: Option<String>) -> Result<String, AutomlError> {
    let (p, _notes) = automl_core::api::profile_file(&PathBuf::from(path), target.as_deref())?;
    serde_json::to_string(&p).map_err(|e| internal(e.to_string()))
}

/// Loads the model exported by a run, from its run folder or its `model.json`. Blocks the
/// calling thread while it reads.
#[uniffi::export]
pub fn load(run_dir: String) -> Result<Arc<Model>, AutomlError> {
    let m = automl_core::load_model(&PathBuf::from(run_dir))?;
    Ok(Arc::new(Model {
        inner: Arc::from(m),
    }))
}

/// What a model predicts for the rows of a file.
#[derive(Debug, Clone, uniffi::Record)]
pub struct Predictions {
    /// Classification: the predicted label per row.
    pub labels: Option<Vec<String>>,
    /// Classification: the class labels, in `proba` column order.
    pub classes: Vec<String>,
    /// Classification: one probability row per input row.
    pub proba: Vec<Vec<f64>>,
    /// Regression: the predicted value per row.
    pub values: Option<Vec<f64>>,
    /// What applying the fitted preprocessing ran into, in words (None when nothing).
    pub report: Option<String>,
    /// The image files predicted, in order (image models only).
    pub items: Vec<String>,
}

/// A forecast: `columns` names the series id columns, the time column and `prediction`.
#[derive(Debug, Clone, uniffi::Record)]
pub struct Forecast {
    /// The column names, `prediction` last.
    pub columns: Vec<String>,
    /// One row per series and step.
    pub rows: Vec<ForecastRow>,
}

/// One series and step of a [`Forecast`].
#[derive(Debug, Clone, uniffi::Record)]
pub struct ForecastRow {
    /// The series id values and the time (ISO-8601), as text, in `columns` order.
    pub keys: Vec<Option<String>>,
    /// The predicted value.
    pub prediction: Option<f64>,
}

/// A trained model loaded from a run folder.
#[derive(uniffi::Object)]
pub struct Model {
    inner: Arc<dyn TrainedModel>,
}

#[uniffi::export]
impl Model {
    /// The model family, e.g. `logistic_regression`.
    pub fn name(&self) -> String {
        self.inner.model_name().to_string()
    }

    /// `classification` or `regression`.
    pub fn task(&self) -> String {
        self.inner.task().as_str().to_string()
    }

    /// The class labels in `proba` column order (empty for regression).
    pub fn classes(&self) -> Vec<String> {
        self.inner.classes().to_vec()
    }

    /// True for a forecaster (it extends time series: use `forecast`).
    pub fn is_forecaster(&self) -> bool {
        self.inner.forecaster().is_some()
    }

    /// A forecaster extends every series of a history file by `horizon` steps (default: the
    /// trained one). A model that is not a forecaster is an `InvalidOption` error. Blocks the
    /// calling thread.
    #[uniffi::method(default(horizon = None))]
    pub fn forecast(&self, path: String, horizon: Option<u32>) -> Result<Forecast, AutomlError> {
        let t = automl_core::api::forecast_file(
            self.inner.as_ref(),
            &PathBuf::from(path),
            horizon.map(|h| h as usize),
        )?;
        let f = automl_core::api::ForecastRows::from_batch(&t);
        Ok(Forecast {
            columns: f.columns,
            rows: f
                .rows
                .into_iter()
                .map(|r| ForecastRow {
                    keys: r.keys,
                    prediction: r.prediction,
                })
                .collect(),
        })
    }

    /// Predicts for the rows of a file in any format the loaders read (a target column in it
    /// is ignored), or image files for an image model. Blocks the calling thread.
    pub fn predict(&self, path: String) -> Result<Predictions, AutomlError> {
        let p = automl_core::predict_file(self.inner.as_ref(), &PathBuf::from(path))?;
        let (labels, classes, proba, values) = match &p.predictions {
            automl_core::Predictions::Classes { classes, proba } => (
                p.predictions.labels(),
                classes.clone(),
                proba.outer_iter().map(|r| r.to_vec()).collect(),
                None,
            ),
            automl_core::Predictions::Values(v) => (None, vec![], vec![], Some(v.clone())),
        };
        Ok(Predictions {
            labels,
            classes,
            proba,
            values,
            report: p.report.summary(),
            items: p.items.iter().map(|f| f.display().to_string()).collect(),
        })
    }
}
