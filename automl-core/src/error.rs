//! The error type of automl-core.
//!
//! One enum for the crate's boundary; each variant names the problem and carries the context a
//! user needs to fix it (the file, the column, the stage). [`AutomlError::is_user_error`] tells
//! bad input (exit code 2 on the command line) from a failure of ours or of the machine (1).

use std::path::PathBuf;

use crate::event::Stage;

/// Result alias used across automl-core.
pub type Result<T, E = AutomlError> = std::result::Result<T, E>;

/// Everything that can go wrong in a run.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AutomlError {
    /// A data file named by the caller does not exist or cannot be opened.
    #[error("cannot open data file {path}: {source}")]
    DataFileUnreadable {
        /// The path as given.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The file was read but holds no data rows.
    #[error("empty data: {path} has no data rows{detail}")]
    EmptyData {
        /// The file.
        path: PathBuf,
        /// Extra detail, e.g. " (only a header)".
        detail: String,
    },
    /// The file could not be parsed.
    #[error("cannot parse {path}: {message}")]
    DataParse {
        /// The file.
        path: PathBuf,
        /// What the parser said, with the line where it has one.
        message: String,
    },
    /// The input file is malformed; names the file, and the row and column where they apply.
    #[error("{path}{}: {kind}: {message}", location(*row, column.as_deref()))]
    DataInput {
        /// The file (or the archive entry, as `archive.zip!/entry`).
        path: PathBuf,
        /// What is wrong, as a category.
        kind: DataErrorKind,
        /// 1-based data row (the header is row 0), where it applies.
        row: Option<u64>,
        /// The column name (or `#N`, 1-based, when the header has no name for it).
        column: Option<String>,
        /// What exactly, and how to fix it.
        message: String,
    },
    /// The file format is not one we load.
    #[error("unsupported data format for {path}: {message}")]
    UnsupportedFormat {
        /// The file.
        path: PathBuf,
        /// Which formats are supported.
        message: String,
    },
    /// The target column named by the caller is not in the data.
    #[error("target column {target:?} is not in the data; the columns are: {}", available.join(", "))]
    TargetNotFound {
        /// The name asked for.
        target: String,
        /// The columns that exist.
        available: Vec<String>,
    },
    /// The target cannot be learned (all missing, one class...).
    #[error("target column {target:?} cannot be learned: {reason}")]
    BadTarget {
        /// The target column.
        target: String,
        /// Why.
        reason: String,
    },
    /// The data cannot be used for the task (too few rows, no features...).
    #[error("the data cannot be used: {0}")]
    BadData(String),
    /// A forecasting request on data with no usable time column.
    #[error("forecasting needs a time column (dates, date-times, or an integer index named like time/period/step), and none of these columns is one: {}", columns.join(", "))]
    NoTimeColumn {
        /// The columns of the data.
        columns: Vec<String>,
    },
    /// Every series is too short for the horizon (a test window of `horizon` steps and at
    /// least `needed - horizon` steps to fit on).
    #[error(
        "series {series} has {length} time steps; forecasting {horizon} steps ahead needs at least {needed} (a test window of {horizon} and history to fit and backtest on)"
    )]
    SeriesTooShort {
        /// The (longest) series, in words.
        series: String,
        /// Its length in time steps.
        length: usize,
        /// The horizon asked for.
        horizon: usize,
        /// The fewest steps that would do.
        needed: usize,
    },
    /// The prompt could not be turned into a task we can run.
    #[error("cannot use this request: {reason}. Understood: {understood}. Needed: {needed}")]
    UnusablePrompt {
        /// Why it cannot be used.
        reason: String,
        /// What the parser understood, in words.
        understood: String,
        /// What the caller should add.
        needed: String,
    },
    /// The task is recognised but automl cannot train it.
    #[error("unsupported task ({task_type}): {reason}")]
    UnsupportedTask {
        /// The recognised task type.
        task_type: String,
        /// Why it is not supported.
        reason: String,
    },
    /// No data set could be found or used.
    #[error("no usable data set: {0}")]
    NoDataset(String),
    /// A call to the Hugging Face Hub broke a limit or failed (DATA_SOURCE announces it and
    /// tries the next source).
    #[error("Hub: {what}: {problem}")]
    Hub {
        /// What was asked, e.g. `downloading train.csv of owner/name`.
        what: String,
        /// What went wrong.
        problem: HubProblem,
    },
    /// Data sets matched the request, but every one has a licence the policy rejects.
    #[error("no usable data set: {0}")]
    LicenceRejected(String),
    /// No registered trainer handles the task.
    #[error("no trainer for {task} yet")]
    NoTrainer {
        /// The task in words, e.g. "image classification".
        task: String,
    },
    /// A caller-supplied option is invalid.
    #[error("invalid option {name}: {message}")]
    InvalidOption {
        /// The option.
        name: String,
        /// What is wrong.
        message: String,
    },
    /// The data set catalog is missing or malformed.
    #[error("data set catalog at {path}: {message}")]
    Catalog {
        /// Where the catalog was looked for.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// Training failed.
    #[error("training failed ({model}): {message}")]
    Training {
        /// The model family.
        model: String,
        /// What went wrong.
        message: String,
    },
    /// A stage failed for a reason of its own.
    #[error("stage {stage} failed: {message}")]
    Stage {
        /// The stage.
        stage: Stage,
        /// What went wrong.
        message: String,
    },
    /// The run was cancelled.
    #[error("run cancelled")]
    Cancelled,
    /// A saved model or pipeline could not be read.
    #[error("cannot load model from {path}: {message}")]
    ModelLoad {
        /// The file or folder.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// An I/O error while writing artifacts or logs.
    #[error("i/o error on {path}: {source}")]
    Io {
        /// The path.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// An event could not be serialised or a sink failed.
    #[error("event sink {sink} failed: {message}")]
    Sink {
        /// The sink's name.
        sink: String,
        /// What went wrong.
        message: String,
    },
    /// An internal invariant was broken (a bug of ours).
    #[error("internal error: {0}")]
    Internal(String),
}

fn location(row: Option<u64>, column: Option<&str>) -> String {
    match (row, column) {
        (Some(r), Some(c)) => format!(", row {r}, column {c:?}"),
        (Some(r), None) => format!(", row {r}"),
        (None, Some(c)) => format!(", column {c:?}"),
        (None, None) => String::new(),
    }
}

/// The categories of malformed input ([`AutomlError::DataInput`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum DataErrorKind {
    /// Zero bytes, or only whitespace.
    EmptyFile,
    /// A header row and no data rows.
    HeaderOnly,
    /// A row with more or fewer fields than the header.
    RaggedRow,
    /// Bytes that are not valid in the file's text encoding.
    Encoding,
    /// Binary content where text was expected.
    Binary,
    /// Two columns with the same name.
    DuplicateColumn,
    /// One field larger than the loader's limit.
    FieldTooLarge,
    /// A value that does not fit its column's type, or malformed syntax.
    Malformed,
    /// A container file (Parquet, Arrow IPC, zip) whose structure is damaged.
    CorruptFile,
    /// An image file that does not decode.
    UndecodableImage,
    /// An archive entry that would be written outside the extraction folder.
    UnsafeArchivePath,
    /// An archive that expands far beyond its size (a decompression bomb).
    DecompressionBomb,
    /// Too few rows to learn anything from.
    TooFewRows,
}

impl DataErrorKind {
    /// The machine-readable code (also used as the ERROR event's code).
    pub fn code(&self) -> &'static str {
        match self {
            Self::EmptyFile => "empty_file",
            Self::HeaderOnly => "header_only",
            Self::RaggedRow => "ragged_row",
            Self::Encoding => "encoding",
            Self::Binary => "binary_data",
            Self::DuplicateColumn => "duplicate_column",
            Self::FieldTooLarge => "field_too_large",
            Self::Malformed => "malformed",
            Self::CorruptFile => "corrupt_file",
            Self::UndecodableImage => "undecodable_image",
            Self::UnsafeArchivePath => "unsafe_archive_path",
            Self::DecompressionBomb => "decompression_bomb",
            Self::TooFewRows => "too_few_rows",
        }
    }
}

