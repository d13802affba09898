//! What a caller asks for (`RunRequest`, checked by [`RunRequest::validate`] before anything
//! runs), answers with (`Choice`) and gets back (`RunOutcome`).

use std::path::PathBuf;

use arrow::record_batch::RecordBatch;

use crate::error::{AutomlError, Result};
use crate::event::{Artifact, Intent, LeaderboardRow, Metrics, TaskKind};
use crate::sink::SinkReport;

/// The longest accepted time budget: one day.
pub const MAX_TIME_BUDGET_S: f64 = 86_400.0;

/// The longest prompt accepted, in bytes (a long competition brief fits comfortably).
pub const MAX_PROMPT_BYTES: usize = 20_000;

/// Checks a prompt's size: at most [`MAX_PROMPT_BYTES`].
pub fn check_prompt(text: &str) -> Result<()> {
    if text.len() > MAX_PROMPT_BYTES {
        return Err(AutomlError::InvalidOption {
            name: "prompt".to_string(),
            message: format!(
                "is {} bytes long; at most {MAX_PROMPT_BYTES} are accepted",
                text.len()
            ),
        });
    }
    Ok(())
}

/// Metrics a classification run can optimise.
pub const CLASSIFICATION_METRICS: &[&str] = &[
    "accuracy",
    "balanced_accuracy",
    "macro_f1",
    "log_loss",
    "roc_auc",
    "precision",
    "recall",
];
/// Of those, the ones defined for binary tasks only (of the positive, second class).
pub const BINARY_ONLY_METRICS: &[&str] = &["roc_auc", "precision", "recall"];
/// Metrics a forecasting run can optimise (all lower-is-better).
pub const FORECAST_METRICS: &[&str] = &["mase", "smape", "rmse", "mae"];
/// Metrics a regression run can optimise.
pub const REGRESSION_METRICS: &[&str] = &["r2", "rmse", "mae"];

/// Normalises a metric name as people write it ("ROC AUC", "log-loss", "F1", "RMSE").
pub fn normalise_metric(name: &str) -> String {
    let n = name.trim().to_ascii_lowercase().replace(['-', ' '], "_");
    match n.as_str() {
        "auc" | "rocauc" | "roc_auc_score" | "auroc" => "roc_auc".to_string(),
        "logloss" | "log_loss" | "cross_entropy" | "neg_log_loss" => "log_loss".to_string(),
        "f1" | "f1_macro" | "macro_f1" => "macro_f1".to_string(),
        "acc" => "accuracy".to_string(),
        "r_2" | "r2_score" => "r2".to_string(),
        _ => n,
    }
}

/// The task a metric (normalised) implies: classification or regression; `None` for
/// forecasting and unknown metrics.
pub fn task_of_metric(metric: &str) -> Option<TaskKind> {
    if CLASSIFICATION_METRICS.contains(&metric) {
        Some(TaskKind::Classification)
    } else if REGRESSION_METRICS.contains(&metric) {
        Some(TaskKind::Regression)
    } else {
        None
    }
}

