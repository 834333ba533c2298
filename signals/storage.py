"""Models and versioned submissions in the DuckDB store.

Tables (created if missing, in the store's file):

- ``models(name PK, owner, created_at)``
- ``submissions(model, date, version, uploaded_at, id_column, signal_column, n_accepted,
  n_dropped, content_hash, source, status, deadline)``: one row per stored version of a
  model's signal for one data date; key ``(model, date, version)``. ``status`` is fixed at
  upload against the round calendar (:mod:`metasignal.signals.round_calendar`):
  ``on_time`` (uploaded by its round's ``deadline``), ``late`` (after it, before the next
  round's deadline: scored without stake for its round and queued as the model's submission
  of the next round unless it has one of its own) or ``backfill`` (research history: never
  staked, scored in rounds or paid). Versions stored before statuses existed read as backfill.
- ``submission_values(model, date, version, ticker, signal)``: the signal of each version,
  one row per canonical ticker.

Versioning: each (model, date) has versions 1, 2, ...; the highest is *current* and is
what readers return; older versions stay as history. Re-uploading content identical to
the current version (same tickers and the same float64 signals, whatever the id column
or file format) adds no version: the receipt reports the current one with
``new_version=False``. Content equal to an older version does add a version (it
supersedes the current one). Every write happens inside one ``store.transaction()``,
so a rejected file or a failure mid-write leaves the tables as they were.

Times: ``uploaded_at`` is naive UTC, stamped at the store clock (never after it). Readers
take ``as_of`` to see only versions uploaded at or before it (point in time).
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from metasignal.data.calendar import DateLike, read_day
from metasignal.data.clock import utc_naive
from metasignal.data.store import Store
from metasignal.errors import (
    ClockError,
    DataValidationError,
    ModelExistsError,
    RoundError,
    SubmissionNotFoundError,
    UnknownModelError,
)
from metasignal.signals.round_calendar import Round, RoundCalendar
from metasignal.signals.submission import (
    DEFAULT_MAX_BYTES,
    DEFAULT_MIN_TICKERS,
    Source,
    SubmissionLimits,
    ValidatedSubmission,
    parse_submission,
    validate_for_store,
)

MODEL_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}")

_DDL = (
    "CREATE TABLE IF NOT EXISTS models ("
    " name VARCHAR PRIMARY KEY, owner VARCHAR, created_at TIMESTAMP NOT NULL)",
    "CREATE TABLE IF NOT EXISTS submissions ("
    " model VARCHAR NOT NULL, date DATE NOT NULL, version INTEGER NOT NULL,"
    " uploaded_at TIMESTAMP NOT NULL, id_column VARCHAR NOT NULL, signal_column VARCHAR NOT NULL,"
    " n_accepted INTEGER NOT NULL, n_dropped INTEGER NOT NULL, content_hash VARCHAR NOT NULL,"
    " source VARCHAR, PRIMARY KEY (model, date, version))",
    "ALTER TABLE submissions ADD COLUMN IF NOT EXISTS status VARCHAR",
    "ALTER TABLE submissions ADD COLUMN IF NOT EXISTS deadline TIMESTAMP",
    "CREATE TABLE IF NOT EXISTS submission_values ("
    " model VARCHAR NOT NULL, date DATE NOT NULL, version INTEGER NOT NULL,"
    " ticker VARCHAR NOT NULL, signal DOUBLE NOT NULL)",
)

SUBMISSION_STATUSES = ("on_time", "late", "backfill")

# The current version of every (model, date), optionally as of an upload time.
_CURRENT = (
    "SELECT model, date, max(version) AS version FROM submissions "
    "WHERE (CAST(? AS TIMESTAMP) IS NULL OR uploaded_at <= CAST(? AS TIMESTAMP)) GROUP BY model, date"
)


@dataclass(frozen=True)
class ModelRecord:
    name: str
    owner: str | None
    created_at: pd.Timestamp

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "owner": self.owner, "created_at": self.created_at.isoformat()}


@dataclass(frozen=True)
class ReceiptEntry:
    """What one upload did for one data date."""

    date: pd.Timestamp
    version: int  # the current version after the upload
    new_version: bool  # False when the content equalled the current version
    n_accepted: int
    n_dropped: int
    status: str = "backfill"  # on_time, late or backfill (SUBMISSION_STATUSES)
    deadline: pd.Timestamp | None = None  # the round's deadline (None for a backfill)
    queued_for: pd.Timestamp | None = None  # late: the next round's data date (projected while it has not opened)


@dataclass(frozen=True)
class SubmissionReceipt:
    """The outcome of storing a validated submission (one entry per data date).

    ``dropped_ids`` keeps every dropped id; :meth:`to_dict` lists only the first
    ``MAX_DROPPED_SHOWN`` (100) of them, so a reply stays small however many were dropped.
    """

    MAX_DROPPED_SHOWN: ClassVar[int] = 100

    model: str
    uploaded_at: pd.Timestamp
    entries: tuple[ReceiptEntry, ...]
    id_column: str
    dropped_ids: tuple[str, ...]
    warnings: tuple[str, ...] = ()

    @property
    def n_accepted(self) -> int:
        return sum(e.n_accepted for e in self.entries)

    @property
    def n_dropped(self) -> int:
        return sum(e.n_dropped for e in self.entries)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (dates as ``YYYY-MM-DD``, times ISO 8601 UTC).

        ``n_dropped`` counts dropped rows; ``dropped_ids`` holds the first 100 distinct
        dropped ids in file order, ``n_dropped_ids`` how many distinct ids there were and
        ``dropped_ids_truncated`` whether the list is cut short.
        """
        shown = list(self.dropped_ids[: self.MAX_DROPPED_SHOWN])
        return {
            "model": self.model,
            "uploaded_at": self.uploaded_at.isoformat(),
            "id_column": self.id_column,
            "n_accepted": self.n_accepted,
            "n_dropped": self.n_dropped,
            "dropped_ids": shown,
            "n_dropped_ids": len(self.dropped_ids),
            "dropped_ids_truncated": len(shown) < len(self.dropped_ids),
            "warnings": list(self.warnings),
            "dates": [
                {
                    "date": e.date.date().isoformat(),
                    "version": e.version,
                    "new_version": e.new_version,
                    "n_accepted": e.n_accepted,
                    "n_dropped": e.n_dropped,
                    "status": e.status,
                    "deadline": None if e.deadline is None else e.deadline.isoformat() + "Z",
                    "queued_for": None if e.queued_for is None else e.queued_for.date().isoformat(),
                }
                for e in self.entries
            ],
        }


