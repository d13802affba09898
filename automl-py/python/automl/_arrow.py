"""What a caller passes as data, as the native module takes it: a file path, or rows in memory
as an object with the Arrow PyCapsule interface (`__arrow_c_stream__`), which the Rust side reads
into an Arrow record batch. Column types cross as they are: a pandas `category` column stays
categorical, numbers stay numbers; nothing goes through text.
"""

from __future__ import annotations

import os
from typing import Any, Tuple, Union

DataLike = Union[str, "os.PathLike[str]", Any]


def is_path(data: Any) -> bool:
    return isinstance(data, (str, os.PathLike))


def arrow_stream(data: Any) -> Tuple[Any, str]:
    """(an object with `__arrow_c_stream__`, the name the run reports for it)."""
    mod = type(data).__module__.split(".")[0]
    if mod == "pandas" and type(data).__name__ == "DataFrame":
        # pyarrow rather than pandas' own __arrow_c_stream__, which keeps a non-default index
        # (after filtering or sorting) as an extra column the model would train on.
        try:
            import pyarrow as pa
        except ImportError as e:  # pragma: no cover - pyarrow comes with the test extras
            raise ImportError("passing a pandas DataFrame needs pyarrow: pip install pyarrow") from e
        return pa.Table.from_pandas(data, preserve_index=False), "DataFrame"
    if hasattr(data, "__arrow_c_stream__"):
        return data, type(data).__name__
    if mod == "numpy":
        raise TypeError(
            "a numpy array has no column names; wrap it in a pandas DataFrame "
            "(or use automl.AutoClassifier / AutoRegressor, which name the columns x0, x1, ...)"
        )
    raise TypeError(
        f"cannot use {type(data).__name__} as data: pass a file path, a pandas or polars "
        "DataFrame, a pyarrow Table, or an object with __arrow_c_stream__"
    )
