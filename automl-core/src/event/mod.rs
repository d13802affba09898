//! The event contract: every state change of a run is one [`Event`], wrapped in an [`Envelope`]
//! that carries the project, a gapless sequence number and a timestamp.
//!
//! The JSON form is the contract shared by the event log, the command line's `--json` output,
//! the WebSocket, and the Python and Node bindings:
//!
//! ```json
//! {"type":"event","project_id":"p-1","seq":17,"ts":"2026-11-27T10:00:00.123Z",
//!  "event":{"name":"METRIC_SCALAR","payload":{"run_id":"r-2","name":"loss","split":"valid","step":3,"value":0.42}}}
//! ```
//!
//! `docs/events.md` shows one example of each event; the snapshot tests below keep both honest.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

mod intent;
mod summary;

pub use intent::*;
pub use summary::*;

/// The eight stages of a run, in the order the conductor runs them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Stage {
    /// Turn the prompt into an [`Intent`].
    ParseIntent,
    /// Choose the data: the caller's file, the hub, the cache or the bundled catalog.
    DataSource,
    /// Column kinds, missing values, target, balance.
    ProfileData,
    /// A preprocessing plan fitted on the training split only.
    Preprocess,
    /// Ranked model candidates.
    ModelSelect,
    /// Time-budgeted training with live metrics.
    Train,
    /// Wait for the caller to confirm (auto-confirmed unless review was asked for).
    ReviewEdit,
    /// Write the model, metrics, event log and model card.
    Export,
}

impl Stage {
    /// All stages in run order.
    pub const ALL: [Stage; 8] = [
        Stage::ParseIntent,
        Stage::DataSource,
        Stage::ProfileData,
        Stage::Preprocess,
        Stage::ModelSelect,
        Stage::Train,
        Stage::ReviewEdit,
        Stage::Export,
    ];

    /// The wire name, e.g. `PARSE_INTENT`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Stage::ParseIntent => "PARSE_INTENT",
            Stage::DataSource => "DATA_SOURCE",
            Stage::ProfileData => "PROFILE_DATA",
            Stage::Preprocess => "PREPROCESS",
            Stage::ModelSelect => "MODEL_SELECT",
            Stage::Train => "TRAIN",
            Stage::ReviewEdit => "REVIEW_EDIT",
            Stage::Export => "EXPORT",
        }
    }

    /// Parses a wire name (case-insensitive, `-` accepted for `_`).
    pub fn parse(s: &str) -> Option<Stage> {
        let norm = s.trim().to_ascii_uppercase().replace('-', "_");
        Stage::ALL.into_iter().find(|st| st.as_str() == norm)
    }
}

impl std::fmt::Display for Stage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where a stage stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StageStatus {
    /// Not started yet.
    Pending,
    /// Working.
    Running,
    /// Waiting for the caller (a confirmation or an upload).
    Waiting,
    /// Done.
    Completed,
    /// Failed; an ERROR event says why.
    Failed,
    /// Not run (cancelled before it, or not needed).
    Skipped,
}

/// Test or validation metrics by name (`accuracy`, `macro_f1`, `r2`, `rmse`, ...).
pub type Metrics = BTreeMap<String, f64>;

/// STAGE_STATUS: a stage changed status.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StageStatusPayload {
    /// The stage.
    pub stage: Stage,
    /// Its new status.
    pub status: StageStatus,
    /// A line for people.
    pub message: String,
}

/// One data set offered in DATASET_CANDIDATES.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DatasetCandidate {
    /// Catalog or hub id.
    pub id: String,
    /// `user`, `catalog`, `hub`, `cache`.
    pub source: String,
    /// The licence as found.
    pub license: String,
    /// `allowed`, `restricted` or `rejected`.
    pub verdict: String,
    /// Why the verdict was reached.
    pub reason: String,
    /// Hub downloads when known.
    pub downloads: Option<u64>,
    /// Size in rows when known.
    pub size: Option<u64>,
    /// How well it matches the request, 0..1.
    pub score: f64,
}

/// DATASET_CANDIDATES: the search is done.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DatasetCandidatesPayload {
    /// The best allowed candidates, best first.
    pub candidates: Vec<DatasetCandidate>,
    /// Candidates that may not be used, with the reason in each.
    pub rejected: Vec<DatasetCandidate>,
}

