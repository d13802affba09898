//! `automl`: the command line of automl.
//!
//! ```text
//! automl run "classify iris species" [--data FILE] [--target COL] [--time-budget 30s] [--out DIR] [--offline] [--json]
//! automl profile PATH [--target COL] [--json]
//! ```
//! Exit codes: 0 done, 1 failure, 2 bad input (file, column, prompt, option, or no data set
//! about the request: pass `--data FILE`), 130 cancelled.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod predict;
mod profile_cmd;
mod run;

/// mimalloc keeps freed pages for reuse; glibc's malloc hands the large, short-lived tensors
/// of CNN training back to the kernel and page-faults them in again, which cost about half of
/// the CPU time of an image training step.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// automl: from a plain-language request to a trained, evaluated, exported model.
#[derive(Debug, Parser)]
#[command(name = "automl", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run a request end to end: parse, find data, profile, preprocess, select, train, review, export.
    Run(RunArgs),
    /// Apply an exported model to new rows and write predictions as CSV.
    Predict(predict::PredictArgs),
    /// Serve the HTTP/WebSocket API and the browser UI.
    Serve(automl_server::server::ServeArgs),
    /// Take runs queued by `automl serve --redis` and execute them (docs/scale-out.md).
    Worker(automl_server::scale::WorkerArgs),
    /// Print the profile of a data file or image folder (kinds, missing values, target, warnings).
    Profile(profile_cmd::ProfileArgs),
    /// Parse a request and print the intent (no data is touched).
    Parse {
        /// The request text.
        prompt: Option<String>,
        /// Read the request from a file instead (a long brief).
        #[arg(long)]
        file: Option<PathBuf>,
        /// Print the intent as JSON.
        #[arg(long)]
        json: bool,
    },
}

/// Options of `automl run`.
#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// What to build, e.g. "classify iris species" or "predict price from this CSV".
    pub prompt: String,
    /// A CSV/TSV file or a folder of images (one sub-folder per class); default: the bundled catalog.
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// The column to predict (must exist in the data).
    #[arg(long)]
    pub target: Option<String>,
    /// Training budget: "30s", "2m", "1h" or seconds (default: the prompt's, else 60 s).
    #[arg(long, value_parser = parse_duration)]
    pub time_budget: Option<f64>,
    /// Run folder for the model, metrics, event log and model card (default: runs/<project id>).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Print every event as one JSON envelope per line on stdout, and nothing else.
    #[arg(long)]
    pub json: bool,
    /// Seed for splits and the search.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Number of trials (makes runs reproducible regardless of machine speed).
    #[arg(long)]
    pub max_trials: Option<u32>,
    /// Project id (default: generated).
    #[arg(long)]
    pub project_id: Option<String>,
    /// Allow research/demo-only licences (CC-BY-NC), flagged in the model card.
    #[arg(long)]
    pub research: bool,
    /// The metric to optimise (accuracy, balanced_accuracy, macro_f1, roc_auc, log_loss,
    /// precision, recall; r2, rmse, mae); default: the prompt's, else per task.
    #[arg(long)]
    pub metric: Option<String>,
    /// A JSON file `{"test": [row, ...]}` fixing the held-out test rows (0-based, file order),
    /// e.g. to score on the same rows as another system.
    #[arg(long)]
    pub test_rows: Option<PathBuf>,
    /// Never search the Hugging Face Hub (the local HF cache and the bundled catalog are
    /// still searched, and the skip is announced); `HF_HUB_OFFLINE=1` does the same.
    #[arg(long)]
    pub offline: bool,
    /// Pretrained image weights: a published EfficientNet-Lite0 / ResNet-18 / ResNet-34
    /// checkpoint (.pth or .safetensors) or a previous image run folder (default:
    /// $AUTOML_IMAGE_PRETRAINED, else the EfficientNet-Lite0 file scripts/setup.d caches).
    #[arg(long)]
    pub pretrained: Option<PathBuf>,
    /// Steps to forecast ahead (overrides the prompt's); makes the run a forecasting run on
    /// data with a time column.
    #[arg(long)]
    pub horizon: Option<usize>,
}

