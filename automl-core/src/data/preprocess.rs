//! PREPROCESS: a seeded (stratified) train/valid/test split, then a feature pipeline fitted on
//! the training rows only and applied identically at predict time.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};

use arrow::array::UInt32Array;
use arrow::compute::take_record_batch;
use arrow::record_batch::RecordBatch;
use ndarray::Array2;
use rand::SeedableRng;
use rand::seq::SliceRandom;
use serde::{Deserialize, Serialize};

use crate::data::text::{self, Csr};
use crate::data::{column_f64, column_str};
use crate::error::{AutomlError, Result};
use crate::event::{
    ColumnKind, DroppedColumn, FeatureStep, PreprocessSummary, Profile, SplitSizes, TaskKind,
    TransformReport,
};

/// Share of rows held out for the final test.
pub const TEST_SHARE: f64 = 0.2;
/// Share of rows used for validation (model choice).
pub const VALID_SHARE: f64 = 0.16;
/// Most categories one-hot encoded per column; rarer ones map to no column.
pub const MAX_ONE_HOT: usize = 30;
/// Buckets of the hashed bag of words for text columns.
pub const TEXT_BUCKETS: usize = 2048;

/// The fitted, serialisable feature pipeline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Pipeline {
    /// Format version.
    pub version: u32,
    /// The target column (ignored at predict time when present).
    pub target: String,
    /// Classification or regression.
    pub task: TaskKind,
    /// Class labels in index order (classification).
    pub classes: Vec<String>,
    /// Steps, in output order.
    pub steps: Vec<FeatureStep>,
    /// Names of the output features.
    pub feature_names: Vec<String>,
    /// Input columns not used, with the reason.
    pub dropped: Vec<DroppedColumn>,
}

/// Numeric and date columns, and booleans stored as numbers or `true`/`false`, are encoded as
/// numbers; everything else by its category.
fn as_number(kind: ColumnKind, dtype: &arrow::datatypes::DataType) -> bool {
    match kind {
        ColumnKind::Numeric | ColumnKind::Datetime => {
            crate::data::is_numeric_type(dtype)
                || matches!(
                    dtype,
                    arrow::datatypes::DataType::Date32
                        | arrow::datatypes::DataType::Date64
                        | arrow::datatypes::DataType::Timestamp(_, _)
                )
        }
        ColumnKind::Boolean => {
            crate::data::is_numeric_type(dtype)
                || matches!(dtype, arrow::datatypes::DataType::Boolean)
        }
        _ => false,
    }
}

fn text_tokens(s: &str) -> Vec<String> {
    s.to_lowercase()
        .split(|c: char| !c.is_alphanumeric() && c != '\'' && c != '£' && c != '$')
        .filter(|t| !t.is_empty())
        .map(str::to_string)
        .collect()
}

fn bucket(token: &str, buckets: usize) -> usize {
    // FNV-1a: stable across platforms and releases, unlike std's default hasher.
    let mut h = FnvHasher(0xcbf2_9ce4_8422_2325);
    token.hash(&mut h);
    (h.finish() % buckets as u64) as usize
}

struct FnvHasher(u64);
impl Hasher for FnvHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 ^= u64::from(*b);
            self.0 = self.0.wrapping_mul(0x0100_0000_01b3);
        }
    }
}

/// Most output features a saved pipeline may make (bounds memory at predict time).
pub const MAX_FEATURES: usize = 1 << 22;

impl Pipeline {
    /// Checks a pipeline read from a saved model: a classification has at least two classes
    /// and a regression none, every step is consistent (parts with their statistics, bucket
    /// counts in range, finite statistics, non-zero scales), and the width is bounded. On
    /// `Err`, what is wrong.
    pub fn validate(&self) -> std::result::Result<(), String> {
        match self.task {
            TaskKind::Classification if self.classes.len() < 2 => {
                return Err(format!(
                    "a classification model needs at least 2 classes, this one has {}",
                    self.classes.len()
                ));
            }
            TaskKind::Regression if !self.classes.is_empty() => {
                return Err("a regression model has classes".to_string());
            }
            _ => {}
        }
        let mut width = 0usize;
        for (i, step) in self.steps.iter().enumerate() {
            let bad = |what: &str| Err(format!("step {i} ({}): {what}", step.column()));
            match step {
                FeatureStep::Numeric {
                    fill, mean, std, ..
                } => {
                    if !(fill.is_finite() && mean.is_finite() && std.is_finite()) || *std == 0.0 {
                        return bad("statistics must be finite with a non-zero scale");
                    }
                }
                FeatureStep::OneHot { .. } => {}
                FeatureStep::Frequency {
                    mean, std, shares, ..
                } => {
                    if !(mean.is_finite() && std.is_finite()) || *std == 0.0 {
                        return bad("statistics must be finite with a non-zero scale");
                    }
                    if shares.iter().any(|(_, s)| !s.is_finite()) {
                        return bad("a share is not a finite number");
                    }
                }
                FeatureStep::DatetimeParts {
                    parts, means, stds, ..
                } => {
                    if parts.len() != means.len() || parts.len() != stds.len() || parts.len() > 5 {
                        return bad("parts, means and scales differ in length");
                    }
                    if means.iter().chain(stds).any(|v| !v.is_finite()) || stds.contains(&0.0) {
                        return bad("statistics must be finite with non-zero scales");
                    }
                    if parts
                        .iter()
                        .any(|p| !["year", "month", "day", "weekday", "hour"].contains(&p.as_str()))
                    {
                        return bad("unknown date part");
                    }
                }
                FeatureStep::TextHash { buckets, .. } => {
                    if *buckets == 0 || *buckets > 1 << 20 {
                        return bad("bucket count outside 1..=1048576");
                    }
                }
                FeatureStep::TextTfidf {
                    width, grams, idf, ..
                } => {
                    if grams.len() != *width || idf.len() != *width {
                        return bad("n-grams, idf and width differ");
                    }
                    if idf.iter().any(|v| !v.is_finite() || *v < 0.0) {
                        return bad("an idf is not a finite non-negative number");
                    }
                }
            }
            width = width.saturating_add(step.width());
            if width > MAX_FEATURES {
                return Err(format!("more than {MAX_FEATURES} features"));
            }
        }
        if !self.feature_names.is_empty() && self.feature_names.len() != width {
            return Err(format!(
                "{} feature names for {width} features",
                self.feature_names.len()
            ));
        }
        Ok(())
    }

    /// Number of output features (dense then sparse).
    pub fn width(&self) -> usize {
        self.steps.iter().map(FeatureStep::width).sum()
    }

    /// Number of dense features ([`Pipeline::transform`]'s columns).
    pub fn dense_width(&self) -> usize {
        self.steps
            .iter()
            .filter(|s| !s.is_sparse())
            .map(FeatureStep::width)
            .sum()
    }

