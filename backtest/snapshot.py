"""Point-in-time snapshot of what a walk-forward reads from the store, as Parquet files.

:func:`write_snapshot` reads, at the store's clock, everything :func:`run_walk_forward` and
its callees read for a set of date ranges, and writes it once into a folder named by the
sha256 of its content; :class:`SnapshotStore` is the read-only object a worker runs the
walk-forward on, without DuckDB (no store file, no lock).

Files (``root/<hash>/``):

- ``trading_days.parquet``: every store day known at the clock (``date``);
- ``securities.parquet``: :meth:`Store.securities` at the clock (index ticker);
- ``daily.parquet``: the daily fields the walk-forward reads (``ret``, styles, ``sigma``,
  ``adv_20d``, ``dollar_volume``, ``market_cap``: floats; ``in_universe``: bool) as long rows
  ``date, ticker, <fields>`` over the grid (days of the ranges and their risk lookback) x
  (every security); grid cells without a row are NaN / False, as :meth:`Store.daily_arrays` gives;
- ``signals.parquet``: the meta-signal of each round the ranges use, per ``(method,
  min_stake)`` asked for: ``round_date, method, min_stake, ticker, value``
  (:func:`metasignal.signals.meta_signal`, the very function the walk-forward calls);
- ``known_rounds.parquet``: for each trading day of the ranges, the round whose signal is
  known then (:func:`metasignal.signals.latest_round`; NaT when none);
- ``manifest.json``: the clock, the round schedule, the ranges, the lookback and the signal
  specs, and ``hash``.

Sizes: ``daily`` holds about ``days x tickers x 12`` values (3 years + a year of lookback at
1,000 names: ~1M rows, ~100 MB in memory as arrays).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import pandas as pd

from metasignal.backtest.walk_forward import _FLOAT_FIELDS
from metasignal.data.calendar import DateLike
from metasignal.data.store import Store
from metasignal.errors import StoreError
from metasignal.signals import latest_round, meta_signal

__all__ = ["SNAPSHOT_FIELDS", "SignalSpec", "SnapshotStore", "open_snapshot", "write_snapshot"]

SNAPSHOT_FIELDS = (*_FLOAT_FIELDS, "in_universe")
SignalSpec = tuple[str, float]  # (meta-signal method, min_stake)
_SCHEDULE_KEY = "round_schedule"  # the store meta the round calendar reads (RoundCalendar.of)
_FILES = ("trading_days", "securities", "daily", "signals", "known_rounds")


def _grid_days(store: Store, ranges: Sequence[tuple[DateLike, DateLike]], lookback: int
               ) -> tuple[pd.DatetimeIndex, pd.DatetimeIndex]:
    """(grid days: from the earliest range start less ``lookback + 1`` days to the last end,
    the trading days inside some range), as :class:`MarketPanels` reads them."""
    calendar = store.trading_days()
    firsts, inside = [], []
    for start, end in ranges:
        days = store.trading_days(start, end)
        if len(days) == 0:
            raise StoreError(f"no trading day between {pd.Timestamp(start).date()} and {pd.Timestamp(end).date()}")
        firsts.append(calendar[max(0, int(calendar.searchsorted(days[0])) - lookback - 1)])
        inside.append(days)
    union = inside[0]
    for days in inside[1:]:
        union = union.union(days)
    last = max(span[-1] for span in inside)
    return store.trading_days(min(firsts), last), union


def _daily_frame(store: Store, days: pd.DatetimeIndex, tickers: pd.Index) -> pd.DataFrame:
    """The snapshot fields on the ``days x tickers`` grid as long rows; cells with nothing known
    (every float NaN and out of the universe) are left out."""
    arrays = store.daily_arrays(SNAPSHOT_FIELDS, days, tickers)
    present = arrays["in_universe"].copy()
    for name in _FLOAT_FIELDS:
        present |= ~np.isnan(arrays[name])
    rows, cols = np.nonzero(present)
    frame = pd.DataFrame({"date": days[rows], "ticker": np.asarray(tickers, dtype=object)[cols]})
    for name in SNAPSHOT_FIELDS:
        frame[name] = arrays[name][rows, cols]
    return frame


def _signal_frames(store: Store, days: pd.DatetimeIndex, specs: Sequence[SignalSpec]
                   ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(signals: one row per round, spec and ticker; known_rounds: day -> round date)."""
    known = []
    for day in days:
        try:
            known.append(latest_round(store, day))
        except StoreError:
            known.append(pd.NaT)
    rounds = pd.DataFrame({"date": days, "round_date": pd.DatetimeIndex(known)})
    parts = []
    for round_date in rounds["round_date"].dropna().unique():
        for method, min_stake in specs:
            values = meta_signal(store, round_date, method=method, min_stake=min_stake)
            parts.append(pd.DataFrame({
                "round_date": pd.Timestamp(round_date), "method": method, "min_stake": float(min_stake),
                "ticker": values.index.astype(str), "value": values.to_numpy(dtype=float)}))
    columns = ["round_date", "method", "min_stake", "ticker", "value"]
    signals = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=columns)
    return signals, rounds


