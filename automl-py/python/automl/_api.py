"""The Python API over the native classes: `run`, `Conductor`, `RunHandle`, `Result`, `Model`,
`load`. Each function converts its arguments, calls `automl._automl` (which releases the GIL
and runs on the shared tokio runtime), and wraps what comes back."""

from __future__ import annotations

import html
import os
import warnings
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Union

import numpy as np

from . import _automl
from ._arrow import DataLike, arrow_stream, is_path
from ._view import make_view

Envelope = Dict[str, Any]
PathLike = Union[str, "os.PathLike[str]"]


class Model:
    """An exported model: `predict`, `predict_proba`, `classes_`, `feature_importance()`."""

    def __init__(self, native: _automl.Model, path: Optional[Path] = None) -> None:
        self._native = native
        self.path = path

    @property
    def name(self) -> str:
        return self._native.name

    @property
    def task(self) -> str:
        return self._native.task

    @property
    def classes_(self) -> np.ndarray:
        """Class labels (as text) in `predict_proba` column order; empty for regression."""
        return np.asarray(self._native.classes, dtype=object)

    def feature_importance(self) -> List[tuple]:
        """(column, share) pairs, largest first, summing to 1."""
        return list(self._native.feature_importance())

    def _predict(self, data: DataLike) -> Dict[str, Any]:
        if is_path(data):
            out = self._native.predict_file(os.fspath(data))
        else:
            out = self._native.predict_table(arrow_stream(data)[0])
        # The core says in words what applying the preprocessing ran into (missing columns,
        # non-numbers, unseen categories).
        if out.get("report_text"):
            warnings.warn(out["report_text"], stacklevel=3)
        return out

    @property
    def is_forecaster(self) -> bool:
        """True for a forecaster: `predict(history, horizon=N)` extends every series."""
        return bool(self._native.is_forecaster)

    def forecast(self, history: DataLike, horizon: Optional[int] = None) -> Any:
        """A forecaster extends every series of `history` (a file or a table with the time,
        series and value columns it was trained on) by `horizon` steps (default: the trained
        horizon): a DataFrame (a list of dicts without pandas) with the series columns, the
        time column and `prediction`, one row per series and future step."""
        if is_path(history):
            out = self._native.forecast_file(os.fspath(history), horizon)
        else:
            out = self._native.forecast_table(arrow_stream(history)[0], horizon)
        cols = out["columns"]
        return _frame([dict(zip(cols, r)) for r in out["rows"]])

    def predict(self, data: DataLike, horizon: Optional[int] = None) -> Any:
        """Predicted class labels (text) or values, one per row of `data`: a file in any format
        the core reads (CSV/TSV, Parquet, JSON/NDJSON, Arrow IPC; image files or a folder for an
        image model), a pandas/polars DataFrame, a pyarrow Table or any Arrow stream object.
        For a forecaster (or with `horizon`), `data` is the history: see `forecast`."""
        if horizon is not None or self.is_forecaster:
            return self.forecast(data, horizon)
        out = self._predict(data)
        if "values" in out:
            return np.asarray(out["values"], dtype=float)
        return np.asarray(out["labels"], dtype=object)

    def predict_proba(self, data: DataLike) -> np.ndarray:
        """Class probabilities, one row per input row, columns in `classes_` order."""
        out = self._predict(data)
        if "proba" not in out:
            raise _automl.OptionError("predict_proba: this is a regression model; use predict")
        k = len(out["classes"])
        return np.asarray(out["proba"], dtype=float).reshape(-1, k)

    def __repr__(self) -> str:
        where = f" from {self.path}" if self.path else ""
        return f"<automl.Model {self.name} ({self.task}){where}>"


def load(path: PathLike) -> Model:
    """Loads an exported model from a run folder (or its `model.json`)."""
    p = Path(os.fspath(path))
    return Model(_automl.load_model(str(p)), p)


def _frame(rows: List[Dict[str, Any]]) -> Any:
    try:
        import pandas as pd
    except ImportError:
        return rows
    return pd.DataFrame(rows)


