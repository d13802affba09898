//! The HTTP commands. HTTP is for commands; the state is on the WebSocket.

use automl_core::{Choice, RunRequest, Stage};
use axum::Json;
use axum::body::Body;
use axum::extract::{Multipart, Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use tokio::io::AsyncWriteExt;

use super::error::{AppError, ErrorBody, UploadError};
use super::state::{AppState, Counters, ProjectId, ProjectSummary};
use super::upload::{self, UploadSummary};

/// The answer to a command that started a run.
#[derive(Debug, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct RunStarted {
    /// The project.
    pub project_id: String,
    /// Where to follow it: `/ws/projects/{id}?since=0`.
    pub events: String,
}

/// Options of a run, as query parameters of `/api/demo/run/{id}` or the body of `/train`.
#[derive(Debug, Default, serde::Deserialize, utoipa::ToSchema, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RunOptions {
    /// What to build, e.g. "classify iris species".
    pub prompt: Option<String>,
    /// An uploaded file or image folder of this project (`/train` only; default: the latest
    /// upload).
    pub data: Option<String>,
    /// The column to predict.
    pub target: Option<String>,
    /// Training budget in seconds.
    pub time_budget_s: Option<f64>,
    /// Number of trials.
    pub max_trials: Option<u32>,
    /// Seed.
    pub seed: Option<u64>,
    /// Wait at REVIEW_EDIT for `/confirm`.
    pub review: Option<bool>,
    /// The metric to optimise (e.g. `roc_auc`, `log_loss`, `rmse`).
    pub metric: Option<String>,
}

impl RunOptions {
    fn request(&self) -> Result<RunRequest, AppError> {
        let prompt = self
            .prompt
            .as_deref()
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .ok_or_else(|| AppError::BadRequest("prompt is required".to_string()))?;
        // Every field is checked by the core (`RunRequest::validate`), as for the CLI and the
        // bindings.
        let mut req = RunRequest::new(prompt);
        req.metric = self.metric.clone();
        req.target = self.target.clone();
        req.time_budget_s = self.time_budget_s;
        req.max_trials = self.max_trials;
        req.seed = self.seed;
        req.review = self.review.unwrap_or(false);
        req.validate()?;
        Ok(req)
    }
}

fn started(id: &ProjectId) -> Response {
    (
        StatusCode::ACCEPTED,
        Json(RunStarted {
            project_id: id.to_string(),
            events: format!("/ws/projects/{id}?since=0"),
        }),
    )
        .into_response()
}

/// Starts a run on the bundled catalog (or what the prompt names).
#[utoipa::path(
    post,
    path = "/api/demo/run/{project_id}",
    params(("project_id" = String, Path, description = "A new project id"), RunOptions),
    responses(
        (status = 202, description = "Started; follow the WebSocket", body = RunStarted),
        (status = 400, body = ErrorBody), (status = 409, body = ErrorBody), (status = 429, body = ErrorBody),
    ),
    tag = "runs"
)]
pub async fn demo_run(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(opts): Query<RunOptions>,
) -> Result<Response, AppError> {
    let id = ProjectId::parse(&id)?;
    let mut req = opts.request()?;
    // No data set fits the request: wait at DATA_SOURCE for an upload (`/upload`, then
    // `/confirm` with `{"stage": "DATA_SOURCE", "edit": {"data": name}}`) instead of failing.
    req.wait_for_upload = true;
    state.submit_run(&id, req).await?;
    Ok(started(&id))
}

/// The path of this project's upload `name`, or a bad request: only a plain file name the
/// upload route wrote is accepted (no paths, no dot files).
fn upload_path(
    state: &AppState,
    id: &ProjectId,
    name: &str,
) -> Result<std::path::PathBuf, AppError> {
    let ok = !name.is_empty()
        && name.len() <= 128
        && !name.starts_with('.')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-' || b == b'_');
    let p = state.config().upload_dir(id).join(name);
    if !ok || !p.exists() {
        return Err(AppError::BadRequest(format!(
            "project {id} has no upload named {:?}",
            name.chars().take(100).collect::<String>()
        )));
    }
    Ok(p)
}

