"""Atomic file writes: write next to the target, then rename over it.

A reader never sees a half-written file, and a failed write leaves the previous file (or
nothing) in place. Every output file of the engine (reports, CSV, Parquet, JSON) goes through
:func:`atomic_write`.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import Callable


def atomic_write(path: str | os.PathLike, writer: Callable[[str], object]) -> Path:
    """Call ``writer(temporary_path)``, then rename the temporary file over ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = str(path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp"))
    try:
        writer(temporary)
        os.replace(temporary, path)
        return path
    except BaseException:
        if os.path.exists(temporary):
            os.remove(temporary)
        raise
