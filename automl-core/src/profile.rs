//! PROFILE_DATA: what each column holds, which one is the target, and what a data scientist
//! would warn about.

use std::collections::HashMap;

use arrow::record_batch::RecordBatch;
use serde::{Deserialize, Serialize};

use crate::data::{ImageFolder, column_f64, column_str, is_numeric_type};
use crate::error::{AutomlError, Result};
use crate::intent::{Intent, Objective};
use crate::parser::singular;

/// What a column holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ColumnKind {
    /// Numbers.
    Numeric,
    /// A small set of labels.
    Categorical,
    /// True/false.
    Boolean,
    /// Dates or times.
    Datetime,
    /// Free text.
    Text,
    /// A different value on (almost) every row: an id, not a feature.
    Identifier,
    /// One value (or none) on every row.
    Constant,
}

/// The kind of learning problem.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TaskKind {
    /// Predict a class.
    Classification,
    /// Predict a number.
    Regression,
}

impl TaskKind {
    /// The wire name.
    pub fn as_str(&self) -> &'static str {
        match self {
            TaskKind::Classification => "classification",
            TaskKind::Regression => "regression",
        }
    }
}

/// A frequent value and its count.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ValueCount {
    /// The value.
    pub value: String,
    /// How many rows hold it.
    pub count: u64,
}

/// One column's profile.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ColumnProfile {
    /// Name.
    pub name: String,
    /// Arrow data type as loaded.
    pub dtype: String,
    /// Inferred kind.
    pub kind: ColumnKind,
    /// Missing values.
    pub missing: u64,
    /// Missing share, 0..1.
    pub missing_share: f64,
    /// Distinct non-missing values.
    pub n_unique: u64,
    /// Minimum (numeric).
    pub min: Option<f64>,
    /// Maximum (numeric).
    pub max: Option<f64>,
    /// Mean (numeric).
    pub mean: Option<f64>,
    /// Standard deviation (numeric).
    pub std: Option<f64>,
    /// Most frequent values (non-numeric), up to 5.
    pub top: Vec<ValueCount>,
}

/// The PROFILE_READY payload.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Profile {
    /// `tabular` or `image`.
    pub modality: String,
    /// Rows (images for image data).
    pub n_rows: u64,
    /// Columns.
    pub n_columns: u64,
    /// The target column (`label` for image folders).
    pub target: String,
    /// How the target was chosen.
    pub target_reason: String,
    /// Classification or regression.
    pub task: TaskKind,
    /// Class counts (classification), largest first.
    pub class_balance: Vec<ValueCount>,
    /// Per column.
    pub columns: Vec<ColumnProfile>,
    /// What to watch for.
    pub warnings: Vec<String>,
}

impl Profile {
    /// The profile of one column, by name.
    pub fn column(&self, name: &str) -> Option<&ColumnProfile> {
        self.columns.iter().find(|c| c.name == name)
    }
}

const COMMON_TARGETS: &[&str] = &[
    "target",
    "label",
    "labels",
    "class",
    "y",
    "outcome",
    "response",
    "result",
    "category",
    "species",
    "price",
    "diagnosis",
    "income",
    "churn",
    "survived",
    "default",
    "quality",
    "rating",
    "score",
    "sentiment",
    "is_fraud",
    "fraud",
    "spam",
];

