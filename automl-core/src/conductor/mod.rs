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
use std::time::Duration;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::agents::finders::{DatasetChoice, DatasetQuery};
use crate::agents::{Agent, Prompt, SelectionInput};
use crate::bus::{EventBus, Subscription};
use crate::error::{AutomlError, Result};
use crate::event::{Intent, ModelCandidate, Stage};
use crate::sink::EventSink;
use crate::train::Trainer;

/// The default training budget when neither the caller nor the prompt gives one.
pub const DEFAULT_TIME_BUDGET_S: f64 = 60.0;

mod checkpoint;
pub mod defaults;
mod request;
mod resume;
mod run;
mod stages;

pub use checkpoint::{
    CHECKPOINT_DIR, CHECKPOINT_FILE, CheckpointInfo, CheckpointStore, FolderCheckpoints,
    checkpoint_files,
};
pub use request::*;

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
    checkpoints: Option<Arc<dyn CheckpointStore>>,
}

impl Default for ConductorBuilder {
    fn default() -> Self {
        // LLM parser when configured (else embedded), Hub → HF cache → catalog, cheapest-first
        // selector (explained by the LLM when configured): see `defaults::agents`.
        let agents = defaults::agents();
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
            checkpoints: None,
        }
    }
}

impl ConductorBuilder {
    /// Replaces the prompt parser (default: the LLM parser when `AUTOML_LLM_BASE_URL` is set,
    /// else the embedded rule parser; see [`defaults::agents`]).
    pub fn parser(mut self, p: Arc<dyn Agent<Prompt, Intent>>) -> Self {
        self.parser = p;
        self
    }

    /// Replaces the data set finder (default: caller's data, else Hub → local HF cache →
    /// bundled catalog, see [`crate::agents::finders::FinderChain`]).
    pub fn finder(mut self, f: Arc<dyn Agent<DatasetQuery, DatasetChoice>>) -> Self {
        self.finder = f;
        self
    }

    /// Works without the network: the default finder chain skips the Hugging Face Hub and
    /// says so (`reason`, e.g. "offline (--offline)") in DATA_SOURCE; the local HF cache and
    /// the bundled catalog are still searched. Replaces a finder set before.
    pub fn offline(mut self, reason: impl Into<String>) -> Self {
        self.finder = Arc::new(defaults::finder_chain_with(Some(&reason.into())));
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

    /// Keeps the best model of every completed TRAIN in `store`, so that a process taking a
    /// run over ([`Conductor::resume`]) continues after TRAIN instead of training again
    /// (default: no checkpoints; a resumed run whose TRAIN had completed trains again).
    pub fn checkpoints(mut self, store: Arc<dyn CheckpointStore>) -> Self {
        self.checkpoints = Some(store);
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
            trainers.extend(defaults::trainers());
        }
        Ok(Conductor {
            inner: Arc::new(run::Inner {
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
                checkpoints: self.checkpoints,
                model_formats: defaults::model_formats(),
            }),
        })
    }
}

/// Runs requests. Cheap to clone; each run is its own tokio task.
#[derive(Clone)]
pub struct Conductor {
    inner: Arc<run::Inner>,
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
        self.start(req)?.wait().await
    }

    /// Starts a request and returns its handle at once. Must be called inside a tokio runtime.
    ///
    /// The request is checked first ([`RunRequest::validate`]); a bad one is refused here,
    /// before any project, event or folder exists.
    pub fn start(&self, req: RunRequest) -> Result<RunHandle> {
        self.launch(req, None)
    }

    /// Continues a run that another process started and did not finish (a worker that
    /// died): `req` is the run's request, with its `project_id`, and this conductor's bus
    /// must hold the project's log so far (after [`EventBus::load`] from a shared backend).
    /// The stages the log shows completed are not run again: their outputs are rebuilt from
    /// their events (and TRAIN's from its checkpoint, see
    /// [`ConductorBuilder::checkpoints`]); a RESUMED event after the last stored seq says
    /// where the run continues, then the run goes on from there with gapless seqs. A stage
    /// whose output cannot be rebuilt runs again, and RESUMED names it with the reason. `by`
    /// names the process taking over (in RESUMED's message).
    ///
    /// Refused: a request without a project id, a project with no events (start it instead)
    /// and a log that has already ended.
    pub fn resume(&self, req: RunRequest, by: &str) -> Result<RunHandle> {
        let Some(id) = req.project_id.clone() else {
            return Err(AutomlError::InvalidOption {
                name: "project_id".to_string(),
                message: "a resumed run needs the project id of its log".to_string(),
            });
        };
        let log = self.inner.bus.history(&id);
        let refuse = |message: String| AutomlError::InvalidOption {
            name: "resume".to_string(),
            message,
        };
        match log.last() {
            None => Err(refuse(format!(
                "project {id} has no events to resume from; start the run instead"
            ))),
            Some(e) if e.event.is_terminal() => Err(refuse(format!(
                "project {id} has already ended ({} at seq {})",
                e.event.name(),
                e.seq
            ))),
            Some(_) => self.launch(
                req,
                Some(run::Resume {
                    log,
                    by: by.to_string(),
                }),
            ),
        }
    }

    fn launch(&self, req: RunRequest, resume: Option<run::Resume>) -> Result<RunHandle> {
        req.validate()?;
        let project_id = req.project_id.clone().unwrap_or_else(new_project_id);
        let cancel = CancellationToken::new();
        let (confirm_tx, confirm_rx) = mpsc::unbounded_channel();
        let inner = self.inner.clone();
        // Create the project's log now so that `events()` works before the task runs.
        let emitter = inner.bus.emitter(&project_id);
        let join = tokio::spawn(run::drive(
            inner,
            req,
            project_id.clone(),
            emitter,
            cancel.clone(),
            confirm_rx,
            resume,
        ));
        Ok(RunHandle {
            project_id,
            bus: self.inner.bus.clone(),
            control: RunControl { cancel, confirm_tx },
            join,
        })
    }
}

fn new_project_id() -> String {
    use rand::Rng;
    let now = chrono::Utc::now().format("%Y%m%d-%H%M%S");
    let tag: u32 = rand::thread_rng().r#gen::<u32>() & 0xffff;
    format!("p-{now}-{tag:04x}")
}
