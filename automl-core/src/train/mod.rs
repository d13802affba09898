//! The [`Trainer`] plug point: a trainer says which tasks it handles, offers model candidates
//! with cost estimates, and trains under a [`TrainContext`] (emitter, deadline, cancellation,
//! seed), reporting every finished trial through [`TrainContext::report_trial`]. The context
//! keeps the leaderboard and the best model so far, so a cancelled or timed-out search still
//! hands back its best model.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use arrow::record_batch::RecordBatch;
use async_trait::async_trait;
use ndarray::Array2;
use tokio_util::sync::CancellationToken;

use crate::bus::Emitter;

pub mod decision;
pub mod ensemble;
pub mod gbdt;
#[cfg(feature = "image")]
pub mod image;
pub mod linear;
pub mod path;
pub mod target;
use crate::data::ImageFolder;
use crate::data::preprocess::{Split, TabularData};
use crate::data::timeseries::{ForecastData, ForecastSetup};
use crate::error::{AutomlError, Result};
use crate::event::{
    Event, FeatureImportance, ForecastPlot, LeaderboardPayload, LeaderboardRow, Metrics,
    ModelCandidate, SearchSummary,
};
use crate::event::{TaskKind, TransformReport};
use crate::metrics::higher_is_better;

/// What a trainer is asked to handle.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskSpec {
    /// `tabular`, `text` or `image`.
    pub modality: String,
    /// Classification or regression.
    pub task: TaskKind,
    /// Training rows (or images).
    pub n_rows: u64,
    /// Encoded features (0 for images).
    pub n_features: u64,
    /// Classes (classification).
    pub n_classes: u64,
}

impl TaskSpec {
    /// The task in words, e.g. "tabular classification".
    pub fn words(&self) -> String {
        format!("{} {}", self.modality, self.task.as_str())
    }
}

/// Labelled images with their split.
#[derive(Debug, Clone)]
pub struct ImageData {
    /// The folder.
    pub folder: ImageFolder,
    /// Indices into `folder.files`.
    pub split: Split,
}

impl ImageData {
    /// The (file, class index) pairs at `idx` (a part of `split`).
    pub fn files_at(&self, idx: &[usize]) -> Vec<(std::path::PathBuf, usize)> {
        idx.iter()
            .filter_map(|&i| self.folder.files.get(i).cloned())
            .collect()
    }
}

/// The data a trainer gets.
#[derive(Debug, Clone)]
pub enum TrainInput {
    /// Encoded table (and text) data.
    Tabular(Arc<TabularData>),
    /// Labelled images.
    Images(Arc<ImageData>),
    /// Time series split in time (forecasting).
    Forecast(Arc<ForecastData>),
}

/// A model's output for a batch of rows.
#[derive(Debug, Clone)]
pub enum Predictions {
    /// Class probabilities, columns in `classes` order.
    Classes {
        /// Class labels.
        classes: Vec<String>,
        /// Probabilities, one row per input row.
        proba: Array2<f64>,
    },
    /// Predicted numbers.
    Values(Vec<f64>),
}

impl Predictions {
    /// Number of predicted rows.
    pub fn len(&self) -> usize {
        match self {
            Predictions::Classes { proba, .. } => proba.nrows(),
            Predictions::Values(v) => v.len(),
        }
    }

    /// True when there are no rows.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The most probable class of each row (the first of equals), for classification; `None`
    /// for regression.
    pub fn labels(&self) -> Option<Vec<String>> {
        match self {
            Predictions::Classes { classes, proba } => {
                Some(
                    proba
                        .rows()
                        .into_iter()
                        .map(|row| {
                            let best =
                                row.iter()
                                    .enumerate()
                                    .fold((0, f64::NEG_INFINITY), |b, (i, v)| {
                                        if *v > b.1 { (i, *v) } else { b }
                                    })
                                    .0;
                            classes.get(best).cloned().unwrap_or_default()
                        })
                        .collect(),
                )
            }
            Predictions::Values(_) => None,
        }
    }
}

