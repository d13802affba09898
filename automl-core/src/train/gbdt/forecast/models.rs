//! The forecasting methods: naive, seasonal naive, exponential smoothing (additive damped
//! trend, optional additive season; parameters fitted per series by a grid over the in-sample
//! one-step error), and the GBDT of `train::gbdt::boost` on lag, rolling-window and calendar
//! features, forecasting recursively. Every method forecasts a series from the history it is
//! given, so a saved model extends any history (see docs/decisions/0076).

use serde::{Deserialize, Serialize};

use crate::data::timeseries::TimeKind;
use crate::data::timeseries::detect::calendar;
use crate::data::timeseries::{ForecastSetup, Series};
use crate::metrics::forecast::mase_scale;
use crate::train::gbdt::boost::{self, BinMapper, Objective, Params};

/// A forecasting method, saved with the model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Method {
    /// The last value, repeated.
    Naive,
    /// The value one season before, repeated season by season.
    SeasonalNaive,
    /// Exponential smoothing; smoothing parameters fitted on each history it forecasts.
    Ets {
        /// With an additive season of `setup.season` steps.
        seasonal: bool,
    },
    /// Gradient-boosted trees on lag, window and calendar features, one step at a time.
    Gbdt(Box<GbdtForecaster>),
}

impl Method {
    /// The model name on the leaderboard.
    pub fn name(&self) -> &'static str {
        match self {
            Method::Naive => "naive",
            Method::SeasonalNaive => "seasonal_naive",
            Method::Ets { seasonal: false } => "ets_damped",
            Method::Ets { seasonal: true } => "ets_damped_seasonal",
            Method::Gbdt(_) => "gbdt_lags",
        }
    }

    /// Forecasts `h` steps after the history `s` (at least one value).
    pub fn forecast(&self, setup: &ForecastSetup, s: &Series, h: usize) -> Vec<f64> {
        let y = &s.values;
        let Some(last) = y.last().copied() else {
            return vec![f64::NAN; h];
        };
        match self {
            Method::Naive => vec![last; h],
            Method::SeasonalNaive => seasonal_naive(y, setup.season, h),
            Method::Ets { seasonal } => {
                let m = if *seasonal && y.len() >= 2 * setup.season && setup.season > 1 {
                    setup.season
                } else {
                    1
                };
                Ets::fit(y, m).forecast(h)
            }
            Method::Gbdt(g) => g.forecast(setup, s, h),
        }
    }
}

/// Seasonal naive: `y[t - m]` for each future step (naive when the history is shorter than
/// a season).
pub fn seasonal_naive(y: &[f64], m: usize, h: usize) -> Vec<f64> {
    let n = y.len();
    if m <= 1 || n < m {
        return vec![y.last().copied().unwrap_or(f64::NAN); h];
    }
    (0..h).map(|k| y[n - m + k % m]).collect()
}

/// Additive exponential smoothing with a damped additive trend (or none) and an optional
/// additive season, in error-correction form.
#[derive(Debug, Clone, PartialEq)]
pub struct Ets {
    /// Level smoothing.
    pub alpha: f64,
    /// Trend smoothing (0 with `phi` 0: no trend).
    pub beta: f64,
    /// Damping.
    pub phi: f64,
    /// Season smoothing.
    pub gamma: f64,
    /// Season length (1: none).
    pub m: usize,
    level: f64,
    trend: f64,
    season: Vec<f64>,
    /// In-sample one-step sum of squared errors.
    pub sse: f64,
}

impl Ets {
    fn run(y: &[f64], m: usize, alpha: f64, beta: f64, phi: f64, gamma: f64) -> Ets {
        let n = y.len();
        let m = m.max(1);
        let first = &y[..m.min(n)];
        let mut level = first.iter().sum::<f64>() / first.len() as f64;
        let mut trend = if phi > 0.0 && n >= 2 * m {
            (y[m..2 * m].iter().sum::<f64>() - first.iter().sum::<f64>()) / (m * m) as f64
        } else if phi > 0.0 && n >= 2 {
            y[1] - y[0]
        } else {
            0.0
        };
        let mut season: Vec<f64> = if m > 1 {
            first.iter().map(|v| v - level).collect()
        } else {
            vec![0.0]
        };
        let start = if m > 1 { m } else { 1 };
        if m == 1 {
            level = y[0];
        }
        let mut sse = 0.0;
        for (t, &v) in y.iter().enumerate().skip(start) {
            let si = t % m;
            let s = if m > 1 { season[si] } else { 0.0 };
            let pred = level + phi * trend + s;
            let e = v - pred;
            sse += e * e;
            let new_level = level + phi * trend + alpha * e;
            trend = phi * trend + beta * e;
            level = new_level;
            if m > 1 {
                season[si] = s + gamma * e;
            }
        }
        // Rotate the season so that index 0 is the step after the history.
        if m > 1 {
            season.rotate_left(n % m);
        }
        Ets {
            alpha,
            beta,
            phi,
            gamma,
            m,
            level,
            trend,
            season,
            sse,
        }
    }