    /// Number of sparse features ([`Pipeline::transform_sparse`]'s columns).
    pub fn sparse_width(&self) -> usize {
        self.width() - self.dense_width()
    }

    /// The sparse (TF-IDF) features of `batch`, or `None` when the pipeline has no sparse step.
    /// A missing column gives empty rows (the dense transform reports it).
    pub fn transform_sparse(&self, batch: &RecordBatch) -> Option<Csr> {
        let width = self.sparse_width();
        if !self.steps.iter().any(FeatureStep::is_sparse) {
            return None;
        }
        let n = batch.num_rows();
        let mut rows: Vec<Vec<(u32, f32)>> = vec![Vec::new(); n];
        let mut off = 0u32;
        for step in &self.steps {
            let FeatureStep::TextTfidf {
                column,
                width: w,
                grams,
                idf,
            } = step
            else {
                continue;
            };
            if let Some(col) = batch.column_by_name(column) {
                let vocab = text::Vocabulary {
                    grams: grams.clone(),
                    idf: idf.clone(),
                };
                let index = text::index(&vocab);
                text::transform_into(&column_str(col), &vocab, &index, off, &mut rows);
            }
            off += *w as u32;
        }
        let mut m = Csr::new(width);
        for mut r in rows {
            r.sort_unstable_by_key(|e| e.0);
            m.push_row(r);
        }
        Some(m)
    }

    /// Fits the pipeline on `train` using the profile's column kinds.
    pub fn fit(train: &RecordBatch, profile: &Profile, classes: Vec<String>) -> Result<Pipeline> {
        let mut steps = Vec::new();
        let mut dropped = Vec::new();
        let target_values = train
            .column_by_name(&profile.target)
            .map(column_str)
            .unwrap_or_default();
        for col in &profile.columns {
            if col.name == profile.target {
                continue;
            }
            let Some(array) = train.column_by_name(&col.name) else {
                continue;
            };
            if column_str(array) == target_values {
                dropped.push(DroppedColumn {
                    column: col.name.clone(),
                    reason: "equals the target (leak)".to_string(),
                });
                continue;
            }
            match col.kind {
                ColumnKind::Datetime => {
                    let v: Vec<Option<[f64; 5]>> = column_str(array)
                        .iter()
                        .map(|s| s.as_deref().and_then(datetime_parts))
                        .collect();
                    let parts = ["year", "month", "day", "weekday", "hour"];
                    let present: Vec<&[f64; 5]> = v.iter().flatten().collect();
                    if present.is_empty() {
                        dropped.push(DroppedColumn {
                            column: col.name.clone(),
                            reason: "no parseable dates in the training rows".to_string(),
                        });
                        continue;
                    }
                    let n = present.len() as f64;
                    let mut means = vec![0.0; 5];
                    let mut stds = vec![0.0; 5];
                    for k in 0..5 {
                        means[k] = present.iter().map(|p| p[k]).sum::<f64>() / n;
                        let var = present
                            .iter()
                            .map(|p| (p[k] - means[k]).powi(2))
                            .sum::<f64>()
                            / n;
                        stds[k] = if var.sqrt() > 1e-12 { var.sqrt() } else { 1.0 };
                    }
                    // Keep the parts that vary in training.
                    let keep: Vec<usize> = (0..5)
                        .filter(|k| present.iter().any(|p| p[*k] != present[0][*k]))
                        .collect();
                    if keep.is_empty() {
                        dropped.push(DroppedColumn {
                            column: col.name.clone(),
                            reason: "the same date on every training row".to_string(),
                        });
                        continue;
                    }
                    steps.push(FeatureStep::DatetimeParts {
                        column: col.name.clone(),
                        parts: keep.iter().map(|k| parts[*k].to_string()).collect(),
                        means: keep.iter().map(|k| means[*k]).collect(),
                        stds: keep.iter().map(|k| stds[*k]).collect(),
                    });
                }
                _ if as_number(col.kind, array.data_type()) => {
                    let v = column_f64(array);
                    let mut present: Vec<f64> = v.iter().flatten().copied().collect();
                    if present.is_empty() {
                        dropped.push(DroppedColumn {
                            column: col.name.clone(),
                            reason: "no values in the training rows".to_string(),
                        });
                        continue;
                    }
                    present.sort_by(f64::total_cmp);
                    let fill = present[present.len() / 2];
                    let filled: Vec<f64> = v.iter().map(|x| x.unwrap_or(fill)).collect();
                    let mean = filled.iter().sum::<f64>() / filled.len() as f64;
                    let var = filled.iter().map(|x| (x - mean).powi(2)).sum::<f64>()
                        / filled.len() as f64;
                    let std = if var.sqrt() > 1e-12 { var.sqrt() } else { 1.0 };
                    steps.push(FeatureStep::Numeric {
                        column: col.name.clone(),
                        fill,
                        mean,
                        std,
                        missing_indicator: present.len() < v.len(),
                    });
                }
                ColumnKind::Categorical | ColumnKind::Boolean => {
                    let mut counts: HashMap<String, u64> = HashMap::new();
                    for s in column_str(array).into_iter().flatten() {
                        *counts.entry(s).or_default() += 1;
                    }
                    let mut cats: Vec<(String, u64)> = counts.into_iter().collect();
                    cats.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
                    if cats.len() > MAX_ONE_HOT {
                        let total: u64 = cats.iter().map(|c| c.1).sum();
                        let shares: Vec<(String, f64)> = cats
                            .iter()
                            .map(|(c, n)| (c.clone(), *n as f64 / total.max(1) as f64))
                            .collect();
                        let index: HashMap<&str, f64> =
                            shares.iter().map(|(c, f)| (c.as_str(), *f)).collect();
                        let enc: Vec<f64> = column_str(array)
                            .iter()
                            .map(|v| {
                                v.as_deref()
                                    .and_then(|v| index.get(v).copied())
                                    .unwrap_or(0.0)
                            })
                            .collect();
                        let mean = enc.iter().sum::<f64>() / enc.len().max(1) as f64;
                        let var = enc.iter().map(|x| (x - mean).powi(2)).sum::<f64>()
                            / enc.len().max(1) as f64;
                        steps.push(FeatureStep::Frequency {
                            column: col.name.clone(),
                            shares,
                            mean,
                            std: if var.sqrt() > 1e-12 { var.sqrt() } else { 1.0 },
                        });
                        continue;
                    }
                    cats.truncate(MAX_ONE_HOT);
                    // Drop the most frequent category: it is the all-zeros reference, which
                    // keeps linear models free of exact collinearity with the intercept.
                    let reference = cats.first().map(|(c, _)| c.clone());
                    let categories: Vec<String> =
                        cats.into_iter().skip(1).map(|(c, _)| c).collect();
                    if categories.is_empty() {
                        dropped.push(DroppedColumn {
                            column: col.name.clone(),
                            reason: "a single category in the training rows".to_string(),
                        });
                        continue;
                    }
                    steps.push(FeatureStep::OneHot {
                        column: col.name.clone(),
                        categories,
                        reference,
                    });
                }
                ColumnKind::Text => {
                    let vocab = text::fit(&column_str(array));
                    if vocab.grams.is_empty() {
                        dropped.push(DroppedColumn {
                            column: col.name.clone(),
                            reason: format!(
                                "no word or character n-gram appears in {} training rows",
                                text::MIN_DF
                            ),
                        });
                        continue;
                    }
                    steps.push(FeatureStep::TextTfidf {
                        column: col.name.clone(),
                        width: vocab.grams.len(),
                        grams: vocab.grams,
                        idf: vocab.idf,
                    });
                }
                ColumnKind::Identifier => dropped.push(DroppedColumn {
                    column: col.name.clone(),
                    reason: "identifier-like".to_string(),
                }),
                ColumnKind::Constant => dropped.push(DroppedColumn {
                    column: col.name.clone(),
                    reason: "constant".to_string(),
                }),
                ColumnKind::Numeric => dropped.push(DroppedColumn {
                    column: col.name.clone(),
                    reason: "profiled as numeric but not numeric in the training rows".to_string(),
                }),
            }
        }
        if steps.is_empty() {
            return Err(AutomlError::BadData(format!(
                "no usable feature columns besides the target {:?} ({})",
                profile.target,
                dropped
                    .iter()
                    .map(|d| format!("{}: {}", d.column, d.reason))
                    .collect::<Vec<_>>()
                    .join("; ")
            )));
        }
        let mut feature_names = Vec::new();
        let mut sparse_names = Vec::new();
        for s in &steps {
            match s {
                FeatureStep::Numeric {
                    column,
                    missing_indicator,
                    ..
                } => {
                    feature_names.push(column.clone());
                    if *missing_indicator {
                        feature_names.push(format!("{column}__missing"));
                    }
                }
                FeatureStep::OneHot {
                    column, categories, ..
                } => feature_names.extend(categories.iter().map(|c| format!("{column}={c}"))),
                FeatureStep::Frequency { column, .. } => {
                    feature_names.push(format!("{column}__freq"))
                }
                FeatureStep::DatetimeParts { column, parts, .. } => {
                    feature_names.extend(parts.iter().map(|p| format!("{column}__{p}")))
                }
                FeatureStep::TextHash { column, buckets } => {
                    feature_names.extend((0..*buckets).map(|b| format!("{column}#{b}")))
                }
                FeatureStep::TextTfidf { column, grams, .. } => {
                    sparse_names.extend(grams.iter().map(|g| {
                        let kind = if g & 1 == 0 { "word" } else { "char" };
                        format!("{column}~{kind}{g:016x}")
                    }))
                }
            }
        }
        feature_names.extend(sparse_names);
        Ok(Pipeline {
            version: 1,
            target: profile.target.clone(),
            task: profile.task,
            classes,
            steps,
            feature_names,
            dropped,
        })
    }