/// A model that extends time series (see `data::timeseries` and docs/forecasting.md).
pub trait Forecaster: Send + Sync {
    /// Columns, frequency, season and trained horizon.
    fn setup(&self) -> &ForecastSetup;

    /// The rolling-origin backtest metrics it was chosen on.
    fn backtest(&self) -> &Metrics;

    /// Extends every series of a history table by `horizon` steps (default: the trained one):
    /// the series columns, the time column and `prediction`, one row per series and step.
    fn forecast_batch(&self, batch: &RecordBatch, horizon: Option<usize>) -> Result<RecordBatch>;

    /// Test metrics (each series forecast from its training part over its test window),
    /// pooled, and the forecast-vs-actual plot.
    fn evaluate(&self, data: &ForecastData) -> (Metrics, ForecastPlot);
}

/// A trained model: predicts on Arrow rows and saves itself.
pub trait TrainedModel: Send + Sync {
    /// The model's name, e.g. `logistic_regression`.
    fn model_name(&self) -> &str;

    /// Classification or regression.
    fn task(&self) -> TaskKind;

    /// The class labels in probability-column order (empty for regression).
    fn classes(&self) -> &[String];

    /// True for models that predict on image files rather than table rows.
    fn is_image_model(&self) -> bool {
        false
    }

    /// Predicts for raw rows (the fitted preprocessing is applied inside).
    fn predict_batch(&self, batch: &RecordBatch) -> Result<(Predictions, TransformReport)>;

    /// Predicts for image files: probabilities for the files that could be decoded (in order),
    /// and the files that could not, with the reason. Only image models implement it.
    fn predict_images(&self, files: &[PathBuf]) -> Result<(Predictions, Vec<(PathBuf, String)>)> {
        let _ = files;
        Err(AutomlError::NoTrainer {
            task: format!("image prediction with {}", self.model_name()),
        })
    }

    /// The forecaster behind this model, for models that extend time series rather than
    /// predict rows (see [`crate::forecast`]).
    fn forecaster(&self) -> Option<&dyn Forecaster> {
        None
    }

    /// Importance of the input columns, largest first, summing to 1.
    fn feature_importance(&self) -> Vec<FeatureImportance>;

    /// Where pretrained weights the model was fine-tuned from came from (source and
    /// licence), for the model card; `None` for models trained from scratch.
    fn provenance(&self) -> Option<String> {
        None
    }

    /// Writes the model into `dir` and returns the files written.
    fn save(&self, dir: &Path) -> Result<Vec<PathBuf>>;
}

/// Refits a trial's configuration on the training and validation rows together (all rows but
/// the test split), as the final model of a search; returns the refitted model.
pub type RefitFn = Arc<dyn Fn(&TabularData) -> Result<Arc<dyn TrainedModel>> + Send + Sync>;

/// Which rows a trial's stored predictions are for: trials whose predictions cover the same
/// rows can be ensembled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PredictionRows {
    /// The validation split, in order.
    Valid,
    /// Out-of-fold predictions over train + valid (in `TabularData::train_and_valid` order),
    /// from the shared seeded folds.
    OutOfFold,
}

/// A trial's predictions on rows it was not fitted on (what ensemble selection combines).
#[derive(Debug, Clone)]
pub struct TrialPredictions {
    /// The rows.
    pub rows: PredictionRows,
    /// The predictions.
    pub predictions: Predictions,
}

/// The metric that breaks ties on the requested one: log loss for classification, RMSE for
/// regression (both lower-is-better; see docs/decisions/0070-search-selection-and-ties.md).
pub fn tie_break_metric(task: TaskKind) -> &'static str {
    match task {
        TaskKind::Classification => "log_loss",
        TaskKind::Regression => "rmse",
    }
}

/// The ranking key of a trial's metrics: the requested metric turned higher-is-better, then
/// the tie-break metric turned higher-is-better (missing or NaN values rank last).
pub fn rank_key(metrics: &Metrics, metric: &str) -> (f64, f64) {
    let signed = |name: &str| -> f64 {
        match metrics.get(name) {
            Some(v) if v.is_finite() => {
                if higher_is_better(name) {
                    *v
                } else {
                    -*v
                }
            }
            _ => f64::NEG_INFINITY,
        }
    };
    // The tie-break is whichever of log loss / RMSE the metrics hold (one of them always is).
    let tie = if metrics.contains_key("log_loss") {
        signed("log_loss")
    } else {
        signed("rmse")
    };
    (signed(metric), tie)
}

