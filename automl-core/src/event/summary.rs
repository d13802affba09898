//! The summary types that PROFILE_READY and PREPROCESS_READY carry, and the report of applying a
//! fitted pipeline: part of the contract, so they live here; `data::profile` and
//! `data::preprocess` produce them.

use serde::{Deserialize, Serialize};

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
    /// Rows that exactly repeat another row in every column the model may read (all but the
    /// target, identifiers and constants); they are kept on one side of every split.
    #[serde(default)]
    pub duplicate_rows: u64,
    /// What was found about time (forecasting requests only); omitted otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_series: Option<TimeSeriesProfile>,
}

/// The time structure of forecasting data: which column is time, which columns tell series
/// apart, the step between observations, and what is irregular about it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TimeSeriesProfile {
    /// The time column.
    pub time_column: String,
    /// `datetime` or `index`.
    pub time_kind: String,
    /// Series-id columns (empty: one series).
    pub id_columns: Vec<String>,
    /// The step in words: `hourly`, `daily`, `weekly`, `monthly`, `quarterly`, `yearly`,
    /// `every 2 steps`...
    pub frequency: String,
    /// The season length in steps used by the seasonal models (1: none).
    pub season: u64,
    /// Steps forecast ahead, and where that came from (`prompt`, `option`, `default`).
    pub horizon: u64,
    /// Where the horizon came from.
    pub horizon_source: String,
    /// Number of series.
    pub n_series: u64,
    /// Shortest and longest series, in steps (after gaps are filled).
    pub min_length: u64,
    /// Longest series.
    pub max_length: u64,
    /// Missing steps on the regular grid, filled by linear interpolation.
    pub gaps: u64,
    /// Rows repeating a time of their series (averaged into one step).
    pub duplicate_timestamps: u64,
    /// Rows left out: missing time or target, or in a series too short for the horizon.
    pub rows_left_out: u64,
    /// Series left out as too short for the horizon.
    pub series_left_out: u64,
}

/// The forecast-vs-actual plot of REVIEW_READY for a forecaster: per series (at most
/// 12), the tail of the history, the actual test
/// window and the forecast of it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ForecastPlot {
    /// Steps forecast.
    pub horizon: u64,
    /// Series, in data order.
    pub series: Vec<ForecastPlotSeries>,
    /// Series in the data (more than shown when capped).
    pub n_series: u64,
}

/// One series of a [`ForecastPlot`]: `history_*` then `test_*`, times as written in the data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ForecastPlotSeries {
    /// The series in words (`store=3`), or `the series`.
    pub name: String,
    /// Times of the history tail.
    pub history_time: Vec<String>,
    /// Values of the history tail.
    pub history: Vec<f64>,
    /// Times of the test window.
    pub test_time: Vec<String>,
    /// Actual values of the test window.
    pub actual: Vec<f64>,
    /// Forecast of the test window.
    pub forecast: Vec<f64>,
    /// This series' test metrics (mase, smape, rmse).
    pub metrics: super::Metrics,
}

impl Profile {
    /// The profile of one column, by name.
    pub fn column(&self, name: &str) -> Option<&ColumnProfile> {
        self.columns.iter().find(|c| c.name == name)
    }
}

/// One fitted transformation of one input column.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum FeatureStep {
    /// Median imputation then standardisation; a missing indicator when the column had gaps.
    Numeric {
        /// Input column.
        column: String,
        /// Value for missing entries (the training median).
        fill: f64,
        /// Training mean after imputation.
        mean: f64,
        /// Training standard deviation (1 when constant).
        std: f64,
        /// Adds a 0/1 "was missing" feature.
        missing_indicator: bool,
    },
    /// One-hot encoding of the most frequent training categories; others and missing give zeros.
    OneHot {
        /// Input column.
        column: String,
        /// Encoded categories, in output order.
        categories: Vec<String>,
        /// The most frequent training category, left out as the all-zeros reference (a known
        /// value, not an unseen one); absent in models saved before it was recorded.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reference: Option<String>,
    },
    /// Frequency encoding for high-cardinality categories: the share of training rows that
    /// hold the value (0 for unseen values and missing), standardised.
    Frequency {
        /// Input column.
        column: String,
        /// Training share of each category.
        shares: Vec<(String, f64)>,
        /// Mean of the encoded training values.
        mean: f64,
        /// Standard deviation of the encoded training values (1 when constant).
        std: f64,
    },
    /// Calendar parts of a date or date-time, each standardised on the training rows;
    /// missing or unparseable values give the training mean (0).
    DatetimeParts {
        /// Input column.
        column: String,
        /// The parts, in output order: `year`, `month`, `day`, `weekday`, `hour`.
        parts: Vec<String>,
        /// Training mean of each part.
        means: Vec<f64>,
        /// Training standard deviation of each part (1 when constant).
        stds: Vec<f64>,
    },
    /// Hashed bag of words and word pairs, log-scaled and L2-normalised.
    TextHash {
        /// Input column.
        column: String,
        /// Number of buckets.
        buckets: usize,
    },
    /// Sparse TF-IDF of word 1-2-grams and character 2-5-grams (hashed), fitted on the
    /// training rows; its features come as a sparse matrix after every dense feature.
    TextTfidf {
        /// Input column.
        column: String,
        /// Number of kept n-grams (output features).
        width: usize,
        /// Hash of each kept n-gram, in feature order (left out of event payloads).
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        grams: Vec<u64>,
        /// Inverse document frequency of each (left out of event payloads).
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        idf: Vec<f64>,
    },
}

