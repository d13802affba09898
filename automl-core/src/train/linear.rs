//! The first tabular trainer: multinomial logistic regression (L2, fitted by this module's
//! L-BFGS; linfa-logistic's solver was replaced for speed, decisions/0102) for classification
//! and ordinary least squares (linfa-linear) for regression.
//!
//! Logistic regression is trained in chunks of L-BFGS iterations, each warm-started from the
//! last, so that loss curves (METRIC_SCALAR), progress and the descent path (GD_PATH_UPDATE)
//! stream while it trains and a deadline or cancel can cut a trial short.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use arrow::record_batch::RecordBatch;
use async_trait::async_trait;
use ndarray::{Array1, Array2, Axis};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::data::preprocess::{Pipeline, TabularData, Targets};
use crate::data::text::Csr;
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
/// Iterations of the quick first logistic fit (see `train_logistic`).
const QUICK_ITERATIONS: u64 = 20;
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
        let sparse = data.pipeline.sparse_width() > 0;
        tokio::task::spawn_blocking(move || match task {
            _ if sparse => train_sparse(&data, &cx),
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
    let mut seen: Vec<usize> = y.to_vec();
    seen.sort_unstable();
    seen.dedup();
    let w = DenseLogistic::new(x, y, &seen, alpha).fit(None, iterations);
    Ok((w, seen))
}

/// A dense multinomial logistic fit by this module's L-BFGS over the rows as CSR: the
/// objective of linfa-logistic (summed log loss + `alpha / 2 · |W|²`, intercepts free) as a
/// mean, so `alpha` means what it did. linfa's solver evaluated loss and gradient in separate
/// passes and repacked the matrix for every product: a 150-iteration fit of 1,150 rows × 46
/// features × 10 classes took 2.4 s, 7 s for a cross-validated trial, which on a 10 s budget
/// left the trees no completed trial (decisions/0102).
struct DenseLogistic {
    x: Csr,
    /// Class positions in `seen` (the model's columns).
    y: Vec<usize>,
    k: usize,
    lambda: f64,
}

impl DenseLogistic {
    /// `seen` is the sorted classes of `y` (so every label has a position).
    fn new(x: &Array2<f64>, y: &[usize], seen: &[usize], alpha: f64) -> DenseLogistic {
        DenseLogistic {
            x: rows_csr(x.ncols(), x, None),
            y: y.iter()
                .map(|c| seen.binary_search(c).unwrap_or(0))
                .collect(),
            k: seen.len(),
            lambda: alpha / y.len().max(1) as f64,
        }
    }

    /// Runs at most `iterations` L-BFGS iterations from `init` (zeros when `None`); returns
    /// the (d + 1) × k weights, the last row the intercepts.
    fn fit(&self, init: Option<&Array2<f64>>, iterations: u64) -> Array2<f64> {
        let obj = SparseObjective {
            x: &self.x,
            y: Target::Classes(&self.y),
            w: vec![1.0; self.y.len()],
            k: self.k,
            lambda: self.lambda,
        };
        let d = self.x.ncols;
        let mut theta: Vec<f64> = match init {
            Some(w) => w.iter().copied().collect(),
            None => vec![0.0; (d + 1) * self.k],
        };
        lbfgs(
            &|t, g| obj.eval(t, g),
            &mut theta,
            iterations,
            &|| false,
            &mut |_, _| {},
        );
        Array2::from_shape_vec((d + 1, self.k), theta)
            .unwrap_or_else(|_| Array2::zeros((d + 1, self.k)))
    }
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
        // Grouped: exact duplicate rows stay in one fold.
        data.cv_folds(Some(&y_fit), crate::data::preprocess::CV_FOLDS, cx.seed)
    } else {
        vec![]
    };
    // When no trial of the run has finished yet, a short fit comes first, so a first model is
    // ready within a second on small data.
    let quick = (cx.trials() == 0).then_some((ALPHAS[1], QUICK_ITERATIONS));
    for (alpha, max_iter) in quick
        .into_iter()
        .chain(ALPHAS.iter().map(|a| (*a, MAX_ITERATIONS)))
    {
        if !cx.may_start_trial() {
            break;
        }
        let run_id = cx.next_run_id();
        let mut params =
            params_map(json!({"alpha": alpha, "solver": "lbfgs", "max_iterations": max_iter}));
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
                let (w, s) = fit_once(&xf, &yf, alpha, max_iter)?;
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
        let solver = DenseLogistic::new(&x_fit, &y_fit, &seen, alpha);
        let mut trajectory = vec![w.iter().copied().collect::<Vec<f64>>()];
        let chunk = if x_fit.len() > LARGE_CELLS {
            LARGE_CHUNK
        } else {
            CHUNK
        };
        let chunk = chunk.min(max_iter);
        let steps = max_iter / chunk;
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
            let next = solver.fit(Some(&w), chunk);
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

/// The L2 penalties least squares tries (as scikit-learn's `Ridge(alpha)`: the penalty is
/// `alpha · |w|²` beside the residual sum of squares, on the standardised columns); 0 is plain
/// least squares. The one with the lowest held-out RMSE is kept (decisions/0105).
pub const RIDGE_ALPHAS: [f64; 6] = [0.0, 0.1, 1.0, 10.0, 100.0, 1000.0];

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
    let params = params_map(json!({
        "fit_intercept": true,
        "solver": "least_squares",
        "ridge_alphas": RIDGE_ALPHAS.to_vec(),
    }));
    cx.emit(Event::TrainRunStarted(TrainRunStartedPayload {
        run_id: run_id.clone(),
        model: "linear_regression".to_string(),
        params: params.clone(),
    }));
    let started = Instant::now();
    if data.use_cv() {
        return ols_cv(data, cx, run_id, params, started);
    }
    let train = Gram::new(&data.x_train, y_train);
    let fits: Vec<Option<LsFit>> = RIDGE_ALPHAS.iter().map(|a| train.solve(*a).ok()).collect();
    let held: Vec<Option<Vec<f64>>> = fits
        .iter()
        .map(|f| f.as_ref().map(|f| f.predict(&data.x_valid)))
        .collect();
    let Some((k, held_out)) = lowest_rmse(y_valid, held) else {
        return Err(no_solution(data.x_train.ncols()));
    };
    let alpha = RIDGE_ALPHAS[k];
    let Some(fit) = fits.into_iter().nth(k).flatten() else {
        return Err(no_solution(data.x_train.ncols()));
    };
    let model = LinearModel::least_squares(&data.pipeline, fit, alpha);
    let tr = metrics::regression(y_train, &model.values(&data.x_train));
    let va = metrics::regression(y_valid, &held_out);
    for (split, m) in [("train", &tr), ("valid", &va)] {
        emit_ols_metrics(cx, &run_id, split, m);
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
    let mut params = params;
    params.insert("ridge_alpha".into(), alpha.into());
    cx.report_trial(TrialRecord {
        run_id,
        model_name: "linear_regression".to_string(),
        params,
        metrics: va,
        model: Arc::new(model),
        refit: Some(Arc::new(move |data: &TabularData| {
            let (_, x, y) = data.train_and_valid()?;
            let Targets::Values(y) = y else {
                return Err(AutomlError::Internal(
                    "regression without values".to_string(),
                ));
            };
            Ok(Arc::new(fit_ols(&data.pipeline, &x, &y, alpha)?) as Arc<dyn TrainedModel>)
        })),
        duration_s: started.elapsed().as_secs_f64(),
        predictions: Some(TrialPredictions {
            rows: PredictionRows::Valid,
            predictions: Predictions::Values(held_out),
        }),
    });
    Ok(())
}

fn no_solution(d: usize) -> AutomlError {
    AutomlError::Training {
        model: "linear_regression".to_string(),
        message: format!("no least-squares solution over {d} columns at any ridge penalty"),
    }
}

/// Small data (decisions/0098): least squares scored by the same cross-validation folds as the
/// tree searches (one validation split of a few hundred rows made its score too noisy to
/// compare with theirs, and its validation-row predictions could not join their out-of-fold
/// ensemble); every ridge penalty is scored on the folds' out-of-fold predictions, and the
/// trial's model is fitted on all of train + valid with the best one.
fn ols_cv(
    data: &TabularData,
    cx: &TrainContext,
    run_id: String,
    params: serde_json::Map<String, serde_json::Value>,
    started: Instant,
) -> Result<()> {
    let (_, x, y) = data.train_and_valid()?;
    let Targets::Values(y) = y else {
        return Err(AutomlError::Internal(
            "regression without values".to_string(),
        ));
    };
    let n = y.len();
    let folds = data.cv_folds(None, crate::data::preprocess::CV_FOLDS, cx.seed);
    // Out-of-fold predictions per penalty; a penalty that cannot be solved on a fold drops out.
    let mut oof: Vec<Option<Vec<f64>>> = vec![Some(vec![0.0; n]); RIDGE_ALPHAS.len()];
    for (fi, held) in folds.iter().enumerate() {
        let mut is_held = vec![false; n];
        for i in held {
            is_held[*i] = true;
        }
        let fit_idx: Vec<usize> = (0..n).filter(|i| !is_held[*i]).collect();
        let xf = x.select(Axis(0), &fit_idx);
        let yf: Vec<f64> = fit_idx.iter().map(|i| y[*i]).collect();
        let xh = x.select(Axis(0), held);
        let gram = Gram::new(&xf, &yf);
        for (k, alpha) in RIDGE_ALPHAS.iter().enumerate() {
            let Some(out) = oof[k].as_mut() else { continue };
            match gram.solve(*alpha) {
                Ok(w) => {
                    for (j, p) in held.iter().zip(w.predict(&xh)) {
                        out[*j] = p;
                    }
                }
                Err(_) => oof[k] = None,
            }
        }
        cx.emit(Event::TrainProgress(TrainProgressPayload {
            run_id: run_id.clone(),
            step: fi as u64 + 1,
            steps: folds.len() as u64,
            eta_s: None,
        }));
    }
    let Some((k, oof)) = lowest_rmse(&y, oof) else {
        return Err(no_solution(x.ncols()));
    };
    let alpha = RIDGE_ALPHAS[k];
    let va = metrics::regression(&y, &oof);
    let model = fit_ols(&data.pipeline, &x, &y, alpha)?;
    let mut params = params;
    params.insert("cv_folds".into(), (folds.len() as u64).into());
    params.insert("ridge_alpha".into(), alpha.into());
    emit_ols_metrics(cx, &run_id, "valid", &va);
    cx.emit(Event::TrainRunFinished(TrainRunFinishedPayload {
        run_id: run_id.clone(),
        model: "linear_regression".to_string(),
        metrics: va.clone(),
        duration_s: started.elapsed().as_secs_f64(),
        status: "completed".to_string(),
    }));
    cx.report_trial(TrialRecord {
        run_id,
        model_name: "linear_regression".to_string(),
        params,
        metrics: va,
        model: Arc::new(model),
        refit: None,
        duration_s: started.elapsed().as_secs_f64(),
        predictions: Some(TrialPredictions {
            rows: PredictionRows::OutOfFold,
            predictions: Predictions::Values(oof),
        }),
    });
    Ok(())
}

/// A least-squares fit's one-step curves on `split`: RMSE as `loss`, and R².
fn emit_ols_metrics(cx: &TrainContext, run_id: &str, split: &str, m: &crate::event::Metrics) {
    for name in ["rmse", "r2"] {
        cx.emit(Event::MetricScalar(MetricScalarPayload {
            run_id: run_id.to_string(),
            name: if name == "rmse" { "loss" } else { name }.to_string(),
            split: split.to_string(),
            step: 1,
            value: m[name],
        }));
    }
}

/// Of the candidates' held-out predictions (`None`: the candidate could not be solved), the
/// index and predictions of the one with the lowest finite RMSE against `y`.
fn lowest_rmse(y: &[f64], candidates: Vec<Option<Vec<f64>>>) -> Option<(usize, Vec<f64>)> {
    candidates
        .into_iter()
        .enumerate()
        .filter_map(|(k, p)| {
            let p = p?;
            let rmse = metrics::regression(y, &p)["rmse"];
            rmse.is_finite().then_some((rmse, k, p))
        })
        .min_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, k, p)| (k, p))
}