/// Compares two ranking keys, better first (`Less` when `a` is better): the primary values
/// within a relative 1e-9 are a tie, broken by the second.
pub fn compare_keys(a: (f64, f64), b: (f64, f64)) -> std::cmp::Ordering {
    let tol = 1e-9 * a.0.abs().max(b.0.abs()).max(1.0);
    let same = (a.0 - b.0).abs() <= tol || (a.0 == b.0);
    if same {
        b.1.total_cmp(&a.1)
    } else {
        b.0.total_cmp(&a.0)
    }
}

/// A finished trial.
pub struct TrialRecord {
    /// Trial id from [`TrainContext::next_run_id`].
    pub run_id: String,
    /// Model name.
    pub model_name: String,
    /// Hyper-parameters.
    pub params: serde_json::Map<String, serde_json::Value>,
    /// Validation metrics.
    pub metrics: Metrics,
    /// The fitted model.
    pub model: Arc<dyn TrainedModel>,
    /// How to refit this configuration on train + valid, when the trainer offers it.
    pub refit: Option<RefitFn>,
    /// Wall time of the trial in seconds (to estimate the refit's cost).
    pub duration_s: f64,
    /// Its predictions on rows it was not fitted on, for ensemble selection (when offered).
    pub predictions: Option<TrialPredictions>,
}

/// The best model of a search so far.
#[derive(Clone)]
pub struct BestModel {
    /// Trial id.
    pub run_id: String,
    /// Validation score on the optimised metric.
    pub score: f64,
    /// The model.
    pub model: Arc<dyn TrainedModel>,
    /// How to refit it on train + valid, if offered.
    pub refit: Option<RefitFn>,
    /// Wall time of its trial.
    pub duration_s: f64,
}

struct Entry {
    row: LeaderboardRow,
    key: (f64, f64),
    model: Arc<dyn TrainedModel>,
    refit: Option<RefitFn>,
    duration_s: f64,
    predictions: Option<TrialPredictions>,
}

/// How many of the best trials keep their out-of-sample predictions for ensemble selection
/// (besides the best trial of each model family).
pub const POOLED_TRIALS: usize = 24;

/// How many of the best trials LEADERBOARD_UPDATED shows (besides the best trial of each
/// model family). A search that runs to its deadline makes hundreds or thousands of trials; a
/// payload of every row on every trial grew the log quadratically (315 MB for 1,336 iris
/// trials in 60 s).
pub const SHOWN_TRIALS: usize = 25;

/// The rows LEADERBOARD_UPDATED shows: the best [`SHOWN_TRIALS`] and each model family's best,
/// in rank order, numbered 1, 2, 3… as shown (the board's own ranks go on past the cut).
fn shown_rows(rows: &[Entry]) -> Vec<LeaderboardRow> {
    let mut families = std::collections::HashSet::new();
    rows.iter()
        .enumerate()
        .filter(|(i, r)| families.insert(r.row.model.clone()) || *i < SHOWN_TRIALS)
        .enumerate()
        .map(|(n, (_, r))| LeaderboardRow {
            rank: n as u32 + 1,
            ..r.row.clone()
        })
        .collect()
}

/// How many of the best trials stay on the board with their fitted models (besides the best
/// trial of each model family); the rest are dropped, freeing their models. A row's rank only
/// falls as trials are added, so a dropped row could never have been shown again.
pub const KEPT_TRIALS: usize = 50;

/// A leaderboard trial with its stored predictions (what ensemble selection works from).
#[derive(Clone)]
pub struct PooledTrial {
    /// Trial id.
    pub run_id: String,
    /// Model name.
    pub model_name: String,
    /// Its validation score on the optimised metric.
    pub score: f64,
    /// The fitted model.
    pub model: Arc<dyn TrainedModel>,
    /// Its out-of-sample predictions.
    pub predictions: TrialPredictions,
}

