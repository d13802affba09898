//! The reference server: `automl serve`.
//!
//! HTTP is for commands, the WebSocket is for state (see `docs/server.md`):
//!
//! | route | what |
//! |---|---|
//! | `GET /api/projects` | the server's projects, newest first |
//! | `POST /api/demo/run/{id}?prompt=...` | start a run on the catalog (202) |
//! | `POST /api/projects/{id}/parse` | parse a prompt, no run |
//! | `POST /api/projects/{id}/upload` | multipart CSV/TSV or zip of images |
//! | `POST /api/projects/{id}/train` | start a run on the upload (202) |
//! | `POST /api/projects/{id}/confirm`, `/cancel` | answer REVIEW_EDIT, cancel |
//! | `GET /api/projects/{id}/artifacts/{name}` | download a run file |
//! | `GET /api/projects/{id}/sample/{i}` | sample image i of DATASET_SAMPLE_READY |
//! | `GET /api/projects/{id}/misclassified/{i}` | misclassified test image i of REVIEW_READY |
//! | `GET /ws/projects/{id}?since=N` | envelopes after N, then live |
//! | `GET /healthz`, `/metrics`, `/openapi.json` | operations |
//! | `GET /` | the browser UI (`ui/dist`) |
//!
//! Every request first passes the access check (`access.rs`): Host, Origin, token, CORS.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::middleware::{self, Next};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use tower_http::services::{ServeDir, ServeFile};
use utoipa::OpenApi;

pub mod access;
pub mod api;
pub mod error;
pub mod state;
pub mod upload;
pub mod ws;

pub use error::{AppError, UploadError};
pub use state::{AppState, HeadlineMetric, ProjectId, ProjectSummary, ServerConfig};

/// The OpenAPI description, generated from the handlers' annotations.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "automl server",
        description = "HTTP commands and the WebSocket event stream of automl."
    ),
    paths(
        api::list_projects,
        api::demo_run,
        api::parse,
        api::upload,
        api::train,
        api::confirm,
        api::cancel,
        api::artifact,
        api::healthz,
        api::metrics,
        ws::ws_handler
    ),
    components(schemas(
        api::RunStarted,
        api::RunOptions,
        state::ProjectSummary,
        state::HeadlineMetric,
        api::ParseBody,
        api::ConfirmBody,
        upload::UploadSummary,
        error::ErrorBody,
        error::ErrorDetail
    ))
)]
pub struct ApiDoc;

async fn openapi() -> impl IntoResponse {
    axum::Json(ApiDoc::openapi())
}

async fn count_requests(State(state): State<AppState>, req: Request, next: Next) -> Response {
    state::Counters::inc(&state.counters().http_requests);
    next.run(req).await
}

async fn no_ui() -> Response {
    (
        axum::http::StatusCode::NOT_FOUND,
        Html(
            "<!doctype html><title>automl</title><p>The UI is not built. Run <code>npm ci &amp;&amp; npm run build</code> in <code>ui/</code>, or start the server with <code>--ui-dir</code>.</p>",
        ),
    )
        .into_response()
}

/// The whole application: API, WebSocket, operations routes and the UI, behind the access
/// check.
pub fn router(state: AppState) -> Router {
    let upload_limit = state.config().max_upload_bytes as usize + (64 << 10);
    let body_limit = state.config().max_body_bytes;
    let api = Router::new()
        .route("/api/projects", get(api::list_projects))
        .route("/api/demo/run/{project_id}", post(api::demo_run))
        .route("/api/projects/{project_id}/parse", post(api::parse))
        .route(
            "/api/projects/{project_id}/upload",
            post(api::upload).layer(DefaultBodyLimit::max(upload_limit)),
        )
        .route("/api/projects/{project_id}/train", post(api::train))
        .route("/api/projects/{project_id}/confirm", post(api::confirm))
        .route("/api/projects/{project_id}/cancel", post(api::cancel))
        .route(
            "/api/projects/{project_id}/artifacts/{name}",
            get(api::artifact),
        )
        .route(
            "/api/projects/{project_id}/sample/{index}",
            get(api::sample_image),
        )
        .route(
            "/api/projects/{project_id}/misclassified/{index}",
            get(api::misclassified_image),
        )
        .route("/ws/projects/{project_id}", get(ws::ws_handler))
        .route("/healthz", get(api::healthz))
        .route("/metrics", get(api::metrics))
        .route("/openapi.json", get(openapi))
        // Commands' bodies (JSON); the upload route sets its own limit above.
        .layer(DefaultBodyLimit::max(body_limit));
    let ui_index = state
        .config()
        .ui_dir
        .as_ref()
        .map(|d| (d.clone(), d.join("index.html")))
        .filter(|(_, index)| index.is_file());
    let app = match ui_index {
        Some((dir, index)) => {
            api.fallback_service(ServeDir::new(dir).fallback(ServeFile::new(index)))
        }
        None => {
            tracing::warn!(ui_dir = ?state.config().ui_dir, "no built UI found; / serves a notice");
            api.fallback(no_ui)
        }
    };
    app.layer(middleware::from_fn_with_state(
        state.clone(),
        access::guard,
    ))
    .layer(middleware::from_fn_with_state(
        state.clone(),
        count_requests,
    ))
    // The span names the method and path only: a query may carry a token (`/?token=`).
    .layer(
        tower_http::trace::TraceLayer::new_for_http().make_span_with(
            |req: &axum::http::Request<axum::body::Body>| {
                tracing::debug_span!("request", method = %req.method(), path = %req.uri().path())
            },
        ),
    )
    .with_state(state)
}