    /// Turns rows into the model's feature matrix.
    pub fn transform(&self, batch: &RecordBatch) -> (Array2<f64>, TransformReport) {
        let n = batch.num_rows();
        let mut x = Array2::<f64>::zeros((n, self.dense_width()));
        let mut report = TransformReport::default();
        let mut off = 0;
        for step in &self.steps {
            let col = batch.column_by_name(step.column());
            if col.is_none() {
                report.missing_columns.push(step.column().to_string());
            }
            match step {
                FeatureStep::Numeric {
                    fill,
                    mean,
                    std,
                    missing_indicator,
                    ..
                } => {
                    let vals = col.map(column_f64).unwrap_or_else(|| vec![None; n]);
                    let raw = col.map(column_str).unwrap_or_else(|| vec![None; n]);
                    for (i, v) in vals.iter().enumerate() {
                        if v.is_none() && raw[i].is_some() {
                            report.coerced_values += 1;
                        }
                        x[[i, off]] = (v.unwrap_or(*fill) - mean) / std;
                        if *missing_indicator {
                            x[[i, off + 1]] = if v.is_none() { 1.0 } else { 0.0 };
                        }
                    }
                }
                FeatureStep::OneHot {
                    categories,
                    reference,
                    ..
                } => {
                    let index: HashMap<&str, usize> = categories
                        .iter()
                        .enumerate()
                        .map(|(i, c)| (c.as_str(), i))
                        .collect();
                    if let Some(c) = col {
                        for (i, v) in column_str(c).iter().enumerate() {
                            if let Some(v) = v {
                                match index.get(v.as_str()) {
                                    Some(j) => x[[i, off + j]] = 1.0,
                                    // The reference category is all zeros by design.
                                    None if reference.as_deref() == Some(v.as_str()) => {}
                                    None => report.unseen_categories += 1,
                                }
                            }
                        }
                    }
                }
                FeatureStep::Frequency {
                    shares, mean, std, ..
                } => {
                    let index: HashMap<&str, f64> =
                        shares.iter().map(|(c, f)| (c.as_str(), *f)).collect();
                    let vals = col.map(column_str).unwrap_or_else(|| vec![None; n]);
                    for (i, v) in vals.iter().enumerate() {
                        let f = match v.as_deref().map(|v| index.get(v)) {
                            Some(Some(f)) => *f,
                            Some(None) => {
                                report.unseen_categories += 1;
                                0.0
                            }
                            None => 0.0,
                        };
                        x[[i, off]] = (f - mean) / std;
                    }
                }
                FeatureStep::DatetimeParts {
                    parts, means, stds, ..
                } => {
                    let all = ["year", "month", "day", "weekday", "hour"];
                    let idx: Vec<usize> = parts
                        .iter()
                        .map(|p| all.iter().position(|a| a == p).unwrap_or(0))
                        .collect();
                    let vals = col.map(column_str).unwrap_or_else(|| vec![None; n]);
                    for (i, v) in vals.iter().enumerate() {
                        let parsed = v.as_deref().and_then(datetime_parts);
                        if parsed.is_none() && v.is_some() {
                            report.coerced_values += 1;
                        }
                        if let Some(p) = parsed {
                            for (j, k) in idx.iter().enumerate() {
                                x[[i, off + j]] = (p[*k] - means[j]) / stds[j];
                            }
                        }
                    }
                }
                // Sparse: see `transform_sparse`.
                FeatureStep::TextTfidf { .. } => continue,
                FeatureStep::TextHash { buckets, .. } => {
                    if let Some(c) = col {
                        for (i, v) in column_str(c).iter().enumerate() {
                            let Some(text) = v else { continue };
                            let toks = text_tokens(text);
                            for t in &toks {
                                x[[i, off + bucket(t, *buckets)]] += 1.0;
                            }
                            for w in toks.windows(2) {
                                x[[i, off + bucket(&format!("{} {}", w[0], w[1]), *buckets)]] +=
                                    1.0;
                            }
                            let mut norm = 0.0;
                            for b in 0..*buckets {
                                let v = x[[i, off + b]];
                                if v > 0.0 {
                                    let l = (1.0 + v).ln();
                                    x[[i, off + b]] = l;
                                    norm += l * l;
                                }
                            }
                            if norm > 0.0 {
                                let norm = norm.sqrt();
                                for b in 0..*buckets {
                                    x[[i, off + b]] /= norm;
                                }
                            }
                        }
                    }
                }
            }
            off += step.width();
        }
        (x, report)
    }

