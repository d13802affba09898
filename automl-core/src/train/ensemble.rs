//! Greedy ensemble selection with replacement (Caruana et al., "Ensemble Selection from
//! Libraries of Models", ICML 2004) over the trials' out-of-sample predictions, and the
//! [`EnsembleModel`] it yields: a weighted average of member models' probabilities (or values),
//! saved as one run folder (`model.json` naming the members, each member in `member-N/`).
//!
//! This module works on the [`TrainedModel`] trait only: members load through the same
//! [`ModelFormats`] registry as any model (the wiring registers [`FORMAT`] with a loader that
//! passes the registry in).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use arrow::record_batch::RecordBatch;
use ndarray::Array2;
use serde::{Deserialize, Serialize};

use crate::data::preprocess::Targets;
use crate::error::{AutomlError, Result};
use crate::event::{FeatureImportance, Metrics, TaskKind, TransformReport};
use crate::metrics;
use crate::train::{
    ModelFormats, PooledTrial, PredictionRows, Predictions, TrainedModel, compare_keys, rank_key,
};

/// The `format` field of a saved ensemble.
pub const FORMAT: &str = "automl-ensemble/1";
/// Candidates considered: the best trials of the chosen prediction rows (and the best trial of
/// each model family beyond them).
pub const MAX_CANDIDATES: usize = 16;
/// Most selection rounds (members with repetition).
pub const MAX_ROUNDS: usize = 30;
/// Most distinct members of a saved ensemble (bounds a hostile file's work).
const MAX_MEMBERS: usize = 64;

/// A weighted average of models.
pub struct EnsembleModel {
    task: TaskKind,
    classes: Vec<String>,
    /// (model, weight, trial id); weights sum to 1.
    members: Vec<(Arc<dyn TrainedModel>, f64, String)>,
}

/// One member as saved.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct SavedMember {
    /// Sub-folder of the run folder holding its `model.json`.
    dir: String,
    /// Weight (the weights sum to 1).
    weight: f64,
    /// The trial it came from.
    run_id: String,
    /// Its model name.
    model: String,
}

/// The saved manifest; unknown fields are refused (a model file edited by hand or for another
/// format is reported, not half-read).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Manifest {
    format: String,
    task: TaskKind,
    classes: Vec<String>,
    members: Vec<SavedMember>,
}

impl EnsembleModel {
    /// An ensemble of `members` (model, weight, trial id); weights are normalised. Errors when
    /// there are none, a weight is not positive and finite, or the members disagree on the task
    /// or classes.
    pub fn new(members: Vec<(Arc<dyn TrainedModel>, f64, String)>) -> Result<Self> {
        let first = members.first().ok_or_else(|| AutomlError::Training {
            model: "ensemble".into(),
            message: "an ensemble needs at least one member".into(),
        })?;
        let task = first.0.task();
        let classes = first.0.classes().to_vec();
        let mut total = 0.0;
        for (m, w, id) in &members {
            if !(w.is_finite() && *w > 0.0) {
                return Err(AutomlError::Training {
                    model: "ensemble".into(),
                    message: format!("member {id} has weight {w}"),
                });
            }
            if m.task() != task || m.classes() != classes.as_slice() || m.is_image_model() {
                return Err(AutomlError::Training {
                    model: "ensemble".into(),
                    message: format!("member {id} does not predict the same task and classes"),
                });
            }
            total += w;
        }
        let members = members
            .into_iter()
            .map(|(m, w, id)| (m, w / total, id))
            .collect();
        Ok(EnsembleModel {
            task,
            classes,
            members,
        })
    }

    /// The members: trial id and weight.
    pub fn weights(&self) -> Vec<(String, f64)> {
        self.members
            .iter()
            .map(|(_, w, id)| (id.clone(), *w))
            .collect()
    }
}

impl TrainedModel for EnsembleModel {
    fn model_name(&self) -> &str {
        "ensemble"
    }

    fn task(&self) -> TaskKind {
        self.task
    }

    fn classes(&self) -> &[String] {
        &self.classes
    }

