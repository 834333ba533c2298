"""Files of point-in-time reference data: security history, corporate actions, FX rates.

Formats (CSV or Parquet, column names case-insensitive, one row per key):

- security history: ``ticker, effective`` and at least one of ``shares_outstanding, sector,
  industry, country`` (a blank cell states nothing); key ``(ticker, effective)``;
- corporate actions: ``ticker, date`` (the ex-date) and ``split_ratio`` (new shares per old
  share, 2 for 2:1) and/or ``dividend`` (cash per share of the ex-date's basis, in the
  security's currency); key ``(ticker, date)``;
- FX rates: ``date, currency, usd_per_unit`` (dollars per unit of a major currency, e.g.
  ``GBP``; minor units such as ``GBp`` are converted from their major currency); key
  ``(date, currency)``.

Each validator returns the normalized rows or raises :class:`DataValidationError` naming the
file, the line(s), the column and the rule. :data:`REFERENCE_KINDS` tells the three apart by
their columns for ``import_file``; :func:`write_reference` writes one validated kind.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from metasignal.data.schema import SECURITY_HISTORY_FIELDS
from metasignal.data.store import Store
from metasignal.errors import DataValidationError, UnknownTickerError

HISTORY_FORMAT = "ticker,effective[,shares_outstanding,sector,industry,country]"
ACTIONS_FORMAT = "ticker,date[,split_ratio][,dividend]"
FX_FORMAT = "date,currency,usd_per_unit"


def _lines(positions: np.ndarray) -> str:
    from metasignal.data.file_loader import _line  # the importer's own line numbering (header = line 1)

    return _line(positions)


def _require(frame: pd.DataFrame, source: str, required: tuple[str, ...], fmt: str) -> None:
    missing = [c for c in required if c not in frame.columns]
    if missing:
        raise DataValidationError(f"{source}: missing required column(s) {', '.join(missing)} (expected {fmt})")


def _dates(frame: pd.DataFrame, column: str, source: str) -> pd.Series:
    dates = pd.to_datetime(frame[column], errors="coerce")
    bad = np.flatnonzero(dates.isna().to_numpy())
    if bad.size:
        raise DataValidationError(f"{source}: column {column}: missing or unparseable date on line(s) {_lines(bad)}")
    return dates.dt.tz_localize(None).dt.normalize() if dates.dt.tz is not None else dates.dt.normalize()


def _numbers(frame: pd.DataFrame, column: str, source: str, rule: str, valid: Callable[[np.ndarray], np.ndarray],
             *, required: bool = False) -> pd.Series:
    """The column as floats (NaN where blank, unless ``required``); a non-numeric value or one
    failing ``valid`` is an error naming ``rule``."""
    given = frame[column].notna().to_numpy()
    values = pd.to_numeric(frame[column], errors="coerce").astype(float)
    numbers = values.to_numpy()
    bad = np.flatnonzero((given | required) & ~np.isfinite(numbers))
    if bad.size:
        raise DataValidationError(f"{source}: column {column}: non-numeric or missing value on line(s) {_lines(bad)}")
    bad = np.flatnonzero(np.isfinite(numbers) & ~valid(numbers))
    if bad.size:
        raise DataValidationError(f"{source}: column {column}: {rule} (line(s) {_lines(bad)})")
    return values


def _no_duplicates(frame: pd.DataFrame, keys: list[str], source: str) -> None:
    duplicated = np.flatnonzero(frame.duplicated(keys).to_numpy())
    if duplicated.size:
        raise DataValidationError(f"{source}: duplicate ({', '.join(keys)}) on line(s) {_lines(duplicated)}")


def _text(series: pd.Series) -> pd.Series:
    text = series.astype(object).where(series.notna())
    stripped = text.map(lambda value: value if pd.isna(value) else str(value).strip())
    return stripped.where(stripped != "")


def validate_security_history(frame: pd.DataFrame, source: str = "security history") -> pd.DataFrame:
    """Rows ``(ticker, effective, shares_outstanding, sector, industry, country)``; a row must
    state at least one field, and a share count is positive."""
    _require(frame, source, ("ticker", "effective"), HISTORY_FORMAT)
    fields = [c for c in SECURITY_HISTORY_FIELDS if c in frame.columns]
    if not fields:
        raise DataValidationError(f"{source}: no field column: give at least one of "
                                  f"{', '.join(SECURITY_HISTORY_FIELDS)} (expected {HISTORY_FORMAT})")
    out = pd.DataFrame({"ticker": _text(frame["ticker"]), "effective": _dates(frame, "effective", source)})
    blank = np.flatnonzero(out["ticker"].isna().to_numpy())
    if blank.size:
        raise DataValidationError(f"{source}: column ticker: empty value on line(s) {_lines(blank)}")
    for column in SECURITY_HISTORY_FIELDS:
        if column == "shares_outstanding" and column in frame.columns:
            out[column] = _numbers(frame, column, source, "a share count must be positive", lambda x: x > 0)
        else:
            out[column] = _text(frame[column]) if column in frame.columns else None
    empty = np.flatnonzero(out[list(SECURITY_HISTORY_FIELDS)].isna().all(axis=1).to_numpy())
    if empty.size:
        raise DataValidationError(f"{source}: line(s) {_lines(empty)} state no field ({', '.join(fields)} all blank)")
    _no_duplicates(out, ["ticker", "effective"], source)
    return out


def validate_actions(frame: pd.DataFrame, source: str = "corporate actions") -> pd.DataFrame:
    """Rows ``(ticker, date, split_ratio, dividend)``: a split ratio is positive, a dividend is
    not negative, and a row states one of them."""
    _require(frame, source, ("ticker", "date"), ACTIONS_FORMAT)
    if not {"split_ratio", "dividend"} & set(frame.columns):
        raise DataValidationError(f"{source}: no split_ratio nor dividend column (expected {ACTIONS_FORMAT})")
    out = pd.DataFrame({"ticker": _text(frame["ticker"]), "date": _dates(frame, "date", source)})
    blank = np.flatnonzero(out["ticker"].isna().to_numpy())
    if blank.size:
        raise DataValidationError(f"{source}: column ticker: empty value on line(s) {_lines(blank)}")
    out["split_ratio"] = (_numbers(frame, "split_ratio", source, "a split ratio (new shares per old) must be positive",
                                   lambda x: x > 0) if "split_ratio" in frame.columns else np.nan)
    out["dividend"] = (_numbers(frame, "dividend", source, "a dividend must not be negative", lambda x: x >= 0)
                       if "dividend" in frame.columns else np.nan)
    empty = np.flatnonzero((out["split_ratio"].isna() & out["dividend"].isna()).to_numpy())
    if empty.size:
        raise DataValidationError(f"{source}: line(s) {_lines(empty)} state neither a split_ratio nor a dividend")
    _no_duplicates(out, ["ticker", "date"], source)
    return out


def validate_fx_rates(frame: pd.DataFrame, source: str = "fx rates") -> pd.DataFrame:
    """Rows ``(date, currency, usd_per_unit)``: a major three-letter code other than USD (USD is
    1 by definition), a positive rate."""
    _require(frame, source, ("date", "currency", "usd_per_unit"), FX_FORMAT)
    out = pd.DataFrame({"date": _dates(frame, "date", source), "currency": _text(frame["currency"])})
    code = out["currency"].fillna("")
    bad = np.flatnonzero(~code.str.fullmatch(r"[A-Z]{3}").to_numpy() | (code == "USD").to_numpy())
    if bad.size:
        raise DataValidationError(
            f"{source}: column currency: not a major three-letter code other than USD on line(s) {_lines(bad)} "
            "(minor units such as GBp are converted from their major currency; USD is 1)")
    out["usd_per_unit"] = _numbers(frame, "usd_per_unit", source, "a rate must be positive", lambda x: x > 0,
                                   required=True)
    _no_duplicates(out, ["date", "currency"], source)
    return out


def _is_security_history(columns: set[str]) -> bool:
    return {"ticker", "effective"} <= columns


def _is_actions(columns: set[str]) -> bool:
    return {"ticker", "date"} <= columns and bool({"split_ratio", "dividend"} & columns) and "close" not in columns


def _is_fx_rates(columns: set[str]) -> bool:
    return {"date", "currency", "usd_per_unit"} <= columns and "ticker" not in columns


# checked before the bars and securities kinds (their columns overlap): (kind, test on columns)
REFERENCE_KINDS: tuple[tuple[str, Callable[[set[str]], bool]], ...] = (
    ("security_history", _is_security_history),
    ("corporate_actions", _is_actions),
    ("fx_rates", _is_fx_rates),
)


def write_reference(store: Store, kind: str, frame: pd.DataFrame, source: str) -> int:
    """Validate a read file of ``kind`` (one of :data:`REFERENCE_KINDS`) and write it (replacing
    its keys; joins the caller's transaction). Tickers resolve like a bars file's; an unknown one
    is an error. Returns rows written."""
    from metasignal.data.file_loader import resolve_tickers

    if kind == "fx_rates":
        return store.write_fx_rates(validate_fx_rates(frame, source))
    rows = validate_security_history(frame, source) if kind == "security_history" else validate_actions(frame, source)
    resolved = resolve_tickers(rows["ticker"], store.securities(include_future=True))
    unknown = sorted(set(rows.loc[resolved.isna(), "ticker"]))
    if unknown:
        shown = ", ".join(unknown[:5]) + (f" and {len(unknown) - 5} more" if len(unknown) > 5 else "")
        raise UnknownTickerError(f"{source}: unknown ticker(s) {shown}: import a securities file with them first")
    rows = rows.assign(ticker=resolved.astype(str))
    keys = ["ticker", "effective" if kind == "security_history" else "date"]
    _no_duplicates(rows, keys, f"{source} (two ids name the same security)")
    if kind == "security_history":
        return store.write_security_history(rows)
    return store.write_actions(rows)
