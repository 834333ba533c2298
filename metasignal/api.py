"""The HTTP upload API: create models and upload signal files over HTTP (FastAPI).

Endpoints (JSON in and out):

- ``GET  /health`` -> ``{"status": "ok", "store": path, "last_trading_day": "YYYY-MM-DD" | null}``
- ``POST /models`` with ``{"name": ..., "owner": ...}`` -> 201 and the model
- ``GET  /models`` -> list of models
- ``GET  /clock`` -> ``{"mode": "live" | "replay", "now": ISO UTC, "visible_through": "YYYY-MM-DD",
  "schedule": "weekly" | "daily", "open_round": round | null, "next_round": round | null}``: one of
  the two rounds is set (``Round.to_dict``: ``round``, ``opens``, ``deadline``)
- ``POST /models/{name}/submissions``: multipart ``file`` (CSV or Parquet), optional form field
  ``date`` (default: the open round at the store clock) and ``backfill`` (form field or query
  parameter, ``true``/``1``: research history, never staked or paid) -> 201 and the receipt (see
  ``SubmissionReceipt.to_dict``: per date its ``status`` on_time / late / backfill, ``deadline``
  and, when late, ``queued_for``). The upload is stamped at the store clock.
- ``GET  /models/{name}/submissions[?current_only=true]`` -> list of stored versions
- ``GET  /models/{name}/submissions/{date}[?version=N]`` -> ``{"ticker": signal, ...}``

Access: requests carry ``Authorization: Bearer <API key>`` (``metasignal users create NAME``).
``/health``, ``/clock`` and ``GET /models`` are public; creating a model needs a key (the model
belongs to its creator; an operator may name another user as owner); uploading to a model and
reading its submissions is for its owner and operators only. Every write is recorded in the
audit log (actor, action, target, remote address). A missing or unknown key answers 401
(with ``WWW-Authenticate: Bearer``), someone else's model 403.

Errors are ``{"error": "<one line>", "rule": ..., "column": ..., "lines": [...]}`` with
status 401, 403, 413 (file too large; checked from Content-Length before the body is read, and
again while reading), 404 (unknown model or submission), 409 (model exists), 422
(invalid input, also an upload for a round that is closed or not open: a ``RoundError``) or 400
(other store problems, e.g. the clock). One store connection serves every
request, one request at a time (DuckDB writes are serialized anyway).
"""

from __future__ import annotations

import hashlib
import threading
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, Optional

import pandas as pd
from fastapi import Depends, FastAPI, File, Form, Query, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from metasignal.data.store import Store
from metasignal.errors import (
    AuthenticationError,
    DataValidationError,
    MetasignalError,
    PermissionDeniedError,
    RoundError,
)
from metasignal.signals import accounts, storage
from metasignal.signals.accounts import User
from metasignal.signals.submission import (
    DEFAULT_MAX_BYTES,
    DEFAULT_MIN_TICKERS,
    SubmissionError,
    SubmissionTooLargeError,
)

MULTIPART_SLACK = 64 * 1024  # room for multipart boundaries and form fields around the file


class NewModel(BaseModel):
    name: str
    owner: Optional[str] = None


def _status(error: MetasignalError) -> int:
    if isinstance(error, AuthenticationError):
        return 401
    if isinstance(error, PermissionDeniedError):
        return 403
    if isinstance(error, SubmissionTooLargeError):
        return 413
    if isinstance(error, (storage.UnknownModelError, storage.SubmissionNotFoundError)):
        return 404
    if isinstance(error, storage.ModelExistsError):
        return 409
    if isinstance(error, (RoundError, DataValidationError)):
        return 422
    return 400


def _error_body(error: MetasignalError) -> dict[str, Any]:
    body: dict[str, Any] = {"error": str(error)}
    if isinstance(error, SubmissionError):
        body.update(rule=error.rule, column=error.column, lines=list(error.lines))
    return body


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """JSON-ready rows: timestamps as ISO strings (dates as YYYY-MM-DD), missing as null."""
    out = frame.astype(object).where(frame.notna(), None)
    for column in frame.columns:
        if pd.api.types.is_datetime64_any_dtype(frame[column].dtype):
            is_date = column in ("date", "last_date")
            out[column] = [
                None if pd.isna(v) else (v.date().isoformat() if is_date else v.isoformat()) for v in frame[column]
            ]
    return out.to_dict(orient="records")


