//! Time-indexed data for forecasting: the time column, series ids, frequency, gaps and
//! duplicates are found in the data ([`detect`]); the horizon comes from the request
//! ([`horizon`]); the test split is the last `horizon` steps of every series and models are
//! chosen by rolling-origin backtests on the rest ([`ForecastData::folds`]). The models live in
//! `train::gbdt::forecast`, the metrics in `metrics::forecast`. See docs/forecasting.md and
//! docs/decisions/0075-0076.

pub mod detect;
pub mod horizon;

use serde::{Deserialize, Serialize};

use chrono::{DateTime, Months};

/// How time is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TimeKind {
    /// Dates or date-times (times are seconds since 1970-01-01, calendar time, no zone).
    Datetime,
    /// An integer index.
    Index,
}

/// The step between observations: calendar months (`months > 0`) or a fixed number of
/// seconds (dates) or index units.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Frequency {
    /// In words: `hourly`, `daily`, `weekly`, `monthly`, `quarterly`, `yearly`, ...
    pub name: String,
    /// Calendar months per step (monthly 1, quarterly 3, yearly 12), else 0.
    pub months: u32,
    /// Seconds (dates) or index units per step when `months` is 0.
    pub step: i64,
}

impl Frequency {
    /// An integer index advancing by `step`.
    pub fn index(step: i64) -> Self {
        Frequency {
            name: if step == 1 {
                "every step".to_string()
            } else {
                format!("every {step} steps")
            },
            months: 0,
            step,
        }
    }

    /// Classifies a median step between dates, in seconds.
    pub fn from_seconds(median: i64) -> Self {
        const DAY: i64 = 86_400;
        let named = |name: &str, months: u32, step: i64| Frequency {
            name: name.to_string(),
            months,
            step,
        };
        match median {
            m if (28 * DAY..=31 * DAY).contains(&m) => named("monthly", 1, 0),
            m if (89 * DAY..=92 * DAY).contains(&m) => named("quarterly", 3, 0),
            m if (365 * DAY..=366 * DAY).contains(&m) => named("yearly", 12, 0),
            m if m == 7 * DAY => named("weekly", 0, m),
            m if m == DAY => named("daily", 0, m),
            3600 => named("hourly", 0, 3600),
            60 => named("minutely", 0, 60),
            m => named(&format!("every {m} s"), 0, m.max(1)),
        }
    }

    /// The season length in steps that the seasonal models use (1: none).
    pub fn season(&self) -> usize {
        match (self.months, self.step) {
            (1, _) => 12,
            (3, _) => 4,
            (0, 86_400) => 7,
            (0, 604_800) => 52,
            (0, 3600) => 24,
            (0, 60) => 60,
            _ => 1,
        }
    }

    /// The time `k` steps after `t`.
    pub fn advance(&self, kind: TimeKind, t: i64, k: i64) -> i64 {
        if kind == TimeKind::Datetime && self.months > 0 {
            let Some(dt) = DateTime::from_timestamp(t, 0).map(|d| d.naive_utc()) else {
                return t;
            };
            let m = Months::new((self.months as i64 * k.max(0)) as u32);
            dt.checked_add_months(m)
                .map_or(t, |d| d.and_utc().timestamp())
        } else {
            t + self.step * k
        }
    }
}

/// Most rolling-origin backtest origins.
pub const MAX_ORIGINS: usize = 3;

/// What a forecaster needs to know about its data: which columns are what, the step between
/// observations, the season length and the horizon. Saved with the model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ForecastSetup {
    /// The time column.
    pub time_column: String,
    /// Dates/date-times or an integer index.
    pub time_kind: TimeKind,
    /// True when every time value is a date without a time of day (dates are written back so).
    #[serde(default)]
    pub date_only: bool,
    /// Series-id columns (empty: one series).
    pub id_columns: Vec<String>,
    /// The value forecast.
    pub target: String,
    /// The step between observations.
    pub frequency: Frequency,
    /// The season length in steps (1: no season).
    pub season: usize,
    /// Steps forecast ahead.
    pub horizon: usize,
}

/// One series: its id values, times (seconds since 1970 for dates, the index otherwise) and
/// values, in time order, on a regular grid (gaps filled, duplicates averaged).
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// The values of the id columns (empty for a single series).
    pub key: Vec<String>,
    /// Times, increasing.
    pub times: Vec<i64>,
    /// Values, one per time.
    pub values: Vec<f64>,
}

impl Series {
    /// The series in words, e.g. `store=3` or `the series`.
    pub fn name(&self, setup: &ForecastSetup) -> String {
        if self.key.is_empty() {
            "the series".to_string()
        } else {
            setup
                .id_columns
                .iter()
                .zip(&self.key)
                .map(|(c, v)| format!("{c}={v}"))
                .collect::<Vec<_>>()
                .join(",")
        }
    }