impl std::fmt::Display for DataErrorKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.code().replace('_', " "))
    }
}

impl AutomlError {
    /// A [`AutomlError::DataInput`] error.
    pub fn data_input(
        path: impl Into<PathBuf>,
        kind: DataErrorKind,
        row: Option<u64>,
        column: Option<String>,
        message: impl Into<String>,
    ) -> Self {
        Self::DataInput {
            path: path.into(),
            kind,
            row,
            column,
            message: message.into(),
        }
    }

    /// True when the caller's input is at fault (bad file, bad column, bad prompt, bad option):
    /// the command line exits with 2 for these and with 1 for everything else.
    pub fn is_user_error(&self) -> bool {
        self.category().is_user_error()
    }

    /// The family of the error, for bindings to map to their exception or error classes (one
    /// table for Python, Node and uniffi) and for exit codes.
    pub fn category(&self) -> ErrorCategory {
        match self {
            Self::DataFileUnreadable { .. }
            | Self::EmptyData { .. }
            | Self::DataParse { .. }
            | Self::DataInput { .. }
            | Self::UnsupportedFormat { .. }
            | Self::TargetNotFound { .. }
            | Self::BadTarget { .. }
            | Self::NoTimeColumn { .. }
            | Self::SeriesTooShort { .. }
            | Self::BadData(_) => ErrorCategory::Data,
            Self::UnusablePrompt { .. } | Self::UnsupportedTask { .. } => ErrorCategory::Prompt,
            Self::LicenceRejected(_) => ErrorCategory::Licence,
            Self::NoDataset(_) | Self::Hub { .. } => ErrorCategory::DatasetNotFound,
            Self::InvalidOption { .. } => ErrorCategory::InvalidOption,
            Self::NoTrainer { .. } | Self::Training { .. } | Self::Stage { .. } => {
                ErrorCategory::Training
            }
            Self::ModelLoad { .. } => ErrorCategory::ModelLoad,
            Self::Cancelled => ErrorCategory::Cancelled,
            Self::Catalog { .. } | Self::Io { .. } | Self::Sink { .. } | Self::Internal(_) => {
                ErrorCategory::Internal
            }
        }
    }

