"""The HTTP upload API: create models and upload signal files over HTTP (FastAPI).

Endpoints (JSON in and out):

- ``GET  /health`` -> ``{"status": "ok", "store": path, "last_trading_day": "YYYY-MM-DD" | null,
  "uploads_in_progress": n, "jobs": n}``: answered from memory, never waits on the store
- ``POST /models`` with ``{"name": ..., "owner": ...}`` -> 201 and the model
- ``GET  /models`` -> list of models
- ``GET  /clock`` -> ``{"mode": "live" | "replay", "now": ISO UTC, "visible_through": "YYYY-MM-DD",
  "schedule": "weekly" | "daily", "open_round": round | null, "next_round": round | null}``: one of
  the two rounds is set (``Round.to_dict``: ``round``, ``opens``, ``deadline``)
- ``POST /models/{name}/submissions``: multipart ``file`` (CSV or Parquet), optional form field
  ``date`` (default: the open round at the store clock) and ``backfill`` (form field or query
  parameter, ``true``/``1``: research history, never staked or paid) -> 201 and the receipt (see
  ``SubmissionReceipt.to_dict``: per date its ``status`` on_time / late / backfill, ``deadline``
  and, when late, ``queued_for``). The upload is stamped at the store clock when it arrives.
  Optional header ``Idempotency-Key``: a retry with the same key answers the original receipt
  (header ``Idempotent-Replayed: true``); without one, an identical upload that is still the
  model's current version answers its original receipt (:mod:`metasignal.signals.receipts`).
- ``GET  /models/{name}/submissions[?current_only=true]`` -> list of stored versions
- ``GET  /models/{name}/submissions/{date}[?version=N]`` -> ``{"ticker": signal, ...}``
- ``POST /jobs`` with ``{"argv": [...]}`` -> 202 and the job; ``GET /jobs/{id}`` -> its state,
  output and exit code: a ``metasignal`` command run in the server (:mod:`metasignal.jobs`), for
  operators and for the local command line (the token in ``<store>.server.json``).

Access: requests carry ``Authorization: Bearer <API key>`` (``metasignal users create NAME``).
``/health``, ``/clock`` and ``GET /models`` are public; creating a model needs a key (the model
belongs to its creator; an operator may name another user as owner); uploading to a model and
reading its submissions is for its owner and operators only. Every write is recorded in the
audit log (actor, action, target, remote address). A missing or unknown key answers 401
(with ``WWW-Authenticate: Bearer``), someone else's model 403.

Errors are ``{"error": "<one line>", "rule": ..., "column": ..., "lines": [...]}`` with
status 401, 403, 404 (unknown model, submission or job), 408 (a body that did not arrive in
time), 409 (model exists), 413 (file too large: from Content-Length before the body is read, and
counted while it streams), 422 (invalid input, also an upload for a round that is closed or not
open: a ``RoundError``), 507 (the store's disk is full), 503 (another store fault) or 400
(other store problems, e.g. the clock).

Concurrency. Each worker thread reads through its own DuckDB connection to the one open store
(:meth:`Store.session`): reads never wait. An upload is parsed and validated on its thread;
only its commit (a few milliseconds) takes the commit lock, so commits are serialized and a
large file does not hold anyone else. Jobs run on their own connection beside the uploads.
"""

from __future__ import annotations

import errno
import hashlib
import os
import threading
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, Callable, Optional

import pandas as pd
import duckdb
from fastapi import Depends, FastAPI, File, Form, Header, Query, Request, Response, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from metasignal.data.store import Store
from metasignal.errors import (
    AuthenticationError,
    DataValidationError,
    MetasignalError,
    PermissionDeniedError,
    RoundError,
)
from metasignal.http_limits import DEFAULT_BODY_TIMEOUT, DEFAULT_IDLE_TIMEOUT, BodyLimit
from metasignal.jobs import RETAINED_JOBS
from metasignal.served_store import JOB_TOKEN_HEADER
from metasignal.signals import accounts, receipts, storage
from metasignal.signals.accounts import User
from metasignal.signals.submission import (
    DEFAULT_MAX_BYTES,
    DEFAULT_MIN_TICKERS,
    SubmissionError,
    SubmissionLimits,
    SubmissionTooLargeError,
    ValidationContext,
    validate_for_store,
    validation_context,
)
from metasignal.upload_workers import check_upload

