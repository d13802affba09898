//! The one API every surface calls: the command line, the server, Python and Node each convert
//! their arguments, make one call here, and map the error by its [`crate::ErrorCategory`].
//! Nothing a surface needs is written twice: parsing a prompt, loading a model, predicting from
//! a file of any format, labels from probabilities, a transform report in words, a review choice
//! from JSON and the outcome as JSON all live in the core.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::record_batch::RecordBatch;

use crate::agents::{Agent, Prompt, RunSettings, StageContext};
use crate::bus::EventBus;
use crate::conductor::{DEFAULT_TIME_BUDGET_S, check_prompt, defaults};
use crate::data::profile::{TargetHints, profile_dataset};
use crate::data::{self, Dataset};
use crate::error::{AutomlError, Result};
use crate::event::{Event, Intent, Profile, TransformReport, WarningPayload};
use crate::train::{Predictions, TrainedModel};

/// A parsed prompt and the warnings the parser raised (an LLM that failed and was replaced by
/// the embedded parser, a broken LLM configuration...).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ParsedPrompt {
    /// What the request asks for.
    pub intent: Intent,
    /// Warnings raised while parsing, in order.
    pub warnings: Vec<WarningPayload>,
}

/// Parses a request with the parser a run would use in this environment (the LLM when
/// `AUTOML_LLM_BASE_URL` is set, else the embedded parser), so every surface gives the same
/// answer for the same prompt and environment.
pub async fn parse_prompt(text: &str) -> Result<ParsedPrompt> {
    parse_prompt_with(defaults::parser().as_ref(), text).await
}

/// [`parse_prompt`] with a given parser.
pub async fn parse_prompt_with(
    parser: &dyn Agent<Prompt, Intent>,
    text: &str,
) -> Result<ParsedPrompt> {
    check_prompt(text)?;
    let bus = EventBus::default();
    let project = "parse";
    let cx = StageContext {
        emitter: bus.emitter(project),
        cancel: Default::default(),
        settings: Arc::new(RunSettings {
            seed: 0,
            time_budget_s: DEFAULT_TIME_BUDGET_S,
            max_trials: None,
            run_dir: PathBuf::from("."),
            catalog_dir: None,
        }),
    };
    let intent = parser
        .run(
            Prompt {
                text: text.to_string(),
                has_data: false,
            },
            &cx,
        )
        .await?;
    let warnings = bus
        .history(project)
        .into_iter()
        .filter_map(|e| match e.event {
            Event::Warning(w) => Some(w),
            _ => None,
        })
        .collect();
    bus.close(project);
    Ok(ParsedPrompt { intent, warnings })
}

/// Loads a model saved in a run folder (or its `model.json`), in any format the built-in
/// trainers write. A missing, malformed or inconsistent file is a
/// [`AutomlError::ModelLoad`] naming it, never a panic.
pub fn load_model(path: &Path) -> Result<Box<dyn TrainedModel>> {
    defaults::model_formats().load(path)
}

/// A file's profile as PROFILE_READY carries it, and what the loader noticed: what
/// `automl profile`, Python and Node show. `target` is the caller's target column (else the
/// usual choice: a common target name, else the last column).
pub fn profile_file(path: &Path, target: Option<&str>) -> Result<(Profile, Vec<String>)> {
    let loaded = data::load(path)?;
    let hints = TargetHints {
        explicit: target.map(str::to_string),
        ..Default::default()
    };
    let profile = profile_dataset(&loaded, &hints, &defaults::no_request())?;
    Ok((profile, data::load_notes(&loaded)))
}

