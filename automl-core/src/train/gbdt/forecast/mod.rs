//! The forecasting trainer (every method scored by rolling-origin backtest MASE, the GBDT's
//! hyper-parameters through the tabular search of `train::gbdt::search`) and the saved
//! forecaster (`automl-forecast/1`).

pub mod models;

/// Most series drawn in the forecast plot.
pub const MAX_PLOT_SERIES: usize = 12;
/// Most history steps per series in the forecast plot.
pub const MAX_PLOT_HISTORY: usize = 120;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use arrow::array::{ArrayRef, Float64Array, StringArray};
use arrow::datatypes::{DataType, Field, Schema};
use arrow::record_batch::RecordBatch;
use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use self::models::{GbdtForecaster, Method};
use crate::data::timeseries::detect::format_time;
use crate::data::timeseries::{ForecastData, ForecastSetup, Series};
use crate::error::{AutomlError, Result};
use crate::event::{
    FeatureImportance, ForecastPlot, ForecastPlotSeries, Metrics, ModelCandidate, TaskKind,
    TransformReport,
};
use crate::metrics::forecast::{mase_scale, pool, series_metrics};
use crate::train::gbdt::boost::Params;
use crate::train::gbdt::search;
use crate::train::{
    Forecaster, Predictions, TaskSpec, TrainContext, TrainInput, TrainedModel, Trainer,
    TrialRecord, rank_key,
};

/// The saved format tag.
pub const FORMAT: &str = "automl-forecast/1";

/// A trained forecaster: its setup (columns, frequency, season, horizon), its method, and
/// the backtest metrics it was chosen on.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ForecastModel {
    /// Columns, frequency, season, horizon.
    pub setup: ForecastSetup,
    /// The method.
    pub method: Method,
    /// Mean rolling-origin backtest metrics.
    pub backtest: Metrics,
}

/// Scores `method` on the backtest folds of `data`: mean MASE and sMAPE over windows, RMSE
/// and MAE over points. `None` when there is no fold.
pub fn backtest(data: &ForecastData, fit: impl Fn(usize) -> Option<Method>) -> Option<Metrics> {
    let h = data.setup.horizon;
    let folds = data.folds();
    let mut windows = vec![];
    let mut origins: Vec<usize> = folds
        .iter()
        .map(|f| data.train_len(f.series) - f.cut)
        .collect();
    origins.sort_unstable();
    origins.dedup();
    for back in origins {
        let method = fit(back)?;
        for f in folds
            .iter()
            .filter(|f| data.train_len(f.series) - f.cut == back)
        {
            let s = &data.series[f.series];
            let hist = Series {
                key: s.key.clone(),
                times: s.times[..f.cut].to_vec(),
                values: s.values[..f.cut].to_vec(),
            };
            let pred = method.forecast(&data.setup, &hist, h);
            let actual = &s.values[f.cut..f.cut + h];
            let scale = mase_scale(&hist.values, data.setup.season);
            windows.push((series_metrics(actual, &pred, scale), h));
        }
    }
    (!windows.is_empty()).then(|| pool(&windows))
}

/// Each series cut `back` steps before the end of its training part (at least 3 steps kept).
fn histories(data: &ForecastData, back: usize) -> Vec<Series> {
    data.series
        .iter()
        .enumerate()
        .filter_map(|(i, s)| {
            let n = data.train_len(i).checked_sub(back)?;
            (n >= 3).then(|| Series {
                key: s.key.clone(),
                times: s.times[..n].to_vec(),
                values: s.values[..n].to_vec(),
            })
        })
        .collect()
}

/// The trainer of forecasting runs.
#[derive(Debug, Default, Clone)]
pub struct ForecastTrainer;

impl ForecastTrainer {
    fn report(
        cx: &TrainContext,
        data: &ForecastData,
        method: Method,
        metrics: Metrics,
        params: serde_json::Map<String, serde_json::Value>,
        started: Instant,
    ) -> (f64, f64) {
        let key = rank_key(&metrics, cx.metric());
        let model = ForecastModel {
            setup: data.setup.clone(),
            method,
            backtest: metrics.clone(),
        };
        cx.report_trial(TrialRecord {
            run_id: cx.next_run_id(),
            model_name: model.method.name().to_string(),
            params,
            metrics,
            model: Arc::new(model),
            refit: None,
            duration_s: started.elapsed().as_secs_f64(),
            predictions: None,
        });
        key
    }

