"""Import market data from files: bars (long or wide) and securities, CSV or Parquet.

Kinds of file, told apart by their columns (:data:`FILE_KINDS`, first match wins):

- long bars: one row per ``(date, ticker)`` with ``date, ticker, close`` and optionally
  ``volume, open, high, low, adj_close`` (``adj_close`` defaults to ``close``; a missing or
  blank volume is stored as unknown, NaN: see the degraded modes in :mod:`metasignal.data.derived`);
- wide closes: a ``date`` column and one numeric column per ticker holding closes (the common
  ``date x ticker`` price file); reshaped to long bars without volume, a blank cell is no bar;
- securities: ``ticker, country, sector`` and optionally the other ``securities`` columns.

Tickers of a bars file are the store's canonical ids (``"AAPL US"``); a ticker the store does
not know is matched to a security whose ``yahoo_symbol`` is that id, else to the one security
whose symbol (the part before the space) it is. Everything is validated before the store is
touched, then written, re-derived and checked (:mod:`metasignal.data.import_checks`) in one
transaction: an import whose universe is empty on every date is refused, and a refused or
failed import leaves the store exactly as it was.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from metasignal.data.derive import Progress, derive_store
from metasignal.data.import_checks import ImportReport, check_store
from metasignal.data.reference_files import REFERENCE_KINDS, write_reference
from metasignal.data.schema import SECURITY_COLUMNS
from metasignal.data.store import Store
from metasignal.errors import DataValidationError, UnknownTickerError

BAR_REQUIRED = ("date", "ticker", "close")
BAR_OPTIONAL = ("volume", "open", "high", "low", "adj_close")
LONG_FORMAT = "date,ticker,close[,volume,open,high,low,adj_close]"
WIDE_FORMAT = "date,<ticker>,<ticker>,... (closes)"
SECURITIES_FORMAT = "ticker,country,sector[,shares_outstanding,industry,listed,delisted,...]"
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
    written = [str(c).strip() for c in frame.columns]
    frame.columns = [c.lower() for c in written]
    frame.attrs["columns_as_written"] = written  # wide files keep their tickers' case
    return frame


def _line(positions: np.ndarray) -> str:
    """File line numbers (header is line 1) of the first offending rows."""
    lines = [str(int(p) + 2) for p in positions[:5]]
    more = f" and {len(positions) - 5} more" if len(positions) > 5 else ""
    return ", ".join(lines) + more


def validate_bars(frame: pd.DataFrame, source: str = "bars") -> pd.DataFrame:
    """Check and normalize a long bars frame; errors name the rows, column and rule (file lines:
    ``frame.attrs["file_rows"]`` when the frame was reshaped from a wide file, else its row order)."""
    file_rows = np.asarray(frame.attrs.get("file_rows", np.arange(len(frame))))

    def lines_of(positions: np.ndarray) -> str:
        return _line(file_rows[positions])

    missing = [c for c in BAR_REQUIRED if c not in frame.columns]
    if missing:
        raise DataValidationError(f"{source}: missing required column(s) {', '.join(missing)} "
                                  f"(a long bars file has columns {LONG_FORMAT})")
    out = pd.DataFrame({"ticker": frame["ticker"].astype(str).str.strip()})
    dates = pd.to_datetime(frame["date"], errors="coerce")
    bad = np.flatnonzero(dates.isna().to_numpy())
    if bad.size:
        raise DataValidationError(f"{source}: column date: unparseable date on line(s) {lines_of(bad)}")
    out["date"] = dates.dt.tz_localize(None).dt.normalize() if dates.dt.tz is not None else dates.dt.normalize()
    for column in ("close", *BAR_OPTIONAL):
        if column not in frame.columns:
            continue
        values = pd.to_numeric(frame[column], errors="coerce")
        bad = np.flatnonzero(~np.isfinite(values.to_numpy(dtype=float)) & frame[column].notna().to_numpy())
        if column in ("close", "adj_close"):  # adj_close, when given, makes every return
            bad = np.flatnonzero(~np.isfinite(values.to_numpy(dtype=float)))
        if bad.size:
            raise DataValidationError(f"{source}: column {column}: non-numeric or missing value on line(s) {lines_of(bad)}")
        negative = np.flatnonzero((values <= 0).to_numpy() if column != "volume" else (values < 0).to_numpy())
        if negative.size:
            rule = "prices must be positive" if column != "volume" else "volume must not be negative"
            raise DataValidationError(f"{source}: column {column}: {rule} (line(s) {lines_of(negative)})")
        out[column] = values.astype(float)
    if "adj_close" not in out:
        out["adj_close"] = out["close"]
    if "volume" not in out:
        out["volume"] = np.nan  # unknown, not 0
    duplicated = np.flatnonzero(out.duplicated(["date", "ticker"]).to_numpy())
    if duplicated.size:
        raise DataValidationError(f"{source}: duplicate (date, ticker) on line(s) {lines_of(duplicated)}")
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


def wide_to_long(frame: pd.DataFrame, source: str = "wide bars") -> pd.DataFrame:
    """A wide ``date x ticker`` close file -> long ``date, ticker, close`` rows (blank cells dropped).

    Ticker columns keep the case they were written in; a non-numeric cell is an error naming
    its line and column."""
    written = frame.attrs.get("columns_as_written", list(frame.columns))
    tickers = [name for name, lower in zip(written, frame.columns) if lower != "date"]
    values = frame.drop(columns="date")
    numeric = values.apply(pd.to_numeric, errors="coerce")
    for bad, rule in ((numeric.isna() & values.notna(), "non-numeric close"), (numeric <= 0, "prices must be positive")):
        if bad.to_numpy().any():
            column = int(np.flatnonzero(bad.any(axis=0).to_numpy())[0])
            lines = np.flatnonzero(bad.iloc[:, column].to_numpy())
            raise DataValidationError(f"{source}: column {tickers[column]}: {rule} on line(s) {_line(lines)} "
                                      f"(a wide file has columns {WIDE_FORMAT})")
    numeric.columns = tickers
    numeric.insert(0, "date", frame["date"].to_numpy())
    long = numeric.melt(id_vars="date", var_name="ticker", value_name="close")
    line = np.tile(np.arange(len(frame)), len(tickers))  # keeps each row's file line for errors
    keep = long["close"].notna().to_numpy()
    long = long[keep].reset_index(drop=True)
    long.attrs["file_rows"] = line[keep]
    return long


def _is_long_bars(columns: set[str]) -> bool:
    return {"date", "ticker"} <= columns


def _is_wide_closes(columns: set[str]) -> bool:
    return "date" in columns and "ticker" not in columns and len(columns) > 1


def _is_securities(columns: set[str]) -> bool:
    return "ticker" in columns and "date" not in columns


# (kind, whether a file with these lower-cased column names is of that kind); first match wins
FILE_KINDS: tuple[tuple[str, Callable[[set[str]], bool]], ...] = (
    *REFERENCE_KINDS,  # security history, corporate actions, FX rates (metasignal.data.reference_files)
    ("bars", _is_long_bars),
    ("wide closes", _is_wide_closes),
    ("securities", _is_securities),
)


def file_kind(frame: pd.DataFrame, source: str) -> str:
    """Which of :data:`FILE_KINDS` a read frame is; else an error naming the columns found and the formats."""
    columns = set(frame.columns)
    for kind, looks_like in FILE_KINDS:
        if looks_like(columns):
            return kind
    found = ", ".join(frame.attrs.get("columns_as_written", list(frame.columns))[:8])
    raise DataValidationError(f"{source}: not a bars or securities file (found columns {found}): expected long bars "
                              f"{LONG_FORMAT}, wide closes {WIDE_FORMAT}, or securities {SECURITIES_FORMAT}")


def resolve_tickers(tickers: pd.Series, securities: pd.DataFrame) -> pd.Series:
    """The store's canonical ticker for each id (same index; NA where unknown): the id itself,
    else the security whose ``yahoo_symbol`` it is, else the only security with that symbol."""
    known = pd.Index(securities.index.astype(str))
    resolved = tickers.where(tickers.isin(known))
    lookups = []
    if "yahoo_symbol" in securities.columns:
        yahoo = securities["yahoo_symbol"].dropna().astype(str)
        lookups.append(pd.Series(yahoo.index.astype(str), index=yahoo.to_numpy()))
    symbols = pd.Series(known, index=known.str.split(" ").str[0])
    lookups.append(symbols[~symbols.index.duplicated(keep=False)])
    for lookup in lookups:
        lookup = lookup[~lookup.index.duplicated(keep=False)]
        resolved = resolved.fillna(tickers.map(lookup))
    return resolved


def _import_bars(store: Store, bars: pd.DataFrame, name: str, progress: Progress | None) -> "ImportResult":
    securities = store.securities(include_future=True)
    resolved = resolve_tickers(bars["ticker"], securities)
    unknown = sorted(set(bars.loc[resolved.isna(), "ticker"]))
    if unknown:
        shown = ", ".join(unknown[:5]) + (f" and {len(unknown) - 5} more" if len(unknown) > 5 else "")
        raise UnknownTickerError(f"{name}: unknown ticker(s) {shown}: import a securities file with them first")
    bars = bars.assign(ticker=resolved.astype(str))
    duplicated = np.flatnonzero(bars.duplicated(["date", "ticker"]).to_numpy())
    if duplicated.size:
        raise DataValidationError(f"{name}: two ids name the same security: duplicate (date, ticker) on line(s) "
                                  f"{_line(duplicated)}")
    with store.transaction():
        rows = store.write_bars(bars)
        store.set_meta("source", "files")
        counts = derive_store(store, progress=progress)
        report = check_store(store)
        if report.refusal:
            raise DataValidationError(f"{name}: refused, nothing imported: {report.refusal}")
    return ImportResult({"bars": rows, **counts}, report)


@dataclass(frozen=True)
class ImportResult:
    """What an import wrote (rows per table) and the store's check report after it (None for a
    securities file imported before any bars)."""

    counts: dict[str, int]
    report: ImportReport | None


def import_file(store: Store, path: str | Path, *, progress: Progress | None = None) -> ImportResult:
    """Import one bars (long or wide) or securities file into the store atomically, re-derive
    and check it (:func:`metasignal.data.import_checks.check_store`).

    Bars for tickers the store (or the same import) does not know raise
    :class:`UnknownTickerError`: import the securities file first. An import whose derived
    universe is empty on every date raises :class:`DataValidationError` and writes nothing.
    """
    frame = read_table(path)
    name = Path(path).name
    kind = file_kind(frame, name)
    if kind in dict(REFERENCE_KINDS):
        with store.transaction():
            rows = write_reference(store, kind, frame, name)
            report = None
            if store.one("SELECT count(*) FROM bars")[0]:
                derive_store(store, progress=progress)
                report = check_store(store)
        return ImportResult({kind: rows}, report)
    if kind == "bars":
        return _import_bars(store, validate_bars(frame, name), name, progress)
    if kind == "wide closes":
        return _import_bars(store, validate_bars(wide_to_long(frame, name), name), name, progress)
    securities = validate_securities(frame, name)
    with store.transaction():
        rows = store.write_securities(securities)
        report = None
        if store.one("SELECT count(*) FROM bars")[0]:
            derive_store(store, progress=progress)
            report = check_store(store)
    return ImportResult({"securities": rows}, report)