def _digest(folder: Path, manifest: dict) -> str:
    """sha256 of the manifest (without its hash) and every data file's bytes, in a fixed order."""
    digest = hashlib.sha256(json.dumps(manifest, sort_keys=True).encode())
    for name in _FILES:
        digest.update((folder / f"{name}.parquet").read_bytes())
    return digest.hexdigest()


def write_snapshot(store: Store, root: str | os.PathLike, ranges: Sequence[tuple[DateLike, DateLike]], *,
                   lookback: int, signals: Sequence[SignalSpec] = (("stake_weighted", 0.0),)) -> Path:
    """Write the walk-forward inputs of ``ranges`` (``(start, end)`` pairs) known at the store's
    clock into ``root/<sha256>/`` and return that folder (kept as is when it already exists).

    lookback: the largest ``risk_lookback`` (trading days) of the configs that will read it;
    signals: the ``(meta_method, min_stake)`` pairs they use.
    """
    specs = sorted({(str(method), float(stake)) for method, stake in signals})
    grid, inside = _grid_days(store, ranges, lookback)
    securities = store.securities()
    securities.index = pd.Index(securities.index.astype(str), name="ticker")
    daily = _daily_frame(store, grid, securities.index)
    signal_rows, known = _signal_frames(store, inside, specs)
    manifest = {
        "format": 1, "now": str(store.now()), "visible_through": str(store.visible_through().date()),
        "meta": {_SCHEDULE_KEY: store.get_meta(_SCHEDULE_KEY)},
        "ranges": [[str(pd.Timestamp(s).date()), str(pd.Timestamp(e).date())] for s, e in ranges],
        "lookback": int(lookback), "signals": [list(spec) for spec in specs],
        "grid": [str(grid[0].date()), str(grid[-1].date())],
    }
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".snapshot-", dir=root))
    try:
        pd.DataFrame({"date": store.trading_days()}).to_parquet(staging / "trading_days.parquet", index=False)
        securities.to_parquet(staging / "securities.parquet")
        daily.to_parquet(staging / "daily.parquet", index=False)
        signal_rows.to_parquet(staging / "signals.parquet", index=False)
        known.to_parquet(staging / "known_rounds.parquet", index=False)
        manifest["hash"] = _digest(staging, manifest)
        (staging / "manifest.json").write_text(json.dumps(manifest, indent=1, sort_keys=True), encoding="utf-8")
        final = root / manifest["hash"][:16]
        if final.exists():
            shutil.rmtree(staging)
        else:
            os.replace(staging, final)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return final