/// Extends every series of a history file (any format the loaders read) by `horizon` steps
/// (default: the trained horizon) with a forecaster: the series id columns, the time column
/// (continuing at the trained frequency) and `prediction`, one row per series and step. A
/// model that is not a forecaster is an [`AutomlError::InvalidOption`] naming it.
pub fn forecast_file(
    model: &dyn TrainedModel,
    path: &Path,
    horizon: Option<usize>,
) -> Result<RecordBatch> {
    let f = forecaster_of(model)?;
    match data::load(path)? {
        Dataset::Table(t) => f.forecast_batch(&t.batch, horizon),
        Dataset::Images(_) => Err(AutomlError::BadData(format!(
            "{} is an image folder; a forecaster extends a table of history",
            path.display()
        ))),
    }
}

/// [`forecast_file`] on rows in memory.
pub fn forecast_table(
    model: &dyn TrainedModel,
    batch: &RecordBatch,
    horizon: Option<usize>,
) -> Result<RecordBatch> {
    forecaster_of(model)?.forecast_batch(batch, horizon)
}

/// A forecast as plain rows, the shape every binding hands its host: `columns` names the
/// series id columns, the time column and `prediction`; each row holds the ids and the time
/// as text (ISO-8601 for times), then the predicted value.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ForecastRows {
    /// The column names, `prediction` last.
    pub columns: Vec<String>,
    /// One row per series and step.
    pub rows: Vec<ForecastRow>,
}

/// One series and step of a [`ForecastRows`].
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ForecastRow {
    /// The series id values and the time, as text, in `columns` order.
    pub keys: Vec<Option<String>>,
    /// The predicted value (None where the forecaster produced no number).
    pub prediction: Option<f64>,
}

impl ForecastRows {
    /// The rows of a forecast batch ([`forecast_file`], [`forecast_table`]): every column but
    /// the last is a key, the last is the prediction.
    pub fn from_batch(t: &RecordBatch) -> Self {
        let columns: Vec<String> = t
            .schema()
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .collect();
        let n = t.num_columns();
        if n == 0 {
            return Self {
                columns,
                rows: Vec::new(),
            };
        }
        let keys: Vec<Vec<Option<String>>> =
            (0..n - 1).map(|c| data::column_str(t.column(c))).collect();
        let values = data::column_f64(t.column(n - 1));
        let rows = values
            .into_iter()
            .enumerate()
            .map(|(r, prediction)| ForecastRow {
                keys: keys.iter().map(|c| c[r].clone()).collect(),
                prediction,
            })
            .collect();
        Self { columns, rows }
    }
}

fn forecaster_of(model: &dyn TrainedModel) -> Result<&dyn crate::train::Forecaster> {
    model
        .forecaster()
        .ok_or_else(|| AutomlError::InvalidOption {
            name: "horizon".to_string(),
            message: format!(
                "model {} predicts rows, not time series; a horizon applies to forecasters only",
                model.model_name()
            ),
        })
}

/// A table as CSV text (header first).
pub fn batch_csv(batch: &RecordBatch) -> Result<String> {
    let mut buf = Vec::new();
    {
        let mut w = arrow::csv::WriterBuilder::new()
            .with_header(true)
            .build(&mut buf);
        w.write(batch)
            .map_err(|e| AutomlError::Internal(format!("CSV writer: {e}")))?;
    }
    String::from_utf8(buf).map_err(|e| AutomlError::Internal(format!("CSV text: {e}")))
}

/// What [`predict_file`] and [`predict_table`] return.
#[derive(Debug, Clone)]
pub struct FilePredictions {
    /// One row per input row (or decoded image), in input order.
    pub predictions: Predictions,
    /// What applying the fitted preprocessing ran into.
    pub report: TransformReport,
    /// The image files predicted, in the order of `predictions` (image models only).
    pub items: Vec<PathBuf>,
    /// Image files that could not be decoded, with the reason (left out of `predictions`).
    pub skipped: Vec<(PathBuf, String)>,
}

impl FilePredictions {
    /// Number of predicted rows.
    pub fn len(&self) -> usize {
        self.predictions.len()
    }

