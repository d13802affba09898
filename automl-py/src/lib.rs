//! `automl._automl`: the native half of the `automl` Python package.
//!
//! A thin binding over automl-core: each method converts its arguments, calls the core with the
//! GIL released (`py.detach`), and maps errors to the exception classes of [`error`]. All Rust
//! work runs on one tokio runtime per process (the one pyo3-async-runtimes drives, so `async`
//! methods and blocking ones share it). The Python half (`python/automl/`) builds the friendly
//! API (`automl.run`, `Result`, the scikit-learn estimators, the Jupyter view) on these classes.

mod arrow_stream;
mod convert;
mod error;

use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use automl_core::{Choice, RunOutcome, RunRequest, Stage, Subscription, TrainedModel};
use pyo3::exceptions::{PyStopAsyncIteration, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};
use tokio_util::sync::CancellationToken;

use crate::arrow_stream::batch_from_py;
use crate::convert::ser_to_py;
use crate::error::to_py_err;

/// How often a blocking wait wakes up to let Python handle signals (Ctrl-C).
const SIGNAL_POLL: Duration = Duration::from_millis(50);

fn runtime() -> &'static tokio::runtime::Runtime {
    pyo3_async_runtimes::tokio::get_runtime()
}

type WaitFuture = Pin<Box<dyn Future<Output = automl_core::Result<RunOutcome>> + Send>>;

/// Runs `fut` on the shared runtime with the GIL released, waking every [`SIGNAL_POLL`] to
/// check for signals. On the first KeyboardInterrupt `on_interrupt` runs and the wait goes on
/// (so a cancelled run can end cleanly); a second one is returned at once.
fn block_on_interruptible<T: Send>(
    py: Python<'_>,
    mut fut: Pin<Box<dyn Future<Output = T> + Send + '_>>,
    on_interrupt: impl Fn(),
) -> (Option<T>, Option<PyErr>) {
    let mut interrupted: Option<PyErr> = None;
    loop {
        let step = py.detach(|| {
            runtime().block_on(async { tokio::time::timeout(SIGNAL_POLL, fut.as_mut()).await })
        });
        match step {
            Ok(v) => return (Some(v), interrupted),
            Err(_elapsed) => {
                if let Err(e) = py.check_signals() {
                    if interrupted.is_some() {
                        return (None, Some(e));
                    }
                    on_interrupt();
                    interrupted = Some(e);
                }
            }
        }
    }
}

/// Builds [`RunRequest`]s and starts runs.
#[pyclass(module = "automl._automl", frozen)]
struct Conductor {
    inner: automl_core::Conductor,
}

#[pymethods]
impl Conductor {
    #[new]
    #[pyo3(signature = (runs_dir=None, catalog_dir=None, default_time_budget=None))]
    fn new(
        runs_dir: Option<PathBuf>,
        catalog_dir: Option<PathBuf>,
        default_time_budget: Option<f64>,
    ) -> PyResult<Self> {
        let mut b = automl_core::Conductor::builder();
        if let Some(d) = runs_dir {
            b = b.runs_dir(d);
        }
        if let Some(d) = catalog_dir {
            b = b.catalog_dir(d);
        }
        if let Some(t) = default_time_budget {
            b = b.default_time_budget(t);
        }
        Ok(Self {
            inner: b.build().map_err(to_py_err)?,
        })
    }