    /// Fits on `y` with season `m` (1: none): the grid point with the least in-sample
    /// one-step squared error; trend none or damped.
    pub fn fit(y: &[f64], m: usize) -> Ets {
        const ALPHA: [f64; 8] = [0.05, 0.1, 0.2, 0.3, 0.5, 0.7, 0.85, 1.0];
        const BETA: [f64; 4] = [0.0, 0.02, 0.1, 0.3];
        const PHI: [f64; 4] = [0.0, 0.8, 0.9, 0.98];
        let gammas: &[f64] = if m > 1 {
            &[0.0, 0.05, 0.1, 0.2, 0.4]
        } else {
            &[0.0]
        };
        let mut best: Option<Ets> = None;
        for &alpha in &ALPHA {
            for &phi in &PHI {
                for &b in &BETA {
                    // No trend: phi 0 and beta 0; a trend's smoothing is at most alpha's.
                    if (phi == 0.0) != (b == 0.0) {
                        continue;
                    }
                    let beta = b * alpha;
                    for &g in gammas {
                        let gamma = g * (1.0 - alpha);
                        let e = Ets::run(y, m, alpha, beta, phi, gamma);
                        if e.sse.is_finite() && best.as_ref().is_none_or(|b| e.sse < b.sse) {
                            best = Some(e);
                        }
                    }
                }
            }
        }
        best.unwrap_or_else(|| Ets::run(y, 1, 1.0, 0.0, 0.0, 0.0))
    }

    /// Forecasts `h` steps ahead.
    pub fn forecast(&self, h: usize) -> Vec<f64> {
        let mut damp = 0.0;
        let mut p = 1.0;
        (0..h)
            .map(|k| {
                p *= self.phi;
                damp += p;
                let s = if self.m > 1 {
                    self.season[k % self.m]
                } else {
                    0.0
                };
                self.level + damp * self.trend + s
            })
            .collect()
    }
}

/// The GBDT forecaster: trees on features of the history relative to its last value and
/// scaled by its mean absolute step, predicting the next step's change; applied recursively.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GbdtForecaster {
    /// Lags used (2 and up; lag 1 is the anchor).
    pub lags: Vec<usize>,
    /// Rolling windows (mean and standard deviation).
    pub windows: Vec<usize>,
    /// Calendar features (day of week, day of month, month, day of year, hour).
    pub calendar: bool,
    /// The hyper-parameters it was trained with.
    pub params: Params,
    /// The trees.
    pub model: boost::Model,
}

/// The feature layout for a setup and history length.
pub fn feature_plan(setup: &ForecastSetup, shortest: usize) -> (Vec<usize>, Vec<usize>, bool) {
    let m = setup.season;
    let cap = (shortest / 2).max(2);
    let mut lags: Vec<usize> = (2..=7).collect();
    if m > 1 {
        lags.extend([m - 1, m, m + 1, 2 * m]);
    }
    lags.retain(|l| *l >= 2 && *l <= cap);
    lags.sort_unstable();
    lags.dedup();
    let mut windows = vec![3, 7];
    if m > 7 {
        windows.push(m);
    }
    windows.retain(|w| *w <= cap);
    windows.dedup();
    (lags, windows, setup.time_kind == TimeKind::Datetime)
}

fn width(lags: &[usize], windows: &[usize], cal: bool) -> usize {
    lags.len() + 2 * windows.len() + if cal { 5 } else { 0 } + 1
}

/// Features for predicting step `t` from `y[..t]` (its time `time`), anchored on `y[t-1]` and
/// scaled by `scale`; appended to `out` column by column at row `row` of `rows`.
#[allow(clippy::too_many_arguments)]
fn features(
    y: &[f64],
    t: usize,
    time: i64,
    kind: TimeKind,
    scale: f64,
    plan: (&[usize], &[usize], bool),
    out: &mut [f64],
    row: usize,
    rows: usize,
) {
    let a = y[t - 1];
    let mut f = 0;
    let mut put = |v: f64| {
        out[f * rows + row] = v;
        f += 1;
    };
    for &l in plan.0 {
        put(if t >= l {
            (y[t - l] - a) / scale
        } else {
            f64::NAN
        });
    }
    for &w in plan.1 {
        if t >= w {
            let win = &y[t - w..t];
            let mean = win.iter().sum::<f64>() / w as f64;
            let var = win.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / w as f64;
            put((mean - a) / scale);
            put(var.sqrt() / scale);
        } else {
            put(f64::NAN);
            put(f64::NAN);
        }
    }
    if plan.2 {
        for c in calendar(kind, time) {
            put(c);
        }
    }
    // Where the last value sits in the history's range (a level cue that does not depend on
    // the series' scale).
    let (lo, hi) = y[..t]
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), v| {
            (l.min(*v), h.max(*v))
        });
    put(if hi > lo { (a - lo) / (hi - lo) } else { 0.5 });
}

