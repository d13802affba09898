//! TRAIN: trainers run in rank order under one deadline and leaderboard; the best
//! configuration is refitted on train + valid when time allows.

/// The share of the remaining budget each trainer but the last may use.
const TRAINER_SHARE: f64 = 0.3;
/// The same on text data, where the first (linear) trainer is usually the best.
const TEXT_LINEAR_SHARE: f64 = 0.7;
/// The share of the budget kept back from the trainers for ensemble selection and the refit.
const ENSEMBLE_RESERVE: f64 = 0.04;

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::conductor::run::{RunState, blocking};
use crate::data::preprocess::{TabularData, Targets};
use crate::error::{AutomlError, Result};
use crate::event::{
    Event, Metrics, SearchStop, SearchSummary, Stage, TrainRunFinishedPayload,
    TrainRunStartedPayload,
};
use crate::train::ensemble::{self, EnsembleModel};
use crate::train::{BestModel, PredictionRows, TrainContext, TrainInput, TrainedModel, Trainer};

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
                if tcx.best().is_some() {
                    self.emit(Event::warning(
                        "trainer_failed",
                        format!("trainer {} failed and was skipped: {e}", t.name()),
                    ));
                } else {
                    return Err(e);
                }
            }
        }
        // Trainers return before the deadline only when their search converged or their list
        // was done.
        let stop = if self.cx.cancel.is_cancelled() {
            SearchStop::Cancelled
        } else if tcx.trial_limit_reached() {
            SearchStop::TrialLimit
        } else if tcx.should_stop() {
            SearchStop::Budget
        } else {
            SearchStop::Converged
        };
        let tcx = tcx_all;
        let trials = tcx.trials();
        if let (TrainInput::Tabular(data), false) = (&input, self.cx.cancel.is_cancelled()) {
            let data = data.clone();
            let tcx2 = tcx.clone();
            let metric2 = metric.clone();
            blocking("ensemble", move || {
                build_ensemble(&data, &tcx2, &metric2);
                Ok(())
            })
            .await?;
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
        self.complete(
            Stage::Train,
            format!(
                "best {} ({}), {metric} {:.4} on validation{}",
                best.model.model_name(),
                best.run_id,
                best.score,
                if refitted {
                    "; refitted on train + valid"
                } else {
                    ""
                }
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
    let y: Targets = match rows {
        PredictionRows::Valid => data.y_valid.clone(),
        PredictionRows::OutOfFold => match data.train_and_valid() {
            Ok((_, _, y)) => y,
            Err(_) => return,
        },
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
    params.insert(
        "rows".into(),
        match rows {
            PredictionRows::Valid => "valid",
            PredictionRows::OutOfFold => "out_of_fold",
        }
        .into(),
    );
    tcx.add_composite("ensemble", params, &sel.metrics, Arc::new(model));
}