/// Least squares with penalty `alpha` on all of `x`, as a saved model.
fn fit_ols(pipeline: &Pipeline, x: &Array2<f64>, y: &[f64], alpha: f64) -> Result<LinearModel> {
    let fit = Gram::new(x, y)
        .solve(alpha)
        .map_err(|e| AutomlError::Training {
            model: "linear_regression".to_string(),
            message: e,
        })?;
    Ok(LinearModel::least_squares(pipeline, fit, alpha))
}

/// The normal equations of least squares on centred columns (so the intercept is never
/// penalised), built once and solved for any ridge penalty.
struct Gram {
    mean_x: Array1<f64>,
    mean_y: f64,
    xtx: Array2<f64>,
    xty: Array2<f64>,
}

/// Coefficients and intercept of one least-squares solution.
struct LsFit {
    coef: Vec<f64>,
    intercept: f64,
}

impl LsFit {
    fn predict(&self, x: &Array2<f64>) -> Vec<f64> {
        x.rows()
            .into_iter()
            .map(|r| self.intercept + r.iter().zip(&self.coef).map(|(a, b)| a * b).sum::<f64>())
            .collect()
    }
}

impl Gram {
    fn new(x: &Array2<f64>, y: &[f64]) -> Self {
        let n = x.nrows().max(1) as f64;
        let mean_x = x.sum_axis(Axis(0)) / n;
        let mean_y = y.iter().sum::<f64>() / n;
        let xc = x - &mean_x;
        let yc = Array1::from_iter(y.iter().map(|v| v - mean_y));
        Self {
            xtx: xc.t().dot(&xc),
            xty: xc.t().dot(&yc).insert_axis(Axis(1)),
            mean_x,
            mean_y,
        }
    }