/// DATASET_SELECTED: the data set the run uses.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DatasetSelectedPayload {
    /// Id of the data set.
    pub id: String,
    /// `user`, `catalog`, `hub`, `cache`.
    pub source: String,
    /// Revision (a hash for hub data, the catalog version for bundled data).
    pub revision: Option<String>,
    /// The licence.
    pub license: String,
    /// Where the licence was read.
    pub evidence: String,
    /// Local path of the data.
    pub path: String,
    /// Attribution to cite.
    pub attribution: Option<String>,
}

/// DATASET_SAMPLE_READY: a first look at the data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DatasetSamplePayload {
    /// 1-3 sample image paths or URLs (image data only).
    pub images: Vec<String>,
    /// Column names and types.
    pub columns: Vec<ColumnType>,
    /// Number of rows (images for image data).
    pub n_rows: u64,
    /// The first rows, as objects keyed by column.
    pub rows: Vec<serde_json::Map<String, Value>>,
}

/// A column's name and data type.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ColumnType {
    /// Name.
    pub name: String,
    /// Data type as loaded (`Int64`, `Float64`, `Utf8`, `image`...).
    pub dtype: String,
}

/// One candidate model of MODEL_CANDIDATES.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelCandidate {
    /// Model name, e.g. `logistic_regression`.
    pub model: String,
    /// Family, e.g. `linear`.
    pub family: String,
    /// The trainer that offers it.
    pub trainer: String,
    /// Why it suits this data.
    pub pros: Vec<String>,
    /// What to watch for.
    pub cons: Vec<String>,
    /// Estimated seconds to train on this data.
    pub estimated_cost_s: f64,
}

/// MODEL_CANDIDATES: ranked candidates.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelCandidatesPayload {
    /// Best first.
    pub candidates: Vec<ModelCandidate>,
}

/// TRAIN_RUN_STARTED: a trial begins.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainRunStartedPayload {
    /// Trial id, e.g. `r-1`.
    pub run_id: String,
    /// Model name.
    pub model: String,
    /// Hyper-parameters.
    pub params: serde_json::Map<String, Value>,
}

/// TRAIN_RUN_FINISHED: a trial ended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainRunFinishedPayload {
    /// Trial id.
    pub run_id: String,
    /// Model name.
    pub model: String,
    /// Validation metrics.
    pub metrics: Metrics,
    /// Wall time in seconds.
    pub duration_s: f64,
    /// `completed`, `cancelled` or `failed`.
    pub status: String,
}

/// TRAIN_PROGRESS: progress within a trial.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainProgressPayload {
    /// Trial id.
    pub run_id: String,
    /// Steps done.
    pub step: u64,
    /// Steps planned.
    pub steps: u64,
    /// Estimated seconds left in the trial.
    pub eta_s: Option<f64>,
}

/// METRIC_SCALAR: one value of one metric.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetricScalarPayload {
    /// Trial id.
    pub run_id: String,
    /// Metric name (`loss`, `accuracy`...).
    pub name: String,
    /// `train`, `valid` or `test`.
    pub split: String,
    /// Iteration or epoch.
    pub step: u64,
    /// The value.
    #[serde(deserialize_with = "f64_or_nan")]
    pub value: f64,
}

/// One point of the descent path.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PathPoint {
    /// Coordinate on the first main direction of the trajectory.
    #[serde(deserialize_with = "f64_or_nan")]
    pub x: f64,
    /// Coordinate on the second main direction.
    #[serde(deserialize_with = "f64_or_nan")]
    pub y: f64,
    /// Training loss at that point (`null` in JSON when it was not a number).
    #[serde(deserialize_with = "f64_or_nan")]
    pub loss: f64,
}

/// Reads a number that JSON may hold as `null`: serde_json writes a NaN or an infinity as
/// `null`, so an event log with such a value must still read back (as NaN).
fn f64_or_nan<'de, D: serde::Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    Ok(Option::<f64>::deserialize(d)?.unwrap_or(f64::NAN))
}