    /// Encodes class labels into indices; unknown labels give `None`.
    pub fn encode_classes(&self, labels: &[Option<String>]) -> Vec<Option<usize>> {
        let idx: HashMap<&str, usize> = self
            .classes
            .iter()
            .enumerate()
            .map(|(i, c)| (c.as_str(), i))
            .collect();
        labels
            .iter()
            .map(|l| l.as_deref().and_then(|l| idx.get(l).copied()))
            .collect()
    }
}

/// Year, month, day, weekday (Monday = 0) and hour of a date or date-time written as text
/// (ISO `2021-03-04`, `2021-03-04 10:00[:00]`, `2021-03-04T10:00:00[.fff][Z|+01:00]`,
/// `2021/03/04`, `04/03/2021` read day first when the first number is above 12, else month first).
pub fn datetime_parts(s: &str) -> Option<[f64; 5]> {
    use chrono::{Datelike, Timelike};
    let dt = parse_datetime(s)?;
    Some([
        f64::from(dt.year()),
        f64::from(dt.month()),
        f64::from(dt.day()),
        f64::from(dt.weekday().num_days_from_monday()),
        f64::from(dt.hour()),
    ])
}

/// A date or date-time written as text, in the forms [`datetime_parts`] reads (a date alone
/// is midnight; a UTC offset is dropped: the local calendar time is kept).
pub fn parse_datetime(s: &str) -> Option<chrono::NaiveDateTime> {
    use chrono::{NaiveDate, NaiveDateTime};
    let t = s.trim();
    let t = t.strip_suffix('Z').unwrap_or(t);
    // Drop a numeric UTC offset: the local calendar parts are what we encode.
    let t = match t.rfind(['+', '-']) {
        Some(i) if i >= 16 && t[i + 1..].replace(':', "").len() == 4 => &t[..i],
        _ => t,
    };
    let dt_formats = [
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M",
        "%Y-%m-%dT%H:%M",
        "%Y/%m/%d %H:%M:%S",
        "%Y/%m/%d %H:%M",
    ];
    let dt = dt_formats
        .iter()
        .find_map(|f| NaiveDateTime::parse_from_str(t, f).ok())
        .or_else(|| {
            let date_formats = ["%Y-%m-%d", "%Y/%m/%d", "%Y.%m.%d"];
            date_formats
                .iter()
                .find_map(|f| NaiveDate::parse_from_str(t, f).ok())
                .or_else(|| {
                    let first: u32 = t.split(['/', '-', '.']).next()?.parse().ok()?;
                    let f = if first > 12 { "%d/%m/%Y" } else { "%m/%d/%Y" };
                    NaiveDate::parse_from_str(&t.replace(['-', '.'], "/"), f).ok()
                })
                .and_then(|d| d.and_hms_opt(0, 0, 0))
        })?;
    Some(dt)
}

/// Class labels in a stable order: numeric order when every label is a number, else text order.
pub fn class_order(labels: impl IntoIterator<Item = String>) -> Vec<String> {
    let mut v: Vec<String> = labels.into_iter().collect();
    v.sort();
    v.dedup();
    if v.iter().all(|s| s.parse::<f64>().is_ok()) {
        v.sort_by(|a, b| {
            a.parse::<f64>()
                .unwrap_or(0.0)
                .total_cmp(&b.parse::<f64>().unwrap_or(0.0))
        });
    }
    v
}

/// Row indices of a train/valid/test split.
#[derive(Debug, Clone, PartialEq)]
pub struct Split {
    /// Training rows.
    pub train: Vec<usize>,
    /// Validation rows.
    pub valid: Vec<usize>,
    /// Test rows.
    pub test: Vec<usize>,
}

/// Splits rows with a seed; `strata` (one label per row) keeps class shares in every part.
pub fn split_rows(rows: &[usize], strata: Option<&[usize]>, seed: u64) -> Split {
    split_rows_grouped(rows, strata, None, seed)
}

/// Like [`split_rows`], but rows that share a group (one id per row, e.g. from
/// [`duplicate_groups`]) always land in the same part: groups, not rows, are shuffled and dealt
/// out, each within the stratum of its first row, until every part holds its share of rows.
/// With every row in a group of its own this is exactly [`split_rows`].
pub fn split_rows_grouped(
    rows: &[usize],
    strata: Option<&[usize]>,
    groups: Option<&[usize]>,
    seed: u64,
) -> Split {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    // Units: the rows of one group, in row order, filed under the stratum of the first.
    let k = strata
        .and_then(|s| s.iter().copied().max())
        .map_or(1, |m| m + 1);
    let mut units: Vec<Vec<Vec<usize>>> = vec![Vec::new(); k];
    let mut rows_in: Vec<usize> = vec![0; k];
    let mut unit_of: HashMap<usize, (usize, usize)> = HashMap::new();
    for (i, r) in rows.iter().enumerate() {
        let s = strata.map_or(0, |s| s[i]);
        match groups.map(|g| g[i]) {
            Some(g) => match unit_of.get(&g) {
                Some(&(st, u)) => {
                    units[st][u].push(*r);
                    rows_in[st] += 1;
                }
                None => {
                    unit_of.insert(g, (s, units[s].len()));
                    units[s].push(vec![*r]);
                    rows_in[s] += 1;
                }
            },
            None => {
                units[s].push(vec![*r]);
                rows_in[s] += 1;
            }
        }
    }
    let mut split = Split {
        train: vec![],
        valid: vec![],
        test: vec![],
    };
    for (g, n) in units.iter_mut().zip(rows_in) {
        g.shuffle(&mut rng);
        let mut n_test = (n as f64 * TEST_SHARE).round() as usize;
        let mut n_valid = (n as f64 * VALID_SHARE).round() as usize;
        if n >= 3 && g.len() >= 3 {
            n_test = n_test.max(1);
            n_valid = n_valid.max(1);
        } else {
            // Too few to share out: keep them for training.
            n_test = 0;
            n_valid = 0;
        }
        let (mut in_test, mut in_valid) = (0, 0);
        for unit in g.iter() {
            if in_test < n_test {
                in_test += unit.len();
                split.test.extend_from_slice(unit);
            } else if in_valid < n_valid {
                in_valid += unit.len();
                split.valid.extend_from_slice(unit);
            } else {
                split.train.extend_from_slice(unit);
            }
        }
    }
    split.train.sort_unstable();
    split.valid.sort_unstable();
    split.test.sort_unstable();
    split
}