/// A server running in this process (for tests, examples and benchmarks).
pub struct RunningServer {
    /// The address it listens on.
    pub addr: SocketAddr,
    /// Its state.
    pub state: AppState,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl RunningServer {
    /// Stops it: cancels the runs, closes every WebSocket with 1001, waits for the end.
    pub async fn shutdown(self) -> std::io::Result<()> {
        self.state.shutdown_token().cancel();
        match self.task.await {
            Ok(r) => r,
            Err(e) => Err(std::io::Error::other(e)),
        }
    }
}

/// Builds the state (rebuilding past projects from their logs), binds `addr` (port 0 picks
/// one) and serves in a background task.
pub async fn spawn(config: ServerConfig, addr: SocketAddr) -> Result<RunningServer, StartError> {
    if (config.exposed || !addr.ip().is_loopback()) && config.token.is_none() {
        return Err(StartError::TokenRequired { addr });
    }
    if let Some(store) = &config.store {
        store
            .check()
            .await
            .map_err(|e| StartError::Backend(e.to_string()))?;
    }
    std::fs::create_dir_all(config.runs_dir()).map_err(|e| StartError::DataDir {
        path: config.runs_dir(),
        source: e,
    })?;
    let bus = match &config.redis_url {
        None => automl_core::EventBus::default(),
        Some(url) => {
            let backend = crate::scale::RedisStreams::connect(url, crate::scale::KEY_PREFIX)
                .await
                .map_err(|e| StartError::Backend(e.to_string()))?;
            automl_core::EventBus::with_backend(
                automl_core::bus::DEFAULT_LIVE_BUFFER,
                std::sync::Arc::new(backend),
            )
        }
    };
    let queue = match &config.redis_url {
        None => None,
        Some(url) => Some(
            crate::scale::RunQueue::connect(url)
                .await
                .map_err(StartError::Backend)?,
        ),
    };
    let state = AppState::with_bus_and_queue(config, bus, queue)
        .map_err(|e| StartError::State(e.to_string()))?;
    let restored = state.restore();
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| StartError::Bind { addr, source: e })?;
    let addr = listener
        .local_addr()
        .map_err(|e| StartError::Bind { addr, source: e })?;
    tracing::info!(%addr, restored, data_dir = %state.config().data_dir.display(), "automl server listening");
    let app = router(state.clone());
    let st = state.clone();
    let task = tokio::spawn(async move {
        let token = st.shutdown_token().clone();
        let st2 = st.clone();
        axum::serve(listener, app)
            .with_graceful_shutdown(async move {
                token.cancelled().await;
                st2.cancel_all(Duration::from_secs(5)).await;
            })
            .await
    });
    Ok(RunningServer { addr, state, task })
}

/// Why the server did not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The data folder cannot be created.
    #[error("cannot create the data folder {path}: {source}")]
    DataDir {
        /// The folder.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The address cannot be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The state cannot be built.
    #[error("cannot start: {0}")]
    State(String),
    /// The shared event bus (`--redis`) cannot be reached.
    #[error("cannot start: {0}")]
    Backend(String),
    /// A server reachable from other machines needs a token.
    #[error(
        "{addr} is reachable from other machines: give a token with --token or AUTOML_TOKEN (at least 16 letters, digits, '-', '_', '.', '~'), or listen on 127.0.0.1"
    )]
    TokenRequired {
        /// The address asked for.
        addr: SocketAddr,
    },
    /// An option is wrong.
    #[error("{0}")]
    BadOption(String),
}

