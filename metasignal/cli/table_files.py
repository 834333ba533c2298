"""Writing a command's table to the file its ``--out`` names: CSV or Parquet by extension, atomically."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from metasignal.data import atomic_write
from metasignal.errors import DataValidationError


def write_table(table: pd.DataFrame, path: Path, option: str = "--out") -> None:
    """Write ``table`` (no index) to ``path``: ``.parquet``/``.pq`` as Parquet, ``.csv`` (or no
    extension) as CSV; a reader never sees a half-written file."""
    suffix = path.suffix.lower()
    if suffix in (".parquet", ".pq"):
        atomic_write(path, lambda tmp: table.to_parquet(tmp, index=False))
    elif suffix in (".csv", ""):
        atomic_write(path, lambda tmp: table.to_csv(tmp, index=False))
    else:
        raise DataValidationError(f"{option} {path}: use a .csv or .parquet file name")