# --------------------------------------------------------------------------- helpers
def ensure_tables(store) -> None:
    """Create the models and submissions tables if the store lacks them."""
    store.ensure_tables("signals.storage", _DDL)




def _require_model(store, name: str) -> None:
    hit = store.one("SELECT 1 FROM models WHERE name = ?", [name])
    if hit is None:
        raise UnknownModelError(f"unknown model {name!r}: create it first (models create {name})")


def _content_hashes(frame: pd.DataFrame) -> pd.Series:
    """sha256 of each date's (ticker, float64 signal) content, indexed by date."""
    def digest(tickers: pd.Series, signals: pd.Series) -> str:
        hashed = hashlib.sha256("\n".join(tickers.to_numpy(dtype=object)).encode())
        hashed.update(np.ascontiguousarray(signals.to_numpy(dtype="<f8")).tobytes())
        return hashed.hexdigest()

    days = frame["date"].to_numpy()
    if len(days) and (days == days[0]).all():  # a live file: one date, no grouping
        return pd.Series({pd.Timestamp(days[0]): digest(frame["ticker"], frame["signal"])}, dtype="str")
    hashes = {pd.Timestamp(day): digest(group["ticker"], group["signal"])  # one hash per date, not per row
              for day, group in frame.groupby("date", sort=True)}
    return pd.Series(hashes, dtype="str")


def _insert(con, table: str, frame: pd.DataFrame) -> None:
    import pyarrow as pa

    name = f"_incoming_{table}"
    con.register(name, pa.Table.from_pandas(frame, preserve_index=False))
    try:
        columns = ", ".join(f'"{c}"' for c in frame.columns)
        con.execute(f"INSERT INTO {table} ({columns}) SELECT {columns} FROM {name}")
    finally:
        con.unregister(name)


