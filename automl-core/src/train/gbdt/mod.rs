//! The gradient-boosted trees trainer, on the [`crate::boost`] engine
//! (see docs/decisions/0004-own-gbdt.md).
//!
//! Trees get their own encoding of the raw rows ([`TreeEncoder`]): numbers as they are with
//! missing values as NaN (each split learns where missing values go), categories as ordinal
//! codes split natively on category sets, free text as indicators of its most telling words
//! (as many as the budget affords: [`text_words_per_column`]). The search
//! is cost-frugal: configurations go from cheap to dear, each boosts until its validation loss
//! stops improving (early stopping), and every round checks the deadline and the cancel token,
//! so a trial is cut short rather than overrun; loss curves stream as METRIC_SCALAR events.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use arrow::record_batch::RecordBatch;
use async_trait::async_trait;
use ndarray::Array2;
use serde::{Deserialize, Serialize};

pub mod boost;
pub mod forecast;
pub mod forest;
pub mod search;

use self::boost::{BinMapper, Objective, Params, Stop};
use crate::data::preprocess::{Pipeline, TabularData, Targets};
use crate::data::{column_f64, column_str};
use crate::error::{AutomlError, Result};
use crate::event::{
    Event, FeatureImportance, MetricScalarPayload, ModelCandidate, TrainProgressPayload,
    TrainRunFinishedPayload, TrainRunStartedPayload,
};
use crate::event::{FeatureStep, TaskKind, TransformReport};
use crate::metrics;
use crate::train::target::TargetTransform;
use crate::train::{
    PredictionRows, Predictions, TaskSpec, TrainContext, TrainInput, TrainedModel, Trainer,
    TrialPredictions, TrialRecord,
};

/// The `format` field of a saved GBDT model fitted on the target as it is.
pub const FORMAT: &str = "automl-gbdt/1";
/// The `format` field of a saved GBDT model with a `target_transform` (decisions/0098): a
/// reader that knows only [`FORMAT`] refuses it rather than predict on the wrong scale.
pub const FORMAT_TRANSFORMED: &str = "automl-gbdt/2";

/// Most hash buckets a text column may have in a saved model (bounds memory at predict time).
const MAX_TEXT_BUCKETS: usize = 1 << 20;

/// Loads a model of this format from its `model.json` (registered in the model format registry).
pub fn load(file: &std::path::Path, json: serde_json::Value) -> Result<Box<dyn TrainedModel>> {
    GbdtModel::from_json(json)
        .map(|m| Box::new(m) as Box<dyn TrainedModel>)
        .map_err(|message| AutomlError::ModelLoad {
            path: file.to_path_buf(),
            message,
        })
}
/// Most categories per column given their own code; rarer ones share the missing branch.
const MAX_CATEGORIES: usize = 250;
/// Most word indicators one text column gives the trees.
pub const MAX_TEXT_WORDS: usize = 256;
/// Fewest word indicators per text column, however tight the budget (a make in a car's name,
/// a "Christmas" in a title: a few words carry most of a short text's signal).
pub const MIN_TEXT_WORDS: usize = 8;
/// A word must appear in at least this many training rows to become a tree feature.
pub const MIN_WORD_ROWS: u64 = 3;
/// Boosting throughput the width rule assumes, in row × feature cells per second per round
/// (the cost model of [`GbdtTrainer::candidates`]).
const CELLS_PER_S: f64 = 5e7;
/// Boosting rounds the width rule wants the budget to afford (some 50 configurations of 200
/// rounds, what the local search needs to move): wider inputs would leave it too few trials.
const ROUNDS_TO_AFFORD: f64 = 10_000.0;
/// Most word indicators a text column may have in a saved model.
const MAX_SAVED_WORDS: usize = 1 << 16;

/// How many word indicators each of `text_columns` text columns gives the trees: what
/// `seconds` of boosting afford on `rows` rows beside the `other_columns` other features (at
/// [`CELLS_PER_S`] for [`ROUNDS_TO_AFFORD`] rounds), split evenly, within
/// [`MIN_TEXT_WORDS`]..=[`MAX_TEXT_WORDS`]. Small tables get the full width; large tables on a
/// short budget keep only their most telling words, so a text column never halves the search.
pub fn text_words_per_column(
    rows: usize,
    other_columns: usize,
    text_columns: usize,
    seconds: f64,
) -> usize {
    if text_columns == 0 {
        return 0;
    }
    let affordable = CELLS_PER_S * seconds.max(0.0) / (ROUNDS_TO_AFFORD * rows.max(1) as f64);
    let spare = (affordable - other_columns as f64).max(0.0) / text_columns as f64;
    (spare.floor() as usize).clamp(MIN_TEXT_WORDS, MAX_TEXT_WORDS)
}

/// The lowercase alphanumeric words of `text`, each once.
fn words_of(text: &str) -> HashSet<String> {
    text.to_lowercase()
        .split(|ch: char| !ch.is_alphanumeric())
        .filter(|t| !t.is_empty())
        .map(str::to_string)
        .collect()
}

/// The `k` words of `values` that best separate the target, found on the training rows: each
/// word in at least [`MIN_WORD_ROWS`] rows (and not in all) is scored by the squared error a
/// split on its indicator removes, `n_w (n − n_w) / n · Σ_o (ȳ_w,o − ȳ_¬w,o)²` over the outputs
/// `o` (the value for regression, each class's indicator for classification), and the best
/// `k` are kept, ties by name. `y` holds one target per row.
pub fn telling_words(values: &[Option<String>], y: &Targets, k: usize) -> Vec<String> {
    let n = values.len();
    if n == 0 || k == 0 || y.len() != n {
        return Vec::new();
    }
    let outputs = match y {
        Targets::Values(_) => 1,
        Targets::Classes(c) => c.iter().copied().max().map_or(1, |m| m + 1),
    };
    let target = |i: usize, out: &mut [f64]| match y {
        Targets::Values(v) => out[0] += v[i],
        Targets::Classes(c) => out[c[i]] += 1.0,
    };
    let mut total = vec![0.0; outputs];
    let mut per_word: HashMap<String, (u64, Vec<f64>)> = HashMap::new();
    for (i, v) in values.iter().enumerate() {
        target(i, &mut total);
        let Some(text) = v else { continue };
        for w in words_of(text) {
            let e = per_word.entry(w).or_insert_with(|| (0, vec![0.0; outputs]));
            e.0 += 1;
            target(i, &mut e.1);
        }
    }
    let nf = n as f64;
    let mut scored: Vec<(f64, String)> = per_word
        .into_iter()
        .filter(|(_, (df, _))| *df >= MIN_WORD_ROWS && (*df as usize) < n)
        .map(|(w, (df, sums))| {
            let (nw, nr) = (df as f64, nf - df as f64);
            let gap: f64 = sums
                .iter()
                .zip(&total)
                .map(|(s, t)| (s / nw - (t - s) / nr).powi(2))
                .sum();
            (nw * nr / nf * gap, w)
        })
        .collect();
    scored.sort_by(|a, b| b.0.total_cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
    scored.into_iter().take(k).map(|(_, w)| w).collect()
}

/// One input column as the trees see it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum TreeColumn {
    /// A number; missing stays NaN.
    Number {
        /// Input column.
        column: String,
    },
    /// A category as its index in `categories`; unseen or missing is NaN.
    Ordinal {
        /// Input column.
        column: String,
        /// Known categories, most frequent first.
        categories: Vec<String>,
    },
    /// Hashed bag of words (log counts): the encoding of models saved before word
    /// indicators; still read and applied.
    Text {
        /// Input column.
        column: String,
        /// Buckets.
        buckets: usize,
    },
    /// One 0/1 indicator per word: whether the text holds it (lowercase, alphanumeric words).
    Words {
        /// Input column.
        column: String,
        /// The words, in output order.
        words: Vec<String>,
    },
}