    fn predict_batch(&self, batch: &RecordBatch) -> Result<(Predictions, TransformReport)> {
        let n = batch.num_rows();
        let mut report = None;
        let mut proba = Array2::<f64>::zeros((n, self.classes.len().max(1)));
        let mut values = vec![0.0; n];
        for (m, w, _) in &self.members {
            let (p, r) = m.predict_batch(batch)?;
            // Members share the preprocessing choices; the first one's report stands for all.
            report.get_or_insert(r);
            match p {
                Predictions::Classes { proba: p, .. } if p.dim() == proba.dim() => {
                    proba.scaled_add(*w, &p);
                }
                Predictions::Values(v) if v.len() == n => {
                    for (a, b) in values.iter_mut().zip(v) {
                        *a += w * b;
                    }
                }
                _ => {
                    return Err(AutomlError::Internal(format!(
                        "ensemble member {} predicted a different shape",
                        m.model_name()
                    )));
                }
            }
        }
        let report = report.unwrap_or_default();
        Ok(match self.task {
            TaskKind::Classification => (
                Predictions::Classes {
                    classes: self.classes.clone(),
                    proba,
                },
                report,
            ),
            TaskKind::Regression => (Predictions::Values(values), report),
        })
    }

    fn feature_importance(&self) -> Vec<FeatureImportance> {
        let mut by: HashMap<String, f64> = HashMap::new();
        for (m, w, _) in &self.members {
            for f in m.feature_importance() {
                *by.entry(f.feature).or_default() += w * f.importance;
            }
        }
        crate::train::ranked_importance(by)
    }

    fn save(&self, dir: &Path) -> Result<Vec<PathBuf>> {
        let mut files = Vec::new();
        let mut saved = Vec::new();
        for (i, (m, w, id)) in self.members.iter().enumerate() {
            let name = format!("member-{i}");
            let sub = dir.join(&name);
            std::fs::create_dir_all(&sub).map_err(|e| AutomlError::io(&sub, e))?;
            files.extend(m.save(&sub)?);
            saved.push(SavedMember {
                dir: name,
                weight: *w,
                run_id: id.clone(),
                model: m.model_name().to_string(),
            });
        }
        let manifest = Manifest {
            format: FORMAT.to_string(),
            task: self.task,
            classes: self.classes.clone(),
            members: saved,
        };
        let path = dir.join("model.json");
        let text = serde_json::to_string_pretty(&manifest)
            .map_err(|e| AutomlError::Internal(format!("ensemble serialisation: {e}")))?;
        std::fs::write(&path, text).map_err(|e| AutomlError::io(&path, e))?;
        files.insert(0, path);
        Ok(files)
    }
}

/// Loads a saved ensemble whose `model.json` is `file`, its members through `formats`. A member
/// folder that is not a plain `member-N` name, a nested ensemble, or members that disagree with
/// the manifest are [`AutomlError::ModelLoad`] errors naming the file.
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
    if m.members.is_empty() || m.members.len() > MAX_MEMBERS {
        return Err(bad(format!(
            "{} members (1 to {MAX_MEMBERS} allowed)",
            m.members.len()
        )));
    }
    let root = file.parent().unwrap_or(Path::new("."));
    let mut members = Vec::new();
    for s in &m.members {
        let plain = s
            .dir
            .strip_prefix("member-")
            .is_some_and(|d| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit()));
        if !plain {
            return Err(bad(format!("member folder {:?} is not member-N", s.dir)));
        }
        let sub = root.join(&s.dir).join("model.json");
        // A nested ensemble is refused before it is read as one.
        let text = std::fs::read_to_string(&sub).map_err(|e| AutomlError::ModelLoad {
            path: sub.clone(),
            message: e.to_string(),
        })?;
        if serde_json::from_str::<serde_json::Value>(&text)
            .ok()
            .and_then(|v| v.get("format").and_then(|f| f.as_str()).map(str::to_string))
            .as_deref()
            == Some(FORMAT)
        {
            return Err(bad(format!("member {} is itself an ensemble", s.dir)));
        }
        let model: Arc<dyn TrainedModel> = Arc::from(formats.load(&sub)?);
        members.push((model, s.weight, s.run_id.clone()));
    }
    let e = EnsembleModel::new(members).map_err(|e| bad(e.to_string()))?;
    if e.task != m.task || e.classes != m.classes {
        return Err(bad(
            "the members' task or classes differ from the manifest's".into(),
        ));
    }
    Ok(Box::new(e))
}

