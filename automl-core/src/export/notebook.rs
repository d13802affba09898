//! The exported notebook: EXPORT writes `notebook.ipynb` into the run folder, with the held-out
//! test rows beside it as `test_rows.csv`. Run from the run folder, the notebook loads the model
//! with the `automl` Python package, predicts the test rows, recomputes the test metrics with
//! numpy and checks them against `metrics.json`, then plots the confusion matrix (or the
//! residuals) and the feature importance.
//!
//! The notebook is nbformat 4 JSON built here; its code cells use only `automl`, pandas and
//! numpy (matplotlib when present, else the plots are skipped with a note).

use std::path::Path;

use arrow::record_batch::RecordBatch;
use serde_json::{Value, json};

use crate::error::{AutomlError, Result};
use crate::event::{Artifact, ReviewPayload};
use crate::event::{Profile, TaskKind};
use crate::export::artifact;

/// The notebook's file name in the run folder.
pub const NOTEBOOK_FILE: &str = "notebook.ipynb";
/// The held-out test rows' file name in the run folder.
pub const TEST_ROWS_FILE: &str = "test_rows.csv";

/// What the notebook is written from.
pub struct NotebookInput<'a> {
    /// The run folder (where `model.json` and `metrics.json` already are).
    pub dir: &'a Path,
    /// The review of the exported model (its test metrics).
    pub review: &'a ReviewPayload,
    /// The profile (target and task).
    pub profile: &'a Profile,
    /// The raw held-out test rows, target included.
    pub test_rows: &'a RecordBatch,
    /// The request.
    pub prompt: &'a str,
    /// The project.
    pub project_id: &'a str,
    /// The data set id.
    pub dataset_id: &'a str,
}

/// Writes `test_rows.csv` and `notebook.ipynb`; returns their artifacts (notebook first).
pub fn write(input: &NotebookInput<'_>) -> Result<Vec<Artifact>> {
    let rows_path = input.dir.join(TEST_ROWS_FILE);
    write_csv(&rows_path, input.test_rows)?;
    let nb_path = input.dir.join(NOTEBOOK_FILE);
    let text = serde_json::to_string_pretty(&notebook(input))
        .map_err(|e| AutomlError::Internal(format!("notebook serialisation: {e}")))?;
    replace_file(&nb_path, text.as_bytes())?;
    Ok(vec![artifact(&nb_path)?, artifact(&rows_path)?])
}

fn write_csv(path: &Path, batch: &RecordBatch) -> Result<()> {
    let mut bytes = Vec::new();
    arrow::csv::WriterBuilder::new()
        .with_header(true)
        .build(&mut bytes)
        .write(batch)
        .map_err(|e| AutomlError::Stage {
            stage: crate::event::Stage::Export,
            message: format!("cannot write {}: {e}", path.display()),
        })?;
    replace_file(path, &bytes)
}

/// Writes a sibling temporary file and renames it over `path`: a full disk or a crash leaves
/// the old file or none, never half of one (the temporary file is removed on failure).
fn replace_file(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = std::path::PathBuf::from(tmp);
    let written = std::fs::write(&tmp, bytes)
        .map_err(|e| AutomlError::io(&tmp, e))
        .and_then(|()| std::fs::rename(&tmp, path).map_err(|e| AutomlError::io(path, e)));
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written
}

fn lines(src: &str) -> Value {
    let v: Vec<String> = src.split_inclusive('\n').map(str::to_string).collect();
    json!(v)
}

fn markdown(src: &str) -> Value {
    json!({"cell_type": "markdown", "metadata": {}, "source": lines(src)})
}

fn code(src: &str) -> Value {
    json!({"cell_type": "code", "execution_count": null, "metadata": {}, "outputs": [],
           "source": lines(src)})
}

/// A Python string literal for `s` (JSON strings are valid Python literals).
fn py_str(s: &str) -> String {
    Value::String(s.to_string()).to_string()
}

