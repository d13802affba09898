//! Target transforms for regression (decisions/0098): a model may be fitted on `ln(1 + y)`
//! instead of `y` when the target is non-negative and right-skewed (prices, wages, counts).
//! Whether it is used is decided by validation, like any other hyper-parameter: the search
//! tries both and the trial's predictions are mapped back (`exp(p) − 1`) and scored on the
//! original scale. A saved model names its transform, and prediction maps back the same way,
//! so `automl predict`, Python and Node give the same numbers.

use serde::{Deserialize, Serialize};

/// How the target is transformed before fitting.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TargetTransform {
    /// The target as it is.
    #[default]
    None,
    /// `ln(1 + y)`; predictions are mapped back by `exp(p) − 1`.
    Log1p,
}

/// The sample skewness above which `log1p` is worth a trial (a gate, not the choice: the choice
/// is made by validation).
pub const MIN_SKEW: f64 = 0.5;

/// The largest value a model fitted on `ln(1 + y)` may predict before mapping back (keeps
/// `exp` finite on hostile inputs: `exp(700)` is about 1e304).
const MAX_LOG: f64 = 700.0;

impl TargetTransform {
    /// True for the identity.
    pub fn is_none(&self) -> bool {
        matches!(self, TargetTransform::None)
    }

    /// The transformed target.
    pub fn forward(&self, y: &[f64]) -> Vec<f64> {
        match self {
            TargetTransform::None => y.to_vec(),
            TargetTransform::Log1p => y.iter().map(|v| v.max(0.0).ln_1p()).collect(),
        }
    }

    /// Predictions on the transformed scale mapped back to the target's scale, in place.
    pub fn inverse_in_place(&self, p: &mut [f64]) {
        match self {
            TargetTransform::None => {}
            TargetTransform::Log1p => {
                for v in p.iter_mut() {
                    *v = v.clamp(-MAX_LOG, MAX_LOG).exp_m1().max(0.0);
                }
            }
        }
    }

    /// The transforms worth a trial on a regression target `y`: always the identity, and
    /// `log1p` when every value is finite and non-negative, the values are not all equal, and
    /// the sample skewness is at least [`MIN_SKEW`].
    pub fn candidates(y: &[f64]) -> Vec<TargetTransform> {
        let mut out = vec![TargetTransform::None];
        if y.len() >= 3
            && y.iter().all(|v| v.is_finite() && *v >= 0.0)
            && skewness(y).is_some_and(|s| s >= MIN_SKEW)
        {
            out.push(TargetTransform::Log1p);
        }
        out
    }
}

/// The sample skewness (third standardised moment); None when the values do not vary.
pub fn skewness(y: &[f64]) -> Option<f64> {
    let n = y.len() as f64;
    if n < 3.0 {
        return None;
    }
    let mean = y.iter().sum::<f64>() / n;
    let m2 = y.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n;
    if m2.is_nan() || m2 <= 1e-12 * mean.abs().max(1.0).powi(2) {
        return None;
    }
    let m3 = y.iter().map(|v| (v - mean).powi(3)).sum::<f64>() / n;
    let s = m3 / m2.powf(1.5);
    s.is_finite().then_some(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A right-skewed non-negative target (incomes, counts with a long tail) gets a log1p
    /// candidate; a symmetric one, one with a negative value, or a constant one does not.
    #[test]
    fn log1p_is_a_candidate_only_for_skewed_non_negative_targets() {
        let skewed: Vec<f64> = (0..200).map(|i| (i as f64 / 20.0).exp()).collect();
        assert_eq!(
            TargetTransform::candidates(&skewed),
            vec![TargetTransform::None, TargetTransform::Log1p]
        );
        let counts: Vec<f64> = (0..300)
            .map(|i| [0.0, 0.0, 0.0, 1.0, 2.0, 9.0][i % 6])
            .collect();
        assert!(TargetTransform::candidates(&counts).contains(&TargetTransform::Log1p));
        let symmetric: Vec<f64> = (0..200).map(|i| 50.0 + (i as f64).sin() * 10.0).collect();
        assert_eq!(
            TargetTransform::candidates(&symmetric),
            vec![TargetTransform::None]
        );
        let mut negative = skewed.clone();
        negative[0] = -1.0;
        assert_eq!(
            TargetTransform::candidates(&negative),
            vec![TargetTransform::None]
        );
        assert_eq!(
            TargetTransform::candidates(&[3.0; 50]),
            vec![TargetTransform::None]
        );
        let mut with_nan = skewed;
        with_nan[5] = f64::NAN;
        assert_eq!(
            TargetTransform::candidates(&with_nan),
            vec![TargetTransform::None]
        );
    }

    /// Forward then inverse gives the values back; a hostile prediction stays finite.
    #[test]
    fn log1p_round_trips_and_stays_finite() {
        let y = [0.0, 0.5, 3.0, 1e6];
        let mut z = TargetTransform::Log1p.forward(&y);
        TargetTransform::Log1p.inverse_in_place(&mut z);
        for (a, b) in y.iter().zip(&z) {
            assert!((a - b).abs() <= 1e-9 * a.max(1.0), "{a} vs {b}");
        }
        let mut wild = [1e9, -1e9, f64::MAX];
        TargetTransform::Log1p.inverse_in_place(&mut wild);
        assert!(wild.iter().all(|v| v.is_finite() && *v >= 0.0));
        let mut same = [1.0, -2.0];
        TargetTransform::None.inverse_in_place(&mut same);
        assert_eq!(same, [1.0, -2.0]);
    }
}