impl Entry {
    fn best(&self) -> BestModel {
        BestModel {
            run_id: self.row.run_id.clone(),
            score: self.row.score,
            model: self.model.clone(),
            refit: self.refit.clone(),
            duration_s: self.duration_s,
        }
    }
}

struct Board {
    metric: String,
    higher: bool,
    rows: Mutex<Vec<Entry>>,
    counter: AtomicU64,
    trials: AtomicU32,
}

/// What a trainer works under.
#[derive(Clone)]
pub struct TrainContext {
    /// Emits events into the run's log.
    pub emitter: Emitter,
    /// Cancelled when the caller cancels.
    pub cancel: CancellationToken,
    /// Stop starting work after this instant; cut trials short rather than overrun.
    pub deadline: Instant,
    /// Seed for reproducible runs.
    pub seed: u64,
    /// Trial count, when the caller fixed one.
    pub max_trials: Option<u32>,
    board: Arc<Board>,
}

impl TrainContext {
    /// A context whose leaderboard ranks on `metric`.
    pub fn new(
        emitter: Emitter,
        cancel: CancellationToken,
        deadline: Instant,
        seed: u64,
        max_trials: Option<u32>,
        metric: &str,
    ) -> Self {
        Self {
            emitter,
            cancel,
            deadline,
            seed,
            max_trials,
            board: Arc::new(Board {
                metric: metric.to_string(),
                higher: higher_is_better(metric),
                rows: Mutex::new(Vec::new()),
                counter: AtomicU64::new(0),
                trials: AtomicU32::new(0),
            }),
        }
    }

    /// The same context (leaderboard, cancel, trial count) with an earlier deadline: how the
    /// conductor shares the budget among trainers.
    pub fn with_deadline(&self, deadline: Instant) -> TrainContext {
        TrainContext {
            deadline: deadline.min(self.deadline),
            ..self.clone()
        }
    }

    /// The metric the leaderboard ranks on.
    pub fn metric(&self) -> &str {
        &self.board.metric
    }

    /// A fresh trial id (`r-1`, `r-2`, ...), unique across trainers of the run.
    pub fn next_run_id(&self) -> String {
        format!(
            "r-{}",
            self.board.counter.fetch_add(1, Ordering::SeqCst) + 1
        )
    }

    /// Makes the next trial ids start after `r-{used}`: a TRAIN resumed by another process
    /// numbers its trials after the ones its log already holds, so no id names two trials.
    pub fn skip_run_ids(&self, used: u64) {
        self.board.counter.fetch_max(used, Ordering::SeqCst);
    }

    /// Time left before the deadline.
    pub fn time_left(&self) -> Duration {
        self.deadline.saturating_duration_since(Instant::now())
    }

    /// True once cancelled or past the deadline.
    pub fn should_stop(&self) -> bool {
        self.cancel.is_cancelled() || Instant::now() >= self.deadline
    }

    /// True while the caller's trial count (if any) allows another trial.
    pub fn may_start_trial(&self) -> bool {
        !self.should_stop()
            && self
                .max_trials
                .is_none_or(|m| self.board.trials.load(Ordering::SeqCst) < m)
    }

    /// Emits an event.
    pub fn emit(&self, event: Event) {
        self.emitter.emit(event);
    }

    /// Records a finished trial: updates the leaderboard (and emits LEADERBOARD_UPDATED) and the
    /// best model so far.
    pub fn report_trial(&self, trial: TrialRecord) {
        self.board.trials.fetch_add(1, Ordering::SeqCst);
        self.push(trial);
    }

