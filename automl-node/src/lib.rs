//! The native half of the `automl` npm package (napi-rs 3): the Node twin of automl-py's
//! `automl._automl`, class for class and method for method.
//!
//! A thin binding over automl-core: each method converts its arguments, makes one core call and
//! maps the error ([`error`]). Everything runs on napi's one tokio runtime per process: `async`
//! methods return Promises and never block the event loop; CPU work (loading a model,
//! predicting, profiling) goes to the runtime's blocking pool. The TypeScript layer (`lib/`)
//! builds the friendly API (`run`, `Result`, the async iterator, error classes) on these classes.
//! Core values cross as their JSON text (the wire form of events and outcomes), parsed in
//! JavaScript.

// napi's generated glue uses unsafe code; the binding itself writes none.
#![allow(unsafe_code)]

mod convert;
mod error;

use std::path::PathBuf;
use std::sync::Arc;

use automl_core::{AutomlError, Choice, Event, RunRequest, Stage, Subscription, TrainedModel};
use napi::bindgen_prelude::{Buffer, within_runtime_if_available};
use napi_derive::napi;
use tokio_util::sync::CancellationToken;

use crate::convert::{forecast_json, ipc_to_batch, predictions_json, rows_to_batch, to_json};
use crate::error::{ErrorParts, invalid, to_napi_err};

/// Runs blocking core work on the runtime's blocking pool.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> automl_core::Result<T> + Send + 'static,
) -> napi::Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| to_napi_err(AutomlError::Internal(format!("worker failed: {e}"))))?
        .map_err(to_napi_err)
}

/// The version of the addon: the workspace's, shared with the crate, wheel and npm package.
#[napi]
pub fn version() -> String {
    automl_core::VERSION.to_string()
}

/// Where a conductor keeps runs and finds the bundled catalog.
#[napi(object, object_to_js = false)]
pub struct ConductorOptions {
    /// Where run folders go (default `runs`).
    pub runs_dir: Option<String>,
    /// The bundled catalog folder (default: found from the working directory).
    pub catalog_dir: Option<String>,
    /// Training budget in seconds when neither the call nor the prompt gives one (default 60).
    pub default_time_budget: Option<f64>,
}

/// What to run on, and how (the options of automl-py's `Conductor.start`).
#[napi(object, object_to_js = false)]
pub struct StartOptions {
    /// A data file or image folder.
    pub data: Option<String>,
    /// Rows in memory: `JSON.stringify` of an array of objects.
    pub rows_json: Option<String>,
    /// Rows in memory: an Arrow IPC buffer (stream or file format).
    pub arrow: Option<Buffer>,
    /// A name for the in-memory rows in events and the model card.
    pub table_name: Option<String>,
    /// The column to predict.
    pub target: Option<String>,
    /// Training budget in seconds.
    pub time_budget: Option<f64>,
    /// The metric to optimise.
    pub metric: Option<String>,
    /// Seed (default 0).
    pub seed: Option<i64>,
    /// Trial count.
    pub max_trials: Option<u32>,
    /// Run folder.
    pub out_dir: Option<String>,
    /// Project id.
    pub project_id: Option<String>,
    /// Wait at REVIEW_EDIT for `confirm`.
    pub review: Option<bool>,
    /// Allow research/demo-only licences.
    pub allow_restricted: Option<bool>,
    /// Forecasting: how many steps ahead (default: from the prompt, else per frequency).
    pub horizon: Option<u32>,
}

/// Builds requests and starts runs.
#[napi]
pub struct Conductor {
    inner: automl_core::Conductor,
}

#[napi]
impl Conductor {
    /// A conductor with the embedded defaults.
    #[napi(constructor)]
    pub fn new(opts: Option<ConductorOptions>) -> napi::Result<Self> {
        let mut b = automl_core::Conductor::builder();
        if let Some(o) = opts {
            if let Some(d) = o.runs_dir {
                b = b.runs_dir(d);
            }
            if let Some(d) = o.catalog_dir {
                b = b.catalog_dir(d);
            }
            if let Some(t) = o.default_time_budget {
                b = b.default_time_budget(t);
            }
        }
        Ok(Self {
            inner: b.build().map_err(to_napi_err)?,
        })
    }