    /// Starts a run and returns its handle at once. The data is a file (`data`) or rows in
    /// memory (`table`: any object with `__arrow_c_stream__`, reported as `table_name`, default "table").
    /// `task` ("classification" or "regression") and `metric` override what the prompt says.
    #[pyo3(signature = (prompt, data=None, table=None, table_name=None,
                        target=None, task=None, metric=None, time_budget=None, max_trials=None,
                        seed=None, out_dir=None, project_id=None, review=false,
                        allow_restricted=false, horizon=None))]
    #[allow(clippy::too_many_arguments)]
    fn start<'py>(
        &self,
        py: Python<'py>,
        prompt: String,
        data: Option<PathBuf>,
        table: Option<Bound<'py, PyAny>>,
        table_name: Option<String>,
        target: Option<String>,
        task: Option<String>,
        metric: Option<String>,
        time_budget: Option<f64>,
        max_trials: Option<u32>,
        seed: Option<u64>,
        out_dir: Option<PathBuf>,
        project_id: Option<String>,
        review: bool,
        allow_restricted: bool,
        horizon: Option<usize>,
    ) -> PyResult<RunHandle> {
        let table = match table {
            Some(t) => Some(automl_core::conductor::DataTable {
                name: table_name.unwrap_or_else(|| "table".to_string()),
                batch: batch_from_py(&t)?,
            }),
            None => None,
        };
        let task = task
            .map(|t| parse_task(&t))
            .transpose()
            .map_err(to_py_err)?;
        let req = RunRequest {
            prompt,
            data,
            table,
            task,
            metric,
            target,
            time_budget_s: time_budget,
            max_trials,
            seed,
            out_dir,
            project_id,
            review,
            allow_restricted,
            horizon,
            ..RunRequest::default()
        };
        let conductor = self.inner.clone();
        let handle = py
            .detach(move || {
                let _guard = runtime().enter();
                conductor.start(req)
            })
            .map_err(to_py_err)?;
        Ok(RunHandle {
            project_id: handle.project_id().to_string(),
            cancel: handle.cancel_token(),
            control: handle.control(),
            bus: self.inner.bus().clone(),
            state: Mutex::new(HandleState::Running(Some(handle))),
        })
    }
}

/// "classification" or "regression" as the core's [`automl_core::event::TaskKind`] (its
/// wire names, so every surface accepts the same words).
fn parse_task(name: &str) -> automl_core::Result<automl_core::event::TaskKind> {
    serde_json::from_value(serde_json::Value::String(name.to_string())).map_err(|_| {
        automl_core::AutomlError::InvalidOption {
            name: "task".to_string(),
            message: format!("{name:?} is not a task; use \"classification\" or \"regression\""),
        }
    })
}

enum HandleState {
    Running(Option<automl_core::RunHandle>),
    Done(Result<Py<PyAny>, PyErr>),
}

/// A run in progress: its events, confirm, cancel and wait.
#[pyclass(module = "automl._automl", frozen)]
struct RunHandle {
    project_id: String,
    cancel: CancellationToken,
    control: automl_core::RunControl,
    // The conductor's bus, so `events()` works after `wait()` consumed the core handle.
    bus: automl_core::EventBus,
    state: Mutex<HandleState>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Cancels the run when dropped before `disarm` (an asyncio task cancelled mid-wait).
struct CancelOnDrop(Option<CancellationToken>);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        if let Some(t) = self.0.take() {
            t.cancel();
        }
    }
}

fn outcome_to_py(py: Python<'_>, o: &RunOutcome) -> PyResult<Py<PyAny>> {
    ser_to_py(py, o)
}

/// The outcome as a Python object; a cancelled run after Ctrl-C raises `Cancelled` with the
/// outcome attached and the KeyboardInterrupt as its cause.
fn finish(
    py: Python<'_>,
    res: automl_core::Result<RunOutcome>,
    interrupted: Option<PyErr>,
) -> Result<Py<PyAny>, PyErr> {
    let outcome = res.map_err(to_py_err)?;
    let obj = outcome_to_py(py, &outcome)?;
    if let Some(kb) = interrupted {
        let err = error::Cancelled::new_err(format!(
            "run {} cancelled by KeyboardInterrupt{}",
            outcome.project_id,
            if outcome.artifacts.is_empty() {
                "; no model was kept".to_string()
            } else {
                format!(
                    "; the best model so far is in {}",
                    outcome.run_dir.display()
                )
            }
        ));
        let v = err.value(py);
        v.setattr("code", "cancelled")?;
        v.setattr("user_error", false)?;
        v.setattr("category", automl_core::ErrorCategory::Cancelled.as_str())?;
        v.setattr("outcome", obj.clone_ref(py))?;
        err.set_cause(py, Some(kb));
        return Err(err);
    }
    Ok(obj)
}

#[pymethods]
impl RunHandle {
    /// The project id.
    #[getter]
    fn project_id(&self) -> &str {
        &self.project_id
    }

