//! TRAIN: trainers run in rank order under one deadline and leaderboard; the best
//! configuration is refitted on train + valid when time allows.

/// The share of the remaining budget each trainer but the last may use.
const TRAINER_SHARE: f64 = 0.3;
/// The same on text data, where the first (linear) trainer is usually the best.
const TEXT_LINEAR_SHARE: f64 = 0.7;
/// The share of the budget kept back from the trainers for ensemble selection and the refit.
const ENSEMBLE_RESERVE: f64 = 0.04;
/// Trainers that return with less time left than this (or 1% of the budget) stopped for the
/// budget, not because their search converged.
const CONVERGED_MIN_LEFT_S: f64 = 0.05;
/// The most decision-rule tuning may run past the budget when the reserve is spent.
const DECISION_ALLOWANCE: Duration = Duration::from_millis(100);

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::conductor::run::{RunState, blocking};
use crate::data::preprocess::{TabularData, Targets};
use crate::error::{AutomlError, Result};
use crate::event::{
    Event, Metrics, SearchStop, SearchSummary, Stage, TrainRunFinishedPayload,
    TrainRunStartedPayload,
};
use crate::train::decision::{self, DecisionModel};
use crate::train::ensemble::{self, EnsembleModel};
use crate::train::{
    BestModel, PredictionRows, Predictions, RefitFn, TrainContext, TrainInput, TrainedModel,
    Trainer, TrialPredictions, TrialRecord,
};