    /// True when nothing was predicted.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Predicts for the rows of a file in any format the loaders read (CSV/TSV, Parquet, JSON,
/// NDJSON, Arrow IPC), or, for an image model, an image file or a folder of images (searched
/// recursively, in name order). A target column in the rows is ignored.
pub fn predict_file(model: &dyn TrainedModel, path: &Path) -> Result<FilePredictions> {
    if model.is_image_model() {
        let files = image_files(path)?;
        let (predictions, skipped) = model.predict_images(&files)?;
        let items = files
            .into_iter()
            .filter(|f| !skipped.iter().any(|(s, _)| s == f))
            .collect();
        return Ok(FilePredictions {
            predictions,
            report: TransformReport::default(),
            items,
            skipped,
        });
    }
    match data::load(path)? {
        Dataset::Table(t) => predict_table(model, &t.batch),
        Dataset::Images(_) => Err(AutomlError::BadData(format!(
            "{} is an image folder; model {} predicts on tables",
            path.display(),
            model.model_name()
        ))),
    }
}

/// Predicts for rows already in memory (an Arrow record batch, as Python and Node pass them).
pub fn predict_table(model: &dyn TrainedModel, batch: &RecordBatch) -> Result<FilePredictions> {
    if model.is_image_model() {
        return Err(AutomlError::BadData(format!(
            "model {} predicts on images; give it image files",
            model.model_name()
        )));
    }
    let (predictions, report) = model.predict_batch(batch)?;
    Ok(FilePredictions {
        predictions,
        report,
        items: vec![],
        skipped: vec![],
    })
}

const IMAGE_EXTENSIONS: &[&str] = &["png", "jpg", "jpeg", "bmp", "gif", "webp"];

fn image_files(path: &Path) -> Result<Vec<PathBuf>> {
    let meta = std::fs::metadata(path).map_err(|e| AutomlError::DataFileUnreadable {
        path: path.to_path_buf(),
        source: e,
    })?;
    if meta.is_file() {
        return Ok(vec![path.to_path_buf()]);
    }
    let mut out = Vec::new();
    let mut stack = vec![path.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let entries = std::fs::read_dir(&dir).map_err(|e| AutomlError::DataFileUnreadable {
            path: dir.clone(),
            source: e,
        })?;
        for entry in entries.flatten() {
            let p = entry.path();
            if p.is_dir() {
                stack.push(p);
            } else if p
                .extension()
                .and_then(|e| e.to_str())
                .is_some_and(|e| IMAGE_EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()))
            {
                out.push(p);
            }
        }
    }
    out.sort();
    if out.is_empty() {
        return Err(AutomlError::EmptyData {
            path: path.to_path_buf(),
            detail: " (no .png, .jpg, .jpeg, .bmp, .gif or .webp files)".to_string(),
        });
    }
    Ok(out)
}

/// The predictions as CSV: a `prediction` column, plus `proba_<class>` per class for
/// classification (and a leading `file` column for images), rows in input order.
pub fn predictions_csv(p: &FilePredictions) -> String {
    let mut out = String::new();
    let with_items = !p.items.is_empty();
    if with_items {
        out.push_str("file,");
    }
    out.push_str("prediction");
    match &p.predictions {
        Predictions::Classes { classes, proba } => {
            for c in classes {
                out.push(',');
                out.push_str(&csv_field(&format!("proba_{c}")));
            }
            out.push('\n');
            for (i, (label, row)) in p
                .predictions
                .labels()
                .unwrap_or_default()
                .iter()
                .zip(proba.rows())
                .enumerate()
            {
                if with_items {
                    let item = p.items.get(i).map(|f| f.display().to_string());
                    out.push_str(&csv_field(&item.unwrap_or_default()));
                    out.push(',');
                }
                out.push_str(&csv_field(label));
                for v in row {
                    out.push_str(&format!(",{v:.6}"));
                }
                out.push('\n');
            }
        }
        Predictions::Values(v) => {
            out.push('\n');
            for x in v {
                out.push_str(&format!("{x}\n"));
            }
        }
    }
    out
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}