    /// Every event from `since` on (0: from the start), then live ones, as wire envelopes.
    #[pyo3(signature = (since=0))]
    fn events(&self, since: u64) -> EventStream {
        EventStream {
            sub: Arc::new(tokio::sync::Mutex::new(
                self.bus.subscribe(&self.project_id, since),
            )),
            cancel: Some(self.cancel.clone()),
        }
    }

    /// Answers a waiting stage: `choice` is "accept" or a dict of edits (`{"run_id": "r-3"}`).
    fn confirm(&self, stage: &str, choice: &Bound<'_, PyAny>) -> PyResult<()> {
        let stage = Stage::parse(stage).ok_or_else(|| {
            PyValueError::new_err(format!(
                "unknown stage {stage:?}; expected one of {}",
                Stage::ALL.map(|s| s.as_str()).join(", ")
            ))
        })?;
        let json = choice
            .py()
            .import("json")?
            .call_method1("dumps", (choice,))?
            .extract::<String>()?;
        let v: serde_json::Value = serde_json::from_str(&json)
            .map_err(|e| PyValueError::new_err(format!("choice is not JSON data: {e}")))?;
        let choice = Choice::from_json(&v).map_err(to_py_err)?;
        self.control.confirm(stage, choice).map_err(to_py_err)
    }

    /// Cancels the run: it stops at its next check, keeps the best model so far, and ends
    /// with RUN_CANCELLED.
    fn cancel(&self) {
        self.cancel.cancel();
    }

    /// True once the run was asked to cancel.
    #[getter]
    fn cancelled(&self) -> bool {
        self.cancel.is_cancelled()
    }

    /// Blocks (GIL released) until the run ends; returns the outcome as a dict. Ctrl-C cancels
    /// the run, waits for its clean end, and raises `Cancelled` (a second Ctrl-C stops waiting).
    fn wait(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        let taken = match &mut *lock(&self.state) {
            HandleState::Running(h) => h.take(),
            HandleState::Done(r) => return clone_result(py, r),
        };
        let Some(handle) = taken else {
            return Err(to_py_err(automl_core::AutomlError::InvalidOption {
                name: "wait".to_string(),
                message: "another wait() is in progress for this run".to_string(),
            }));
        };
        let fut: WaitFuture = Box::pin(handle.wait());
        let cancel = self.cancel.clone();
        let (res, interrupted) = block_on_interruptible(py, fut, || cancel.cancel());
        let Some(res) = res else {
            // A second Ctrl-C: stop waiting; the run goes on cancelling in the background.
            return Err(interrupted.unwrap_or_else(|| {
                PyValueError::new_err("wait interrupted without an interrupt")
            }));
        };
        let out = finish(py, res, interrupted);
        *lock(&self.state) = HandleState::Done(clone_result(py, &out));
        out
    }

    /// `await handle.wait_async()`: the outcome dict, without blocking the event loop.
    /// Cancelling the awaiting task cancels the run.
    fn wait_async<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let taken = match &mut *lock(&self.state) {
            HandleState::Running(h) => h.take(),
            HandleState::Done(r) => {
                let r = clone_result(py, r);
                return pyo3_async_runtimes::tokio::future_into_py(py, async move { r });
            }
        };
        let Some(handle) = taken else {
            return Err(to_py_err(automl_core::AutomlError::InvalidOption {
                name: "wait_async".to_string(),
                message: "another wait is in progress for this run".to_string(),
            }));
        };
        let guard = CancelOnDrop(Some(self.cancel.clone()));
        pyo3_async_runtimes::tokio::future_into_py(py, async move {
            let mut guard = guard;
            let res = handle.wait().await;
            guard.0 = None;
            Python::attach(|py| finish(py, res, None))
        })
    }
}

fn clone_result(py: Python<'_>, r: &Result<Py<PyAny>, PyErr>) -> Result<Py<PyAny>, PyErr> {
    match r {
        Ok(o) => Ok(o.clone_ref(py)),
        Err(e) => Err(e.clone_ref(py)),
    }
}

/// The events of one run as wire envelopes (dicts): `for e in stream` and `async for`.
#[pyclass(module = "automl._automl", frozen)]
struct EventStream {
    sub: Arc<tokio::sync::Mutex<Subscription>>,
    cancel: Option<CancellationToken>,
}