fn profile_column(name: &str, col: &arrow::array::ArrayRef, n_rows: usize) -> ColumnProfile {
    let dtype = col.data_type().clone();
    let strings = column_str(col);
    let missing = strings.iter().filter(|v| v.is_none()).count() as u64;
    let mut counts: HashMap<&str, u64> = HashMap::new();
    for s in strings.iter().flatten() {
        *counts.entry(s.as_str()).or_default() += 1;
    }
    let n_unique = counts.len() as u64;
    let non_missing = n_rows as u64 - missing;
    let mut top: Vec<ValueCount> = counts
        .iter()
        .map(|(v, c)| ValueCount {
            value: (*v).to_string(),
            count: *c,
        })
        .collect();
    top.sort_by(|a, b| b.count.cmp(&a.count).then(a.value.cmp(&b.value)));
    top.truncate(5);

    let numeric = is_numeric_type(&dtype);
    let (mut min, mut max, mut mean, mut std) = (None, None, None, None);
    if numeric {
        let v: Vec<f64> = column_f64(col).into_iter().flatten().collect();
        if !v.is_empty() {
            let m = v.iter().sum::<f64>() / v.len() as f64;
            let var = v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / v.len().max(2) as f64;
            min = v.iter().copied().reduce(f64::min);
            max = v.iter().copied().reduce(f64::max);
            mean = Some(m);
            std = Some(var.sqrt());
        }
    }
    let lname = name.to_ascii_lowercase();
    let idish_name = lname == "id"
        || lname.ends_with("_id")
        || lname.ends_with("id") && lname.len() <= 4
        || lname == "index"
        || lname == "uuid";
    let kind = if n_unique <= 1 {
        ColumnKind::Constant
    } else if matches!(dtype, arrow::datatypes::DataType::Boolean) {
        ColumnKind::Boolean
    } else if matches!(
        dtype,
        arrow::datatypes::DataType::Date32
            | arrow::datatypes::DataType::Date64
            | arrow::datatypes::DataType::Timestamp(_, _)
    ) {
        ColumnKind::Datetime
    } else if numeric {
        let integral = dtype.is_integer();
        if integral && idish_name && n_unique == non_missing && n_rows > 20 {
            ColumnKind::Identifier
        } else {
            ColumnKind::Numeric
        }
    } else {
        let total_words: usize = strings
            .iter()
            .flatten()
            .take(2000)
            .map(|s| s.split_whitespace().count())
            .sum();
        let sampled = strings.iter().flatten().take(2000).count().max(1);
        let mean_words = total_words as f64 / sampled as f64;
        if mean_words >= 4.0 {
            ColumnKind::Text
        } else if n_unique == 2
            && counts.keys().all(|k| {
                ["true", "false", "yes", "no", "t", "f", "y", "n"]
                    .contains(&k.to_ascii_lowercase().as_str())
            })
        {
            ColumnKind::Boolean
        } else if n_rows > 20 && n_unique as f64 >= 0.95 * non_missing as f64 {
            ColumnKind::Identifier
        } else {
            ColumnKind::Categorical
        }
    };
    ColumnProfile {
        name: name.to_string(),
        dtype: dtype.to_string(),
        kind,
        missing,
        missing_share: if n_rows == 0 {
            0.0
        } else {
            missing as f64 / n_rows as f64
        },
        n_unique,
        min,
        max,
        mean,
        std,
        top: if numeric { vec![] } else { top },
    }
}

/// Finds the column a request names: exact, case-insensitive, singular/plural, then a column
/// whose name contains the word.
pub fn match_column<'a>(wanted: &str, columns: &'a [String]) -> Option<&'a String> {
    let w = wanted.trim();
    let lw = w.to_ascii_lowercase();
    let sw = singular(&lw);
    columns
        .iter()
        .find(|c| c.as_str() == w)
        .or_else(|| columns.iter().find(|c| c.to_ascii_lowercase() == lw))
        .or_else(|| {
            columns
                .iter()
                .find(|c| singular(&c.to_ascii_lowercase()) == sw)
        })
        .or_else(|| {
            (sw.len() >= 3)
                .then(|| {
                    columns.iter().find(|c| {
                        c.to_ascii_lowercase()
                            .split(|ch: char| !ch.is_ascii_alphanumeric())
                            .any(|part| singular(part) == sw)
                    })
                })
                .flatten()
        })
}

/// What the profiler knows about where the target is.
#[derive(Debug, Clone, Default)]
pub struct TargetHints {
    /// Named by the caller (`--target`): must exist.
    pub explicit: Option<String>,
    /// Named in the prompt: used when it matches a column.
    pub from_prompt: Option<String>,
    /// Given by the catalog entry of a bundled data set.
    pub from_catalog: Option<String>,
}

