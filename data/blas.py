"""BLAS thread limits for the engine's hot loops.

The engine's linear algebra is thousands of small per-era problems, where BLAS threads only
contend (measured 10-100x slower under contention on 2 cores). Importing the engine changes
nothing in the environment; the command line and the hot loops wrap their work in
:func:`blas_threads` instead, which limits the BLAS libraries already loaded (threadpoolctl)
for the duration of the block and restores them afterwards.
"""

from __future__ import annotations

import functools
import os
from contextlib import AbstractContextManager
from typing import Callable, TypeVar

__all__ = ["blas_threads", "default_blas_threads", "limits_blas_threads"]

F = TypeVar("F", bound=Callable)


def default_blas_threads() -> int:
    """Threads for BLAS in the engine: ``$METASIGNAL_BLAS_THREADS`` if set, else 1."""
    value = os.environ.get("METASIGNAL_BLAS_THREADS", "1")
    try:
        threads = int(value)
    except ValueError:
        threads = 0
    if threads < 1:
        from metasignal.errors import ConfigurationError

        raise ConfigurationError(f"METASIGNAL_BLAS_THREADS must be a whole number >= 1, got {value!r}")
    return threads


def blas_threads(threads: int | None = None) -> AbstractContextManager:
    """Context manager limiting BLAS to ``threads`` (default :func:`default_blas_threads`)."""
    from threadpoolctl import threadpool_limits  # imported here: threadpoolctl sets an env variable

    return threadpool_limits(threads if threads is not None else default_blas_threads(), user_api="blas")


def limits_blas_threads(function: F) -> F:
    """Decorator: run ``function`` inside :func:`blas_threads` (the limit is read at each call)."""

    @functools.wraps(function)
    def limited(*args, **kwargs):
        with blas_threads():
            return function(*args, **kwargs)

    return limited  # type: ignore[return-value]