impl RunState {
    pub(crate) async fn train(&mut self) -> Result<()> {
        let spec = self.task_spec()?;
        let budget = self
            .req
            .time_budget_s
            .or_else(|| {
                self.intent
                    .as_ref()
                    .and_then(|i| i.constraints.time_budget_s)
            })
            .unwrap_or(self.inner.default_time_budget_s);
        if !(budget > 0.0) || !budget.is_finite() {
            return Err(AutomlError::InvalidOption {
                name: "time_budget".to_string(),
                message: format!("{budget} is not a positive number of seconds"),
            });
        }
        let max_trials = self
            .req
            .max_trials
            .or_else(|| self.intent.as_ref().and_then(|i| i.constraints.max_trials));
        let metric = match self.metric.clone() {
            Some(m) => m,
            None => self.metric_for(spec.task)?,
        };
        self.begin(
            Stage::Train,
            &format!("training for up to {budget:.0} s, optimising {metric}"),
        )?;
        let started = Instant::now();
        let tcx = TrainContext::new(
            self.cx.emitter.clone(),
            self.cx.cancel.clone(),
            started + Duration::from_secs_f64(budget),
            self.cx.settings.seed,
            max_trials,
            &metric,
        );
        // A resumed TRAIN numbers its trials after the ones the log holds.
        tcx.skip_run_ids(self.trial_ids_used);
        self.train_cx = Some(tcx.clone());
        let input = self
            .input
            .clone()
            .ok_or_else(|| AutomlError::Internal("no input".into()))?;
        // Trainers in the order of their best-ranked candidate.
        let mut order: Vec<Arc<dyn Trainer>> = Vec::new();
        for c in &self.ranked {
            if let Some(t) = self
                .inner
                .trainers
                .iter()
                .find(|t| t.name() == c.trainer && t.supports(&spec))
            {
                if !order.iter().any(|o| o.name() == t.name()) {
                    order.push(t.clone());
                }
            }
        }
        // Cost-frugal sharing: every trainer but the last may use at most its share of what is
        // left (cheap ones come first and finish early); the last gets everything that is left
        // but a small reserve for ensemble selection.
        let trainers_cx = if matches!(input, TrainInput::Tabular(_)) {
            tcx.with_deadline(started + Duration::from_secs_f64(budget * (1.0 - ENSEMBLE_RESERVE)))
        } else {
            tcx.clone()
        };
        let tcx_all = tcx.clone();
        let tcx = trainers_cx;
        let n = order.len();
        // A trainer that fails is skipped, and said so, while another may still give a model;
        // the run fails with the first error only when no trainer gave a trial.
        let mut first_error: Option<AutomlError> = None;
        for (i, t) in order.into_iter().enumerate() {
            if tcx.should_stop() {
                break;
            }
            // On text, linear models over the hashed n-grams are the strong family: they get more.
            let share = if spec.modality == "text" {
                TEXT_LINEAR_SHARE
            } else {
                TRAINER_SHARE
            };
            let sub = if i + 1 < n {
                tcx.with_deadline(Instant::now() + tcx.time_left().mul_f64(share))
            } else {
                tcx.clone()
            };
            if let Err(e) = t.train(input.clone(), sub).await {
                if matches!(e, AutomlError::Cancelled) {
                    break;
                }
                self.emit(Event::warning(
                    "trainer_failed",
                    format!("trainer {} failed and was skipped: {e}", t.name()),
                ));
                first_error.get_or_insert(e);
            }
        }
        if let (None, Some(e)) = (tcx.best(), first_error) {
            if !self.cx.cancel.is_cancelled() {
                return Err(e);
            }
        }
        // Trainers return before the deadline only when their search converged or their list
        // was done; one that returns with a moment left (a search does not start a trial with
        // less than 20 ms to go) ran out of budget.
        let stop = if self.cx.cancel.is_cancelled() {
            SearchStop::Cancelled
        } else if tcx.trial_limit_reached() {
            SearchStop::TrialLimit
        } else if tcx.should_stop()
            || tcx.time_left().as_secs_f64() < CONVERGED_MIN_LEFT_S.max(budget * 0.01)
        {
            SearchStop::Budget
        } else {
            SearchStop::Converged
        };
        let tcx = tcx_all;
        let trials = tcx.trials();
        // The tuned decision row's id and a line for the stage summary.
        let mut decision_note: Option<(String, String)> = None;
        if let (TrainInput::Tabular(data), false) = (&input, self.cx.cancel.is_cancelled()) {
            let data = data.clone();
            let tcx2 = tcx.clone();
            let metric2 = metric.clone();
            let outcome = blocking("ensemble", move || {
                build_ensemble(&data, &tcx2, &metric2);
                // Decision tuning is cheap (a grid over class weights on stored predictions):
                // it may use a moment past the trainers' reserve rather than be skipped.
                let deadline = tcx2.deadline.max(Instant::now() + DECISION_ALLOWANCE);
                Ok(tune_decision(&data, &tcx2, &metric2, deadline))
            })
            .await?;
            match outcome {
                DecisionOutcome::Added(id, threshold) => {
                    let note = match threshold {
                        Some(t) => format!("decision threshold {t:.3} tuned for {metric}"),
                        None => format!("class decision weights tuned for {metric}"),
                    };
                    decision_note = Some((id, note));
                }
                DecisionOutcome::OutOfTime => self.emit(Event::warning(
                    "decision_tuning_skipped",
                    format!(
                        "no time was left to tune the decision threshold for {metric}; the \
                         most probable class is predicted"
                    ),
                )),
                DecisionOutcome::NotApplicable | DecisionOutcome::NotKept => {}
            }
        }
        tcx.finish_search(SearchSummary {
            stop,
            trials,
            elapsed_s: started.elapsed().as_secs_f64(),
            budget_s: budget,
        });
        self.best = tcx.best();
        if self.cx.cancel.is_cancelled() {
            return Err(AutomlError::Cancelled);
        }
        let best = self.best.clone().ok_or_else(|| AutomlError::Training {
            model: "search".to_string(),
            message: format!("no trial finished within the {budget:.1} s budget"),
        })?;
        let refitted = self.refit(&best, &input, &tcx).await?;
        // Before TRAIN is announced complete: a takeover that sees it completed finds the model.
        self.save_checkpoint().await;
        self.complete(
            Stage::Train,
            format!(
                "best {} ({}), {metric} {:.4} on validation{}{}",
                best.model.model_name(),
                best.run_id,
                best.score,
                if refitted {
                    "; refitted on train + valid"
                } else {
                    ""
                },
                decision_note
                    .filter(|(id, _)| *id == best.run_id)
                    .map(|(_, n)| format!("; {n}"))
                    .unwrap_or_default()
            ),
        );
        Ok(())
    }

