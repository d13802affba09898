//! Decision-rule tuning for imbalanced classification: per-class weights on the predicted
//! probabilities, chosen on out-of-sample predictions for a metric that depends on the decision
//! (macro-F1, balanced accuracy), and the [`DecisionModel`] that applies them.
//!
//! The decision is `argmax_k w_k · p_k`; for two classes that is a threshold on the positive
//! class's probability, `p_1 > w_0 / (w_0 + w_1)`. The model returns the reweighted and
//! renormalised probabilities, so every consumer that takes the most probable class (the
//! metrics, `automl predict`, Python, Node) applies the same decision, and the binary ROC AUC is
//! unchanged (the reweighting is monotone in `p_1`).
//!
//! The weights are kept only when they pay out of sample: the rows are split in two stratified
//! halves, weights tuned on each half are scored on the other, and the cross-fitted score must
//! beat the untuned one (see docs/decisions/0083-imbalance-decision-weights.md).
//!
//! This module works on the [`TrainedModel`] trait only; the saved base model loads through the
//! same [`ModelFormats`] registry as any model.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use arrow::record_batch::RecordBatch;
use ndarray::Array2;
use rand::SeedableRng;
use rand::seq::SliceRandom;
use serde::{Deserialize, Serialize};

use crate::error::{AutomlError, Result};
use crate::event::{FeatureImportance, Metrics, TaskKind, TransformReport};
use crate::metrics;
use crate::train::{ModelFormats, Predictions, TrainedModel, compare_keys, rank_key};

/// The `format` field of a saved decision model.
pub const FORMAT: &str = "automl-decision/1";
/// The metrics whose value depends on the decision rule and that weighting can lift.
pub const DECISION_METRICS: &[&str] = &["macro_f1", "balanced_accuracy"];
/// The folder (inside the run folder) holding the base model.
const BASE_DIR: &str = "base";
/// Weights tried per class: 2^(-6) .. 2^6 in quarter steps of log2.
const GRID_STEPS: i32 = 24;
/// Most rows tuned on (a seeded subsample beyond).
const MAX_TUNE_ROWS: usize = 20_000;
/// Coordinate-ascent passes over the classes.
const PASSES: usize = 2;

/// A classifier whose decision is `argmax_k w_k · p_k`.
pub struct DecisionModel {
    base: Arc<dyn TrainedModel>,
    weights: Vec<f64>,
}

/// The saved manifest; unknown fields are refused.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Manifest {
    format: String,
    classes: Vec<String>,
    /// One weight per class, in class order.
    class_weights: Vec<f64>,
    /// For two classes, the threshold on the second class's probability (for people; the
    /// weights are what is applied).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    threshold: Option<f64>,
    /// Sub-folder holding the base model's `model.json`.
    base: String,
}

impl DecisionModel {
    /// `base` deciding with `weights` (one per class, positive and finite). Errors otherwise,
    /// or when `base` is not a classifier.
    pub fn new(base: Arc<dyn TrainedModel>, weights: Vec<f64>) -> Result<Self> {
        let bad = |message: String| AutomlError::Training {
            model: "decision".into(),
            message,
        };
        if base.task() != TaskKind::Classification || base.is_image_model() {
            return Err(bad("decision weights apply to tabular classifiers".into()));
        }
        if weights.len() != base.classes().len() {
            return Err(bad(format!(
                "{} class weights for {} classes",
                weights.len(),
                base.classes().len()
            )));
        }
        if let Some(w) = weights.iter().find(|w| !(w.is_finite() && **w > 0.0)) {
            return Err(bad(format!("class weight {w} is not a positive number")));
        }
        Ok(DecisionModel { base, weights })
    }

    /// The class weights, in class order.
    pub fn weights(&self) -> &[f64] {
        &self.weights
    }

    /// The base model.
    pub fn base(&self) -> &Arc<dyn TrainedModel> {
        &self.base
    }
}

/// For two classes, the probability of the second class above which it is predicted.
pub fn binary_threshold(weights: &[f64]) -> Option<f64> {
    match weights {
        [w0, w1] => Some(w0 / (w0 + w1)),
        _ => None,
    }
}

