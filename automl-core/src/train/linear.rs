//! The first tabular trainer: multinomial logistic regression (linfa-logistic, L-BFGS) for
//! classification and ordinary least squares (linfa-linear) for regression.
//!
//! Logistic regression is trained in chunks of L-BFGS iterations, each warm-started from the
//! last, so that loss curves (METRIC_SCALAR), progress and the descent path (GD_PATH_UPDATE)
//! stream while it trains and a deadline or cancel can cut a trial short.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use arrow::record_batch::RecordBatch;
use async_trait::async_trait;
use linfa::prelude::*;
use linfa_linear::LinearRegression;
use linfa_logistic::MultiLogisticRegression;
use ndarray::{Array1, Array2, Axis};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::data::preprocess::{Pipeline, TabularData, Targets};
use crate::error::{AutomlError, Result};
use crate::event::{
    Event, FeatureImportance, GdPathPayload, MetricScalarPayload, ModelCandidate,
    TrainProgressPayload, TrainRunFinishedPayload, TrainRunStartedPayload,
};
use crate::event::{TaskKind, TransformReport};
use crate::metrics;
use crate::train::{
    PredictionRows, Predictions, TaskSpec, TrainContext, TrainInput, TrainedModel, Trainer,
    TrialPredictions, TrialRecord,
};

/// The `format` field of a saved linear model.
pub const FORMAT: &str = "automl-linear/1";

/// Loads a model of this format from its `model.json` (registered in the model format registry).
pub fn load(file: &std::path::Path, json: serde_json::Value) -> Result<Box<dyn TrainedModel>> {
    LinearModel::from_json(json)
        .map(|m| Box::new(m) as Box<dyn TrainedModel>)
        .map_err(|message| AutomlError::ModelLoad {
            path: file.to_path_buf(),
            message,
        })
}
/// L-BFGS iterations per chunk (one point of the curves each) on small matrices.
const CHUNK: u64 = 5;
/// On large matrices (e.g. hashed text), longer chunks: fewer solver restarts and evaluations.
const LARGE_CHUNK: u64 = 15;
const LARGE_CELLS: usize = 2_000_000;
/// Most L-BFGS iterations per trial.
const MAX_ITERATIONS: u64 = 150;
/// Regularisation strengths tried, in order (weak first: it suits wide hashed-text matrices,
/// where the first trial gets most of the time).
const ALPHAS: [f64; 3] = [0.1, 1.0, 10.0];

/// Logistic and linear regression.
#[derive(Debug, Default, Clone)]
pub struct LinearTrainer;

#[async_trait]
impl Trainer for LinearTrainer {
    fn name(&self) -> &str {
        "linear"
    }

    fn supports(&self, task: &TaskSpec) -> bool {
        task.modality == "tabular" || task.modality == "text"
    }

    fn candidates(&self, task: &TaskSpec) -> Vec<ModelCandidate> {
        // Cost model: one pass over the matrix per iteration, measured at about 1e9 cells/s
        // after optimisation, plus a fixed overhead per trial.
        let cells = (task.n_rows * task.n_features.max(1)) as f64;
        match task.task {
            TaskKind::Classification => vec![ModelCandidate {
                model: "logistic_regression".to_string(),
                family: "linear".to_string(),
                trainer: self.name().to_string(),
                pros: vec![
                    "fast and hard to overfit with L2 regularisation".to_string(),
                    "calibrated probabilities and readable coefficients".to_string(),
                    "strong on sparse text features".to_string(),
                ],
                cons: vec![
                    "only linear decision boundaries in the encoded features".to_string(),
                    "misses interactions unless they are engineered".to_string(),
                ],
                estimated_cost_s: ALPHAS.len() as f64
                    * (0.02 + cells * task.n_classes.max(2) as f64 * MAX_ITERATIONS as f64 * 2e-9),
            }],
            TaskKind::Regression => vec![ModelCandidate {
                model: "linear_regression".to_string(),
                family: "linear".to_string(),
                trainer: self.name().to_string(),
                pros: vec![
                    "closed form: trains in one pass".to_string(),
                    "readable coefficients".to_string(),
                ],
                cons: vec![
                    "assumes a linear relation; curved effects are missed".to_string(),
                    "sensitive to outliers".to_string(),
                ],
                estimated_cost_s: 0.01 + cells * task.n_features.max(1) as f64 * 2e-9,
            }],
        }
    }