MULTIPART_SLACK = 64 * 1024  # room for multipart boundaries and form fields around the file


class NewModel(BaseModel):
    name: str
    owner: Optional[str] = None


class NewJob(BaseModel):
    argv: list[str] = Field(..., min_length=1, max_length=64, description="a metasignal command line, without --db")


def _status(error: MetasignalError) -> int:
    if isinstance(error, AuthenticationError):
        return 401
    if isinstance(error, PermissionDeniedError):
        return 403
    if isinstance(error, SubmissionTooLargeError):
        return 413
    if isinstance(error, (storage.UnknownModelError, storage.SubmissionNotFoundError, UnknownJobError)):
        return 404
    if isinstance(error, storage.ModelExistsError):
        return 409
    if isinstance(error, (RoundError, DataValidationError)):
        return 422
    if isinstance(error, StoreFaultError):
        return 507 if error.disk_full else 503
    return 400


class UnknownJobError(MetasignalError):
    """No job with this id (or it finished long ago)."""


class StoreFaultError(MetasignalError):
    """The store could not do a write or a read (disk full, I/O error): the cause in one line."""

    def __init__(self, message: str, *, disk_full: bool = False):
        super().__init__(message)
        self.disk_full = disk_full


def _store_fault(error: BaseException) -> StoreFaultError:
    """A DuckDB or OS error of the store as one line, telling a full disk apart."""
    text = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    full = getattr(error, "errno", None) == errno.ENOSPC or "no space left" in str(error).lower()
    cause = "the store's disk is full" if full else "the store failed"
    return StoreFaultError(f"{cause}; nothing of this request was stored ({text[:300]})", disk_full=full)


def _error_body(error: MetasignalError) -> dict[str, Any]:
    body: dict[str, Any] = {"error": str(error)}
    if isinstance(error, SubmissionError):
        body.update(rule=error.rule, column=error.column, lines=list(error.lines))
        if getattr(error, "n_lines", None) is not None:
            body["n_lines"] = int(error.n_lines)
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


class UploadService:
    """What one server shares between its worker threads: the open store, a session per
    thread, the commit lock, verified keys and the figures ``/health`` answers from memory."""

    def __init__(self, store: Store, *, min_tickers: int, limits: SubmissionLimits, job_token: str | None,
                 upload_processes: int = 0):
        self.store = store
        self.min_tickers = min_tickers
        self.limits = limits
        self.max_bytes = limits.max_bytes
        self.job_token = job_token
        self.commit_lock = threading.Lock()
        self.cpu_slots = threading.BoundedSemaphore(max(2, os.cpu_count() or 2))
        self.workers = None
        if upload_processes:
            from metasignal.upload_workers import UploadWorkers

            self.workers = UploadWorkers(upload_processes)
            self.workers.warm()
        self.generation = 0  # bumped after a job: sessions drop their caches
        self.uploads_in_progress = 0
        self.last_trading_day: str | None = None
        self._local = threading.local()
        self._sessions: list[Store] = []
        self._sessions_lock = threading.Lock()
        self._known: dict[str, User] = {}
        self.refresh()

    def session(self) -> Store:
        """This thread's connection to the store (fresh caches after a job wrote)."""
        local = self._local
        if getattr(local, "store", None) is None:
            local.store = self.store.session()
            local.generation = self.generation
            with self._sessions_lock:
                self._sessions.append(local.store)
        elif local.generation != self.generation:
            local.store.forget_cached()
            local.generation = self.generation
        local.store.forget_clock()  # each request reads the clock once: a job may have moved it
        return local.store

    def refresh(self) -> None:
        """Note that the store may have changed (after a job): new caches, a new last day."""
        self.generation += 1
        days = self.session().trading_days()
        self.last_trading_day = days[-1].date().isoformat() if len(days) else None

    def validation_context(self, store: Store, day) -> tuple[str, ValidationContext]:
        """The store's :class:`ValidationContext` for uploads dated ``day`` (``None``: the last
        day), with an id that changes with the clock's horizon and after a job."""
        horizon = store.visible_through()
        key = f"{self.generation}:{horizon.date()}:{day}"
        return key, store.cached(("validation_context", key), lambda: validation_context(store, [day] if day else []))

    def user(self, key: str) -> User:
        """The user of API key ``key`` (scrypt once per key and server life, on no lock)."""
        digest = hashlib.sha256(key.strip().encode()).hexdigest()
        if digest not in self._known:
            self._known[digest] = accounts.authenticate(self.session(), key)
        return self._known[digest]

    def close(self) -> None:
        with self._sessions_lock:
            for session in self._sessions:
                try:
                    session.close()
                except duckdb.Error:
                    pass
            self._sessions.clear()
        if self.workers is not None:
            self.workers.close()
        self.store.close()