/// The notebook document.
pub fn notebook(i: &NotebookInput<'_>) -> Value {
    let classification = i.profile.task == TaskKind::Classification;
    let mut metrics_table = String::from("| metric | value |\n|---|---|\n");
    for (k, v) in &i.review.metrics {
        metrics_table.push_str(&format!("| {k} | {v:.4} |\n"));
    }
    let intro = format!(
        "# {model} for `{target}`\n\nExported by automl {version} for project `{project}`.\n\n\
         - Request: {prompt}\n- Data set: `{dataset}`; task: {task}; test rows: {n_test}\n\n\
         Run this notebook from its run folder (it reads `model.json`, `metrics.json` and \
         `{rows}` beside it). It needs the `automl` Python package, pandas and numpy; \
         matplotlib draws the plots when installed.\n\n\
         Test metrics recorded by the run:\n\n{table}",
        model = i.review.model,
        target = i.profile.target,
        version = crate::VERSION,
        project = i.project_id,
        prompt = i.prompt.replace('\n', " "),
        dataset = i.dataset_id,
        task = i.profile.task.as_str(),
        n_test = i.review.n_test,
        rows = TEST_ROWS_FILE,
        table = metrics_table,
    );
    let load = format!(
        "import json\nfrom pathlib import Path\n\nimport numpy as np\nimport pandas as pd\n\nimport automl\n\n\
         run_dir = Path(\".\").resolve()\n\
         model = automl.load(run_dir)\n\
         saved = json.loads((run_dir / \"metrics.json\").read_text())\n\
         target = saved[\"target\"]\n\
         rows = run_dir / {rows}\n\
         test = pd.read_csv(rows, dtype={{target: str}} if saved[\"task\"] == \"classification\" else None)\n\
         print(model)\n\
         test.head()\n",
        rows = py_str(TEST_ROWS_FILE)
    );
    let recompute = if classification {
        "# Predict the held-out rows from the file, as the run read them, and recompute the metrics.\n\
         proba = model.predict_proba(rows)\n\
         classes = [str(c) for c in model.classes_]\n\
         pred = np.asarray(classes, dtype=object)[proba.argmax(axis=1)]\n\
         y = test[target].astype(str).to_numpy()\n\
         index = {c: k for k, c in enumerate(classes)}\n\
         y_idx = np.array([index[v] for v in y])\n\
         f1s = []\n\
         for c in classes:\n\
         \x20   tp = np.sum((pred == c) & (y == c))\n\
         \x20   fp = np.sum((pred == c) & (y != c))\n\
         \x20   fn = np.sum((pred != c) & (y == c))\n\
         \x20   if tp + fp + fn == 0:\n\
         \x20       continue\n\
         \x20   p = tp / (tp + fp) if tp + fp else 0.0\n\
         \x20   r = tp / (tp + fn) if tp + fn else 0.0\n\
         \x20   f1s.append(2 * p * r / (p + r) if p + r else 0.0)\n\
         eps = 1e-15\n\
         recomputed = {\n\
         \x20   \"accuracy\": float(np.mean(pred == y)),\n\
         \x20   \"macro_f1\": float(np.mean(f1s)),\n\
         \x20   \"log_loss\": float(-np.mean(np.log(np.clip(proba[np.arange(len(y)), y_idx], eps, 1 - eps)))),\n\
         }\n"
    } else {
        "# Predict the held-out rows from the file, as the run read them, and recompute the metrics.\n\
         pred = np.asarray(model.predict(rows), dtype=float)\n\
         y = test[target].astype(float).to_numpy()\n\
         ss_res = float(np.sum((y - pred) ** 2))\n\
         ss_tot = float(np.sum((y - y.mean()) ** 2))\n\
         recomputed = {\n\
         \x20   \"r2\": 1.0 - ss_res / ss_tot if ss_tot > 0 else 0.0,\n\
         \x20   \"rmse\": float(np.sqrt(ss_res / len(y))),\n\
         \x20   \"mae\": float(np.mean(np.abs(y - pred))),\n\
         }\n"
    };
    let check = "table = pd.DataFrame(\n\
                 \x20   {\"recomputed\": recomputed, \"recorded\": {k: saved[\"metrics\"][k] for k in recomputed}}\n\
                 )\n\
                 table[\"match\"] = (table[\"recomputed\"] - table[\"recorded\"]).abs() <= 1e-9 * (1 + table[\"recorded\"].abs())\n\
                 assert table[\"match\"].all(), f\"test metrics differ from metrics.json:\\n{table}\"\n\
                 table\n";
    let plot = if classification {
        "try:\n\
         \x20   import matplotlib.pyplot as plt\n\
         except ImportError:\n\
         \x20   plt = None\n\
         \x20   print(\"matplotlib is not installed; plots skipped\")\n\
         cm = pd.crosstab(pd.Series(y, name=\"actual\"), pd.Series(pred, name=\"predicted\")).reindex(index=classes, columns=classes, fill_value=0)\n\
         if plt is not None:\n\
         \x20   fig, ax = plt.subplots(figsize=(4 + 0.3 * len(classes), 3.5 + 0.3 * len(classes)))\n\
         \x20   ax.imshow(cm.to_numpy(), cmap=\"Blues\")\n\
         \x20   ax.set_xticks(range(len(classes)), classes, rotation=45, ha=\"right\")\n\
         \x20   ax.set_yticks(range(len(classes)), classes)\n\
         \x20   for (r, c), v in np.ndenumerate(cm.to_numpy()):\n\
         \x20       ax.text(c, r, str(v), ha=\"center\", va=\"center\")\n\
         \x20   ax.set_xlabel(\"predicted\"); ax.set_ylabel(\"actual\"); ax.set_title(\"Confusion matrix (test)\")\n\
         \x20   plt.show()\n\
         cm\n"
    } else {
        "try:\n\
         \x20   import matplotlib.pyplot as plt\n\
         except ImportError:\n\
         \x20   plt = None\n\
         \x20   print(\"matplotlib is not installed; plots skipped\")\n\
         if plt is not None:\n\
         \x20   fig, ax = plt.subplots(figsize=(4.5, 4))\n\
         \x20   ax.scatter(y, pred, s=10)\n\
         \x20   lo, hi = float(min(y.min(), pred.min())), float(max(y.max(), pred.max()))\n\
         \x20   ax.plot([lo, hi], [lo, hi], color=\"grey\", linewidth=1)\n\
         \x20   ax.set_xlabel(\"actual\"); ax.set_ylabel(\"predicted\"); ax.set_title(\"Test predictions\")\n\
         \x20   plt.show()\n\
         pd.Series(y - pred, name=\"residual\").describe()\n"
    };
    let importance = "imp = pd.DataFrame(model.feature_importance(), columns=[\"feature\", \"importance\"])\n\
                      if plt is not None and len(imp):\n\
                      \x20   imp.head(15).iloc[::-1].plot.barh(x=\"feature\", y=\"importance\", legend=False, title=\"Feature importance\")\n\
                      \x20   plt.show()\n\
                      imp.head(15)\n";
    json!({
        "nbformat": 4,
        "nbformat_minor": 5,
        "metadata": {
            "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
            "language_info": {"name": "python"},
            "automl": {"project_id": i.project_id, "version": crate::VERSION},
        },
        "cells": with_ids(vec![
            markdown(&intro),
            code(&load),
            markdown("## Reproduce the test metrics"),
            code(recompute),
            code(check),
            markdown("## Plots"),
            code(plot),
            code(importance),
        ]),
    })
}