/// Parses "30s", "2m", "1.5h", "45" (seconds).
fn parse_duration(s: &str) -> Result<f64, String> {
    let t = s.trim().to_ascii_lowercase();
    let (num, mult) = if let Some(n) = t.strip_suffix("ms") {
        (n, 0.001)
    } else if let Some(n) = t.strip_suffix('s') {
        (n, 1.0)
    } else if let Some(n) = t.strip_suffix('m') {
        (n, 60.0)
    } else if let Some(n) = t.strip_suffix('h') {
        (n, 3600.0)
    } else {
        (t.as_str(), 1.0)
    };
    let v: f64 = num
        .trim()
        .parse()
        .map_err(|_| format!("{s:?} is not a duration (try 30s, 2m or 1h)"))?;
    if !(v > 0.0) || !v.is_finite() {
        return Err(format!("{s:?}: the budget must be positive"));
    }
    Ok(v * mult)
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let default_log = if matches!(cli.command, Command::Serve(_) | Command::Worker(_)) {
        "info"
    } else {
        "warn"
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("AUTOML_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_log)),
        )
        .with_writer(std::io::stderr)
        .init();
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::from(1);
        }
    };
    match cli.command {
        Command::Run(args) => rt.block_on(run::run(args)),
        Command::Predict(args) => predict::predict(args),
        Command::Serve(args) => rt.block_on(automl_server::server::cli(args)),
        Command::Worker(args) => rt.block_on(automl_server::scale::worker_cli(args)),
        Command::Profile(args) => profile_cmd::profile(args),
        Command::Parse { prompt, file, json } => {
            let text = match (prompt, file) {
                (Some(p), None) => p,
                (None, Some(f)) => match std::fs::read_to_string(&f) {
                    Ok(t) => t,
                    Err(e) => {
                        eprintln!("error: cannot read {}: {e}", f.display());
                        return ExitCode::from(2);
                    }
                },
                _ => {
                    eprintln!("error: give the request as an argument or with --file, not both");
                    return ExitCode::from(2);
                }
            };
            // The same call as the server's /parse, Python and Node: the LLM when
            // AUTOML_LLM_BASE_URL is set, else (and on any LLM failure, with a warning on
            // stderr) the embedded parser.
            let parsed = match rt.block_on(automl_core::parse_prompt(&text)) {
                Ok(p) => p,
                Err(e) => {
                    eprintln!("error: {e}");
                    return ExitCode::from(if e.is_user_error() { 2 } else { 1 });
                }
            };
            for w in &parsed.warnings {
                eprintln!("warning [{}]: {}", w.code, w.message);
            }
            let intent = parsed.intent;
            if json {
                match serde_json::to_string(&intent) {
                    Ok(s) => println!("{s}"),
                    Err(e) => {
                        eprintln!("error: {e}");
                        return ExitCode::from(1);
                    }
                }
            } else {
                println!("task:       {}", intent.task_type);
                println!("modality:   {}", intent.modality.as_str());
                println!("objective:  {}", intent.objective.as_str());
                println!(
                    "supported:  {}{}",
                    intent.supported,
                    intent
                        .reason
                        .as_deref()
                        .map(|r| format!(" ({r})"))
                        .unwrap_or_default()
                );
                println!("target:     {}", intent.target.as_deref().unwrap_or("-"));
                println!(
                    "data hint:  {}",
                    intent.dataset_hint.as_deref().unwrap_or("-")
                );
                println!("keywords:   {}", intent.keywords.join(", "));
                println!(
                    "budget:     {}",
                    intent
                        .constraints
                        .time_budget_s
                        .map(|b| format!("{b} s"))
                        .unwrap_or("-".into())
                );
                println!(
                    "metric:     {}",
                    intent.constraints.metric.as_deref().unwrap_or("-")
                );
                println!(
                    "parser:     {}",
                    match intent.parser {
                        automl_core::event::ParserKind::Llm => "llm",
                        automl_core::event::ParserKind::Embedded => "embedded",
                    }
                );
                println!("confidence: {:.2}", intent.confidence);
            }
            if intent.supported {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(2)
            }
        }
    }
}
