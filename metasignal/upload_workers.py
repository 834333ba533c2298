"""Parsing and validating uploads in worker processes, beside the server's one store process.

Reading and checking a 5000-row file is about 25 ms of pure Python and pandas; in the server's
process it would hold the GIL that the event loop and the commits need. Workers (one per core,
started with ``spawn``: the server process holds DuckDB threads, which must not be forked) get
the file's bytes and a :class:`metasignal.signals.submission.ValidationContext` (the store's days,
id lookups and the round's universe, pickled once per clock horizon and kept by each worker),
and return the validated submission, or the parsed one when the file needs universes the
context does not hold (a multi-date history: the server validates it against the store).
Errors come back as the same one-line :class:`SubmissionError`.
"""

from __future__ import annotations

import multiprocessing
import os
import pickle
from concurrent.futures import ProcessPoolExecutor
from typing import Any

from metasignal.signals.submission import (
    ParsedSubmission,
    SubmissionLimits,
    ValidatedSubmission,
    ValidationContext,
    parse_submission,
    validate_in_context,
)

_CONTEXTS: dict[str, ValidationContext] = {}  # in a worker: contexts already unpickled, by id
_KEPT_CONTEXTS = 8


def check_upload(content: bytes, context: ValidationContext, *, limits: SubmissionLimits, min_tickers: int,
                 date: Any = None, round_date: Any = None) -> tuple[ValidatedSubmission | None, ParsedSubmission]:
    """Parse ``content`` and validate it against ``context``: ``(validated, parsed)``, or
    ``(None, parsed)`` when the file needs universes the context does not hold.

    ``date``: the upload's date field; ``round_date``: the date of a file without a date column
    when the field is empty (the open round; ``None``: the context's default date)."""
    parsed = parse_submission(content, limits=limits)
    day = date if date is not None else (round_date if parsed.date_column is None else None)
    if not context.covers_dates(parsed, day):
        return None, parsed
    return validate_in_context(parsed, context, date=day, min_tickers=min_tickers, limits=limits), parsed


def _check_in_worker(content: bytes, context_id: str, context_blob: bytes, options: dict) -> tuple:
    context = _CONTEXTS.get(context_id)
    if context is None:
        if len(_CONTEXTS) >= _KEPT_CONTEXTS:
            _CONTEXTS.clear()
        context = _CONTEXTS[context_id] = pickle.loads(context_blob)
    validated, parsed = check_upload(content, context, **options)
    return (validated, None) if validated is not None else (None, parsed)  # send one frame set back, not two


def _warm() -> int:
    return os.getpid()


class UploadWorkers:
    """A pool of ``processes`` worker processes checking uploads (:func:`check`)."""

    def __init__(self, processes: int | None = None):
        self.processes = processes or max(1, os.cpu_count() or 1)
        self._pool = ProcessPoolExecutor(self.processes, mp_context=multiprocessing.get_context("spawn"))
        self._blobs: dict[str, bytes] = {}

    def warm(self) -> None:
        """Start every worker now (each imports pandas once), not on the first upload."""
        for future in [self._pool.submit(_warm) for _ in range(self.processes)]:
            future.result()

    def check(self, content: bytes, context_id: str, context: ValidationContext, **options) -> tuple:
        """:func:`check_upload` in a worker (blocks the calling thread, not the GIL); ``context_id``
        names ``context`` (a new id for a new context). Returns ``(validated, None)`` or
        ``(None, parsed)``."""
        blob = self._blobs.get(context_id)
        if blob is None:
            if len(self._blobs) >= _KEPT_CONTEXTS:
                self._blobs.clear()
            blob = self._blobs[context_id] = pickle.dumps(context, protocol=pickle.HIGHEST_PROTOCOL)
        return self._pool.submit(_check_in_worker, content, context_id, blob, options).result()

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
