//! Evaluation metrics for classification and regression.

pub mod forecast;

use ndarray::Array2;

use crate::event::{ConfusionMatrix, Curve, Metrics, PredictedVsActual, ResidualSummary};

/// Most points in a review curve (ROC, precision-recall).
pub const MAX_CURVE_POINTS: usize = 200;

/// Most test rows in a predicted-vs-actual sample.
pub const MAX_SCATTER_POINTS: usize = 500;

/// Whether a larger value of `metric` is better.
pub fn higher_is_better(metric: &str) -> bool {
    !matches!(
        metric,
        "log_loss" | "rmse" | "mae" | "mse" | "mase" | "smape"
    )
}

/// Classification metrics: accuracy, balanced accuracy, macro-F1, log loss, and ROC AUC, precision
/// and recall of the positive (second) class for binary tasks.
pub fn classification(y: &[usize], proba: &Array2<f64>) -> Metrics {
    let k = proba.ncols();
    let pred: Vec<usize> = argmax_rows(proba);
    let cm = confusion(y, &pred, k);
    let n = y.len().max(1) as f64;
    let correct: u64 = (0..k).map(|i| cm[i][i]).sum();
    let mut m = Metrics::new();
    m.insert("accuracy".into(), correct as f64 / n);
    let mut f1s = Vec::new();
    let mut recalls = Vec::new();
    for c in 0..k {
        let tp = cm[c][c] as f64;
        let fp: f64 = (0..k).filter(|r| *r != c).map(|r| cm[r][c] as f64).sum();
        let fneg: f64 = (0..k).filter(|p| *p != c).map(|p| cm[c][p] as f64).sum();
        let support = tp + fneg;
        if support == 0.0 && tp + fp == 0.0 {
            continue;
        }
        let precision = if tp + fp > 0.0 { tp / (tp + fp) } else { 0.0 };
        let recall = if support > 0.0 { tp / support } else { 0.0 };
        let f1 = if precision + recall > 0.0 {
            2.0 * precision * recall / (precision + recall)
        } else {
            0.0
        };
        f1s.push(f1);
        if support > 0.0 {
            recalls.push(recall);
        }
        if k == 2 && c == 1 {
            m.insert("precision".into(), precision);
            m.insert("recall".into(), recall);
        }
    }
    m.insert("macro_f1".into(), mean(&f1s));
    m.insert("balanced_accuracy".into(), mean(&recalls));
    let eps = 1e-15;
    let ll = y
        .iter()
        .enumerate()
        .map(|(i, c)| -proba[[i, *c]].clamp(eps, 1.0 - eps).ln())
        .sum::<f64>()
        / n;
    m.insert("log_loss".into(), ll);
    if k == 2 {
        let scores: Vec<f64> = (0..y.len()).map(|i| proba[[i, 1]]).collect();
        if let Some(auc) = roc_auc(y, &scores) {
            m.insert("roc_auc".into(), auc);
        }
    }
    m
}

/// Regression metrics: R², RMSE, MAE.
pub fn regression(y: &[f64], pred: &[f64]) -> Metrics {
    let n = y.len().max(1) as f64;
    let my = y.iter().sum::<f64>() / n;
    let ss_tot: f64 = y.iter().map(|v| (v - my).powi(2)).sum();
    let ss_res: f64 = y.iter().zip(pred).map(|(a, b)| (a - b).powi(2)).sum();
    let mae: f64 = y.iter().zip(pred).map(|(a, b)| (a - b).abs()).sum::<f64>() / n;
    let mut m = Metrics::new();
    m.insert(
        "r2".into(),
        if ss_tot > 0.0 {
            1.0 - ss_res / ss_tot
        } else {
            0.0
        },
    );
    m.insert("rmse".into(), (ss_res / n).sqrt());
    m.insert("mae".into(), mae);
    m
}

/// Row-wise argmax.
pub fn argmax_rows(p: &Array2<f64>) -> Vec<usize> {
    p.rows()
        .into_iter()
        .map(|r| {
            r.iter()
                .enumerate()
                .fold((0, f64::NEG_INFINITY), |(bi, bv), (i, v)| {
                    if *v > bv { (i, *v) } else { (bi, bv) }
                })
                .0
        })
        .collect()
}

/// `matrix[true][predicted]` counts.
pub fn confusion(y: &[usize], pred: &[usize], k: usize) -> Vec<Vec<u64>> {
    let mut cm = vec![vec![0u64; k]; k];
    for (t, p) in y.iter().zip(pred) {
        if *t < k && *p < k {
            cm[*t][*p] += 1;
        }
    }
    cm
}

/// The confusion matrix with labels.
pub fn confusion_matrix(y: &[usize], proba: &Array2<f64>, labels: &[String]) -> ConfusionMatrix {
    ConfusionMatrix {
        labels: labels.to_vec(),
        matrix: confusion(y, &argmax_rows(proba), labels.len()),
    }
}