/// The encoding of raw rows for the trees, derived from the fitted pipeline's column choices.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TreeEncoder {
    /// Columns in output order.
    pub columns: Vec<TreeColumn>,
}

impl TreeEncoder {
    /// Uses the same columns as `pipeline`, re-encoded for trees from the training rows `train`
    /// (targets `y`); each text column gives its `text_words` most telling words
    /// ([`telling_words`]), none when no word repeats enough.
    pub fn fit(
        pipeline: &Pipeline,
        train: &RecordBatch,
        y: &Targets,
        text_words: usize,
    ) -> TreeEncoder {
        let mut columns = Vec::new();
        for step in &pipeline.steps {
            match step {
                FeatureStep::Numeric { column, .. } => columns.push(TreeColumn::Number {
                    column: column.clone(),
                }),
                // Dates as their number (days since the epoch for typed dates).
                FeatureStep::DatetimeParts { column, .. } => columns.push(TreeColumn::Number {
                    column: column.clone(),
                }),
                FeatureStep::OneHot { column, .. } | FeatureStep::Frequency { column, .. } => {
                    let mut counts: HashMap<String, u64> = HashMap::new();
                    if let Some(c) = train.column_by_name(column) {
                        for v in column_str(c).into_iter().flatten() {
                            *counts.entry(v).or_default() += 1;
                        }
                    }
                    let mut cats: Vec<(String, u64)> = counts.into_iter().collect();
                    cats.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
                    cats.truncate(MAX_CATEGORIES);
                    columns.push(TreeColumn::Ordinal {
                        column: column.clone(),
                        categories: cats.into_iter().map(|c| c.0).collect(),
                    });
                }
                FeatureStep::TextHash { column, .. } | FeatureStep::TextTfidf { column, .. } => {
                    let values = train.column_by_name(column).map(column_str);
                    let words = telling_words(values.as_deref().unwrap_or(&[]), y, text_words);
                    if !words.is_empty() {
                        columns.push(TreeColumn::Words {
                            column: column.clone(),
                            words,
                        })
                    }
                }
            }
        }
        TreeEncoder { columns }
    }

    /// Fits the encoder with the text width [`text_words_per_column`] gives `seconds` of
    /// boosting over `effective_rows` rows (the rows times the fits per trial).
    pub fn fit_for_budget(
        pipeline: &Pipeline,
        train: &RecordBatch,
        y: &Targets,
        effective_rows: usize,
        seconds: f64,
    ) -> TreeEncoder {
        let is_text = |s: &FeatureStep| {
            matches!(
                s,
                FeatureStep::TextHash { .. } | FeatureStep::TextTfidf { .. }
            )
        };
        let text = pipeline.steps.iter().filter(|s| is_text(s)).count();
        let other = pipeline.steps.len() - text;
        let k = text_words_per_column(effective_rows, other, text, seconds);
        TreeEncoder::fit(pipeline, train, y, k)
    }

    /// Output width.
    pub fn width(&self) -> usize {
        self.columns
            .iter()
            .map(|c| match c {
                TreeColumn::Text { buckets, .. } => *buckets,
                TreeColumn::Words { words, .. } => words.len(),
                _ => 1,
            })
            .sum()
    }

    /// Indices of the categorical outputs.
    pub fn categorical(&self) -> HashSet<usize> {
        let mut off = 0;
        let mut out = HashSet::new();
        for c in &self.columns {
            match c {
                TreeColumn::Ordinal { .. } => {
                    out.insert(off);
                    off += 1;
                }
                TreeColumn::Number { .. } => off += 1,
                TreeColumn::Text { buckets, .. } => off += buckets,
                TreeColumn::Words { words, .. } => off += words.len(),
            }
        }
        out
    }