impl FeatureStep {
    /// The input column.
    pub fn column(&self) -> &str {
        match self {
            FeatureStep::Numeric { column, .. }
            | FeatureStep::OneHot { column, .. }
            | FeatureStep::Frequency { column, .. }
            | FeatureStep::DatetimeParts { column, .. }
            | FeatureStep::TextHash { column, .. }
            | FeatureStep::TextTfidf { column, .. } => column,
        }
    }

    /// True for steps whose features come as a sparse matrix (after the dense ones).
    pub fn is_sparse(&self) -> bool {
        matches!(self, FeatureStep::TextTfidf { .. })
    }

    /// The step as shown in events: without large fitted tables.
    pub fn summary(&self) -> FeatureStep {
        match self {
            FeatureStep::TextTfidf { column, width, .. } => FeatureStep::TextTfidf {
                column: column.clone(),
                width: *width,
                grams: vec![],
                idf: vec![],
            },
            s => s.clone(),
        }
    }

    /// Number of output features of this step.
    pub fn width(&self) -> usize {
        match self {
            FeatureStep::Numeric {
                missing_indicator, ..
            } => 1 + usize::from(*missing_indicator),
            FeatureStep::OneHot { categories, .. } => categories.len(),
            FeatureStep::Frequency { .. } => 1,
            FeatureStep::DatetimeParts { parts, .. } => parts.len(),
            FeatureStep::TextHash { buckets, .. } => *buckets,
            FeatureStep::TextTfidf { width, .. } => *width,
        }
    }
}

/// An input column the pipeline does not use.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DroppedColumn {
    /// Column name.
    pub column: String,
    /// Why.
    pub reason: String,
}

/// What applying the pipeline to new rows ran into.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TransformReport {
    /// Input columns the pipeline needs that the rows lack (treated as missing).
    pub missing_columns: Vec<String>,
    /// Values that were not numbers in numeric columns (treated as missing).
    pub coerced_values: u64,
    /// Values of categorical columns not seen in training (encoded as zeros).
    pub unseen_categories: u64,
}

/// The PREPROCESS_READY payload.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PreprocessSummary {
    /// The fitted steps.
    pub steps: Vec<FeatureStep>,
    /// Columns not used, with reasons.
    pub dropped: Vec<DroppedColumn>,
    /// Output features.
    pub n_features: u64,
    /// Rows in each part.
    pub split: SplitSizes,
    /// Seed of the split.
    pub seed: u64,
    /// Whether the split keeps class shares.
    pub stratified: bool,
    /// Labelled rows that exactly repeat another row's features; every copy is kept in the
    /// same part of the split and the same cross-validation fold.
    #[serde(default)]
    pub duplicate_rows: u64,
    /// With given test rows: rows outside them that copy one of them, left out of training
    /// and validation so that the model never trains on a test row.
    #[serde(default)]
    pub duplicates_of_test_left_out: u64,
}

/// Rows per part of the split.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SplitSizes {
    /// Training rows.
    pub train: u64,
    /// Validation rows.
    pub valid: u64,
    /// Test rows.
    pub test: u64,
}

impl TransformReport {
    /// True when the rows fitted the pipeline without any adjustment.
    pub fn is_clean(&self) -> bool {
        self.missing_columns.is_empty() && self.coerced_values == 0 && self.unseen_categories == 0
    }

    /// The report in words for a person, e.g. "missing columns treated as missing: age; 3
    /// values that were not numbers treated as missing"; `None` when there is nothing to say.
    pub fn summary(&self) -> Option<String> {
        let mut parts = Vec::new();
        if !self.missing_columns.is_empty() {
            parts.push(format!(
                "missing columns treated as missing: {}",
                self.missing_columns.join(", ")
            ));
        }
        if self.coerced_values > 0 {
            parts.push(format!(
                "{} values that were not numbers treated as missing",
                self.coerced_values
            ));
        }
        if self.unseen_categories > 0 {
            parts.push(format!(
                "{} categories not seen in training encoded as zeros",
                self.unseen_categories
            ));
        }
        (!parts.is_empty()).then(|| parts.join("; "))
    }
}