    fn push(&self, trial: TrialRecord) {
        let score =
            trial
                .metrics
                .get(&self.board.metric)
                .copied()
                .unwrap_or(if self.board.higher {
                    f64::NEG_INFINITY
                } else {
                    f64::INFINITY
                });
        let key = rank_key(&trial.metrics, &self.board.metric);
        let new_id = trial.run_id.clone();
        let payload = {
            let mut rows = self.board.rows.lock().unwrap_or_else(|p| p.into_inner());
            rows.push(Entry {
                row: LeaderboardRow {
                    rank: 0,
                    run_id: trial.run_id,
                    model: trial.model_name,
                    score,
                    params: trial.params,
                },
                key,
                model: trial.model,
                refit: trial.refit,
                duration_s: trial.duration_s,
                predictions: trial.predictions,
            });
            // Ranked by the requested metric, ties broken by log loss / RMSE; stable, so among
            // full ties the earlier (cheaper) trial stays ahead.
            rows.sort_by(|a, b| compare_keys(a.key, b.key));
            // Only the best trials, and the best of each model family (so ensembles can mix
            // families: decisions/0098), keep their predictions for ensembling, and only a
            // few more keep their models at all (bounds memory).
            let mut families = std::collections::HashSet::new();
            let mut i = 0;
            rows.retain_mut(|r| {
                let family_best = families.insert(r.row.model.clone());
                if i >= POOLED_TRIALS && !family_best {
                    r.predictions = None;
                }
                i += 1;
                i <= KEPT_TRIALS || family_best
            });
            for (i, r) in rows.iter_mut().enumerate() {
                r.row.rank = i as u32 + 1;
            }
            let shown = shown_rows(&rows);
            // A trial that lands below every shown row changes nothing shown: no event.
            if !shown.iter().any(|r| r.run_id == new_id) {
                return;
            }
            LeaderboardPayload {
                metric: self.board.metric.clone(),
                higher_is_better: self.board.higher,
                rows: shown,
                search: None,
            }
        };
        self.emit(Event::LeaderboardUpdated(payload));
    }

    /// Trials reported so far.
    pub fn trials(&self) -> u32 {
        self.board.trials.load(Ordering::SeqCst)
    }

    /// True when the caller's trial count has been reached.
    pub fn trial_limit_reached(&self) -> bool {
        self.max_trials.is_some_and(|m| self.trials() >= m)
    }

    /// The trials that stored out-of-sample predictions, best first.
    pub fn pool(&self) -> Vec<PooledTrial> {
        let rows = self.board.rows.lock().unwrap_or_else(|p| p.into_inner());
        rows.iter()
            .filter_map(|e| {
                e.predictions.clone().map(|p| PooledTrial {
                    run_id: e.row.run_id.clone(),
                    model_name: e.row.model.clone(),
                    score: e.row.score,
                    model: e.model.clone(),
                    predictions: p,
                })
            })
            .collect()
    }

    /// Puts a model built from other trials (an ensemble, a tuned decision rule) on the
    /// leaderboard, ranked like any trial by its metrics but not counted as one; returns its
    /// id. `trial.run_id` is replaced by a fresh one. Emits LEADERBOARD_UPDATED.
    pub fn add_composite(&self, mut trial: TrialRecord) -> String {
        let run_id = self.next_run_id();
        trial.run_id = run_id.clone();
        self.push(trial);
        run_id
    }

    /// Emits the final LEADERBOARD_UPDATED of the search, saying why it ended.
    pub fn finish_search(&self, summary: SearchSummary) {
        let payload = LeaderboardPayload {
            metric: self.board.metric.clone(),
            higher_is_better: self.board.higher,
            rows: self.leaderboard(),
            search: Some(summary),
        };
        self.emit(Event::LeaderboardUpdated(payload));
    }

    /// The best model so far.
    pub fn best(&self) -> Option<BestModel> {
        let rows = self.board.rows.lock().unwrap_or_else(|p| p.into_inner());
        rows.first().map(Entry::best)
    }

    /// The model of trial `run_id`, if it is on the leaderboard.
    pub fn model_of(&self, run_id: &str) -> Option<BestModel> {
        let rows = self.board.rows.lock().unwrap_or_else(|p| p.into_inner());
        rows.iter()
            .find(|e| e.row.run_id == run_id)
            .map(Entry::best)
    }