    /// Solves `(XᵀX + αI + εD) w = Xᵀy` by Cholesky, where `εD` (`1e-8` of each column's own
    /// diagonal, plus `1e-10` of their mean for a column that is zero in every row) keeps the
    /// system positive definite when columns are collinear (an indicator that is all zero in
    /// a fold, two copies of a column): at `α = 0` that is least squares wherever it is unique.
    fn solve(&self, alpha: f64) -> std::result::Result<LsFit, String> {
        use linfa_linalg::cholesky::SolveC;
        let d = self.xtx.nrows();
        if d == 0 {
            return Ok(LsFit {
                coef: Vec::new(),
                intercept: self.mean_y,
            });
        }
        let mut a = self.xtx.clone();
        let scale = (0..d).map(|i| a[[i, i]]).sum::<f64>() / d as f64;
        let floor = 1e-10 * scale.max(1e-12);
        for i in 0..d {
            a[[i, i]] += alpha + 1e-8 * a[[i, i]] + floor;
        }
        let w = a.solvec(&self.xty).map_err(|e| e.to_string())?;
        let coef: Vec<f64> = w.column(0).to_vec();
        if coef.iter().any(|c| !c.is_finite()) {
            return Err("the least-squares solution is not finite".to_string());
        }
        let intercept = self.mean_y
            - coef
                .iter()
                .zip(self.mean_x.iter())
                .map(|(c, m)| c * m)
                .sum::<f64>();
        Ok(LsFit { coef, intercept })
    }
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
    /// A least-squares solution (penalty `alpha`) as a saved model.
    fn least_squares(pipeline: &Pipeline, fit: LsFit, alpha: f64) -> Self {
        let mut weights: Vec<Vec<f64>> = fit.coef.into_iter().map(|c| vec![c]).collect();
        weights.push(vec![fit.intercept]);
        Self {
            format: FORMAT.to_string(),
            name: "linear_regression".to_string(),
            pipeline: pipeline.clone(),
            weights,
            params: json!({"fit_intercept": true, "ridge_alpha": alpha}),
        }
    }

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