    /// A short machine-readable code for ERROR events.
    pub fn code(&self) -> &'static str {
        match self {
            Self::DataFileUnreadable { .. } => "data_file_unreadable",
            Self::EmptyData { .. } => "empty_data",
            Self::DataParse { .. } => "data_parse",
            Self::DataInput { kind, .. } => kind.code(),
            Self::UnsupportedFormat { .. } => "unsupported_format",
            Self::TargetNotFound { .. } => "target_not_found",
            Self::BadTarget { .. } => "bad_target",
            Self::BadData(_) => "bad_data",
            Self::NoTimeColumn { .. } => "no_time_column",
            Self::SeriesTooShort { .. } => "series_too_short",
            Self::UnusablePrompt { .. } => "unusable_prompt",
            Self::UnsupportedTask { .. } => "unsupported_task",
            Self::NoDataset(_) => "no_dataset",
            Self::Hub { problem, .. } => problem.code(),
            Self::LicenceRejected(_) => "licence_rejected",
            Self::NoTrainer { .. } => "no_trainer",
            Self::InvalidOption { .. } => "invalid_option",
            Self::Catalog { .. } => "catalog",
            Self::Training { .. } => "training_failed",
            Self::Stage { .. } => "stage_failed",
            Self::Cancelled => "cancelled",
            Self::ModelLoad { .. } => "model_load",
            // A full disk (ENOSPC) or quota is named as such: the one I/O failure a user fixes.
            Self::Io { source, .. }
                if matches!(
                    source.kind(),
                    std::io::ErrorKind::StorageFull | std::io::ErrorKind::QuotaExceeded
                ) =>
            {
                "disk_full"
            }
            Self::Io { .. } => "io",
            Self::Sink { .. } => "sink",
            Self::Internal(_) => "internal",
        }
    }

    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io {
            path: path.into(),
            source,
        }
    }
}

