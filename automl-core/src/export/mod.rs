//! EXPORT: the run folder's artifacts — the model, `metrics.json` and `model_card.md` (the
//! event log, `events.jsonl`, is written beside them by its sink as the run goes).

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::agents::finders::ChosenDataset;
use crate::error::{AutomlError, Result};
use crate::event::Profile;
use crate::event::{Artifact, Metrics, ReviewPayload};
use crate::train::TrainedModel;

pub mod notebook;

/// Describes a written file.
pub fn artifact(path: &Path) -> Result<Artifact> {
    let bytes = std::fs::read(path).map_err(|e| AutomlError::io(path, e))?;
    let digest = Sha256::digest(&bytes);
    Ok(Artifact {
        name: path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
        path: path.display().to_string(),
        size: bytes.len() as u64,
        sha256: digest.iter().map(|b| format!("{b:02x}")).collect(),
    })
}

/// What the export writes about.
pub struct ExportInput<'a> {
    /// The run folder.
    pub dir: &'a Path,
    /// The model.
    pub model: &'a dyn TrainedModel,
    /// The review (test metrics and more).
    pub review: &'a ReviewPayload,
    /// The data set.
    pub dataset: &'a ChosenDataset,
    /// The profile.
    pub profile: &'a Profile,
    /// The request.
    pub prompt: &'a str,
    /// The project.
    pub project_id: &'a str,
    /// True when the run was cancelled and this is the best model so far.
    pub partial: bool,
    /// The metric the search optimised (chosen on validation data).
    pub optimised_metric: Option<&'a str>,
}

/// Writes the model, metrics.json and model_card.md; returns their artifacts.
pub fn write_all(input: &ExportInput<'_>) -> Result<Vec<Artifact>> {
    std::fs::create_dir_all(input.dir).map_err(|e| AutomlError::io(input.dir, e))?;
    let mut files = save_model(input.model, input.dir)?;
    let metrics_path = input.dir.join("metrics.json");
    let metrics_doc = serde_json::json!({
        "metrics": input.review.metrics,
        "split": "test",
        "n_test": input.review.n_test,
        "model": input.model.model_name(),
        "run_id": input.review.best_run_id,
        "task": input.profile.task,
        "target": input.profile.target,
        "dataset": input.dataset.id,
        "partial": input.partial,
        "optimised_metric": input.optimised_metric,
    });
    write_text(
        &metrics_path,
        &serde_json::to_string_pretty(&metrics_doc)
            .map_err(|e| AutomlError::Internal(e.to_string()))?,
    )?;
    files.push(metrics_path);
    let card_path = input.dir.join("model_card.md");
    write_text(&card_path, &model_card(input))?;
    files.push(card_path);
    files.iter().map(|p| artifact(p)).collect()
}

/// The folder a model is saved into before its files are moved into the run folder.
const STAGING: &str = ".export-staging";

/// Saves the model into a hidden staging folder and moves its files into `dir` only once all
/// of them are written, so a full disk or a crash never leaves half a model under its final
/// name; the staging folder is removed either way.
fn save_model(model: &dyn TrainedModel, dir: &Path) -> Result<Vec<PathBuf>> {
    let staging = dir.join(STAGING);
    let _ = std::fs::remove_dir_all(&staging);
    let moved = std::fs::create_dir_all(&staging)
        .map_err(|e| AutomlError::io(&staging, e))
        .and_then(|()| model.save(&staging))
        .and_then(|files| {
            files
                .iter()
                .map(|f| {
                    let rel = f.strip_prefix(&staging).map_err(|_| {
                        AutomlError::Internal(format!(
                            "the model saved {} outside its folder",
                            f.display()
                        ))
                    })?;
                    let to = dir.join(rel);
                    if let Some(parent) = to.parent() {
                        std::fs::create_dir_all(parent).map_err(|e| AutomlError::io(parent, e))?;
                    }
                    std::fs::rename(f, &to).map_err(|e| AutomlError::io(&to, e))?;
                    Ok(to)
                })
                .collect::<Result<Vec<_>>>()
        });
    let _ = std::fs::remove_dir_all(&staging);
    moved
}

fn write_text(path: &Path, text: &str) -> Result<()> {
    // Write then rename, so a crash never leaves half a file under the final name.
    let tmp = path.with_extension("tmp");
    let written = std::fs::write(&tmp, text)
        .map_err(|e| AutomlError::io(&tmp, e))
        .and_then(|()| std::fs::rename(&tmp, path).map_err(|e| AutomlError::io(path, e)));
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written
}