class Result:
    """How a run ended: `.metrics` (test metrics), `.leaderboard`, `.model`, `.artifacts`,
    `.events`, `.run_dir`, `.status`."""

    def __init__(self, outcome: Dict[str, Any], events: List[Envelope]) -> None:
        self._outcome = outcome
        self.status: str = outcome["status"]
        self.project_id: str = outcome["project_id"]
        self.metrics: Dict[str, float] = dict(outcome.get("metrics") or {})
        self.model_name: Optional[str] = outcome.get("model")
        self.run_dir = Path(outcome["run_dir"])
        self.artifacts: Dict[str, Path] = {a["name"]: Path(a["path"]) for a in outcome.get("artifacts", [])}
        self.intent: Optional[Dict[str, Any]] = outcome.get("intent")
        self.events: List[Envelope] = events
        self._rows: List[Dict[str, Any]] = [
            {k: r.get(k) for k in ("rank", "run_id", "model", "score")} | {"params": r.get("params")}
            for r in outcome.get("leaderboard", [])
        ]
        self._model: Optional[Model] = None

    @property
    def leaderboard(self) -> Any:
        """The trials ranked on the validation metric (a DataFrame when pandas is installed)."""
        return _frame(self._rows)

    @property
    def model(self) -> Model:
        """The exported model, loaded from the run folder on first use."""
        if self._model is None:
            if "model.json" not in self.artifacts:
                raise _automl.ModelLoadError(f"run {self.project_id} ({self.status}) exported no model")
            self._model = load(self.run_dir)
        return self._model

    @property
    def notebook(self) -> Optional[Path]:
        return self.artifacts.get("notebook.ipynb")

    def __repr__(self) -> str:
        m = ", ".join(f"{k}={v:.4f}" for k, v in self.metrics.items())
        return (
            f"<automl.Result {self.status} {self.project_id}: {self.model_name} [{m}] "
            f"{len(self._rows)} trials, {len(self.events)} events, in {self.run_dir}>"
        )

    def _repr_html_(self) -> str:
        metrics = "".join(
            f"<tr><td>{html.escape(k)}</td><td>{v:.4f}</td></tr>" for k, v in self.metrics.items()
        )
        board = "".join(
            f"<tr><td>{r['rank']}</td><td>{html.escape(str(r['run_id']))}</td>"
            f"<td>{html.escape(str(r['model']))}</td><td>{float(r['score']):.4f}</td></tr>"
            for r in self._rows[:5]
        )
        files = "".join(f"<li><code>{html.escape(n)}</code></li>" for n in self.artifacts)
        intent = self.intent or {}
        return (
            f"<div class='automl-result'><h4>automl run {html.escape(self.project_id)}: "
            f"{html.escape(self.status)}</h4>"
            f"<p>{html.escape(str(intent.get('task_type', '')))}, target "
            f"<code>{html.escape(str(intent.get('target')))}</code>; best model "
            f"<b>{html.escape(str(self.model_name))}</b></p>"
            f"<div style='display:flex;gap:24px'><div><b>test metrics</b><table>{metrics}</table></div>"
            f"<div><b>leaderboard</b><table><tr><th>#</th><th>trial</th><th>model</th><th>score</th></tr>"
            f"{board}</table></div><div><b>artifacts</b> in <code>{html.escape(str(self.run_dir))}</code>"
            f"<ul>{files}</ul></div></div></div>"
        )


def _cancelled(message: str, result: Result, cause: Optional[BaseException]) -> _automl.Cancelled:
    err = _automl.Cancelled(message)
    err.code = "cancelled"  # type: ignore[attr-defined]
    err.user_error = False  # type: ignore[attr-defined]
    err.category = "cancelled"  # type: ignore[attr-defined]
    err.result = result  # type: ignore[attr-defined]
    err.__cause__ = cause
    return err


class RunHandle:
    """A started run: `events()` (iterator and async iterator of envelopes), `confirm`,
    `cancel`, `wait`, `wait_async`."""

    def __init__(self, native: _automl.RunHandle) -> None:
        self._native = native

    @property
    def project_id(self) -> str:
        return self._native.project_id

    def events(self, since: int = 0) -> _automl.EventStream:
        """Every event after `since`, then live ones, ending with the run."""
        return self._native.events(since)

    def confirm(self, stage: str, choice: Union[str, Dict[str, Any]] = "accept") -> None:
        """Answers a waiting stage (REVIEW_EDIT with review=True): "accept" or {"run_id": ...}."""
        self._native.confirm(stage, choice)

    def cancel(self) -> None:
        self._native.cancel()

    def _result(self, outcome: Dict[str, Any]) -> Result:
        return Result(outcome, list(self._native.events(0)))

    def wait(self) -> Result:
        """Blocks until the run ends (Ctrl-C cancels it cleanly and raises `Cancelled`)."""
        try:
            outcome = self._native.wait()
        except _automl.Cancelled as e:
            kept: Optional[Dict[str, Any]] = getattr(e, "outcome", None)
            if kept is None:
                raise
            raise _cancelled(str(e), self._result(kept), e.__cause__) from e.__cause__
        return self._result(outcome)

    async def wait_async(self) -> Result:
        """`await`s the end of the run without blocking the event loop."""
        return self._result(await self._native.wait_async())