def _insert_values(con, model: str, values, versions: pd.DataFrame) -> None:
    """Insert the rows of ``values`` (Arrow: date, ticker, signal) whose date has a new version
    in ``versions`` (date, version), numbered in SQL."""
    con.register("_new_values", values)
    con.register("_new_versions", versions)
    try:
        con.execute(
            "INSERT INTO submission_values (model, date, version, ticker, signal) "
            "SELECT ?, v.date, n.version, v.ticker, v.signal FROM _new_values v JOIN _new_versions n "
            "ON v.date = n.date", [model])
    finally:
        con.unregister("_new_values")
        con.unregister("_new_versions")


# --------------------------------------------------------------------------- models
def create_model(store: Store, name: str, owner: str | None = None, *, created_at: DateLike | None = None) -> ModelRecord:
    """Register a model. Names: 1-64 of ``A-Z a-z 0-9 _ . -``, starting alphanumeric."""
    if not isinstance(name, str) or not MODEL_NAME.fullmatch(name):
        raise DataValidationError(
            f"invalid model name {name!r} (rule: 1-64 letters, digits, '_', '.', '-', starting with a "
            "letter or digit)"
        )
    if owner is not None and (not isinstance(owner, str) or not MODEL_NAME.fullmatch(owner)):
        shown = owner if not isinstance(owner, str) or len(owner) <= 40 else owner[:40] + "..."
        raise DataValidationError(
            f"invalid owner {shown!r} (rule: 1-64 letters, digits, '_', '.', '-', starting with a letter or digit)"
        )
    ensure_tables(store)
    record = ModelRecord(name=name, owner=owner, created_at=store.now() if created_at is None else utc_naive(created_at))
    with store.transaction():
        if store.one("SELECT 1 FROM models WHERE name = ?", [name]):
            raise ModelExistsError(f"model {name!r} already exists (rule: model names are unique)")
        store.con.execute(
            "INSERT INTO models VALUES (?, ?, ?)", [name, owner, record.created_at.to_pydatetime()]
        )
    return record


def list_models(store: Store) -> pd.DataFrame:
    """Columns name, owner, created_at, n_dates (dates with a submission), last_date."""
    ensure_tables(store)
    frame = store.con.execute(
        "SELECT m.name, m.owner, m.created_at, count(DISTINCT s.date) AS n_dates, max(s.date) AS last_date "
        "FROM models m LEFT JOIN submissions s ON s.model = m.name "
        "GROUP BY m.name, m.owner, m.created_at ORDER BY m.name"
    ).fetch_df()
    frame["last_date"] = pd.to_datetime(frame["last_date"])
    return frame


# --------------------------------------------------------------------------- writes
@dataclass(frozen=True)
class PreparedSubmission:
    """A validated submission with all but its version numbers worked out: content hashes,
    upload times, round status, the ``submissions`` rows (version 0) and the values as an Arrow
    table. Preparing needs no lock; :func:`write_submission` numbers and stores it."""

    model: str
    validated: ValidatedSubmission
    uploaded_at: pd.Timestamp
    hashes: pd.Series  # date -> sha256 of the date's content
    timing: pd.DataFrame  # date -> status, deadline, queued_for
    headers: pd.DataFrame  # one submissions row per date, version 0
    values: Any  # pyarrow.Table: date, ticker, signal


def prepare_submission(
    store: Store, model: str, validated: ValidatedSubmission, uploaded_at: DateLike | pd.Series | None = None, *,
    source: str | None = None, backfill: bool = False,
) -> PreparedSubmission:
    """The part of :func:`store_submission` that reads only the clock and the calendar (no lock)."""
    import pyarrow as pa

    ensure_tables(store)
    frame = validated.frame
    hashes = _content_hashes(frame)
    dates = pd.DatetimeIndex(hashes.index).astype("datetime64[ns]")
    uploaded, uploaded_each = _upload_times(store, uploaded_at, dates)
    if backfill:
        timing = pd.DataFrame({"status": "backfill", "deadline": pd.NaT, "queued_for": pd.NaT}, index=dates)
    else:
        if not isinstance(uploaded_at, pd.Series) and len(dates) > 1:
            raise RoundError(
                f"this upload holds {len(dates)} dates ({dates[0].date()} to {dates[-1].date()}): a live upload is "
                "for one round; store a history as research data with backfill (`submit --backfill`)"
            )
        timing = _round_timing(store, dates, uploaded_each)
    headers = _version_headers(model, validated, dates, np.zeros(len(dates), dtype=np.int64), uploaded_each, hashes,
                               source, timing)
    values = pa.table({"date": pa.array(frame["date"].to_numpy(dtype="datetime64[ns]")),
                       "ticker": pa.array(frame["ticker"].to_numpy(dtype=object), type=pa.string()),
                       "signal": pa.array(frame["signal"].to_numpy(dtype=np.float64))})
    return PreparedSubmission(model, validated, uploaded, hashes, timing, headers, values)