fn fmt_metrics(m: &Metrics) -> String {
    m.iter()
        .map(|(k, v)| format!("| {k} | {v:.4} |"))
        .collect::<Vec<_>>()
        .join("\n")
}

fn model_card(i: &ExportInput<'_>) -> String {
    let d = i.dataset;
    let mut s = String::new();
    s.push_str(&format!(
        "# Model card: {} for {:?}\n\n",
        i.model.model_name(),
        i.profile.target
    ));
    if i.partial {
        s.push_str("> The run was cancelled; this is the best model found before the cancel.\n\n");
    }
    s.push_str(&format!(
        "- Request: {:?}\n- Project: {}\n- Task: {} ({}), target column {:?} ({})\n- Model: {} (trial {}), chosen on validation {}\n- Built by automl {} on {}\n\n",
        i.prompt,
        i.project_id,
        i.profile.task.as_str(),
        i.profile.modality,
        i.profile.target,
        i.profile.target_reason,
        i.model.model_name(),
        i.review.best_run_id,
        i.optimised_metric.unwrap_or("score"),
        crate::VERSION,
        chrono::Utc::now().format("%Y-%m-%d"),
    ));
    if let Some(p) = i.model.provenance() {
        s.push_str(&format!("## Pretrained weights\n\n{p}\n\n"));
    }
    s.push_str("## Data\n\n");
    s.push_str(&format!(
        "- Data set: **{}** (source: {}, {})\n- Licence: **{}**, verdict **{}**: {}\n- Licence evidence: {}\n",
        d.id,
        d.source,
        d.origin,
        d.license.license,
        d.license.verdict.as_str(),
        d.license.reason,
        d.evidence
    ));
    if let Some(a) = &d.attribution {
        s.push_str(&format!("- Attribution: {a}\n"));
    }
    if let Some(r) = &d.revision {
        s.push_str(&format!("- Revision: {r}\n"));
    }
    s.push_str(&format!(
        "- Rows: {} ({} columns)\n\n",
        i.profile.n_rows, i.profile.n_columns
    ));
    if let Some(f) = i.model.forecaster() {
        let st = f.setup();
        s.push_str(&format!(
            "## Forecaster\n\n- A forecaster ({}): extends each series by {} steps at a {} frequency (season {} steps)\n- Time column {:?}{}; value {:?}\n- Test split: the last {} steps of every series; chosen on rolling-origin backtests before them (mean {})\n- Predict: `automl predict --model DIR --data history.csv --horizon N` writes the series columns, the time column and `prediction`\n\n",
            i.model.model_name(),
            st.horizon,
            st.frequency.name,
            st.season,
            st.time_column,
            if st.id_columns.is_empty() {
                "; one series".to_string()
            } else {
                format!("; series told apart by {}", st.id_columns.join(", "))
            },
            st.target,
            st.horizon,
            fmt_forecast_metrics(f.backtest()),
        ));
    }
    s.push_str(&format!(
        "## Evaluation (held-out test split, {} rows)\n\n| metric | value |\n|---|---|\n{}\n\n",
        i.review.n_test,
        fmt_metrics(&i.review.metrics)
    ));
    if !i.review.feature_importance.is_empty() {
        s.push_str("## Most important features\n\n");
        for f in i.review.feature_importance.iter().take(10) {
            s.push_str(&format!("- {}: {:.3}\n", f.feature, f.importance));
        }
        s.push('\n');
    }
    if !i.profile.warnings.is_empty() {
        s.push_str("## Caveats found in the data\n\n");
        for w in &i.profile.warnings {
            s.push_str(&format!("- {w}\n"));
        }
        s.push('\n');
    }
    s.push_str("## Intended use and limits\n\nThe model was trained on the data set above only; it carries that data's licence terms and biases. Scores come from one held-out split and vary with other data. Check the event log (`events.jsonl`) for every decision the run took.\n");
    s
}

/// Backtest metrics in words for the model card: `mase 0.91, smape 4.2, rmse 6.1`.
fn fmt_forecast_metrics(m: &crate::event::Metrics) -> String {
    ["mase", "smape", "rmse"]
        .iter()
        .filter_map(|k| m.get(*k).map(|v| format!("{k} {v:.4}")))
        .collect::<Vec<_>>()
        .join(", ")
}