/// Groups rows that are exact duplicates in `columns` (every other column is ignored): one
/// group id per row, the id of the first row with the same values. Values are compared by a
/// 128-bit hash of their text, so memory stays one number per row.
pub fn duplicate_groups(batch: &RecordBatch, columns: &[&str]) -> Vec<usize> {
    let n = batch.num_rows();
    if !columns.iter().any(|c| batch.column_by_name(c).is_some()) {
        // Nothing to compare: every row stands alone.
        return (0..n).collect();
    }
    let mut a: Vec<u64> = vec![0xcbf2_9ce4_8422_2325; n];
    let mut b: Vec<u64> = vec![0x6c62_272e_07bb_0142; n];
    for name in columns {
        let Some(col) = batch.column_by_name(name) else {
            continue;
        };
        for (i, v) in column_str(col).iter().enumerate() {
            let mut ha = FnvHasher(a[i]);
            let mut hb = FnvHasher(b[i] ^ 0x9e37_79b9_7f4a_7c15);
            match v {
                Some(s) => {
                    ha.write(&[1]);
                    ha.write(s.as_bytes());
                    hb.write(s.as_bytes());
                    hb.write(&(s.len() as u64).to_le_bytes());
                }
                None => {
                    ha.write(&[0]);
                    hb.write(&[0xff]);
                }
            }
            // Column separator: ("ab", "c") and ("a", "bc") differ.
            ha.write(&[0x1f]);
            hb.write(&[0x1e]);
            a[i] = ha.finish();
            b[i] = hb.finish();
        }
    }
    let mut first: HashMap<(u64, u64), usize> = HashMap::with_capacity(n);
    (0..n)
        .map(|i| *first.entry((a[i], b[i])).or_insert(i))
        .collect()
}

/// The columns whose values make two rows duplicates: every column the model may read (all
/// but the target, identifiers and constants).
pub fn duplicate_key_columns(profile: &Profile) -> Vec<&str> {
    profile
        .columns
        .iter()
        .filter(|c| {
            c.name != profile.target
                && !matches!(c.kind, ColumnKind::Identifier | ColumnKind::Constant)
        })
        .map(|c| c.name.as_str())
        .collect()
}

/// Whether exact repeats are copies of one record (kept on one side of every split) rather than
/// distinct records that happen to share few, coarse features (a 3-column table of categories
/// repeats rows by nature: grouping them would empty the training set). Repeats are grouped when
/// the key holds free text, or when they are at most half of the rows.
pub fn group_duplicates(n_rows: usize, duplicate_rows: u64, has_text: bool) -> bool {
    duplicate_rows > 0 && (has_text || duplicate_rows * 2 <= n_rows as u64)
}

/// Whether the profile has a free-text column among the duplicate key.
pub fn key_has_text(profile: &Profile) -> bool {
    profile
        .columns
        .iter()
        .any(|c| c.name != profile.target && c.kind == ColumnKind::Text)
}

/// Rows that repeat an earlier row's values (group size minus one, summed over groups).
pub fn count_duplicates(groups: &[usize]) -> u64 {
    let distinct: std::collections::HashSet<usize> = groups.iter().copied().collect();
    (groups.len() - distinct.len()) as u64
}

/// Rows `idx` of `batch`.
pub fn take_rows(batch: &RecordBatch, idx: &[usize]) -> Result<RecordBatch> {
    let indices = UInt32Array::from(idx.iter().map(|i| *i as u32).collect::<Vec<u32>>());
    take_record_batch(batch, &indices).map_err(|e| AutomlError::Internal(e.to_string()))
}

/// The targets of a split.
#[derive(Debug, Clone)]
pub enum Targets {
    /// Class indices into `Pipeline::classes`.
    Classes(Vec<usize>),
    /// Numbers.
    Values(Vec<f64>),
}

impl Targets {
    /// Number of rows.
    pub fn len(&self) -> usize {
        match self {
            Targets::Classes(v) => v.len(),
            Targets::Values(v) => v.len(),
        }
    }

    /// True when there are no rows.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A table split, encoded and ready for the tabular trainers.
#[derive(Debug, Clone)]
pub struct TabularData {
    /// The fitted pipeline.
    pub pipeline: Pipeline,
    /// Training features.
    pub x_train: Array2<f64>,
    /// Training targets.
    pub y_train: Targets,
    /// Validation features.
    pub x_valid: Array2<f64>,
    /// Validation targets.
    pub y_valid: Targets,
    /// Raw training rows (for trainers that fit an encoding of their own).
    pub train_rows: RecordBatch,
    /// Raw validation rows.
    pub valid_rows: RecordBatch,
    /// Raw test rows (evaluated through the whole pipeline, as a user would predict).
    pub test_rows: RecordBatch,
    /// Test targets.
    pub y_test: Targets,
    /// Duplicate group of each training then validation row (the order of
    /// [`TabularData::train_and_valid`]): rows with equal feature values share an id.
    pub groups: Vec<usize>,
}

impl TabularData {
    /// Whether trainers should choose by cross-validation (small data).
    pub fn use_cv(&self) -> bool {
        self.train_rows.num_rows() + self.valid_rows.num_rows() < CV_MAX_ROWS
    }

    /// Cross-validation folds over train + valid (the order of [`TabularData::train_and_valid`]),
    /// stratified by `labels` when given, with exact duplicates held out together.
    pub fn cv_folds(&self, labels: Option<&[usize]>, k: usize, seed: u64) -> Vec<Vec<usize>> {
        let n = self.train_rows.num_rows() + self.valid_rows.num_rows();
        let groups = (self.groups.len() == n).then_some(self.groups.as_slice());
        folds_grouped(n, labels, groups, k, seed)
    }