    async fn train(&self, input: TrainInput, cx: TrainContext) -> Result<()> {
        let TrainInput::Tabular(data) = input else {
            return Err(AutomlError::Training {
                model: "linear".to_string(),
                message: "the linear trainer takes tabular data".to_string(),
            });
        };
        let task = data.pipeline.task;
        tokio::task::spawn_blocking(move || match task {
            TaskKind::Classification => train_logistic(&data, &cx),
            TaskKind::Regression => train_ols(&data, &cx),
        })
        .await
        .map_err(|e| AutomlError::Training {
            model: "linear".to_string(),
            message: format!("training task failed: {e}"),
        })?
    }
}

fn params_map(v: serde_json::Value) -> serde_json::Map<String, serde_json::Value> {
    match v {
        serde_json::Value::Object(m) => m,
        _ => serde_json::Map::new(),
    }
}

fn softmax_rows(z: &mut Array2<f64>) {
    for mut row in z.rows_mut() {
        let m = row.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        row.mapv_inplace(|v| (v - m).exp());
        let s = row.sum();
        row.mapv_inplace(|v| v / s);
    }
}

fn fit_once(
    x: &Array2<f64>,
    y: &[usize],
    alpha: f64,
    iterations: u64,
) -> Result<(Array2<f64>, Vec<usize>)> {
    let d = x.ncols();
    let mut seen: Vec<usize> = y.to_vec();
    seen.sort_unstable();
    seen.dedup();
    let fitted = MultiLogisticRegression::default()
        .alpha(alpha)
        .max_iterations(iterations)
        .fit(&Dataset::new(x.clone(), Array1::from(y.to_vec())))
        .map_err(|e| AutomlError::Training {
            model: "logistic_regression".to_string(),
            message: e.to_string(),
        })?;
    let mut w = Array2::<f64>::zeros((d + 1, seen.len()));
    w.slice_mut(ndarray::s![..d, ..]).assign(fitted.params());
    w.row_mut(d).assign(fitted.intercept());
    Ok((w, seen))
}