/// The outcome of ensemble selection.
pub struct Selection {
    /// The chosen trials (indices into the pool given) and how many times each was picked.
    pub picks: Vec<(usize, usize)>,
    /// The ensemble's metrics on the same rows.
    pub metrics: Metrics,
    /// The best single candidate's metrics on those rows.
    pub best_single: Metrics,
}

fn rows_metrics(y: &Targets, p: &Predictions) -> Option<Metrics> {
    match (y, p) {
        (Targets::Classes(y), Predictions::Classes { proba, .. }) if proba.nrows() == y.len() => {
            Some(metrics::classification(y, proba))
        }
        (Targets::Values(y), Predictions::Values(v)) if v.len() == y.len() => {
            Some(metrics::regression(y, v))
        }
        _ => None,
    }
}

fn add_scaled(acc: &mut Predictions, p: &Predictions) {
    match (acc, p) {
        (Predictions::Classes { proba: a, .. }, Predictions::Classes { proba: b, .. })
            if a.dim() == b.dim() =>
        {
            *a += b;
        }
        (Predictions::Values(a), Predictions::Values(b)) if a.len() == b.len() => {
            for (x, y) in a.iter_mut().zip(b) {
                *x += y;
            }
        }
        _ => {}
    }
}

fn scaled(p: &Predictions, k: f64) -> Predictions {
    match p {
        Predictions::Classes { classes, proba } => Predictions::Classes {
            classes: classes.clone(),
            proba: proba / k,
        },
        Predictions::Values(v) => Predictions::Values(v.iter().map(|x| x / k).collect()),
    }
}

/// Greedy selection with replacement over `pool` (all predictions on the rows whose targets are
/// `y`), ranking by `metric` with the log loss / RMSE tie-break: starts from the best single
/// candidate and adds, round by round, the candidate whose addition ranks best, for at most
/// [`MAX_ROUNDS`] rounds or until `deadline`; the best ensemble seen is returned. `None` when
/// fewer than two candidates fit the rows.
pub fn select(
    pool: &[PooledTrial],
    y: &Targets,
    metric: &str,
    deadline: Instant,
) -> Option<Selection> {
    // The best candidates, and the best of each model family beyond them: a linear model
    // ranked below dozens of tree configurations can still be what an ensemble of trees lacks.
    let mut families = std::collections::HashSet::new();
    let mut scored: Vec<(usize, Metrics)> = Vec::new();
    for (i, t) in pool.iter().enumerate() {
        let Some(m) = rows_metrics(y, &t.predictions.predictions) else {
            continue;
        };
        let family_best = families.insert(t.model_name.as_str());
        if scored.len() < MAX_CANDIDATES || family_best {
            scored.push((i, m));
        }
    }
    if scored.len() < 2 {
        return None;
    }
    let (first, first_m) = scored
        .iter()
        .min_by(|a, b| compare_keys(rank_key(&a.1, metric), rank_key(&b.1, metric)))
        .cloned()?;
    let mut counts: HashMap<usize, usize> = HashMap::from([(first, 1)]);
    let mut sum = pool[first].predictions.predictions.clone();
    let mut size = 1usize;
    let mut best = (rank_key(&first_m, metric), counts.clone(), first_m.clone());
    for _ in 1..MAX_ROUNDS {
        if Instant::now() >= deadline {
            break;
        }
        let mut round_best: Option<(usize, (f64, f64), Metrics)> = None;
        for (i, _) in &scored {
            let mut trial = sum.clone();
            add_scaled(&mut trial, &pool[*i].predictions.predictions);
            let Some(m) = rows_metrics(y, &scaled(&trial, (size + 1) as f64)) else {
                continue;
            };
            let key = rank_key(&m, metric);
            if round_best
                .as_ref()
                .is_none_or(|(_, k, _)| compare_keys(key, *k) == std::cmp::Ordering::Less)
            {
                round_best = Some((*i, key, m));
            }
        }
        let Some((i, key, m)) = round_best else { break };
        add_scaled(&mut sum, &pool[i].predictions.predictions);
        size += 1;
        *counts.entry(i).or_default() += 1;
        if compare_keys(key, best.0) == std::cmp::Ordering::Less {
            best = (key, counts.clone(), m);
        }
    }
    let mut picks: Vec<(usize, usize)> = best.1.into_iter().collect();
    picks.sort();
    Some(Selection {
        picks,
        metrics: best.2,
        best_single: first_m,
    })
}