/// Starts a run on this project's uploaded data.
#[utoipa::path(
    post,
    path = "/api/projects/{project_id}/train",
    params(("project_id" = String, Path, description = "Project id")),
    request_body = RunOptions,
    responses(
        (status = 202, body = RunStarted),
        (status = 400, body = ErrorBody), (status = 409, body = ErrorBody),
    ),
    tag = "runs"
)]
pub async fn train(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Json(opts): Json<RunOptions>,
) -> Result<Response, AppError> {
    let id = ProjectId::parse(&id)?;
    let mut req = opts.request()?;
    let data = match &opts.data {
        Some(name) => upload_path(&state, &id, name)?,
        None => state.upload(&id).ok_or_else(|| {
            AppError::BadRequest(format!(
                "project {id} has no upload; POST one to /upload first"
            ))
        })?,
    };
    req.data = Some(data);
    state.submit_run(&id, req).await?;
    Ok(started(&id))
}

/// A prompt to parse.
#[derive(Debug, serde::Deserialize, utoipa::ToSchema)]
pub struct ParseBody {
    /// The request text.
    pub prompt: String,
}

/// Parses a prompt as a run would (the LLM parser when the server's environment configures
/// one, else the embedded parser: the same answer as `automl parse`, Python and Node); no run
/// starts and no event is emitted.
#[utoipa::path(
    post,
    path = "/api/projects/{project_id}/parse",
    params(("project_id" = String, Path, description = "Project id")),
    request_body = ParseBody,
    responses((status = 200, description = "The intent, as in PROMPT_PARSED"), (status = 400, body = ErrorBody)),
    tag = "runs"
)]
pub async fn parse(
    Path(id): Path<String>,
    Json(body): Json<ParseBody>,
) -> Result<Json<automl_core::Intent>, AppError> {
    ProjectId::parse(&id)?;
    let parsed = automl_core::parse_prompt(&body.prompt).await?;
    Ok(Json(parsed.intent))
}

/// Receives a data file: multipart form with a `file` part (.csv, .tsv, or .zip of images).
#[utoipa::path(
    post,
    path = "/api/projects/{project_id}/upload",
    params(("project_id" = String, Path, description = "Project id")),
    request_body(content_type = "multipart/form-data", description = "a `file` part"),
    responses(
        (status = 201, body = UploadSummary),
        (status = 400, body = ErrorBody), (status = 413, body = ErrorBody), (status = 415, body = ErrorBody),
    ),
    tag = "data"
)]
pub async fn upload(
    State(state): State<AppState>,
    Path(id): Path<String>,
    multipart: Multipart,
) -> Result<Response, AppError> {
    let id = ProjectId::parse(&id)?;
    match receive(&state, &id, multipart).await {
        Ok(summary) => {
            Counters::inc(&state.counters().uploads_accepted);
            Ok((StatusCode::CREATED, Json(summary)).into_response())
        }
        Err(e) => {
            Counters::inc(&state.counters().uploads_rejected);
            Err(e)
        }
    }
}

async fn receive(
    state: &AppState,
    id: &ProjectId,
    mut multipart: Multipart,
) -> Result<UploadSummary, AppError> {
    let limit = state.config().max_upload_bytes;
    let too_large = || AppError::Upload(UploadError::TooLarge { limit });
    loop {
        let field = match multipart.next_field().await {
            Ok(Some(f)) => f,
            Ok(None) => return Err(UploadError::NoFile.into()),
            Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => return Err(too_large()),
            Err(e) => return Err(AppError::BadRequest(format!("bad multipart body: {e}"))),
        };
        let Some(raw_name) = field.file_name().map(str::to_string) else {
            continue;
        };
        let (name, kind) = upload::sanitise_name(&raw_name)?;
        let dir = state.config().upload_dir(id);
        tokio::fs::create_dir_all(&dir)
            .await
            .map_err(AppError::internal)?;
        let incoming = dir.join(format!(
            ".incoming-{}",
            std::process::id() as u64 ^ rand_tag()
        ));
        let result = write_field(field, &incoming, limit).await;
        let bytes = match result {
            Ok(n) => n,
            Err(e) => {
                let _ = tokio::fs::remove_file(&incoming).await;
                return Err(e);
            }
        };
        let cfg = state.config().clone();
        let (summary, path) = {
            let incoming2 = incoming.clone();
            let name2 = name.clone();
            let r = tokio::task::spawn_blocking(move || {
                upload::finish(&cfg, &dir, &incoming2, &name2, kind, bytes)
            })
            .await
            .map_err(AppError::internal)?;
            let _ = tokio::fs::remove_file(&incoming).await;
            r?
        };
        tracing::info!(project = %id, name = %summary.name, kind = %summary.kind, bytes, "upload accepted");
        state.set_upload(id, path);
        return Ok(summary);
    }
}