    /// Starts a run and returns its handle at once.
    #[napi]
    pub fn start(&self, prompt: String, opts: Option<StartOptions>) -> napi::Result<RunHandle> {
        let o = opts.unwrap_or_default();
        let name = o.table_name.unwrap_or_else(|| "rows".to_string());
        let seed = o
            .seed
            .map(|s| u64::try_from(s).map_err(|_| invalid("seed", format!("{s} is negative"))))
            .transpose()?;
        let mut req = RunRequest {
            prompt,
            data: o.data.map(PathBuf::from),
            target: o.target,
            time_budget_s: o.time_budget,
            metric: o.metric,
            max_trials: o.max_trials,
            seed,
            out_dir: o.out_dir.map(PathBuf::from),
            project_id: o.project_id,
            review: o.review.unwrap_or(false),
            allow_restricted: o.allow_restricted.unwrap_or(false),
            horizon: o.horizon.map(|h| h as usize),
            ..RunRequest::default()
        };
        if let Some(rows) = o.rows_json {
            req = req.table(
                name.clone(),
                rows_to_batch(&name, &rows).map_err(to_napi_err)?,
            );
        }
        if let Some(buf) = o.arrow {
            if req.table.is_some() {
                return Err(invalid("data", "give rows or an Arrow buffer, not both"));
            }
            req = req.table(
                name.clone(),
                ipc_to_batch(&name, &buf).map_err(to_napi_err)?,
            );
        }
        let conductor = self.inner.clone();
        let handle =
            within_runtime_if_available(move || conductor.start(req)).map_err(to_napi_err)?;
        Ok(RunHandle {
            project_id: handle.project_id().to_string(),
            cancel: handle.cancel_token(),
            control: handle.control(),
            bus: self.inner.bus().clone(),
            state: Arc::new(tokio::sync::Mutex::new(HandleState {
                handle: Some(handle),
                done: None,
            })),
        })
    }
}

impl Default for StartOptions {
    fn default() -> Self {
        Self {
            data: None,
            rows_json: None,
            arrow: None,
            table_name: None,
            target: None,
            time_budget: None,
            metric: None,
            seed: None,
            max_trials: None,
            out_dir: None,
            project_id: None,
            review: None,
            allow_restricted: None,
            horizon: None,
        }
    }
}

struct HandleState {
    handle: Option<automl_core::RunHandle>,
    done: Option<Result<String, ErrorParts>>,
}

/// A run in progress: its events, confirm, cancel and wait.
#[napi]
pub struct RunHandle {
    project_id: String,
    cancel: CancellationToken,
    control: automl_core::RunControl,
    // The conductor's bus, so `events()` works after `wait()` consumed the core handle.
    bus: automl_core::EventBus,
    state: Arc<tokio::sync::Mutex<HandleState>>,
}

#[napi]
impl RunHandle {
    /// The project id.
    #[napi(getter)]
    pub fn project_id(&self) -> String {
        self.project_id.clone()
    }

    /// Every event after `since` (0: from the start), then live ones, as wire envelopes.
    #[napi]
    pub fn events(&self, since: Option<u32>) -> EventStream {
        EventStream {
            sub: Arc::new(tokio::sync::Mutex::new(
                self.bus
                    .subscribe(&self.project_id, u64::from(since.unwrap_or(0))),
            )),
        }
    }

    /// Answers a waiting stage: `choiceJson` is `"accept"` or an object of edits
    /// (`{"run_id": "r-3"}`), as JSON text.
    #[napi]
    pub fn confirm(&self, stage: String, choice_json: String) -> napi::Result<()> {
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
        let choice = Choice::from_json(&v).map_err(to_napi_err)?;
        self.control.confirm(stage, choice).map_err(to_napi_err)
    }

