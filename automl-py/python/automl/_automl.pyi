# Type stubs of the native module automl._automl (automl-py/src/lib.rs, error.rs).
# Written by hand and checked against the built module in CI by `python -m mypy.stubtest
# automl._automl` (scripts/test.d/20-python.sh): a signature that drifts fails the tests.
from typing import Any, Dict, List, Optional, Tuple, Union, final

__all__ = [
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
    "RunHandle",
    "TrainingError",
    "load_model",
    "parse",
    "__version__",
]

__version__: str

class AutomlError(Exception):
    # The core's machine-readable code (as in ERROR events), whether the caller's input is at
    # fault, and the core's ErrorCategory that picked the class (data, prompt, licence,
    # dataset_not_found, invalid_option, training, model_load, cancelled, internal).
    code: str
    user_error: bool
    category: str

class DataError(AutomlError): ...
class PromptError(AutomlError): ...
class DatasetNotFound(AutomlError): ...
class LicenseError(DatasetNotFound): ...
class OptionError(AutomlError): ...
class TrainingError(AutomlError): ...
class ModelLoadError(AutomlError): ...

class Cancelled(AutomlError):
    outcome: Dict[str, Any]

@final
class EventStream:
    def __iter__(self) -> EventStream: ...
    def __next__(self) -> Dict[str, Any]: ...
    def __aiter__(self) -> EventStream: ...
    def __anext__(self) -> Any: ...
    @property
    def next_seq(self) -> int: ...

@final
class RunHandle:
    @property
    def project_id(self) -> str: ...
    @property
    def cancelled(self) -> bool: ...
    def events(self, since: int = 0) -> EventStream: ...
    def confirm(self, stage: str, choice: Union[str, Dict[str, Any]]) -> None: ...
    def cancel(self) -> None: ...
    def wait(self) -> Dict[str, Any]: ...
    def wait_async(self) -> Any: ...

@final
class Conductor:
    def __new__(
        cls,
        runs_dir: Optional[str] = None,
        catalog_dir: Optional[str] = None,
        default_time_budget: Optional[float] = None,
    ) -> Conductor: ...
    def start(
        self,
        prompt: str,
        data: Optional[str] = None,
        table: Optional[Any] = None,
        table_name: Optional[str] = None,
        target: Optional[str] = None,
        task: Optional[str] = None,
        metric: Optional[str] = None,
        time_budget: Optional[float] = None,
        max_trials: Optional[int] = None,
        seed: Optional[int] = None,
        out_dir: Optional[str] = None,
        project_id: Optional[str] = None,
        review: bool = False,
        allow_restricted: bool = False,
        horizon: Optional[int] = None,
    ) -> RunHandle: ...

@final
class Model:
    @property
    def name(self) -> str: ...
    @property
    def task(self) -> str: ...
    @property
    def classes(self) -> List[str]: ...
    def feature_importance(self) -> List[Tuple[str, float]]: ...
    def predict_file(self, path: str) -> Dict[str, Any]: ...
    def predict_table(self, table: Any) -> Dict[str, Any]: ...
    @property
    def is_forecaster(self) -> bool: ...
    def forecast_file(self, path: str, horizon: Optional[int] = None) -> Dict[str, Any]: ...
    def forecast_table(self, table: Any, horizon: Optional[int] = None) -> Dict[str, Any]: ...

def load_model(path: str) -> Model: ...
def parse(prompt: str) -> Dict[str, Any]: ...