fn train_logistic(data: &TabularData, cx: &TrainContext) -> Result<()> {
    let Targets::Classes(y_train) = &data.y_train else {
        return Err(AutomlError::Internal(
            "classification without classes".to_string(),
        ));
    };
    let Targets::Classes(y_valid) = &data.y_valid else {
        return Err(AutomlError::Internal(
            "classification without classes".to_string(),
        ));
    };
    let k = data.pipeline.classes.len();
    // Small data: score by cross-validation on train + valid, and fit the trial's model on all
    // of it; otherwise fit on train and score on valid.
    let cv = data.use_cv();
    let (x_fit, y_fit) = if cv {
        let (_, x, y) = data.train_and_valid()?;
        let Targets::Classes(y) = y else {
            return Err(AutomlError::Internal(
                "classification without classes".to_string(),
            ));
        };
        (x, y)
    } else {
        (data.x_train.clone(), y_train.clone())
    };
    let d = x_fit.ncols();
    let dataset = Dataset::new(x_fit.clone(), Array1::from(y_fit.clone()));
    let mut seen: Vec<usize> = y_fit.clone();
    seen.sort_unstable();
    seen.dedup();
    if seen.len() < 2 {
        return Err(AutomlError::BadTarget {
            target: data.pipeline.target.clone(),
            reason: "the training rows hold a single class".to_string(),
        });
    }
    let folds = if cv {
        crate::data::preprocess::folds(
            y_fit.len(),
            Some(&y_fit),
            crate::data::preprocess::CV_FOLDS,
            cx.seed,
        )
    } else {
        vec![]
    };
    for alpha in ALPHAS {
        if !cx.may_start_trial() {
            break;
        }
        let run_id = cx.next_run_id();
        let mut params = params_map(
            json!({"alpha": alpha, "solver": "lbfgs", "max_iterations": MAX_ITERATIONS}),
        );
        if cv {
            params.insert("cv_folds".into(), (folds.len() as u64).into());
        }
        cx.emit(Event::TrainRunStarted(TrainRunStartedPayload {
            run_id: run_id.clone(),
            model: "logistic_regression".to_string(),
            params: params.clone(),
        }));
        let started = Instant::now();
        // Cross-validated score first (small data).
        let mut cv_metrics = None;
        let mut oof_kept = None;
        if cv {
            let mut oof = Array2::<f64>::zeros((y_fit.len(), k));
            let mut complete = true;
            for (fi, held) in folds.iter().enumerate() {
                if cx.should_stop() {
                    complete = false;
                    break;
                }
                let held_set: std::collections::HashSet<usize> = held.iter().copied().collect();
                let fit_idx: Vec<usize> =
                    (0..y_fit.len()).filter(|i| !held_set.contains(i)).collect();
                let xf = x_fit.select(Axis(0), &fit_idx);
                let yf: Vec<usize> = fit_idx.iter().map(|i| y_fit[*i]).collect();
                let (w, s) = fit_once(&xf, &yf, alpha, MAX_ITERATIONS)?;
                let m = LinearModel::from_logistic(&data.pipeline, &w, &s, k, alpha);
                let xh = x_fit.select(Axis(0), held);
                let p = m.proba(&xh);
                for (j, i) in held.iter().enumerate() {
                    oof.row_mut(*i).assign(&p.row(j));
                }
                let yh: Vec<usize> = held.iter().map(|i| y_fit[*i]).collect();
                cx.emit(Event::MetricScalar(MetricScalarPayload {
                    run_id: run_id.clone(),
                    name: "loss".to_string(),
                    split: "valid".to_string(),
                    step: fi as u64 + 1,
                    value: metrics::classification(&yh, &p)["log_loss"],
                }));
            }
            if !complete {
                cx.emit(Event::TrainRunFinished(TrainRunFinishedPayload {
                    run_id,
                    model: "logistic_regression".to_string(),
                    metrics: Default::default(),
                    duration_s: started.elapsed().as_secs_f64(),
                    status: if cx.cancel.is_cancelled() {
                        "cancelled"
                    } else {
                        "cut_by_budget"
                    }
                    .to_string(),
                }));
                break;
            }
            cv_metrics = Some(metrics::classification(&y_fit, &oof));
            oof_kept = Some(oof);
        }
        // (d + 1) × seen-classes parameters; the last row is the intercept.
        let mut w = Array2::<f64>::zeros((d + 1, seen.len()));
        let mut trajectory = vec![w.iter().copied().collect::<Vec<f64>>()];
        let chunk = if x_fit.len() > LARGE_CELLS {
            LARGE_CHUNK
        } else {
            CHUNK
        };
        let steps = MAX_ITERATIONS / chunk;
        let mut losses = vec![];
        let mut best_model: Option<LinearModel> = None;
        let mut status = "completed";
        for step in 1..=steps {
            if cx.should_stop() {
                status = if cx.cancel.is_cancelled() {
                    "cancelled"
                } else {
                    "cut_by_budget"
                };
                break;
            }
            let fitted = MultiLogisticRegression::default()
                .alpha(alpha)
                .max_iterations(chunk)
                .initial_params(w.clone())
                .fit(&dataset)
                .map_err(|e| AutomlError::Training {
                    model: "logistic_regression".to_string(),
                    message: e.to_string(),
                })?;
            let mut next = Array2::<f64>::zeros((d + 1, seen.len()));
            next.slice_mut(ndarray::s![..d, ..]).assign(fitted.params());
            next.row_mut(d).assign(fitted.intercept());
            let change = (&next - &w).mapv(|v| v * v).sum().sqrt();
            let scale = next.mapv(|v| v * v).sum().sqrt().max(1.0);
            w = next;
            trajectory.push(w.iter().copied().collect());

            let model = LinearModel::from_logistic(&data.pipeline, &w, &seen, k, alpha);
            let m_train = metrics::classification(&y_fit, &model.proba(&x_fit));
            let mut curves = vec![("train", m_train.clone())];
            if !cv {
                curves.push((
                    "valid",
                    metrics::classification(y_valid, &model.proba(&data.x_valid)),
                ));
            }
            let step_u = step * chunk;
            for (split, m) in &curves {
                for name in ["loss", "accuracy"] {
                    let key = if name == "loss" { "log_loss" } else { name };
                    cx.emit(Event::MetricScalar(MetricScalarPayload {
                        run_id: run_id.clone(),
                        name: name.to_string(),
                        split: split.to_string(),
                        step: step_u,
                        value: m[key],
                    }));
                }
            }
            losses.push(m_train["log_loss"]);
            let mut all_losses = vec![losses[0]];
            all_losses.extend(losses.iter().copied());
            cx.emit(Event::GdPathUpdate(GdPathPayload {
                run_id: run_id.clone(),
                points: crate::train::path::project(&trajectory, &all_losses),
            }));
            let elapsed = started.elapsed().as_secs_f64();
            cx.emit(Event::TrainProgress(TrainProgressPayload {
                run_id: run_id.clone(),
                step,
                steps,
                eta_s: Some(elapsed / step as f64 * (steps - step) as f64),
            }));
            best_model = Some(model);
            if change / scale < 1e-6 {
                break;
            }
        }
        let Some(model) = best_model else {
            cx.emit(Event::TrainRunFinished(TrainRunFinishedPayload {
                run_id,
                model: "logistic_regression".to_string(),
                metrics: Default::default(),
                duration_s: started.elapsed().as_secs_f64(),
                status: status.to_string(),
            }));
            break;
        };
        let (valid_metrics, held_out) = match (cv_metrics, oof_kept) {
            (Some(m), Some(oof)) => (m, (PredictionRows::OutOfFold, oof)),
            _ => {
                let p = model.proba(&data.x_valid);
                (
                    metrics::classification(y_valid, &p),
                    (PredictionRows::Valid, p),
                )
            }
        };
        cx.emit(Event::TrainRunFinished(TrainRunFinishedPayload {
            run_id: run_id.clone(),
            model: "logistic_regression".to_string(),
            metrics: valid_metrics.clone(),
            duration_s: started.elapsed().as_secs_f64(),
            status: status.to_string(),
        }));
        let iterations = model_iterations(&trajectory, chunk);
        cx.report_trial(TrialRecord {
            run_id,
            model_name: "logistic_regression".to_string(),
            params,
            metrics: valid_metrics,
            model: Arc::new(model),
            // Under cross-validation the model already saw train + valid.
            refit: (!cv).then(|| refit_logistic(alpha, iterations)),
            duration_s: started.elapsed().as_secs_f64(),
            predictions: Some(TrialPredictions {
                rows: held_out.0,
                predictions: Predictions::Classes {
                    classes: data.pipeline.classes.clone(),
                    proba: held_out.1,
                },
            }),
        });
    }
    Ok(())
}

