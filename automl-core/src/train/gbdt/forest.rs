//! Random forests on the GBDT's histogram tree grower ([`boost::train_forest`]): bootstrap
//! rows, a random share of the features per tree, leaves holding mean targets. Classification
//! fits one regression forest per class on the class indicator (one for binary tasks) and
//! normalises the clipped outputs into probabilities. See docs/decisions/0071-forest-and-ensembles.md.
//!
//! A short list of configurations: forests need little tuning, and the conductor's ensemble
//! selection gets from them what boosting misses.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use arrow::record_batch::RecordBatch;
use async_trait::async_trait;
use ndarray::Array2;
use serde::{Deserialize, Serialize};

use super::TreeEncoder;
use super::boost::{self, BinMapper, ForestParams, Objective, Stop};
use crate::data::preprocess::{Pipeline, TabularData, Targets};
use crate::error::{AutomlError, Result};
use crate::event::{
    Event, FeatureImportance, Metrics, ModelCandidate, TaskKind, TrainProgressPayload,
    TrainRunFinishedPayload, TrainRunStartedPayload, TransformReport,
};
use crate::metrics;
use crate::train::{
    PredictionRows, Predictions, TaskSpec, TrainContext, TrainInput, TrainedModel, Trainer,
    TrialPredictions, TrialRecord,
};

/// The `format` field of a saved forest.
pub const FORMAT: &str = "automl-forest/1";

/// Loads a model of this format from its `model.json` (registered in the model format registry).
pub fn load(file: &Path, json: serde_json::Value) -> Result<Box<dyn TrainedModel>> {
    ForestModel::from_json(json)
        .map(|m| Box::new(m) as Box<dyn TrainedModel>)
        .map_err(|message| AutomlError::ModelLoad {
            path: file.to_path_buf(),
            message,
        })
}

/// A fitted random forest with its encoding; saved as one JSON file.
#[derive(Clone, Serialize, Deserialize)]
pub struct ForestModel {
    /// Always [`FORMAT`].
    pub format: String,
    /// The pipeline the encoding was derived from (task, classes, target).
    pub pipeline: Pipeline,
    /// How rows become tree inputs.
    pub encoder: TreeEncoder,
    /// One forest for regression and binary tasks (the second class's indicator), one per class
    /// otherwise.
    pub forests: Vec<boost::Model>,
    /// Hyper-parameters.
    pub params: ForestParams,
}

impl ForestModel {
    fn predict_encoded(&self, data: &[f64], rows: usize) -> Predictions {
        let outs: Vec<Vec<f64>> = self.forests.iter().map(|f| f.predict(data, rows)).collect();
        match self.pipeline.task {
            TaskKind::Regression => {
                Predictions::Values(outs.into_iter().next().unwrap_or_default())
            }
            TaskKind::Classification => {
                let k = self.pipeline.classes.len();
                let mut proba = Array2::<f64>::zeros((rows, k));
                for i in 0..rows {
                    if outs.len() == 1 && k == 2 {
                        let p = outs[0][i].clamp(0.0, 1.0);
                        proba[[i, 0]] = 1.0 - p;
                        proba[[i, 1]] = p;
                    } else {
                        let mut total = 0.0;
                        for c in 0..k {
                            let v = outs.get(c).map_or(0.0, |o| o[i].max(0.0));
                            proba[[i, c]] = v;
                            total += v;
                        }
                        for c in 0..k {
                            proba[[i, c]] = if total > 0.0 {
                                proba[[i, c]] / total
                            } else {
                                1.0 / k as f64
                            };
                        }
                    }
                }
                Predictions::Classes {
                    classes: self.pipeline.classes.clone(),
                    proba,
                }
            }
        }
    }

    /// Parses a saved forest and checks it: a corrupt file is an error, never a panic.
    pub fn from_json(v: serde_json::Value) -> std::result::Result<Self, String> {
        let m: ForestModel = serde_json::from_value(v).map_err(|e| e.to_string())?;
        if m.format != FORMAT {
            return Err(format!("format {:?}, expected {FORMAT:?}", m.format));
        }
        m.pipeline.validate()?;
        let width = m.encoder.width();
        if width == 0 || width > (1 << 20) {
            return Err(format!("the encoder has {width} columns"));
        }
        let want = match m.pipeline.task {
            TaskKind::Regression => 1,
            TaskKind::Classification if m.pipeline.classes.len() == 2 => 1,
            TaskKind::Classification => m.pipeline.classes.len(),
        };
        if m.forests.len() != want {
            return Err(format!(
                "{} forests for a task that needs {want}",
                m.forests.len()
            ));
        }
        for f in &m.forests {
            if f.objective != Objective::Squared {
                return Err("a forest must use the squared objective".to_string());
            }
            f.validate(width)?;
        }
        Ok(m)
    }
}