fn rand_tag() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(1);
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    t ^ (N.fetch_add(1, Ordering::Relaxed) << 40)
}

async fn write_field(
    mut field: axum::extract::multipart::Field<'_>,
    path: &std::path::Path,
    limit: u64,
) -> Result<u64, AppError> {
    let mut file = tokio::fs::File::create(path)
        .await
        .map_err(AppError::internal)?;
    let mut n: u64 = 0;
    loop {
        match field.chunk().await {
            Ok(Some(chunk)) => {
                n += chunk.len() as u64;
                if n > limit {
                    return Err(UploadError::TooLarge { limit }.into());
                }
                file.write_all(&chunk).await.map_err(AppError::internal)?;
            }
            Ok(None) => break,
            Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                return Err(UploadError::TooLarge { limit }.into());
            }
            Err(e) => return Err(AppError::BadRequest(format!("upload interrupted: {e}"))),
        }
    }
    file.flush().await.map_err(AppError::internal)?;
    Ok(n)
}

/// A confirmation of a stage that waits.
#[derive(Debug, serde::Deserialize, utoipa::ToSchema)]
pub struct ConfirmBody {
    /// The stage, e.g. `REVIEW_EDIT`.
    pub stage: String,
    /// Edits instead of accepting, e.g. `{"run_id": "r-3"}` to export another trial.
    #[schema(value_type = Option<Object>)]
    pub edit: Option<serde_json::Value>,
}

/// Answers a stage that waits: REVIEW_EDIT of a run started with `review=true`, or
/// DATA_SOURCE of a run for which no data set fits, with `{"data": "<upload name>"}`.
#[utoipa::path(
    post,
    path = "/api/projects/{project_id}/confirm",
    params(("project_id" = String, Path, description = "Project id")),
    request_body = ConfirmBody,
    responses((status = 202, description = "Passed to the run"), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)),
    tag = "runs"
)]
pub async fn confirm(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Json(body): Json<ConfirmBody>,
) -> Result<StatusCode, AppError> {
    let id = ProjectId::parse(&id)?;
    let stage = Stage::parse(&body.stage)
        .ok_or_else(|| AppError::BadRequest(format!("unknown stage {:?}", body.stage)))?;
    let mut edit = body.edit.unwrap_or(serde_json::Value::Null);
    if stage == Stage::DataSource {
        // A run waiting for data takes one of this project's uploads, named as `/upload`
        // answered; a client never names a server path.
        let name = edit
            .get("data")
            .and_then(|d| d.as_str())
            .ok_or_else(|| {
                AppError::BadRequest(
                    "DATA_SOURCE is answered with {\"data\": \"<upload name>\"}".to_string(),
                )
            })?
            .to_string();
        let path = upload_path(&state, &id, &name)?;
        edit = serde_json::json!({ "data": path.display().to_string() });
    }
    let choice = Choice::from_json(&edit)?;
    state.confirm(&id, stage, choice)?;
    Ok(StatusCode::ACCEPTED)
}

