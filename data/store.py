"""The DuckDB file store: one file holds every table of the engine.

``Store`` owns the connection, the schema of the market-data tables, atomic writes
(``with store.transaction():``) and point-in-time readers. Other floors keep their own
tables in the same file through ``store.con`` inside ``store.transaction()``.

Readers return pandas objects: cross-sections indexed by ticker, panels as wide
``date x ticker`` frames. Dates are normalized ``pandas.Timestamp``.

Time. Every store has a clock (:mod:`metasignal.data.clock`, ``live`` by default, ``replay``
for a synthetic market with a future tail). Readers see only what is known at it: the store
days up to :meth:`Store.visible_through` (bars, derived fields, securities listed by then),
and targets whose window has ended by then. Data after the clock may be stored; they are
invisible until the clock passes them.
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Hashable, Iterator, Sequence, TypeVar

import duckdb
import numpy as np
import pandas as pd

from metasignal.data import schema
from metasignal.data.calendar import DateLike
from metasignal.data.clock import Clock
from metasignal.data.markets import DATA_READY_UTC
from metasignal.data.targets import DEFAULT_WINDOW, parse_window
from metasignal.errors import StoreError, UnknownTickerError

T = TypeVar("T")
DEFAULT_DB = "metasignal.duckdb"
DB_ENV = "METASIGNAL_DB"
BAR_FIELDS = ("open", "high", "low", "close", "adj_close", "volume")
DAILY_FIELDS = tuple(c for c in schema.DAILY_COLUMNS if c not in ("date", "ticker"))


def resolve_db_path(path: str | os.PathLike | None = None) -> Path:
    """``path`` if given, else ``$METASIGNAL_DB``, else ``./metasignal.duckdb``."""
    if path is not None:
        return Path(path)
    return Path(os.environ.get(DB_ENV) or DEFAULT_DB)


def _is_duckdb_file(path: Path) -> bool:
    """Whether ``path`` starts like a DuckDB database file (``DUCK`` at byte 8)."""
    with open(path, "rb") as handle:
        return handle.read(12)[8:12] == b"DUCK"


LOCK_WAIT_ENV = "METASIGNAL_LOCK_WAIT"
DEFAULT_LOCK_WAIT = 10.0  # seconds a command waits for another process to let go of the store


def _connect(path: Path) -> duckdb.DuckDBPyConnection:
    """A connection to ``path``; while another process holds the file (DuckDB lets one process
    write it), retry for ``$METASIGNAL_LOCK_WAIT`` seconds, then a one-line :class:`StoreError`
    naming the holder."""
    import re
    import time

    try:
        wait = float(os.environ.get(LOCK_WAIT_ENV) or DEFAULT_LOCK_WAIT)
    except ValueError:
        raise StoreError(f"{LOCK_WAIT_ENV} must be a number of seconds, got {os.environ[LOCK_WAIT_ENV]!r}") from None
    deadline = time.monotonic() + wait
    while True:
        try:
            return duckdb.connect(str(path))
        except duckdb.Error as error:
            text = str(error)
            if "lock" not in text.lower():
                raise StoreError(f"cannot open store {path}: {text.strip().splitlines()[0]}") from None
            if time.monotonic() < deadline:
                time.sleep(0.2)
                continue
            holder = re.search(r"PID (\d+)", text)
            who = f"process {holder.group(1)}" if holder else "another process"
            raise StoreError(
                f"store {path} is in use by {who} (waited {wait:g} s; DuckDB lets one process open it): wait for it "
                "to finish, or run `metasignal serve` on the store: commands then run inside the server, side by side"
            ) from None


def _date(value) -> pd.Timestamp:
    try:
        stamp = pd.Timestamp(value)
    except (ValueError, TypeError) as error:
        raise StoreError(f"cannot read {value!r} as a date ({error})") from None
    if stamp is pd.NaT:
        raise StoreError(f"cannot read {value!r} as a date")
    return stamp.normalize()


class Store:
    """A DuckDB file holding securities, bars, derived tables and the engine's own tables."""

    def __init__(self, path: Path, con: duckdb.DuckDBPyConnection):
        self.path = path
        self.con = con
        self._depth = 0
        self._ensured: set[str] = set()
        self._ensured_in_transaction: set[str] = set()  # kept at commit, forgotten at rollback
        self._cached: dict[str, object] = {}  # stored days, securities, clock: until a write
        self._derived: dict[Hashable, object] = {}  # Store.cached values (shared with sessions): until a write

    # ------------------------------------------------------------------ lifecycle
    @classmethod
    def open(cls, path: str | os.PathLike | None = None, *, create: bool = False) -> "Store":
        """Open the store at ``path`` (see :func:`resolve_db_path`).

        ``create=False`` refuses a missing file with a one-line :class:`StoreError`.
        """
        path = resolve_db_path(path)
        if not create and not path.exists():
            raise StoreError(
                f"no store at {path}: run `metasignal data generate` (or pass --db / set {DB_ENV})"
            )
        if create:
            path.parent.mkdir(parents=True, exist_ok=True)
        if path.exists() and path.stat().st_size > 0 and not _is_duckdb_file(path):
            raise StoreError(f"{path} is not a metasignal store (not a DuckDB database file); "
                             "pass the store with --db, and import data with `metasignal data import`")
        con = _connect(path)
        store = cls(path, con)
        from metasignal.data import migrations

        try:
            migrations.migrate(store)  # creates the tables; brings an older store to the current layout
        except BaseException:
            con.close()
            raise
        return store

    def close(self) -> None:
        self.con.close()

    def session(self) -> "Store":
        """Another connection to the same open database, for another thread of this process.

        DuckDB lets one process hold many connections to a file: each session has its own
        transactions (MVCC: a reader sees a consistent snapshot while another session writes) and
        its own caches, and shares the tables this store has already ensured and the values of
        :meth:`cached`. A DuckDB connection
        is not safe to share between threads; give each thread its own session."""
        session = Store(self.path, self.con.cursor())
        session._ensured = self._ensured
        session._derived = self._derived  # values derived from market data: one copy for all sessions
        return session

    def __enter__(self) -> "Store":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @contextmanager
    def transaction(self) -> Iterator["Store"]:
        """All writes inside happen or none do; nested blocks join the outer transaction."""
        if self._depth:
            self._depth += 1
            try:
                yield self
            finally:
                self._depth -= 1
            return
        self.con.execute("BEGIN TRANSACTION")
        self._depth = 1
        try:
            yield self
        except BaseException as error:
            self._depth = 0
            self.con.execute("ROLLBACK")
            self.forget_cached()
            self._ensured_in_transaction.clear()
            cause = error.__context__
            if isinstance(error, duckdb.TransactionException) and isinstance(cause, duckdb.Error):
                # a statement failed and cleanup then met the aborted transaction: name the first failure
                first = str(cause).strip().splitlines()[0] if str(cause).strip() else type(cause).__name__
                raise StoreError(f"store {self.path}: {first} (nothing was written)") from None
            raise
        self._depth = 0
        self.con.execute("COMMIT")
        self._ensured |= self._ensured_in_transaction
        self._ensured_in_transaction.clear()

    def forget_cached(self) -> None:
        """Drop the cached stored days and securities (the store's writers do it; call it after
        writing ``bars`` or ``securities`` with raw SQL)."""
        self._cached.clear()
        self._derived.clear()

    def cached(self, key: Hashable, build: Callable[[], T]) -> T:
        """``build()``, kept under ``key`` until the store's market data change (any write of
        bars, securities or derived tables, a rollback, :meth:`forget_cached`). For values
        derived from those data only; put what they depend on (a date, the clock's horizon) in
        ``key``."""
        if key not in self._derived:
            self._derived[key] = build()
        return self._derived[key]

    def ensure_tables(self, owner: str, statements: Sequence[str]) -> None:
        """Run an owner's ``CREATE TABLE IF NOT EXISTS`` statements once per open store.

        Floors above ``data`` keep their own tables in the file; this is how they create them.
        Statements run inside a transaction count once it commits (a rollback undoes them).
        """
        if owner in self._ensured or owner in self._ensured_in_transaction:
            return
        for statement in statements:
            self.con.execute(statement)
        (self._ensured_in_transaction if self._depth else self._ensured).add(owner)

    def one(self, query: str, params: Sequence = ()) -> tuple | None:
        """First row of a query (the result is fully consumed), or ``None``."""
        rows = self.con.execute(query, list(params)).fetchall()
        return rows[0] if rows else None

    # ------------------------------------------------------------------ metadata
    def get_meta(self, key: str, default: str | None = None) -> str | None:
        row = self.one("SELECT value FROM meta WHERE key = ?", [key])
        return row[0] if row else default

    def set_meta(self, key: str, value: object) -> None:
        if key.startswith("clock_"):
            self.forget_clock()
        with self.transaction():
            self.con.execute("DELETE FROM meta WHERE key = ?", [key])
            self.con.execute("INSERT INTO meta VALUES (?, ?)", [key, str(value)])

    # ------------------------------------------------------------------ clock
    def clock(self) -> Clock:
        """The store's clock (``live`` unless a replay clock was set). Read once and kept until
        :meth:`set_clock` or :meth:`forget_cached` (a live clock still moves with the wall clock)."""
        if "clock" not in self._cached:
            rows = self.con.execute(
                "SELECT key, value FROM meta WHERE key IN ('clock_mode', 'clock_time')").fetchall()
            self._cached["clock"] = Clock.read(dict(rows))
        return self._cached["clock"]

    def forget_clock(self) -> None:
        """Read the clock again next time (another connection may have moved it)."""
        self._cached.pop("clock", None)

    def set_clock(self, clock: Clock) -> None:
        """Record ``clock`` as the store's clock (one transaction)."""
        self.forget_clock()
        with self.transaction():
            for key, value in clock.to_meta().items():
                self.set_meta(key, value)
        self.forget_clock()

    def now(self) -> pd.Timestamp:
        """The time at the store's clock (naive UTC)."""
        return self.clock().now()

    def visible_through(self) -> pd.Timestamp:
        """The last calendar date whose data are known at the clock: a store day ``d`` is known
        from ``d`` at :data:`metasignal.data.markets.DATA_READY_UTC` on."""
        ready = pd.Timedelta(hours=DATA_READY_UTC.hour, minutes=DATA_READY_UTC.minute)
        return (self.now() - ready).normalize()

    def _visible_end(self, end) -> pd.Timestamp:
        """``end`` (or no bound) capped at :meth:`visible_through`."""
        horizon = self.visible_through()
        return horizon if end is None else min(_date(end), horizon)

    # ------------------------------------------------------------------ writers
    def _insert(self, table: str, frame: pd.DataFrame) -> None:
        columns = list(schema.TABLES[table])
        frame = frame.reindex(columns=columns)
        self.con.register("_incoming", frame)
        names = ", ".join(f'"{c}"' for c in columns)
        try:
            self.con.execute(f"INSERT INTO {table} ({names}) SELECT {names} FROM _incoming")
        except duckdb.Error as error:
            # inside an aborted transaction unregistering fails too: keep the insert's own cause
            try:
                self.con.unregister("_incoming")
            except duckdb.Error:
                pass
            cause = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
            raise StoreError(f"cannot write {len(frame)} row(s) to {table}: {cause}") from None
        self.con.unregister("_incoming")

    def write_securities(self, frame: pd.DataFrame) -> int:
        """Insert or replace securities (a frame with a ``ticker`` column). Returns rows written."""
        frame = frame.reset_index() if "ticker" not in frame.columns else frame
        self.forget_cached()
        with self.transaction():
            self.con.register("_keys", frame[["ticker"]])
            try:
                self.con.execute("DELETE FROM securities WHERE ticker IN (SELECT ticker FROM _keys)")
            finally:
                self.con.unregister("_keys")
            self._insert("securities", frame)
        return len(frame)

    def _replace_rows(self, table: str, frame: pd.DataFrame, keys: Sequence[str]) -> int:
        """Insert ``frame`` into ``table``, replacing stored rows with the same ``keys`` (one
        transaction; date keys compared as dates)."""
        missing = [key for key in keys if key not in frame.columns]
        if missing:
            raise StoreError(f"rows for {table} need the column(s) {', '.join(missing)}")
        self.forget_cached()
        with self.transaction():
            if len(frame) and self.one(f"SELECT count(*) FROM {table}")[0]:
                kinds = schema.TABLES[table]
                match = " AND ".join(
                    f'{table}."{key}" = CAST(_keys."{key}" AS DATE)' if kinds[key].startswith("DATE")
                    else f'{table}."{key}" = _keys."{key}"' for key in keys)
                self.con.register("_keys", frame[list(keys)])
                try:
                    self.con.execute(f"DELETE FROM {table} USING _keys WHERE {match}")
                finally:
                    self.con.unregister("_keys")
            self._insert(table, frame)
        return len(frame)

    def write_security_history(self, frame: pd.DataFrame) -> int:
        """Insert or replace point-in-time security rows ``(ticker, effective, shares_outstanding,
        sector, industry, country)`` (NULL: not stated), keyed by ``(ticker, effective)``."""
        return self._replace_rows("security_history", frame, ("ticker", "effective"))

    def write_actions(self, frame: pd.DataFrame) -> int:
        """Insert or replace corporate actions ``(ticker, date, split_ratio, dividend)`` (ex-dates;
        :mod:`metasignal.data.schema`), keyed by ``(ticker, date)``."""
        return self._replace_rows("corporate_actions", frame, ("ticker", "date"))

    def write_fx_rates(self, frame: pd.DataFrame) -> int:
        """Insert or replace FX rates ``(date, currency, usd_per_unit)``, keyed by ``(date, currency)``."""
        return self._replace_rows("fx_rates", frame, ("date", "currency"))

    def write_bars(self, frame: pd.DataFrame) -> int:
        """Insert or replace daily bars (long frame: date, ticker, open..volume)."""
        self.forget_cached()
        with self.transaction():
            if self.one("SELECT count(*) FROM bars")[0]:
                self.con.register("_keys", frame[["date", "ticker"]])
                try:
                    self.con.execute(
                        "DELETE FROM bars USING _keys "
                        "WHERE bars.ticker = _keys.ticker AND bars.date = CAST(_keys.date AS DATE)"
                    )
                finally:
                    self.con.unregister("_keys")
            self._insert("bars", frame)
        return len(frame)

    def replace_derived(self, daily: pd.DataFrame, targets: pd.DataFrame, window: str | None = None) -> None:
        """Replace the whole ``daily`` table and, in the same transaction, the targets of every
        window in ``targets`` (its ``window`` column, or ``window`` for all its rows)."""
        if window is not None:
            targets = targets.assign(window=window)
        if "window" not in targets.columns:
            raise StoreError("targets to store need a window: a 'window' column or the window argument")
        self.forget_cached()
        with self.transaction():
            self.con.execute("DELETE FROM daily")
            self._insert("daily", daily)
            for name in pd.unique(targets["window"]):
                self.con.execute("DELETE FROM targets WHERE \"window\" = ?", [str(name)])
            self._insert("targets", targets)
            last = daily["date"].max() if len(daily) else None
            self.set_meta("last_derived_date", "" if last is None else pd.Timestamp(last).date())

    # ------------------------------------------------------------------ readers
    @contextmanager
    def temporary_view(self, name: str, frame: pd.DataFrame) -> Iterator[None]:
        """``frame`` visible to this connection's queries as the view ``name`` inside the block."""
        self.con.register(name, frame)
        try:
            yield
        finally:
            self.con.unregister(name)

    def _frame(self, query: str, params: Sequence = ()) -> pd.DataFrame:
        return self.con.execute(query, list(params)).fetch_df()

    def securities(self, *, include_future: bool = False) -> pd.DataFrame:
        """Securities known at the clock, indexed by ticker: a name listed after
        :meth:`visible_through` is left out, a delisting after it is not known yet (NaT).
        ``include_future=True``: every stored security as stored (for derivation and imports,
        which work on the whole stored market)."""
        if "securities" not in self._cached:
            frame = self._frame("SELECT * FROM securities ORDER BY ticker")
            for column in ("listed", "delisted"):
                frame[column] = pd.to_datetime(frame[column])
            self._cached["securities"] = frame.set_index("ticker")
        frame = self._cached["securities"].copy()
        if include_future:
            return frame
        horizon = self.visible_through()
        frame = frame[frame["listed"].isna() | (frame["listed"] <= horizon)]
        frame.loc[frame["delisted"] > horizon, "delisted"] = pd.NaT
        return frame

    def _reference(self, table: str, date_column: str, include_future: bool) -> pd.DataFrame:
        query, params = f"SELECT * FROM {table}", []
        if not include_future:
            query += f' WHERE "{date_column}" <= ?'
            params.append(self.visible_through().date())
        frame = self._frame(query + f' ORDER BY "{date_column}"', params)
        frame[date_column] = pd.to_datetime(frame[date_column])
        return frame

    def security_history(self, *, include_future: bool = False) -> pd.DataFrame:
        """The ``security_history`` rows (long, by effective date) known at the clock
        (``include_future=True``: every stored row, for derivation)."""
        return self._reference("security_history", "effective", include_future)

    def corporate_actions(self, *, include_future: bool = False) -> pd.DataFrame:
        """The ``corporate_actions`` rows (ex-dates) known at the clock (``include_future``: all)."""
        return self._reference("corporate_actions", "date", include_future)

    def fx_rates(self, *, include_future: bool = False) -> pd.DataFrame:
        """The ``fx_rates`` rows known at the clock (``include_future``: all)."""
        return self._reference("fx_rates", "date", include_future)

    _POINT_IN_TIME = (
        "WITH pit AS (SELECT ticker, "
        + ", ".join(f'arg_max("{f}", effective) FILTER (WHERE "{f}" IS NOT NULL) AS "{f}"'
                    for f in schema.SECURITY_HISTORY_FIELDS)
        + " FROM security_history WHERE effective <= ? GROUP BY ticker) "
    )

    def securities_on(self, date) -> pd.DataFrame:
        """Securities as known on ``date``, indexed by ticker: listed by ``date``, not delisted
        before it, with ``shares_outstanding``, ``sector``, ``industry`` and ``country`` from the
        latest ``security_history`` row effective on or before ``date`` (else the securities
        row). Shares are as reported (not carried through later splits; derive does that)."""
        date = _date(date)
        if date > self.visible_through():
            raise StoreError(f"{date.date()} is not known yet at the store clock ({self.now():%Y-%m-%d %H:%M} UTC)")
        fields = schema.SECURITY_HISTORY_FIELDS
        others = [c for c in schema.SECURITY_COLUMNS if c != "ticker" and c not in fields]
        columns = ", ".join([*(f's."{c}"' for c in others),
                             *(f'coalesce(p."{f}", s."{f}") AS "{f}"' for f in fields)])
        frame = self._frame(
            self._POINT_IN_TIME + f"SELECT s.ticker, {columns} FROM securities s LEFT JOIN pit p USING (ticker) "
            "WHERE (s.listed IS NULL OR s.listed <= ?) AND (s.delisted IS NULL OR s.delisted >= ?) ORDER BY s.ticker",
            [date.date(), date.date(), date.date()],
        )
        for column in ("listed", "delisted"):
            frame[column] = pd.to_datetime(frame[column])
        frame["ticker"] = frame["ticker"].astype(str)
        return frame.set_index("ticker")[[c for c in schema.SECURITY_COLUMNS if c != "ticker"]]

    def classification(self, field: str, start=None, end=None) -> pd.DataFrame:
        """A wide ``date x ticker`` frame of one point-in-time label or count (``field``: one of
        ``shares_outstanding``, ``sector``, ``industry``, ``country``) on the dates of the
        ``daily`` table in ``[start, end]``: on each date the latest ``security_history`` value
        effective on or before it, else the securities row (as :meth:`securities_on` gives for one
        date). Rows known at the clock only."""
        if field not in schema.SECURITY_HISTORY_FIELDS:
            raise StoreError(f"unknown classification {field!r}: choose from {', '.join(schema.SECURITY_HISTORY_FIELDS)}")
        query, params = (
            f'SELECT d.date, d.ticker, coalesce(h."{field}", s."{field}") AS value FROM daily d '
            f'JOIN securities s USING (ticker) ASOF LEFT JOIN (SELECT ticker, effective, "{field}" '
            f'FROM security_history WHERE "{field}" IS NOT NULL) h ON d.ticker = h.ticker AND d.date >= h.effective',
            [])
        query, params = self._date_filter(query, params, start, end, where=True)
        long = self._frame(query, params)
        wide = long.pivot(index="date", columns="ticker", values="value")
        wide.index = pd.DatetimeIndex(pd.to_datetime(wide.index), name="date")
        wide.columns = pd.Index(wide.columns.astype(str), name="ticker")
        return wide

    def security(self, ticker: str) -> pd.Series:
        """One security's row; :class:`UnknownTickerError` if the store does not hold it."""
        frame = self.securities()
        if ticker not in frame.index:
            raise UnknownTickerError(f"unknown ticker {ticker!r}: not in the store's securities")
        return frame.loc[ticker]

    def trading_days(self, start=None, end=None) -> pd.DatetimeIndex:
        """Dates with at least one bar, within ``[start, end]`` and known at the clock."""
        if start is not None and end is not None and _date(start) > _date(end):
            raise StoreError(f"empty date range: start {_date(start).date()} is after end {_date(end).date()}")
        days = self.stored_days()
        last = days.searchsorted(self._visible_end(end), side="right")
        first = 0 if start is None else days.searchsorted(_date(start), side="left")
        return days[first:last]

    def _date_filter(self, query, params, start, end, *, where: bool):
        """Add ``start <= date <= end`` to ``query``, ``end`` capped at the clock's horizon."""
        if start is not None and end is not None and _date(start) > _date(end):
            raise StoreError(f"empty date range: start {_date(start).date()} is after end {_date(end).date()}")
        clauses = ["date <= ?"]
        params.append(self._visible_end(end).date())
        if start is not None:
            clauses.append("date >= ?")
            params.append(_date(start).date())
        if clauses:
            query += (" WHERE " if where else " AND ") + " AND ".join(clauses)
        return query, params

    def stored_days(self) -> pd.DatetimeIndex:
        """Every stored date with a bar, also those after the clock: the schedule a replay steps
        through (which days the market trades, not what it did). Readers of data use
        :meth:`trading_days`."""
        if "days" not in self._cached:
            days = self._frame("SELECT DISTINCT date FROM bars ORDER BY date")["date"]
            self._cached["days"] = pd.DatetimeIndex(pd.to_datetime(days), name="date")
        return self._cached["days"]

    def last_date(self) -> pd.Timestamp:
        """The last trading day known at the clock."""
        value = self.one("SELECT max(date) FROM bars WHERE date <= ?", [self.visible_through().date()])[0]
        if value is None:
            if self.one("SELECT count(*) FROM bars")[0]:
                raise StoreError(f"store {self.path} holds no bars known at its clock ({self.now():%Y-%m-%d %H:%M} UTC)")
            raise StoreError(f"store {self.path} holds no bars: run `metasignal data generate`")
        return pd.Timestamp(value)

    def as_of(self, date) -> pd.Timestamp:
        """The last trading day on or before ``date`` (a date off the calendar rolls back)."""
        date = self._visible_end(date)
        value = self.one("SELECT max(date) FROM daily WHERE date <= ?", [date.date()])[0]
        if value is None:
            raise StoreError(f"no derived data on or before {date.date()} in {self.path}")
        return pd.Timestamp(value)

    def _require_day(self, date) -> pd.Timestamp:
        date = _date(date)
        if date > self.visible_through():
            raise StoreError(
                f"{date.date()} is not known yet at the store clock ({self.now():%Y-%m-%d %H:%M} UTC): "
                "advance the clock (`metasignal clock advance`)"
            )
        hit = self.one("SELECT 1 FROM daily WHERE date = ? LIMIT 1", [date.date()])
        if hit is None:
            first, last = self.one("SELECT min(date), max(date) FROM daily WHERE date <= ?",
                                   [self.visible_through().date()])
            if first is None:
                raise StoreError(f"store {self.path} has no derived data: run `metasignal data generate`")
            raise StoreError(
                f"{date.date()} is not a trading day in the store (it covers {first} to {last})"
            )
        return date

    def universe(self, date) -> pd.Index:
        """Tickers in the investable universe on ``date`` (sorted)."""
        date = self._require_day(date)
        tickers = self._frame(
            "SELECT ticker FROM daily WHERE date = ? AND in_universe ORDER BY ticker", [date.date()]
        )["ticker"]
        return pd.Index(tickers.astype(str), name="ticker")

    def panel(self, field: str, start=None, end=None, tickers: Sequence[str] | None = None) -> pd.DataFrame:
        """A wide ``date x ticker`` frame of one bar field or derived field."""
        if field in BAR_FIELDS:
            table = "bars"
        elif field in DAILY_FIELDS:
            table = "daily"
        else:
            raise StoreError(f"unknown field {field!r}: choose from {', '.join(BAR_FIELDS + DAILY_FIELDS)}")
        query, params = f'SELECT date, ticker, "{field}" AS value FROM {table}', []
        query, params = self._date_filter(query, params, start, end, where=True)
        if tickers is not None:
            tickers = list(tickers)
            self.con.register("_wanted", pd.DataFrame({"ticker": tickers}))
            query += (" AND " if "WHERE" in query else " WHERE ") + "ticker IN (SELECT ticker FROM _wanted)"
        try:
            long = self._frame(query, params)
        finally:
            if tickers is not None:
                self.con.unregister("_wanted")
        if long.empty and (start is not None or end is not None):
            raise StoreError(f"no {field} data between {start} and {end} in {self.path}")
        wide = long.pivot(index="date", columns="ticker", values="value")
        wide.index = pd.DatetimeIndex(pd.to_datetime(wide.index), name="date")
        wide.columns = pd.Index(wide.columns.astype(str), name="ticker")
        if tickers is not None:
            wide = wide.reindex(columns=tickers)
        return wide.sort_index()

    def daily_arrays(self, fields: Sequence[str], days: pd.DatetimeIndex, tickers: pd.Index) -> dict[str, np.ndarray]:
        """Several derived fields on a fixed ``days x tickers`` grid, in one query.

        Float fields are NaN where the store has no row; ``in_universe`` is boolean (False there).
        """
        unknown = [f for f in fields if f not in DAILY_FIELDS]
        if unknown:
            raise StoreError(f"unknown field(s) {', '.join(unknown)}: choose from {', '.join(DAILY_FIELDS)}")
        known = pd.DatetimeIndex(days) <= self.visible_through()  # later days stay NaN / False
        self.con.register("_grid_days", pd.DataFrame({"date": days[known].date, "row_id": np.flatnonzero(known)}))
        self.con.register("_grid_tickers", pd.DataFrame({"ticker": np.asarray(tickers, dtype=object),
                                                         "col_id": np.arange(len(tickers))}))
        try:
            columns = ", ".join(
                f'coalesce(d."{name}", false) AS "{name}"' if name == "in_universe" else f'd."{name}"' for name in fields
            )
            table = self.con.sql(
                f"SELECT r.row_id, c.col_id, {columns} FROM daily d "
                "JOIN _grid_days r ON d.date = r.date JOIN _grid_tickers c ON d.ticker = c.ticker"
            ).to_arrow_table()
        finally:
            self.con.unregister("_grid_days")
            self.con.unregister("_grid_tickers")
        rows, cols = table.column("row_id").to_numpy(), table.column("col_id").to_numpy()
        shape = (len(days), len(tickers))
        arrays = {}
        for name in fields:
            kind = bool if name == "in_universe" else float
            values = np.zeros(shape, dtype=bool) if kind is bool else np.full(shape, np.nan)
            column = table.column(name).to_numpy(zero_copy_only=False)
            values[rows, cols] = column.astype(kind)
            arrays[name] = values
        return arrays

    def returns(self, start=None, end=None, tickers: Sequence[str] | None = None) -> pd.DataFrame:
        """Simple daily total returns, ``date x ticker`` (NaN where a name did not trade)."""
        return self.panel("ret", start, end, tickers)

    def exposures(self, date) -> pd.DataFrame:
        """The universe on ``date`` with classifications, style exposures and liquidity.

        Columns: country, sector (as known on ``date``: :meth:`securities_on`), beta, size,
        momentum, volatility, value (z-scores), adv_20d and market_cap (dollars), sigma (daily
        return volatility), sample_weight.
        """
        date = self._require_day(date)
        styles = ", ".join(f"d.{f}" for f in schema.STYLE_FACTORS)
        frame = self._frame(
            self._POINT_IN_TIME
            + "SELECT d.ticker, coalesce(p.country, s.country) AS country, coalesce(p.sector, s.sector) AS sector, "
            f"{styles}, d.adv_20d, d.market_cap, d.sigma, d.sample_weight "
            "FROM daily d JOIN securities s USING (ticker) LEFT JOIN pit p USING (ticker) "
            "WHERE d.date = ? AND d.in_universe ORDER BY d.ticker",
            [date.date(), date.date()],
        )
        frame["ticker"] = frame["ticker"].astype(str)
        return frame.set_index("ticker")

    def sample_weights(self, date) -> pd.Series:
        """Sample weights ``v`` on ``date`` (positive, mean ``sqrt(n / 5000)`` over the n universe names)."""
        return self.exposures(date)["sample_weight"]

    def neutralizers(self, date) -> pd.DataFrame:
        """The neutralizer matrix N of ``date`` (universe x k), with ``N' V N = I``.

        Built from the exposure matrix (country and sector one-hots, style factors, a
        constant) and the sample weights; see :func:`metasignal.data.neutralizers.neutralizer_matrix`.
        """
        from metasignal.data.neutralizers import exposure_matrix, neutralizer_matrix

        exposures = self.exposures(date)
        matrix = neutralizer_matrix(exposure_matrix(exposures).to_numpy(), exposures["sample_weight"].to_numpy())
        columns = [f"neutralizer_{i}" for i in range(matrix.shape[1])]
        return pd.DataFrame(matrix, index=exposures.index, columns=columns)

    def targets(self, date, window: str = DEFAULT_WINDOW) -> pd.DataFrame:
        """Binned targets of ``date``: index ticker, columns ``raw`` and ``factor_neutral``.

        Raises :class:`StoreError` when the date's target window has not passed yet.
        """
        date = self._require_day(date)
        frame = self._frame(
            'SELECT ticker, raw, factor_neutral FROM targets WHERE "window" = ? AND date = ? AND date <= ? '
            "ORDER BY ticker",
            [window, date.date(), self._target_cutoff(window).date()],
        )
        if frame.empty:
            if self.one("SELECT 1 FROM daily WHERE date = ? AND in_universe LIMIT 1", [date.date()]) is None:
                raise StoreError(f"no {window} targets for {date.date()}: no ticker is in the universe that day")
            raise StoreError(f"no {window} targets for {date.date()}: its window has not passed in the store")
        frame["ticker"] = frame["ticker"].astype(str)
        return frame.set_index("ticker")

    def target_dates(self, window: str = DEFAULT_WINDOW) -> pd.DatetimeIndex:
        """Dates whose ``window`` targets are known at the clock."""
        days = self._frame('SELECT DISTINCT date FROM targets WHERE "window" = ? AND date <= ? ORDER BY date',
                           [window, self._target_cutoff(window).date()])["date"]
        return pd.DatetimeIndex(pd.to_datetime(days), name="date")

    def _target_cutoff(self, window: str) -> pd.Timestamp:
        """The last date whose ``window`` target has ended by :meth:`visible_through` (its last
        return, ``lag + days`` store days later, is known)."""
        days, lag = parse_window(window)
        known = self.trading_days()
        span = days + lag
        return known[-span - 1] if len(known) > span else pd.Timestamp("1677-09-22")

    def degraded_modes(self) -> dict[str, str]:
        """The degraded modes the last derive ran in (:mod:`metasignal.data.derived`, "Degraded
        modes"): ``{"volume": "none"}`` for a store without volume, ``{"shares": "none"}`` (or
        ``"<n> names"``) without shares outstanding; empty when every input was there."""
        rows = self.con.execute("SELECT key, value FROM meta WHERE key IN ('degraded_volume', 'degraded_shares')"
                                ).fetchall()
        return {key.removeprefix("degraded_"): value for key, value in rows if value}

    def info(self) -> dict[str, object]:
        """What the store holds: date range, counts, countries, sectors, last derived date, and the
        clock (``clock``, ``now``, ``visible_through``: the last date known at the clock)."""
        first, last, n_bars = self.one("SELECT min(date), max(date), count(*) FROM bars")
        clock = self.clock()
        n_sec, n_countries, n_sectors = self.one("SELECT count(*), count(DISTINCT country), count(DISTINCT sector) FROM securities")
        n_days = self.one("SELECT count(DISTINCT date) FROM bars")[0]
        n_delisted = self.one("SELECT count(*) FROM securities WHERE delisted <= ?", [self.visible_through().date()])[0]
        n_history, n_actions = (self.one(f"SELECT count(*) FROM {t}")[0] for t in ("security_history", "corporate_actions"))
        currencies = [row[0] for row in self.con.execute(
            "SELECT DISTINCT coalesce(currency, 'USD') FROM securities ORDER BY 1").fetchall()]
        fx = self.one("SELECT count(DISTINCT currency), count(*) FROM fx_rates")
        return {
            "path": str(self.path),
            "size_mb": round(self.path.stat().st_size / 2**20, 1) if self.path.exists() else 0.0,
            "first_date": first,
            "last_date": last,
            "trading_days": n_days,
            "tickers": n_sec,
            "bars": n_bars,
            "countries": n_countries,
            "sectors": n_sectors,
            "delisted": n_delisted,
            "currencies": ", ".join(currencies) or None,
            "fx_rates": f"{fx[1]:,} rows, {fx[0]} currencies" if fx[1] else None,
            "security_history_rows": n_history,
            "corporate_actions": n_actions,
            "last_derived_date": self.get_meta("last_derived_date") or None,
            "source": self.get_meta("source") or None,
            "degraded_modes": "; ".join(f"{field}: {state}" for field, state in self.degraded_modes().items()) or None,
            "clock": clock.mode,
            "now": clock.now().floor("s"),
            "visible_through": self.visible_through().date(),
        }

