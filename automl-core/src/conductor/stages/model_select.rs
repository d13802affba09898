//! MODEL_SELECT: every trainer that supports the task offers candidates; the selector agent
//! ranks them. The metric to optimise is chosen here too.

use crate::agents::SelectionInput;
use crate::conductor::request::{FORECAST_METRICS, check_metric, normalise_metric};
use crate::conductor::run::RunState;
use crate::error::{AutomlError, Result};
use crate::event::{Event, Modality, ModelCandidate, ModelCandidatesPayload, Stage, TaskKind};

impl RunState {
    pub(crate) async fn model_select(&mut self) -> Result<()> {
        self.begin(Stage::ModelSelect, "choosing model candidates")?;
        let spec = self.task_spec()?;
        let metric = self.metric_for(spec.task)?;
        self.metric = Some(metric);
        let offered: Vec<ModelCandidate> = self
            .inner
            .trainers
            .iter()
            .filter(|t| t.supports(&spec))
            .flat_map(|t| t.candidates(&spec))
            .collect();
        if offered.is_empty() {
            return Err(AutomlError::NoTrainer { task: spec.words() });
        }
        if self.forecast.is_none()
            && self
                .intent
                .as_ref()
                .is_some_and(|i| i.modality == Modality::TimeSeries)
        {
            self.emit(Event::warning(
                "forecast_as_regression",
                "the request reads as forecasting but the data is not a table with a time column; it is trained as plain regression",
            ));
        }
        let ranked = self
            .inner
            .selector
            .run(
                SelectionInput {
                    spec: spec.clone(),
                    candidates: offered,
                },
                &self.cx,
            )
            .await?;
        if ranked.is_empty() {
            return Err(AutomlError::NoTrainer { task: spec.words() });
        }
        self.emit(Event::ModelCandidates(ModelCandidatesPayload {
            candidates: ranked.clone(),
        }));
        self.complete(
            Stage::ModelSelect,
            format!(
                "{} candidates: {}",
                ranked.len(),
                ranked
                    .iter()
                    .map(|c| c.model.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        );
        self.ranked = ranked;
        Ok(())
    }

    /// A forecasting run's metric: the caller's or the prompt's when it is one of
    /// [`FORECAST_METRICS`] (the caller's otherwise is an error, the prompt's is announced and
    /// replaced), else MASE.
    fn forecast_metric(&mut self) -> Result<String> {
        if let Some(m) = &self.req.metric {
            let m = normalise_metric(m);
            if !FORECAST_METRICS.contains(&m.as_str()) {
                return Err(AutomlError::InvalidOption {
                    name: "metric".to_string(),
                    message: format!(
                        "{m} does not apply to forecasting; valid: {}",
                        FORECAST_METRICS.join(", ")
                    ),
                });
            }
            return Ok(m);
        }
        let asked = self
            .intent
            .as_ref()
            .and_then(|i| i.constraints.metric.clone())
            .map(|m| normalise_metric(&m));
        if let Some(m) = asked {
            if FORECAST_METRICS.contains(&m.as_str()) {
                return Ok(m);
            }
            self.emit(Event::warning(
                "metric_not_applicable",
                format!(
                    "the request asks for {m}, which does not apply to forecasting; using MASE (valid: {})",
                    FORECAST_METRICS.join(", ")
                ),
            ));
        }
        Ok("mase".to_string())
    }

    /// The metric to optimise: the caller's (an unfit one is an error naming the valid ones),
    /// else the prompt's (an unfit one is announced and replaced), else the default for the
    /// task (accuracy, or macro-F1 when the classes are imbalanced; R² for regression).
    pub(crate) fn metric_for(&mut self, task: TaskKind) -> Result<String> {
        if self.forecast.is_some() {
            return self.forecast_metric();
        }
        let n_classes = self.profile.as_ref().map_or(0, |p| p.class_balance.len());
        if let Some(m) = &self.req.metric {
            let m = normalise_metric(m);
            check_metric(&m, Some(task), n_classes).map_err(|message| {
                AutomlError::InvalidOption {
                    name: "metric".to_string(),
                    message,
                }
            })?;
            return Ok(m);
        }
        let asked = self
            .intent
            .as_ref()
            .and_then(|i| i.constraints.metric.clone())
            .map(|m| normalise_metric(&m));
        if let Some(m) = asked {
            match check_metric(&m, Some(task), n_classes) {
                Ok(()) => return Ok(m),
                Err(why) => self.emit(Event::warning(
                    "metric_not_applicable",
                    format!("the request asks for {m}, but {why}; using the default"),
                )),
            }
        }
        Ok(match task {
            TaskKind::Regression => "r2".to_string(),
            TaskKind::Classification => {
                let imbalanced = self.profile.as_ref().is_some_and(|p| {
                    match (p.class_balance.first(), p.class_balance.last()) {
                        (Some(a), Some(b)) => a.count as f64 >= 3.0 * b.count.max(1) as f64,
                        _ => false,
                    }
                });
                if imbalanced { "macro_f1" } else { "accuracy" }.to_string()
            }
        })
    }
}