    /// Column-major values (`cols` blocks of `rows`), and what the rows lacked.
    pub fn encode(&self, batch: &RecordBatch) -> (Vec<f64>, TransformReport) {
        let n = batch.num_rows();
        let mut out = vec![f64::NAN; n * self.width()];
        let mut report = TransformReport::default();
        let mut off = 0;
        for c in &self.columns {
            let name = match c {
                TreeColumn::Number { column }
                | TreeColumn::Ordinal { column, .. }
                | TreeColumn::Text { column, .. }
                | TreeColumn::Words { column, .. } => column,
            };
            let col = batch.column_by_name(name);
            if col.is_none() {
                report.missing_columns.push(name.clone());
            }
            match c {
                TreeColumn::Number { .. } => {
                    if let Some(col) = col {
                        let raw = column_str(col);
                        for (i, v) in column_f64(col).into_iter().enumerate() {
                            match v {
                                Some(x) => out[off * n + i] = x,
                                None if raw[i].is_some() => report.coerced_values += 1,
                                None => {}
                            }
                        }
                    }
                    off += 1;
                }
                TreeColumn::Ordinal { categories, .. } => {
                    let index: HashMap<&str, usize> = categories
                        .iter()
                        .enumerate()
                        .map(|(i, c)| (c.as_str(), i))
                        .collect();
                    if let Some(col) = col {
                        for (i, v) in column_str(col).into_iter().enumerate() {
                            if let Some(v) = v {
                                match index.get(v.as_str()) {
                                    Some(k) => out[off * n + i] = *k as f64,
                                    None => report.unseen_categories += 1,
                                }
                            }
                        }
                    }
                    off += 1;
                }
                TreeColumn::Text { buckets, .. } => {
                    for b in 0..*buckets {
                        for i in 0..n {
                            out[(off + b) * n + i] = 0.0;
                        }
                    }
                    if let Some(col) = col {
                        for (i, v) in column_str(col).into_iter().enumerate() {
                            let Some(text) = v else { continue };
                            for tok in text
                                .to_lowercase()
                                .split(|ch: char| !ch.is_alphanumeric())
                                .filter(|t| !t.is_empty())
                            {
                                let b = fnv(tok) % *buckets as u64;
                                out[(off + b as usize) * n + i] += 1.0;
                            }
                        }
                        for b in 0..*buckets {
                            for i in 0..n {
                                let v = &mut out[(off + b) * n + i];
                                *v = v.ln_1p();
                            }
                        }
                    }
                    off += buckets;
                }
                TreeColumn::Words { words, .. } => {
                    out[off * n..(off + words.len()) * n].fill(0.0);
                    let index: HashMap<&str, usize> = words
                        .iter()
                        .enumerate()
                        .map(|(j, w)| (w.as_str(), j))
                        .collect();
                    if let Some(col) = col {
                        for (i, v) in column_str(col).into_iter().enumerate() {
                            let Some(text) = v else { continue };
                            for w in words_of(&text) {
                                if let Some(j) = index.get(w.as_str()) {
                                    out[(off + j) * n + i] = 1.0;
                                }
                            }
                        }
                    }
                    off += words.len();
                }
            }
        }
        (out, report)
    }

    /// The input column of each output feature.
    fn owner(&self) -> Vec<String> {
        let mut v = Vec::new();
        for c in &self.columns {
            match c {
                TreeColumn::Number { column } | TreeColumn::Ordinal { column, .. } => {
                    v.push(column.clone())
                }
                TreeColumn::Text { column, buckets } => {
                    v.extend(std::iter::repeat_n(column.clone(), *buckets))
                }
                TreeColumn::Words { column, words } => {
                    v.extend(std::iter::repeat_n(column.clone(), words.len()))
                }
            }
        }
        v
    }
}

/// True, after a warning event, when `encoder` has no column for the trees (only text columns
/// whose words never repeat): the tree trainers then have nothing to fit and leave the search
/// to the others.
pub fn no_tree_columns(encoder: &TreeEncoder, cx: &TrainContext) -> bool {
    if encoder.width() > 0 {
        return false;
    }
    cx.emit(Event::warning(
        "no_tree_features",
        format!(
            "the tree models were skipped: no column is usable by trees (no word of the text \
             columns appears in {MIN_WORD_ROWS} or more training rows)"
        ),
    ));
    true
}