/// GD_PATH_UPDATE: the optimiser's path projected on the two main directions of the
/// parameter trajectory (all points so far).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GdPathPayload {
    /// Trial id.
    pub run_id: String,
    /// The path so far, first point first.
    pub points: Vec<PathPoint>,
}

/// One row of the leaderboard.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LeaderboardRow {
    /// Rank, 1 is best.
    pub rank: u32,
    /// Trial id.
    pub run_id: String,
    /// Model name.
    pub model: String,
    /// Validation score on the optimised metric.
    pub score: f64,
    /// Hyper-parameters.
    pub params: serde_json::Map<String, Value>,
}

/// LEADERBOARD_UPDATED: after each trial.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LeaderboardPayload {
    /// The metric the score is.
    pub metric: String,
    /// Whether larger is better.
    pub higher_is_better: bool,
    /// Ranked rows.
    pub rows: Vec<LeaderboardRow>,
    /// Set on the last update of a search: why it ended (absent while it runs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub search: Option<SearchSummary>,
}

/// Why a model search ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SearchStop {
    /// The time budget ran out while configurations were still being proposed.
    Budget,
    /// Every trainer stopped before the deadline because its search had converged (restarts in
    /// a row found no configuration it had not already tried: decisions/0098), or its fixed
    /// list was done.
    Converged,
    /// The caller's trial count was reached.
    TrialLimit,
    /// The caller cancelled.
    Cancelled,
}

/// The end of a model search: LEADERBOARD_UPDATED's `search` field.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SearchSummary {
    /// Why it ended.
    pub stop: SearchStop,
    /// Trials reported.
    pub trials: u32,
    /// Seconds the search took.
    pub elapsed_s: f64,
    /// Seconds it was given.
    pub budget_s: f64,
}

/// REVIEW_READY: the chosen model and its held-out test evaluation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReviewPayload {
    /// Held-out test metrics.
    pub metrics: Metrics,
    /// The best trial.
    pub best_run_id: String,
    /// Its model name.
    pub model: String,
    /// Rows and columns in class order (classification).
    pub confusion_matrix: Option<ConfusionMatrix>,
    /// Residual summary (regression).
    pub residuals: Option<ResidualSummary>,
    /// Feature importance, largest first.
    pub feature_importance: Vec<FeatureImportance>,
    /// Number of test rows.
    pub n_test: u64,
    /// A few misclassified test examples (image tasks); omitted when empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub misclassified: Vec<Misclassified>,
    /// ROC curve of the positive (second) class (binary classification); omitted otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub roc_curve: Option<Curve>,
    /// Precision-recall curve of the positive (second) class (binary classification); omitted
    /// otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pr_curve: Option<Curve>,
    /// A sample of test rows, true value beside prediction (regression); omitted otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub predicted_vs_actual: Option<PredictedVsActual>,
    /// History tail, actual test window and forecast per series (forecasters); omitted
    /// otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub forecast: Option<ForecastPlot>,
}

/// A curve swept over the decision threshold, highest threshold first: `x` is the
/// false-positive rate (ROC) or the recall (precision-recall), `y` the true-positive rate or
/// the precision. At most [`crate::metrics::MAX_CURVE_POINTS`] points.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Curve {
    /// Horizontal coordinates.
    pub x: Vec<f64>,
    /// Vertical coordinates, as many as `x`.
    pub y: Vec<f64>,
}

/// Test rows of a regression, true value beside prediction (an even sample of at most
/// [`crate::metrics::MAX_SCATTER_POINTS`] rows, in test order).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PredictedVsActual {
    /// True values.
    pub actual: Vec<f64>,
    /// Predictions, as many as `actual`.
    pub predicted: Vec<f64>,
}

/// A test example the model got wrong.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Misclassified {
    /// The example: an image file path.
    pub item: String,
    /// Its true class.
    pub label: String,
    /// The predicted class.
    pub predicted: String,
    /// The predicted class's probability.
    pub confidence: f64,
}

/// A confusion matrix: `matrix[true][predicted]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConfusionMatrix {
    /// Class labels, in matrix order.
    pub labels: Vec<String>,
    /// Counts, rows are true classes.
    pub matrix: Vec<Vec<u64>>,
}

