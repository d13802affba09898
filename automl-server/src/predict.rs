//! `automl predict`: applies an exported model (with its fitted preprocessing) to new rows.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use automl_core::data::{self, Dataset};
use automl_core::trainer::Predictions;

/// Options of `automl predict`.
#[derive(Debug, clap::Args)]
pub struct PredictArgs {
    /// The run folder (or its model.json) written by `automl run`.
    #[arg(long)]
    pub model: PathBuf,
    /// Rows to predict (CSV/TSV); a target column, if present, is ignored.
    #[arg(long)]
    pub data: PathBuf,
    /// Where to write the predictions (default: stdout).
    #[arg(long)]
    pub out: Option<PathBuf>,
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// Writes `prediction` (and `proba_<class>` per class for classification), rows in input order.
pub fn predict(args: PredictArgs) -> ExitCode {
    let model = match automl_core::load_model(&args.model) {
        Ok(m) => m,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let table = match data::load(&args.data) {
        Ok(Dataset::Table(t)) => t,
        Ok(Dataset::Images(_)) => {
            eprintln!(
                "error: {} is an image folder; this model predicts on tables",
                args.data.display()
            );
            return ExitCode::from(2);
        }
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(if e.is_user_error() { 2 } else { 1 });
        }
    };
    let (pred, report) = match model.predict_batch(&table.batch) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(1);
        }
    };
    let mut out = String::new();
    match &pred {
        Predictions::Classes { classes, proba } => {
            out.push_str("prediction");
            for c in classes {
                out.push(',');
                out.push_str(&csv_field(&format!("proba_{c}")));
            }
            out.push('\n');
            for row in proba.rows() {
                let best = row
                    .iter()
                    .enumerate()
                    .fold(
                        (0, f64::NEG_INFINITY),
                        |b, (i, v)| if *v > b.1 { (i, *v) } else { b },
                    )
                    .0;
                out.push_str(&csv_field(&classes[best]));
                for v in row {
                    out.push_str(&format!(",{v:.6}"));
                }
                out.push('\n');
            }
        }
        Predictions::Values(v) => {
            out.push_str("prediction\n");
            for x in v {
                out.push_str(&format!("{x}\n"));
            }
        }
    }
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
    eprintln!(
        "{} rows predicted with {}{}{}{}",
        table.batch.num_rows(),
        model.model_name(),
        if report.missing_columns.is_empty() {
            String::new()
        } else {
            format!(
                "; missing columns treated as missing: {}",
                report.missing_columns.join(", ")
            )
        },
        if report.coerced_values > 0 {
            format!(
                "; {} values that were not numbers treated as missing",
                report.coerced_values
            )
        } else {
            String::new()
        },
        if report.unseen_categories > 0 {
            format!("; {} unseen categories", report.unseen_categories)
        } else {
            String::new()
        },
    );
    ExitCode::SUCCESS
}