fn train_ols(data: &TabularData, cx: &TrainContext) -> Result<()> {
    let Targets::Values(y_train) = &data.y_train else {
        return Err(AutomlError::Internal(
            "regression without values".to_string(),
        ));
    };
    let Targets::Values(y_valid) = &data.y_valid else {
        return Err(AutomlError::Internal(
            "regression without values".to_string(),
        ));
    };
    if !cx.may_start_trial() {
        return Ok(());
    }
    let run_id = cx.next_run_id();
    let params = params_map(json!({"fit_intercept": true, "solver": "least_squares"}));
    cx.emit(Event::TrainRunStarted(TrainRunStartedPayload {
        run_id: run_id.clone(),
        model: "linear_regression".to_string(),
        params: params.clone(),
    }));
    let started = Instant::now();
    let model = fit_ols(&data.pipeline, data.x_train.clone(), y_train.clone())?;
    let tr = metrics::regression(y_train, &model.values(&data.x_train));
    let va = metrics::regression(y_valid, &model.values(&data.x_valid));
    for (split, m) in [("train", &tr), ("valid", &va)] {
        for name in ["rmse", "r2"] {
            cx.emit(Event::MetricScalar(MetricScalarPayload {
                run_id: run_id.clone(),
                name: if name == "rmse" {
                    "loss".to_string()
                } else {
                    name.to_string()
                },
                split: split.to_string(),
                step: 1,
                value: m[name],
            }));
        }
    }
    cx.emit(Event::TrainProgress(TrainProgressPayload {
        run_id: run_id.clone(),
        step: 1,
        steps: 1,
        eta_s: Some(0.0),
    }));
    cx.emit(Event::TrainRunFinished(TrainRunFinishedPayload {
        run_id: run_id.clone(),
        model: "linear_regression".to_string(),
        metrics: va.clone(),
        duration_s: started.elapsed().as_secs_f64(),
        status: "completed".to_string(),
    }));
    let held_out = model.values(&data.x_valid);
    cx.report_trial(TrialRecord {
        run_id,
        model_name: "linear_regression".to_string(),
        params,
        metrics: va,
        model: Arc::new(model),
        refit: Some(Arc::new(|data: &TabularData| {
            let (_, x, y) = data.train_and_valid()?;
            let Targets::Values(y) = y else {
                return Err(AutomlError::Internal(
                    "regression without values".to_string(),
                ));
            };
            Ok(Arc::new(fit_ols(&data.pipeline, x, y)?) as Arc<dyn TrainedModel>)
        })),
        duration_s: started.elapsed().as_secs_f64(),
        predictions: Some(TrialPredictions {
            rows: PredictionRows::Valid,
            predictions: Predictions::Values(held_out),
        }),
    });
    Ok(())
}