    /// Cancels the run: it stops at its next check, keeps the best model so far, and ends
    /// with RUN_CANCELLED.
    #[napi]
    pub fn cancel(&self) {
        self.cancel.cancel();
    }

    /// True once the run was asked to cancel.
    #[napi(getter)]
    pub fn cancelled(&self) -> bool {
        self.cancel.is_cancelled()
    }

    /// Resolves when the run ends, with the outcome as JSON; a failed run rejects with its
    /// error (naming the stage that failed). Every call gives the same answer.
    #[napi]
    pub async fn wait(&self) -> napi::Result<String> {
        let state = self.state.clone();
        let mut st = state.lock().await;
        if st.done.is_none() {
            let handle = st.handle.take().ok_or_else(|| {
                to_napi_err(AutomlError::Internal("the run handle is gone".to_string()))
            })?;
            st.done = Some(match handle.wait().await {
                Ok(outcome) => to_json(&outcome)
                    .map_err(|e| ErrorParts::new(&AutomlError::Internal(e.reason.clone()), None)),
                Err(e) => Err(ErrorParts::new(&e, self.failed_stage())),
            });
        }
        match &st.done {
            Some(Ok(json)) => Ok(json.clone()),
            Some(Err(parts)) => Err(parts.to_napi()),
            None => Err(to_napi_err(AutomlError::Internal("no outcome".to_string()))),
        }
    }
}

impl RunHandle {
    /// The stage named by the run's ERROR event, if it failed in one.
    fn failed_stage(&self) -> Option<Stage> {
        self.bus
            .history(&self.project_id)
            .into_iter()
            .rev()
            .find_map(|e| match e.event {
                Event::Error(p) => Some(p.stage),
                _ => None,
            })
            .flatten()
    }
}

/// The events of one run as wire envelopes (JSON text), pulled one at a time: a slow consumer
/// holds the stream back and misses nothing (one that falls behind the live buffer catches up
/// from the log). `lib/` wraps it as an `AsyncIterable`.
#[napi]
pub struct EventStream {
    sub: Arc<tokio::sync::Mutex<Subscription>>,
}

#[napi]
impl EventStream {
    /// The next envelope if one is ready now (no wait, no thread hop), else `null`.
    #[napi]
    pub fn try_next(&self) -> Option<String> {
        self.sub
            .try_lock()
            .ok()?
            .try_next()
            .map(|e| e.to_json_line())
    }

    /// The next envelope, or `null` once the run has ended and every event was read.
    #[napi]
    pub async fn next(&self) -> Option<String> {
        let sub = self.sub.clone();
        let next = sub.lock().await.next().await;
        next.map(|e| e.to_json_line())
    }

    /// The seq the stream yields next.
    #[napi(getter)]
    pub fn next_seq(&self) -> f64 {
        self.sub.try_lock().map_or(0.0, |s| s.next_seq() as f64)
    }
}

/// One input column's share of the model's importance.
#[napi(object)]
pub struct FeatureShare {
    /// The column.
    pub feature: String,
    /// Its share (all shares sum to 1).
    pub importance: f64,
}

/// A trained model loaded from a run folder.
#[napi]
pub struct Model {
    inner: Arc<dyn TrainedModel>,
}

#[napi]
impl Model {
    /// The model family, e.g. `logistic_regression`.
    #[napi(getter)]
    pub fn name(&self) -> String {
        self.inner.model_name().to_string()
    }

    /// `classification` or `regression`.
    #[napi(getter)]
    pub fn task(&self) -> String {
        self.inner.task().as_str().to_string()
    }

    /// True for a forecaster (it extends time series: use `forecastFile`/`forecastRows`).
    #[napi(getter)]
    pub fn is_forecaster(&self) -> bool {
        self.inner.forecaster().is_some()
    }

