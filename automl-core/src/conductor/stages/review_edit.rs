//! REVIEW_EDIT: the best model is evaluated on the held-out test split, as a user would use
//! it; with `review(true)` the stage waits for the caller to accept or pick another trial.

use std::path::PathBuf;

use crate::bus::Emitter;
use crate::conductor::request::Choice;
use crate::conductor::run::{RunState, blocking};
use crate::data::preprocess::Targets;
use crate::error::{AutomlError, Result};
use crate::event::{Event, Metrics, Misclassified, ReviewPayload, Stage, StageStatus};
use crate::metrics;
use crate::train::{BestModel, ImageData, Predictions, TrainInput};

impl RunState {
    /// Evaluates `best` on the held-out test rows (or images), on the blocking pool: test
    /// inference (a CNN's included) is CPU work.
    pub(crate) async fn evaluate(&self, best: &BestModel) -> Result<ReviewPayload> {
        let input = self
            .input
            .clone()
            .ok_or_else(|| AutomlError::Internal("no input".into()))?;
        let best = best.clone();
        let em = self.cx.emitter.clone();
        blocking("evaluation", move || evaluate_on(&best, &input, &em)).await
    }

    pub(crate) async fn review_edit(&mut self) -> Result<()> {
        self.begin(Stage::ReviewEdit, "evaluating on the held-out test split")?;
        let best = self
            .best
            .clone()
            .ok_or_else(|| AutomlError::Internal("no model".into()))?;
        let review = self.evaluate(&best).await?;
        self.emit(Event::ReviewReady(review.clone()));
        self.review = Some(review);
        if self.req.review {
            self.emit(Event::stage(
                Stage::ReviewEdit,
                StageStatus::Waiting,
                "waiting for confirm (accept, or edit {\"run_id\": ...})",
            ));
            loop {
                let (stage, choice) = self.next_confirm().await?;
                if stage != Stage::ReviewEdit {
                    self.emit(Event::warning(
                        "confirm_ignored",
                        format!("confirm for {stage} ignored: the run waits at REVIEW_EDIT"),
                    ));
                    continue;
                }
                match choice {
                    Choice::Accept => break,
                    Choice::Edit(v) => {
                        let Some(run_id) = v.get("run_id").and_then(|r| r.as_str()) else {
                            self.emit(Event::warning(
                                "edit_ignored",
                                format!(
                                    "edit {v} not understood; expected {{\"run_id\": \"r-N\"}}"
                                ),
                            ));
                            continue;
                        };
                        let tcx = self
                            .train_cx
                            .clone()
                            .ok_or_else(|| AutomlError::Internal("no train context".into()))?;
                        match tcx.model_of(run_id) {
                            Some(m) => {
                                self.best = Some(m.clone());
                                let review = self.evaluate(&m).await?;
                                self.emit(Event::ReviewReady(review.clone()));
                                self.review = Some(review);
                                break;
                            }
                            None => self.emit(Event::warning(
                                "edit_ignored",
                                format!("no trial {run_id:?} on the leaderboard"),
                            )),
                        }
                    }
                }
            }
        }
        self.complete(
            Stage::ReviewEdit,
            if self.req.review {
                "confirmed"
            } else {
                "auto-confirmed"
            },
        );
        Ok(())
    }
}

/// A forecaster on the test windows: each series forecast from its training part and
/// compared with its last `horizon` steps; per-series metrics ride in the plot.
fn evaluate_forecast(
    best: &BestModel,
    d: &crate::data::timeseries::ForecastData,
) -> Result<ReviewPayload> {
    let f = best
        .model
        .forecaster()
        .ok_or_else(|| AutomlError::Training {
            model: best.model.model_name().to_string(),
            message: "a forecasting run chose a model that is not a forecaster".to_string(),
        })?;
    let (metrics, plot) = f.evaluate(d);
    Ok(ReviewPayload {
        metrics,
        best_run_id: best.run_id.clone(),
        model: best.model.model_name().to_string(),
        confusion_matrix: None,
        residuals: None,
        feature_importance: best.model.feature_importance(),
        n_test: d.split_sizes().1 as u64,
        misclassified: vec![],
        roc_curve: None,
        pr_curve: None,
        predicted_vs_actual: None,
        forecast: Some(plot),
    })
}