def _flag(value: Optional[str]) -> bool:
    """A form or query flag: ``true``/``1``/``yes``/``on`` (any case) is set, ``false``/``0``/``no``/``off``
    or nothing is not; anything else is a one-line 422."""
    if value is None or value.strip().lower() in ("", "false", "0", "no", "off"):
        return False
    if value.strip().lower() in ("true", "1", "yes", "on"):
        return True
    raise DataValidationError(f"backfill must be true or false, got {value!r}")


def clock_body(store: Store) -> dict[str, Any]:
    """The store clock as JSON: mode, now, visible_through, schedule, the open round or the next."""
    from metasignal.signals.round_calendar import RoundCalendar

    calendar = RoundCalendar.of(store)
    current = calendar.open_round(store)
    upcoming = calendar.next_round(store) if current is None else None
    return {
        "mode": store.clock().mode,
        "now": store.now().floor("s").isoformat() + "Z",
        "visible_through": store.visible_through().date().isoformat(),
        "schedule": calendar.schedule,
        "open_round": None if current is None else current.to_dict(),
        "next_round": None if upcoming is None else upcoming.to_dict(),
    }


def create_app(
    db_path: str | Path | None = None,
    *,
    min_tickers: int = DEFAULT_MIN_TICKERS,
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> FastAPI:
    """The upload API on the store at ``db_path`` (``None``: ``$METASIGNAL_DB`` or the default).

    The store must exist (``StoreError`` otherwise). ``min_tickers`` and ``max_bytes`` are the
    submission rules applied to every upload.
    """
    store = Store.open(db_path)
    storage.ensure_tables(store)
    accounts.ensure_tables(store)
    lock = threading.Lock()
    app_caller = _caller_dependency(store, lock)

    @asynccontextmanager
    async def lifespan(_app: FastAPI):
        yield
        with lock:
            store.close()

    app = FastAPI(title="metasignal upload API", version="1", lifespan=lifespan)
    app.state.store = store
    _add_error_handlers(app)
    _add_size_limit(app, max_bytes)
    _add_store_routes(app, store, lock, app_caller)
    _add_submission_routes(app, store, lock, app_caller, min_tickers=min_tickers, max_bytes=max_bytes)
    return app


def _caller_dependency(store: Store, lock: threading.Lock):
    """A FastAPI dependency giving the request's :class:`User` (401 without a known key).

    A verified key is remembered by its SHA-256 for the life of the server, so scrypt runs once
    per key, not once per request."""
    known: dict[str, User] = {}

    def caller(request: Request) -> User:
        header = request.headers.get("authorization", "")
        scheme, _, key = header.partition(" ")
        if not header or scheme.lower() != "bearer":
            raise AuthenticationError("no API key: send 'Authorization: Bearer <key>' (metasignal users create NAME)")
        digest = hashlib.sha256(key.strip().encode()).hexdigest()
        if digest not in known:
            with lock:
                known[digest] = accounts.authenticate(store, key)
        return known[digest]

    return caller


def _remote(request: Request) -> str | None:
    return None if request.client is None else f"{request.client.host}:{request.client.port}"


def _owner_of(store: Store, name: str) -> str | None:
    """The owner of model ``name`` (``UnknownModelError`` when there is none)."""
    row = store.one("SELECT owner FROM models WHERE name = ?", [name])
    if row is None:
        raise storage.UnknownModelError(f"unknown model {name!r}")
    return row[0]


def _add_error_handlers(app: FastAPI) -> None:
    """Every error answers ``{"error": one line, ...}``: engine errors with their status,
    invalid requests 422, anything unexpected 500 (the type name only)."""

    @app.exception_handler(MetasignalError)
    async def _metasignal_error(_request: Request, error: MetasignalError) -> JSONResponse:
        headers = {"WWW-Authenticate": "Bearer"} if isinstance(error, AuthenticationError) else None
        return JSONResponse(_error_body(error), status_code=_status(error), headers=headers)

    @app.exception_handler(RequestValidationError)
    async def _request_error(_request: Request, error: RequestValidationError) -> JSONResponse:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in item.get('loc', ()))}: {item.get('msg', 'invalid')}" for item in error.errors()
        )
        return JSONResponse({"error": f"invalid request ({problems})"}, status_code=422)

    @app.exception_handler(Exception)
    async def _unexpected(_request: Request, error: Exception) -> JSONResponse:
        return JSONResponse({"error": f"internal error: {type(error).__name__}"}, status_code=500)