/// Mean, spread and quantiles of `y - pred`.
pub fn residuals(y: &[f64], pred: &[f64]) -> ResidualSummary {
    let mut r: Vec<f64> = y.iter().zip(pred).map(|(a, b)| a - b).collect();
    let m = mean(&r);
    let std = (r.iter().map(|v| (v - m).powi(2)).sum::<f64>() / r.len().max(1) as f64).sqrt();
    r.sort_by(f64::total_cmp);
    let q = |p: f64| {
        if r.is_empty() {
            0.0
        } else {
            r[((r.len() - 1) as f64 * p).round() as usize]
        }
    };
    ResidualSummary {
        mean: m,
        std,
        quantiles: vec![q(0.05), q(0.25), q(0.5), q(0.75), q(0.95)],
    }
}

/// Area under the ROC curve of `scores` for the positive class 1 (ties averaged).
pub fn roc_auc(y: &[usize], scores: &[f64]) -> Option<f64> {
    let pos = y.iter().filter(|c| **c == 1).count();
    let neg = y.len() - pos;
    if pos == 0 || neg == 0 {
        return None;
    }
    let mut idx: Vec<usize> = (0..y.len()).collect();
    idx.sort_by(|a, b| scores[*a].total_cmp(&scores[*b]));
    let mut rank_sum = 0.0;
    let mut i = 0;
    while i < idx.len() {
        let mut j = i;
        while j + 1 < idx.len() && scores[idx[j + 1]] == scores[idx[i]] {
            j += 1;
        }
        let avg = (i + j) as f64 / 2.0 + 1.0;
        for k in i..=j {
            if y[idx[k]] == 1 {
                rank_sum += avg;
            }
        }
        i = j + 1;
    }
    Some((rank_sum - (pos * (pos + 1)) as f64 / 2.0) / (pos * neg) as f64)
}

/// True- and false-positive counts of the positive class 1 at each distinct score threshold,
/// highest first, with the totals of positives and negatives. None unless both classes occur.
fn threshold_counts(y: &[usize], scores: &[f64]) -> Option<(Vec<(f64, f64)>, f64, f64)> {
    let pos = y.iter().filter(|c| **c == 1).count() as f64;
    let neg = y.len() as f64 - pos;
    if pos == 0.0 || neg == 0.0 {
        return None;
    }
    let mut idx: Vec<usize> = (0..y.len().min(scores.len())).collect();
    idx.sort_by(|a, b| scores[*b].total_cmp(&scores[*a]));
    let (mut tp, mut fp) = (0.0, 0.0);
    let mut out = Vec::new();
    for (k, &i) in idx.iter().enumerate() {
        if y[i] == 1 {
            tp += 1.0;
        } else {
            fp += 1.0;
        }
        // One point per threshold: after the last row of a run of equal scores.
        if idx.get(k + 1).is_none_or(|&j| scores[j] != scores[i]) {
            out.push((tp, fp));
        }
    }
    Some((out, pos, neg))
}

/// Keeps at most `max` points of a curve, evenly spaced, the first and the last included.
fn thin(points: Vec<(f64, f64)>, max: usize) -> Curve {
    let n = points.len();
    let keep: Vec<(f64, f64)> = if n <= max || max < 2 {
        points
    } else {
        (0..max)
            .map(|k| points[(k * (n - 1) + (max - 1) / 2) / (max - 1)])
            .collect()
    };
    Curve {
        x: keep.iter().map(|p| p.0).collect(),
        y: keep.iter().map(|p| p.1).collect(),
    }
}

/// ROC curve (false-positive rate, true-positive rate) of the second class's probability,
/// from (0, 0) to (1, 1). None unless the task is binary and both classes occur in `y`.
pub fn roc_curve(y: &[usize], proba: &Array2<f64>) -> Option<Curve> {
    if proba.ncols() != 2 {
        return None;
    }
    let scores: Vec<f64> = proba.column(1).to_vec();
    let (counts, pos, neg) = threshold_counts(y, &scores)?;
    let mut pts = vec![(0.0, 0.0)];
    pts.extend(counts.iter().map(|(tp, fp)| (fp / neg, tp / pos)));
    Some(thin(pts, MAX_CURVE_POINTS))
}

/// Precision-recall curve (recall, precision) of the second class's probability, one point
/// per threshold, highest threshold first. None unless the task is binary and both classes
/// occur in `y`.
pub fn pr_curve(y: &[usize], proba: &Array2<f64>) -> Option<Curve> {
    if proba.ncols() != 2 {
        return None;
    }
    let scores: Vec<f64> = proba.column(1).to_vec();
    let (counts, pos, _) = threshold_counts(y, &scores)?;
    let pts = counts
        .iter()
        .map(|(tp, fp)| (tp / pos, tp / (tp + fp)))
        .collect();
    Some(thin(pts, MAX_CURVE_POINTS))
}