impl TrainedModel for ForestModel {
    fn model_name(&self) -> &str {
        self.params.model_name()
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
        let mut by_col: std::collections::HashMap<String, f64> = Default::default();
        for f in &self.forests {
            for (i, v) in f.gain.iter().enumerate() {
                if let Some(c) = owner.get(i) {
                    *by_col.entry(c.clone()).or_default() += *v;
                }
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

/// Random forests (bagged regression trees on the GBDT's tree grower).
#[derive(Debug, Default, Clone)]
pub struct ForestTrainer;

fn outputs(task: TaskKind, k: usize) -> usize {
    match task {
        TaskKind::Classification if k > 2 => k,
        _ => 1,
    }
}

/// The configurations tried in order; with `quick_first` (no trial of the run has finished
/// yet) a small forest comes first, so a first model is ready within a second on small data.
/// Random forests and extremely randomised trees alternate: the two make different errors,
/// which is what the ensemble selection after the search needs from them.
fn configs(
    n_rows: usize,
    width: usize,
    task: TaskKind,
    outputs: usize,
    seed: u64,
    quick_first: bool,
) -> Vec<ForestParams> {
    let leaves = (n_rows / 2).clamp(8, 256);
    // One forest per class: fewer trees each when there are many classes.
    let trees = if outputs > 2 { 40 } else { 100 };
    // The usual shares of features tried per split: all of them for regression, about the
    // square root of their number for classification.
    let per_split = match task {
        TaskKind::Regression => 1.0,
        TaskKind::Classification => {
            let w = width.max(1) as f64;
            (w.sqrt().ceil() / w).clamp(0.05, 1.0)
        }
    };
    let forest =
        |min_child_samples, feature_fraction, split_fraction, extra, s: u64| ForestParams {
            trees,
            num_leaves: leaves,
            min_child_samples,
            feature_fraction,
            split_fraction,
            extra,
            seed: seed.wrapping_add(s),
        };
    let quick = quick_first.then(|| ForestParams {
        trees: trees / 5,
        num_leaves: leaves.min(64),
        ..forest(2, 0.5, 1.0, false, 2)
    });
    quick
        .into_iter()
        .chain([
            forest(2, 0.5, 1.0, false, 0),
            forest(2, 1.0, per_split, true, 3),
            forest(5, 0.8, 1.0, false, 1),
            forest(5, 1.0, (per_split * 0.5).max(0.05), true, 4),
        ])
        .collect()
}

#[async_trait]
impl Trainer for ForestTrainer {
    fn name(&self) -> &str {
        "forest"
    }

    fn supports(&self, task: &TaskSpec) -> bool {
        task.modality == "tabular"
    }

    fn candidates(&self, task: &TaskSpec) -> Vec<ModelCandidate> {
        let out = outputs(task.task, task.n_classes as usize) as f64;
        // ~100 bagged trees per configuration, each about one boosting round's work.
        let per_fit = 0.02 + 80.0 * out * task.n_rows as f64 * task.n_features.max(1) as f64 / 5e7;
        vec![
            ModelCandidate {
                model: "random_forest".to_string(),
                family: "bagged_trees".to_string(),
                trainer: self.name().to_string(),
                pros: vec![
                    "robust with little tuning; averages away much of the variance of deep trees"
                        .to_string(),
                    "handles missing values and categories natively".to_string(),
                    "a different bias from boosting, which helps ensembles".to_string(),
                ],
                cons: vec![
                    "larger saved models than boosting".to_string(),
                    "usually a little less accurate than tuned boosting".to_string(),
                ],
                estimated_cost_s: per_fit * 2.0,
            },
            ModelCandidate {
                model: "extra_trees".to_string(),
                family: "bagged_trees".to_string(),
                trainer: self.name().to_string(),
                pros: vec![
                    "random cuts make smoother, lower-variance fits than a forest on small, noisy \
                 data"
                        .to_string(),
                    "errs differently from forests and boosting, which helps ensembles".to_string(),
                ],
                cons: vec![
                    "needs more leaves than a forest to fit sharp boundaries".to_string(),
                    "larger saved models than boosting".to_string(),
                ],
                estimated_cost_s: per_fit * 2.0,
            },
        ]
    }

    async fn train(&self, input: TrainInput, cx: TrainContext) -> Result<()> {
        let TrainInput::Tabular(data) = input else {
            return Err(AutomlError::Training {
                model: "random_forest".to_string(),
                message: "the forest trainer takes tabular data".to_string(),
            });
        };
        tokio::task::spawn_blocking(move || search(&data, &cx))
            .await
            .map_err(|e| AutomlError::Training {
                model: "random_forest".to_string(),
                message: format!("training task failed: {e}"),
            })?
    }
}

/// The per-output targets: the values, the second class's indicator, or one indicator per class.
fn output_targets(y: &Targets, k: usize) -> Vec<Vec<f64>> {
    match y {
        Targets::Values(v) => vec![v.clone()],
        Targets::Classes(c) if k <= 2 => vec![c.iter().map(|v| (*v == 1) as u8 as f64).collect()],
        Targets::Classes(c) => (0..k)
            .map(|j| c.iter().map(|v| (*v == j) as u8 as f64).collect())
            .collect(),
    }
}

fn metrics_of(y: &Targets, p: &Predictions) -> Metrics {
    match (y, p) {
        (Targets::Classes(y), Predictions::Classes { proba, .. }) => {
            metrics::classification(y, proba)
        }
        (Targets::Values(y), Predictions::Values(v)) => metrics::regression(y, v),
        _ => Metrics::new(),
    }
}

fn take_rows(x: &[f64], n: usize, width: usize, idx: &[usize]) -> Vec<f64> {
    let mut out = vec![0.0; idx.len() * width];
    for f in 0..width {
        for (j, i) in idx.iter().enumerate() {
            out[f * idx.len() + j] = x[f * n + i];
        }
    }
    out
}

/// Fits the forests of one configuration on `rows` of the binned data; false from `go` stops.
fn fit(
    fp: &ForestParams,
    mappers: &[BinMapper],
    binned: &boost::Binned,
    targets: &[Vec<f64>],
    go: &mut dyn FnMut() -> bool,
) -> (Vec<boost::Model>, bool) {
    let mut forests = Vec::new();
    for (j, t) in targets.iter().enumerate() {
        let p = ForestParams {
            seed: fp.seed.wrapping_add(j as u64 * 7919),
            ..fp.clone()
        };
        let (m, stop) = boost::train_forest(&p, mappers.to_vec(), binned, t, |_| go());
        forests.push(m);
        if stop == Stop::Interrupted {
            return (forests, false);
        }
    }
    (forests, true)
}

fn search(data: &TabularData, cx: &TrainContext) -> Result<()> {
    let cv = data.use_cv();
    let (rows, targets) = if cv {
        let (r, _, t) = data.train_and_valid()?;
        (r, t)
    } else {
        (data.train_rows.clone(), data.y_train.clone())
    };
    let k = data.pipeline.classes.len();
    let n = rows.num_rows();
    let fits = if cv {
        crate::data::preprocess::CV_FOLDS
    } else {
        1
    };
    let encoder = TreeEncoder::fit_for_budget(
        &data.pipeline,
        &rows,
        &targets,
        n * fits,
        cx.time_left().as_secs_f64(),
    );
    if super::no_tree_columns(&encoder, cx) {
        return Ok(());
    }
    let width = encoder.width();
    let (x, _) = encoder.encode(&rows);
    let cats = encoder.categorical();
    let mappers: Vec<BinMapper> = (0..width)
        .map(|f| BinMapper::fit(&x[f * n..(f + 1) * n], cats.contains(&f)))
        .collect();
    let all_binned = boost::bin_data(&x, n, &mappers);
    let ys = output_targets(&targets, k);
    let folds = if cv {
        let labels = match &targets {
            Targets::Classes(c) => Some(c.clone()),
            Targets::Values(_) => None,
        };
        // Grouped: exact duplicate rows stay in one fold.
        data.cv_folds(
            labels.as_deref(),
            crate::data::preprocess::CV_FOLDS,
            cx.seed,
        )
    } else {
        vec![]
    };
    let (x_valid, _) = encoder.encode(&data.valid_rows);
    let n_valid = data.valid_rows.num_rows();
    for fp in configs(
        n,
        width,
        data.pipeline.task,
        outputs(data.pipeline.task, k),
        cx.seed,
        cx.trials() == 0,
    ) {
        if !cx.may_start_trial() || cx.time_left().as_secs_f64() < 0.05 {
            break;
        }
        let run_id = cx.next_run_id();
        let mut params = match serde_json::to_value(&fp) {
            Ok(serde_json::Value::Object(m)) => m,
            _ => Default::default(),
        };
        if cv {
            params.insert("cv_folds".into(), (folds.len() as u64).into());
        }
        cx.emit(Event::TrainRunStarted(TrainRunStartedPayload {
            run_id: run_id.clone(),
            model: fp.model_name().to_string(),
            params: params.clone(),
        }));
        let started = Instant::now();
        let mut go = || !cx.should_stop();
        let template = ForestModel {
            format: FORMAT.to_string(),
            pipeline: data.pipeline.clone(),
            encoder: encoder.clone(),
            forests: vec![],
            params: fp.clone(),
        };
        // Out-of-sample predictions: out-of-fold under cross-validation, else on valid.
        let mut complete = true;
        let held_out: Option<(PredictionRows, Predictions, Targets)> = if cv {
            let kk = if k > 0 { k } else { 1 };
            let mut oof_proba = Array2::<f64>::zeros((n, kk));
            let mut oof_vals = vec![0.0; n];
            for (fi, held) in folds.iter().enumerate() {
                let held_set: HashSet<usize> = held.iter().copied().collect();
                let fit_idx: Vec<usize> = (0..n).filter(|i| !held_set.contains(i)).collect();
                let bf =
                    boost::bin_data(&take_rows(&x, n, width, &fit_idx), fit_idx.len(), &mappers);
                let yf: Vec<Vec<f64>> = ys
                    .iter()
                    .map(|t| fit_idx.iter().map(|i| t[*i]).collect())
                    .collect();
                let (forests, ok) = fit(&fp, &mappers, &bf, &yf, &mut go);
                if !ok {
                    complete = false;
                    break;
                }
                let m = ForestModel {
                    forests,
                    ..template.clone()
                };
                match m.predict_encoded(&take_rows(&x, n, width, held), held.len()) {
                    Predictions::Classes { proba, .. } => {
                        for (j, i) in held.iter().enumerate() {
                            oof_proba.row_mut(*i).assign(&proba.row(j));
                        }
                    }
                    Predictions::Values(v) => {
                        for (j, i) in held.iter().enumerate() {
                            oof_vals[*i] = v[j];
                        }
                    }
                }
                cx.emit(Event::TrainProgress(TrainProgressPayload {
                    run_id: run_id.clone(),
                    step: fi as u64 + 1,
                    steps: folds.len() as u64,
                    eta_s: None,
                }));
            }
            complete.then(|| {
                let p = match data.pipeline.task {
                    TaskKind::Classification => Predictions::Classes {
                        classes: data.pipeline.classes.clone(),
                        proba: oof_proba,
                    },
                    TaskKind::Regression => Predictions::Values(oof_vals),
                };
                (PredictionRows::OutOfFold, p, targets.clone())
            })
        } else {
            None
        };
        let (forests, ok) = if complete {
            fit(&fp, &mappers, &all_binned, &ys, &mut go)
        } else {
            (vec![], false)
        };
        let status = if ok {
            "completed"
        } else if cx.cancel.is_cancelled() {
            "cancelled"
        } else {
            "cut_by_budget"
        };
        if !ok {
            cx.emit(Event::TrainRunFinished(TrainRunFinishedPayload {
                run_id,
                model: fp.model_name().to_string(),
                metrics: Metrics::new(),
                duration_s: started.elapsed().as_secs_f64(),
                status: status.to_string(),
            }));
            break;
        }
        let model = ForestModel {
            forests,
            ..template
        };
        let (rows_kind, preds, y_held) = match held_out {
            Some(h) => h,
            None => (
                PredictionRows::Valid,
                model.predict_encoded(&x_valid, n_valid),
                data.y_valid.clone(),
            ),
        };
        let m = metrics_of(&y_held, &preds);
        cx.emit(Event::TrainRunFinished(TrainRunFinishedPayload {
            run_id: run_id.clone(),
            model: fp.model_name().to_string(),
            metrics: m.clone(),
            duration_s: started.elapsed().as_secs_f64(),
            status: status.to_string(),
        }));
        let refit = (!cv).then(|| refit_fn(fp.clone(), encoder.clone(), cats.clone()));
        cx.report_trial(TrialRecord {
            run_id,
            model_name: fp.model_name().to_string(),
            params,
            metrics: m,
            model: Arc::new(model),
            refit,
            duration_s: started.elapsed().as_secs_f64(),
            predictions: Some(TrialPredictions {
                rows: rows_kind,
                predictions: preds,
            }),
        });
    }
    Ok(())
}

fn refit_fn(fp: ForestParams, encoder: TreeEncoder, cats: HashSet<usize>) -> crate::train::RefitFn {
    Arc::new(move |data: &TabularData| {
        let (rows, _, y) = data.train_and_valid()?;
        let n = rows.num_rows();
        let (x, _) = encoder.encode(&rows);
        let mappers: Vec<BinMapper> = (0..encoder.width())
            .map(|f| BinMapper::fit(&x[f * n..(f + 1) * n], cats.contains(&f)))
            .collect();
        let b = boost::bin_data(&x, n, &mappers);
        let ys = output_targets(&y, data.pipeline.classes.len());
        let (forests, _) = fit(&fp, &mappers, &b, &ys, &mut || true);
        Ok(Arc::new(ForestModel {
            format: FORMAT.to_string(),
            pipeline: data.pipeline.clone(),
            encoder: encoder.clone(),
            forests,
            params: fp.clone(),
        }) as Arc<dyn TrainedModel>)
    })
}