    /// Refits the best configuration on train + valid when its trainer offers it and the time
    /// left covers the estimated cost (the trial's time scaled by the extra rows, with margin).
    pub(crate) async fn refit(
        &mut self,
        best: &BestModel,
        input: &TrainInput,
        tcx: &TrainContext,
    ) -> Result<bool> {
        let (Some(refit), TrainInput::Tabular(data)) = (best.refit.clone(), input) else {
            return Ok(false);
        };
        let n_train = data.train_rows.num_rows().max(1);
        let n_all = n_train + data.valid_rows.num_rows();
        let estimate = best.duration_s * n_all as f64 / n_train as f64 * 1.3 + 0.02;
        if estimate > tcx.time_left().as_secs_f64() {
            return Ok(false);
        }
        let run_id = format!("{}-refit", best.run_id);
        let mut params = serde_json::Map::new();
        params.insert("refit_of".into(), best.run_id.clone().into());
        params.insert("rows".into(), (n_all as u64).into());
        self.emit(Event::TrainRunStarted(TrainRunStartedPayload {
            run_id: run_id.clone(),
            model: best.model.model_name().to_string(),
            params,
        }));
        let started = Instant::now();
        let data = data.clone();
        let result = blocking("refit", move || refit(&data)).await;
        let ok = result.is_ok();
        self.emit(Event::TrainRunFinished(TrainRunFinishedPayload {
            run_id,
            model: best.model.model_name().to_string(),
            metrics: Metrics::new(),
            duration_s: started.elapsed().as_secs_f64(),
            status: if ok { "completed" } else { "failed" }.to_string(),
        }));
        match result {
            Ok(model) => {
                if let Some(b) = self.best.as_mut() {
                    b.model = model;
                }
                Ok(true)
            }
            Err(e) => {
                self.emit(Event::warning(
                    "refit_failed",
                    format!(
                        "refitting {} on train + valid failed ({e}); the validated model is kept",
                        best.run_id
                    ),
                ));
                Ok(false)
            }
        }
    }
}

/// Greedy ensemble selection over the pooled trials' out-of-sample predictions; the ensemble
/// goes on the leaderboard only when it ranks above the best single trial on those rows.
fn build_ensemble(data: &TabularData, tcx: &TrainContext, metric: &str) {
    let pool = tcx.pool();
    let Some(rows) = ensemble::rows_of(&pool) else {
        return;
    };
    let pool: Vec<_> = pool
        .into_iter()
        .filter(|t| t.predictions.rows == rows)
        .collect();
    let Some(y) = targets_of(data, rows) else {
        return;
    };
    let Some(sel) = ensemble::select(&pool, &y, metric, tcx.deadline) else {
        return;
    };
    if sel.picks.len() < 2
        || crate::train::compare_keys(
            crate::train::rank_key(&sel.metrics, metric),
            crate::train::rank_key(&sel.best_single, metric),
        ) != std::cmp::Ordering::Less
    {
        return;
    }
    let members: Vec<(Arc<dyn TrainedModel>, f64, String)> = sel
        .picks
        .iter()
        .map(|(i, c)| (pool[*i].model.clone(), *c as f64, pool[*i].run_id.clone()))
        .collect();
    let Ok(model) = EnsembleModel::new(members) else {
        return;
    };
    // The ensemble's own out-of-sample predictions (the weighted average of its members'), so
    // a decision rule can be tuned on it like on any trial.
    let total: usize = sel.picks.iter().map(|(_, c)| c).sum();
    let mut combined: Option<Predictions> = None;
    for (i, c) in &sel.picks {
        let w = *c as f64 / total.max(1) as f64;
        let p = match &pool[*i].predictions.predictions {
            Predictions::Classes { classes, proba } => Predictions::Classes {
                classes: classes.clone(),
                proba: proba * w,
            },
            Predictions::Values(v) => Predictions::Values(v.iter().map(|x| x * w).collect()),
        };
        combined = Some(match (combined, p) {
            (None, p) => p,
            (
                Some(Predictions::Classes { classes, proba: a }),
                Predictions::Classes { proba: b, .. },
            ) => Predictions::Classes {
                classes,
                proba: a + b,
            },
            (Some(Predictions::Values(a)), Predictions::Values(b)) => {
                Predictions::Values(a.iter().zip(&b).map(|(x, y)| x + y).collect())
            }
            (Some(a), _) => a,
        });
    }
    let mut params = serde_json::Map::new();
    params.insert(
        "members".into(),
        serde_json::Value::Array(
            sel.picks
                .iter()
                .zip(model.weights())
                .map(|((i, _), (id, w))| {
                    serde_json::json!({"run_id": id, "model": pool[*i].model_name, "weight": w})
                })
                .collect(),
        ),
    );
    params.insert("rows".into(), rows_name(rows).into());
    tcx.add_composite(TrialRecord {
        run_id: String::new(),
        model_name: "ensemble".into(),
        params,
        metrics: sel.metrics,
        model: Arc::new(model),
        refit: None,
        duration_s: 0.0,
        predictions: combined.map(|predictions| TrialPredictions { rows, predictions }),
    });
}