    /// A forecaster extends every series of a history file by `horizon` steps (default: the
    /// trained one). Resolves to JSON `{columns, rows}`: each row holds the series ids and the
    /// time as text, then the prediction (automl-py's `forecast_file` dict).
    #[napi]
    pub async fn forecast_file(&self, path: String, horizon: Option<u32>) -> napi::Result<String> {
        let model = self.inner.clone();
        let t = blocking(move || {
            automl_core::api::forecast_file(
                model.as_ref(),
                &PathBuf::from(path),
                horizon.map(|h| h as usize),
            )
        })
        .await?;
        Ok(forecast_json(&t))
    }

    /// As `forecastFile`, on a history in memory: `JSON.stringify` of an array of objects.
    #[napi]
    pub async fn forecast_rows(
        &self,
        rows_json: String,
        horizon: Option<u32>,
    ) -> napi::Result<String> {
        let model = self.inner.clone();
        let t = blocking(move || {
            let batch = rows_to_batch("history", &rows_json)?;
            automl_core::api::forecast_table(model.as_ref(), &batch, horizon.map(|h| h as usize))
        })
        .await?;
        Ok(forecast_json(&t))
    }

    /// The class labels in `proba` column order (empty for regression).
    #[napi(getter)]
    pub fn classes(&self) -> Vec<String> {
        self.inner.classes().to_vec()
    }

    /// Importance of each input column, largest first.
    #[napi]
    pub fn feature_importance(&self) -> Vec<FeatureShare> {
        self.inner
            .feature_importance()
            .into_iter()
            .map(|f| FeatureShare {
                feature: f.feature,
                importance: f.importance,
            })
            .collect()
    }

    /// Predicts for the rows of a file in any format the loaders read, or image files for an
    /// image model. Resolves to JSON: `{labels, classes, proba}` or `{values}`, with `report`.
    #[napi]
    pub async fn predict_file(&self, path: String) -> napi::Result<String> {
        let model = self.inner.clone();
        let p = blocking(move || automl_core::predict_file(model.as_ref(), &PathBuf::from(path)))
            .await?;
        Ok(predictions_json(&p))
    }

    /// Predicts for rows in memory: `JSON.stringify` of an array of objects.
    #[napi]
    pub async fn predict_rows(&self, rows_json: String) -> napi::Result<String> {
        let model = self.inner.clone();
        let p = blocking(move || {
            let batch = rows_to_batch("rows", &rows_json)?;
            automl_core::api::predict_table(model.as_ref(), &batch)
        })
        .await?;
        Ok(predictions_json(&p))
    }

    /// Predicts for rows in an Arrow IPC buffer.
    #[napi]
    pub async fn predict_arrow(&self, arrow: Buffer) -> napi::Result<String> {
        let model = self.inner.clone();
        let bytes: Vec<u8> = arrow.to_vec();
        let p = blocking(move || {
            let batch = ipc_to_batch("arrow", &bytes)?;
            automl_core::api::predict_table(model.as_ref(), &batch)
        })
        .await?;
        Ok(predictions_json(&p))
    }
}

/// Loads an exported model from a run folder or its `model.json`.
#[napi]
pub async fn load_model(path: String) -> napi::Result<Model> {
    let m = blocking(move || automl_core::load_model(&PathBuf::from(path))).await?;
    Ok(Model {
        inner: Arc::from(m),
    })
}

/// Parses a request as a run would (the LLM parser when configured, else the embedded one).
/// Resolves to JSON: `{intent, warnings}`.
#[napi]
pub async fn parse(prompt: String) -> napi::Result<String> {
    let parsed = automl_core::parse_prompt(&prompt)
        .await
        .map_err(to_napi_err)?;
    to_json(&parsed)
}

/// Loads a file or image folder and profiles it as PROFILE_READY does (as `automl profile`).
/// Resolves to the PROFILE_READY payload as JSON.
#[napi]
pub async fn profile(path: String, target: Option<String>) -> napi::Result<String> {
    let (p, _notes) =
        blocking(move || automl_core::api::profile_file(&PathBuf::from(path), target.as_deref()))
            .await?;
    to_json(&p)
}