fn fit_ols(pipeline: &Pipeline, x: Array2<f64>, y: Vec<f64>) -> Result<LinearModel> {
    let d = x.ncols();
    let dataset = Dataset::new(x, Array1::from(y));
    let fitted = LinearRegression::new()
        .fit(&dataset)
        .map_err(|e| AutomlError::Training {
            model: "linear_regression".to_string(),
            message: e.to_string(),
        })?;
    let mut w = Array2::<f64>::zeros((d + 1, 1));
    w.slice_mut(ndarray::s![..d, 0]).assign(fitted.params());
    w[[d, 0]] = fitted.intercept();
    Ok(LinearModel {
        format: FORMAT.to_string(),
        name: "linear_regression".to_string(),
        pipeline: pipeline.clone(),
        weights: w.rows().into_iter().map(|r| r.to_vec()).collect(),
        params: json!({"fit_intercept": true}),
    })
}

fn model_iterations(trajectory: &[Vec<f64>], chunk: u64) -> u64 {
    (trajectory.len().saturating_sub(1) as u64 * chunk).max(chunk)
}

/// Refits logistic regression with `alpha` for the validated number of iterations on train +
/// valid, in one L-BFGS run.
fn refit_logistic(alpha: f64, iterations: u64) -> crate::train::RefitFn {
    Arc::new(move |data: &TabularData| {
        let (_, x, y) = data.train_and_valid()?;
        let Targets::Classes(y) = y else {
            return Err(AutomlError::Internal(
                "classification without classes".to_string(),
            ));
        };
        let k = data.pipeline.classes.len();
        let (w, seen) = fit_once(&x, &y, alpha, iterations)?;
        Ok(Arc::new(LinearModel::from_logistic(
            &data.pipeline,
            &w,
            &seen,
            k,
            alpha,
        )) as Arc<dyn TrainedModel>)
    })
}

/// A fitted linear model with its pipeline; saved as one JSON file.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LinearModel {
    /// Always [`FORMAT`].
    pub format: String,
    /// `logistic_regression` or `linear_regression`.
    pub name: String,
    /// The fitted preprocessing.
    pub pipeline: Pipeline,
    /// (features + 1) rows × outputs; the last row is the intercept.
    pub weights: Vec<Vec<f64>>,
    /// Hyper-parameters.
    pub params: serde_json::Value,
}

impl LinearModel {
    fn from_logistic(
        pipeline: &Pipeline,
        w: &Array2<f64>,
        seen: &[usize],
        k: usize,
        alpha: f64,
    ) -> LinearModel {
        let rows = w.nrows();
        // Classes absent from training get a very low intercept: probability ~0.
        let mut full = vec![vec![0.0; k]; rows];
        for c in 0..k {
            full[rows - 1][c] = -1e9;
        }
        for (j, c) in seen.iter().enumerate() {
            for r in 0..rows {
                full[r][*c] = w[[r, j]];
            }
        }
        LinearModel {
            format: FORMAT.to_string(),
            name: "logistic_regression".to_string(),
            pipeline: pipeline.clone(),
            weights: full,
            params: json!({"alpha": alpha}),
        }
    }

