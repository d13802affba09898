"""automl.run, Result, Model, load, Conductor/RunHandle, events (sync and async), errors."""

from __future__ import annotations

import asyncio
import re
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

import automl

from conftest import REPO


def check_gapless(events):
    seqs = [e["seq"] for e in events]
    assert seqs == list(range(1, len(seqs) + 1)), seqs[:20]
    assert all(e["type"] == "event" for e in events)
    assert len({e["project_id"] for e in events}) == 1


def test_version_is_the_crates():
    cargo = (REPO / "Cargo.toml").read_text()
    version = re.search(r'\[workspace\.package\][^\[]*?version = "([^"]+)"', cargo, re.S).group(1)
    assert automl.__version__ == version


def test_run_on_a_csv_path(iris, conductor):
    seen = []
    r = automl.run(
        "classify species", data=iris, target="species", time_budget=4, seed=1,
        on_event=seen.append, progress=False, conductor=conductor,
    )
    assert r.status == "finished"
    assert r.metrics["accuracy"] >= 0.85
    assert set(r.metrics) >= {"accuracy", "macro_f1", "log_loss"}
    lb = r.leaderboard
    assert isinstance(lb, pd.DataFrame) and len(lb) >= 1
    assert list(lb["rank"]) == list(range(1, len(lb) + 1))
    assert {"model.json", "metrics.json", "model_card.md", "notebook.ipynb", "test_rows.csv"} <= set(r.artifacts)
    assert all(p.is_file() for p in r.artifacts.values())
    # on_event saw exactly the events the result keeps, in order, with no gap.
    check_gapless(seen)
    assert [e["seq"] for e in seen] == [e["seq"] for e in r.events]
    names = [e["event"]["name"] for e in r.events]
    assert names[-1] == "RUN_FINISHED"
    assert names.index("NOTEBOOK_READY") < names.index("EXPORT_READY")
    nb = next(e for e in r.events if e["event"]["name"] == "NOTEBOOK_READY")["event"]["payload"]
    assert nb["artifacts"][0]["name"] == "notebook.ipynb"
    # The model predicts from a DataFrame and from a path alike.
    df = pd.read_csv(iris)
    pred = r.model.predict(df.drop(columns=["species"]))
    assert pred.shape == (150,)
    assert np.mean(pred == df["species"].to_numpy()) >= 0.85
    proba = r.model.predict_proba(iris)
    assert proba.shape == (150, 3)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-9)
    assert list(r.model.classes_) == sorted(df["species"].unique())
    assert "accuracy" in r._repr_html_() and r.project_id in repr(r)


def test_load_gives_the_same_predictions(iris, conductor):
    r = automl.run("classify species", iris, target="species", time_budget=4, progress=False,
                   conductor=conductor)
    m = automl.load(r.run_dir)
    np.testing.assert_array_equal(m.predict_proba(iris), r.model.predict_proba(iris))
    assert m.name == r.model_name and m.task == "classification"
    imp = m.feature_importance()
    assert abs(sum(v for _, v in imp) - 1.0) < 1e-9


def test_in_memory_tables_match_the_file(iris, conductor):
    base = automl.run("classify species", iris, target="species", time_budget=4, seed=3,
                      max_trials=2, progress=False, conductor=conductor)
    df = pd.read_csv(iris)
    from_pandas = automl.run("classify species", df, target="species", time_budget=4, seed=3,
                             max_trials=2, progress=False, conductor=conductor)
    from_arrow = automl.run("classify species", pa.Table.from_pandas(df), target="species",
                            time_budget=4, seed=3, max_trials=2, progress=False, conductor=conductor)
    assert from_pandas.metrics == pytest.approx(base.metrics)
    assert from_arrow.metrics == pytest.approx(base.metrics)


def test_regression_and_text_progress(diabetes, conductor, capsys):
    r = automl.run("predict progression", diabetes, target="progression", time_budget=4,
                   progress="text", conductor=conductor)
    assert r.model.task == "regression"
    assert r.metrics["r2"] > 0.2
    err = capsys.readouterr().err
    assert "TRAIN" in err and "RUN_FINISHED" in err
    with pytest.raises(automl.AutomlError):
        r.model.predict_proba(diabetes)


def test_handle_events_live_and_since(iris, conductor):
    h = conductor.start("classify species", iris, target="species", time_budget=4)
    live = list(h.events())
    check_gapless(live)
    assert live[-1]["event"]["name"] == "RUN_FINISHED"
    res = h.wait()
    assert [e["seq"] for e in res.events] == [e["seq"] for e in live]
    tail = list(h.events(since=5))
    assert tail[0]["seq"] == 6 and tail == live[5:]
    assert h.wait().project_id == res.project_id  # a second wait gives the same outcome