def create_app(
    db_path: str | Path | None = None,
    *,
    min_tickers: int = DEFAULT_MIN_TICKERS,
    max_bytes: int = DEFAULT_MAX_BYTES,
    limits: SubmissionLimits | None = None,
    job_token: str | None = None,
    upload_processes: int = 0,
    run_job: Callable[[list[str]], int] | None = None,
    on_shutdown: Callable[[], None] | None = None,
    body_timeout: float = DEFAULT_BODY_TIMEOUT,
    idle_timeout: float = DEFAULT_IDLE_TIMEOUT,
) -> FastAPI:
    """The upload API on the store at ``db_path`` (``None``: ``$METASIGNAL_DB`` or the default).

    The store must exist (``StoreError`` otherwise). ``min_tickers`` and ``limits`` (default:
    :class:`SubmissionLimits` with ``max_bytes``: bytes, rows, columns, Parquet sizes, seconds)
    are the submission rules applied to every upload. ``upload_processes``: worker processes that
    parse and validate uploads (:mod:`metasignal.upload_workers`; 0: the request threads do). ``job_token`` lets the local command line run
    jobs (``metasignal serve`` sets it); ``run_job(argv) -> exit code`` runs one (default: the
    ``metasignal`` command line itself, on this store). ``on_shutdown`` runs when the server
    stops (uvicorn re-raises SIGTERM after its shutdown: code after ``uvicorn.run`` may not run).
    ``body_timeout`` / ``idle_timeout``: seconds for a whole request body / between two of its
    chunks (:class:`metasignal.http_limits.BodyLimit`).
    """
    store = Store.open(db_path)
    storage.ensure_tables(store)
    accounts.ensure_tables(store)
    receipts.ensure_tables(store)
    limits = limits or SubmissionLimits(max_bytes=max_bytes)
    service = UploadService(store, min_tickers=min_tickers, limits=limits, job_token=job_token,
                            upload_processes=upload_processes)
    runner_box: dict[str, Any] = {}

    def runner():
        if "runner" not in runner_box:
            from metasignal.jobs import JobRunner

            runner_box["runner"] = JobRunner(run_job or _command_line_runner(store.path), on_done=service.refresh)
        return runner_box["runner"]

    @asynccontextmanager
    async def lifespan(_app: FastAPI):
        yield
        if on_shutdown is not None:
            on_shutdown()
        if "runner" in runner_box:
            runner_box["runner"].stop()
        service.close()

    app = FastAPI(title="metasignal upload API", version="1", lifespan=lifespan, docs_url=None, redoc_url=None)
    app.state.store = store
    app.state.service = service
    app.state.jobs = runner_box
    _add_error_handlers(app)
    app.add_middleware(BodyLimit, max_bytes=limits.max_bytes + MULTIPART_SLACK, body_timeout=body_timeout,
                       idle_timeout=idle_timeout)
    caller = _caller_dependency(service)
    _add_store_routes(app, service, caller, runner)
    _add_submission_routes(app, service, caller)
    _add_job_routes(app, service, caller, runner)
    from metasignal.api_docs import install_docs
    from metasignal.web import install_web

    install_docs(app)
    install_web(app, service)  # the tournament's and the fund's pages (metasignal/web)
    return app


def _command_line_runner(path: Path) -> Callable[[list[str]], int]:
    def run(argv: list[str]) -> int:
        from metasignal.cli import run as run_command_line

        return run_command_line(["--db", str(path), *argv], forward=False)

    return run