fn envelope_to_py(py: Python<'_>, env: &automl_core::Envelope) -> PyResult<Py<PyAny>> {
    ser_to_py(py, env)
}

#[pymethods]
impl EventStream {
    fn __iter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    /// The next envelope, blocking with the GIL released. Ctrl-C cancels the run and raises
    /// KeyboardInterrupt; iterate on to see its RUN_CANCELLED.
    fn __next__(&self, py: Python<'_>) -> PyResult<Option<Py<PyAny>>> {
        let sub = self.sub.clone();
        // Fast path: an event already in the log needs no wait and no thread hop.
        if let Ok(mut s) = sub.try_lock() {
            if let Some(env) = s.try_next() {
                drop(s);
                return envelope_to_py(py, &env).map(Some);
            }
        }
        let fut = Box::pin(async move { sub.lock().await.next().await });
        let cancel = self.cancel.clone();
        let (res, interrupted) = block_on_interruptible(py, fut, || {
            if let Some(c) = &cancel {
                c.cancel();
            }
        });
        if let Some(e) = interrupted {
            return Err(e);
        }
        match res.flatten() {
            Some(env) => envelope_to_py(py, &env).map(Some),
            None => Ok(None),
        }
    }

    fn __aiter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __anext__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let sub = self.sub.clone();
        pyo3_async_runtimes::tokio::future_into_py(py, async move {
            let next = sub.lock().await.next().await;
            match next {
                Some(env) => Python::attach(|py| envelope_to_py(py, &env)),
                None => Err(PyStopAsyncIteration::new_err(())),
            }
        })
    }

    /// The seq the stream yields next.
    #[getter]
    fn next_seq(&self) -> u64 {
        match self.sub.try_lock() {
            Ok(s) => s.next_seq(),
            Err(_) => 0,
        }
    }
}

/// A trained model loaded from a run folder.
#[pyclass(module = "automl._automl", frozen)]
struct Model {
    inner: Arc<dyn TrainedModel>,
}

#[pymethods]
impl Model {
    /// The model family, e.g. `logistic_regression`.
    #[getter]
    fn name(&self) -> &str {
        self.inner.model_name()
    }

    /// `classification` or `regression`.
    #[getter]
    fn task(&self) -> &'static str {
        self.inner.task().as_str()
    }

    /// The class labels in `predict_proba` column order (empty for regression).
    #[getter]
    fn classes(&self) -> Vec<String> {
        self.inner.classes().to_vec()
    }

    /// Importance of each input column, largest first: a list of (column, share).
    fn feature_importance(&self) -> Vec<(String, f64)> {
        self.inner
            .feature_importance()
            .into_iter()
            .map(|f| (f.feature, f.importance))
            .collect()
    }

    /// Predicts for the rows of a file in any format the loaders read (CSV/TSV, Parquet,
    /// JSON/NDJSON, Arrow IPC), or image files for an image model. Returns a dict:
    /// `{"labels": [...], "classes": [...], "proba": [[...]...]}` or `{"values": [...]}`, with
    /// `"report"` (missing columns, non-numbers, unseen categories) and `"report_text"`.
    fn predict_file<'py>(&self, py: Python<'py>, path: PathBuf) -> PyResult<Bound<'py, PyDict>> {
        let model = self.inner.clone();
        let p = py
            .detach(move || automl_core::predict_file(model.as_ref(), &path))
            .map_err(to_py_err)?;
        predictions_to_py(py, &p)
    }

    /// True for a forecaster (it extends time series: use `forecast_file`/`forecast_table`).
    #[getter]
    fn is_forecaster(&self) -> bool {
        self.inner.forecaster().is_some()
    }

    /// A forecaster extends every series of a history file by `horizon` steps (default: the
    /// trained one). Returns `{"columns": [...], "rows": [[...]...]}`: the series columns, the
    /// time column (text) and `prediction`.
    #[pyo3(signature = (path, horizon=None))]
    fn forecast_file<'py>(
        &self,
        py: Python<'py>,
        path: PathBuf,
        horizon: Option<usize>,
    ) -> PyResult<Bound<'py, PyDict>> {
        let model = self.inner.clone();
        let t = py
            .detach(move || automl_core::api::forecast_file(model.as_ref(), &path, horizon))
            .map_err(to_py_err)?;
        forecast_to_py(py, &t)
    }

    /// As `forecast_file`, on a history in memory (any object with `__arrow_c_stream__`).
    #[pyo3(signature = (table, horizon=None))]
    fn forecast_table<'py>(
        &self,
        py: Python<'py>,
        table: &Bound<'py, PyAny>,
        horizon: Option<usize>,
    ) -> PyResult<Bound<'py, PyDict>> {
        let batch = batch_from_py(table)?;
        let model = self.inner.clone();
        let t = py
            .detach(move || automl_core::api::forecast_table(model.as_ref(), &batch, horizon))
            .map_err(to_py_err)?;
        forecast_to_py(py, &t)
    }

    /// Predicts for rows in memory: any object with `__arrow_c_stream__` (a pyarrow Table, a
    /// polars DataFrame, a pandas DataFrame converted by the Python layer). Returns the same
    /// dict as `predict_file`.
    fn predict_table<'py>(
        &self,
        py: Python<'py>,
        table: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyDict>> {
        let batch = batch_from_py(table)?;
        let model = self.inner.clone();
        let p = py
            .detach(move || automl_core::api::predict_table(model.as_ref(), &batch))
            .map_err(to_py_err)?;
        predictions_to_py(py, &p)
    }
}