/// Whether `metric` (normalised) can be optimised for this task with `n_classes` classes
/// (0 when unknown); on `Err`, the reason, naming the valid metrics.
pub fn check_metric(
    metric: &str,
    task: Option<TaskKind>,
    n_classes: usize,
) -> std::result::Result<(), String> {
    let is_cls = CLASSIFICATION_METRICS.contains(&metric);
    let is_reg = REGRESSION_METRICS.contains(&metric);
    let valid = || {
        format!(
            "classification: {}; regression: {}",
            CLASSIFICATION_METRICS.join(", "),
            REGRESSION_METRICS.join(", ")
        )
    };
    // Forecasting metrics (MASE, sMAPE) are checked against the data in MODEL_SELECT.
    if !is_cls && !is_reg && FORECAST_METRICS.contains(&metric) && task.is_none() {
        return Ok(());
    }
    if !is_cls && !is_reg {
        return Err(format!(
            "unknown metric {metric:?}; valid metrics are {}",
            valid()
        ));
    }
    match task {
        Some(TaskKind::Classification) if !is_cls => Err(format!(
            "{metric} is a regression metric and this is a classification task; valid: {}",
            CLASSIFICATION_METRICS.join(", ")
        )),
        Some(TaskKind::Regression) if !is_reg => Err(format!(
            "{metric} is a classification metric and this is a regression task; valid: {}",
            REGRESSION_METRICS.join(", ")
        )),
        Some(TaskKind::Classification)
            if BINARY_ONLY_METRICS.contains(&metric) && n_classes > 2 =>
        {
            Err(format!(
                "{metric} is defined for two classes and this task has {n_classes}; valid: {}",
                CLASSIFICATION_METRICS
                    .iter()
                    .filter(|m| !BINARY_ONLY_METRICS.contains(m))
                    .copied()
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
        }
        _ => Ok(()),
    }
}

/// Whether `id` is safe as a project id: it names a folder under the runs folder and appears in
/// URLs, so 1-64 ASCII letters, digits, `-` and `_`, starting with a letter or digit.
pub fn is_safe_project_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id.as_bytes()[0].is_ascii_alphanumeric()
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Rows handed over in memory (from a DataFrame, an Arrow table, a JavaScript array...)
/// instead of a file.
#[derive(Debug, Clone)]
pub struct DataTable {
    /// A name for events and the model card, e.g. `DataFrame`.
    pub name: String,
    /// The rows.
    pub batch: RecordBatch,
}

/// A request to run.
#[derive(Debug, Clone, Default)]
pub struct RunRequest {
    /// What to build, in plain words.
    pub prompt: String,
    /// A data file or image folder (else the catalog is searched).
    pub data: Option<PathBuf>,
    /// Rows in memory (instead of `data`).
    pub table: Option<DataTable>,
    /// Classification or regression, when the caller knows (else read from the prompt and
    /// the target column).
    pub task: Option<TaskKind>,
    /// The target column (must exist when given).
    pub target: Option<String>,
    /// Training budget in seconds (overrides the prompt's).
    pub time_budget_s: Option<f64>,
    /// Trial count (overrides the prompt's); makes runs reproducible.
    pub max_trials: Option<u32>,
    /// Seed (default 0).
    pub seed: Option<u64>,
    /// Run folder (default `<runs dir>/<project id>`).
    pub out_dir: Option<PathBuf>,
    /// Project id (default generated).
    pub project_id: Option<String>,
    /// Wait at REVIEW_EDIT for [`RunHandle::confirm`] instead of auto-confirming.
    pub review: bool,
    /// Allow research/demo-only licences (CC-BY-NC), flagged.
    pub allow_restricted: bool,
    /// Rows (0-based, in file order) to hold out as the test split, e.g. to score on the same
    /// rows as another system; the rest is split into train and valid.
    pub test_rows: Option<Vec<usize>>,
    /// The metric to optimise (overrides the prompt's).
    pub metric: Option<String>,
    /// When no usable data set is found, wait at DATA_SOURCE for an upload
    /// (`confirm(DATA_SOURCE, Edit({"data": path}))`) instead of failing.
    pub wait_for_upload: bool,
    /// Steps to forecast ahead (overrides the prompt's); makes the run a forecasting run on
    /// time-indexed data.
    pub horizon: Option<usize>,
}

impl RunRequest {
    /// A request with just a prompt.
    pub fn new(prompt: impl Into<String>) -> Self {
        Self {
            prompt: prompt.into(),
            ..Default::default()
        }
    }

    /// Sets the data file or folder.
    pub fn data(mut self, path: impl Into<PathBuf>) -> Self {
        self.data = Some(path.into());
        self
    }

    /// Sets rows in memory as the data.
    pub fn table(mut self, name: impl Into<String>, batch: RecordBatch) -> Self {
        self.table = Some(DataTable {
            name: name.into(),
            batch,
        });
        self
    }

    /// Sets the task (classification or regression).
    pub fn task(mut self, task: TaskKind) -> Self {
        self.task = Some(task);
        self
    }

    /// Sets the metric to optimise.
    pub fn metric(mut self, metric: impl Into<String>) -> Self {
        self.metric = Some(metric.into());
        self
    }

    /// Checks every field before anything runs, so that a bad request is refused the same way
    /// from the command line, the server, Python and Node: the prompt's size, the budget's
    /// range, the trial count, the metric's name, the project id as a safe path component, and
    /// that at most one data source is given. The metric's fit to the task is checked again
    /// once the task is known (MODEL_SELECT).
    pub fn validate(&self) -> Result<()> {
        check_prompt(&self.prompt)?;
        let bad = |name: &str, message: String| AutomlError::InvalidOption {
            name: name.to_string(),
            message,
        };
        if let Some(b) = self.time_budget_s {
            if !(b > 0.0 && b <= MAX_TIME_BUDGET_S) {
                return Err(bad(
                    "time_budget",
                    format!("{b} s is outside 0 < budget <= {MAX_TIME_BUDGET_S} s (one day)"),
                ));
            }
        }
        if self.horizon == Some(0) {
            return Err(bad("horizon", "must be at least 1 step".to_string()));
        }
        if self.max_trials == Some(0) {
            return Err(bad("max_trials", "must be at least 1".to_string()));
        }
        if let Some(m) = &self.metric {
            check_metric(&normalise_metric(m), self.task, 0).map_err(|e| bad("metric", e))?;
        }
        if let Some(id) = &self.project_id {
            if !is_safe_project_id(id) {
                return Err(bad(
                    "project_id",
                    format!(
                        "{id:?} is not a safe id: use 1-64 letters, digits, '-' and '_', starting with a letter or digit"
                    ),
                ));
            }
        }
        if let Some(t) = &self.target {
            if t.trim().is_empty() {
                return Err(bad("target", "is empty".to_string()));
            }
        }
        if self.data.is_some() && self.table.is_some() {
            return Err(bad(
                "data",
                "give either a file or rows in memory, not both".to_string(),
            ));
        }
        if let Some(t) = &self.table {
            if t.batch.num_rows() == 0 {
                return Err(AutomlError::EmptyData {
                    path: PathBuf::from(&t.name),
                    detail: " (the table has no rows)".to_string(),
                });
            }
        }
        Ok(())
    }

    /// Sets the target column.
    pub fn target(mut self, col: impl Into<String>) -> Self {
        self.target = Some(col.into());
        self
    }

    /// Sets the time budget in seconds.
    pub fn time_budget(mut self, secs: f64) -> Self {
        self.time_budget_s = Some(secs);
        self
    }

    /// Sets the run folder.
    pub fn out_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.out_dir = Some(dir.into());
        self
    }

    /// Sets the project id.
    pub fn project_id(mut self, id: impl Into<String>) -> Self {
        self.project_id = Some(id.into());
        self
    }

    /// Sets the trial count.
    pub fn max_trials(mut self, n: u32) -> Self {
        self.max_trials = Some(n);
        self
    }

    /// Sets the seed.
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = Some(seed);
        self
    }

    /// Asks the run to wait at REVIEW_EDIT for a confirmation.
    pub fn review(mut self, yes: bool) -> Self {
        self.review = yes;
        self
    }
}

