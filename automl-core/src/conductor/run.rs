//! One run: the state the stages share, the order they run in, and how a run ends (finished,
//! failed, cancelled).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::request::{Choice, RunOutcome, RunRequest, RunStatus};
use crate::agents::finders::ChosenDataset;
use crate::agents::finders::{DatasetChoice, DatasetQuery};
use crate::agents::{Agent, Prompt, SelectionInput};
use crate::agents::{RunSettings, StageContext};
use crate::bus::Emitter;
use crate::bus::EventBus;
use crate::data::Dataset;
use crate::error::{AutomlError, Result};
use crate::event::{
    Artifact, ErrorPayload, Event, Intent, Metrics, ModelCandidate, Profile, ReviewPayload,
    RunSummaryPayload, Stage, StageStatus,
};
use crate::sink::{EventSink, JsonlSink, join_sink, spawn_sink};
use crate::train::Trainer;
use crate::train::{BestModel, ModelFormats, TrainContext, TrainInput};

use super::checkpoint::CheckpointStore;

/// What every run of a conductor shares: its agents, trainers, sinks and bus.
pub(crate) struct Inner {
    pub(crate) parser: Arc<dyn Agent<Prompt, Intent>>,
    pub(crate) finder: Arc<dyn Agent<DatasetQuery, DatasetChoice>>,
    pub(crate) selector: Arc<dyn Agent<SelectionInput, Vec<ModelCandidate>>>,
    pub(crate) trainers: Vec<Arc<dyn Trainer>>,
    pub(crate) sinks: Vec<Arc<dyn EventSink>>,
    pub(crate) bus: EventBus,
    pub(crate) catalog_dir: Option<PathBuf>,
    pub(crate) runs_dir: PathBuf,
    pub(crate) default_time_budget_s: f64,
    pub(crate) sink_drain_timeout: Duration,
    /// Where the best model of a completed TRAIN is kept for a takeover (none: not kept).
    pub(crate) checkpoints: Option<Arc<dyn CheckpointStore>>,
    /// How a checkpointed model is read back.
    pub(crate) model_formats: ModelFormats,
}

/// Runs CPU-bound or file-writing work on tokio's blocking pool, so that the runtime's worker
/// threads stay free for the bus, HTTP and WebSocket traffic of other projects.
pub(crate) async fn blocking<T, F>(what: &str, f: F) -> Result<T>
where
    F: FnOnce() -> Result<T> + Send + 'static,
    T: Send + 'static,
{
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| AutomlError::Internal(format!("{what} task failed: {e}")))?
}