/// What went wrong in a call to the Hugging Face Hub.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum HubProblem {
    /// The Hub's host did not accept a connection within the probe's time: no network.
    Offline {
        /// `host:port`.
        host: String,
        /// The probe's limit, in seconds.
        limit_s: f64,
        /// What the network stack said.
        detail: String,
    },
    /// The bytes (announced or received) passed the download cap.
    TooLarge {
        /// The cap, in bytes.
        limit: u64,
    },
    /// The download took longer than its time limit.
    TimedOut {
        /// The limit, in seconds.
        limit_s: f64,
    },
    /// The body stopped arriving.
    Stalled {
        /// Seconds without a byte.
        after_s: f64,
    },
    /// The Hub asked to come back later than the stage waits (`Retry-After`).
    RetryTooLate {
        /// The HTTP status (429 or 5xx).
        status: u16,
        /// The wait it asked for, in seconds.
        retry_after_s: f64,
    },
    /// An HTTP status the client does not accept.
    Status {
        /// The status.
        status: u16,
    },
    /// A redirect the client does not follow (too many, or without a location).
    Redirect(String),
    /// The connection or the body failed.
    Transport(String),
    /// The file could not be written to the cache.
    Write(String),
}

impl HubProblem {
    /// The ERROR/WARNING code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Offline { .. } => "hub_offline",
            Self::TooLarge { .. } => "hub_too_large",
            Self::TimedOut { .. } => "hub_timed_out",
            Self::Stalled { .. } => "hub_stalled",
            Self::RetryTooLate { .. } => "hub_retry_too_late",
            Self::Status { .. } => "hub_status",
            Self::Redirect(_) => "hub_redirect",
            Self::Transport(_) => "hub_transport",
            Self::Write(_) => "hub_write",
        }
    }
}

impl std::fmt::Display for HubProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Offline {
                host,
                limit_s,
                detail,
            } => write!(
                f,
                "offline: {host} did not accept a connection within {limit_s:.1} s ({detail}); pass --offline or set HF_HUB_OFFLINE=1 to skip this check"
            ),
            Self::TooLarge { limit } => write!(
                f,
                "larger than the download cap of {limit} bytes (AUTOML_HUB_MAX_BYTES)"
            ),
            Self::TimedOut { limit_s } => write!(
                f,
                "not finished within the download time limit of {limit_s:.1} s (AUTOML_HUB_DOWNLOAD_TIMEOUT)"
            ),
            Self::Stalled { after_s } => write!(f, "no bytes arrived for {after_s:.1} s"),
            Self::RetryTooLate {
                status,
                retry_after_s,
            } => write!(
                f,
                "HTTP {status} with Retry-After {retry_after_s:.0} s, longer than DATA_SOURCE waits"
            ),
            Self::Status { status } => write!(f, "HTTP {status}"),
            Self::Redirect(m) => write!(f, "redirect not followed: {m}"),
            Self::Transport(m) => write!(f, "transport: {m}"),
            Self::Write(m) => write!(f, "writing to the cache: {m}"),
        }
    }
}

/// The family of an [`AutomlError`]: what a binding maps to one exception or error class.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCategory {
    /// The data: unreadable, empty, malformed, wrong target.
    Data,
    /// The request: no task recognised, or an unsupported task.
    Prompt,
    /// Every data set found has a licence the policy rejects.
    Licence,
    /// No data set matched.
    DatasetNotFound,
    /// A bad option value (budget, metric, project id...).
    InvalidOption,
    /// Training failed, or no trainer handles the task.
    Training,
    /// A saved model could not be loaded (missing, malformed, inconsistent).
    ModelLoad,
    /// The run was cancelled.
    Cancelled,
    /// Anything else (I/O, sinks, bugs).
    Internal,
}

impl ErrorCategory {
    /// The wire name, e.g. `invalid_option`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Data => "data",
            Self::Prompt => "prompt",
            Self::Licence => "licence",
            Self::DatasetNotFound => "dataset_not_found",
            Self::InvalidOption => "invalid_option",
            Self::Training => "training",
            Self::ModelLoad => "model_load",
            Self::Cancelled => "cancelled",
            Self::Internal => "internal",
        }
    }

    /// True for the categories where the caller's input is at fault (exit code 2).
    pub fn is_user_error(&self) -> bool {
        matches!(
            self,
            Self::Data
                | Self::Prompt
                | Self::Licence
                | Self::DatasetNotFound
                | Self::InvalidOption
                | Self::ModelLoad
        )
    }
}