def test_async_iteration_and_wait(iris, conductor):
    async def main():
        h = conductor.start("classify species", iris, target="species", time_budget=4)
        got = [e async for e in h.events()]
        res = await h.wait_async()
        return got, res

    got, res = asyncio.run(main())
    check_gapless(got)
    assert res.status == "finished"
    assert len(got) == len(res.events)


def test_run_async(iris, conductor):
    seen = []
    res = asyncio.run(automl.run_async("classify species", iris, target="species", time_budget=4,
                                       on_event=seen.append, conductor=conductor))
    check_gapless(seen)
    assert res.metrics["accuracy"] >= 0.85


def test_review_confirm_and_gil_released(iris, conductor):
    h = conductor.start("classify species", iris, target="species", time_budget=4, review=True)
    for e in h.events():
        p = e["event"]["payload"]
        if e["event"]["name"] == "STAGE_STATUS" and p["stage"] == "REVIEW_EDIT" and p["status"] == "waiting":
            break
    # wait() blocks in another thread with the GIL released: this thread keeps running Python.
    out = {}
    t = threading.Thread(target=lambda: out.setdefault("r", h.wait()))
    t.start()
    ticks = 0
    deadline = time.monotonic() + 0.3
    while time.monotonic() < deadline:
        ticks += 1
    assert ticks > 10_000 and t.is_alive()
    with pytest.raises(ValueError):
        h.confirm("NOT_A_STAGE", "accept")
    h.confirm("REVIEW_EDIT", "accept")
    t.join(30)
    assert out["r"].status == "finished"


def test_cancel_keeps_the_best_model(iris, conductor):
    h = conductor.start("classify species", iris, target="species", time_budget=4, review=True)
    for e in h.events():
        if e["event"]["name"] == "STAGE_STATUS" and e["event"]["payload"]["status"] == "waiting":
            h.cancel()
    res = h.wait()
    assert res.status == "cancelled"
    assert res.events[-1]["event"]["name"] == "RUN_CANCELLED"
    assert res.model.predict(iris).shape == (150,)


def test_errors_map_to_classes_with_causes(tmp_path, conductor):
    with pytest.raises(automl.DataError) as e:
        automl.run("classify species", tmp_path / "missing.csv", progress=False, conductor=conductor)
    assert e.value.code == "data_file_unreadable" and e.value.user_error is True
    assert e.value.category == "data"
    assert isinstance(e.value.__cause__, OSError)
    bad = tmp_path / "t.csv"
    bad.write_text("a,b\n1,2\n3,4\n")
    with pytest.raises(automl.DataError, match="target column"):
        automl.run("predict zzz", bad, target="zzz", progress=False, conductor=conductor)
    with pytest.raises(automl.PromptError) as p:
        automl.run("", progress=False, conductor=conductor)
    assert p.value.category == "prompt"
    with pytest.raises(automl.ModelLoadError) as m:
        automl.load(tmp_path)
    assert m.value.category == "model_load" and m.value.user_error is True
    with pytest.raises(TypeError):
        automl.run("classify species", object(), progress=False, conductor=conductor)
    assert issubclass(automl.LicenseError, automl.DatasetNotFound)
    # Every class names its core category, also when the Python layer raises it.
    categories = {
        automl.DataError: "data", automl.PromptError: "prompt", automl.LicenseError: "licence",
        automl.DatasetNotFound: "dataset_not_found", automl.OptionError: "invalid_option",
        automl.TrainingError: "training", automl.ModelLoadError: "model_load",
        automl.Cancelled: "cancelled", automl.AutomlError: "internal",
    }
    for cls, cat in categories.items():
        assert cls.category == cat and cls("x").category == cat, cls
    assert issubclass(automl.Cancelled, automl.AutomlError)


def test_licence_rejected_raises_license_error(tmp_path):
    cat = tmp_path / "catalog"
    (cat / "tabular").mkdir(parents=True)
    (cat / "licenses").mkdir()
    src = (REPO / "datasets" / "catalog.json").read_text()
    import json

    doc = json.loads(src)
    entry = next(d for d in doc["datasets"] if d["id"] == "iris")
    entry = dict(entry, license="GPL-3.0")
    doc["datasets"] = [entry]
    (cat / "catalog.json").write_text(json.dumps(doc))
    (cat / "tabular" / "iris.csv").write_text((REPO / "datasets" / "tabular" / "iris.csv").read_text())
    (cat / "licenses" / "iris.md").write_text("GPL-3.0 (test fixture)")
    c = automl.Conductor(runs_dir=tmp_path / "runs", catalog_dir=cat)
    with pytest.raises(automl.LicenseError) as e:
        automl.run("classify iris species", progress=False, conductor=c)
    assert e.value.code == "licence_rejected" and e.value.category == "licence"