/// How a run ended (failures are `Err`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    /// All eight stages completed.
    Finished,
    /// Cancelled; the best model so far was exported when there was one.
    Cancelled,
}

/// The result of a run; its JSON is what every binding returns.
#[derive(Debug, Clone, serde::Serialize)]
pub struct RunOutcome {
    /// The project.
    pub project_id: String,
    /// Finished or cancelled.
    pub status: RunStatus,
    /// Held-out test metrics of the exported model.
    pub metrics: Metrics,
    /// The exported model's name.
    pub model: Option<String>,
    /// The run folder.
    pub run_dir: PathBuf,
    /// Files written by EXPORT.
    pub artifacts: Vec<Artifact>,
    /// The parsed intent.
    pub intent: Option<Intent>,
    /// The final leaderboard.
    pub leaderboard: Vec<LeaderboardRow>,
    /// What each sink did.
    pub sinks: Vec<SinkReport>,
}

/// A caller's answer to a stage that waits.
#[derive(Debug, Clone, PartialEq)]
pub enum Choice {
    /// Accept what the stage proposes.
    Accept,
    /// Change it: at REVIEW_EDIT, `{"run_id": "r-3"}` exports that trial instead of the best;
    /// at DATA_SOURCE, `{"data": path}` names an upload.
    Edit(serde_json::Value),
}