/// Cancels the run: it stops at the next check, exports the best model so far and ends with
/// RUN_CANCELLED.
#[utoipa::path(
    post,
    path = "/api/projects/{project_id}/cancel",
    params(("project_id" = String, Path, description = "Project id")),
    responses((status = 202, description = "Cancellation requested"), (status = 404, body = ErrorBody)),
    tag = "runs"
)]
pub async fn cancel(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<StatusCode, AppError> {
    let id = ProjectId::parse(&id)?;
    state.cancel_any(&id).await?;
    Ok(StatusCode::ACCEPTED)
}

/// Downloads a file of the project's run folder (model.json, metrics.json, model_card.md,
/// events.jsonl...).
#[utoipa::path(
    get,
    path = "/api/projects/{project_id}/artifacts/{name}",
    params(("project_id" = String, Path, description = "Project id"), ("name" = String, Path, description = "File name")),
    responses((status = 200, description = "The file"), (status = 404, body = ErrorBody)),
    tag = "data"
)]
pub async fn artifact(
    State(state): State<AppState>,
    Path((id, name)): Path<(String, String)>,
) -> Result<Response, AppError> {
    let id = ProjectId::parse(&id)?;
    let not_found = || AppError::ArtifactNotFound {
        project: id.to_string(),
        name: name.chars().take(100).collect(),
    };
    let ok = !name.is_empty()
        && name.len() <= 128
        && !name.starts_with('.')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-' || b == b'_');
    if !ok {
        return Err(not_found());
    }
    let run_dir = state.config().run_dir(&id);
    let path = run_dir.join(&name);
    let local = matches!(tokio::fs::symlink_metadata(&path).await, Ok(m) if m.is_file());
    let ctype = match name.rsplit_once('.').map(|(_, e)| e) {
        Some("json") => "application/json",
        Some("jsonl") => "application/x-ndjson",
        Some("md") => "text/markdown; charset=utf-8",
        Some("csv") => "text/csv; charset=utf-8",
        Some("txt") => "text/plain; charset=utf-8",
        Some("ipynb") => "application/x-ipynb+json",
        _ => "application/octet-stream",
    };
    let disposition = format!("attachment; filename=\"{name}\"");
    if !local {
        // Not on this server's disk: a run another process held, in the object store.
        let Some(store) = state.config().store.as_ref() else {
            return Err(not_found());
        };
        return match store.get(id.as_str(), &name).await {
            Ok((size, stream)) => {
                let mut resp = Body::from_stream(stream).into_response();
                let h = resp.headers_mut();
                h.insert(header::CONTENT_LENGTH, header::HeaderValue::from(size));
                h.insert(
                    header::CONTENT_TYPE,
                    header::HeaderValue::from_static(ctype),
                );
                if let Ok(v) = header::HeaderValue::from_str(&disposition) {
                    h.insert(header::CONTENT_DISPOSITION, v);
                }
                h.insert(
                    header::X_CONTENT_TYPE_OPTIONS,
                    header::HeaderValue::from_static("nosniff"),
                );
                Ok(resp)
            }
            Err(crate::scale::StoreError::NotFound { .. }) => Err(not_found()),
            Err(e) => Err(AppError::StoreUnavailable(e.to_string())),
        };
    }
    // The run folder itself must be ours too (not a link out of the data folder).
    if contained(&path, &[state.config().runs_dir()])
        .await
        .is_none()
    {
        return Err(not_found());
    }
    stream_file(&path, ctype, Some(disposition)).await
}

/// `path` canonicalised, when it lies inside one of `roots` (canonicalised too); `None` for
/// anything else, links that leave them included.
async fn contained(
    path: &std::path::Path,
    roots: &[std::path::PathBuf],
) -> Option<std::path::PathBuf> {
    let real = tokio::fs::canonicalize(path).await.ok()?;
    for root in roots {
        if let Ok(r) = tokio::fs::canonicalize(root).await {
            if real.starts_with(&r) && real != r {
                return Some(real);
            }
        }
    }
    None
}

/// Streams a file from disk (never read whole into memory).
async fn stream_file(
    path: &std::path::Path,
    ctype: &str,
    disposition: Option<String>,
) -> Result<Response, AppError> {
    let req = axum::http::Request::new(Body::empty());
    let resp = tower_http::services::ServeFile::new(path)
        .try_call(req)
        .await
        .map_err(AppError::internal)?;
    if resp.status() != StatusCode::OK {
        return Err(AppError::internal(format!(
            "{} answered {}",
            path.display(),
            resp.status()
        )));
    }
    let mut resp = resp.map(Body::new);
    let h = resp.headers_mut();
    if let Ok(v) = header::HeaderValue::from_str(ctype) {
        h.insert(header::CONTENT_TYPE, v);
    }
    if let Some(d) = disposition.and_then(|d| header::HeaderValue::from_str(&d).ok()) {
        h.insert(header::CONTENT_DISPOSITION, d);
    }
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        header::HeaderValue::from_static("nosniff"),
    );
    Ok(resp)
}