def write_submission(store: Store, prepared: PreparedSubmission) -> SubmissionReceipt:
    """Number a prepared submission's dates against their current versions and store the new
    ones (one transaction; dates whose content and status equal their current version get none)."""
    model, hashes, timing = prepared.model, prepared.hashes, prepared.timing
    dates = pd.DatetimeIndex(hashes.index)
    with store.transaction():
        _require_model(store, model)
        before = _current_versions(store, model).reindex(dates)
        unchanged = ((before["content_hash"].to_numpy(dtype=object) == hashes.to_numpy(dtype=object))
                     & (before["status"].to_numpy(dtype=object) == timing["status"].to_numpy(dtype=object)))
        previous = before["version"].fillna(0).to_numpy(dtype=np.int64)
        versions = np.where(unchanged, previous, previous + 1)
        headers = prepared.headers.assign(version=versions.astype(np.int32))
        new = headers[~unchanged]
        if len(new):
            _insert(store.con, "submissions", new)
            _insert_values(store.con, model, prepared.values, new[["date", "version"]])
    entries = tuple(
        ReceiptEntry(pd.Timestamp(d), int(v), bool(not u), int(a), int(n), str(st),
                     None if pd.isna(dl) else pd.Timestamp(dl), None if pd.isna(q) else pd.Timestamp(q))
        for d, v, u, a, n, st, dl, q in zip(dates, versions, unchanged, headers["n_accepted"], headers["n_dropped"],
                                            timing["status"], timing["deadline"], timing["queued_for"])
    )
    return SubmissionReceipt(
        model=model,
        uploaded_at=prepared.uploaded_at,
        entries=entries,
        id_column=prepared.validated.id_column,
        dropped_ids=tuple(prepared.validated.dropped_ids),
        warnings=prepared.validated.warnings,
    )


def store_submission(
    store: Store, model: str, validated: ValidatedSubmission, uploaded_at: DateLike | pd.Series | None = None, *,
    source: str | None = None, backfill: bool = False,
) -> SubmissionReceipt:
    """Store a validated submission as the new current version of each of its dates.

    ``uploaded_at``: the upload time (default: the store clock; never after it), or a Series
    date -> time to record a log of past uploads. Each date gets its status from the round
    calendar (module docstring); a date that is not a round that has opened, or a round past
    its late window, is refused with :class:`RoundError`. ``backfill=True`` stores research
    history for any stored dates instead (status ``backfill``). Dates whose content equals their
    current version get no new version. All or nothing: one transaction. (A server prepares
    outside its commit lock and writes inside it: :func:`prepare_submission`, :func:`write_submission`.)
    """
    prepared = prepare_submission(store, model, validated, uploaded_at, source=source, backfill=backfill)
    return write_submission(store, prepared)