impl Choice {
    /// Reads a choice as every surface receives it: `"accept"` (any case), `null` or
    /// `{"accept": true}` accept; any other object is an edit. Anything else is an
    /// [`AutomlError::InvalidOption`].
    pub fn from_json(v: &serde_json::Value) -> Result<Choice> {
        use serde_json::Value;
        match v {
            Value::Null => Ok(Choice::Accept),
            Value::String(s) if s.trim().eq_ignore_ascii_case("accept") => Ok(Choice::Accept),
            Value::Object(m) if m.len() == 1 && m.get("accept") == Some(&Value::Bool(true)) => {
                Ok(Choice::Accept)
            }
            Value::Object(m) if !m.is_empty() => Ok(Choice::Edit(v.clone())),
            other => Err(AutomlError::InvalidOption {
                name: "choice".to_string(),
                message: format!(
                    "{other} is not a choice: expected \"accept\" or an object of edits such as {{\"run_id\": \"r-3\"}}"
                ),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::Int64Array;
    use arrow::datatypes::{DataType, Field, Schema};
    use serde_json::json;

    use super::*;

    fn option_name(r: RunRequest) -> String {
        match r.validate() {
            Err(AutomlError::InvalidOption { name, .. }) => name,
            other => panic!("expected an invalid option, got {other:?}"),
        }
    }

    #[test]
    fn every_bad_field_is_a_named_invalid_option() {
        let ok = RunRequest::new("classify iris species");
        assert!(ok.validate().is_ok());
        assert_eq!(option_name(ok.clone().time_budget(0.0)), "time_budget");
        assert_eq!(option_name(ok.clone().time_budget(f64::NAN)), "time_budget");
        assert_eq!(option_name(ok.clone().time_budget(90_000.0)), "time_budget");
        assert_eq!(option_name(ok.clone().max_trials(0)), "max_trials");
        assert_eq!(option_name(ok.clone().metric("foo")), "metric");
        assert_eq!(
            option_name(ok.clone().metric("rmse").task(TaskKind::Classification)),
            "metric"
        );
        assert!(
            ok.clone().metric("ROC AUC").validate().is_ok(),
            "normalised"
        );
        for id in ["../x", "a/b", "", ".hidden", &"x".repeat(65)] {
            assert_eq!(
                option_name(ok.clone().project_id(id)),
                "project_id",
                "{id:?}"
            );
        }
        assert!(ok.clone().project_id("p-1_a").validate().is_ok());
        assert_eq!(option_name(ok.clone().target("  ")), "target");
        assert_eq!(
            option_name(RunRequest::new("x".repeat(MAX_PROMPT_BYTES + 1))),
            "prompt"
        );
        let batch = RecordBatch::try_new(
            Arc::new(Schema::new(vec![Field::new("a", DataType::Int64, true)])),
            vec![Arc::new(Int64Array::from(vec![1, 2]))],
        )
        .expect("batch");
        assert_eq!(
            option_name(ok.clone().data("x.csv").table("t", batch.clone())),
            "data"
        );
        assert!(matches!(
            ok.clone().table("t", batch.slice(0, 0)).validate(),
            Err(AutomlError::EmptyData { .. })
        ));
    }

    #[test]
    fn choices_read_as_every_surface_sends_them() {
        assert_eq!(
            Choice::from_json(&json!("accept")).ok(),
            Some(Choice::Accept)
        );
        assert_eq!(
            Choice::from_json(&json!(" ACCEPT ")).ok(),
            Some(Choice::Accept)
        );
        assert_eq!(Choice::from_json(&json!(null)).ok(), Some(Choice::Accept));
        assert_eq!(
            Choice::from_json(&json!({"accept": true})).ok(),
            Some(Choice::Accept)
        );
        let edit = json!({"run_id": "r-3"});
        assert_eq!(Choice::from_json(&edit).ok(), Some(Choice::Edit(edit)));
        for bad in [json!("maybe"), json!(3), json!([]), json!({})] {
            assert!(
                matches!(
                    Choice::from_json(&bad),
                    Err(AutomlError::InvalidOption { .. })
                ),
                "{bad}"
            );
        }
    }
}