    fn run(data: &ForecastData, cx: &TrainContext) -> Result<()> {
        let mut methods = vec![Method::Naive];
        if data.setup.season > 1 {
            methods.push(Method::SeasonalNaive);
        }
        methods.push(Method::Ets { seasonal: false });
        if data.setup.season > 1 {
            methods.push(Method::Ets { seasonal: true });
        }
        for m in methods {
            if !cx.may_start_trial() {
                return Ok(());
            }
            let started = Instant::now();
            let Some(metrics) = backtest(data, |_| Some(m.clone())) else {
                return Err(AutomlError::Training {
                    model: m.name().to_string(),
                    message: "no backtest window fits in the training part".to_string(),
                });
            };
            let mut params = serde_json::Map::new();
            params.insert("season".into(), (data.setup.season as u64).into());
            Self::report(cx, data, m, metrics, params, started);
        }
        // The GBDT: the tabular search over its hyper-parameters, each trial scored by the
        // same backtest (one model per origin, fitted on what precedes it), then refitted on
        // the whole training part with the rounds the backtests kept.
        let h = data.setup.horizon;
        let n_rows: usize = (0..data.series.len()).map(|i| data.train_len(i)).sum();
        let base = Params {
            min_child_samples: 5.min(n_rows / 10).max(2),
            ..Params::default()
        };
        let start = vec![
            Params {
                num_leaves: 8,
                learning_rate: 0.1,
                ..base.clone()
            },
            Params {
                num_leaves: 31,
                learning_rate: 0.05,
                ..base.clone()
            },
        ];
        search::run(cx, n_rows, &base, start, |p| {
            if !cx.may_start_trial() {
                return Ok(search::Outcome::Stopped);
            }
            let started = Instant::now();
            let rounds = std::cell::Cell::new(0usize);
            let fits = std::cell::Cell::new(0usize);
            let metrics = backtest(data, |back| {
                let hist = histories(data, back);
                let refs: Vec<&Series> = hist.iter().collect();
                let g = GbdtForecaster::fit(&data.setup, &refs, p, None, h, || !cx.should_stop())?;
                rounds.set(rounds.get() + g.rounds());
                fits.set(fits.get() + 1);
                Some(Method::Gbdt(Box::new(g)))
            });
            if cx.should_stop() {
                return Ok(search::Outcome::Stopped);
            }
            let Some(metrics) = metrics else {
                return Ok(search::Outcome::Failed);
            };
            let r = (rounds.get() / fits.get().max(1)).max(1);
            let hist = histories(data, 0);
            let refs: Vec<&Series> = hist.iter().collect();
            // A refit cut short by the deadline is not reported: it is not the model the
            // backtest scored (a 3-round model once went out with a 50-round model's score).
            let Some(g) =
                GbdtForecaster::fit(&data.setup, &refs, p, Some(r), h, || !cx.should_stop())
            else {
                return Ok(if cx.should_stop() {
                    search::Outcome::Stopped
                } else {
                    search::Outcome::Failed
                });
            };
            let mut params = serde_json::Map::new();
            params.insert("num_leaves".into(), (p.num_leaves as u64).into());
            params.insert("learning_rate".into(), p.learning_rate.into());
            params.insert(
                "min_child_samples".into(),
                (p.min_child_samples as u64).into(),
            );
            params.insert("lambda_l2".into(), p.lambda_l2.into());
            params.insert("rounds".into(), (r as u64).into());
            params.insert(
                "lags".into(),
                serde_json::to_value(&g.lags).unwrap_or_default(),
            );
            let key = Self::report(
                cx,
                data,
                Method::Gbdt(Box::new(g)),
                metrics,
                params,
                started,
            );
            Ok(search::Outcome::Scored(key))
        })?;
        Ok(())
    }
}

#[async_trait]
impl Trainer for ForecastTrainer {
    fn name(&self) -> &str {
        "forecast"
    }