/// Training rows from histories: every step `t >= 2` of each, target the scaled change.
fn rows(
    setup: &ForecastSetup,
    histories: &[&Series],
    plan: (&[usize], &[usize], bool),
    from_end: Option<usize>,
) -> (Vec<f64>, Vec<f64>) {
    let nf = width(plan.0, plan.1, plan.2);
    let mut idx: Vec<(usize, usize)> = vec![];
    for (i, s) in histories.iter().enumerate() {
        let n = s.len();
        let lo = match from_end {
            Some(k) => n.saturating_sub(k).max(2),
            None => 2,
        };
        idx.extend((lo..n).map(|t| (i, t)));
    }
    let r = idx.len();
    let mut x = vec![0.0; r * nf];
    let mut y = vec![0.0; r];
    let scales: Vec<f64> = histories.iter().map(|s| mase_scale(&s.values, 1)).collect();
    for (row, (i, t)) in idx.iter().enumerate() {
        let s = histories[*i];
        features(
            &s.values,
            *t,
            s.times[*t],
            setup.time_kind,
            scales[*i],
            plan,
            &mut x,
            row,
            r,
        );
        y[row] = (s.values[*t] - s.values[*t - 1]) / scales[*i];
    }
    (x, y)
}

impl GbdtForecaster {
    /// Trains on `histories` (each in time order). With `rounds`, exactly that many rounds on
    /// everything; else early stopping on the last `valid_steps` steps of every history.
    /// `None` when there are too few rows, or when `keep_going` stopped the boosting: a model
    /// cut short at a deadline is not the model its trial's backtest scored.
    pub fn fit(
        setup: &ForecastSetup,
        histories: &[&Series],
        params: &Params,
        rounds: Option<usize>,
        valid_steps: usize,
        mut keep_going: impl FnMut() -> bool,
    ) -> Option<GbdtForecaster> {
        let shortest = histories.iter().map(|s| s.len()).min()?;
        let (lags, windows, cal) = feature_plan(setup, shortest);
        let plan = (lags.as_slice(), windows.as_slice(), cal);
        let nf = width(&lags, &windows, cal);
        let (fit_on, valid_on): (Vec<Series>, Vec<Series>) = match rounds {
            Some(_) => (histories.iter().map(|s| (*s).clone()).collect(), vec![]),
            None => histories
                .iter()
                .map(|s| {
                    let cut = s.len().saturating_sub(valid_steps).max(2);
                    (
                        Series {
                            key: s.key.clone(),
                            times: s.times[..cut].to_vec(),
                            values: s.values[..cut].to_vec(),
                        },
                        (*s).clone(),
                    )
                })
                .unzip(),
        };
        let fit_refs: Vec<&Series> = fit_on.iter().collect();
        let (x, y) = rows(setup, &fit_refs, plan, None);
        if y.len() < 10 {
            return None;
        }
        let valid_refs: Vec<&Series> = valid_on.iter().collect();
        let (xv, yv) = rows(setup, &valid_refs, plan, Some(valid_steps));
        let mappers: Vec<BinMapper> = (0..nf)
            .map(|f| BinMapper::fit(&x[f * y.len()..(f + 1) * y.len()], false))
            .collect();
        let train = boost::bin_data(&x, y.len(), &mappers);
        let valid = boost::bin_data(&xv, yv.len(), &mappers);
        let mut p = params.clone();
        if let Some(r) = rounds {
            p.max_rounds = r.max(1);
            p.early_stopping_rounds = usize::MAX;
        }
        let (model, stop) = boost::train(
            Objective::Squared,
            &p,
            mappers,
            &train,
            &y,
            &valid,
            &yv,
            |_| keep_going(),
        );
        if model.rounds.is_empty() || matches!(stop, boost::Stop::Interrupted) {
            return None;
        }
        Some(GbdtForecaster {
            lags,
            windows,
            calendar: cal,
            params: p,
            model,
        })
    }