/// Summary of regression residuals (truth minus prediction).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResidualSummary {
    /// Mean residual.
    pub mean: f64,
    /// Standard deviation.
    pub std: f64,
    /// Quantiles at 5, 25, 50, 75, 95 %.
    pub quantiles: Vec<f64>,
}

/// The importance of one input feature.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FeatureImportance {
    /// Feature (input column) name.
    pub feature: String,
    /// Importance, relative (sums to 1).
    pub importance: f64,
}

/// One written artifact.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Artifact {
    /// File name inside the run folder.
    pub name: String,
    /// Full path.
    pub path: String,
    /// Size in bytes.
    pub size: u64,
    /// Hex sha256 of the content.
    pub sha256: String,
}

/// NOTEBOOK_READY / EXPORT_READY: artifacts written.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ArtifactsPayload {
    /// The run folder.
    pub dir: String,
    /// The files.
    pub artifacts: Vec<Artifact>,
}

/// WARNING: a fallback or degraded path was taken.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WarningPayload {
    /// Machine-readable code, e.g. `llm_unreachable`.
    pub code: String,
    /// A line for people.
    pub message: String,
}

/// Where a run taken over by another process starts again (RESUMED).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResumePoint {
    /// From the first stage: the request runs again, its events after the stored ones.
    Start,
    /// From the first stage the log does not show completed (`stage`); the stages before it
    /// are not run again, their outputs are rebuilt from the log (`rebuilt`).
    Stage,
    /// After TRAIN, from the best model it checkpointed when it completed: `stage` is
    /// REVIEW_EDIT, and TRAIN with every stage before it is rebuilt, not run again.
    Checkpoint,
}

/// A stage the log shows completed that the new process runs again, and why its output could
/// not be rebuilt.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StageRerun {
    /// The stage.
    pub stage: Stage,
    /// Why it runs again (e.g. its data file is not readable by the new process).
    pub reason: String,
}

/// RESUMED: the process running this project stopped (a worker died) and another one took
/// the run over; the events after this one are the new process's.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResumedPayload {
    /// The last seq the stopped process had stored.
    pub after_seq: u64,
    /// Where the run starts again.
    pub from: ResumePoint,
    /// The first stage the new process runs (absent for `start`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stage: Option<Stage>,
    /// The completed stages whose outputs were rebuilt from the log instead of run again.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rebuilt: Vec<Stage>,
    /// Completed stages that run again all the same, each with the reason (a fallback).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rerun: Vec<StageRerun>,
    /// A line for people.
    pub message: String,
}

/// ERROR: the run failed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorPayload {
    /// Machine-readable code (see `AutomlError::code`).
    pub code: String,
    /// The message.
    pub message: String,
    /// The stage that failed, when one did.
    pub stage: Option<Stage>,
    /// True when the caller's input was at fault.
    pub user_error: bool,
}

/// RUN_FINISHED / RUN_CANCELLED: the end of a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunSummaryPayload {
    /// Held-out test metrics of the exported model (empty when none was trained).
    pub metrics: Metrics,
    /// The model exported, if any.
    pub model: Option<String>,
    /// The run folder.
    pub dir: Option<String>,
    /// Seconds from start to end.
    pub duration_s: f64,
    /// A line for people.
    pub message: String,
}

/// Every event of the contract. Serialises as `{"name": "...", "payload": {...}}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "name", content = "payload", rename_all = "SCREAMING_SNAKE_CASE")]
#[allow(clippy::large_enum_variant)]
pub enum Event {
    /// A stage changed status.
    StageStatus(StageStatusPayload),
    /// The prompt was understood.
    PromptParsed(Intent),
    /// The data set search is done.
    DatasetCandidates(DatasetCandidatesPayload),
    /// A data set was chosen.
    DatasetSelected(DatasetSelectedPayload),
    /// A sample of the data is ready.
    DatasetSampleReady(DatasetSamplePayload),
    /// The profile is ready.
    ProfileReady(Profile),
    /// The fitted preprocessing plan and split sizes.
    PreprocessReady(PreprocessSummary),
    /// Ranked model candidates.
    ModelCandidates(ModelCandidatesPayload),
    /// A trial began.
    TrainRunStarted(TrainRunStartedPayload),
    /// Progress within a trial.
    TrainProgress(TrainProgressPayload),
    /// One metric value.
    MetricScalar(MetricScalarPayload),
    /// The descent path so far.
    GdPathUpdate(GdPathPayload),
    /// A trial ended.
    TrainRunFinished(TrainRunFinishedPayload),
    /// The leaderboard changed.
    LeaderboardUpdated(LeaderboardPayload),
    /// The best model and its test evaluation.
    ReviewReady(ReviewPayload),
    /// A notebook was written.
    NotebookReady(ArtifactsPayload),
    /// Artifacts were written.
    ExportReady(ArtifactsPayload),
    /// A fallback or degraded path.
    Warning(WarningPayload),
    /// The run failed.
    Error(ErrorPayload),
    /// The run finished.
    RunFinished(RunSummaryPayload),
    /// The run was cancelled.
    RunCancelled(RunSummaryPayload),
    /// The run was taken over by another process after its own stopped.
    Resumed(ResumedPayload),
}