    fn theta(&self) -> Vec<f64> {
        self.weights.iter().flatten().copied().collect()
    }

    fn proba_csr(&self, x: &Csr) -> Array2<f64> {
        let k = self.weights.first().map_or(0, Vec::len);
        let mut z = scores(x, &self.theta(), k);
        softmax_rows(&mut z);
        z
    }

    fn values_csr(&self, x: &Csr) -> Vec<f64> {
        scores(x, &self.theta(), 1).column(0).to_vec()
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
        if let Some(sparse) = self.pipeline.transform_sparse(batch) {
            let x = design(&self.pipeline, &x, Some(&sparse));
            let p = match self.pipeline.task {
                TaskKind::Classification => Predictions::Classes {
                    classes: self.pipeline.classes.clone(),
                    proba: self.proba_csr(&x),
                },
                TaskKind::Regression => Predictions::Values(self.values_csr(&x)),
            };
            return Ok((p, report));
        }
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
        // Weight rows follow the dense steps, then the sparse ones.
        let mut by_col: Vec<(String, f64)> = Vec::new();
        let mut off = 0;
        let ordered = self
            .pipeline
            .steps
            .iter()
            .filter(|s| !s.is_sparse())
            .chain(self.pipeline.steps.iter().filter(|s| s.is_sparse()));
        for step in ordered {
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

// ---------------------------------------------------------------------------------------------
// Sparse path: pipelines with TF-IDF text train an L2-regularised logistic (or ridge) model on
// one CSR matrix (dense features then sparse ones) by L-BFGS; nothing is densified.
// ---------------------------------------------------------------------------------------------

/// The model's input rows as one CSR matrix: the dense features (non-zeros only), then the
/// sparse ones.
fn design(pipeline: &Pipeline, dense: &Array2<f64>, sparse: Option<&Csr>) -> Csr {
    rows_csr(pipeline.width(), dense, sparse)
}

/// `ncols`-wide CSR rows: each dense row's non-zeros, then its sparse entries shifted past the
/// dense columns.
fn rows_csr(ncols: usize, dense: &Array2<f64>, sparse: Option<&Csr>) -> Csr {
    let dw = dense.ncols();
    let mut m = Csr::new(ncols);
    for i in 0..dense.nrows() {
        let d = dense
            .row(i)
            .iter()
            .enumerate()
            .filter(|(_, v)| **v != 0.0)
            .map(|(j, v)| (j as u32, *v as f32))
            .collect::<Vec<_>>();
        let s = sparse.map(|s| s.row(i)).unwrap_or((&[], &[]));
        m.push_row(
            d.into_iter()
                .chain(s.0.iter().zip(s.1).map(|(c, v)| (*c + dw as u32, *v))),
        );
    }
    m
}

/// `Z = X W + b` for a (d + 1) × k weight matrix stored row-major (last row: intercepts).
fn scores(x: &Csr, theta: &[f64], k: usize) -> Array2<f64> {
    let d = x.ncols;
    let mut z = Array2::<f64>::zeros((x.nrows(), k));
    for i in 0..x.nrows() {
        let (c, v) = x.row(i);
        let mut row = z.row_mut(i);
        for o in 0..k {
            row[o] = theta[d * k + o];
        }
        for (j, val) in c.iter().zip(v) {
            let base = *j as usize * k;
            for o in 0..k {
                row[o] += f64::from(*val) * theta[base + o];
            }
        }
    }
    z
}

/// The objective of one sparse fit: weighted mean loss plus `lambda / 2 · |W|²` (intercepts
/// not penalised), and its gradient.
struct SparseObjective<'a> {
    x: &'a Csr,
    /// Class indices (classification) or standardised values (regression).
    y: Target<'a>,
    /// Row weights, summing to the row count.
    w: Vec<f64>,
    k: usize,
    lambda: f64,
}

enum Target<'a> {
    Classes(&'a [usize]),
    Values(Vec<f64>),
}

impl SparseObjective<'_> {
    fn eval(&self, theta: &[f64], grad: &mut [f64]) -> f64 {
        let (d, k, n) = (self.x.ncols, self.k, self.x.nrows());
        let mut z = scores(self.x, theta, k);
        let mut loss = 0.0;
        // z becomes dLoss/dz per row.
        match &self.y {
            Target::Classes(y) => {
                softmax_rows(&mut z);
                for i in 0..n {
                    let wi = self.w[i] / n as f64;
                    loss -= wi * z[[i, y[i]]].max(1e-300).ln();
                    z[[i, y[i]]] -= 1.0;
                    z.row_mut(i).mapv_inplace(|v| v * wi);
                }
            }
            Target::Values(y) => {
                for i in 0..n {
                    let wi = self.w[i] / n as f64;
                    let r = z[[i, 0]] - y[i];
                    loss += 0.5 * wi * r * r;
                    z[[i, 0]] = wi * r;
                }
            }
        }
        grad.iter_mut().for_each(|g| *g = 0.0);
        for i in 0..n {
            let (c, v) = self.x.row(i);
            let gi = z.row(i);
            for (j, val) in c.iter().zip(v) {
                let base = *j as usize * k;
                for o in 0..k {
                    grad[base + o] += f64::from(*val) * gi[o];
                }
            }
            for o in 0..k {
                grad[d * k + o] += gi[o];
            }
        }
        let mut reg = 0.0;
        for (t, g) in theta[..d * k].iter().zip(&mut grad[..d * k]) {
            reg += t * t;
            *g += self.lambda * t;
        }
        loss + 0.5 * self.lambda * reg
    }
}

/// Minimises `f` (value and gradient) from `x` by L-BFGS (10 pairs, Armijo backtracking) for
/// at most `max_iter` iterations or until `stop()`; calls `each(iteration, loss)` after every
/// iteration. Returns the iterations done and whether it converged.
fn lbfgs(
    f: &dyn Fn(&[f64], &mut [f64]) -> f64,
    x: &mut [f64],
    max_iter: u64,
    stop: &dyn Fn() -> bool,
    each: &mut dyn FnMut(u64, f64),
) -> (u64, bool) {
    const M: usize = 10;
    let n = x.len();
    let mut g = vec![0.0; n];
    let mut fx = f(x, &mut g);
    let mut s_hist: std::collections::VecDeque<(Vec<f64>, Vec<f64>, f64)> = Default::default();
    let dot = |a: &[f64], b: &[f64]| a.iter().zip(b).map(|(p, q)| p * q).sum::<f64>();
    let mut x_new = vec![0.0; n];
    let mut g_new = vec![0.0; n];
    for it in 1..=max_iter {
        if stop() {
            return (it - 1, false);
        }
        // Two-loop recursion: d = -H g.
        let mut q = g.clone();
        let mut alphas = Vec::with_capacity(s_hist.len());
        for (s, y, rho) in s_hist.iter().rev() {
            let a = rho * dot(s, &q);
            q.iter_mut().zip(y).for_each(|(qi, yi)| *qi -= a * yi);
            alphas.push(a);
        }
        let gamma = s_hist
            .back()
            .map_or(1.0 / dot(&g, &g).sqrt().max(1e-12), |(s, y, _)| {
                dot(s, y) / dot(y, y).max(1e-300)
            });
        q.iter_mut().for_each(|v| *v *= gamma);
        for ((s, y, rho), a) in s_hist.iter().zip(alphas.iter().rev()) {
            let b = rho * dot(y, &q);
            q.iter_mut().zip(s).for_each(|(qi, si)| *qi += (a - b) * si);
        }
        let mut dir: Vec<f64> = q.into_iter().map(|v| -v).collect();
        let mut slope = dot(&g, &dir);
        if slope >= 0.0 {
            // Not a descent direction: restart from the gradient.
            s_hist.clear();
            let scale = 1.0 / dot(&g, &g).sqrt().max(1e-12);
            dir = g.iter().map(|v| -v * scale).collect();
            slope = dot(&g, &dir);
        }
        let mut t = 1.0;
        let mut accepted = false;
        for _ in 0..40 {
            for i in 0..n {
                x_new[i] = x[i] + t * dir[i];
            }
            let f_new = f(&x_new, &mut g_new);
            if f_new.is_finite() && f_new <= fx + 1e-4 * t * slope {
                let s: Vec<f64> = x_new.iter().zip(x.iter()).map(|(a, b)| a - b).collect();
                let y: Vec<f64> = g_new.iter().zip(&g).map(|(a, b)| a - b).collect();
                let sy = dot(&s, &y);
                if sy > 1e-12 {
                    if s_hist.len() == M {
                        s_hist.pop_front();
                    }
                    s_hist.push_back((s, y, 1.0 / sy));
                }
                let rel = (fx - f_new).abs() / fx.abs().max(1e-12);
                x.copy_from_slice(&x_new);
                g.copy_from_slice(&g_new);
                fx = f_new;
                accepted = true;
                each(it, fx);
                let gmax = g.iter().fold(0.0f64, |m, v| m.max(v.abs()));
                if gmax < 1e-6 || rel < 1e-9 {
                    return (it, true);
                }
                break;
            }
            t *= 0.5;
        }
        if !accepted {
            // No decrease along the direction: as good as it gets.
            return (it, true);
        }
    }
    (max_iter, false)
}

/// Regularisation strengths and class weighting tried on sparse data, in order.
const SPARSE_CONFIGS: [(f64, bool); 6] = [
    (1e-4, false),
    (1e-4, true),
    (1e-5, true),
    (1e-5, false),
    (1e-3, true),
    (1e-6, true),
];
/// Most L-BFGS iterations of a sparse fit.
const SPARSE_MAX_ITER: u64 = 300;

/// Row weights: 1, or inversely proportional to the class share ("balanced"), mean 1.
fn row_weights(y: &Target, k: usize, balanced: bool) -> Vec<f64> {
    match y {
        Target::Classes(y) if balanced => {
            let mut counts = vec![0usize; k];
            for c in y.iter() {
                counts[*c] += 1;
            }
            let present = counts.iter().filter(|c| **c > 0).count().max(1) as f64;
            let n = y.len() as f64;
            y.iter()
                .map(|c| n / (present * counts[*c] as f64))
                .collect()
        }
        Target::Classes(y) => vec![1.0; y.len()],
        Target::Values(v) => vec![1.0; v.len()],
    }
}

/// One sparse fit: returns the (d + 1) × k weights (row-major) and the iterations run.
#[allow(clippy::too_many_arguments)]
fn fit_sparse(
    x: &Csr,
    y: &Targets,
    k: usize,
    lambda: f64,
    balanced: bool,
    max_iter: u64,
    stop: &dyn Fn() -> bool,
    each: &mut dyn FnMut(u64, f64),
) -> (Vec<f64>, u64) {
    let (target, mean, sd) = match y {
        Targets::Classes(c) => (Target::Classes(c), 0.0, 1.0),
        Targets::Values(v) => {
            let n = v.len().max(1) as f64;
            let mean = v.iter().sum::<f64>() / n;
            let sd = (v.iter().map(|a| (a - mean).powi(2)).sum::<f64>() / n)
                .sqrt()
                .max(1e-12);
            (
                Target::Values(v.iter().map(|a| (a - mean) / sd).collect()),
                mean,
                sd,
            )
        }
    };
    let obj = SparseObjective {
        x,
        w: row_weights(&target, k, balanced),
        y: target,
        k,
        lambda,
    };
    let mut theta = vec![0.0; (x.ncols + 1) * k];
    let (iters, _) = lbfgs(&|t, g| obj.eval(t, g), &mut theta, max_iter, stop, each);
    if matches!(y, Targets::Values(_)) {
        // Back to the target's scale.
        theta.iter_mut().for_each(|t| *t *= sd);
        theta[x.ncols] += mean;
    }
    (theta, iters)
}

fn sparse_model(
    pipeline: &Pipeline,
    theta: &[f64],
    k: usize,
    params: serde_json::Value,
) -> LinearModel {
    let name = match pipeline.task {
        TaskKind::Classification => "logistic_regression",
        TaskKind::Regression => "linear_regression",
    };
    LinearModel {
        format: FORMAT.to_string(),
        name: name.to_string(),
        pipeline: pipeline.clone(),
        weights: theta.chunks(k).map(<[f64]>::to_vec).collect(),
        params,
    }
}

fn sparse_metrics(model: &LinearModel, x: &Csr, y: &Targets) -> crate::event::Metrics {
    match y {
        Targets::Classes(c) => metrics::classification(c, &model.proba_csr(x)),
        Targets::Values(v) => metrics::regression(v, &model.values_csr(x)),
    }
}

fn train_sparse(data: &TabularData, cx: &TrainContext) -> Result<()> {
    let p = &data.pipeline;
    let (k, configs): (usize, Vec<(f64, bool)>) = match p.task {
        TaskKind::Classification => (p.classes.len(), SPARSE_CONFIGS.to_vec()),
        TaskKind::Regression => (1, vec![(1e-3, false), (1e-4, false), (1e-2, false)]),
    };
    let model_name = match p.task {
        TaskKind::Classification => "logistic_regression",
        TaskKind::Regression => "linear_regression",
    };
    let x_tr = design(
        p,
        &data.x_train,
        p.transform_sparse(&data.train_rows).as_ref(),
    );
    let x_va = design(
        p,
        &data.x_valid,
        p.transform_sparse(&data.valid_rows).as_ref(),
    );
    let cv = data.use_cv();
    let (x_all, y_all) = if cv {
        let (_, _, y) = data.train_and_valid()?;
        (Some(x_tr.vstack(&x_va)), Some(y))
    } else {
        (None, None)
    };
    if let Targets::Classes(y) = y_all.as_ref().unwrap_or(&data.y_train) {
        let mut seen = y.clone();
        seen.sort_unstable();
        seen.dedup();
        if seen.len() < 2 {
            return Err(AutomlError::BadTarget {
                target: p.target.clone(),
                reason: "the training rows hold a single class".to_string(),
            });
        }
    }
    let folds = match (&y_all, cv) {
        (Some(y), true) => {
            let labels = match y {
                Targets::Classes(c) => Some(c.as_slice()),
                Targets::Values(_) => None,
            };
            data.cv_folds(labels, crate::data::preprocess::CV_FOLDS, cx.seed)
        }
        _ => vec![],
    };
    let stop = || cx.should_stop();
    for (lambda, balanced) in configs {
        if !cx.may_start_trial() {
            break;
        }
        let run_id = cx.next_run_id();
        let mut params = params_map(json!({
            "lambda": lambda,
            "class_weight": if balanced { "balanced" } else { "none" },
            "solver": "lbfgs_sparse",
            "features": p.width(),
            "non_zeros_train": x_tr.nnz(),
        }));
        if cv {
            params.insert("cv_folds".into(), (folds.len() as u64).into());
        }
        cx.emit(Event::TrainRunStarted(TrainRunStartedPayload {
            run_id: run_id.clone(),
            model: model_name.to_string(),
            params: params.clone(),
        }));
        let started = Instant::now();
        let mut each = |it: u64, loss: f64| {
            if it % 10 == 0 {
                cx.emit(Event::MetricScalar(MetricScalarPayload {
                    run_id: run_id.clone(),
                    name: "loss".to_string(),
                    split: "train".to_string(),
                    step: it,
                    value: loss,
                }));
                cx.emit(Event::TrainProgress(TrainProgressPayload {
                    run_id: run_id.clone(),
                    step: it,
                    steps: SPARSE_MAX_ITER,
                    eta_s: None,
                }));
            }
        };
        let (valid_metrics, model, iters) = if let (Some(x), Some(y)) = (&x_all, &y_all) {
            // Out-of-fold predictions, then the trial's model on all of train + valid.
            let mut oof_p = Array2::<f64>::zeros((x.nrows(), k));
            let mut oof_v = vec![0.0; x.nrows()];
            for held in &folds {
                let held_set: std::collections::HashSet<usize> = held.iter().copied().collect();
                let fit_idx: Vec<usize> =
                    (0..x.nrows()).filter(|i| !held_set.contains(i)).collect();
                let (theta, _) = fit_sparse(
                    &x.select(&fit_idx),
                    &y.select(&fit_idx),
                    k,
                    lambda,
                    balanced,
                    SPARSE_MAX_ITER,
                    &stop,
                    &mut |_, _| {},
                );
                let m = sparse_model(p, &theta, k, json!({}));
                let xh = x.select(held);
                match p.task {
                    TaskKind::Classification => {
                        let pr = m.proba_csr(&xh);
                        for (j, i) in held.iter().enumerate() {
                            oof_p.row_mut(*i).assign(&pr.row(j));
                        }
                    }
                    TaskKind::Regression => {
                        for (j, v) in m.values_csr(&xh).into_iter().enumerate() {
                            oof_v[held[j]] = v;
                        }
                    }
                }
            }
            if cx.should_stop() {
                cx.emit(Event::TrainRunFinished(TrainRunFinishedPayload {
                    run_id,
                    model: model_name.to_string(),
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
            let m = match y {
                Targets::Classes(c) => metrics::classification(c, &oof_p),
                Targets::Values(v) => metrics::regression(v, &oof_v),
            };
            let (theta, iters) =
                fit_sparse(x, y, k, lambda, balanced, SPARSE_MAX_ITER, &stop, &mut each);
            (
                m,
                sparse_model(
                    p,
                    &theta,
                    k,
                    json!({"lambda": lambda, "class_weight": balanced}),
                ),
                iters,
            )
        } else {
            let (theta, iters) = fit_sparse(
                &x_tr,
                &data.y_train,
                k,
                lambda,
                balanced,
                SPARSE_MAX_ITER,
                &stop,
                &mut each,
            );
            let model = sparse_model(
                p,
                &theta,
                k,
                json!({"lambda": lambda, "class_weight": balanced}),
            );
            (sparse_metrics(&model, &x_va, &data.y_valid), model, iters)
        };
        let status = if cx.should_stop() && iters < SPARSE_MAX_ITER {
            "cut_by_budget"
        } else {
            "completed"
        };
        cx.emit(Event::TrainRunFinished(TrainRunFinishedPayload {
            run_id: run_id.clone(),
            model: model_name.to_string(),
            metrics: valid_metrics.clone(),
            duration_s: started.elapsed().as_secs_f64(),
            status: status.to_string(),
        }));
        let refit: Option<crate::train::RefitFn> = (!cv).then(|| {
            Arc::new(move |data: &TabularData| {
                let p = &data.pipeline;
                let x = design(
                    p,
                    &data.x_train,
                    p.transform_sparse(&data.train_rows).as_ref(),
                )
                .vstack(&design(
                    p,
                    &data.x_valid,
                    p.transform_sparse(&data.valid_rows).as_ref(),
                ));
                let (_, _, y) = data.train_and_valid()?;
                let (theta, _) = fit_sparse(
                    &x,
                    &y,
                    k,
                    lambda,
                    balanced,
                    iters.max(1),
                    &|| false,
                    &mut |_, _| {},
                );
                Ok(Arc::new(sparse_model(
                    p,
                    &theta,
                    k,
                    json!({"lambda": lambda, "class_weight": balanced}),
                )) as Arc<dyn TrainedModel>)
            }) as crate::train::RefitFn
        });
        cx.report_trial(TrialRecord {
            run_id,
            model_name: model_name.to_string(),
            params,
            metrics: valid_metrics,
            model: Arc::new(model),
            refit,
            duration_s: started.elapsed().as_secs_f64(),
            // Not offered to ensemble selection yet: the sparse text models' held-out
            // predictions are not collected (a follow-up of #14).
            predictions: None,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Three well-separated blobs in two features, class labels 1, 4, 7 of 8 (sparse labels):
    /// the fit separates them, maps its columns to the seen classes, and a stronger L2 penalty
    /// gives smaller weights (the objective is linfa-logistic's: `alpha` keeps its meaning).
    #[test]
    fn dense_logistic_separates_blobs_and_alpha_shrinks_weights() {
        let centres = [(0.0, 3.0), (3.0, -2.0), (-3.0, -2.0)];
        let labels = [1usize, 4, 7];
        let mut rows = vec![];
        let mut y = vec![];
        for i in 0..90 {
            let c = i % 3;
            let jitter = ((i * 37 % 11) as f64 - 5.0) / 10.0;
            rows.push([centres[c].0 + jitter, centres[c].1 - jitter]);
            y.push(labels[c]);
        }
        let x = Array2::from_shape_fn((rows.len(), 2), |(i, j)| rows[i][j]);
        let (w, seen) = fit_once(&x, &y, 1.0, 150).expect("fit");
        assert_eq!(seen, labels.to_vec());
        assert_eq!(w.dim(), (3, 3));
        for (i, row) in x.rows().into_iter().enumerate() {
            let z: Vec<f64> = (0..3)
                .map(|o| w[[2, o]] + row[0] * w[[0, o]] + row[1] * w[[1, o]])
                .collect();
            let best = (0..3).max_by(|a, b| z[*a].total_cmp(&z[*b])).unwrap_or(0);
            assert_eq!(seen[best], y[i], "row {i}: {z:?}");
        }
        let norm = |w: &Array2<f64>| w.slice(ndarray::s![..2, ..]).mapv(|v| v * v).sum();
        let (strong, _) = fit_once(&x, &y, 100.0, 150).expect("fit");
        assert!(
            norm(&strong) < norm(&w) / 2.0,
            "{} vs {}",
            norm(&strong),
            norm(&w)
        );
        // Warm-started chunks reach the same optimum as one long fit.
        let solver = DenseLogistic::new(&x, &y, &seen, 1.0);
        let mut chunked = solver.fit(None, 5);
        for _ in 0..40 {
            chunked = solver.fit(Some(&chunked), 5);
        }
        let diff = (&chunked - &w)
            .mapv(f64::abs)
            .fold(0.0f64, |m, v| m.max(*v));
        assert!(diff < 1e-2, "chunked fit differs by {diff}");
    }

    /// Collinear columns (a copy of a column, and one that is zero in every row, as an
    /// indicator can be in a cross-validation fold) make the plain normal equations singular;
    /// the solver still recovers the signal, a well-posed fit at α = 0 is least squares, and a
    /// larger α shrinks the weights.
    #[test]
    fn least_squares_solves_collinear_columns_and_ridge_shrinks() {
        let n = 60;
        let x = Array2::from_shape_fn((n, 3), |(i, j)| match j {
            0 => i as f64 / 10.0,
            1 => i as f64 / 10.0,
            _ => 0.0,
        });
        let y: Vec<f64> = (0..n).map(|i| 2.0 + 3.0 * i as f64 / 10.0).collect();
        let w = Gram::new(&x, &y).solve(0.0).expect("solved");
        assert!((w.coef[0] + w.coef[1] - 3.0).abs() < 1e-3, "{:?}", w.coef);
        assert!(
            (w.coef[0] - w.coef[1]).abs() < 1e-6,
            "copies share the weight: {:?}",
            w.coef
        );
        assert_eq!(w.coef[2], 0.0);
        assert!((w.intercept - 2.0).abs() < 1e-3, "{}", w.intercept);
        // Well posed: plain least squares to many places.
        let x2 = Array2::from_shape_fn((n, 2), |(i, j)| {
            if j == 0 {
                i as f64
            } else {
                ((i * 7) % 5) as f64
            }
        });
        let y2: Vec<f64> = (0..n)
            .map(|i| 1.0 + 0.5 * i as f64 - 2.0 * ((i * 7) % 5) as f64)
            .collect();
        let g = Gram::new(&x2, &y2);
        let w2 = g.solve(0.0).expect("solved");
        assert!(
            (w2.coef[0] - 0.5).abs() < 1e-6 && (w2.coef[1] + 2.0).abs() < 1e-5,
            "{:?}",
            w2.coef
        );
        assert!((w2.intercept - 1.0).abs() < 1e-4, "{}", w2.intercept);
        let p = w2.predict(&x2);
        assert!(p.iter().zip(&y2).all(|(a, b)| (a - b).abs() < 1e-4));
        // Ridge shrinks towards zero as α grows.
        let norm = |w: &LsFit| w.coef.iter().map(|c| c * c).sum::<f64>();
        let w10 = g.solve(10.0).expect("solved");
        let w1000 = g.solve(1000.0).expect("solved");
        assert!(norm(&w1000) < norm(&w10) && norm(&w10) < norm(&w2));
    }
}