def _caller_dependency(service: UploadService):
    """A FastAPI dependency giving the request's :class:`User` (401 without a known key)."""

    def caller(request: Request) -> User:
        header = request.headers.get("authorization", "")
        scheme, _, key = header.partition(" ")
        if not header or scheme.lower() != "bearer":
            raise AuthenticationError("no API key: send 'Authorization: Bearer <key>' (metasignal users create NAME)")
        return service.user(key)

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
    store faults 507/503, invalid requests 422, HTTP errors their own, anything else 500."""

    @app.exception_handler(MetasignalError)
    async def _metasignal_error(_request: Request, error: MetasignalError) -> JSONResponse:
        headers = {"WWW-Authenticate": "Bearer"} if isinstance(error, AuthenticationError) else None
        return JSONResponse(_error_body(error), status_code=_status(error), headers=headers)

    @app.exception_handler(RequestValidationError)
    async def _request_error(_request: Request, error: RequestValidationError) -> JSONResponse:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in item.get('loc', ()))}: {item.get('msg', 'invalid')}" for item in error.errors()
        )
        return JSONResponse({"error": f"invalid request ({problems[:500]})"}, status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_request: Request, error: StarletteHTTPException) -> JSONResponse:
        return JSONResponse({"error": str(error.detail)}, status_code=error.status_code, headers=error.headers)

    @app.exception_handler(duckdb.Error)
    async def _duckdb_error(_request: Request, error: duckdb.Error) -> JSONResponse:
        fault = _store_fault(error)
        return JSONResponse(_error_body(fault), status_code=_status(fault))

    @app.exception_handler(OSError)
    async def _os_error(_request: Request, error: OSError) -> JSONResponse:
        fault = _store_fault(error)
        return JSONResponse(_error_body(fault), status_code=_status(fault))

    @app.exception_handler(Exception)
    async def _unexpected(_request: Request, error: Exception) -> JSONResponse:
        return JSONResponse({"error": f"internal error: {type(error).__name__}"}, status_code=500)


def _add_store_routes(app: FastAPI, service: UploadService, caller, runner) -> None:
    """``GET /health``, ``GET /clock``, ``POST /models`` and ``GET /models``."""

    @app.get("/health")
    async def health() -> dict[str, Any]:
        # async and from memory: answered on the event loop, never behind the worker threads
        return {
            "status": "ok",
            "store": str(service.store.path),
            "last_trading_day": service.last_trading_day,
            "uploads_in_progress": service.uploads_in_progress,
            "jobs": app.state.jobs["runner"].busy() if "runner" in app.state.jobs else 0,
        }

    @app.get("/clock")
    def clock() -> dict[str, Any]:
        return clock_body(service.session())

    @app.post("/models", status_code=201)
    def create_model(body: NewModel, request: Request, user: User = Depends(caller)) -> dict[str, Any]:
        owner = body.owner or user.name
        if owner != user.name and not user.is_operator:
            raise PermissionDeniedError(f"user {user.name!r} may not create a model for {owner!r} "
                                        "(rule: participants create their own models)")
        store = service.session()
        with service.commit_lock, store.transaction():
            if store.one("SELECT 1 FROM users WHERE name = ?", [owner]) is None:
                raise DataValidationError(f"unknown owner {owner!r} (rule: a model belongs to a user)")
            record = storage.create_model(store, body.name, owner=owner)
            accounts.record_audit(store, user.name, "create_model", body.name, f"owner={owner}", _remote(request))
        return record.to_dict()

    @app.get("/models")
    def list_models() -> list[dict[str, Any]]:
        return _records(storage.list_models(service.session()))


def _add_submission_routes(app: FastAPI, service: UploadService, caller) -> None:
    """Upload (``POST``), list and read a model's submissions under ``/models/{name}/submissions``."""

    @app.post("/models/{name}/submissions", status_code=201)
    def upload(
        name: str, request: Request, response: Response, file: UploadFile = File(...),
        date: Optional[str] = Form(None),
        backfill_field: Optional[str] = Form(None, alias="backfill"),
        backfill_query: Optional[str] = Query(None, alias="backfill"),
        idempotency_key: Optional[str] = Header(None, alias="Idempotency-Key"),
        user: User = Depends(caller),
    ) -> dict[str, Any]:
        store = service.session()
        arrived = store.now()
        backfill = _flag(backfill_field) or _flag(backfill_query)
        accounts.require_owner(user, name, _owner_of(store, name), "upload to")
        content = file.file.read(service.max_bytes + 1)
        upload_print = receipts.fingerprint(name, date, backfill, content)
        key = receipts.upload_key(idempotency_key, upload_print)
        original = receipts.original_receipt(store, user.name, key, upload_print)
        if original is not None:
            response.headers["Idempotent-Replayed"] = "true"
            return original
        service.uploads_in_progress += 1
        try:
            # parse and validate outside the commit lock: in a worker process, or on this thread at
            # most one upload per core at a time (more threads only fight over the GIL)
            round_date = None if backfill or date else storage.current_round(store).data_date
            context_id, context = service.validation_context(store, date or round_date)
            options = dict(limits=service.limits, min_tickers=service.min_tickers, date=date or None,
                           round_date=round_date)
            if service.workers is not None:
                validated, parsed = service.workers.check(content, context_id, context, **options)
            else:
                with service.cpu_slots:
                    validated, parsed = check_upload(content, context, **options)
            with service.cpu_slots:
                if validated is None:  # a history: its dates' universes come from the store
                    day = date or (round_date if parsed.date_column is None else None)
                    validated = validate_for_store(store, parsed, date=day, min_tickers=service.min_tickers,
                                                   limits=service.limits)
                prepared = storage.prepare_submission(store, name, validated, arrived, source=file.filename,
                                                      backfill=backfill)
            with service.commit_lock, store.transaction():
                original = receipts.original_receipt(store, user.name, key, upload_print)  # a retry that raced us
                if original is not None:
                    response.headers["Idempotent-Replayed"] = "true"
                    return original
                receipt = storage.write_submission(store, prepared).to_dict()
                receipts.record_receipt(store, user.name, key, name, upload_print, receipt)
                dates = ", ".join(f"{e['date']} v{e['version']} {e['status']}" for e in receipt["dates"])
                accounts.record_audit(store, user.name, "upload", name, f"{file.filename}: {dates}", _remote(request))
        finally:
            service.uploads_in_progress -= 1
        return receipt

    @app.get("/models/{name}/submissions")
    def list_submissions(name: str, current_only: bool = False, user: User = Depends(caller)) -> list[dict[str, Any]]:
        store = service.session()
        accounts.require_owner(user, name, _owner_of(store, name), "read the submissions of")
        return _records(storage.list_submissions(store, name, current_only=current_only))

    @app.get("/models/{name}/submissions/{date}")
    def read_submission(name: str, date: str, version: Optional[int] = None,
                        user: User = Depends(caller)) -> dict[str, float]:
        store = service.session()
        accounts.require_owner(user, name, _owner_of(store, name), "read the submissions of")
        series = storage.stored_submission(store, name, date, version=version)
        return {str(k): float(v) for k, v in series.items()}