def _round_timing(store: Store, dates: pd.DatetimeIndex, uploaded_each) -> pd.DataFrame:
    """Per data date: status (on_time / late), the round's deadline and, when late, the data
    date of the round it is queued for; :class:`RoundError` for a date that is not a round that
    has opened or an upload after the next round's deadline."""
    calendar = RoundCalendar.of(store)
    stamps = uploaded_each if isinstance(uploaded_each, list) else [uploaded_each] * len(dates)
    rows = []
    for day, stamp in zip(dates, stamps):
        this = calendar.round_for_upload(store, day)
        if stamp < this.opens:
            raise RoundError(f"round {day.date()} opens at {this.opens:%Y-%m-%d %H:%M} UTC: an upload at "
                             f"{stamp:%Y-%m-%d %H:%M} UTC is before it")
        if stamp <= this.deadline:
            rows.append(("on_time", this.deadline, pd.NaT))
            continue
        following = calendar.following_round(store, day)
        if stamp > following.deadline:
            current = calendar.open_round(store)
            hint = (f"the open round is {current.data_date.date()}" if current is not None
                    else f"the next round opens {calendar.next_round(store).opens:%Y-%m-%d %H:%M} UTC")
            raise RoundError(
                f"round {day.date()} is closed: its deadline was {this.deadline:%Y-%m-%d %H:%M} UTC and late uploads "
                f"were taken until the next round's deadline ({following.deadline:%Y-%m-%d %H:%M} UTC); {hint}")
        rows.append(("late", this.deadline, following.data_date))
    return pd.DataFrame(rows, index=dates, columns=["status", "deadline", "queued_for"])


def _upload_times(store: Store, uploaded_at, dates: pd.DatetimeIndex) -> tuple[pd.Timestamp, object]:
    """(the receipt's upload time, the upload time of each date: one stamp or a list per date).

    Default: the store clock. An explicit time after the clock is refused (:class:`ClockError`)."""
    now = store.now()

    def checked(value) -> pd.Timestamp:
        stamp = now if value is None else utc_naive(value)
        if stamp > now:
            raise ClockError(f"upload time {stamp:%Y-%m-%d %H:%M} UTC is after the store clock ({now:%Y-%m-%d %H:%M} UTC)")
        return stamp

    if not isinstance(uploaded_at, pd.Series):
        uploaded = checked(uploaded_at)
        return uploaded, uploaded
    stamps = pd.to_datetime(uploaded_at)  # a log of past uploads: one upload time per data date
    stamps.index = pd.DatetimeIndex(stamps.index).astype("datetime64[ns]")
    per_date = stamps.reindex(dates)
    if per_date.isna().any():
        raise DataValidationError("uploaded_at gives no upload time for some dates of the submission")
    uploaded_each = [checked(v) for v in per_date]
    return max(uploaded_each), uploaded_each


def _current_versions(store, model: str) -> pd.DataFrame:
    """The current (latest) version and content hash of each stored date of ``model``, by date."""
    current = store.con.execute(
        "SELECT s.date, s.version, s.content_hash, coalesce(s.status, 'backfill') AS status FROM submissions s "
        "JOIN (SELECT date, max(version) AS version FROM submissions WHERE model = ? GROUP BY date) c "
        "USING (date, version) WHERE s.model = ?",
        [model, model],
    ).fetch_df()
    current["date"] = pd.to_datetime(current["date"]).astype("datetime64[ns]")
    return current.set_index("date")


def _version_headers(
    model: str, validated: ValidatedSubmission, dates: pd.DatetimeIndex, versions: np.ndarray,
    uploaded_each, hashes: pd.Series, source: str | None, timing: pd.DataFrame,
) -> pd.DataFrame:
    """One ``submissions`` row per date of the file (the version it is, or stays, at)."""
    accepted = validated.frame.groupby("date").size()
    dropped = validated.dropped.groupby("date").size() if len(validated.dropped) else pd.Series(dtype=int)
    return pd.DataFrame(
        {
            "model": model,
            "date": dates,
            "version": versions.astype(np.int32),
            "uploaded_at": uploaded_each,
            "id_column": validated.id_column,
            "signal_column": validated.signal_column,
            "n_accepted": accepted.reindex(dates).to_numpy(dtype=np.int64),
            "n_dropped": dropped.reindex(dates, fill_value=0).to_numpy(dtype=np.int64),
            "content_hash": hashes.to_numpy(dtype=object),
            "source": source,
            "status": timing["status"].to_numpy(dtype=object),
            "deadline": pd.to_datetime(timing["deadline"]).to_numpy(),
        }
    )



