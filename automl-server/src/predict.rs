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
    /// Forecasters: steps to forecast after the history in --data (default: the trained
    /// horizon). Writes the series id columns, the time column and `prediction`.
    #[arg(long)]
    pub horizon: Option<usize>,
}

/// A forecaster's output: every series of the history extended by the horizon.
fn forecast(args: &PredictArgs, model: &dyn automl_core::TrainedModel) -> ExitCode {
    let code = |e: &automl_core::AutomlError| ExitCode::from(if e.is_user_error() { 2 } else { 1 });
    let table = match automl_core::api::forecast_file(model, &args.data, args.horizon)
        .and_then(|t| automl_core::api::batch_csv(&t).map(|c| (t.num_rows(), c)))
    {
        Ok(t) => t,
        Err(e) => {
            eprintln!("error: {e}");
            return code(&e);
        }
    };
    let written = match &args.out {
        Some(p) => {
            std::fs::write(p, &table.1).map_err(|e| format!("cannot write {}: {e}", p.display()))
        }
        None => std::io::stdout()
            .lock()
            .write_all(table.1.as_bytes())
            .map_err(|e| format!("cannot write to stdout: {e}")),
    };
    if let Err(e) = written {
        eprintln!("error: {e}");
        return ExitCode::from(1);
    }
    eprintln!("{} steps forecast with {}", table.0, model.model_name());
    ExitCode::SUCCESS
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
    if model.forecaster().is_some() || args.horizon.is_some() {
        return forecast(&args, model.as_ref());
    }
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