def _add_size_limit(app: FastAPI, max_bytes: int) -> None:
    """Refuse (413) a request whose Content-Length exceeds ``max_bytes`` plus multipart room,
    before its body is read."""

    @app.middleware("http")
    async def _refuse_oversized_bodies(request: Request, call_next):
        length = request.headers.get("content-length")
        if length is not None and length.isdigit() and int(length) > max_bytes + MULTIPART_SLACK:
            error = SubmissionTooLargeError(
                f"upload is {int(length):,} bytes, over the size limit of {max_bytes:,} bytes (rule: max file size)",
                rule="file_too_large",
            )
            return JSONResponse(_error_body(error), status_code=413)
        return await call_next(request)


def _add_store_routes(app: FastAPI, store: Store, lock: threading.Lock, caller) -> None:
    """``GET /health``, ``POST /models`` and ``GET /models``."""

    @app.get("/health")
    def health() -> dict[str, Any]:
        with lock:
            days = store.trading_days()
        return {
            "status": "ok",
            "store": str(store.path),
            "last_trading_day": days[-1].date().isoformat() if len(days) else None,
        }

    @app.get("/clock")
    def clock() -> dict[str, Any]:
        with lock:
            return clock_body(store)

    @app.post("/models", status_code=201)
    def create_model(body: NewModel, request: Request, user: User = Depends(caller)) -> dict[str, Any]:
        owner = body.owner or user.name
        if owner != user.name and not user.is_operator:
            raise PermissionDeniedError(f"user {user.name!r} may not create a model for {owner!r} "
                                        "(rule: participants create their own models)")
        with lock, store.transaction():
            if store.one("SELECT 1 FROM users WHERE name = ?", [owner]) is None:
                raise DataValidationError(f"unknown owner {owner!r} (rule: a model belongs to a user)")
            record = storage.create_model(store, body.name, owner=owner)
            accounts.record_audit(store, user.name, "create_model", body.name, f"owner={owner}", _remote(request))
        return record.to_dict()

    @app.get("/models")
    def list_models() -> list[dict[str, Any]]:
        with lock:
            return _records(storage.list_models(store))


def _add_submission_routes(app: FastAPI, store: Store, lock: threading.Lock, caller, *, min_tickers: int,
                           max_bytes: int) -> None:
    """Upload (``POST``), list and read a model's submissions under ``/models/{name}/submissions``."""

    @app.post("/models/{name}/submissions", status_code=201)
    def upload(
        name: str, request: Request, file: UploadFile = File(...), date: Optional[str] = Form(None),
        backfill_field: Optional[str] = Form(None, alias="backfill"),
        backfill_query: Optional[str] = Query(None, alias="backfill"),
        user: User = Depends(caller),
    ) -> dict[str, Any]:
        backfill = _flag(backfill_field) or _flag(backfill_query)
        with lock:
            accounts.require_owner(user, name, _owner_of(store, name), "upload to")
            with store.transaction():
                receipt = storage.submit(
                    store, name, file.file, date=date or None, filename=file.filename,
                    min_tickers=min_tickers, max_bytes=max_bytes, backfill=backfill,
                )
                dates = ", ".join(f"{e.date:%Y-%m-%d} v{e.version} {e.status}" for e in receipt.entries)
                accounts.record_audit(store, user.name, "upload", name, f"{file.filename}: {dates}", _remote(request))
        return receipt.to_dict()

    @app.get("/models/{name}/submissions")
    def list_submissions(name: str, current_only: bool = False, user: User = Depends(caller)) -> list[dict[str, Any]]:
        with lock:
            accounts.require_owner(user, name, _owner_of(store, name), "read the submissions of")
            return _records(storage.list_submissions(store, name, current_only=current_only))

    @app.get("/models/{name}/submissions/{date}")
    def read_submission(name: str, date: str, version: Optional[int] = None,
                        user: User = Depends(caller)) -> dict[str, float]:
        with lock:
            accounts.require_owner(user, name, _owner_of(store, name), "read the submissions of")
            series = storage.stored_submission(store, name, date, version=version)
        return {str(k): float(v) for k, v in series.items()}