def submit(
    store: Store,
    model: str,
    source: Source,
    *,
    date: DateLike | None = None,
    filename: str | None = None,
    min_tickers: int = DEFAULT_MIN_TICKERS,
    max_bytes: int = DEFAULT_MAX_BYTES,
    uploaded_at: DateLike | pd.Series | None = None,
    backfill: bool = False,
    limits: SubmissionLimits | None = None,
) -> SubmissionReceipt:
    """Parse, validate against the store and store a submission file in one call.

    ``source``: a path, bytes or a binary file object. ``date``: the data date of a file
    without a date column (default: :func:`current_round`'s, or the store's last trading day
    for a backfill). ``filename`` is recorded as the submission's source (default: the path,
    if ``source`` is one). ``backfill``: store research history (see :func:`store_submission`).
    ``limits``: the :class:`SubmissionLimits` of parsing and validating (default: the
    defaults with ``max_bytes``; when given, they supersede ``max_bytes``).
    """
    ensure_tables(store)
    _require_model(store, model)
    parsed = parse_submission(source, max_bytes=max_bytes, limits=limits)
    if date is None and parsed.date_column is None and not backfill:
        date = current_round(store).data_date
    validated = validate_for_store(store, parsed, date=date, min_tickers=min_tickers, limits=limits)
    name = filename or (str(source) if isinstance(source, (str, os.PathLike)) else None)
    return store_submission(store, model, validated, uploaded_at, source=name, backfill=backfill)


def current_round(store: Store) -> Round:
    """The round an upload made now goes to: the open round, else the last round that has
    closed (an upload then is late for it and queued for the next); :class:`RoundError` when
    no round has opened yet."""
    calendar = RoundCalendar.of(store)
    opened = calendar.rounds(store)
    if not opened:
        raise RoundError(f"no round has opened yet: the next opens {calendar.next_round(store).opens:%Y-%m-%d %H:%M} UTC")
    return opened[-1]


# --------------------------------------------------------------------------- reads
def _as_of(store: Store, as_of) -> Any:
    """The upload-time bound of a read: ``as_of``, else the store clock (nothing after it counts)."""
    return (store.now() if as_of is None else utc_naive(as_of)).to_pydatetime()


def stored_submission(store: Store, model: str, date: DateLike, *, version: int | None = None, as_of: DateLike | None = None) -> pd.Series:
    """One model's signal for ``date``: Series indexed by canonical ticker (sorted), named
    after the model. Default: the current version (as of ``as_of``, if given)."""
    ensure_tables(store)
    day = read_day(date)
    stamp = _as_of(store, as_of)
    if version is None:
        row = store.one(
            "SELECT max(version) FROM submissions WHERE model = ? AND date = ? "
            "AND (CAST(? AS TIMESTAMP) IS NULL OR uploaded_at <= CAST(? AS TIMESTAMP))",
            [model, day.date(), stamp, stamp],
        )
        version = row[0]
    if version is None:
        _require_model(store, model)
        raise SubmissionNotFoundError(f"model {model!r} has no submission for {day.date()}")
    frame = store.con.execute(
        "SELECT ticker, signal FROM submission_values WHERE model = ? AND date = ? AND version = ? "
        "ORDER BY ticker",
        [model, day.date(), int(version)],
    ).fetch_df()
    if frame.empty:
        raise SubmissionNotFoundError(f"model {model!r} has no version {version} for {day.date()}")
    series = pd.Series(frame["signal"].to_numpy(), index=pd.Index(frame["ticker"].astype("str"), name="ticker"))
    return series.rename(model)


def on_time_submissions(store: Store, date: DateLike) -> pd.DataFrame:
    """The staked signals of the round dated ``date``: ticker x model (sorted; NaN where a model
    did not submit a ticker). Per model, its last ``on_time`` version for the round; a model
    without one takes its last ``late`` version of the previous round uploaded by this round's
    deadline (a queued submission). Backfills never count."""
    ensure_tables(store)
    plan = staked_round_plan(store, pd.DatetimeIndex([read_day(date)]))
    with store.temporary_view("_staked_rounds", plan):
        long = store.con.execute(
            f"SELECT v.ticker, v.model, v.signal FROM submission_values v JOIN ({staked_versions_query('_staked_rounds')}) c "
            "ON v.model = c.model AND v.date = c.date AND v.version = c.version"
        ).fetch_df()
    return _wide(long)