    /// Parses a saved model and checks it: format, pipeline, one weight row per feature plus
    /// the intercept, every row as wide as the outputs (one per class, or one for
    /// regression), finite weights. A hostile or corrupt file is an error, never a panic.
    pub fn from_json(v: serde_json::Value) -> std::result::Result<Self, String> {
        let m: LinearModel = serde_json::from_value(v).map_err(|e| e.to_string())?;
        if m.format != FORMAT {
            return Err(format!("format {:?}, expected {FORMAT:?}", m.format));
        }
        m.pipeline.validate()?;
        let width = m.pipeline.width();
        if m.weights.len() != width + 1 {
            return Err(format!(
                "weights have {} rows, the pipeline makes {} features (+1 intercept)",
                m.weights.len(),
                width
            ));
        }
        let outputs = match m.pipeline.task {
            TaskKind::Classification => m.pipeline.classes.len(),
            TaskKind::Regression => 1,
        };
        let expected = match m.pipeline.task {
            TaskKind::Classification => "logistic_regression",
            TaskKind::Regression => "linear_regression",
        };
        if m.name != expected {
            return Err(format!(
                "model {:?} cannot be a {} model (expected {expected:?})",
                m.name,
                m.pipeline.task.as_str()
            ));
        }
        for (r, row) in m.weights.iter().enumerate() {
            if row.len() != outputs {
                return Err(format!(
                    "weight row {r} has {} values, expected {outputs} (ragged weights)",
                    row.len()
                ));
            }
            if row.iter().any(|w| !w.is_finite()) {
                return Err(format!(
                    "weight row {r} holds a value that is not a finite number"
                ));
            }
        }
        Ok(m)
    }

    fn linear(&self, x: &Array2<f64>) -> Array2<f64> {
        let rows = self.weights.len();
        let outs = self.weights.first().map_or(0, Vec::len);
        let w = Array2::from_shape_fn((rows, outs), |(r, c)| self.weights[r][c]);
        let d = rows - 1;
        let mut z = x.dot(&w.slice(ndarray::s![..d, ..]));
        z += &w.row(d).insert_axis(Axis(0));
        z
    }

    fn proba(&self, x: &Array2<f64>) -> Array2<f64> {
        let mut z = self.linear(x);
        softmax_rows(&mut z);
        z
    }

    fn values(&self, x: &Array2<f64>) -> Vec<f64> {
        self.linear(x).column(0).to_vec()
    }
}

impl TrainedModel for LinearModel {
    fn model_name(&self) -> &str {
        &self.name
    }

    fn task(&self) -> TaskKind {
        self.pipeline.task
    }

    fn classes(&self) -> &[String] {
        &self.pipeline.classes
    }

    fn predict_batch(&self, batch: &RecordBatch) -> Result<(Predictions, TransformReport)> {
        let (x, report) = self.pipeline.transform(batch);
        let p = match self.pipeline.task {
            TaskKind::Classification => Predictions::Classes {
                classes: self.pipeline.classes.clone(),
                proba: self.proba(&x),
            },
            TaskKind::Regression => Predictions::Values(self.values(&x)),
        };
        Ok((p, report))
    }

    fn feature_importance(&self) -> Vec<FeatureImportance> {
        // Inputs are standardised, so |coefficient| compares across features; summed over
        // outputs and over the encoded columns of each input column.
        let mut by_col: Vec<(String, f64)> = Vec::new();
        let mut off = 0;
        for step in &self.pipeline.steps {
            let width = step.width();
            let s: f64 = (off..off + width)
                .map(|r| self.weights[r].iter().map(|v| v.abs()).sum::<f64>())
                .sum();
            by_col.push((step.column().to_string(), s));
            off += width;
        }
        let total: f64 = by_col.iter().map(|c| c.1).sum::<f64>().max(1e-300);
        let mut out: Vec<FeatureImportance> = by_col
            .into_iter()
            .map(|(feature, s)| FeatureImportance {
                feature,
                importance: s / total,
            })
            .collect();
        out.sort_by(|a, b| b.importance.total_cmp(&a.importance));
        out
    }

    fn save(&self, dir: &Path) -> Result<Vec<PathBuf>> {
        let path = dir.join("model.json");
        let text = serde_json::to_string(self)
            .map_err(|e| AutomlError::Internal(format!("model serialisation: {e}")))?;
        std::fs::write(&path, text).map_err(|e| AutomlError::io(&path, e))?;
        Ok(vec![path])
    }
}