fn evaluate_on(best: &BestModel, input: &TrainInput, em: &Emitter) -> Result<ReviewPayload> {
    let d = match input {
        TrainInput::Tabular(d) => d,
        TrainInput::Images(i) => return evaluate_images(best, i, em),
        TrainInput::Forecast(d) => return evaluate_forecast(best, d),
    };
    let (pred, _) = best.model.predict_batch(&d.test_rows)?;
    let mut review = ReviewPayload {
        metrics: Metrics::new(),
        best_run_id: best.run_id.clone(),
        model: best.model.model_name().to_string(),
        confusion_matrix: None,
        residuals: None,
        feature_importance: best.model.feature_importance(),
        n_test: d.y_test.len() as u64,
        misclassified: vec![],
        roc_curve: None,
        pr_curve: None,
        predicted_vs_actual: None,
        forecast: None,
    };
    match (pred, &d.y_test) {
        (Predictions::Classes { classes, proba }, Targets::Classes(y)) => {
            review.metrics = metrics::classification(y, &proba);
            review.confusion_matrix = Some(metrics::confusion_matrix(y, &proba, &classes));
            review.roc_curve = metrics::roc_curve(y, &proba);
            review.pr_curve = metrics::pr_curve(y, &proba);
        }
        (Predictions::Values(p), Targets::Values(y)) => {
            review.metrics = metrics::regression(y, &p);
            review.residuals = Some(metrics::residuals(y, &p));
            review.predicted_vs_actual = Some(metrics::predicted_vs_actual(y, &p));
        }
        _ => {
            return Err(AutomlError::Internal(
                "model output does not match the task".to_string(),
            ));
        }
    }
    Ok(review)
}

/// Evaluates an image model on the test split: metrics, confusion matrix and a few
/// misclassified examples. Test files that cannot be decoded are counted and left out.
fn evaluate_images(best: &BestModel, d: &ImageData, em: &Emitter) -> Result<ReviewPayload> {
    let files: Vec<PathBuf> = d
        .split
        .test
        .iter()
        .filter_map(|&i| d.folder.files.get(i).map(|(p, _)| p.clone()))
        .collect();
    let labels: Vec<usize> = d
        .split
        .test
        .iter()
        .filter_map(|&i| d.folder.files.get(i).map(|(_, c)| *c))
        .collect();
    let (pred, failed) = best.model.predict_images(&files)?;
    if !failed.is_empty() {
        em.emit(Event::warning(
            "images_unreadable",
            format!(
                "{} of {} test images could not be decoded and were left out of the evaluation: {}",
                failed.len(),
                files.len(),
                failed
                    .iter()
                    .take(5)
                    .map(|(p, e)| format!("{} ({e})", p.display()))
                    .collect::<Vec<_>>()
                    .join("; ")
            ),
        ));
    }
    let kept: Vec<(PathBuf, usize)> = files
        .into_iter()
        .zip(labels)
        .filter(|(p, _)| !failed.iter().any(|(f, _)| f == p))
        .collect();
    let Predictions::Classes { classes, proba } = pred else {
        return Err(AutomlError::Internal(
            "image model gave numbers, not classes".to_string(),
        ));
    };
    if proba.nrows() != kept.len() {
        return Err(AutomlError::Internal(format!(
            "image model gave {} rows for {} test images",
            proba.nrows(),
            kept.len()
        )));
    }
    let y: Vec<usize> = kept.iter().map(|(_, c)| *c).collect();
    let predicted = metrics::argmax_rows(&proba);
    let misclassified = kept
        .iter()
        .zip(&predicted)
        .enumerate()
        .filter(|(_, ((_, c), p))| c != *p)
        .take(5)
        .map(|(i, ((path, c), p))| Misclassified {
            item: path.display().to_string(),
            label: classes.get(*c).cloned().unwrap_or_default(),
            predicted: classes.get(*p).cloned().unwrap_or_default(),
            confidence: proba[[i, *p]],
        })
        .collect();
    Ok(ReviewPayload {
        metrics: metrics::classification(&y, &proba),
        best_run_id: best.run_id.clone(),
        model: best.model.model_name().to_string(),
        confusion_matrix: Some(metrics::confusion_matrix(&y, &proba, &classes)),
        residuals: None,
        feature_importance: vec![],
        n_test: y.len() as u64,
        misclassified,
        roc_curve: metrics::roc_curve(&y, &proba),
        pr_curve: metrics::pr_curve(&y, &proba),
        predicted_vs_actual: None,
        forecast: None,
    })
}