    fn supports(&self, task: &TaskSpec) -> bool {
        task.modality == "time_series"
    }

    fn candidates(&self, task: &TaskSpec) -> Vec<ModelCandidate> {
        let c = |model: &str, family: &str, pros: &str, cons: &str, cost: f64| ModelCandidate {
            model: model.to_string(),
            family: family.to_string(),
            trainer: "forecast".to_string(),
            pros: vec![pros.to_string()],
            cons: vec![cons.to_string()],
            estimated_cost_s: cost,
        };
        let rows = task.n_rows as f64;
        vec![
            c(
                "naive",
                "baseline",
                "the baseline every forecaster must beat",
                "no trend, no season",
                0.001,
            ),
            c(
                "seasonal_naive",
                "baseline",
                "repeats the last season; strong on steady seasonal data",
                "no trend",
                0.001,
            ),
            c(
                "ets_damped",
                "exponential_smoothing",
                "exponential smoothing with a damped trend and season, fitted per series",
                "one pattern per series, no covariates",
                rows * 2e-5,
            ),
            c(
                "gbdt_lags",
                "gradient_boosted_trees",
                "gradient-boosted trees on lags, rolling windows and calendar features, shared across series",
                "needs history; errors compound over the horizon",
                rows * 2e-4 + 0.5,
            ),
        ]
    }

    async fn train(&self, input: TrainInput, cx: TrainContext) -> Result<()> {
        let TrainInput::Forecast(data) = input else {
            return Err(AutomlError::NoTrainer {
                task: "forecasting without time-indexed data".to_string(),
            });
        };
        tokio::task::spawn_blocking(move || Self::run(&data, &cx))
            .await
            .map_err(|e| AutomlError::Internal(format!("forecast task failed: {e}")))?
    }
}

impl Forecaster for ForecastModel {
    fn setup(&self) -> &ForecastSetup {
        &self.setup
    }

    fn backtest(&self) -> &Metrics {
        &self.backtest
    }

    /// Forecasts `horizon` steps (default: the trained one) after every series of `batch`,
    /// a history with the trained time, id and target columns. Returns the id columns, the
    /// time column and `prediction`, one row per series and future step.
    fn forecast_batch(&self, batch: &RecordBatch, horizon: Option<usize>) -> Result<RecordBatch> {
        let h = horizon.unwrap_or(self.setup.horizon);
        if h == 0 {
            return Err(AutomlError::InvalidOption {
                name: "horizon".to_string(),
                message: "must be at least 1 step".to_string(),
            });
        }
        let series = crate::data::timeseries::detect::history_series(&self.setup, batch)?;
        let mut ids: Vec<Vec<String>> = vec![vec![]; self.setup.id_columns.len()];
        let mut times = vec![];
        let mut preds = vec![];
        for s in &series {
            let f = self.method.forecast(&self.setup, s, h);
            let mut t = *s.times.last().unwrap_or(&0);
            for v in f {
                t = self.setup.frequency.advance(self.setup.time_kind, t, 1);
                for (c, k) in ids.iter_mut().zip(&s.key) {
                    c.push(k.clone());
                }
                times.push(format_time(self.setup.time_kind, self.setup.date_only, t));
                preds.push(v);
            }
        }
        let mut fields = vec![];
        let mut cols: Vec<ArrayRef> = vec![];
        for (name, v) in self.setup.id_columns.iter().zip(ids) {
            fields.push(Field::new(name, DataType::Utf8, false));
            cols.push(Arc::new(StringArray::from(v)));
        }
        fields.push(Field::new(&self.setup.time_column, DataType::Utf8, false));
        cols.push(Arc::new(StringArray::from(times)));
        fields.push(Field::new("prediction", DataType::Float64, false));
        cols.push(Arc::new(Float64Array::from(preds)));
        RecordBatch::try_new(Arc::new(Schema::new(fields)), cols)
            .map_err(|e| AutomlError::Internal(format!("forecast table: {e}")))
    }

