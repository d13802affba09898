//! PREPROCESS: the seeded split and the feature pipeline fitted on the training rows only.

use std::sync::Arc;

use crate::conductor::run::{RunState, blocking};
use crate::data::Dataset;
use crate::data::preprocess;
use crate::data::text;

/// Features a text column counts as in the trainers' cost models (the most word features the
/// trees take from one column).
const TEXT_COST_FEATURES: usize = 256;
use crate::data::timeseries::ForecastData;
use crate::error::{AutomlError, Result};
use crate::event::{Event, FeatureStep, PreprocessSummary, SplitSizes, Stage, TaskKind};
use crate::train::{ImageData, TaskSpec, TrainInput};

impl RunState {
    pub(crate) async fn preprocess(&mut self) -> Result<()> {
        let profile = self
            .profile
            .clone()
            .ok_or_else(|| AutomlError::Internal("no profile".into()))?;
        let loaded = self
            .loaded
            .take()
            .ok_or_else(|| AutomlError::Internal("no data loaded".into()))?;
        if let Some(data) = self.forecast.clone() {
            return self.preprocess_forecast(data);
        }
        self.begin(Stage::Preprocess, "splitting and fitting the preprocessing")?;
        let seed = self.cx.settings.seed;
        let test_rows = self.req.test_rows.clone();
        let (input, summary) = blocking("preprocess", move || {
            Ok(match loaded {
                Dataset::Table(t) => {
                    let (data, summary) =
                        preprocess::prepare_table(&t.batch, &profile, seed, test_rows.as_deref())?;
                    (TrainInput::Tabular(Arc::new(data)), summary)
                }
                Dataset::Images(f) => {
                    let rows: Vec<usize> = (0..f.files.len()).collect();
                    let strata: Vec<usize> = f.files.iter().map(|(_, c)| *c).collect();
                    let split = preprocess::split_rows(&rows, Some(&strata), seed);
                    let summary = PreprocessSummary {
                        steps: vec![],
                        dropped: vec![],
                        n_features: 0,
                        split: SplitSizes {
                            train: split.train.len() as u64,
                            valid: split.valid.len() as u64,
                            test: split.test.len() as u64,
                        },
                        seed,
                        stratified: true,
                        duplicate_rows: 0,
                        duplicates_of_test_left_out: 0,
                    };
                    (
                        TrainInput::Images(Arc::new(ImageData { folder: f, split })),
                        summary,
                    )
                }
            })
        })
        .await?;
        self.emit(Event::PreprocessReady(summary.clone()));
        if summary.duplicates_of_test_left_out > 0 {
            self.emit(Event::warning(
                "test_duplicates_left_out",
                format!(
                    "{} rows outside the given test rows copy a test row's features; they were left out of training and validation so that the test score is not inflated",
                    summary.duplicates_of_test_left_out
                ),
            ));
        }
        self.complete(
            Stage::Preprocess,
            format!(
                "{} features; split {}/{}/{} (train/valid/test)",
                summary.n_features, summary.split.train, summary.split.valid, summary.split.test
            ),
        );
        self.input = Some(input);
        Ok(())
    }

    /// A forecasting run's split: the last `horizon` steps of every series are the test
    /// window; backtests run inside the rest (no random split, no fitted pipeline).
    fn preprocess_forecast(&mut self, data: Arc<ForecastData>) -> Result<()> {
        self.begin(
            Stage::Preprocess,
            "splitting every series in time: the last horizon steps are the test window",
        )?;
        let (train, test) = data.split_sizes();
        let summary = PreprocessSummary {
            steps: vec![],
            dropped: vec![],
            n_features: 0,
            split: SplitSizes {
                train: train as u64,
                valid: 0,
                test: test as u64,
            },
            seed: self.cx.settings.seed,
            stratified: false,
            duplicate_rows: 0,
            duplicates_of_test_left_out: 0,
        };
        self.emit(Event::PreprocessReady(summary));
        self.complete(
            Stage::Preprocess,
            format!(
                "{} series; test = last {} steps of each ({test} steps), up to {} rolling-origin backtests on the {train} steps before",
                data.series.len(),
                data.setup.horizon,
                crate::data::timeseries::MAX_ORIGINS
            ),
        );
        self.input = Some(TrainInput::Forecast(data));
        Ok(())
    }

    pub(crate) fn task_spec(&self) -> Result<TaskSpec> {
        let profile = self
            .profile
            .as_ref()
            .ok_or_else(|| AutomlError::Internal("no profile".into()))?;
        let input = self
            .input
            .as_ref()
            .ok_or_else(|| AutomlError::Internal("no input".into()))?;
        Ok(match input {
            TrainInput::Tabular(d) => TaskSpec {
                // Text when a text column is free text; short text (names, titles) is one
                // feature among others and leaves the task tabular.
                modality: if d.pipeline.steps.iter().any(|s| match s {
                    FeatureStep::TextHash { column, .. }
                    | FeatureStep::TextTfidf { column, .. } => {
                        d.train_rows.column_by_name(column).is_some_and(|c| {
                            let values = crate::data::column_str(c);
                            text::mean_words(values.iter().flatten().map(String::as_str))
                                >= text::FREE_TEXT_WORDS
                        })
                    }
                    _ => false,
                }) {
                    "text".to_string()
                } else {
                    "tabular".to_string()
                },
                task: profile.task,
                n_rows: d.x_train.nrows() as u64,
                // For the cost models, a text column counts as TEXT_COST_FEATURES features, not
                // its TF-IDF width: the trees see at most that many of its words, and the sparse
                // linear model's cost follows the non-zeros (a few hundred per row at most).
                // Counting tens of thousands of n-grams would rank the quick linear model last,
                // and the last trainer gets the rest of the budget.
                n_features: (d.pipeline.dense_width()
                    + d.pipeline
                        .steps
                        .iter()
                        .filter(|s| s.is_sparse())
                        .map(|s| s.width().min(TEXT_COST_FEATURES))
                        .sum::<usize>()) as u64,
                n_classes: d.pipeline.classes.len() as u64,
            },
            TrainInput::Forecast(d) => TaskSpec {
                modality: "time_series".to_string(),
                task: TaskKind::Regression,
                n_rows: d.split_sizes().0 as u64,
                n_features: 0,
                n_classes: 0,
            },
            TrainInput::Images(i) => TaskSpec {
                modality: "image".to_string(),
                task: TaskKind::Classification,
                n_rows: i.split.train.len() as u64,
                n_features: 0,
                n_classes: i.folder.classes.len() as u64,
            },
        })
    }
}
