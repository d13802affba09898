//! Forecast accuracy: MASE (scaled by the in-sample seasonal-naive error), sMAPE and RMSE.

use crate::event::Metrics;

/// The MASE denominator: the mean absolute `season`-step difference of the history (the
/// in-sample seasonal-naive error); falls back to one step when the history is shorter than
/// two seasons, and to a tiny positive number for a constant history.
pub fn mase_scale(history: &[f64], season: usize) -> f64 {
    let m = if history.len() > season.max(1) {
        season.max(1)
    } else {
        1
    };
    let diffs: Vec<f64> = history
        .windows(m + 1)
        .map(|w| (w[m] - w[0]).abs())
        .collect();
    let s = if diffs.is_empty() {
        0.0
    } else {
        diffs.iter().sum::<f64>() / diffs.len() as f64
    };
    if s > 0.0 {
        s
    } else {
        let level = history.iter().map(|v| v.abs()).sum::<f64>() / history.len().max(1) as f64;
        1e-8 * (1.0 + level)
    }
}

/// Sums of one series' errors, to be pooled.
#[derive(Debug, Clone, Copy, Default)]
pub struct Errors {
    abs: f64,
    sq: f64,
    smape: f64,
    n: usize,
}

impl Errors {
    /// Errors of `forecast` against `actual`.
    pub fn of(actual: &[f64], forecast: &[f64]) -> Self {
        let mut e = Errors::default();
        for (a, f) in actual.iter().zip(forecast) {
            let d = (a - f).abs();
            e.abs += d;
            e.sq += d * d;
            let den = a.abs() + f.abs();
            e.smape += if den > 0.0 { 200.0 * d / den } else { 0.0 };
            e.n += 1;
        }
        e
    }
}

/// Metrics of one series: MASE against `scale`, sMAPE (0-200), RMSE, MAE.
pub fn series_metrics(actual: &[f64], forecast: &[f64], scale: f64) -> Metrics {
    let e = Errors::of(actual, forecast);
    let n = e.n.max(1) as f64;
    let mut m = Metrics::new();
    m.insert("mase".into(), e.abs / n / scale);
    m.insert("smape".into(), e.smape / n);
    m.insert("rmse".into(), (e.sq / n).sqrt());
    m.insert("mae".into(), e.abs / n);
    m
}

/// Pools per-window metrics: MASE and sMAPE are means over windows (each series counts
/// alike), RMSE and MAE over all points.
pub fn pool(windows: &[(Metrics, usize)]) -> Metrics {
    let mut m = Metrics::new();
    let k = windows.len().max(1) as f64;
    let points: usize = windows.iter().map(|(_, n)| *n).sum::<usize>().max(1);
    let get = |w: &Metrics, name: &str| w.get(name).copied().unwrap_or(f64::NAN);
    m.insert(
        "mase".into(),
        windows.iter().map(|(w, _)| get(w, "mase")).sum::<f64>() / k,
    );
    m.insert(
        "smape".into(),
        windows.iter().map(|(w, _)| get(w, "smape")).sum::<f64>() / k,
    );
    m.insert(
        "rmse".into(),
        (windows
            .iter()
            .map(|(w, n)| get(w, "rmse").powi(2) * *n as f64)
            .sum::<f64>()
            / points as f64)
            .sqrt(),
    );
    m.insert(
        "mae".into(),
        windows
            .iter()
            .map(|(w, n)| get(w, "mae") * *n as f64)
            .sum::<f64>()
            / points as f64,
    );
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mase_is_mae_over_in_sample_seasonal_naive_mae() {
        // Season 2: |3-1|, |2-2|, |5-3| -> mean 4/3.
        let h = [1.0, 2.0, 3.0, 2.0, 5.0];
        assert!((mase_scale(&h, 2) - 4.0 / 3.0).abs() < 1e-12);
        let m = series_metrics(&[4.0, 6.0], &[5.0, 4.0], mase_scale(&h, 2));
        // MAE 1.5 / (4/3) = 1.125
        assert!((m["mase"] - 1.125).abs() < 1e-12);
        assert!((m["rmse"] - (2.5f64).sqrt()).abs() < 1e-12);
        // sMAPE: 200*(1/9 + 2/10)/2
        assert!((m["smape"] - 100.0 * (1.0 / 9.0 + 0.2)).abs() < 1e-9);
        // Too short for the season: one-step differences.
        assert_eq!(mase_scale(&[1.0, 3.0], 7), 2.0);
        // Constant: a tiny positive scale, never a division by zero.
        assert!(mase_scale(&[2.0; 5], 1) > 0.0);
    }

    #[test]
    fn pooling_weights_points_for_rmse() {
        let a = series_metrics(&[0.0], &[3.0], 1.0);
        let b = series_metrics(&[0.0, 0.0, 0.0], &[1.0, 1.0, 1.0], 1.0);
        let p = pool(&[(a, 1), (b, 3)]);
        assert!((p["mase"] - 2.0).abs() < 1e-12);
        assert!((p["rmse"] - (12.0f64 / 4.0).sqrt()).abs() < 1e-12);
    }
}