/// Options of `automl serve`.
#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// Address to listen on. Anything but a loopback address needs --token.
    #[arg(long, default_value = "127.0.0.1")]
    pub host: std::net::IpAddr,
    /// The token every request must carry (Authorization: Bearer, the WebSocket subprotocol
    /// `bearer.<token>`, or the cookie `/?token=<token>` sets); never logged.
    #[arg(long, env = "AUTOML_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// The server is reachable from other machines though it listens on loopback (a reverse
    /// proxy in front): require the token.
    #[arg(long)]
    pub exposed: bool,
    /// A host name this server answers to besides IP addresses and localhost (e.g. the name a
    /// reverse proxy forwards); repeat or separate with commas.
    #[arg(long, env = "AUTOML_ALLOWED_HOSTS", value_delimiter = ',')]
    pub allowed_host: Vec<String>,
    /// An origin (`https://dash.example.org`) allowed to call the API from a browser (CORS);
    /// none by default. Repeat or separate with commas.
    #[arg(long, env = "AUTOML_CORS_ORIGINS", value_delimiter = ',')]
    pub cors_origin: Vec<String>,
    /// Port (0 picks a free one).
    #[arg(long, default_value_t = 8000)]
    pub port: u16,
    /// Run folders (`runs/<project>`) and uploads (`uploads/<project>`) go here.
    #[arg(long, default_value = "automl-data")]
    pub data_dir: PathBuf,
    /// The built UI to serve at `/` (default: `ui/dist` found beside the executable or in the
    /// repository it was built from).
    #[arg(long, env = "AUTOML_UI_DIR")]
    pub ui_dir: Option<PathBuf>,
    /// Largest upload, in MiB.
    #[arg(long, default_value_t = 64)]
    pub max_upload_mb: u64,
    /// Most runs at once.
    #[arg(long, default_value_t = 4)]
    pub max_runs: usize,
    /// Never search the Hugging Face Hub (runs use the local HF cache and the bundled
    /// catalog, and say so); `HF_HUB_OFFLINE=1` does the same.
    #[arg(long)]
    pub offline: bool,
    /// Share every project's event log with the other servers of this Redis
    /// (`redis://HOST:PORT`, Redis Streams; docs/scale-out.md): any of them serves any
    /// project's events. Runs are queued there for `automl worker`s instead of training in
    /// this process.
    #[arg(long, env = "AUTOML_REDIS_URL")]
    pub redis: Option<String>,
    /// The object store of ended runs' folders (decision 0090): `file:///dir`, a folder, or
    /// `s3://bucket/prefix` with the usual `AWS_*` environment variables (`AWS_ENDPOINT_URL`
    /// and `AWS_ALLOW_HTTP` for an S3-compatible server). Downloads come from it, so any
    /// server serves any project's files. Default: this server's data folder only.
    #[arg(long, env = "AUTOML_STORE")]
    pub store: Option<String>,
}

/// `automl serve`: serves until Ctrl-C or SIGTERM, then tells every client and stops.
pub async fn cli(args: ServeArgs) -> ExitCode {
    let token = match args.token.filter(|t| !t.is_empty()).map(access::Token::new) {
        None => None,
        Some(Ok(t)) => Some(t),
        Some(Err(e)) => {
            eprintln!("error: --token: {e}");
            return ExitCode::from(2);
        }
    };
    let store = match args.store.as_deref().map(crate::scale::ArtifactStore::open) {
        None => None,
        Some(Ok(s)) => Some(s),
        Some(Err(e)) => {
            eprintln!("error: --store: {e}");
            return ExitCode::from(2);
        }
    };
    let config = ServerConfig {
        store,
        data_dir: args.data_dir,
        ui_dir: args.ui_dir.or_else(find_ui),
        max_upload_bytes: args.max_upload_mb << 20,
        max_active_runs: args.max_runs.max(1),
        token,
        exposed: args.exposed,
        allowed_hosts: args.allowed_host,
        cors_origins: args.cors_origin,
        offline: args.offline,
        redis_url: args.redis,
        ..ServerConfig::default()
    };
    let server = match spawn(config, SocketAddr::new(args.host, args.port)).await {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(match e {
                StartError::Bind { .. }
                | StartError::DataDir { .. }
                | StartError::TokenRequired { .. }
                | StartError::BadOption(_) => 2,
                StartError::State(_) | StartError::Backend(_) => 1,
            });
        }
    };
    eprintln!("automl server on http://{}/", server.addr);
    wait_for_signal().await;
    tracing::info!("stopping: cancelling runs and closing connections");
    match server.shutdown().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(1)
        }
    }
}

/// The built UI when `--ui-dir` is not given: `ui/dist` beside the executable or in a folder
/// above it (an installed `share/automl/ui`, or `target/debug/automl` inside the repository),
/// else in the repository this binary was built from. Never relative to the working folder.
pub fn find_ui() -> Option<PathBuf> {
    let mut candidates = Vec::new();
    if let Some(dir) = std::env::current_exe()
        .ok()
        .and_then(|e| e.canonicalize().ok())
        .and_then(|e| e.parent().map(|p| p.to_path_buf()))
    {
        candidates.push(dir.join("ui"));
        candidates.push(dir.join("../share/automl/ui"));
        for a in dir.ancestors() {
            candidates.push(a.join("ui/dist"));
        }
    }
    candidates.push(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../ui/dist"));
    candidates
        .into_iter()
        .find(|d| d.join("index.html").is_file())
        .and_then(|d| d.canonicalize().ok())
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}