/// `proba` reweighted by `weights` per class and renormalised per row (rows whose weighted sum
/// is zero are left as they were).
pub fn apply(proba: &Array2<f64>, weights: &[f64]) -> Array2<f64> {
    let mut out = proba.clone();
    for mut row in out.rows_mut() {
        let s: f64 = row.iter().zip(weights).map(|(p, w)| p * w).sum();
        if s > 0.0 && s.is_finite() {
            for (p, w) in row.iter_mut().zip(weights) {
                *p = *p * w / s;
            }
        }
    }
    out
}

impl TrainedModel for DecisionModel {
    fn model_name(&self) -> &str {
        self.base.model_name()
    }

    fn task(&self) -> TaskKind {
        TaskKind::Classification
    }

    fn classes(&self) -> &[String] {
        self.base.classes()
    }

    fn predict_batch(&self, batch: &RecordBatch) -> Result<(Predictions, TransformReport)> {
        let (p, report) = self.base.predict_batch(batch)?;
        match p {
            Predictions::Classes { classes, proba } if proba.ncols() == self.weights.len() => Ok((
                Predictions::Classes {
                    classes,
                    proba: apply(&proba, &self.weights),
                },
                report,
            )),
            _ => Err(AutomlError::Internal(format!(
                "the base model {} did not predict {} class probabilities",
                self.base.model_name(),
                self.weights.len()
            ))),
        }
    }

    fn feature_importance(&self) -> Vec<FeatureImportance> {
        self.base.feature_importance()
    }

    fn provenance(&self) -> Option<String> {
        self.base.provenance()
    }

    fn save(&self, dir: &Path) -> Result<Vec<PathBuf>> {
        let sub = dir.join(BASE_DIR);
        std::fs::create_dir_all(&sub).map_err(|e| AutomlError::io(&sub, e))?;
        let mut files = self.base.save(&sub)?;
        let manifest = Manifest {
            format: FORMAT.to_string(),
            classes: self.classes().to_vec(),
            class_weights: self.weights.clone(),
            threshold: binary_threshold(&self.weights),
            base: BASE_DIR.to_string(),
        };
        let path = dir.join("model.json");
        let text = serde_json::to_string_pretty(&manifest)
            .map_err(|e| AutomlError::Internal(format!("decision serialisation: {e}")))?;
        std::fs::write(&path, text).map_err(|e| AutomlError::io(&path, e))?;
        files.insert(0, path);
        Ok(files)
    }
}

/// Loads a saved decision model whose `model.json` is `file`, its base through `formats`. A
/// base folder other than `base`, a nested decision model, weights that are not one positive
/// number per class, or classes that differ from the base's are [`AutomlError::ModelLoad`]
/// errors naming the file.
pub fn load_with(
    formats: &ModelFormats,
    file: &Path,
    json: serde_json::Value,
) -> Result<Box<dyn TrainedModel>> {
    let bad = |message: String| AutomlError::ModelLoad {
        path: file.to_path_buf(),
        message,
    };
    let m: Manifest = serde_json::from_value(json).map_err(|e| bad(e.to_string()))?;
    if m.format != FORMAT {
        return Err(bad(format!("format {:?}, expected {FORMAT:?}", m.format)));
    }
    if m.base != BASE_DIR {
        return Err(bad(format!("base folder {:?} is not {BASE_DIR:?}", m.base)));
    }
    let sub = file
        .parent()
        .unwrap_or(Path::new("."))
        .join(BASE_DIR)
        .join("model.json");
    let text = std::fs::read_to_string(&sub).map_err(|e| AutomlError::ModelLoad {
        path: sub.clone(),
        message: e.to_string(),
    })?;
    // A nested decision model is refused before it is read as one.
    if serde_json::from_str::<serde_json::Value>(&text)
        .ok()
        .and_then(|v| v.get("format").and_then(|f| f.as_str()).map(str::to_string))
        .as_deref()
        == Some(FORMAT)
    {
        return Err(bad("the base model is itself a decision model".into()));
    }
    let base: Arc<dyn TrainedModel> = Arc::from(formats.load(&sub)?);
    if base.classes() != m.classes.as_slice() {
        return Err(bad(format!(
            "classes {:?} differ from the base model's {:?}",
            m.classes,
            base.classes()
        )));
    }
    let d = DecisionModel::new(base, m.class_weights).map_err(|e| bad(e.to_string()))?;
    Ok(Box::new(d))
}