def staked_round_plan(store: Store, rounds: pd.DatetimeIndex) -> pd.DataFrame:
    """Per round data date in ``rounds`` (sorted): ``round_id`` (its position), ``round``, the
    ``deadline``, the upload ``cutoff`` of its staked signals (the deadline, or the store clock
    before it) and ``queued_from``, the previous round whose late uploads it takes (NaT for the
    first). Naive datetime64 columns: DuckDB compares them with its DATE and TIMESTAMP columns."""
    calendar = RoundCalendar.of(store)
    rounds = pd.DatetimeIndex(rounds)
    deadlines = pd.DatetimeIndex([calendar.round_of(day).deadline for day in rounds])
    now = store.now()
    return pd.DataFrame({
        "round_id": np.arange(len(rounds), dtype=np.int64),
        "round": rounds.to_numpy(dtype="datetime64[ns]"),
        "deadline": deadlines.to_numpy(dtype="datetime64[ns]"),
        "cutoff": deadlines.where(deadlines <= now, now).to_numpy(dtype="datetime64[ns]"),
        "queued_from": calendar.previous_data_dates(store, rounds).to_numpy(dtype="datetime64[ns]"),
    })


def staked_versions_query(rounds: str) -> str:
    """SQL giving ``(round_id, model, date, version)``: for each round of the relation ``rounds``
    (a :func:`staked_round_plan` frame) and model, the submission its staked signal comes from:
    the model's last ``on_time`` version for the round uploaded by the cutoff, else its last
    ``late`` version for ``queued_from`` uploaded by the cutoff."""
    typed = (f"(SELECT round_id, CAST(round AS DATE) AS round, CAST(cutoff AS TIMESTAMP) AS cutoff, "
             f"CAST(queued_from AS DATE) AS queued_from FROM {rounds})")
    return (
        f"WITH own AS (SELECT r.round_id, s.model, s.date, max(s.version) AS version FROM submissions s "
        f"  JOIN {typed} r ON s.date = r.round WHERE s.status = 'on_time' AND s.uploaded_at <= r.cutoff "
        "  GROUP BY r.round_id, s.model, s.date), "
        f"queued AS (SELECT r.round_id, s.model, s.date, max(s.version) AS version FROM submissions s "
        f"  JOIN {typed} r ON s.date = r.queued_from WHERE s.status = 'late' AND s.uploaded_at <= r.cutoff "
        "  AND NOT EXISTS (SELECT 1 FROM own o WHERE o.round_id = r.round_id AND o.model = s.model) "
        "  GROUP BY r.round_id, s.model, s.date) "
        "SELECT * FROM own UNION ALL SELECT * FROM queued"
    )


def late_submissions(store: Store, date: DateLike) -> pd.DataFrame:
    """Each model's last ``late`` version for the round dated ``date`` (ticker x model): scored
    for the round without stake, outside its meta-model."""
    ensure_tables(store)
    long = store.con.execute(
        "WITH late AS (SELECT model, date, max(version) AS version FROM submissions "
        "  WHERE date = ? AND status = 'late' AND uploaded_at <= ? GROUP BY model, date) "
        "SELECT v.ticker, v.model, v.signal FROM submission_values v JOIN late USING (model, date, version)",
        [read_day(date).date(), store.now().to_pydatetime()],
    ).fetch_df()
    return _wide(long)


def _wide(long: pd.DataFrame) -> pd.DataFrame:
    """A long (ticker, model, signal) frame as ticker x model, both sorted."""
    wide = long.pivot(index="ticker", columns="model", values="signal").sort_index().sort_index(axis=1)
    wide.index = pd.Index(wide.index.astype("str"), name="ticker")
    wide.columns = pd.Index(wide.columns.astype("str"), name="model")
    return wide


def submissions_for_date(store: Store, date: DateLike, *, as_of: DateLike | None = None) -> pd.DataFrame:
    """Current signals of every model for ``date``: ticker x model (NaN where a model did
    not submit a ticker). Sorted tickers and models; empty frame if nobody submitted."""
    ensure_tables(store)
    day = read_day(date)
    stamp = _as_of(store, as_of)
    long = store.con.execute(
        f"SELECT v.ticker, v.model, v.signal FROM submission_values v JOIN ({_CURRENT}) c "
        "USING (model, date, version) WHERE v.date = ?",
        [stamp, stamp, day.date()],
    ).fetch_df()
    return _wide(long)