/// Profiles a table and decides the target and the task.
pub fn profile_table(batch: &RecordBatch, hints: &TargetHints, intent: &Intent) -> Result<Profile> {
    let n_rows = batch.num_rows();
    let schema = batch.schema();
    let names: Vec<String> = schema.fields().iter().map(|f| f.name().clone()).collect();
    let columns: Vec<ColumnProfile> = names
        .iter()
        .zip(batch.columns())
        .map(|(n, c)| profile_column(n, c, n_rows))
        .collect();

    // Target.
    let (target, target_reason) = if let Some(t) = &hints.explicit {
        let found = names
            .iter()
            .find(|c| c.as_str() == t)
            .or_else(|| names.iter().find(|c| c.eq_ignore_ascii_case(t)))
            .ok_or_else(|| AutomlError::TargetNotFound {
                target: t.clone(),
                available: names.clone(),
            })?;
        (found.clone(), "named by the caller".to_string())
    } else if let Some(c) = hints
        .from_prompt
        .as_deref()
        .and_then(|t| match_column(t, &names))
    {
        (c.clone(), format!("the request names {c:?}"))
    } else if let Some(c) = hints
        .from_catalog
        .as_deref()
        .and_then(|t| names.iter().find(|n| n.as_str() == t))
    {
        (
            c.clone(),
            "the data set's catalog entry names it".to_string(),
        )
    } else if let Some(c) = COMMON_TARGETS
        .iter()
        .find_map(|t| names.iter().find(|n| n.to_ascii_lowercase() == *t))
    {
        (c.clone(), format!("{c:?} is a common name for a target"))
    } else {
        let last = names
            .last()
            .cloned()
            .ok_or_else(|| AutomlError::BadData("the table has no columns".to_string()))?;
        (
            last.clone(),
            "no column was named; the last column was taken".to_string(),
        )
    };
    let tp = columns
        .iter()
        .find(|c| c.name == target)
        .ok_or_else(|| AutomlError::Internal("target profile missing".to_string()))?;
    if tp.missing as usize == n_rows {
        return Err(AutomlError::BadTarget {
            target: target.clone(),
            reason: "every value is missing".to_string(),
        });
    }
    if tp.n_unique < 2 {
        return Err(AutomlError::BadTarget {
            target: target.clone(),
            reason: format!(
                "it has a single value ({:?}); there is nothing to learn",
                tp.top.first().map(|v| v.value.clone()).unwrap_or_default()
            ),
        });
    }

    // Task.
    let mut warnings = Vec::new();
    let numeric_target = is_numeric_type(
        batch
            .column_by_name(&target)
            .map(|c| c.data_type())
            .unwrap_or(&arrow::datatypes::DataType::Utf8),
    );
    let integral = batch
        .column_by_name(&target)
        .is_some_and(|c| c.data_type().is_integer());
    let task = if !numeric_target {
        if intent.objective == Objective::Regression {
            warnings.push(format!(
                "the request reads as regression but target {target:?} is not numeric; classifying instead"
            ));
        }
        TaskKind::Classification
    } else {
        match intent.objective {
            Objective::Classification if tp.n_unique <= 50 => TaskKind::Classification,
            Objective::Classification => {
                warnings.push(format!(
                    "the request reads as classification but target {target:?} has {} distinct numbers; treating it as regression",
                    tp.n_unique
                ));
                TaskKind::Regression
            }
            Objective::Regression => TaskKind::Regression,
            Objective::Other => {
                if integral
                    && (tp.n_unique <= 10
                        || (tp.n_unique <= 20 && (tp.n_unique as f64) < 0.05 * n_rows as f64))
                {
                    TaskKind::Classification
                } else {
                    TaskKind::Regression
                }
            }
        }
    };

    // Balance and warnings.
    let mut class_balance = Vec::new();
    if task == TaskKind::Classification {
        let target_col = batch
            .column_by_name(&target)
            .map(column_str)
            .unwrap_or_default();
        let mut counts: HashMap<String, u64> = HashMap::new();
        for v in target_col.into_iter().flatten() {
            *counts.entry(v).or_default() += 1;
        }
        class_balance = counts
            .into_iter()
            .map(|(value, count)| ValueCount { value, count })
            .collect();
        class_balance.sort_by(|a, b| b.count.cmp(&a.count).then(a.value.cmp(&b.value)));
        if let (Some(maj), Some(min)) = (class_balance.first(), class_balance.last()) {
            let ratio = maj.count as f64 / min.count.max(1) as f64;
            if ratio >= 3.0 {
                warnings.push(format!(
                    "imbalanced classes: {:?} has {}× the rows of {:?}",
                    maj.value,
                    ratio.round(),
                    min.value
                ));
            }
            if min.count < 5 {
                warnings.push(format!("class {:?} has only {} rows", min.value, min.count));
            }
        }
    }
    if tp.missing > 0 {
        warnings.push(format!(
            "{} rows have no target value and are left out of training",
            tp.missing
        ));
    }
    if n_rows < 50 {
        warnings.push(format!("tiny data: {n_rows} rows; scores will be noisy"));
    }
    for c in &columns {
        if c.name == target {
            continue;
        }
        match c.kind {
            ColumnKind::Identifier => warnings.push(format!(
                "{:?} looks like an identifier and is not used as a feature",
                c.name
            )),
            ColumnKind::Constant => warnings.push(format!(
                "{:?} is constant and is not used as a feature",
                c.name
            )),
            _ => {}
        }
        if c.missing_share > 0.5 {
            warnings.push(format!(
                "{:?} is {:.0}% missing",
                c.name,
                c.missing_share * 100.0
            ));
        }
    }
    // Leakage: a feature equal to the target.
    if let Some(tcol) = batch.column_by_name(&target) {
        let t = column_str(tcol);
        for (n, col) in names.iter().zip(batch.columns()) {
            if n != &target && column_str(col) == t {
                warnings.push(format!(
                    "{n:?} equals the target on every row: a leak; it is not used"
                ));
            }
        }
    }

    Ok(Profile {
        modality: "tabular".to_string(),
        n_rows: n_rows as u64,
        n_columns: names.len() as u64,
        target,
        target_reason,
        task,
        class_balance,
        columns,
        warnings,
    })
}