    /// Length in steps.
    pub fn len(&self) -> usize {
        self.values.len()
    }

    /// True when the series holds no step.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }
}

/// Forecasting data: every series, split in time. The test window of each series is its last
/// `setup.horizon` steps; everything before is what models are fitted and backtested on.
#[derive(Debug, Clone)]
pub struct ForecastData {
    /// Columns, frequency, season, horizon.
    pub setup: ForecastSetup,
    /// The series (each at least [`min_length`] long).
    pub series: Vec<Series>,
}

/// One rolling-origin backtest fold of one series: fit on `values[..cut]`, score on
/// `values[cut..cut + horizon]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fold {
    /// Index of the series.
    pub series: usize,
    /// First step scored.
    pub cut: usize,
}

/// The fewest steps a series needs for `horizon` and `season`: the test window, one backtest
/// window, and enough history before it to fit on (two seasons when there is one, else 8 steps).
pub fn min_length(horizon: usize, season: usize) -> usize {
    let fit = if season > 1 { (2 * season).max(8) } else { 8 };
    2 * horizon + fit.min(2 * horizon + 8)
}

impl ForecastData {
    /// Steps before the test window of series `i` (what training sees).
    pub fn train_len(&self, i: usize) -> usize {
        self.series[i].len() - self.setup.horizon
    }

    /// The training part of every series (all but the last `horizon` steps).
    pub fn train_series(&self) -> Vec<Series> {
        self.series
            .iter()
            .enumerate()
            .map(|(i, s)| {
                let n = self.train_len(i);
                Series {
                    key: s.key.clone(),
                    times: s.times[..n].to_vec(),
                    values: s.values[..n].to_vec(),
                }
            })
            .collect()
    }

    /// Rolling-origin folds inside the training part: origins `horizon` steps apart, the
    /// latest ending where the test window starts, at most [`MAX_ORIGINS`], each leaving at
    /// least `min_fit` steps to fit on. Never touches the test window.
    pub fn folds(&self) -> Vec<Fold> {
        let h = self.setup.horizon;
        let min_fit = min_length(h, self.setup.season) - 2 * h;
        let mut out = Vec::new();
        for k in 1..=MAX_ORIGINS {
            for i in 0..self.series.len() {
                let n = self.train_len(i);
                if n >= k * h + min_fit {
                    out.push(Fold {
                        series: i,
                        cut: n - k * h,
                    });
                }
            }
        }
        out
    }

    /// Training and test rows in numbers: (train steps, test steps) over all series.
    pub fn split_sizes(&self) -> (usize, usize) {
        let test = self.series.len() * self.setup.horizon;
        let all: usize = self.series.iter().map(Series::len).sum();
        (all - test, test)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(lens: &[usize], h: usize) -> ForecastData {
        ForecastData {
            setup: ForecastSetup {
                time_column: "t".into(),
                time_kind: TimeKind::Index,
                date_only: false,
                id_columns: vec!["id".into()],
                target: "y".into(),
                frequency: Frequency::index(1),
                season: 1,
                horizon: h,
            },
            series: lens
                .iter()
                .enumerate()
                .map(|(k, n)| Series {
                    key: vec![k.to_string()],
                    times: (0..*n as i64).map(|t| t * 10 + k as i64).collect(),
                    values: (0..*n).map(|t| t as f64).collect(),
                })
                .collect(),
        }
    }

    #[test]
    fn no_training_step_is_later_than_a_test_step_of_its_series() {
        let d = data(&[40, 25, 60], 5);
        for (i, s) in d.series.iter().enumerate() {
            let n = d.train_len(i);
            let train = &d.train_series()[i];
            let test_first = s.times[n];
            assert!(train.times.iter().all(|t| *t < test_first), "series {i}");
            assert_eq!(s.len() - train.len(), 5);
        }
        // Backtest folds stay inside the training part and score after what they fit on.
        for f in d.folds() {
            assert!(f.cut + d.setup.horizon <= d.train_len(f.series));
        }
    }

    #[test]
    fn folds_are_rolling_origins_horizon_apart() {
        let d = data(&[40], 5);
        let cuts: Vec<usize> = d.folds().iter().map(|f| f.cut).collect();
        assert_eq!(cuts, vec![30, 25, 20]);
        // A short series gets fewer origins.
        let d = data(&[22], 5);
        let cuts: Vec<usize> = d.folds().iter().map(|f| f.cut).collect();
        assert_eq!(cuts, vec![12]);
    }

    #[test]
    fn min_length_covers_test_backtest_and_fit() {
        assert_eq!(min_length(14, 7), 28 + 14);
        assert_eq!(min_length(2, 1), 4 + 8);
        assert_eq!(min_length(12, 12), 24 + 24);
    }
}