class SnapshotStore:
    """Read-only stand-in for :class:`Store` over a snapshot folder: the methods the walk-forward
    and :func:`calendar_lagged` call (``trading_days``, ``securities``, ``daily_arrays``,
    ``get_meta``, ``now``, ``visible_through``) plus :meth:`signal`, the stored meta-signal
    source. ``hash``: the snapshot's content hash. Picklable (to ship it to workers)."""

    def __init__(self, folder: str | os.PathLike):
        folder = Path(folder)
        if not (folder / "manifest.json").exists():
            raise StoreError(f"{folder} is not a metasignal snapshot (no manifest.json)")
        self.folder = folder
        self.manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
        self.hash: str = self.manifest["hash"]
        self._days = pd.DatetimeIndex(pd.read_parquet(folder / "trading_days.parquet")["date"], name="date")
        self._securities = pd.read_parquet(folder / "securities.parquet")
        daily = pd.read_parquet(folder / "daily.parquet")
        self._grid = pd.DatetimeIndex(self._days[(self._days >= self.manifest["grid"][0])
                                                 & (self._days <= self.manifest["grid"][1])])
        rows = self._grid.get_indexer(pd.DatetimeIndex(daily["date"]))
        cols = self._securities.index.get_indexer(daily["ticker"].astype(str))
        shape = (len(self._grid), len(self._securities))
        self._arrays: dict[str, np.ndarray] = {}
        for name in SNAPSHOT_FIELDS:
            values = np.zeros(shape, dtype=bool) if name == "in_universe" else np.full(shape, np.nan)
            values[rows, cols] = daily[name].to_numpy()
            self._arrays[name] = values
        self._signals = pd.read_parquet(folder / "signals.parquet")
        known = pd.read_parquet(folder / "known_rounds.parquet")
        self._known = pd.Series(pd.DatetimeIndex(known["round_date"]), index=pd.DatetimeIndex(known["date"]))

    # ------------------------------------------------------------------ Store's readers
    def now(self) -> pd.Timestamp:
        """The store clock's time when the snapshot was taken."""
        return pd.Timestamp(self.manifest["now"])

    def visible_through(self) -> pd.Timestamp:
        return pd.Timestamp(self.manifest["visible_through"])

    def get_meta(self, key: str, default: str | None = None) -> str | None:
        value = self.manifest["meta"].get(key)
        return default if value is None else value

    def securities(self) -> pd.DataFrame:
        """The securities known at the snapshot's clock (a copy)."""
        return self._securities.copy()

    def trading_days(self, start=None, end=None) -> pd.DatetimeIndex:
        """Store days within ``[start, end]`` known at the snapshot's clock."""
        if start is not None and end is not None and pd.Timestamp(start) > pd.Timestamp(end):
            raise StoreError(f"empty date range: start {pd.Timestamp(start).date()} is after end "
                             f"{pd.Timestamp(end).date()}")
        days = self._days
        first = 0 if start is None else days.searchsorted(pd.Timestamp(start).normalize(), side="left")
        last = len(days) if end is None else days.searchsorted(pd.Timestamp(end).normalize(), side="right")
        return days[first:last]

    def daily_arrays(self, fields: Sequence[str], days: pd.DatetimeIndex, tickers: pd.Index) -> dict[str, np.ndarray]:
        """Fields on a ``days x tickers`` grid (as :meth:`Store.daily_arrays`); every day must lie
        on the snapshot's grid (else the snapshot was written for other ranges: ``StoreError``)."""
        rows = self._grid.get_indexer(pd.DatetimeIndex(days))
        if (rows < 0).any():
            missing = pd.DatetimeIndex(days)[rows < 0][0]
            raise StoreError(f"the snapshot {self.folder.name} has no data for {missing.date()} "
                             f"(its grid is {self.manifest['grid'][0]} to {self.manifest['grid'][1]})")
        cols = self._securities.index.get_indexer(pd.Index(tickers).astype(str))
        arrays = {}
        for name in fields:
            source = self._arrays[name]
            picked = source[np.ix_(rows, np.maximum(cols, 0))]
            picked[:, cols < 0] = False if name == "in_universe" else np.nan
            arrays[name] = picked
        return arrays

    # ------------------------------------------------------------------ the signal
    def signal(self, method: str = "stake_weighted", min_stake: float = 0.0) -> Callable[[pd.Timestamp], pd.Series]:
        """The walk-forward's default signal source (:func:`submissions_signal`) from the stored
        meta-signals: at ``t``, the meta-signal of the latest round on or before ``t``."""
        chosen = self._signals[(self._signals["method"] == method) & (self._signals["min_stake"] == float(min_stake))]
        if chosen.empty and len(self._signals):
            raise StoreError(f"the snapshot {self.folder.name} holds no meta-signal for method {method!r}, "
                             f"min_stake {min_stake:g}")
        by_round = {day: pd.Series(rows["value"].to_numpy(), index=pd.Index(rows["ticker"].astype(str), name="ticker"),
                                   name="meta_signal")
                    for day, rows in chosen.groupby("round_date", sort=True)}

        def known(date: pd.Timestamp) -> pd.Series:
            day = pd.Timestamp(date).normalize()
            round_date = self._known.get(day, pd.NaT)
            if pd.isna(round_date):
                raise StoreError(f"no round on or before {day.date()} has an on-time submission in the snapshot")
            return by_round[pd.Timestamp(round_date)]

        return known


_OPENED: dict[str, SnapshotStore] = {}


def open_snapshot(folder: str | os.PathLike) -> SnapshotStore:
    """The snapshot at ``folder``, read once per process (a worker reuses it across tasks)."""
    key = str(Path(folder).resolve())
    if key not in _OPENED:
        _OPENED.clear()  # one snapshot per process at a time: memory stays one snapshot's
        _OPENED[key] = SnapshotStore(folder)
    return _OPENED[key]