/// One of the 1-3 sample images of DATASET_SAMPLE_READY (its `images[index]`). Only files that
/// the project's own event names are served.
#[utoipa::path(
    get,
    path = "/api/projects/{project_id}/sample/{index}",
    params(("project_id" = String, Path, description = "Project id"), ("index" = usize, Path, description = "Index into DATASET_SAMPLE_READY's images")),
    responses((status = 200, description = "The image"), (status = 404, body = ErrorBody)),
    tag = "data"
)]
pub async fn sample_image(
    State(state): State<AppState>,
    Path((id, index)): Path<(String, usize)>,
) -> Result<Response, AppError> {
    let id = ProjectId::parse(&id)?;
    // The run copies its sample images into its own folder; nothing else is served.
    let roots = vec![state.config().run_dir(&id)];
    event_image(
        &state,
        id,
        format!("sample image {index}"),
        roots,
        |e| match e {
            automl_core::Event::DatasetSampleReady(p) => Some(p.images.get(index).cloned()),
            _ => None,
        },
    )
    .await
}

/// One of the misclassified test images of REVIEW_READY (its `misclassified[index].item`).
/// Only files that the project's own event names are served.
#[utoipa::path(
    get,
    path = "/api/projects/{project_id}/misclassified/{index}",
    params(("project_id" = String, Path, description = "Project id"), ("index" = usize, Path, description = "Index into REVIEW_READY's misclassified")),
    responses((status = 200, description = "The image"), (status = 404, body = ErrorBody)),
    tag = "data"
)]
pub async fn misclassified_image(
    State(state): State<AppState>,
    Path((id, index)): Path<(String, usize)>,
) -> Result<Response, AppError> {
    let id = ProjectId::parse(&id)?;
    // Test images come from the run's own data: its folder, its uploads, or the data set its
    // DATASET_SELECTED names (added in event_image).
    let roots = vec![state.config().run_dir(&id), state.config().upload_dir(&id)];
    event_image(
        &state,
        id,
        format!("misclassified image {index}"),
        roots,
        |e| match e {
            automl_core::Event::ReviewReady(p) => {
                Some(p.misclassified.get(index).map(|m| m.item.clone()))
            }
            _ => None,
        },
    )
    .await
}

/// Serves the image file that the project's latest event matched by `pick` names, when it is
/// an image inside one of `roots` (after canonicalisation); 404 otherwise, and for a project the
/// server does not know (nothing is created for it).
async fn event_image(
    state: &AppState,
    id: ProjectId,
    what: String,
    mut roots: Vec<std::path::PathBuf>,
    pick: impl Fn(&automl_core::Event) -> Option<Option<String>>,
) -> Result<Response, AppError> {
    let not_found = || AppError::ArtifactNotFound {
        project: id.to_string(),
        name: what.clone(),
    };
    let events = state.events(&id).await.ok_or_else(not_found)?;
    let path = events
        .iter()
        .rev()
        .find_map(|e| pick(&e.event))
        .flatten()
        .ok_or_else(not_found)?;
    if roots.len() > 1 {
        // The data set the run itself chose (a catalog folder, a Hub cache folder).
        if let Some(ds) = events.iter().rev().find_map(|e| match &e.event {
            automl_core::Event::DatasetSelected(p) => Some(std::path::PathBuf::from(&p.path)),
            _ => None,
        }) {
            roots.push(if ds.is_dir() {
                ds
            } else {
                ds.parent().map(|p| p.to_path_buf()).unwrap_or(ds)
            });
        }
    }
    drop(events);
    let ext = path.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase());
    let ctype = match ext.as_deref() {
        Some("png") => "image/png",
        Some("jpg" | "jpeg") => "image/jpeg",
        Some("gif") => "image/gif",
        Some("bmp") => "image/bmp",
        Some("webp") => "image/webp",
        _ => return Err(not_found()),
    };
    let real = contained(std::path::Path::new(&path), &roots)
        .await
        .ok_or_else(not_found)?;
    match tokio::fs::metadata(&real).await {
        Ok(m) if m.is_file() => {}
        _ => return Err(not_found()),
    }
    stream_file(&real, ctype, None).await
}

