"""scikit-learn estimators: `AutoClassifier` and `AutoRegressor`.

`fit(X, y)` runs automl on the table (X with y as the target column) under `time_budget`
seconds, with the task fixed by the estimator (`task="classification"` or `"regression"`, never
guessed from prompt text) and the optimised metric given by `metric` (default: the core's
choice for the task), then holds the exported model; `predict`, `predict_proba` and `score` follow the
scikit-learn conventions, so the estimators work in pipelines, `cross_val_score` and grid
searches (`get_params`/`set_params`/`clone` come from `BaseEstimator`)."""

from __future__ import annotations

import shutil
import tempfile
from typing import Any, Dict, List, Optional

import numpy as np

from ._api import Conductor, Model, Result

try:  # scikit-learn is optional: without it the estimators still fit and predict.
    from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
except ImportError:  # pragma: no cover - exercised only without scikit-learn

    class BaseEstimator:  # type: ignore[no-redef]
        def get_params(self, deep: bool = True) -> Dict[str, Any]:
            return {k: getattr(self, k) for k in _PARAMS}

        def set_params(self, **params: Any) -> "BaseEstimator":
            for k, v in params.items():
                setattr(self, k, v)
            return self

    class ClassifierMixin:  # type: ignore[no-redef]
        def score(self, X: Any, y: Any) -> float:
            return float(np.mean(self.predict(X) == np.asarray(y)))  # type: ignore[attr-defined]

    class RegressorMixin:  # type: ignore[no-redef]
        def score(self, X: Any, y: Any) -> float:
            y = np.asarray(y, dtype=float)
            p = np.asarray(self.predict(X), dtype=float)  # type: ignore
            ss = float(np.sum((y - y.mean()) ** 2))
            return 1.0 - float(np.sum((y - p) ** 2)) / ss if ss > 0 else 0.0


_PARAMS = ["time_budget", "max_trials", "seed", "runs_dir", "progress", "metric"]


def _frame(X: Any) -> Any:
    import pandas as pd

    if isinstance(X, pd.DataFrame):
        return X.reset_index(drop=True).copy()
    if hasattr(X, "to_pandas"):
        return X.to_pandas().reset_index(drop=True)
    arr = np.asarray(X)
    if arr.ndim == 1:
        arr = arr.reshape(-1, 1)
    return pd.DataFrame(arr, columns=[f"x{i}" for i in range(arr.shape[1])])


class _AutoBase(BaseEstimator):
    _objective = ""

    def __init__(
        self,
        time_budget: float = 10.0,
        max_trials: Optional[int] = None,
        seed: int = 0,
        runs_dir: Optional[str] = None,
        progress: Any = False,
        metric: Optional[str] = None,
    ) -> None:
        self.time_budget = time_budget
        self.max_trials = max_trials
        self.seed = seed
        self.runs_dir = runs_dir
        self.progress = progress
        self.metric = metric

    def _target_name(self, y: Any, columns: List[str]) -> str:
        name = getattr(y, "name", None)
        name = str(name) if name is not None else "target"
        while name in columns:
            name = "_" + name
        return name

    def fit(self, X: Any, y: Any) -> "_AutoBase":
        from ._api import run

        df = _frame(X)
        self.feature_names_in_ = np.asarray([str(c) for c in df.columns], dtype=object)
        df.columns = list(self.feature_names_in_)
        self.n_features_in_ = df.shape[1]
        target = self._target_name(y, list(df.columns))
        df[target] = np.asarray(y)
        keep = self.runs_dir is not None
        out = tempfile.mkdtemp(prefix="automl-fit-", dir=self.runs_dir)
        try:
            result = run(
                f"predict {target}",
                df,
                target=target,
                task=self._objective,
                metric=self.metric,
                time_budget=self.time_budget,
                max_trials=self.max_trials,
                seed=self.seed,
                out_dir=out,
                progress=self.progress,
                conductor=Conductor(),
            )
            model = result.model
            model.classes_  # load the model now, so the run folder may go
        finally:
            if not keep:
                shutil.rmtree(out, ignore_errors=True)
        if model.task != self._objective:
            raise ValueError(
                f"automl trained a {model.task} model; {type(self).__name__} needs {self._objective}"
            )
        self.result_: Result = result
        self.model_: Model = model
        self.run_dir_ = out if keep else None
        return self

    def _X(self, X: Any) -> Any:
        if not hasattr(self, "model_"):
            raise _not_fitted(self)
        df = _frame(X)
        df.columns = [str(c) for c in df.columns]
        if list(df.columns) != list(self.feature_names_in_):
            if df.shape[1] == self.n_features_in_ and all(c.startswith("x") for c in df.columns):
                df.columns = list(self.feature_names_in_)
            else:
                raise ValueError(
                    f"X has columns {list(df.columns)}; the model was fitted on {list(self.feature_names_in_)}"
                )
        return df


def _not_fitted(est: Any) -> Exception:
    try:
        from sklearn.exceptions import NotFittedError

        return NotFittedError(f"this {type(est).__name__} is not fitted yet; call fit(X, y)")
    except ImportError:  # pragma: no cover
        return AttributeError(f"this {type(est).__name__} is not fitted yet; call fit(X, y)")


class AutoClassifier(ClassifierMixin, _AutoBase):
    """AutoML classifier: `AutoClassifier(time_budget=10).fit(X, y).predict(X)`."""

    _objective = "classification"

    def fit(self, X: Any, y: Any) -> "AutoClassifier":
        y_arr = np.asarray(y)
        super().fit(X, y)
        # The model names classes as text; map them back to the caller's labels.
        originals = {str(v): v for v in np.unique(y_arr)}
        labels = list(self.model_.classes_)
        missing = [c for c in labels if c not in originals]
        if missing:
            raise ValueError(f"model classes {missing} do not match the labels of y")
        self.classes_ = np.asarray([originals[c] for c in labels])
        self._index = {c: i for i, c in enumerate(labels)}
        return self

    def predict_proba(self, X: Any) -> np.ndarray:
        rows = self._X(X)
        return self.model_.predict_proba(rows)

    def predict(self, X: Any) -> np.ndarray:
        # The core picks the labels (as text); give them back as the caller's labels.
        rows = self._X(X)
        labels = self.model_.predict(rows)
        return self.classes_[np.asarray([self._index[c] for c in labels], dtype=int)]


class AutoRegressor(RegressorMixin, _AutoBase):
    """AutoML regressor: `AutoRegressor(time_budget=10).fit(X, y).predict(X)`."""

    _objective = "regression"

    def predict(self, X: Any) -> np.ndarray:
        rows = self._X(X)
        return np.asarray(self.model_.predict(rows), dtype=float)


__all__ = ["AutoClassifier", "AutoRegressor"]
