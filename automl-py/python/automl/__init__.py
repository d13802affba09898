"""automl: a plain-language request in, a trained, evaluated, exported and licence-audited
model out, with every step streamed as events.

    import automl
    r = automl.run("classify iris species", time_budget=10)
    r.metrics["accuracy"], r.leaderboard, r.model.predict(df)

The engine is Rust (automl-core); this package is a thin binding: one shared tokio runtime per
process, the GIL released around all Rust work, events as (async) iterators of wire envelopes.
"""

from typing import Any

from ._automl import (
    AutomlError,
    Cancelled,
    DataError,
    DatasetNotFound,
    EventStream,
    LicenseError,
    ModelLoadError,
    OptionError,
    PromptError,
    TrainingError,
    __version__,
)
from ._api import Conductor, Model, Result, RunHandle, load, parse, run, run_async

__all__ = [
    "AutoClassifier",
    "AutoRegressor",
    "AutomlError",
    "Cancelled",
    "Conductor",
    "DataError",
    "DatasetNotFound",
    "EventStream",
    "LicenseError",
    "Model",
    "ModelLoadError",
    "OptionError",
    "PromptError",
    "Result",
    "RunHandle",
    "TrainingError",
    "__version__",
    "load",
    "parse",
    "run",
    "run_async",
]


def __getattr__(name: str) -> Any:
    # The estimators import scikit-learn (slow); load them on first use.
    if name in ("AutoClassifier", "AutoRegressor"):
        from . import sklearn as _sk

        return getattr(_sk, name)
    raise AttributeError(f"module 'automl' has no attribute {name!r}")