fn rows_name(rows: PredictionRows) -> &'static str {
    match rows {
        PredictionRows::Valid => "valid",
        PredictionRows::OutOfFold => "out_of_fold",
    }
}

/// The targets of the rows out-of-sample predictions are for.
fn targets_of(data: &TabularData, rows: PredictionRows) -> Option<Targets> {
    match rows {
        PredictionRows::Valid => Some(data.y_valid.clone()),
        PredictionRows::OutOfFold => data.train_and_valid().ok().map(|(_, _, y)| y),
    }
}

/// What decision tuning did, for the stage's summary.
pub(crate) enum DecisionOutcome {
    /// The metric does not depend on the decision, or the best model has no out-of-sample
    /// class probabilities.
    NotApplicable,
    /// Tried; the cross-fitted score did not beat the untuned one.
    NotKept,
    /// Tried but out of time.
    OutOfTime,
    /// A decision-rule row was added (its id and, for two classes, the threshold).
    Added(String, Option<f64>),
}

/// Tunes per-class decision weights on the best trial's out-of-sample predictions when the
/// metric depends on the decision (macro-F1, balanced accuracy); when they pay on held-out
/// halves, the tuned model goes on the leaderboard as its own row (LEADERBOARD_UPDATED:
/// `params.decision_of`, `params.class_weights`, `params.threshold` for two classes), scored
/// by the cross-fitted metrics, and refits like its base.
pub(crate) fn tune_decision(
    data: &TabularData,
    tcx: &TrainContext,
    metric: &str,
    deadline: Instant,
) -> DecisionOutcome {
    if !decision::DECISION_METRICS.contains(&metric) {
        return DecisionOutcome::NotApplicable;
    }
    let Some(best) = tcx.best() else {
        return DecisionOutcome::NotApplicable;
    };
    let Some(trial) = tcx.pool().into_iter().find(|t| t.run_id == best.run_id) else {
        return DecisionOutcome::NotApplicable;
    };
    let (Predictions::Classes { proba, .. }, Some(Targets::Classes(y))) = (
        &trial.predictions.predictions,
        targets_of(data, trial.predictions.rows),
    ) else {
        return DecisionOutcome::NotApplicable;
    };
    let Some(t) = decision::tune(&y, proba, metric, tcx.seed, deadline) else {
        return if Instant::now() >= deadline {
            DecisionOutcome::OutOfTime
        } else {
            DecisionOutcome::NotKept
        };
    };
    let Ok(model) = DecisionModel::new(best.model.clone(), t.weights.clone()) else {
        return DecisionOutcome::NotApplicable;
    };
    let threshold = decision::binary_threshold(&t.weights);
    let mut params = serde_json::Map::new();
    params.insert("decision_of".into(), best.run_id.clone().into());
    params.insert("class_weights".into(), serde_json::json!(t.weights));
    if let Some(th) = threshold {
        params.insert("threshold".into(), serde_json::json!(th));
    }
    params.insert(
        format!("untuned_{metric}"),
        serde_json::json!(t.base_metrics.get(metric)),
    );
    params.insert("rows".into(), rows_name(trial.predictions.rows).into());
    let refit: Option<RefitFn> = best.refit.clone().map(|base_refit| {
        let w = t.weights.clone();
        let f: RefitFn = Arc::new(move |d: &TabularData| {
            let m: Arc<dyn TrainedModel> = Arc::new(DecisionModel::new(base_refit(d)?, w.clone())?);
            Ok(m)
        });
        f
    });
    let id = tcx.add_composite(TrialRecord {
        run_id: String::new(),
        model_name: best.model.model_name().to_string(),
        params,
        metrics: t.metrics,
        model: Arc::new(model),
        refit,
        duration_s: best.duration_s,
        predictions: None,
    });
    DecisionOutcome::Added(id, threshold)
}