    /// Rounds kept after early stopping.
    pub fn rounds(&self) -> usize {
        self.model.rounds.len()
    }

    /// Forecasts `h` steps after `s`, one step at a time, each forecast becoming history.
    pub fn forecast(&self, setup: &ForecastSetup, s: &Series, h: usize) -> Vec<f64> {
        let mut y = s.values.clone();
        let mut t_last = *s.times.last().unwrap_or(&0);
        let scale = mase_scale(&s.values, 1);
        let plan = (self.lags.as_slice(), self.windows.as_slice(), self.calendar);
        let nf = width(&self.lags, &self.windows, self.calendar);
        let mut x = vec![0.0; nf];
        let mut out = Vec::with_capacity(h);
        for _ in 0..h {
            let t = y.len();
            let time = setup.frequency.advance(setup.time_kind, t_last, 1);
            features(&y, t, time, setup.time_kind, scale, plan, &mut x, 0, 1);
            let d = self.model.predict(&x, 1)[0];
            let v = y[t - 1] + d * scale;
            out.push(v);
            y.push(v);
            t_last = time;
        }
        out
    }

    /// Checks a loaded forecaster.
    pub fn validate(&self) -> std::result::Result<(), String> {
        self.model
            .validate(width(&self.lags, &self.windows, self.calendar))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::timeseries::{Frequency, TimeKind};

    fn setup(season: usize) -> ForecastSetup {
        ForecastSetup {
            time_column: "t".into(),
            time_kind: TimeKind::Index,
            date_only: false,
            id_columns: vec![],
            target: "y".into(),
            frequency: Frequency::index(1),
            season,
            horizon: 4,
        }
    }

    fn series(values: Vec<f64>) -> Series {
        Series {
            key: vec![],
            times: (0..values.len() as i64).collect(),
            values,
        }
    }

    #[test]
    fn baselines_are_exact_on_toy_series() {
        let s = series(vec![1.0, 2.0, 3.0, 10.0, 20.0, 30.0]);
        assert_eq!(Method::Naive.forecast(&setup(3), &s, 4), vec![30.0; 4]);
        assert_eq!(
            Method::SeasonalNaive.forecast(&setup(3), &s, 5),
            vec![10.0, 20.0, 30.0, 10.0, 20.0]
        );
        // Shorter than a season: naive.
        assert_eq!(seasonal_naive(&[1.0, 2.0], 7, 2), vec![2.0, 2.0]);
    }

    #[test]
    fn ets_follows_a_trend_and_a_season() {
        // A straight line is forecast as (nearly) a straight line.
        let y: Vec<f64> = (0..40).map(|t| 5.0 + 2.0 * t as f64).collect();
        let f = Ets::fit(&y, 1).forecast(3);
        for (k, v) in f.iter().enumerate() {
            let want = 5.0 + 2.0 * (40 + k) as f64;
            assert!((v - want).abs() < 0.5, "{v} vs {want}");
        }
        // A pure season is repeated.
        let pat = [3.0, -1.0, 0.0, 5.0];
        let y: Vec<f64> = (0..40).map(|t| 10.0 + pat[t % 4]).collect();
        let f = Ets::fit(&y, 4).forecast(4);
        for (k, v) in f.iter().enumerate() {
            assert!((v - (10.0 + pat[k])).abs() < 1e-6, "{f:?}");
        }
    }

    #[test]
    fn gbdt_learns_a_seasonal_pattern_recursively() {
        let pat = [0.0, 4.0, 8.0, 4.0];
        let mk = |off: f64| {
            series(
                (0..120)
                    .map(|t| off + pat[t % 4] + 0.01 * t as f64)
                    .collect(),
            )
        };
        let a = mk(0.0);
        let b = mk(100.0);
        let st = setup(4);
        let p = Params {
            min_child_samples: 3,
            ..Params::default()
        };
        let g = GbdtForecaster::fit(&st, &[&a, &b], &p, None, 8, || true).expect("fits");
        // The same fit stopped after a few rounds (a deadline) is no model: its trial would be
        // reported with a backtest score it never earned.
        let mut calls = 0;
        let cut = GbdtForecaster::fit(&st, &[&a, &b], &p, Some(g.rounds().max(10)), 8, || {
            calls += 1;
            calls < 3
        });
        assert!(cut.is_none());
        let f = g.forecast(&st, &a, 4);
        for (k, v) in f.iter().enumerate() {
            let want = pat[(120 + k) % 4] + 0.01 * (120 + k) as f64;
            assert!((v - want).abs() < 1.0, "{f:?}");
        }
    }
}