/// An even sample of at most [`MAX_SCATTER_POINTS`] test rows, truth beside prediction.
pub fn predicted_vs_actual(y: &[f64], pred: &[f64]) -> PredictedVsActual {
    let n = y.len().min(pred.len());
    let step = n.div_ceil(MAX_SCATTER_POINTS).max(1);
    let rows: Vec<usize> = (0..n).step_by(step).collect();
    PredictedVsActual {
        actual: rows.iter().map(|&i| y[i]).collect(),
        predicted: rows.iter().map(|&i| pred[i]).collect(),
    }
}

fn mean(v: &[f64]) -> f64 {
    if v.is_empty() {
        0.0
    } else {
        v.iter().sum::<f64>() / v.len() as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn classification_metrics() {
        let y = [0, 0, 1, 1];
        let p = array![[0.9, 0.1], [0.4, 0.6], [0.2, 0.8], [0.3, 0.7]];
        let m = classification(&y, &p);
        assert!((m["accuracy"] - 0.75).abs() < 1e-12);
        assert!((m["roc_auc"] - 1.0).abs() < 1e-12);
        assert!((m["recall"] - 1.0).abs() < 1e-12);
        assert!((m["precision"] - 2.0 / 3.0).abs() < 1e-12);
        assert!((m["balanced_accuracy"] - 0.75).abs() < 1e-12);
    }

    #[test]
    fn auc_with_ties() {
        assert_eq!(roc_auc(&[0, 1], &[0.5, 0.5]), Some(0.5));
        assert_eq!(roc_auc(&[1, 1], &[0.5, 0.5]), None);
    }

    #[test]
    fn roc_and_pr_curves() {
        let y = [0, 0, 1, 1];
        let p = array![[0.9, 0.1], [0.4, 0.6], [0.2, 0.8], [0.3, 0.7]];
        let roc = roc_curve(&y, &p).unwrap();
        assert_eq!(roc.x, vec![0.0, 0.0, 0.0, 0.5, 1.0]);
        assert_eq!(roc.y, vec![0.0, 0.5, 1.0, 1.0, 1.0]);
        let pr = pr_curve(&y, &p).unwrap();
        assert_eq!(pr.x, vec![0.5, 1.0, 1.0, 1.0]);
        assert_eq!(pr.y, vec![1.0, 1.0, 2.0 / 3.0, 0.5]);
        // Tied scores make one point; one class only or three classes make no curve.
        let tied = roc_curve(&[0, 1], &array![[0.5, 0.5], [0.5, 0.5]]).unwrap();
        assert_eq!((tied.x, tied.y), (vec![0.0, 1.0], vec![0.0, 1.0]));
        assert!(roc_curve(&[1, 1], &array![[0.5, 0.5], [0.2, 0.8]]).is_none());
        assert!(pr_curve(&[0, 1], &array![[0.5, 0.3, 0.2], [0.1, 0.8, 0.1]]).is_none());
    }

    #[test]
    fn curves_are_thinned() {
        let n = 1000;
        let y: Vec<usize> = (0..n).map(|i| i % 2).collect();
        let p = Array2::from_shape_fn((n, 2), |(i, c)| {
            let s = i as f64 / n as f64;
            if c == 1 { s } else { 1.0 - s }
        });
        let roc = roc_curve(&y, &p).unwrap();
        assert_eq!(roc.x.len(), MAX_CURVE_POINTS);
        assert_eq!((roc.x[0], roc.y[0]), (0.0, 0.0));
        assert_eq!(
            (roc.x[MAX_CURVE_POINTS - 1], roc.y[MAX_CURVE_POINTS - 1]),
            (1.0, 1.0)
        );
        let y: Vec<f64> = (0..1234).map(|i| i as f64).collect();
        let s = predicted_vs_actual(&y, &y);
        assert!(s.actual.len() <= MAX_SCATTER_POINTS && s.actual.len() > MAX_SCATTER_POINTS / 2);
        assert_eq!(s.actual, s.predicted);
        assert_eq!(
            predicted_vs_actual(&[1.0, 2.0], &[1.5, 2.5]).predicted,
            vec![1.5, 2.5]
        );
    }

    #[test]
    fn regression_metrics() {
        let m = regression(&[1.0, 2.0, 3.0], &[1.0, 2.0, 3.0]);
        assert_eq!(m["r2"], 1.0);
        assert_eq!(m["rmse"], 0.0);
        let m = regression(&[1.0, 2.0, 3.0], &[2.0, 2.0, 2.0]);
        assert!(m["r2"].abs() < 1e-12);
    }
}