pub(crate) async fn drive(
    inner: Arc<Inner>,
    req: RunRequest,
    project_id: String,
    em: Emitter,
    cancel: CancellationToken,
    confirm_rx: mpsc::UnboundedReceiver<(Stage, Choice)>,
    resume: Option<Resume>,
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
    let (log, log_error) = match log_result {
        Ok(s) => {
            let s = Arc::new(s);
            sinks.push(s.clone());
            (Some(s), None)
        }
        Err(e) => (None, Some(e)),
    };
    // Sockets see an event only once the run's log holds it (see `EventBus::subscribe_durable`).
    if log.is_some() {
        inner.bus.hold_until_durable(&project_id, since);
    }
    let handles: Vec<_> = sinks
        .iter()
        .map(|s| {
            let is_log = log
                .as_ref()
                .is_some_and(|l| Arc::ptr_eq(&(l.clone() as Arc<dyn EventSink>), s));
            let on_written: Option<Box<dyn Fn(u64) + Send>> = is_log.then(|| {
                let bus = inner.bus.clone();
                let id = project_id.clone();
                Box::new(move |seq| bus.mark_durable(&id, seq)) as Box<dyn Fn(u64) + Send>
            });
            (
                s.name().to_string(),
                spawn_sink(
                    s.clone(),
                    inner.bus.subscribe(&project_id, since),
                    on_written,
                ),
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
        log,
        started: Instant::now(),
        current: Stage::ParseIntent,
        intent: None,
        dataset: None,
        profile: None,
        loaded: None,
        input: None,
        train_cx: None,
        ranked: vec![],
        metric: None,
        best: None,
        review: None,
        forecast: None,
        confirm_rx,
        quiet: false,
        trial_ids_used: 0,
    };
    let result = match (log_error, resume) {
        (Some(e), _) => Err(e),
        (None, None) => state.execute().await,
        (None, Some(r)) => match state.rebuild(&r.log, &r.by).await {
            Ok(stage) => state.run_from(stage).await,
            Err(e) => Err(e),
        },
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
    // The log is done (or failed, or was abandoned): nothing more will become durable.
    inner.bus.release_durable(&project_id);
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

pub(crate) struct RunState {
    pub(crate) inner: Arc<Inner>,
    pub(crate) cx: StageContext,
    pub(crate) req: RunRequest,
    pub(crate) project_id: String,
    pub(crate) run_dir: PathBuf,
    /// The run's own event log; a run that cannot keep its record stops (see `check_log`).
    pub(crate) log: Option<Arc<JsonlSink>>,
    pub(crate) started: Instant,
    pub(crate) current: Stage,
    pub(crate) intent: Option<Intent>,
    pub(crate) dataset: Option<ChosenDataset>,
    pub(crate) profile: Option<Profile>,
    pub(crate) loaded: Option<Dataset>,
    pub(crate) input: Option<TrainInput>,
    pub(crate) train_cx: Option<TrainContext>,
    pub(crate) ranked: Vec<ModelCandidate>,
    pub(crate) metric: Option<String>,
    pub(crate) best: Option<BestModel>,
    pub(crate) review: Option<ReviewPayload>,
    /// The series split in time, for a forecasting request (set by PROFILE_DATA).
    pub(crate) forecast: Option<std::sync::Arc<crate::data::timeseries::ForecastData>>,
    pub(crate) confirm_rx: mpsc::UnboundedReceiver<(Stage, Choice)>,
    /// While outputs are rebuilt from a log (a resumed run): emit nothing, the log has it.
    pub(crate) quiet: bool,
    /// The highest trial id (`r-N`) a resumed run's log holds; new trials number after it.
    pub(crate) trial_ids_used: u64,
}

/// A run continued from its recorded log by another process (see `resume.rs`).
pub(crate) struct Resume {
    /// The project's log so far.
    pub(crate) log: Vec<crate::event::Envelope>,
    /// Who continues it, for RESUMED's message.
    pub(crate) by: String,
}

impl RunState {
    /// The caller's next answer to a waiting stage; a cancel (or a dropped handle) ends the
    /// wait with [`AutomlError::Cancelled`].
    pub(crate) async fn next_confirm(&mut self) -> Result<(Stage, Choice)> {
        let msg = tokio::select! {
            m = self.confirm_rx.recv() => m,
            _ = self.cx.cancel.cancelled() => return Err(AutomlError::Cancelled),
        };
        msg.ok_or(AutomlError::Cancelled)
    }

    pub(crate) fn emit(&self, e: Event) {
        if self.quiet {
            return;
        }
        self.cx.emitter.emit(e);
    }

    /// Fails when the run's event log has stopped (a full disk): the run's record would be
    /// incomplete, so nothing more is trained or exported without it.
    pub(crate) fn check_log(&self) -> Result<()> {
        match self.log.as_ref().and_then(|l| l.fault()) {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// Waits (up to the sink drain timeout) until the event log holds every event so far, so
    /// that RUN_FINISHED is never announced over a log that lost the export's events.
    async fn log_caught_up(&self) -> Result<()> {
        let Some(log) = &self.log else {
            return Ok(());
        };
        let want = self.cx.emitter.last_seq();
        let deadline = Instant::now() + self.inner.sink_drain_timeout;
        while log.written_seq() < want && log.fault().is_none() && Instant::now() < deadline {
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        self.check_log()
    }

    pub(crate) fn begin(&mut self, stage: Stage, message: &str) -> Result<()> {
        self.cx.check_cancelled()?;
        self.check_log()?;
        self.current = stage;
        self.emit(Event::stage(stage, StageStatus::Running, message));
        Ok(())
    }

    pub(crate) fn complete(&self, stage: Stage, message: impl Into<String>) {
        self.emit(Event::stage(stage, StageStatus::Completed, message));
    }

    pub(crate) fn skip_rest(&self, after: Stage, message: &str) {
        for s in Stage::ALL.into_iter().filter(|s| *s > after) {
            self.emit(Event::stage(s, StageStatus::Skipped, message));
        }
    }

    pub(crate) async fn execute(&mut self) -> Result<RunOutcome> {
        for s in Stage::ALL {
            self.emit(Event::stage(s, StageStatus::Pending, "queued"));
        }
        self.run_from(Stage::ParseIntent).await
    }

    /// Runs the stages from `first` on (the earlier ones' outputs are in the state already:
    /// a resumed run rebuilt them) and ends the run.
    pub(crate) async fn run_from(&mut self, first: Stage) -> Result<RunOutcome> {
        if first <= Stage::ParseIntent {
            self.parse_intent().await?;
        }
        if first <= Stage::DataSource {
            self.data_source().await?;
        }
        if first <= Stage::ProfileData {
            self.profile_data().await?;
        }
        if first <= Stage::Preprocess {
            self.preprocess().await?;
        }
        if first <= Stage::ModelSelect {
            self.model_select().await?;
        }
        if first <= Stage::Train {
            self.train().await?;
        }
        self.review_edit().await?;
        let artifacts = self.export(false).await?;
        self.log_caught_up().await?;
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

    pub(crate) fn outcome(&self, status: RunStatus, artifacts: Vec<Artifact>) -> RunOutcome {
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

    /// Cancelled: keep the best model so far when there is one, and end with RUN_CANCELLED.
    pub(crate) async fn finish_cancelled(&mut self) -> Result<RunOutcome> {
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
            match self.export(true).await {
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

    pub(crate) fn fail(&self, e: &AutomlError) {
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

pub(crate) fn fmt_metrics(m: &Metrics) -> String {
    m.iter()
        .filter(|(k, _)| {
            ["accuracy", "macro_f1", "roc_auc", "r2", "rmse", "mase"].contains(&k.as_str())
        })
        .map(|(k, v)| format!("{k} {v:.4}"))
        .collect::<Vec<_>>()
        .join(", ")
}