    /// The ranked leaderboard as shown: the best [`SHOWN_TRIALS`] rows and each model
    /// family's best.
    pub fn leaderboard(&self) -> Vec<LeaderboardRow> {
        let rows = self.board.rows.lock().unwrap_or_else(|p| p.into_inner());
        shown_rows(&rows)
    }
}

/// Trains models for some tasks.
#[async_trait]
pub trait Trainer: Send + Sync {
    /// A short name, e.g. `linear`.
    fn name(&self) -> &str;

    /// Whether this trainer handles the task.
    fn supports(&self, task: &TaskSpec) -> bool;

    /// The models it would try, with pros, cons and estimated cost on this task.
    fn candidates(&self, task: &TaskSpec) -> Vec<ModelCandidate>;

    /// Trains until done, cancelled or out of time, reporting each trial through the context.
    async fn train(&self, input: TrainInput, cx: TrainContext) -> Result<()>;
}

#[async_trait]
impl<T: Trainer + ?Sized> Trainer for Arc<T> {
    fn name(&self) -> &str {
        (**self).name()
    }
    fn supports(&self, task: &TaskSpec) -> bool {
        (**self).supports(task)
    }
    fn candidates(&self, task: &TaskSpec) -> Vec<ModelCandidate> {
        (**self).candidates(task)
    }
    async fn train(&self, input: TrainInput, cx: TrainContext) -> Result<()> {
        (**self).train(input, cx).await
    }
}

/// Reads one saved model format: the `model.json` file and its parsed content.
pub type ModelLoader = fn(&Path, serde_json::Value) -> Result<Box<dyn TrainedModel>>;

/// The model formats that can be loaded, by their `format` tag (e.g. `automl-linear/1`).
/// Implementations register themselves in the wiring (`conductor::defaults::model_formats`);
/// this module names none of them.
#[derive(Clone, Default)]
pub struct ModelFormats {
    loaders: Vec<(&'static str, ModelLoader)>,
}

impl ModelFormats {
    /// No formats.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a format.
    pub fn register(mut self, format: &'static str, loader: ModelLoader) -> Self {
        self.loaders.push((format, loader));
        self
    }

    /// The registered format tags.
    pub fn formats(&self) -> Vec<&'static str> {
        self.loaders.iter().map(|(f, _)| *f).collect()
    }

    /// Loads a model saved by [`TrainedModel::save`] from a run folder (or its `model.json`).
    /// A missing, malformed or inconsistent file is an [`AutomlError::ModelLoad`] naming it.
    pub fn load(&self, path: &Path) -> Result<Box<dyn TrainedModel>> {
        let file = if path.is_dir() {
            path.join("model.json")
        } else {
            path.to_path_buf()
        };
        let text = std::fs::read_to_string(&file).map_err(|e| AutomlError::ModelLoad {
            path: file.clone(),
            message: e.to_string(),
        })?;
        let v: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| AutomlError::ModelLoad {
                path: file.clone(),
                message: format!("not JSON: {e}"),
            })?;
        let tag = v.get("format").and_then(|f| f.as_str()).map(str::to_string);
        match self
            .loaders
            .iter()
            .find(|(f, _)| Some(*f) == tag.as_deref())
        {
            Some((_, load)) => load(&file, v),
            None => Err(AutomlError::ModelLoad {
                path: file,
                message: format!(
                    "unknown model format {tag:?} (known: {})",
                    self.formats().join(", ")
                ),
            }),
        }
    }
}

/// Per-column importances as shares of their total, largest first (ties by name): what every
/// model's `feature_importance` returns once it has summed its own per-column figures.
pub fn ranked_importance(
    by_column: std::collections::HashMap<String, f64>,
) -> Vec<FeatureImportance> {
    let total: f64 = by_column.values().sum::<f64>().max(1e-300);
    let mut out: Vec<FeatureImportance> = by_column
        .into_iter()
        .map(|(feature, v)| FeatureImportance {
            feature,
            importance: v / total,
        })
        .collect();
    out.sort_by(|a, b| {
        b.importance
            .total_cmp(&a.importance)
            .then(a.feature.cmp(&b.feature))
    });
    out
}
