//! One error type for every handler: [`AppError`] turns into a JSON response with a plain
//! message for the client; internal details go to the tracing log only.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

/// Why an upload was refused.
#[derive(Debug, thiserror::Error)]
pub enum UploadError {
    /// The request had no file part.
    #[error("no file in the upload: send a multipart form with a `file` part")]
    NoFile,
    /// The file is bigger than the limit.
    #[error("the upload is larger than the limit of {limit} bytes")]
    TooLarge {
        /// The limit in bytes.
        limit: u64,
    },
    /// The file name cannot be used.
    #[error("the file name {name:?} cannot be used: {reason}")]
    BadName {
        /// The name as sent.
        name: String,
        /// Why.
        reason: &'static str,
    },
    /// A format the server does not load.
    #[error(
        "{name:?}: unsupported file type; upload a .csv or .tsv table or a .zip of images (one folder per class)"
    )]
    UnsupportedType {
        /// The sanitised file name.
        name: String,
    },
    /// A zip entry that would land outside the project's folder (`../x`, `/etc/x`, links).
    #[error("zip entry {entry:?} points outside the upload folder")]
    PathTraversal {
        /// The entry's name as stored in the zip.
        entry: String,
    },
    /// A zip whose contents expand far beyond its size or the limits.
    #[error("the zip expands too much ({reason}); it looks like a zip bomb")]
    ZipBomb {
        /// Which limit it hit.
        reason: String,
    },
    /// The zip could not be read.
    #[error("the zip cannot be read: {0}")]
    BadZip(String),
    /// The data does not load.
    #[error("the uploaded data cannot be used: {0}")]
    BadData(String),
}

impl UploadError {
    fn code(&self) -> &'static str {
        match self {
            Self::NoFile => "no_file",
            Self::TooLarge { .. } => "upload_too_large",
            Self::BadName { .. } => "bad_file_name",
            Self::UnsupportedType { .. } => "unsupported_type",
            Self::PathTraversal { .. } => "path_traversal",
            Self::ZipBomb { .. } => "zip_bomb",
            Self::BadZip(_) => "bad_zip",
            Self::BadData(_) => "bad_data",
        }
    }

    fn status(&self) -> StatusCode {
        match self {
            Self::TooLarge { .. } | Self::ZipBomb { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnsupportedType { .. } => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            _ => StatusCode::BAD_REQUEST,
        }
    }
}

/// Everything a handler can fail with.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// The id in the path is not a project id.
    #[error(
        "bad project id {id:?}: use 1 to 64 letters, digits, '-' or '_', starting with a letter or digit"
    )]
    BadProjectId {
        /// The id as sent (cut to 80 characters).
        id: String,
    },
    /// No such project.
    #[error("project {0} not found")]
    ProjectNotFound(String),
    /// The project has no run in progress (for confirm/cancel).
    #[error("project {0} has no run in progress")]
    NoActiveRun(String),
    /// The project already ran (one run per project; event logs stay append-only).
    #[error("project {0} already has a run; start a new project id")]
    ProjectExists(String),
    /// Too many runs at once.
    #[error("{0} runs are in progress, the most this server runs at once; try again later")]
    Busy(usize),
    /// A request field is missing or wrong.
    #[error("bad request: {0}")]
    BadRequest(String),
    /// An upload was refused.
    #[error(transparent)]
    Upload(#[from] UploadError),
    /// No such artifact.
    #[error("artifact {name:?} not found in project {project}")]
    ArtifactNotFound {
        /// The project.
        project: String,
        /// The name asked for.
        name: String,
    },
    /// The object store holding the artifact cannot be reached.
    #[error("the artifact store is unavailable; try again later")]
    StoreUnavailable(String),
    /// The server is stopping.
    #[error("the server is shutting down")]
    ShuttingDown,
    /// Refused by the access check (Host, Origin or token; see `access.rs`).
    #[error("{message}")]
    Refused {
        /// 401 or 403.
        status: StatusCode,
        /// `bad_host`, `cross_origin` or `unauthorized`.
        code: &'static str,
        /// What to do about it.
        message: &'static str,
    },
    /// Too many WebSocket clients, on this project or in all.
    #[error("too many live connections ({0}); try again later")]
    TooManyClients(&'static str),
    /// Under `--redis`: what the servers share in Redis cannot be read now.
    #[error("the state shared through Redis cannot be read ({0}); try again later")]
    SharedUnavailable(String),
    /// Our fault or the machine's: the detail is logged, the client sees "internal error".
    #[error("internal error")]
    Internal(String),
}

impl AppError {
    /// Shorthand for an internal error with its detail.
    pub fn internal(detail: impl std::fmt::Display) -> Self {
        Self::Internal(detail.to_string())
    }

    /// A project id error for `id` (cut so that logs stay short).
    pub fn bad_id(id: &str) -> Self {
        Self::BadProjectId {
            id: id.chars().take(80).collect(),
        }
    }

    /// The machine-readable code clients see.
    pub fn code(&self) -> &'static str {
        match self {
            Self::BadProjectId { .. } => "bad_project_id",
            Self::ProjectNotFound(_) => "project_not_found",
            Self::NoActiveRun(_) => "no_active_run",
            Self::ProjectExists(_) => "project_exists",
            Self::Busy(_) => "busy",
            Self::BadRequest(_) => "bad_request",
            Self::Upload(u) => u.code(),
            Self::ArtifactNotFound { .. } => "artifact_not_found",
            Self::ShuttingDown => "shutting_down",
            Self::StoreUnavailable(_) => "store_unavailable",
            Self::Refused { code, .. } => code,
            Self::TooManyClients(_) => "too_many_clients",
            Self::SharedUnavailable(_) => "shared_unavailable",
            Self::Internal(_) => "internal",
        }
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::BadProjectId { .. } | Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::ProjectNotFound(_) | Self::NoActiveRun(_) | Self::ArtifactNotFound { .. } => {
                StatusCode::NOT_FOUND
            }
            Self::ProjectExists(_) => StatusCode::CONFLICT,
            Self::Busy(_) => StatusCode::TOO_MANY_REQUESTS,
            Self::Upload(u) => u.status(),
            Self::ShuttingDown
            | Self::TooManyClients(_)
            | Self::SharedUnavailable(_)
            | Self::StoreUnavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Refused { status, .. } => *status,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl From<automl_core::AutomlError> for AppError {
    fn from(e: automl_core::AutomlError) -> Self {
        if e.is_user_error() {
            Self::BadRequest(e.to_string())
        } else {
            Self::Internal(e.to_string())
        }
    }
}

/// The JSON body of every error response: `{"error": {"code": "...", "message": "..."}}`.
#[derive(Debug, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct ErrorBody {
    /// The error.
    pub error: ErrorDetail,
}

/// Code and message of an error response.
#[derive(Debug, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct ErrorDetail {
    /// Machine-readable, e.g. `path_traversal`.
    pub code: String,
    /// A line for people; never internal details.
    pub message: String,
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let status = self.status();
        match &self {
            Self::Internal(detail) => tracing::error!(%detail, "internal error"),
            Self::StoreUnavailable(detail) => tracing::warn!(%detail, "object store unavailable"),
            other => tracing::info!(code = other.code(), error = %other, "request refused"),
        }
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code().to_string(),
                message: self.to_string(),
            },
        };
        (status, Json(body)).into_response()
    }
}