class Conductor:
    """Starts runs. `Conductor(runs_dir="runs", catalog_dir=None, default_time_budget=60)`."""

    def __init__(
        self,
        runs_dir: Optional[PathLike] = None,
        catalog_dir: Optional[PathLike] = None,
        default_time_budget: Optional[float] = None,
    ) -> None:
        self._native = _automl.Conductor(
            runs_dir=None if runs_dir is None else os.fspath(runs_dir),
            catalog_dir=None if catalog_dir is None else os.fspath(catalog_dir),
            default_time_budget=default_time_budget,
        )

    def start(
        self,
        prompt: str,
        data: Optional[DataLike] = None,
        *,
        target: Optional[str] = None,
        task: Optional[str] = None,
        metric: Optional[str] = None,
        time_budget: Optional[float] = None,
        max_trials: Optional[int] = None,
        seed: Optional[int] = None,
        out_dir: Optional[PathLike] = None,
        project_id: Optional[str] = None,
        review: bool = False,
        allow_restricted: bool = False,
        horizon: Optional[int] = None,
    ) -> RunHandle:
        """Starts a run and returns its handle at once. `data`: a file path, or rows in memory
        (pandas/polars DataFrame, pyarrow Table, any object with `__arrow_c_stream__`), which
        reach the core as Arrow. `task` ("classification"/"regression") and `metric` override
        what the prompt says; the core validates them (`OptionError`)."""
        path: Optional[str] = None
        table: Any = None
        table_name = "table"
        if data is not None:
            if is_path(data):
                path = os.fspath(data)
            else:
                table, table_name = arrow_stream(data)
        native = self._native.start(
            prompt,
            data=path,
            table=table,
            table_name=table_name,
            target=target,
            task=task,
            metric=metric,
            time_budget=time_budget,
            max_trials=max_trials,
            seed=seed,
            out_dir=None if out_dir is None else os.fspath(out_dir),
            project_id=project_id,
            review=review,
            allow_restricted=allow_restricted,
            horizon=horizon,
        )
        return RunHandle(native)


def run(
    prompt: str,
    data: Optional[DataLike] = None,
    target: Optional[str] = None,
    time_budget: Optional[float] = None,
    on_event: Optional[Callable[[Envelope], Any]] = None,
    *,
    task: Optional[str] = None,
    metric: Optional[str] = None,
    progress: Any = "auto",
    conductor: Optional[Conductor] = None,
    **options: Any,
) -> Result:
    """Runs a request to its end and returns its `Result`.

    `data`: a path, a pandas/polars DataFrame, a pyarrow Table or an Arrow stream object (else
    the bundled catalog is searched); tables reach the core as Arrow, column types kept.
    `task`: "classification" or "regression" (else read from the prompt and the target column).
    `metric`: the metric to optimise, e.g. "log_loss" (an unknown or unfitting name raises
    `automl.OptionError`). `on_event(envelope)` is called for every event, in `seq` order. `progress`: "auto" (live HTML in Jupyter, text lines elsewhere), "html", "text" or
    False. `options`: max_trials, seed, out_dir, project_id, review, allow_restricted. Errors
    raise `automl.AutomlError` subclasses; Ctrl-C cancels the run cleanly and raises
    `automl.Cancelled` (its `.result` holds the best model so far, when there was one).
    """
    c = conductor or Conductor()
    h = c.start(prompt, data, target=target, task=task, metric=metric, time_budget=time_budget, **options)
    view = make_view(progress, f"automl: {prompt}")
    try:
        for env in h.events():
            if on_event is not None:
                on_event(env)
            if view is not None:
                view.update(env)
    except KeyboardInterrupt as kb:
        h.cancel()
        res = h.wait()
        raise _cancelled(f"run {h.project_id} cancelled by KeyboardInterrupt", res, kb) from kb
    except BaseException:
        # A failing on_event callback or view: stop the run, then report the callback's error.
        h.cancel()
        try:
            h.wait()
        except _automl.AutomlError:
            pass
        raise
    finally:
        if view is not None:
            view.close()
    res = h.wait()
    if res.status == "cancelled":
        raise _cancelled(f"run {h.project_id} was cancelled", res, None)
    return res


async def run_async(
    prompt: str,
    data: Optional[DataLike] = None,
    target: Optional[str] = None,
    time_budget: Optional[float] = None,
    on_event: Optional[Callable[[Envelope], Any]] = None,
    *,
    task: Optional[str] = None,
    metric: Optional[str] = None,
    conductor: Optional[Conductor] = None,
    **options: Any,
) -> Result:
    """`await automl.run_async(...)`: as `run`, on the asyncio loop (no progress view)."""
    c = conductor or Conductor()
    h = c.start(prompt, data, target=target, task=task, metric=metric, time_budget=time_budget, **options)
    if on_event is not None:
        async for env in h.events():
            on_event(env)
    res = await h.wait_async()
    if res.status == "cancelled":
        raise _cancelled(f"run {h.project_id} was cancelled", res, None)
    return res



def parse(prompt: str) -> Dict[str, Any]:
    """What a run would read from `prompt`: the intent as a dict (task_type, modality,
    objective, target, metric, time budget...), parsed by the core exactly as `automl parse
    --json` and the server's `/parse` do (the LLM parser when `AUTOML_LLM_BASE_URL` is set, else
    the embedded one). The parser's warnings (e.g. an LLM that failed and was replaced by the
    embedded parser) are issued as `UserWarning`s, "[code] message"."""
    parsed = _automl.parse(prompt)
    for w in parsed.get("warnings", []):
        warnings.warn(f"[{w.get('code')}] {w.get('message')}", stacklevel=2)
    intent: Dict[str, Any] = parsed["intent"]
    return intent