/// The outcome of tuning.
#[derive(Debug, Clone)]
pub struct Tuning {
    /// The weights tuned on all the rows given, one per class.
    pub weights: Vec<f64>,
    /// Cross-fitted metrics: each half of the rows decided with weights tuned on the other half
    /// (an honest estimate of the tuned model on unseen rows).
    pub metrics: Metrics,
    /// The untuned metrics on the same rows.
    pub base_metrics: Metrics,
}

/// The value of `metric` (macro-F1 or balanced accuracy) of `pred` against `y` over `rows`,
/// with the definitions of [`metrics::classification`].
fn score(y: &[usize], pred: &[usize], rows: &[usize], k: usize, metric: &str) -> f64 {
    let mut cm = vec![0u64; k * k];
    for &i in rows {
        if y[i] < k && pred[i] < k {
            cm[y[i] * k + pred[i]] += 1;
        }
    }
    let mut acc = 0.0;
    let mut n = 0usize;
    for c in 0..k {
        let tp = cm[c * k + c] as f64;
        let support: f64 = (0..k).map(|p| cm[c * k + p] as f64).sum();
        let predicted: f64 = (0..k).map(|t| cm[t * k + c] as f64).sum();
        if metric == "balanced_accuracy" {
            if support > 0.0 {
                acc += tp / support;
                n += 1;
            }
        } else {
            if support == 0.0 && predicted == 0.0 {
                continue;
            }
            let precision = if predicted > 0.0 { tp / predicted } else { 0.0 };
            let recall = if support > 0.0 { tp / support } else { 0.0 };
            acc += if precision + recall > 0.0 {
                2.0 * precision * recall / (precision + recall)
            } else {
                0.0
            };
            n += 1;
        }
    }
    if n == 0 { 0.0 } else { acc / n as f64 }
}

/// Row-wise `argmax_k w_k · p_k` over `rows` (other entries of the result are left at 0).
fn decide(proba: &Array2<f64>, w: &[f64], rows: &[usize], out: &mut [usize]) {
    for &i in rows {
        let mut best = (0usize, f64::NEG_INFINITY);
        for (c, wc) in w.iter().enumerate() {
            let v = proba[[i, c]] * wc;
            if v > best.1 {
                best = (c, v);
            }
        }
        out[i] = best.0;
    }
}

/// Weights maximising `metric` over `rows` by coordinate ascent on a log grid (ties keep the
/// weight nearest 1, the least change), stopping at `deadline`.
fn fit_weights(
    y: &[usize],
    proba: &Array2<f64>,
    rows: &[usize],
    metric: &str,
    deadline: Instant,
) -> Vec<f64> {
    let k = proba.ncols();
    let mut w = vec![1.0; k];
    let mut pred = vec![0usize; y.len()];
    decide(proba, &w, rows, &mut pred);
    let mut best = score(y, &pred, rows, k, metric);
    // With two classes one weight is free (only the ratio matters).
    let coords: Vec<usize> = if k == 2 { vec![1] } else { (0..k).collect() };
    for _ in 0..PASSES {
        let mut moved = false;
        for &c in &coords {
            let mut keep = (w[c], best);
            for step in -GRID_STEPS..=GRID_STEPS {
                if Instant::now() >= deadline {
                    w[c] = keep.0;
                    return w;
                }
                let g = 2f64.powf(step as f64 / 4.0);
                w[c] = g;
                decide(proba, &w, rows, &mut pred);
                let s = score(y, &pred, rows, k, metric);
                let nearer = g.ln().abs() < keep.0.ln().abs();
                if s > keep.1 + 1e-12 || ((s - keep.1).abs() <= 1e-12 && nearer) {
                    keep = (g, s);
                }
            }
            if keep.0 != w[c] {
                moved = true;
            }
            w[c] = keep.0;
            best = keep.1;
        }
        if !moved {
            break;
        }
    }
    // Normalised so the largest weight is 1 (the decision only depends on the ratios).
    let top = w.iter().cloned().fold(f64::MIN_POSITIVE, f64::max);
    w.iter().map(|v| v / top).collect()
}

