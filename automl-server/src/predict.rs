//! `automl predict`: applies an exported model (with its fitted preprocessing) to new rows.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

/// Options of `automl predict`.
#[derive(Debug, clap::Args)]
pub struct PredictArgs {
    /// The run folder (or its model.json) written by `automl run`.
    #[arg(long)]
    pub model: PathBuf,
    /// Rows to predict (CSV/TSV, Parquet, JSON/NDJSON, Arrow IPC), or images for an image
    /// model (a file or a folder); a target column, if present, is ignored.
    #[arg(long)]
    pub data: PathBuf,
    /// Where to write the predictions (default: stdout).
    #[arg(long)]
    pub out: Option<PathBuf>,
}

/// Writes `prediction` (and `proba_<class>` per class for classification), rows in input order.
pub fn predict(args: PredictArgs) -> ExitCode {
    let code = |e: &automl_core::AutomlError| ExitCode::from(if e.is_user_error() { 2 } else { 1 });
    let model = match automl_core::load_model(&args.model) {
        Ok(m) => m,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let pred = match automl_core::predict_file(model.as_ref(), &args.data) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("error: {e}");
            return code(&e);
        }
    };
    let out = automl_core::api::predictions_csv(&pred);
    let written = match &args.out {
        Some(p) => std::fs::write(p, out).map_err(|e| format!("cannot write {}: {e}", p.display())),
        None => std::io::stdout()
            .lock()
            .write_all(out.as_bytes())
            .map_err(|e| format!("cannot write to stdout: {e}")),
    };
    if let Err(e) = written {
        eprintln!("error: {e}");
        return ExitCode::from(1);
    }
    for (file, why) in pred.skipped.iter().take(10) {
        eprintln!("warning: skipped {}: {why}", file.display());
    }
    eprintln!(
        "{} rows predicted with {}{}",
        pred.len(),
        model.model_name(),
        pred.report
            .summary()
            .map(|s| format!("; {s}"))
            .unwrap_or_default(),
    );
    ExitCode::SUCCESS
}