    /// Training and validation rows together (all rows but the test split): raw rows, encoded
    /// features and targets, for refitting a chosen configuration.
    pub fn train_and_valid(&self) -> Result<(RecordBatch, Array2<f64>, Targets)> {
        let rows = arrow::compute::concat_batches(
            &self.train_rows.schema(),
            [&self.train_rows, &self.valid_rows],
        )
        .map_err(|e| AutomlError::Internal(e.to_string()))?;
        let x = ndarray::concatenate(
            ndarray::Axis(0),
            &[self.x_train.view(), self.x_valid.view()],
        )
        .map_err(|e| AutomlError::Internal(e.to_string()))?;
        let y = match (&self.y_train, &self.y_valid) {
            (Targets::Classes(a), Targets::Classes(b)) => {
                Targets::Classes(a.iter().chain(b).copied().collect())
            }
            (Targets::Values(a), Targets::Values(b)) => {
                Targets::Values(a.iter().chain(b).copied().collect())
            }
            _ => return Err(AutomlError::Internal("mixed targets".to_string())),
        };
        Ok((rows, x, y))
    }
}

/// Below this many training + validation rows, trainers choose by k-fold cross-validation on
/// train + valid instead of the single validation split.
pub const CV_MAX_ROWS: usize = 2000;
/// Folds of that cross-validation.
pub const CV_FOLDS: usize = 5;

/// `k` folds over `n` rows (stratified by `labels` when given), seeded: each fold's held-out
/// row indices.
pub fn folds(n: usize, labels: Option<&[usize]>, k: usize, seed: u64) -> Vec<Vec<usize>> {
    folds_grouped(n, labels, None, k, seed)
}

/// Like [`folds`], but rows sharing a group id (one per row) are held out together, so that
/// no fold trains on a copy of a row it scores. Groups are dealt in shuffled order to the fold
/// with the fewest rows so far of the group's stratum (the label of its first row). With every
/// row in a group of its own this is exactly [`folds`].
pub fn folds_grouped(
    n: usize,
    labels: Option<&[usize]>,
    groups: Option<&[usize]>,
    k: usize,
    seed: u64,
) -> Vec<Vec<usize>> {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed ^ 0x5eed_f01d);
    let mut out = vec![Vec::new(); k];
    let m = labels
        .and_then(|l| l.iter().copied().max())
        .map_or(1, |m| m + 1);
    let mut by_stratum: Vec<Vec<Vec<usize>>> = vec![Vec::new(); m];
    let mut unit_of: HashMap<usize, (usize, usize)> = HashMap::new();
    for i in 0..n {
        let s = labels.map_or(0, |l| l[i]);
        match groups.map(|g| g[i]) {
            Some(g) => match unit_of.get(&g) {
                Some(&(st, u)) => by_stratum[st][u].push(i),
                None => {
                    unit_of.insert(g, (s, by_stratum[s].len()));
                    by_stratum[s].push(vec![i]);
                }
            },
            None => by_stratum[s].push(vec![i]),
        }
    }
    let mut next = 0;
    for mut units in by_stratum {
        units.shuffle(&mut rng);
        if units.iter().all(|u| u.len() == 1) {
            // Round robin, continuing across strata (the ungrouped rule).
            for u in units {
                out[next % k].push(u[0]);
                next += 1;
            }
            continue;
        }
        // Larger groups first keep the folds even; ties keep the shuffled order.
        units.sort_by_key(|u| std::cmp::Reverse(u.len()));
        let mut sizes = vec![0usize; k];
        for u in units {
            let f = (0..k)
                .min_by_key(|f| (sizes[*f], (*f + k - next % k) % k))
                .unwrap_or(0);
            sizes[f] += u.len();
            out[f].extend(u);
        }
    }
    for f in &mut out {
        f.sort_unstable();
    }
    out
}

impl Targets {
    /// The rows `idx` of these targets.
    pub fn select(&self, idx: &[usize]) -> Targets {
        match self {
            Targets::Classes(v) => Targets::Classes(idx.iter().map(|i| v[*i]).collect()),
            Targets::Values(v) => Targets::Values(idx.iter().map(|i| v[*i]).collect()),
        }
    }
}