/// nbformat 4.5 wants a unique id per cell.
fn with_ids(mut cells: Vec<Value>) -> Value {
    for (n, c) in cells.iter_mut().enumerate() {
        if let Some(o) = c.as_object_mut() {
            o.insert("id".to_string(), json!(format!("cell-{n}")));
        }
    }
    json!(cells)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    use arrow::array::{Float64Array, StringArray};
    use arrow::datatypes::{DataType, Field, Schema};

    use crate::event::Metrics;

    fn profile_json(task: &str) -> Profile {
        serde_json::from_value(json!({
            "task": task, "modality": "tabular", "target": "y", "target_reason": "given",
            "n_rows": 3, "n_columns": 2, "columns": [], "class_balance": [], "warnings": []
        }))
        .unwrap_or_else(|e| panic!("profile fixture does not parse: {e}"))
    }

    #[test]
    fn writes_a_valid_notebook_and_the_test_rows() {
        let dir = tempfile::tempdir().expect("tempdir");
        let schema = Arc::new(Schema::new(vec![
            Field::new("x", DataType::Float64, true),
            Field::new("y", DataType::Utf8, true),
        ]));
        let batch = RecordBatch::try_new(
            schema,
            vec![
                Arc::new(Float64Array::from(vec![1.5, 2.0, -3.25])),
                Arc::new(StringArray::from(vec!["a", "b", "a"])),
            ],
        )
        .expect("batch");
        let mut metrics = Metrics::new();
        metrics.insert("accuracy".into(), 2.0 / 3.0);
        let review = ReviewPayload {
            metrics,
            best_run_id: "r-1".into(),
            model: "logistic_regression".into(),
            confusion_matrix: None,
            residuals: None,
            feature_importance: vec![],
            n_test: 3,
            misclassified: vec![],
            roc_curve: None,
            pr_curve: None,
            predicted_vs_actual: None,
            forecast: None,
        };
        let profile = profile_json("classification");
        let arts = write(&NotebookInput {
            dir: dir.path(),
            review: &review,
            profile: &profile,
            test_rows: &batch,
            prompt: "classify \"y\"\nplease",
            project_id: "p-1",
            dataset_id: "toy",
        })
        .expect("write");
        assert_eq!(arts[0].name, NOTEBOOK_FILE);
        assert_eq!(arts[1].name, TEST_ROWS_FILE);
        let csv = std::fs::read_to_string(dir.path().join(TEST_ROWS_FILE)).expect("csv");
        assert_eq!(csv, "x,y\n1.5,a\n2.0,b\n-3.25,a\n");
        let nb: Value = serde_json::from_str(
            &std::fs::read_to_string(dir.path().join(NOTEBOOK_FILE)).expect("nb"),
        )
        .expect("notebook is JSON");
        assert_eq!(nb["nbformat"], 4);
        let cells = nb["cells"].as_array().expect("cells");
        assert!(cells.len() >= 6);
        let all: String = cells
            .iter()
            .flat_map(|c| c["source"].as_array().cloned().unwrap_or_default())
            .filter_map(|l| l.as_str().map(str::to_string))
            .collect();
        assert!(all.contains("automl.load(run_dir)"));
        assert!(all.contains("\"accuracy\""));
        assert!(all.contains("| accuracy | 0.6667 |"));
        assert!(!all.contains("\"r2\""), "classification notebook has no r2");
        let ids: std::collections::BTreeSet<_> =
            cells.iter().map(|c| c["id"].to_string()).collect();
        assert_eq!(ids.len(), cells.len(), "cell ids are unique");
    }

    #[test]
    fn regression_notebook_recomputes_r2() {
        let profile = profile_json("regression");
        let review = ReviewPayload {
            metrics: Metrics::new(),
            best_run_id: "r-1".into(),
            model: "linear_regression".into(),
            confusion_matrix: None,
            residuals: None,
            feature_importance: vec![],
            n_test: 0,
            misclassified: vec![],
            roc_curve: None,
            pr_curve: None,
            predicted_vs_actual: None,
            forecast: None,
        };
        let schema = Arc::new(Schema::new(vec![Field::new("y", DataType::Float64, true)]));
        let batch = RecordBatch::new_empty(schema);
        let nb = notebook(&NotebookInput {
            dir: Path::new("."),
            review: &review,
            profile: &profile,
            test_rows: &batch,
            prompt: "p",
            project_id: "p-2",
            dataset_id: "d",
        });
        let text = nb.to_string();
        assert!(text.contains("\\\"r2\\\""));
        assert!(!text.contains("macro_f1"));
    }
}