impl Event {
    /// The wire name, e.g. `STAGE_STATUS`.
    pub fn name(&self) -> &'static str {
        match self {
            Event::StageStatus(_) => "STAGE_STATUS",
            Event::PromptParsed(_) => "PROMPT_PARSED",
            Event::DatasetCandidates(_) => "DATASET_CANDIDATES",
            Event::DatasetSelected(_) => "DATASET_SELECTED",
            Event::DatasetSampleReady(_) => "DATASET_SAMPLE_READY",
            Event::ProfileReady(_) => "PROFILE_READY",
            Event::PreprocessReady(_) => "PREPROCESS_READY",
            Event::ModelCandidates(_) => "MODEL_CANDIDATES",
            Event::TrainRunStarted(_) => "TRAIN_RUN_STARTED",
            Event::TrainProgress(_) => "TRAIN_PROGRESS",
            Event::MetricScalar(_) => "METRIC_SCALAR",
            Event::GdPathUpdate(_) => "GD_PATH_UPDATE",
            Event::TrainRunFinished(_) => "TRAIN_RUN_FINISHED",
            Event::LeaderboardUpdated(_) => "LEADERBOARD_UPDATED",
            Event::ReviewReady(_) => "REVIEW_READY",
            Event::NotebookReady(_) => "NOTEBOOK_READY",
            Event::ExportReady(_) => "EXPORT_READY",
            Event::Warning(_) => "WARNING",
            Event::Error(_) => "ERROR",
            Event::RunFinished(_) => "RUN_FINISHED",
            Event::RunCancelled(_) => "RUN_CANCELLED",
            Event::Resumed(_) => "RESUMED",
        }
    }

    /// True for the events that end a run.
    pub fn is_terminal(&self) -> bool {
        matches!(
            self,
            Event::RunFinished(_) | Event::RunCancelled(_) | Event::Error(_)
        )
    }

    /// Shorthand for a STAGE_STATUS event.
    pub fn stage(stage: Stage, status: StageStatus, message: impl Into<String>) -> Event {
        Event::StageStatus(StageStatusPayload {
            stage,
            status,
            message: message.into(),
        })
    }

    /// Shorthand for a WARNING event.
    pub fn warning(code: impl Into<String>, message: impl Into<String>) -> Event {
        Event::Warning(WarningPayload {
            code: code.into(),
            message: message.into(),
        })
    }
}

/// The envelope every event travels in.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Envelope {
    /// Always `"event"`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The project the event belongs to.
    pub project_id: String,
    /// 1, 2, 3... per project, no gaps.
    pub seq: u64,
    /// UTC time, RFC 3339 with milliseconds.
    pub ts: String,
    /// The event.
    pub event: Event,
}

impl Envelope {
    /// One JSON line (no trailing newline).
    pub fn to_json_line(&self) -> String {
        // Serialising our own types cannot fail: every map key is a string.
        serde_json::to_string(self).unwrap_or_else(|e| {
            format!(
                r#"{{"type":"event","project_id":{:?},"seq":{},"ts":{:?},"event":{{"name":"ERROR","payload":{{"code":"internal","message":{:?}}}}}}}"#,
                self.project_id,
                self.seq,
                self.ts,
                e.to_string()
            )
        })
    }
}

#[cfg(test)]
mod tests;
