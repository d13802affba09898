"""Shared fixtures: the real data sets (../shared/datasets beside the repository, as CI lays
it out; the repository's bundled datasets/ holds the same files), and a conductor whose runs
go to a temporary folder."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import automl

REPO = Path(__file__).resolve().parents[2]


def _datasets() -> Path:
    candidates = [
        os.environ.get("AUTOML_SHARED_DATASETS"),
        REPO.parent / "shared" / "datasets",
        REPO / "datasets",
    ]
    for c in candidates:
        if c and (Path(c) / "tabular" / "iris.csv").is_file():
            return Path(c)
    raise RuntimeError(f"no data sets found in {candidates}")


DATASETS = _datasets()


@pytest.fixture()
def iris() -> Path:
    return DATASETS / "tabular" / "iris.csv"


@pytest.fixture()
def diabetes() -> Path:
    return DATASETS / "tabular" / "diabetes.csv"


@pytest.fixture()
def conductor(tmp_path: Path) -> automl.Conductor:
    return automl.Conductor(runs_dir=tmp_path / "runs", catalog_dir=REPO / "datasets")
