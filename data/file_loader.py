"""Import market data from files: long-format bars and securities, CSV or Parquet.

Bars files have one row per ``(date, ticker)`` with ``date, ticker, close, volume`` and
optionally ``open, high, low, adj_close`` (``adj_close`` defaults to ``close``). Securities
files have ``ticker, country, sector`` and optionally the other ``securities`` columns.
Which kind a file is follows from its columns. Everything is validated before the store
is touched, then written and re-derived in one transaction: a failed import leaves the
store exactly as it was.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from metasignal.data.derive import Progress, derive_store
from metasignal.data.schema import SECURITY_COLUMNS
from metasignal.data.store import Store
from metasignal.errors import DataValidationError, UnknownTickerError

BAR_REQUIRED = ("date", "ticker", "close", "volume")
BAR_OPTIONAL = ("open", "high", "low", "adj_close")
SECURITY_REQUIRED = ("ticker", "country", "sector")


def read_table(path: str | Path) -> pd.DataFrame:
    """Read a CSV or Parquet file; column names are stripped and lower-cased."""
    path = Path(path)
    if not path.exists():
        raise DataValidationError(f"{path}: no such file")
    try:
        if path.suffix.lower() in (".parquet", ".pq"):
            frame = pd.read_parquet(path)
        else:
            frame = pd.read_csv(path, encoding="utf-8-sig", skipinitialspace=True)
    except (ValueError, OSError, pd.errors.ParserError) as error:
        raise DataValidationError(f"{path}: cannot be read as {'Parquet' if path.suffix.lower() in ('.parquet', '.pq') else 'CSV'} ({error})") from None
    if frame.empty:
        raise DataValidationError(f"{path}: the file has no rows")
    frame.columns = [str(c).strip().lower() for c in frame.columns]
    return frame


def _line(positions: np.ndarray) -> str:
    """File line numbers (header is line 1) of the first offending rows."""
    lines = [str(int(p) + 2) for p in positions[:5]]
    more = f" and {len(positions) - 5} more" if len(positions) > 5 else ""
    return ", ".join(lines) + more


def validate_bars(frame: pd.DataFrame, source: str = "bars") -> pd.DataFrame:
    """Check and normalize a long bars frame; errors name the rows, column and rule."""
    missing = [c for c in BAR_REQUIRED if c not in frame.columns]
    if missing:
        raise DataValidationError(f"{source}: missing required column(s) {', '.join(missing)}")
    out = pd.DataFrame({"ticker": frame["ticker"].astype(str).str.strip()})
    dates = pd.to_datetime(frame["date"], errors="coerce")
    bad = np.flatnonzero(dates.isna().to_numpy())
    if bad.size:
        raise DataValidationError(f"{source}: column date: unparseable date on line(s) {_line(bad)}")
    out["date"] = dates.dt.tz_localize(None).dt.normalize() if dates.dt.tz is not None else dates.dt.normalize()
    for column in ("close", "volume", *BAR_OPTIONAL):
        if column not in frame.columns:
            continue
        values = pd.to_numeric(frame[column], errors="coerce")
        bad = np.flatnonzero(~np.isfinite(values.to_numpy(dtype=float)) & frame[column].notna().to_numpy())
        if column in ("close", "volume", "adj_close"):  # adj_close, when given, makes every return
            bad = np.flatnonzero(~np.isfinite(values.to_numpy(dtype=float)))
        if bad.size:
            raise DataValidationError(f"{source}: column {column}: non-numeric or missing value on line(s) {_line(bad)}")
        negative = np.flatnonzero((values <= 0).to_numpy() if column != "volume" else (values < 0).to_numpy())
        if negative.size:
            rule = "prices must be positive" if column != "volume" else "volume must not be negative"
            raise DataValidationError(f"{source}: column {column}: {rule} (line(s) {_line(negative)})")
        out[column] = values.astype(float)
    if "adj_close" not in out:
        out["adj_close"] = out["close"]
    duplicated = np.flatnonzero(out.duplicated(["date", "ticker"]).to_numpy())
    if duplicated.size:
        raise DataValidationError(f"{source}: duplicate (date, ticker) on line(s) {_line(duplicated)}")
    return out


def validate_securities(frame: pd.DataFrame, source: str = "securities") -> pd.DataFrame:
    """Check and normalize a securities frame."""
    missing = [c for c in SECURITY_REQUIRED if c not in frame.columns]
    if missing:
        raise DataValidationError(f"{source}: missing required column(s) {', '.join(missing)}")
    known = [c for c in SECURITY_COLUMNS if c in frame.columns]
    out = frame[known].copy()
    out["ticker"] = out["ticker"].astype(str).str.strip()
    for column in SECURITY_REQUIRED:
        blank = np.flatnonzero((out[column].isna() | (out[column].astype(str).str.strip() == "")).to_numpy())
        if blank.size:
            raise DataValidationError(f"{source}: column {column}: empty value on line(s) {_line(blank)}")
    duplicated = np.flatnonzero(out["ticker"].duplicated().to_numpy())
    if duplicated.size:
        raise DataValidationError(f"{source}: duplicate ticker on line(s) {_line(duplicated)}")
    if "shares_outstanding" in out:
        given = out["shares_outstanding"].notna().to_numpy()
        values = pd.to_numeric(out["shares_outstanding"], errors="coerce")
        bad = np.flatnonzero(given & ~np.isfinite(values.to_numpy(dtype=float)))
        if bad.size:
            raise DataValidationError(f"{source}: column shares_outstanding: non-numeric value on line(s) {_line(bad)}")
        out["shares_outstanding"] = values.astype(float)
    for column in ("listed", "delisted"):
        if column in out:
            dates = pd.to_datetime(out[column], errors="coerce")
            bad = np.flatnonzero((dates.isna() & out[column].notna()).to_numpy())
            if bad.size:
                raise DataValidationError(f"{source}: column {column}: unparseable date on line(s) {_line(bad)}")
            out[column] = dates
    return out


def import_file(store: Store, path: str | Path, *, progress: Progress | None = None) -> dict[str, int]:
    """Import one bars or securities file into the store atomically, then re-derive.

    Bars for tickers the store (or the same import) does not know raise
    :class:`UnknownTickerError`: import the securities file first.
    """
    frame = read_table(path)
    name = Path(path).name
    if "date" in frame.columns:
        bars = validate_bars(frame, name)
        known = set(store.securities(include_future=True).index)
        unknown = sorted(set(bars["ticker"]) - known)
        if unknown:
            shown = ", ".join(unknown[:5]) + (f" and {len(unknown) - 5} more" if len(unknown) > 5 else "")
            raise UnknownTickerError(f"{name}: unknown ticker(s) {shown}: import a securities file with them first")
        with store.transaction():
            rows = store.write_bars(bars)
            store.set_meta("source", "files")
            counts = derive_store(store, progress=progress)
        return {"bars": rows, **counts}
    securities = validate_securities(frame, name)
    with store.transaction():
        rows = store.write_securities(securities)
        if store.one("SELECT count(*) FROM bars")[0]:
            derive_store(store, progress=progress)
    return {"securities": rows}