/// The prediction rows an ensemble is chosen on: those of the best pooled trial.
pub fn rows_of(pool: &[PooledTrial]) -> Option<PredictionRows> {
    pool.first().map(|t| t.predictions.rows)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::train::TrialPredictions;

    struct Fixed {
        proba: Array2<f64>,
    }

    impl TrainedModel for Fixed {
        fn model_name(&self) -> &str {
            "fixed"
        }
        fn task(&self) -> TaskKind {
            TaskKind::Classification
        }
        fn classes(&self) -> &[String] {
            static C: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();
            C.get_or_init(|| vec!["a".into(), "b".into()])
        }
        fn predict_batch(&self, _: &RecordBatch) -> Result<(Predictions, TransformReport)> {
            Ok((
                Predictions::Classes {
                    classes: self.classes().to_vec(),
                    proba: self.proba.clone(),
                },
                TransformReport::default(),
            ))
        }
        fn feature_importance(&self) -> Vec<FeatureImportance> {
            vec![]
        }
        fn save(&self, _: &Path) -> Result<Vec<PathBuf>> {
            Ok(vec![])
        }
    }

    fn trial(id: &str, p1: &[f64]) -> PooledTrial {
        let mut proba = Array2::zeros((p1.len(), 2));
        for (i, v) in p1.iter().enumerate() {
            proba[[i, 0]] = 1.0 - v;
            proba[[i, 1]] = *v;
        }
        PooledTrial {
            run_id: id.into(),
            model_name: "fixed".into(),
            score: 0.0,
            model: Arc::new(Fixed {
                proba: proba.clone(),
            }),
            predictions: TrialPredictions {
                rows: PredictionRows::Valid,
                predictions: Predictions::Classes {
                    classes: vec!["a".into(), "b".into()],
                    proba,
                },
            },
        }
    }

    /// Two models that each get a different half wrong: their average gets everything right, so
    /// selection picks both and beats the best single model.
    #[test]
    fn complementary_models_are_combined() {
        let y = Targets::Classes(vec![1, 1, 0, 0]);
        let a = trial("r-1", &[0.9, 0.45, 0.2, 0.1]);
        let b = trial("r-2", &[0.45, 0.9, 0.1, 0.2]);
        let c = trial("r-3", &[0.4, 0.4, 0.6, 0.6]);
        let far = Instant::now() + std::time::Duration::from_secs(10);
        let s = select(&[a, b, c], &y, "accuracy", far).expect("a selection");
        assert_eq!(s.metrics["accuracy"], 1.0);
        assert_eq!(s.best_single["accuracy"], 0.75);
        let ids: Vec<usize> = s.picks.iter().map(|p| p.0).collect();
        assert_eq!(ids, vec![0, 1]);
    }

    /// The best trial of another family is a candidate even when more than
    /// [`MAX_CANDIDATES`] trials of one family rank above it: twenty copies of one model that
    /// gets the second half wrong, and below them a weaker model of another family that gets
    /// it right, combine to a perfect score. With that model in the same family (so only the
    /// top [`MAX_CANDIDATES`] are considered) the rule does not fire and nothing is gained.
    #[test]
    fn each_familys_best_is_a_candidate() {
        let y = Targets::Classes(vec![1, 1, 0, 0]);
        let far = Instant::now() + std::time::Duration::from_secs(10);
        let mut pool: Vec<PooledTrial> = (0..20)
            .map(|i| trial(&format!("r-{i}"), &[0.9, 0.45, 0.2, 0.1]))
            .collect();
        let mut other = trial("r-lin", &[0.45, 0.9, 0.1, 0.2]);
        other.model_name = "linear".into();
        pool.push(other.clone());
        let s = select(&pool, &y, "accuracy", far).expect("a selection");
        assert_eq!(s.best_single["accuracy"], 0.75);
        assert_eq!(s.metrics["accuracy"], 1.0);
        assert!(s.picks.iter().any(|p| p.0 == 20), "{:?}", s.picks);
        other.model_name = "fixed".into();
        pool[20] = other;
        let s = select(&pool, &y, "accuracy", far).expect("a selection");
        assert_eq!(s.metrics["accuracy"], 0.75);
        assert!(s.picks.iter().all(|p| p.0 < 20), "{:?}", s.picks);
    }

    /// The leaderboard keeps predictions for its best [`crate::train::POOLED_TRIALS`] trials
    /// and for the best trial of every other family, however low it ranks; the rest drop theirs.
    #[test]
    fn the_pool_keeps_each_familys_best() {
        use crate::train::{POOLED_TRIALS, TrainContext, TrialRecord};
        let bus = crate::bus::EventBus::default();
        let cx = TrainContext::new(
            bus.emitter("t"),
            tokio_util::sync::CancellationToken::new(),
            Instant::now() + std::time::Duration::from_secs(30),
            0,
            None,
            "accuracy",
        );
        let report = |t: PooledTrial, acc: f64| {
            cx.report_trial(TrialRecord {
                run_id: t.run_id,
                model_name: t.model_name,
                params: Default::default(),
                metrics: Metrics::from([("accuracy".to_string(), acc)]),
                model: t.model,
                refit: None,
                duration_s: 0.0,
                predictions: Some(t.predictions),
            })
        };
        let mut low = trial("r-lin", &[0.45, 0.9, 0.1, 0.2]);
        low.model_name = "linear".into();
        report(low, 0.5);
        for i in 0..30 {
            report(trial(&format!("r-{i}"), &[0.9, 0.45, 0.2, 0.1]), 0.75);
        }
        let pool = cx.pool();
        assert_eq!(pool.len(), POOLED_TRIALS + 1);
        assert_eq!(pool.last().map(|t| t.run_id.as_str()), Some("r-lin"));
    }

    #[test]
    fn one_candidate_is_no_ensemble() {
        let y = Targets::Classes(vec![1, 0]);
        let far = Instant::now() + std::time::Duration::from_secs(10);
        assert!(select(&[trial("r-1", &[0.9, 0.1])], &y, "accuracy", far).is_none());
    }

    #[test]
    fn weighted_average_of_members() {
        let m1: Arc<dyn TrainedModel> = Arc::new(Fixed {
            proba: ndarray::array![[1.0, 0.0]],
        });
        let m2: Arc<dyn TrainedModel> = Arc::new(Fixed {
            proba: ndarray::array![[0.0, 1.0]],
        });
        let e = EnsembleModel::new(vec![(m1, 3.0, "r-1".into()), (m2, 1.0, "r-2".into())])
            .expect("ensemble");
        let col: arrow::array::ArrayRef = Arc::new(arrow::array::Int64Array::from(vec![1]));
        let batch = RecordBatch::try_from_iter(vec![("x", col)]).expect("batch");
        let (p, _) = e.predict_batch(&batch).expect("predict");
        let Predictions::Classes { proba, .. } = p else {
            panic!("classes")
        };
        assert!((proba[[0, 0]] - 0.75).abs() < 1e-12);
        assert!((proba[[0, 1]] - 0.25).abs() < 1e-12);
        assert!(EnsembleModel::new(vec![]).is_err());
    }
}
