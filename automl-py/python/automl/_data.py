"""Turns the data a caller passes (a path, a pandas or polars DataFrame, a pyarrow Table or any
object with the Arrow PyCapsule interface) into a file path for the Rust core.

The core reads CSV files today, so in-memory tables are written to a temporary CSV file first
(pyarrow's writer when the object speaks Arrow, the DataFrame's own otherwise). This is one copy
through the disk; the core then infers column types exactly as it does for a user's CSV, so a
DataFrame and the same data saved as CSV give the same model.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any, Optional, Union

DataLike = Union[str, "os.PathLike[str]", Any]


def _is_path(data: Any) -> bool:
    return isinstance(data, (str, os.PathLike))


def write_csv(data: Any, path: Path) -> None:
    """Writes a table-like object to `path` as CSV (header row, empty cells for missing)."""
    mod = type(data).__module__.split(".")[0]
    if mod == "pandas":
        data.to_csv(path, index=False)
        return
    if mod == "polars":
        data.write_csv(path)
        return
    if mod == "pyarrow" or hasattr(data, "__arrow_c_stream__"):
        import pyarrow as pa
        import pyarrow.csv as pacsv

        table = data if isinstance(data, pa.Table) else pa.table(data)
        pacsv.write_csv(table, path)
        return
    if mod == "numpy":
        raise TypeError(
            "a numpy array has no column names; wrap it in a pandas DataFrame "
            "(or use automl.AutoClassifier / AutoRegressor, which name the columns x0, x1, ...)"
        )
    raise TypeError(
        f"cannot use {type(data).__name__} as data: pass a file path, a pandas or polars "
        "DataFrame, a pyarrow Table, or an object with __arrow_c_stream__"
    )


class DataFile:
    """A path for the core; a temporary CSV for in-memory tables, removed on close()."""

    def __init__(self, data: Optional[DataLike], name: str = "data.csv") -> None:
        self._tmp: Optional[tempfile.TemporaryDirectory[str]] = None
        self.path: Optional[Path] = None
        if data is None:
            return
        if _is_path(data):
            self.path = Path(os.fspath(data))
            return
        self._tmp = tempfile.TemporaryDirectory(prefix="automl-data-")
        self.path = Path(self._tmp.name) / name
        try:
            write_csv(data, self.path)
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def __enter__(self) -> "DataFile":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