def latest_submissions(store: Store, model: str, before: DateLike, n: int = 5, *, as_of: DateLike | None = None) -> pd.DataFrame:
    """The model's current signals for its last ``n`` dates strictly before ``before``:
    ticker x date (dates ascending; NaN where a ticker was not submitted). Used for
    churn/turnover checks."""
    ensure_tables(store)
    day = read_day(before)
    stamp = _as_of(store, as_of)
    long = store.con.execute(
        f"WITH c AS ({_CURRENT}), "
        "recent AS (SELECT date, version FROM c WHERE model = ? AND date < ? ORDER BY date DESC LIMIT ?) "
        "SELECT v.ticker, v.date, v.signal FROM submission_values v JOIN recent USING (date, version) "
        "WHERE v.model = ?",
        [stamp, stamp, model, day.date(), int(n), model],
    ).fetch_df()
    long["date"] = pd.to_datetime(long["date"])
    wide = long.pivot(index="ticker", columns="date", values="signal").sort_index().sort_index(axis=1)
    wide.index = pd.Index(wide.index.astype("str"), name="ticker")
    wide.columns = pd.DatetimeIndex(wide.columns, name="date")
    return wide


def stored_history(store: Store, model: str, *, statuses: tuple[str, ...] = SUBMISSION_STATUSES) -> pd.DataFrame:
    """A model's stored signals as research data: the current version of each date among
    versions of ``statuses`` (default: all, backfills included), as a long frame with columns
    ``date``, ``ticker``, ``signal`` sorted by date and ticker (the input of
    :func:`metasignal.backtest.diagnose` and :func:`metasignal.backtest.signal_history`)."""
    ensure_tables(store)
    _require_model(store, model)
    unknown = sorted(set(statuses) - set(SUBMISSION_STATUSES))
    if unknown:
        raise DataValidationError(f"unknown submission status(es) {', '.join(unknown)}: choose from "
                                  f"{', '.join(SUBMISSION_STATUSES)}")
    store.con.register("_statuses", pd.DataFrame({"status": list(statuses)}))
    try:
        frame = store.con.execute(
            "WITH chosen AS (SELECT date, max(version) AS version FROM submissions WHERE model = ? "
            "  AND coalesce(status, 'backfill') IN (SELECT status FROM _statuses) AND uploaded_at <= ? GROUP BY date) "
            "SELECT v.date, v.ticker, v.signal FROM submission_values v JOIN chosen USING (date, version) "
            "WHERE v.model = ? ORDER BY v.date, v.ticker",
            [model, store.now().to_pydatetime(), model],
        ).fetch_df()
    finally:
        store.con.unregister("_statuses")
    if frame.empty:
        raise SubmissionNotFoundError(f"model {model!r} has no stored signals with status {', '.join(statuses)}")
    frame["date"] = pd.to_datetime(frame["date"])
    frame["ticker"] = frame["ticker"].astype(str)
    return frame


def list_submissions(store: Store, model: str | None = None, *, current_only: bool = False) -> pd.DataFrame:
    """Stored versions: columns model, date, version, current (bool), uploaded_at, status
    (on_time / late / backfill), deadline, id_column, signal_column, n_accepted, n_dropped,
    source; sorted by model, date, version."""
    ensure_tables(store)
    frame = store.con.execute(
        "SELECT s.model, s.date, s.version, (s.version = c.version) AS current, s.uploaded_at, "
        "coalesce(s.status, 'backfill') AS status, s.deadline, "
        "s.id_column, s.signal_column, s.n_accepted, s.n_dropped, s.source "
        "FROM submissions s JOIN (SELECT model, date, max(version) AS version FROM submissions "
        "GROUP BY model, date) c USING (model, date) "
        "WHERE (CAST(? AS VARCHAR) IS NULL OR s.model = CAST(? AS VARCHAR)) "
        "ORDER BY s.model, s.date, s.version",
        [model, model],
    ).fetch_df()
    if model is not None and frame.empty:
        _require_model(store, model)
    frame["date"] = pd.to_datetime(frame["date"])
    if current_only:
        frame = frame[frame["current"]].reset_index(drop=True)
    return frame
