"""Notebooks executed end to end by nbclient: the exported notebook of a run (it loads the model
with this package and asserts the recomputed test metrics equal metrics.json), and the
quick-start notebook of automl-py/examples (a run with the live HTML view)."""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

import automl

from conftest import DATASETS, REPO


def execute(path: Path, cwd: Path) -> nbformat.NotebookNode:
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    NotebookClient(nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(cwd)}}).execute()
    return nb


def outputs_text(nb: nbformat.NotebookNode) -> str:
    parts = []
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            parts.append(out.get("text", ""))
            data = out.get("data", {})
            parts.append(data.get("text/plain", ""))
            parts.append(data.get("text/html", ""))
    return "\n".join(parts)


@pytest.mark.parametrize(
    "prompt,file,target",
    [("classify species", "iris.csv", "species"), ("predict progression", "diabetes.csv", "progression")],
)
def test_exported_notebook_reproduces_the_test_metrics(prompt, file, target, conductor):
    r = automl.run(prompt, DATASETS / "tabular" / file, target=target, time_budget=5,
                   progress=False, conductor=conductor)
    nb = execute(r.notebook, r.run_dir)
    # The check cell asserts inside the notebook; its table must list every headline metric as
    # matching metrics.json.
    check = next(c for c in nb.cells if 'table["match"]' in c.source)
    table = "".join(o.get("data", {}).get("text/plain", "") for o in check.outputs)
    recorded = json.loads((r.run_dir / "metrics.json").read_text())["metrics"]
    names = ["accuracy", "macro_f1", "log_loss"] if target == "species" else ["r2", "rmse", "mae"]
    for name in names:
        row = next(line for line in table.splitlines() if line.startswith(name))
        assert row.split()[-1] == "True", table
        assert float(row.split()[2]) == pytest.approx(recorded[name], rel=1e-5), table


def test_quickstart_notebook_runs_with_live_view(tmp_path, monkeypatch):
    monkeypatch.setenv("AUTOML_CATALOG", str(REPO / "datasets"))
    nb_path = REPO / "automl-py" / "examples" / "quickstart.ipynb"
    nb = execute(nb_path, tmp_path)
    text = outputs_text(nb)
    assert "automl-live" in text, "the live view drew into the notebook"
    assert "automl-result" in text, "the Result rendered as rich HTML"
    assert "accuracy" in text