fn fnv(s: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in s.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// A fitted GBDT with its encoding; saved as one JSON file.
#[derive(Clone, Serialize, Deserialize)]
pub struct GbdtModel {
    /// Always [`FORMAT`].
    pub format: String,
    /// The pipeline the encoding was derived from (task, classes, target).
    pub pipeline: Pipeline,
    /// How rows become tree inputs.
    pub encoder: TreeEncoder,
    /// The boosted trees.
    pub booster: boost::Model,
    /// Hyper-parameters.
    pub params: serde_json::Value,
    /// Regression: the transform the trees were fitted on; predictions are mapped back
    /// (absent = none; present only in [`FORMAT_TRANSFORMED`] files).
    #[serde(default, skip_serializing_if = "TargetTransform::is_none")]
    pub target_transform: TargetTransform,
}

impl GbdtModel {
    /// A model of `booster` fitted on `target_transform` of the target, with its format.
    fn new(
        pipeline: &Pipeline,
        encoder: &TreeEncoder,
        booster: boost::Model,
        params: &Params,
    ) -> GbdtModel {
        GbdtModel {
            format: if params.target.is_none() {
                FORMAT
            } else {
                FORMAT_TRANSFORMED
            }
            .to_string(),
            pipeline: pipeline.clone(),
            encoder: encoder.clone(),
            booster,
            params: serde_json::to_value(params).unwrap_or_default(),
            target_transform: params.target,
        }
    }

    fn predict_encoded(&self, data: &[f64], rows: usize) -> Predictions {
        let mut p = self.booster.predict(data, rows);
        match self.booster.objective {
            Objective::Squared => {
                self.target_transform.inverse_in_place(&mut p);
                Predictions::Values(p)
            }
            Objective::Binary => {
                let mut proba = Array2::<f64>::zeros((rows, 2));
                for (i, v) in p.into_iter().enumerate() {
                    proba[[i, 0]] = 1.0 - v;
                    proba[[i, 1]] = v;
                }
                Predictions::Classes {
                    classes: self.pipeline.classes.clone(),
                    proba,
                }
            }
            Objective::Multiclass(k) => Predictions::Classes {
                classes: self.pipeline.classes.clone(),
                proba: Array2::from_shape_vec((rows, k), p)
                    .unwrap_or_else(|_| Array2::zeros((rows, k))),
            },
        }
    }

    /// Parses a saved model and checks it (format, pipeline, the encoder's width, the
    /// objective against the classes, every tree): a hostile or corrupt file is an error,
    /// never a panic or a hang at predict time.
    pub fn from_json(v: serde_json::Value) -> std::result::Result<Self, String> {
        let m: GbdtModel = serde_json::from_value(v).map_err(|e| e.to_string())?;
        match (m.format.as_str(), m.target_transform) {
            (FORMAT, TargetTransform::None) => {}
            (FORMAT_TRANSFORMED, t) if !t.is_none() => {
                if m.pipeline.task != TaskKind::Regression {
                    return Err(format!(
                        "a target transform ({t:?}) on a {} model",
                        m.pipeline.task.as_str()
                    ));
                }
            }
            (FORMAT, t) => {
                return Err(format!(
                    "format {FORMAT:?} with a target transform ({t:?}); expected \
                     {FORMAT_TRANSFORMED:?}"
                ));
            }
            (FORMAT_TRANSFORMED, _) => {
                return Err(format!(
                    "format {FORMAT_TRANSFORMED:?} without a target_transform"
                ));
            }
            (f, _) => {
                return Err(format!(
                    "format {f:?}, expected {FORMAT:?} or {FORMAT_TRANSFORMED:?}"
                ));
            }
        }
        m.pipeline.validate()?;
        let mut width = 0usize;
        for c in &m.encoder.columns {
            match c {
                TreeColumn::Text { buckets, .. }
                    if *buckets == 0 || *buckets > MAX_TEXT_BUCKETS =>
                {
                    return Err(format!(
                        "a text column has {buckets} buckets (1 to {MAX_TEXT_BUCKETS} allowed)"
                    ));
                }
                TreeColumn::Words { words, .. } if words.len() > MAX_SAVED_WORDS => {
                    return Err(format!(
                        "a text column has {} words (at most {MAX_SAVED_WORDS} allowed)",
                        words.len()
                    ));
                }
                _ => {}
            }
            width += match c {
                TreeColumn::Text { buckets, .. } => *buckets,
                TreeColumn::Words { words, .. } => words.len(),
                _ => 1,
            };
        }
        if width == 0 {
            return Err("the encoder has no columns".to_string());
        }
        match (m.booster.objective, m.pipeline.task) {
            (Objective::Squared, TaskKind::Regression) => {}
            (Objective::Binary, TaskKind::Classification) if m.pipeline.classes.len() == 2 => {}
            (Objective::Multiclass(k), TaskKind::Classification)
                if k >= 2 && k == m.pipeline.classes.len() => {}
            (o, t) => {
                return Err(format!(
                    "objective {o:?} does not fit a {} task with {} classes",
                    t.as_str(),
                    m.pipeline.classes.len()
                ));
            }
        }
        m.booster.validate(width)?;
        Ok(m)
    }
}

impl TrainedModel for GbdtModel {
    fn model_name(&self) -> &str {
        "gbdt"
    }

    fn task(&self) -> TaskKind {
        self.pipeline.task
    }

    fn classes(&self) -> &[String] {
        &self.pipeline.classes
    }

    fn predict_batch(&self, batch: &RecordBatch) -> Result<(Predictions, TransformReport)> {
        let (data, report) = self.encoder.encode(batch);
        Ok((self.predict_encoded(&data, batch.num_rows()), report))
    }

    fn feature_importance(&self) -> Vec<FeatureImportance> {
        let owner = self.encoder.owner();
        let mut by_col: HashMap<String, f64> = HashMap::new();
        for (i, v) in self.booster.gain.iter().enumerate() {
            if let Some(c) = owner.get(i) {
                *by_col.entry(c.clone()).or_default() += *v;
            }
        }
        crate::train::ranked_importance(by_col)
    }

    fn save(&self, dir: &Path) -> Result<Vec<PathBuf>> {
        let path = dir.join("model.json");
        let text = serde_json::to_string(self)
            .map_err(|e| AutomlError::Internal(format!("model serialisation: {e}")))?;
        std::fs::write(&path, text).map_err(|e| AutomlError::io(&path, e))?;
        Ok(vec![path])
    }
}

/// Gradient-boosted trees.
#[derive(Debug, Default, Clone)]
pub struct GbdtTrainer;

#[async_trait]
impl Trainer for GbdtTrainer {
    fn name(&self) -> &str {
        "gbdt"
    }

    fn supports(&self, task: &TaskSpec) -> bool {
        task.modality == "tabular" || task.modality == "text"
    }

    fn candidates(&self, task: &TaskSpec) -> Vec<ModelCandidate> {
        // Rough model: ~100 rounds per configuration, each one pass over rows × features per
        // output at ~5e7 cells/s, plus a fixed cost per fit.
        let outputs = if task.task == TaskKind::Classification && task.n_classes > 2 {
            task.n_classes as f64
        } else {
            1.0
        };
        let per_fit =
            0.02 + 100.0 * outputs * task.n_rows as f64 * task.n_features.max(1) as f64 / 5e7;
        vec![ModelCandidate {
            model: "gbdt".to_string(),
            family: "gradient_boosted_trees".to_string(),
            trainer: self.name().to_string(),
            pros: vec![
                "usually the most accurate family on tables".to_string(),
                "handles missing values and categories natively; no scaling needed".to_string(),
                "captures interactions and non-linear effects".to_string(),
            ],
            cons: vec![
                "slower to train than linear models".to_string(),
                "less smooth extrapolation outside the training range".to_string(),
            ],
            estimated_cost_s: per_fit * start_configs(task.n_rows as usize, 0, &[]).len() as f64,
        }]
    }

    async fn train(&self, input: TrainInput, cx: TrainContext) -> Result<()> {
        let TrainInput::Tabular(data) = input else {
            return Err(AutomlError::Training {
                model: "gbdt".to_string(),
                message: "the GBDT trainer takes tabular data".to_string(),
            });
        };
        tokio::task::spawn_blocking(move || search(&data, &cx))
            .await
            .map_err(|e| AutomlError::Training {
                model: "gbdt".to_string(),
                message: format!("training task failed: {e}"),
            })?
    }
}

fn objective_for(data: &TabularData) -> Objective {
    match data.pipeline.task {
        TaskKind::Regression => Objective::Squared,
        TaskKind::Classification if data.pipeline.classes.len() <= 2 => Objective::Binary,
        TaskKind::Classification => Objective::Multiclass(data.pipeline.classes.len()),
    }
}

/// The trial's metrics from predictions of `objective` on `n` rows.
fn score(
    objective: Objective,
    classes: &[String],
    p: Vec<f64>,
    n: usize,
    y: &[f64],
) -> (crate::event::Metrics, Predictions) {
    match objective {
        Objective::Squared => (metrics::regression(y, &p), Predictions::Values(p)),
        Objective::Binary | Objective::Multiclass(_) => {
            let labels: Vec<usize> = y.iter().map(|v| *v as usize).collect();
            let proba = match objective {
                Objective::Binary => {
                    let mut proba = Array2::<f64>::zeros((n, 2));
                    for (i, v) in p.iter().enumerate() {
                        proba[[i, 0]] = 1.0 - v;
                        proba[[i, 1]] = *v;
                    }
                    proba
                }
                Objective::Multiclass(k) => {
                    Array2::from_shape_vec((n, k), p).unwrap_or_else(|_| Array2::zeros((n, k)))
                }
                Objective::Squared => Array2::zeros((n, 1)),
            };
            (
                metrics::classification(&labels, &proba),
                Predictions::Classes {
                    classes: classes.to_vec(),
                    proba,
                },
            )
        }
    }
}

fn params_object(params: &Params) -> serde_json::Map<String, serde_json::Value> {
    match serde_json::to_value(params) {
        Ok(serde_json::Value::Object(m)) => m,
        _ => Default::default(),
    }
}

/// Small data: each configuration is scored by k-fold cross-validation on train + valid (each
/// fold stops early on its held-out part); the trial's model is then fitted on all of
/// train + valid for the folds' mean number of rounds. Its out-of-fold predictions are kept
/// for ensemble selection.
fn search_cv(data: &TabularData, cx: &TrainContext) -> Result<()> {
    let (rows, _, targets) = data.train_and_valid()?;
    let n = rows.num_rows();
    // Each trial fits every fold and then all rows.
    let encoder = TreeEncoder::fit_for_budget(
        &data.pipeline,
        &rows,
        &targets,
        n * crate::data::preprocess::CV_FOLDS,
        cx.time_left().as_secs_f64(),
    );
    if no_tree_columns(&encoder, cx) {
        return Ok(());
    }
    let (x, _) = encoder.encode(&rows);
    let cats = encoder.categorical();
    let mappers: Vec<BinMapper> = (0..encoder.width())
        .map(|f| BinMapper::fit(&x[f * n..(f + 1) * n], cats.contains(&f)))
        .collect();
    let objective = objective_for(data);
    let (y, labels): (Vec<f64>, Option<Vec<usize>>) = match &targets {
        Targets::Classes(c) => (c.iter().map(|v| *v as f64).collect(), Some(c.clone())),
        Targets::Values(v) => (v.clone(), None),
    };
    // Grouped: exact duplicate rows stay in one fold.
    let folds = data.cv_folds(
        labels.as_deref(),
        crate::data::preprocess::CV_FOLDS,
        cx.seed,
    );
    let k_out = match objective {
        Objective::Multiclass(k) => k,
        _ => 1,
    };
    let subset = |idx: &[usize]| -> (Vec<f64>, Vec<f64>) {
        let d = encoder.width();
        let mut xs = vec![0.0; idx.len() * d];
        for f in 0..d {
            for (j, i) in idx.iter().enumerate() {
                xs[f * idx.len() + j] = x[f * n + i];
            }
        }
        (xs, idx.iter().map(|i| y[*i]).collect())
    };
    // The folds' binned data, built once for the whole search.
    let fold_data: Vec<_> = folds
        .iter()
        .map(|held| {
            let held_set: HashSet<usize> = held.iter().copied().collect();
            let fit_idx: Vec<usize> = (0..n).filter(|i| !held_set.contains(i)).collect();
            let (xf, yf) = subset(&fit_idx);
            let (xh, yh) = subset(held);
            let bf = boost::bin_data(&xf, fit_idx.len(), &mappers);
            let bh = boost::bin_data(&xh, held.len(), &mappers);
            (bf, yf, xh, bh, yh)
        })
        .collect();
    let all_binned = boost::bin_data(&x, n, &mappers);
    let base = base_params(n, cx.seed);
    let trial = |params: &Params| -> Result<search::Outcome> {
        let run_id = cx.next_run_id();
        let mut params_map = params_object(params);
        params_map.insert("cv_folds".into(), (folds.len() as u64).into());
        cx.emit(Event::TrainRunStarted(TrainRunStartedPayload {
            run_id: run_id.clone(),
            model: "gbdt".to_string(),
            params: params_map.clone(),
        }));
        let started = Instant::now();
        let mut oof = vec![0.0; n * k_out];
        let mut rounds_used = Vec::new();
        let mut interrupted = false;
        for (fi, (held, (bf, yf, xh, bh, yh))) in folds.iter().zip(&fold_data).enumerate() {
            // The trees fit (and stop early on) the transformed target; scores are on the
            // target's own scale.
            let (yf_t, yh_t) = (params.target.forward(yf), params.target.forward(yh));
            let (model, stop) = boost::train(
                objective,
                params,
                mappers.clone(),
                bf,
                &yf_t,
                bh,
                &yh_t,
                |_| !cx.should_stop(),
            );
            if stop == Stop::Interrupted {
                interrupted = true;
                // The deadline came before any trial of the run finished: rather than end with
                // nothing, keep this fold's model (fit on the other folds, cut at its best
                // round so far), scored on its held-out fold, and say so.
                if cx.best().is_none() && !cx.cancel.is_cancelled() && !model.rounds.is_empty() {
                    let mut p = model.predict(xh, held.len());
                    params.target.inverse_in_place(&mut p);
                    let (m_fold, _) = score(objective, &data.pipeline.classes, p, held.len(), yh);
                    cx.emit(Event::warning(
                        "cv_cut_short",
                        format!(
                            "the budget ran out during the first cross-validated trial; kept \
                             its fold-{} model (fit on {} rows), scored on that fold's {} rows",
                            fi + 1,
                            yf.len(),
                            held.len()
                        ),
                    ));
                    cx.emit(Event::TrainRunFinished(TrainRunFinishedPayload {
                        run_id: run_id.clone(),
                        model: "gbdt".to_string(),
                        metrics: m_fold.clone(),
                        duration_s: started.elapsed().as_secs_f64(),
                        status: "cut_by_budget".to_string(),
                    }));
                    cx.report_trial(TrialRecord {
                        run_id,
                        model_name: "gbdt".to_string(),
                        params: params_map,
                        metrics: m_fold,
                        model: Arc::new(GbdtModel::new(&data.pipeline, &encoder, model, params)),
                        refit: None,
                        duration_s: started.elapsed().as_secs_f64(),
                        predictions: None,
                    });
                    return Ok(search::Outcome::Stopped);
                }
                break;
            }
            rounds_used.push(model.rounds.len());
            let mut p = model.predict(xh, held.len());
            params.target.inverse_in_place(&mut p);
            for (j, i) in held.iter().enumerate() {
                for o in 0..k_out {
                    oof[i * k_out + o] = p[j * k_out + o];
                }
            }
            let fold_loss = boost::loss(objective, &model.raw_scores(xh, held.len()), &yh_t);
            cx.emit(Event::MetricScalar(MetricScalarPayload {
                run_id: run_id.clone(),
                name: "loss".to_string(),
                split: "valid".to_string(),
                step: fi as u64 + 1,
                value: fold_loss,
            }));
            cx.emit(Event::TrainProgress(TrainProgressPayload {
                run_id: run_id.clone(),
                step: fi as u64 + 1,
                steps: folds.len() as u64,
                eta_s: None,
            }));
        }
        if interrupted || rounds_used.is_empty() {
            cx.emit(Event::TrainRunFinished(TrainRunFinishedPayload {
                run_id,
                model: "gbdt".to_string(),
                metrics: Default::default(),
                duration_s: started.elapsed().as_secs_f64(),
                status: if cx.cancel.is_cancelled() {
                    "cancelled"
                } else {
                    "cut_by_budget"
                }
                .to_string(),
            }));
            return Ok(search::Outcome::Stopped);
        }
        let (m_cv, oof_pred) = score(objective, &data.pipeline.classes, oof, n, &y);
        // The trial's model: all of train + valid, for the folds' mean rounds.
        let mean_rounds = rounds_used.iter().sum::<usize>() as f64 / rounds_used.len() as f64;
        let final_params = Params {
            max_rounds: ((mean_rounds * 1.1).round() as usize).max(1),
            early_stopping_rounds: usize::MAX,
            ..params.clone()
        };
        let empty = boost::Binned {
            rows: 0,
            codes: vec![Vec::new(); mappers.len()],
        };
        let (model, stop) = boost::train(
            objective,
            &final_params,
            mappers.clone(),
            &all_binned,
            &params.target.forward(&y),
            &empty,
            &[],
            |_| !cx.should_stop(),
        );
        let status = match stop {
            Stop::Interrupted if cx.cancel.is_cancelled() => "cancelled",
            Stop::Interrupted => "cut_by_budget",
            _ => "completed",
        };
        if let Some(v) = m_cv.get(cx.metric()) {
            cx.emit(Event::MetricScalar(MetricScalarPayload {
                run_id: run_id.clone(),
                name: cx.metric().to_string(),
                split: "valid".to_string(),
                step: folds.len() as u64,
                value: *v,
            }));
        }
        cx.emit(Event::TrainRunFinished(TrainRunFinishedPayload {
            run_id: run_id.clone(),
            model: "gbdt".to_string(),
            metrics: m_cv.clone(),
            duration_s: started.elapsed().as_secs_f64(),
            status: status.to_string(),
        }));
        if model.rounds.is_empty() {
            return Ok(search::Outcome::Stopped);
        }
        params_map.insert("rounds".into(), (model.rounds.len() as u64).into());
        let key = crate::train::rank_key(&m_cv, cx.metric());
        cx.report_trial(TrialRecord {
            run_id,
            model_name: "gbdt".to_string(),
            params: params_map,
            metrics: m_cv,
            model: Arc::new(GbdtModel::new(
                &data.pipeline,
                &encoder,
                model,
                &final_params,
            )),
            refit: None,
            duration_s: started.elapsed().as_secs_f64(),
            predictions: Some(TrialPredictions {
                rows: PredictionRows::OutOfFold,
                predictions: oof_pred,
            }),
        });
        Ok(if status == "completed" {
            search::Outcome::Scored(key)
        } else {
            search::Outcome::Stopped
        })
    };
    let transforms = match &targets {
        Targets::Values(v) => TargetTransform::candidates(v),
        Targets::Classes(_) => Vec::new(),
    };
    search::run_floored(
        cx,
        n,
        &base,
        start_configs(n, cx.seed, &transforms),
        min_child_floor(&targets),
        trial,
    )?;
    Ok(())
}

/// Leaves of at least this many rows for a regression target whose few extreme values carry
/// most of its variance (the 0.5% of rows farthest from the median hold over half of the sum
/// of squares: medical expenditures, claim sizes): a small leaf holding one of them carries it
/// into the predictions of ordinary rows, and a validation split rewards that by chance
/// (docs/tabular.md, rd_medexp). 1 (no floor) otherwise.
pub fn heavy_tail_min_child(y: &[f64]) -> usize {
    if heavy_tail_share(y) > HEAVY_TAIL_SHARE {
        HEAVY_TAIL_MIN_CHILD
    } else {
        1
    }
}

/// The leaf-size floor of a search on `targets`: [`heavy_tail_min_child`] of a regression
/// target, none (1) for classes.
fn min_child_floor(targets: &Targets) -> usize {
    match targets {
        Targets::Values(v) => heavy_tail_min_child(v),
        Targets::Classes(_) => 1,
    }
}

/// Above this share of the sum of squares in the extreme 0.5% of rows, a target is heavy-tailed.
pub const HEAVY_TAIL_SHARE: f64 = 0.5;
/// The leaf-size floor for heavy-tailed targets.
pub const HEAVY_TAIL_MIN_CHILD: usize = 20;

/// The share of `y`'s sum of squares around its mean that the 0.5% of values farthest from the
/// median hold (at least one value).
pub fn heavy_tail_share(y: &[f64]) -> f64 {
    let y: Vec<f64> = y.iter().copied().filter(|v| v.is_finite()).collect();
    if y.len() < 2 {
        return 0.0;
    }
    let mean = y.iter().sum::<f64>() / y.len() as f64;
    let total: f64 = y.iter().map(|v| (v - mean).powi(2)).sum();
    if total <= 0.0 {
        return 0.0;
    }
    let mut sorted = y.clone();
    sorted.sort_by(f64::total_cmp);
    let median = sorted[sorted.len() / 2];
    let mut dev: Vec<f64> = y.iter().map(|v| (v - median).abs()).collect();
    dev.sort_by(|a, b| b.total_cmp(a));
    let k = (y.len() / 200).max(1);
    dev[..k].iter().map(|d| d * d).sum::<f64>() / total
}

/// Refits `params` for the validated number of rounds (scaled up a little for the extra rows)
/// on train + valid.
fn refit_fn(
    params: Params,
    objective: Objective,
    rounds: usize,
    encoder: TreeEncoder,
    cats: HashSet<usize>,
) -> crate::train::RefitFn {
    Arc::new(move |data: &TabularData| {
        let (rows, _, y) = data.train_and_valid()?;
        let n = rows.num_rows();
        let (x, _) = encoder.encode(&rows);
        let mappers: Vec<BinMapper> = (0..encoder.width())
            .map(|f| BinMapper::fit(&x[f * n..(f + 1) * n], cats.contains(&f)))
            .collect();
        let b = boost::bin_data(&x, n, &mappers);
        let y: Vec<f64> = match y {
            Targets::Classes(c) => c.iter().map(|v| *v as f64).collect(),
            Targets::Values(v) => v,
        };
        let grow = n as f64 / data.train_rows.num_rows().max(1) as f64;
        let p = Params {
            max_rounds: ((rounds as f64 * grow).round() as usize).max(1),
            early_stopping_rounds: usize::MAX,
            ..params.clone()
        };
        let empty = boost::Binned {
            rows: 0,
            codes: vec![Vec::new(); mappers.len()],
        };
        let y = p.target.forward(&y);
        let (model, _) = boost::train(objective, &p, mappers, &b, &y, &empty, &[], |_| true);
        Ok(Arc::new(GbdtModel::new(&data.pipeline, &encoder, model, &p)) as Arc<dyn TrainedModel>)
    })
}

/// The fixed parameters of every configuration on `n_rows` rows.
fn base_params(n_rows: usize, seed: u64) -> Params {
    let small = n_rows < 2000;
    Params {
        seed,
        min_child_samples: if small { 5 } else { 20 },
        early_stopping_rounds: if small { 20 } else { 30 },
        max_rounds: 2000,
        ..Params::default()
    }
}

/// Where the search starts, cheapest first: the local search then moves from the best. Each
/// target transform in `transforms` other than the identity adds the cheapest configuration
/// fitted on that transform, second in line, so validation chooses the scale the search goes on
/// with (decisions/0098).
fn start_configs(n_rows: usize, seed: u64, transforms: &[TargetTransform]) -> Vec<Params> {
    let base = base_params(n_rows, seed);
    let first = Params {
        num_leaves: 15,
        learning_rate: 0.1,
        ..base.clone()
    };
    let mut out = vec![first.clone()];
    for t in transforms.iter().filter(|t| !t.is_none()) {
        out.push(Params {
            target: *t,
            ..first.clone()
        });
    }
    out.extend([
        Params {
            num_leaves: 31,
            learning_rate: 0.05,
            feature_fraction: 0.8,
            bagging_fraction: 0.8,
            ..base.clone()
        },
        Params {
            num_leaves: 7,
            learning_rate: 0.05,
            lambda_l2: 5.0,
            ..base
        },
    ]);
    out
}

fn search(data: &TabularData, cx: &TrainContext) -> Result<()> {
    if data.use_cv() {
        return search_cv(data, cx);
    }
    let encoder = TreeEncoder::fit_for_budget(
        &data.pipeline,
        &data.train_rows,
        &data.y_train,
        data.train_rows.num_rows(),
        cx.time_left().as_secs_f64(),
    );
    if no_tree_columns(&encoder, cx) {
        return Ok(());
    }
    let (x_train, _) = encoder.encode(&data.train_rows);
    let (x_valid, _) = encoder.encode(&data.valid_rows);
    let n_train = data.train_rows.num_rows();
    let n_valid = data.valid_rows.num_rows();
    let cats = encoder.categorical();
    let mappers: Vec<BinMapper> = (0..encoder.width())
        .map(|f| BinMapper::fit(&x_train[f * n_train..(f + 1) * n_train], cats.contains(&f)))
        .collect();
    let b_train = boost::bin_data(&x_train, n_train, &mappers);
    let b_valid = boost::bin_data(&x_valid, n_valid, &mappers);
    let (objective, y, yv): (Objective, Vec<f64>, Vec<f64>) = match (&data.y_train, &data.y_valid) {
        (Targets::Values(y), Targets::Values(yv)) => (Objective::Squared, y.clone(), yv.clone()),
        (Targets::Classes(y), Targets::Classes(yv)) => {
            let k = data.pipeline.classes.len();
            let obj = if k <= 2 {
                Objective::Binary
            } else {
                Objective::Multiclass(k)
            };
            (
                obj,
                y.iter().map(|c| *c as f64).collect(),
                yv.iter().map(|c| *c as f64).collect(),
            )
        }
        _ => {
            return Err(AutomlError::Internal(
                "targets do not match the task".into(),
            ));
        }
    };
    let base = base_params(n_train, cx.seed);
    let trial = |params: &Params| -> Result<search::Outcome> {
        let run_id = cx.next_run_id();
        let params_map = params_object(params);
        cx.emit(Event::TrainRunStarted(TrainRunStartedPayload {
            run_id: run_id.clone(),
            model: "gbdt".to_string(),
            params: params_map.clone(),
        }));
        let started = Instant::now();
        let mut last_emit = Instant::now();
        let (y_t, yv_t) = (params.target.forward(&y), params.target.forward(&yv));
        let (model, stop) = boost::train(
            objective,
            params,
            mappers.clone(),
            &b_train,
            &y_t,
            &b_valid,
            &yv_t,
            |r| {
                // Curves at most every 100 ms (and the first rounds), so big runs stay light.
                if r.round <= 3 || last_emit.elapsed().as_millis() >= 100 {
                    last_emit = Instant::now();
                    for (split, v) in [("train", r.train_loss), ("valid", r.valid_loss)] {
                        cx.emit(Event::MetricScalar(MetricScalarPayload {
                            run_id: run_id.clone(),
                            name: "loss".to_string(),
                            split: split.to_string(),
                            step: r.round as u64,
                            value: v,
                        }));
                    }
                    cx.emit(Event::TrainProgress(TrainProgressPayload {
                        run_id: run_id.clone(),
                        step: r.round as u64,
                        steps: params.max_rounds as u64,
                        eta_s: None,
                    }));
                }
                !cx.should_stop()
            },
        );
        let rounds = model.rounds.len();
        let mut p = model.predict(&x_valid, n_valid);
        params.target.inverse_in_place(&mut p);
        let (m_valid, valid_pred) = score(objective, &data.pipeline.classes, p, n_valid, &yv);
        let gbdt = GbdtModel::new(&data.pipeline, &encoder, model, params);
        if let Some(v) = m_valid.get(cx.metric()) {
            cx.emit(Event::MetricScalar(MetricScalarPayload {
                run_id: run_id.clone(),
                name: cx.metric().to_string(),
                split: "valid".to_string(),
                step: rounds as u64,
                value: *v,
            }));
        }
        let status = match stop {
            Stop::Interrupted if cx.cancel.is_cancelled() => "cancelled",
            Stop::Interrupted => "cut_by_budget",
            _ => "completed",
        };
        cx.emit(Event::TrainRunFinished(TrainRunFinishedPayload {
            run_id: run_id.clone(),
            model: "gbdt".to_string(),
            metrics: m_valid.clone(),
            duration_s: started.elapsed().as_secs_f64(),
            status: status.to_string(),
        }));
        if rounds == 0 {
            return Ok(if status == "completed" {
                search::Outcome::Failed
            } else {
                search::Outcome::Stopped
            });
        }
        let duration_s = started.elapsed().as_secs_f64();
        let refit = refit_fn(
            params.clone(),
            objective,
            rounds,
            encoder.clone(),
            cats.clone(),
        );
        let key = crate::train::rank_key(&m_valid, cx.metric());
        // A model cut by the deadline still counts (its rounds so far are kept).
        cx.report_trial(TrialRecord {
            run_id,
            model_name: "gbdt".to_string(),
            params: params_map,
            metrics: m_valid,
            model: Arc::new(gbdt),
            refit: Some(refit),
            duration_s,
            predictions: Some(TrialPredictions {
                rows: PredictionRows::Valid,
                predictions: valid_pred,
            }),
        });
        Ok(if status == "completed" {
            search::Outcome::Scored(key)
        } else {
            search::Outcome::Stopped
        })
    };
    let transforms = match objective {
        Objective::Squared => TargetTransform::candidates(&y),
        _ => Vec::new(),
    };
    search::run_floored(
        cx,
        n_train,
        &base,
        start_configs(n_train, cx.seed, &transforms),
        min_child_floor(&data.y_train),
        trial,
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The width rule: the full width on small tables, the floor on large tables with a short
    /// budget, more words with more time or fewer rows, and the other columns come first.
    #[test]
    fn text_width_scales_with_rows_and_budget() {
        assert_eq!(text_words_per_column(1000, 5, 0, 10.0), 0);
        // 150 rows, 10 s: 5e7 · 10 / (10000 · 150) = 333 columns afford the cap.
        assert_eq!(text_words_per_column(150, 8, 1, 10.0), MAX_TEXT_WORDS);
        // 47,000 rows and 23 other columns on 10 s: only the floor.
        assert_eq!(text_words_per_column(47_000, 23, 1, 10.0), MIN_TEXT_WORDS);
        // In between, the spare columns, split over the text columns: 1000 rows on 10 s
        // afford 50 columns, 40 beside 10 others.
        let one = text_words_per_column(1000, 10, 1, 10.0);
        assert_eq!(one, 40);
        assert_eq!(text_words_per_column(1000, 10, 2, 10.0), 20);
        assert!(text_words_per_column(1000, 10, 1, 30.0) > one);
        assert!(text_words_per_column(2000, 10, 1, 10.0) < one);
        assert!(text_words_per_column(1000, 30, 1, 10.0) < one);
        // No time left, or no rows: the floor, never a panic.
        assert_eq!(text_words_per_column(0, 0, 1, 0.0), MIN_TEXT_WORDS);
        assert_eq!(text_words_per_column(100, 3, 1, f64::NAN), MIN_TEXT_WORDS);
    }

    fn names(n: usize) -> Vec<Option<String>> {
        (0..n)
            .map(|i| match i % 10 {
                9 => None,
                _ => Some(format!("The make{} model{i}, series-{}", i % 3, i % 5)),
            })
            .collect()
    }

    /// The words kept are those that split the target: the make for a class that is the make,
    /// not a word every row holds, nor one seen in fewer than MIN_WORD_ROWS rows.
    #[test]
    fn telling_words_rank_by_the_split_they_give() {
        let values = names(300);
        let classes = Targets::Classes((0..300).map(|i| i % 3).collect());
        let top = telling_words(&values, &classes, 3);
        let mut sorted = top.clone();
        sorted.sort();
        assert_eq!(sorted, ["make0", "make1", "make2"], "{top:?}");
        let all = telling_words(&values, &classes, 1000);
        assert!(all.iter().all(|w| !w.starts_with("model")), "{all:?}");
        // "the" is in 90% of rows (missing text counts as without it), so it stays; it tells
        // nothing and ranks below every make.
        let the = all.iter().position(|w| w == "the").expect("the is kept");
        assert!(the >= 3, "{all:?}");
        // Regression: the value is the series number.
        let values_y = Targets::Values((0..300).map(|i| (i % 5) as f64 * 10.0).collect());
        let top = telling_words(&values, &values_y, 2);
        assert!(
            top.iter().all(|w| ["0", "4"].contains(&w.as_str())),
            "{top:?}"
        );
        // Mismatched lengths or k = 0: nothing.
        assert!(telling_words(&values, &Targets::Values(vec![1.0]), 5).is_empty());
        assert!(telling_words(&values, &classes, 0).is_empty());
    }

    /// The encoder turns each kept word into a 0/1 column, the same at predict time, and a
    /// saved model with too many words is refused.
    #[test]
    fn word_columns_encode_presence() {
        let values = names(60);
        let arr: arrow::array::ArrayRef = Arc::new(arrow::array::StringArray::from(values));
        let batch = RecordBatch::try_from_iter([("name", arr)]).expect("batch");
        let enc = TreeEncoder {
            columns: vec![TreeColumn::Words {
                column: "name".to_string(),
                words: vec!["make1".to_string(), "series".to_string()],
            }],
        };
        assert_eq!(enc.width(), 2);
        let (x, report) = enc.encode(&batch);
        assert!(report.missing_columns.is_empty());
        let n = 60;
        for i in 0..n {
            let present = i % 10 != 9;
            assert_eq!(x[i], f64::from(u8::from(present && i % 3 == 1)), "row {i}");
            assert_eq!(x[n + i], f64::from(u8::from(present)), "row {i}");
        }
        assert_eq!(enc.owner(), ["name", "name"]);
    }

    /// A target whose few extreme values hold most of its variance gets the leaf floor; a
    /// normal-looking or merely skewed one (prices) does not.
    #[test]
    fn heavy_tailed_targets_get_a_leaf_size_floor() {
        // 1,000 ordinary values and 3 extreme ones.
        let mut heavy: Vec<f64> = (0..1000).map(|i| (i % 97) as f64).collect();
        heavy.extend([40_000.0, 25_000.0, 30_000.0]);
        assert!(
            heavy_tail_share(&heavy) > 0.9,
            "{}",
            heavy_tail_share(&heavy)
        );
        assert_eq!(heavy_tail_min_child(&heavy), HEAVY_TAIL_MIN_CHILD);
        // Log-normal-like prices: skewed, but no few rows dominate.
        let prices: Vec<f64> = (0..1000)
            .map(|i| (1.0 + (i as f64) / 250.0).exp() * 100.0)
            .collect();
        assert!(
            heavy_tail_share(&prices) < HEAVY_TAIL_SHARE,
            "{}",
            heavy_tail_share(&prices)
        );
        assert_eq!(heavy_tail_min_child(&prices), 1);
        let flat = vec![3.0; 50];
        assert_eq!(heavy_tail_share(&flat), 0.0);
        assert_eq!(heavy_tail_min_child(&[]), 1);
    }
}