/// The projects of this server (runs in progress and those rebuilt from their logs), newest
/// first; under `--redis`, also every project any server of the same Redis queued (a queued
/// run no worker has started yet has status `queued`). Open one by replaying its events:
/// `/ws/projects/{id}?since=0`.
#[utoipa::path(
    get,
    path = "/api/projects",
    responses(
        (status = 200, description = "The projects, newest first", body = [ProjectSummary]),
        (status = 503, description = "Under `--redis`: the shared list cannot be read (`shared_unavailable`)", body = ErrorBody),
    ),
    tag = "runs"
)]
pub async fn list_projects(
    State(state): State<AppState>,
) -> Result<Json<Vec<ProjectSummary>>, AppError> {
    Ok(Json(state.list_projects().await?))
}

/// Liveness: `{"status": "ok", ...}`.
#[utoipa::path(get, path = "/healthz", responses((status = 200, description = "`{\"status\": \"ok\", \"version\", \"active_runs\"}`")), tag = "ops")]
pub async fn healthz(State(state): State<AppState>) -> Json<serde_json::Value> {
    Json(serde_json::json!({
        "status": if state.shutdown_token().is_cancelled() { "stopping" } else { "ok" },
        "version": automl_core::VERSION,
        "active_runs": state.active_runs(),
    }))
}

/// Prometheus text exposition of the server's counters.
#[utoipa::path(get, path = "/metrics", responses((status = 200, description = "Prometheus text format", content_type = "text/plain")), tag = "ops")]
pub async fn metrics(State(state): State<AppState>) -> Response {
    use std::fmt::Write;
    use std::sync::atomic::Ordering::Relaxed;
    let c = state.counters();
    let mut out = String::new();
    let mut put = |name: &str, kind: &str, help: &str, v: u64| {
        let _ = writeln!(
            out,
            "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {v}"
        );
    };
    put(
        "automl_http_requests_total",
        "counter",
        "HTTP requests served.",
        c.http_requests.load(Relaxed),
    );
    put(
        "automl_ws_connections",
        "gauge",
        "WebSocket connections open now.",
        c.ws_open.load(Relaxed),
    );
    put(
        "automl_ws_connections_total",
        "counter",
        "WebSocket connections accepted.",
        c.ws_accepted.load(Relaxed),
    );
    put(
        "automl_ws_messages_sent_total",
        "counter",
        "Envelopes written to WebSockets.",
        c.ws_sent.load(Relaxed),
    );
    put(
        "automl_ws_slow_disconnects_total",
        "counter",
        "Clients disconnected for being too slow.",
        c.ws_slow_disconnects.load(Relaxed),
    );
    put(
        "automl_ws_ping_timeouts_total",
        "counter",
        "Clients disconnected for not answering pings.",
        c.ws_ping_timeouts.load(Relaxed),
    );
    put(
        "automl_runs_started_total",
        "counter",
        "Runs started.",
        c.runs_started.load(Relaxed),
    );
    put(
        "automl_runs_active",
        "gauge",
        "Runs in progress.",
        state.active_runs() as u64,
    );
    put(
        "automl_uploads_accepted_total",
        "counter",
        "Uploads accepted.",
        c.uploads_accepted.load(Relaxed),
    );
    put(
        "automl_uploads_rejected_total",
        "counter",
        "Uploads refused.",
        c.uploads_rejected.load(Relaxed),
    );
    put(
        "automl_projects_restored",
        "gauge",
        "Projects rebuilt from event logs at start-up.",
        c.projects_restored.load(Relaxed),
    );
    put(
        "automl_projects",
        "gauge",
        "Projects known to the event bus.",
        state.bus().projects().len() as u64,
    );
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], out).into_response()
}