/// Splits `batch`, fits the pipeline on the training rows and encodes every part.
pub fn prepare_table(
    batch: &RecordBatch,
    profile: &Profile,
    seed: u64,
    fixed_test: Option<&[usize]>,
) -> Result<(TabularData, PreprocessSummary)> {
    let target_col =
        batch
            .column_by_name(&profile.target)
            .ok_or_else(|| AutomlError::TargetNotFound {
                target: profile.target.clone(),
                available: batch
                    .schema()
                    .fields()
                    .iter()
                    .map(|f| f.name().clone())
                    .collect(),
            })?;
    let labelled: Vec<usize>;
    let mut strata = None;
    let mut classes = Vec::new();
    match profile.task {
        TaskKind::Classification => {
            let labels = column_str(target_col);
            labelled = (0..labels.len()).filter(|i| labels[*i].is_some()).collect();
            classes = class_order(labels.iter().flatten().cloned());
            let index: HashMap<&str, usize> = classes
                .iter()
                .enumerate()
                .map(|(i, c)| (c.as_str(), i))
                .collect();
            strata = Some(
                labelled
                    .iter()
                    .map(|i| index[labels[*i].as_deref().unwrap_or_default()])
                    .collect::<Vec<usize>>(),
            );
        }
        TaskKind::Regression => {
            let vals = column_f64(target_col);
            labelled = (0..vals.len()).filter(|i| vals[*i].is_some()).collect();
        }
    }
    if labelled.len() < 10 {
        return Err(AutomlError::BadData(format!(
            "only {} rows have a target value; at least 10 are needed to train and test",
            labelled.len()
        )));
    }
    // Exact duplicates (in the columns the model reads) stay on one side of every split.
    let mut all_groups = duplicate_groups(batch, &duplicate_key_columns(profile));
    let mut groups: Vec<usize> = labelled.iter().map(|r| all_groups[*r]).collect();
    let duplicate_rows = count_duplicates(&groups);
    if !group_duplicates(groups.len(), duplicate_rows, key_has_text(profile)) {
        all_groups = (0..batch.num_rows()).collect();
        groups = labelled.clone();
    }
    let mut left_out = 0u64;
    let split = match fixed_test {
        None => split_rows_grouped(&labelled, strata.as_deref(), Some(&groups), seed),
        Some(test) => {
            let n = batch.num_rows();
            if let Some(bad) = test.iter().find(|r| **r >= n) {
                return Err(AutomlError::InvalidOption {
                    name: "test_rows".to_string(),
                    message: format!("row {bad} is out of range: the data has {n} rows"),
                });
            }
            let held: std::collections::HashSet<usize> = test.iter().copied().collect();
            // Rows outside the given test rows that copy one of them would let the model see
            // test rows in training: they are left out of training and validation.
            let held_groups: std::collections::HashSet<usize> =
                held.iter().map(|r| all_groups[*r]).collect();
            let mut rest = Vec::new();
            let mut rest_strata = Vec::new();
            let mut rest_groups = Vec::new();
            for (i, r) in labelled.iter().enumerate() {
                if held.contains(r) {
                    continue;
                }
                if held_groups.contains(&groups[i]) {
                    left_out += 1;
                    continue;
                }
                rest.push(*r);
                rest_strata.push(strata.as_ref().map_or(0, |s| s[i]));
                rest_groups.push(groups[i]);
            }
            // Split the rest into train and valid in the usual proportions.
            let inner = split_rows_grouped(
                &rest,
                strata.as_ref().map(|_| rest_strata.as_slice()),
                Some(&rest_groups),
                seed,
            );
            let mut train = inner.train;
            train.extend(inner.test);
            train.sort_unstable();
            let mut test: Vec<usize> = test
                .iter()
                .copied()
                .filter(|r| labelled.binary_search(r).is_ok())
                .collect();
            test.sort_unstable();
            test.dedup();
            Split {
                train,
                valid: inner.valid,
                test,
            }
        }
    };
    if split.test.is_empty() || split.valid.is_empty() || split.train.is_empty() {
        return Err(AutomlError::BadData(format!(
            "the split left an empty part (train {}, valid {}, test {} rows)",
            split.train.len(),
            split.valid.len(),
            split.test.len()
        )));
    }
    let train = take_rows(batch, &split.train)?;
    let valid = take_rows(batch, &split.valid)?;
    let test = take_rows(batch, &split.test)?;
    let pipeline = Pipeline::fit(&train, profile, classes)?;
    let targets = |b: &RecordBatch| -> Result<Targets> {
        let c = b
            .column_by_name(&profile.target)
            .ok_or_else(|| AutomlError::Internal("target column lost in split".to_string()))?;
        Ok(match profile.task {
            TaskKind::Classification => Targets::Classes(
                pipeline
                    .encode_classes(&column_str(c))
                    .into_iter()
                    .map(|v| v.unwrap_or(0))
                    .collect(),
            ),
            TaskKind::Regression => Targets::Values(
                column_f64(c)
                    .into_iter()
                    .map(|v| v.unwrap_or(0.0))
                    .collect(),
            ),
        })
    };
    let (x_train, _) = pipeline.transform(&train);
    let (x_valid, _) = pipeline.transform(&valid);
    let summary = PreprocessSummary {
        steps: pipeline.steps.iter().map(FeatureStep::summary).collect(),
        dropped: pipeline.dropped.clone(),
        n_features: pipeline.width() as u64,
        split: SplitSizes {
            train: split.train.len() as u64,
            valid: split.valid.len() as u64,
            test: split.test.len() as u64,
        },
        seed,
        stratified: strata.is_some(),
        duplicate_rows,
        duplicates_of_test_left_out: left_out,
    };
    let data = TabularData {
        y_train: targets(&train)?,
        y_valid: targets(&valid)?,
        y_test: targets(&test)?,
        pipeline,
        x_train,
        x_valid,
        train_rows: train,
        valid_rows: valid,
        test_rows: test,
        groups: split
            .train
            .iter()
            .chain(&split.valid)
            .map(|r| all_groups[*r])
            .collect(),
    };
    Ok((data, summary))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stratified_split_keeps_every_class_everywhere() {
        let rows: Vec<usize> = (0..100).collect();
        let strata: Vec<usize> = (0..100).map(|i| usize::from(i >= 80)).collect();
        let s = split_rows(&rows, Some(&strata), 7);
        assert_eq!(s.train.len() + s.valid.len() + s.test.len(), 100);
        assert!(s.test.iter().any(|r| *r >= 80) && s.test.iter().any(|r| *r < 80));
        assert!(s.valid.iter().any(|r| *r >= 80));
        assert_eq!(s, split_rows(&rows, Some(&strata), 7), "seeded");
        assert_ne!(s, split_rows(&rows, Some(&strata), 8));
    }

    /// 80 distinct rows with a random label, copied 1 to 4 times each (label kept): a split
    /// that scatters copies lets a memorising model "predict" the test rows.
    fn duplicated_batch() -> RecordBatch {
        use std::sync::Arc;

        use arrow::array::{Float64Array, StringArray};
        use arrow::datatypes::{DataType, Field, Schema};
        use rand::Rng;

        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
        let (mut x, mut t, mut y) = (vec![], vec![], vec![]);
        for i in 0..80 {
            let copies = if i % 4 == 0 { 3 } else { 1 };
            let xv: f64 = rng.r#gen();
            let label = if rng.r#gen::<bool>() { "a" } else { "b" };
            for _ in 0..copies {
                x.push(xv);
                t.push(format!("message number {i} with words"));
                y.push(label);
            }
        }
        RecordBatch::try_new(
            Arc::new(Schema::new(vec![
                Field::new("x", DataType::Float64, true),
                Field::new("text", DataType::Utf8, true),
                Field::new("y", DataType::Utf8, true),
            ])),
            vec![
                Arc::new(Float64Array::from(x)),
                Arc::new(StringArray::from(t)),
                Arc::new(StringArray::from(y)),
            ],
        )
        .expect("batch")
    }

    fn profile_of(batch: &RecordBatch) -> Profile {
        let hints = crate::data::profile::TargetHints {
            explicit: Some("y".to_string()),
            ..Default::default()
        };
        crate::data::profile::profile_table(batch, &hints, &crate::agents::parser::parse(""))
            .expect("profile")
    }

    fn keys(batch: &RecordBatch) -> Vec<String> {
        let x = column_str(batch.column_by_name("x").expect("x"));
        let t = column_str(batch.column_by_name("text").expect("text"));
        x.into_iter()
            .zip(t)
            .map(|(a, b)| format!("{a:?}|{b:?}"))
            .collect()
    }

    #[test]
    fn duplicates_stay_on_one_side_of_the_split_and_the_folds() {
        let batch = duplicated_batch();
        let profile = profile_of(&batch);
        // 80 distinct rows, 120 in all.
        assert_eq!(profile.duplicate_rows, 40);
        assert!(
            profile
                .warnings
                .iter()
                .any(|w| w.contains("40 of 120 rows exactly repeat")),
            "{:?}",
            profile.warnings
        );
        for seed in 0..5 {
            let (data, summary) = prepare_table(&batch, &profile, seed, None).expect("prepare");
            assert_eq!(summary.duplicate_rows, 40);
            let test: std::collections::HashSet<String> =
                keys(&data.test_rows).into_iter().collect();
            let valid: std::collections::HashSet<String> =
                keys(&data.valid_rows).into_iter().collect();
            let train = keys(&data.train_rows);
            assert!(!test.is_empty() && !valid.is_empty());
            assert!(
                train
                    .iter()
                    .all(|k| !test.contains(k) && !valid.contains(k)),
                "a training row copies a validation or test row (seed {seed})"
            );
            assert!(valid.iter().all(|k| !test.contains(k)));
            // Folds over train + valid hold every copy out together.
            let all: Vec<String> = train
                .iter()
                .cloned()
                .chain(keys(&data.valid_rows))
                .collect();
            let folds = data.cv_folds(None, CV_FOLDS, seed);
            assert_eq!(folds.iter().map(Vec::len).sum::<usize>(), all.len());
            for held in &folds {
                let held_keys: std::collections::HashSet<&String> =
                    held.iter().map(|i| &all[*i]).collect();
                let held_set: std::collections::HashSet<usize> = held.iter().copied().collect();
                assert!(
                    (0..all.len())
                        .filter(|i| !held_set.contains(i))
                        .all(|i| !held_keys.contains(&all[i])),
                    "a fold trains on a copy of a row it holds out"
                );
            }
        }
    }

    #[test]
    fn copies_of_given_test_rows_are_left_out_of_training() {
        let batch = duplicated_batch();
        let profile = profile_of(&batch);
        // Distinct row 0 is rows 0-2, rows 3-5 are distinct rows 1-3, distinct row 4 is rows 6-8.
        let test: Vec<usize> = vec![1, 3, 6];
        let (data, summary) = prepare_table(&batch, &profile, 0, Some(&test)).expect("prepare");
        // Rows 0 and 2 copy test row 1, rows 7 and 8 copy test row 6; row 3 has no copy.
        assert_eq!(summary.duplicates_of_test_left_out, 4);
        assert_eq!(data.test_rows.num_rows(), 3);
        let test_keys: std::collections::HashSet<String> =
            keys(&data.test_rows).into_iter().collect();
        assert!(
            keys(&data.train_rows)
                .iter()
                .chain(&keys(&data.valid_rows))
                .all(|k| !test_keys.contains(k))
        );
    }

    #[test]
    fn coarse_tables_that_repeat_by_nature_are_not_grouped() {
        use std::sync::Arc;

        use arrow::array::StringArray;
        use arrow::datatypes::{DataType, Field, Schema};

        // Two binary features: 4 distinct rows out of 200, like a table of a few categories.
        let a: Vec<&str> = (0..200)
            .map(|i| if i % 2 == 0 { "x" } else { "y" })
            .collect();
        let b: Vec<&str> = (0..200)
            .map(|i| if i % 3 == 0 { "u" } else { "v" })
            .collect();
        let y: Vec<&str> = (0..200)
            .map(|i| if i % 5 == 0 { "p" } else { "q" })
            .collect();
        let batch = RecordBatch::try_new(
            Arc::new(Schema::new(vec![
                Field::new("a", DataType::Utf8, true),
                Field::new("b", DataType::Utf8, true),
                Field::new("y", DataType::Utf8, true),
            ])),
            vec![
                Arc::new(StringArray::from(a)),
                Arc::new(StringArray::from(b)),
                Arc::new(StringArray::from(y)),
            ],
        )
        .expect("batch");
        let profile = profile_of(&batch);
        assert_eq!(profile.duplicate_rows, 196);
        let test: Vec<usize> = (0..40).collect();
        let (data, summary) = prepare_table(&batch, &profile, 0, Some(&test)).expect("prepare");
        assert_eq!(summary.duplicates_of_test_left_out, 0);
        assert_eq!(data.train_rows.num_rows() + data.valid_rows.num_rows(), 160);
    }

    #[test]
    fn grouping_with_no_duplicates_changes_nothing() {
        let rows: Vec<usize> = (0..97).collect();
        let strata: Vec<usize> = (0..97).map(|i| usize::from(i % 7 == 0)).collect();
        let singles: Vec<usize> = (0..97).map(|i| i * 3).collect();
        assert_eq!(
            split_rows_grouped(&rows, Some(&strata), Some(&singles), 4),
            split_rows(&rows, Some(&strata), 4)
        );
        assert_eq!(
            folds_grouped(97, Some(&strata), Some(&singles), 5, 4),
            folds(97, Some(&strata), 5, 4)
        );
        // Every copy of a row lands in one fold, and the folds stay close in size.
        let groups: Vec<usize> = (0..97).map(|i| i / 3).collect();
        let f = folds_grouped(97, None, Some(&groups), 5, 1);
        for held in &f {
            for i in held {
                assert!(
                    held.iter().filter(|j| groups[**j] == groups[*i]).count()
                        == 97.min(groups[*i] * 3 + 3) - groups[*i] * 3
                );
            }
        }
        let sizes: Vec<usize> = f.iter().map(Vec::len).collect();
        assert!(
            sizes.iter().max().unwrap_or(&0) - sizes.iter().min().unwrap_or(&0) <= 3,
            "{sizes:?}"
        );
    }

    #[test]
    fn datetime_parts_read_common_formats() {
        assert_eq!(
            datetime_parts("2021-03-04 10:30:00"),
            Some([2021.0, 3.0, 4.0, 3.0, 10.0])
        );
        assert_eq!(
            datetime_parts("2021-03-04T10:30:00.5+01:00"),
            Some([2021.0, 3.0, 4.0, 3.0, 10.0])
        );
        assert_eq!(datetime_parts("25/12/2020").map(|p| p[1]), Some(12.0));
        assert_eq!(datetime_parts("12/25/2020").map(|p| p[2]), Some(25.0));
        assert_eq!(datetime_parts("not a date"), None);
    }

    #[test]
    fn class_order_is_numeric_when_labels_are_numbers() {
        let v = class_order(["10", "2", "1"].map(String::from));
        assert_eq!(v, vec!["1", "2", "10"]);
    }

    #[test]
    fn the_one_hot_reference_category_is_not_unseen() {
        use std::sync::Arc;

        use arrow::array::StringArray;
        use arrow::datatypes::{DataType, Field, Schema};

        let step = FeatureStep::OneHot {
            column: "c".into(),
            categories: vec!["b".into(), "c".into()],
            reference: Some("a".into()),
        };
        let pipeline = Pipeline {
            version: 1,
            target: "y".into(),
            task: TaskKind::Regression,
            classes: vec![],
            steps: vec![step],
            feature_names: vec!["c=b".into(), "c=c".into()],
            dropped: vec![],
        };
        let batch = RecordBatch::try_new(
            Arc::new(Schema::new(vec![Field::new("c", DataType::Utf8, true)])),
            vec![Arc::new(StringArray::from(vec![
                Some("a"),
                Some("b"),
                Some("z"),
                None,
            ]))],
        )
        .expect("batch");
        let (x, report) = pipeline.transform(&batch);
        assert_eq!(report.unseen_categories, 1, "only z is unseen");
        assert_eq!(
            x.row(0).to_vec(),
            vec![0.0, 0.0],
            "the reference is all zeros"
        );
        assert_eq!(x.row(1).to_vec(), vec![1.0, 0.0]);
    }
}