/// Tunes per-class decision weights for `metric` on out-of-sample predictions `proba` of rows
/// whose classes are `y`. `None` when the metric does not depend on the decision, there are
/// too few rows, or the cross-fitted score does not beat the untuned one (ties broken by log
/// loss, as the leaderboard does).
pub fn tune(
    y: &[usize],
    proba: &Array2<f64>,
    metric: &str,
    seed: u64,
    deadline: Instant,
) -> Option<Tuning> {
    let k = proba.ncols();
    if !DECISION_METRICS.contains(&metric) || k < 2 || proba.nrows() != y.len() || y.len() < 20 {
        return None;
    }
    // Large sets: a seeded subsample bounds the grid's work (the decision is a few numbers).
    if y.len() > MAX_TUNE_ROWS {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed ^ 0x005a_3b1e);
        let mut idx: Vec<usize> = (0..y.len()).collect();
        idx.shuffle(&mut rng);
        idx.truncate(MAX_TUNE_ROWS);
        idx.sort_unstable();
        let ys: Vec<usize> = idx.iter().map(|&i| y[i]).collect();
        let ps = proba.select(ndarray::Axis(0), &idx);
        return tune(&ys, &ps, metric, seed, deadline);
    }
    // Two stratified halves: each class's rows shuffled by the seed and dealt alternately.
    let mut halves: [Vec<usize>; 2] = [Vec::new(), Vec::new()];
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed ^ 0x5eed_dec1);
    for c in 0..k {
        let mut idx: Vec<usize> = (0..y.len()).filter(|&i| y[i] == c).collect();
        idx.shuffle(&mut rng);
        for (j, i) in idx.into_iter().enumerate() {
            halves[j % 2].push(i);
        }
    }
    let w_a = fit_weights(y, proba, &halves[0], metric, deadline);
    let w_b = fit_weights(y, proba, &halves[1], metric, deadline);
    if Instant::now() >= deadline {
        return None;
    }
    let mut crossed = proba.clone();
    for (rows, w) in [(&halves[0], &w_b), (&halves[1], &w_a)] {
        for &i in rows {
            let mut row = crossed.row_mut(i);
            let s: f64 = row.iter().zip(w.iter()).map(|(p, w)| p * w).sum();
            if s > 0.0 && s.is_finite() {
                row.iter_mut()
                    .zip(w.iter())
                    .for_each(|(p, w)| *p = *p * w / s);
            }
        }
    }
    let base_metrics = metrics::classification(y, proba);
    let cross_metrics = metrics::classification(y, &crossed);
    if compare_keys(
        rank_key(&cross_metrics, metric),
        rank_key(&base_metrics, metric),
    ) != std::cmp::Ordering::Less
        || cross_metrics.get(metric) <= base_metrics.get(metric)
    {
        return None;
    }
    let all: Vec<usize> = (0..y.len()).collect();
    let weights = fit_weights(y, proba, &all, metric, deadline);
    if weights.iter().all(|w| (*w - weights[0]).abs() < 1e-12) {
        return None;
    }
    Some(Tuning {
        weights,
        metrics: cross_metrics,
        base_metrics,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A rare class whose probabilities are systematically low (as a model trained on
    /// imbalanced data predicts them): a lower threshold lifts macro-F1 and balanced accuracy
    /// on the other half of the rows, so tuning keeps it.
    fn rare_low_scores(n: usize) -> (Vec<usize>, Array2<f64>) {
        use rand::Rng;
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        let mut y = Vec::new();
        let mut p = Array2::zeros((n, 2));
        for i in 0..n {
            let c = usize::from(rng.r#gen::<f64>() < 0.08);
            // Positives score around 0.35, negatives around 0.1: all below 0.5.
            let s = if c == 1 {
                0.25 + 0.2 * rng.r#gen::<f64>()
            } else {
                0.3 * rng.r#gen::<f64>()
            };
            y.push(c);
            p[[i, 0]] = 1.0 - s;
            p[[i, 1]] = s;
        }
        (y, p)
    }

    #[test]
    fn a_rare_class_gets_a_lower_threshold_that_pays_out_of_sample() {
        let (y, p) = rare_low_scores(2000);
        let far = Instant::now() + std::time::Duration::from_secs(30);
        for metric in DECISION_METRICS {
            let t = tune(&y, &p, metric, 0, far).expect("tuning pays");
            let thr = binary_threshold(&t.weights).expect("binary");
            assert!(thr < 0.5 && thr > 0.1, "{metric}: threshold {thr}");
            assert!(
                t.metrics[*metric] > t.base_metrics[*metric] + 0.1,
                "{metric}: {} vs {}",
                t.metrics[*metric],
                t.base_metrics[*metric]
            );
            // The applied probabilities decide as the weights say.
            let applied = apply(&p, &t.weights);
            let m = metrics::classification(&y, &applied);
            assert!(m[*metric] >= t.metrics[*metric] - 0.05);
            assert!((m["roc_auc"] - t.base_metrics["roc_auc"]).abs() < 1e-9);
        }
    }

    #[test]
    fn no_tuning_when_it_does_not_pay_or_the_metric_ignores_the_decision() {
        // Perfectly separated at 0.5 already: nothing to gain.
        let y: Vec<usize> = (0..200).map(|i| usize::from(i % 10 == 0)).collect();
        let mut p = Array2::zeros((200, 2));
        for (i, c) in y.iter().enumerate() {
            p[[i, 1]] = if *c == 1 { 0.9 } else { 0.1 };
            p[[i, 0]] = 1.0 - p[[i, 1]];
        }
        let far = Instant::now() + std::time::Duration::from_secs(30);
        assert!(tune(&y, &p, "macro_f1", 0, far).is_none());
        let (y, p) = rare_low_scores(500);
        assert!(tune(&y, &p, "roc_auc", 0, far).is_none());
        assert!(tune(&y, &p, "accuracy", 0, far).is_none());
        assert!(
            tune(
                &y[..10],
                &p.slice(ndarray::s![..10, ..]).to_owned(),
                "macro_f1",
                0,
                far
            )
            .is_none()
        );
    }

    #[test]
    fn large_sets_tune_on_a_subsample() {
        let (y, p) = rare_low_scores(MAX_TUNE_ROWS + 5000);
        let far = Instant::now() + std::time::Duration::from_secs(30);
        let t = tune(&y, &p, "macro_f1", 0, far).expect("tuning pays");
        let thr = binary_threshold(&t.weights).expect("binary");
        assert!(thr < 0.5 && thr > 0.1, "threshold {thr}");
        // On all the rows, the weights tuned on the subsample beat the untuned decision.
        let m = metrics::classification(&y, &apply(&p, &t.weights));
        assert!(m["macro_f1"] > t.base_metrics["macro_f1"]);
    }

    #[test]
    fn three_classes_tune_each_weight() {
        use rand::Rng;
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
        let n = 3000;
        let mut y = Vec::new();
        let mut p = Array2::zeros((n, 3));
        for i in 0..n {
            let r = rng.r#gen::<f64>();
            let c = if r < 0.05 {
                2
            } else if r < 0.5 {
                1
            } else {
                0
            };
            // Class 2 is under-predicted: its probability is shrunk.
            let mut row = [
                0.2 + 0.2 * rng.r#gen::<f64>(),
                0.2 + 0.2 * rng.r#gen::<f64>(),
                0.05 * rng.r#gen::<f64>(),
            ];
            row[c] += if c == 2 { 0.25 } else { 0.35 };
            let s: f64 = row.iter().sum();
            for j in 0..3 {
                p[[i, j]] = row[j] / s;
            }
            y.push(c);
        }
        let far = Instant::now() + std::time::Duration::from_secs(30);
        let t = tune(&y, &p, "balanced_accuracy", 1, far).expect("tuning pays");
        assert_eq!(t.weights.len(), 3);
        assert!(t.weights[2] > t.weights[0], "{:?}", t.weights);
        assert!(t.metrics["balanced_accuracy"] > t.base_metrics["balanced_accuracy"]);
    }
}