fn forecast_to_py<'py>(
    py: Python<'py>,
    t: &arrow::record_batch::RecordBatch,
) -> PyResult<Bound<'py, PyDict>> {
    let f = automl_core::api::ForecastRows::from_batch(t);
    let d = PyDict::new(py);
    let rows = PyList::empty(py);
    for r in f.rows {
        let row = PyList::empty(py);
        for k in r.keys {
            row.append(k)?;
        }
        row.append(r.prediction)?;
        rows.append(row)?;
    }
    d.set_item("columns", f.columns)?;
    d.set_item("rows", rows)?;
    Ok(d)
}

fn predictions_to_py<'py>(
    py: Python<'py>,
    p: &automl_core::api::FilePredictions,
) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    match &p.predictions {
        automl_core::Predictions::Classes { classes, proba } => {
            d.set_item("labels", p.predictions.labels().unwrap_or_default())?;
            d.set_item("classes", classes.clone())?;
            let rows: Vec<Vec<f64>> = proba.outer_iter().map(|r| r.to_vec()).collect();
            d.set_item("proba", rows)?;
        }
        automl_core::Predictions::Values(v) => d.set_item("values", v.clone())?,
    }
    if !p.items.is_empty() {
        let items: Vec<String> = p.items.iter().map(|f| f.display().to_string()).collect();
        d.set_item("items", items)?;
    }
    d.set_item("report", ser_to_py(py, &p.report)?)?;
    d.set_item("report_text", p.report.summary())?;
    Ok(d)
}

/// Loads an exported model from a run folder or its `model.json`.
#[pyfunction]
fn load_model(py: Python<'_>, path: PathBuf) -> PyResult<Model> {
    let m = py
        .detach(move || automl_core::load_model(&path))
        .map_err(to_py_err)?;
    Ok(Model {
        inner: Arc::from(m),
    })
}

/// Parses a request with the parser a run would use in this environment (the LLM when
/// `AUTOML_LLM_BASE_URL` is set, else the embedded parser): the same answer as `automl parse`
/// and the server's `/parse`. Returns `{"intent": {...}, "warnings": [{"code", "message"}...]}`.
#[pyfunction]
fn parse(py: Python<'_>, prompt: String) -> PyResult<Py<PyAny>> {
    let parsed = py
        .detach(move || runtime().block_on(automl_core::parse_prompt(&prompt)))
        .map_err(to_py_err)?;
    ser_to_py(py, &parsed)
}

/// The Python module `automl._automl`.
#[pymodule]
fn _automl(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", automl_core::VERSION)?;
    m.add_class::<Conductor>()?;
    m.add_class::<RunHandle>()?;
    m.add_class::<EventStream>()?;
    m.add_class::<Model>()?;
    m.add_function(wrap_pyfunction!(load_model, m)?)?;
    m.add_function(wrap_pyfunction!(parse, m)?)?;
    error::register(m)?;
    Ok(())
}
