"""The uniffi-generated Python bindings of automl-ffi, end to end: a real run on iris with every
event pulled in order, cancel, the typed errors, and a clean exit of the host process."""

from __future__ import annotations

import asyncio
import csv
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import automl_ffi
from conftest import BINDINGS, REPO


async def drain(handle) -> list:
    """Every event of a run, pulled one at a time until the end (None)."""
    events = []
    while (e := await handle.next_event()) is not None:
        events.append(e)
    return events


def assert_no_gap(events) -> None:
    seqs = [e.seq for e in events]
    assert seqs == list(range(1, len(events) + 1)), seqs


def test_iris_end_to_end(iris, options):
    conductor = automl_ffi.Conductor(options)
    handle = conductor.start(
        automl_ffi.RunRequest(
            prompt="classify species", data=str(iris), target="species",
            time_budget_s=20.0, max_trials=2, seed=1,
        )
    )

    async def go():
        events = await drain(handle)
        return events, await handle.wait()

    events, outcome = asyncio.run(go())
    assert_no_gap(events)
    assert {e.project_id for e in events} == {handle.project_id()}
    names = [e.name for e in events]
    assert names[-1] == "RUN_FINISHED", names
    assert "TRAIN_RUN_FINISHED" in names
    # The record's parts agree with its JSON line, which is the wire envelope.
    for e in events:
        line = json.loads(e.json)
        assert (line["seq"], line["event"]["name"]) == (e.seq, e.name)
        assert json.loads(e.payload_json) == line["event"].get("payload")
    # A second wait gives the same answer; next_event stays at the end.
    assert outcome.status == "finished"
    assert asyncio.run(handle.wait()).json == outcome.json
    assert asyncio.run(handle.next_event()) is None
    assert outcome.model
    assert outcome.metrics, outcome.json

    model = automl_ffi.load(outcome.run_dir)
    assert model.task() == "classification"
    assert sorted(model.classes()) == ["setosa", "versicolor", "virginica"]
    p = model.predict(str(iris))
    with open(iris) as f:
        truth = [row["species"] for row in csv.DictReader(f)]
    assert len(p.labels) == len(truth) == len(p.proba) == 150
    assert all(abs(sum(r) - 1.0) < 1e-6 for r in p.proba)
    accuracy = sum(a == b for a, b in zip(p.labels, truth)) / len(truth)
    assert accuracy > 0.8, accuracy
    assert p.values is None


def test_run_function_and_events_via_conductor_run(iris, options):
    outcome = asyncio.run(
        automl_ffi.run(
            automl_ffi.RunRequest(
                prompt="classify species", data=str(iris), target="species",
                time_budget_s=20.0, max_trials=1, seed=2,
            ),
            options,
        )
    )
    assert outcome.status == "finished"
    assert json.loads(outcome.json)["project_id"] == outcome.project_id


def test_forecast_with_a_horizon(iris, options):
    sales = REPO / "datasets" / "timeseries" / "store_sales.csv"
    outcome = asyncio.run(
        automl_ffi.run(
            automl_ffi.RunRequest(
                prompt="forecast daily sales for the next 14 days", data=str(sales),
                time_budget_s=4.0, horizon=7,
            ),
            options,
        )
    )
    assert outcome.status == "finished"
    assert "mase" in outcome.metrics, outcome.json
    model = automl_ffi.load(outcome.run_dir)
    assert model.is_forecaster()
    f = model.forecast(str(sales), 3)
    assert f.columns == ["store", "date", "prediction"]
    assert len(f.rows) == 3 * 3
    assert f.rows[0].keys[1] == "2024-05-20"
    assert isinstance(f.rows[0].prediction, float)
    # Without a horizon, the trained one (7 steps) per store.
    assert len(model.forecast(str(sales)).rows) == 3 * 7
    # A model that is not a forecaster is a typed error naming the option.
    iris_model = automl_ffi.load(
        asyncio.run(
            automl_ffi.run(
                automl_ffi.RunRequest(
                    prompt="classify species", data=str(iris), target="species",
                    time_budget_s=3.0, max_trials=1,
                ),
                options,
            )
        ).run_dir
    )
    assert not iris_model.is_forecaster()
    with pytest.raises(automl_ffi.AutomlError.InvalidOption) as e:
        iris_model.forecast(str(sales), 3)
    assert "forecaster" in str(e.value)


def test_cancel_at_review_keeps_the_best_model(iris, options):
    conductor = automl_ffi.Conductor(options)
    handle = conductor.start(
        automl_ffi.RunRequest(
            prompt="classify species", data=str(iris), target="species",
            time_budget_s=20.0, max_trials=2, review=True,
        )
    )

    async def go():
        events = []
        while (e := await handle.next_event()) is not None:
            events.append(e)
            payload = json.loads(e.payload_json)
            if e.name == "STAGE_STATUS" and payload.get("status") == "waiting":
                assert not handle.is_cancelled()
                handle.cancel()
        return events, await handle.wait()

    events, outcome = asyncio.run(go())
    assert handle.is_cancelled()
    assert_no_gap(events)
    assert events[-1].name == "RUN_CANCELLED"
    assert outcome.status == "cancelled"
    assert len(automl_ffi.load(outcome.run_dir).predict(str(iris)).labels) == 150