    /// Test metrics of forecasting each series' test window from its training part, per
    /// series and pooled, and the plot payload.
    fn evaluate(&self, data: &ForecastData) -> (Metrics, ForecastPlot) {
        let h = data.setup.horizon;
        let mut windows = vec![];
        let mut plot = vec![];
        for (i, s) in data.series.iter().enumerate() {
            let n = data.train_len(i);
            let hist = Series {
                key: s.key.clone(),
                times: s.times[..n].to_vec(),
                values: s.values[..n].to_vec(),
            };
            let pred = self.method.forecast(&data.setup, &hist, h);
            let actual = &s.values[n..];
            let m = series_metrics(actual, &pred, mase_scale(&hist.values, data.setup.season));
            if plot.len() < MAX_PLOT_SERIES {
                let from = n.saturating_sub(MAX_PLOT_HISTORY);
                let fmt = |t: &i64| format_time(data.setup.time_kind, data.setup.date_only, *t);
                plot.push(ForecastPlotSeries {
                    name: s.name(&data.setup),
                    history_time: s.times[from..n].iter().map(fmt).collect(),
                    history: s.values[from..n].to_vec(),
                    test_time: s.times[n..].iter().map(fmt).collect(),
                    actual: actual.to_vec(),
                    forecast: pred,
                    metrics: m.clone(),
                });
            }
            windows.push((m, h));
        }
        (
            pool(&windows),
            ForecastPlot {
                horizon: h as u64,
                series: plot,
                n_series: data.series.len() as u64,
            },
        )
    }
}

impl ForecastModel {
    /// Loads a saved forecaster.
    pub fn load(file: &Path, json: serde_json::Value) -> Result<Box<dyn TrainedModel>> {
        let bad = |message: String| AutomlError::ModelLoad {
            path: file.to_path_buf(),
            message,
        };
        let model = json
            .get("model")
            .cloned()
            .ok_or_else(|| bad("no \"model\" field".to_string()))?;
        let m: ForecastModel =
            serde_json::from_value(model).map_err(|e| bad(format!("not a forecaster: {e}")))?;
        if m.setup.horizon == 0 {
            return Err(bad("horizon 0".to_string()));
        }
        if let Method::Gbdt(g) = &m.method {
            g.validate().map_err(bad)?;
        }
        Ok(Box::new(m))
    }
}

impl TrainedModel for ForecastModel {
    fn model_name(&self) -> &str {
        self.method.name()
    }

    fn task(&self) -> TaskKind {
        TaskKind::Regression
    }

    fn classes(&self) -> &[String] {
        &[]
    }

    fn predict_batch(&self, batch: &RecordBatch) -> Result<(Predictions, TransformReport)> {
        let t = self.forecast_batch(batch, None)?;
        let v = crate::data::column_f64(t.column(t.num_columns() - 1))
            .into_iter()
            .map(|v| v.unwrap_or(f64::NAN))
            .collect();
        Ok((Predictions::Values(v), TransformReport::default()))
    }

    fn forecaster(&self) -> Option<&dyn Forecaster> {
        Some(self)
    }

    fn feature_importance(&self) -> Vec<FeatureImportance> {
        let Method::Gbdt(g) = &self.method else {
            return vec![];
        };
        let mut names: Vec<String> = g.lags.iter().map(|l| format!("lag_{l}")).collect();
        for w in &g.windows {
            names.push(format!("rolling_mean_{w}"));
            names.push(format!("rolling_std_{w}"));
        }
        if g.calendar {
            for c in [
                "day_of_week",
                "day_of_month",
                "month",
                "day_of_year",
                "hour",
            ] {
                names.push(c.to_string());
            }
        }
        names.push("position_in_range".to_string());
        crate::train::ranked_importance(
            names
                .into_iter()
                .zip(g.model.gain.iter().copied())
                .collect(),
        )
    }

    fn save(&self, dir: &Path) -> Result<Vec<PathBuf>> {
        let file = dir.join("model.json");
        let v = serde_json::json!({"format": FORMAT, "model": self});
        let text = serde_json::to_string(&v)
            .map_err(|e| AutomlError::Internal(format!("forecaster to JSON: {e}")))?;
        std::fs::write(&file, text).map_err(|e| AutomlError::io(&file, e))?;
        Ok(vec![file])
    }
}