def _add_job_routes(app: FastAPI, service: UploadService, caller, runner) -> None:
    """``POST /jobs`` and ``GET /jobs/{id}``: commands run in the server, for operators and for
    the local command line (the job token of ``<store>.server.json``)."""

    def operator(request: Request) -> str:
        token = request.headers.get(JOB_TOKEN_HEADER)
        if token is not None and service.job_token is not None and hashlib.sha256(token.encode()).digest() == \
                hashlib.sha256(service.job_token.encode()).digest():
            return "command line"
        user = caller(request)
        if not user.is_operator:
            raise PermissionDeniedError(f"user {user.name!r} may not run fund jobs (rule: operators only)")
        return user.name

    @app.post("/jobs", status_code=202)
    def submit_job(body: NewJob, request: Request, actor: str = Depends(operator)) -> dict[str, Any]:
        if body.argv[0] == "serve" or any(a == "--db" or a.startswith("--db=") for a in body.argv):
            raise DataValidationError("a job runs a command on this server's store (rule: no `serve`, no --db)")
        job = runner().submit(body.argv, actor)
        with service.commit_lock, service.session().transaction():
            accounts.record_audit(service.session(), actor, "job", body.argv[0], " ".join(body.argv), _remote(request))
        return job.to_dict()

    @app.get("/jobs/{job_id}")
    def job_state(job_id: str, stdout_from: int = Query(0, ge=0), stderr_from: int = Query(0, ge=0),
                  _actor: str = Depends(operator)) -> dict[str, Any]:
        job = runner().get(job_id)
        if job is None:
            raise UnknownJobError(f"unknown job {job_id!r} (the last {RETAINED_JOBS} finished jobs are kept)")
        return job.to_dict(stdout_from, stderr_from)