def test_confirm_answers_review(iris, options):
    conductor = automl_ffi.Conductor(options)
    handle = conductor.start(
        automl_ffi.RunRequest(
            prompt="classify species", data=str(iris), target="species",
            time_budget_s=20.0, max_trials=1, review=True,
        )
    )

    async def go():
        while (e := await handle.next_event()) is not None:
            if e.name == "STAGE_STATUS" and json.loads(e.payload_json).get("status") == "waiting":
                with pytest.raises(automl_ffi.AutomlError.InvalidOption):
                    handle.confirm("NOT_A_STAGE", '"accept"')
                with pytest.raises(automl_ffi.AutomlError.InvalidOption):
                    handle.confirm("REVIEW_EDIT", "not json")
                handle.confirm("REVIEW_EDIT", '"accept"')
        return await handle.wait()

    assert asyncio.run(go()).status == "finished"


def test_typed_errors(tmp_path, options):
    conductor = automl_ffi.Conductor(options)
    # A failed run: the error names its category, code and stage.
    handle = conductor.start(
        automl_ffi.RunRequest(prompt="classify species", data=str(tmp_path / "missing.csv"))
    )

    async def go():
        events = await drain(handle)
        with pytest.raises(automl_ffi.AutomlError.Data) as e:
            await handle.wait()
        return events, e.value

    events, err = asyncio.run(go())
    assert_no_gap(events)
    assert events[-1].name == "ERROR"
    assert err.code == "data_file_unreadable"
    assert err.stage == json.loads(events[-1].payload_json)["stage"]
    assert "missing.csv" in err.detail and "Caused by" in err.detail
    assert isinstance(err, automl_ffi.AutomlError)
    # A bad request is refused at start, before any event.
    with pytest.raises(automl_ffi.AutomlError.InvalidOption) as e:
        conductor.start(automl_ffi.RunRequest(prompt="classify species", time_budget_s=-1.0))
    assert e.value.code == "invalid_option" and e.value.stage is None
    with pytest.raises(automl_ffi.AutomlError.InvalidOption, match="task"):
        conductor.start(automl_ffi.RunRequest(prompt="classify species", task="clustering"))
    with pytest.raises(automl_ffi.AutomlError.ModelLoad):
        automl_ffi.load(str(tmp_path / "no-run"))
    with pytest.raises(automl_ffi.AutomlError.Data):
        automl_ffi.profile(str(tmp_path / "missing.csv"))


def test_parse_and_profile(iris, monkeypatch):
    monkeypatch.delenv("AUTOML_LLM_BASE_URL", raising=False)  # the embedded parser
    parsed = json.loads(asyncio.run(automl_ffi.parse("classify iris species")))
    assert parsed["intent"]["supported"] is True, parsed
    assert parsed["intent"]["task_type"] == "tabular_classification", parsed
    with pytest.raises(automl_ffi.AutomlError.InvalidOption) as e:
        asyncio.run(automl_ffi.parse("x" * 100_000))
    assert e.value.code == "invalid_option"
    prof = json.loads(automl_ffi.profile(str(iris), "species"))
    assert (prof["n_rows"], prof["target"]) == (150, "species")
    with open(REPO / "Cargo.toml", "rb") as f:
        import tomllib

        assert automl_ffi.version() == tomllib.load(f)["workspace"]["package"]["version"]


EXIT_SCRIPT = textwrap.dedent(
    """
    import asyncio, atexit, sys
    sys.path.insert(0, {bindings!r})
    import automl_ffi
    atexit.register(automl_ffi.shutdown)
    conductor = automl_ffi.Conductor(automl_ffi.ConductorOptions(
        runs_dir={runs!r}, catalog_dir={catalog!r}))
    handle = conductor.start(automl_ffi.RunRequest(
        prompt="classify species", data={iris!r}, target="species",
        time_budget_s=30.0, seed={i}))

    async def some_events(n):
        for _ in range(n):
            await handle.next_event()
        # A pull left pending while the host exits: the tokio side may wake it late.
        asyncio.get_running_loop().create_task(handle.next_event())
    asyncio.run(some_events({n}))
    print("exiting", handle.project_id(), flush=True)
    """
)


def test_host_exits_cleanly_mid_run(iris, tmp_path):
    """20 interpreters exit while a run is going and a pull is pending: each must exit 0,
    with no abort from a tokio thread calling into a finalizing interpreter."""
    failures = []
    for i in range(20):
        script = EXIT_SCRIPT.format(
            bindings=str(BINDINGS), runs=str(tmp_path / "runs"),
            catalog=str(REPO / "datasets"), iris=str(iris), i=i, n=1 + (i % 7) * 3,
        )
        r = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                           timeout=60)
        if r.returncode != 0 or "exiting" not in r.stdout:
            failures.append((i, r.returncode, r.stderr[-2000:]))
    assert not failures, failures


def test_calls_after_shutdown_are_a_typed_error(tmp_path, iris):
    script = textwrap.dedent(
        f"""
        import asyncio, sys
        sys.path.insert(0, {str(BINDINGS)!r})
        import automl_ffi
        c = automl_ffi.Conductor(automl_ffi.ConductorOptions(runs_dir={str(tmp_path)!r}))
        automl_ffi.shutdown()
        automl_ffi.shutdown()
        assert automl_ffi.is_shut_down()
        try:
            c.start(automl_ffi.RunRequest(prompt="classify species", data={str(iris)!r}))
        except automl_ffi.AutomlError.Internal as e:
            print("refused", e.code)
        """
    )
    r = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "refused runtime_stopped"