/// Profiles a folder of labelled images.
pub fn profile_images(folder: &ImageFolder) -> Result<Profile> {
    let mut counts = vec![0u64; folder.classes.len()];
    for (_, c) in &folder.files {
        counts[*c] += 1;
    }
    let mut class_balance: Vec<ValueCount> = folder
        .classes
        .iter()
        .zip(&counts)
        .map(|(c, n)| ValueCount {
            value: c.clone(),
            count: *n,
        })
        .collect();
    class_balance.sort_by(|a, b| b.count.cmp(&a.count).then(a.value.cmp(&b.value)));
    let present = counts.iter().filter(|c| **c > 0).count();
    if present < 2 {
        return Err(AutomlError::BadTarget {
            target: "label".to_string(),
            reason: format!(
                "images were found in {present} class folder(s); at least two classes are needed"
            ),
        });
    }
    let mut warnings = Vec::new();
    if !folder.skipped.is_empty() {
        warnings.push(format!(
            "{} files are not images and were skipped",
            folder.skipped.len()
        ));
    }
    let n = folder.files.len() as u64;
    Ok(Profile {
        modality: "image".to_string(),
        n_rows: n,
        n_columns: 2,
        target: "label".to_string(),
        target_reason: "image folders are labelled by their sub-folder".to_string(),
        task: TaskKind::Classification,
        class_balance: class_balance.clone(),
        columns: vec![
            ColumnProfile {
                name: "image".to_string(),
                dtype: "image".to_string(),
                kind: ColumnKind::Identifier,
                missing: 0,
                missing_share: 0.0,
                n_unique: n,
                min: None,
                max: None,
                mean: None,
                std: None,
                top: vec![],
            },
            ColumnProfile {
                name: "label".to_string(),
                dtype: "Utf8".to_string(),
                kind: ColumnKind::Categorical,
                missing: 0,
                missing_share: 0.0,
                n_unique: present as u64,
                min: None,
                max: None,
                mean: None,
                std: None,
                top: class_balance.into_iter().take(5).collect(),
            },
        ],
        warnings,
    })
}
