"""Read and validate a signal submission file (CSV or Parquet).

Two steps, both pure functions of their inputs:

1. :func:`parse_submission` reads the file and checks everything that does not need
   the market: size (before reading), encoding, columns, ids, values, dates.
   Accepted: UTF-8 with or without BOM, CRLF or LF line ends, quoted fields, spaces
   around headers and values, header names in any case, blank lines, trailing empty
   columns. Columns: exactly one id column (``ticker``, ``numerai_ticker``,
   ``bloomberg_ticker``, ``composite_figi``, ``sedol``), exactly one value column
   (``signal`` or ``prediction``), an optional date column (``date`` or ``friday_date``,
   ``YYYY-MM-DD`` or ``YYYYMMDD``), in any order; a deprecated ``data_type`` column is
   dropped with a warning. Values must be finite numbers in ``[0, 1]`` (values within
   1e-8 outside are clipped). A file may hold many dates.
2. :func:`validate_submission` maps the ids onto canonical tickers and each date's
   universe: unknown ids and ids outside the universe are dropped and reported; per
   date, a ticker may appear once, at least ``min_tickers`` must match and the signal
   must not be constant. :func:`validate_for_store` supplies the securities, the
   universe and the trading calendar from a store.

Every rejection is a :class:`SubmissionError` (a ``DataValidationError``) whose message
names the file lines (CSV, 1-based, header = line 1) or rows (Parquet, 1-based), the
column and the rule; ``error.rule``, ``error.column`` and ``error.lines`` carry the same.
"""

from __future__ import annotations

import csv
import io
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Callable, Mapping, Union

import numpy as np
import pandas as pd

from metasignal.data.calendar import DateLike
from metasignal.data.store import Store
from metasignal.errors import SubmissionError, SubmissionTooLargeError
from metasignal.signals.tickers import ID_COLUMNS, TickerMap

SIGNAL_COLUMNS: tuple[str, ...] = ("signal", "prediction")
DATE_COLUMNS: tuple[str, ...] = ("date", "friday_date")
DEPRECATED_COLUMNS: tuple[str, ...] = ("data_type",)
DEFAULT_MAX_BYTES = 100 * 2**20
DEFAULT_MIN_TICKERS = 100
VALUE_TOLERANCE = 1e-8
CONSTANT_STD = 1e-8
SHOWN = 5  # offending rows named in one message
_MISSING_TOKENS = frozenset({"", "nan", "-nan", "na", "n/a", "#n/a", "null", "none", "<na>"})
_PARQUET_MAGIC = b"PAR1"

Source = Union[str, os.PathLike, bytes, bytearray, memoryview, IO[bytes]]
Universe = Union[pd.Index, Callable[[pd.Timestamp], pd.Index], Mapping[pd.Timestamp, pd.Index]]




@dataclass(frozen=True)
class ParsedSubmission:
    """A well-formed submission file, not yet matched to the market.

    ``rows``: one row per data row of the file, columns ``line`` (int, 1-based file line
    for CSV / row for Parquet), ``id`` (str, stripped), ``date`` (datetime64, NaT when
    the file has no date column), ``signal`` (float64 in [0, 1]).
    """

    rows: pd.DataFrame
    id_column: str
    signal_column: str
    date_column: str | None
    file_format: str  # "csv" or "parquet"
    warnings: tuple[str, ...] = ()

    @property
    def unit(self) -> str:
        """How messages name a row: ``line`` for CSV, ``row`` for Parquet."""
        return "line" if self.file_format == "csv" else "row"

    @property
    def n_rows(self) -> int:
        return len(self.rows)


@dataclass(frozen=True)
class ValidatedSubmission:
    """A submission matched to the universe of each of its dates.

    ``frame``: columns ``date`` (datetime64), ``ticker`` (canonical, str), ``signal``
    (float64 in [0, 1]), sorted by date then ticker, unique per (date, ticker).
    ``dropped``: rows left out, columns ``line``, ``id``, ``date``, ``reason``
    (``unknown id`` or ``not in universe``).
    """

    frame: pd.DataFrame
    dropped: pd.DataFrame
    id_column: str
    signal_column: str
    date_column: str | None
    warnings: tuple[str, ...] = ()

    @property
    def n_accepted(self) -> int:
        return len(self.frame)

    @property
    def n_dropped(self) -> int:
        return len(self.dropped)

    @property
    def dropped_ids(self) -> list[str]:
        """The dropped ids as written in the file, each once, in file order."""
        return list(pd.unique(self.dropped["id"]))

    @property
    def dates(self) -> pd.DatetimeIndex:
        return pd.DatetimeIndex(pd.unique(self.frame["date"]), name="date")


# --------------------------------------------------------------------------- messages
def _where(unit: str, lines, values=None) -> str:
    lines = list(lines)
    shown = []
    for i, line in enumerate(lines[:SHOWN]):
        text = f"{unit} {line}"
        if values is not None:
            text += f" ({values[i]!r})"
        shown.append(text)
    text = ", ".join(shown)
    if len(lines) > SHOWN:
        text += f" and {len(lines) - SHOWN} more"
    return text


def _row_error(
    rule: str, column: str, unit: str, lines, problem: str, *, values=None, why: str
) -> SubmissionError:
    lines = [int(x) for x in lines]
    vals = None if values is None else [str(v) for v in values]
    message = f"column {column!r} at {_where(unit, lines, vals)}: {problem} (rule: {why})"
    return SubmissionError(message, rule=rule, column=column, lines=lines)


# --------------------------------------------------------------------------- reading
def _read_bytes(source: Source, max_bytes: int) -> bytes:
    def too_large(size: str) -> SubmissionTooLargeError:
        return SubmissionTooLargeError(
            f"file is {size}, over the size limit of {max_bytes:,} bytes (rule: max file size)",
            rule="file_too_large",
        )

    if isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
        if len(data) > max_bytes:
            raise too_large(f"{len(data):,} bytes")
        return data
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        if not path.is_file():
            raise SubmissionError(f"no submission file at {path}", rule="missing_file")
        size = path.stat().st_size
        if size > max_bytes:
            raise too_large(f"{size:,} bytes")
        return path.read_bytes()
    data = source.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise too_large(f"over {max_bytes:,} bytes")
    return bytes(data)


def _csv_table(data: bytes) -> tuple[pd.DataFrame, np.ndarray]:
    """All records of a CSV as strings (header included) and each record's first file line."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        raise SubmissionError(
            f"line {line}: byte 0x{data[error.start]:02x} is not valid UTF-8 (rule: files must be UTF-8 text)",
            rule="encoding",
            lines=[line],
        ) from None
    if not text.strip():
        raise SubmissionError("the file is empty (rule: a header and at least one data row)", rule="empty_file")
    try:
        table = pd.read_csv(
            io.StringIO(text), header=None, dtype=str, keep_default_na=False, skip_blank_lines=False
        )
    except pd.errors.ParserError:
        raise _locate_csv_error(text) from None
    table = table.fillna("")
    embedded = np.zeros(len(table), dtype=np.int64)
    if '"' in text:  # only quoted fields can hold newlines
        for column in table.columns:  # a handful of columns
            embedded += table[column].str.count("\n").to_numpy(dtype=np.int64)
    before = np.concatenate([[0], np.cumsum(embedded)[:-1]])
    lines = 1 + np.arange(len(table), dtype=np.int64) + before
    return table, lines


def _locate_csv_error(text: str) -> SubmissionError:
    """Find the line pandas' parser choked on (error path only: a plain loop is fine)."""
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    width = None
    start = 1
    try:
        for record in reader:
            if any(field.strip() for field in record):
                if width is None:
                    width = len(record)
                elif len(record) > width:
                    return SubmissionError(
                        f"line {start} has {len(record)} fields but the header has {width} "
                        "(rule: every row has one value per header column)",
                        rule="field_count",
                        lines=[start],
                    )
            start = reader.line_num + 1
    except csv.Error as error:
        problem = "a quoted field is never closed" if "end of data" in str(error) else f"malformed CSV ({error})"
        return SubmissionError(
            f"line {start}: {problem} (rule: quotes must be balanced)", rule="malformed_csv", lines=[start]
        )
    return SubmissionError("malformed CSV: the parser could not read it", rule="malformed_csv")


def _parquet_table(data: bytes) -> pd.DataFrame:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        parquet = pq.ParquetFile(io.BytesIO(data))
        _roles_unique([str(name).strip().lower() for name in parquet.schema_arrow.names], "schema")
        table = parquet.read()
    except (pa.ArrowException, OSError, ValueError) as error:
        raise SubmissionError(
            f"not a readable Parquet file ({str(error).splitlines()[0]})", rule="unreadable"
        ) from None
    names = [str(name) for name in table.column_names]
    frame = table.rename_columns([f"_{i}" for i in range(len(names))]).to_pandas()
    frame.columns = names
    # pandas writes an unnamed index as "__index_level_N__": not a submission column
    keep = [i for i, name in enumerate(names) if not re.fullmatch(r"__index_level_\d+__", name)]
    return frame.iloc[:, keep].reset_index(drop=True)


# --------------------------------------------------------------------------- columns
def _roles_unique(names: list[str], unit_of_header: str) -> None:
    """Reject a header naming one column twice."""
    seen: dict[str, list[int]] = {}
    for position, name in enumerate(names, start=1):
        seen.setdefault(name, []).append(position)
    for name, positions in seen.items():
        if len(positions) > 1:
            raise SubmissionError(
                f"column {name!r} appears {len(positions)} times in the {unit_of_header} "
                f"(columns {', '.join(map(str, positions))}) (rule: each column once)",
                rule="duplicate_column",
                column=name,
            )


def _roles(names: list[str], unit_of_header: str) -> tuple[str, str, str | None, list[str]]:
    """Find the id, value and date columns (and deprecated ones) of a header, or reject it."""
    _roles_unique(names, unit_of_header)
    allowed = {"id": (ID_COLUMNS, "id column"), "signal": (SIGNAL_COLUMNS, "value column"),
               "date": (DATE_COLUMNS, "date column")}
    found = {role: [n for n in names if n in options] for role, (options, _) in allowed.items()}
    for role, (options, label) in allowed.items():
        if len(found[role]) > 1:
            raise SubmissionError(
                f"more than one {label}: {', '.join(found[role])} (rule: exactly one of {', '.join(options)})",
                rule="ambiguous_column",
                column=found[role][1],
            )
    for role in ("id", "signal"):
        if not found[role]:
            options, label = allowed[role]
            hint = ""
            if len(names) == 1 and any(sep in names[0] for sep in ";\t|"):
                hint = "; is the file comma-separated?"
            raise SubmissionError(
                f"missing {label}: the {unit_of_header} has {', '.join(repr(n) for n in names)} "
                f"(rule: one of {', '.join(options)}){hint}",
                rule="missing_column",
            )
    known = set(ID_COLUMNS) | set(SIGNAL_COLUMNS) | set(DATE_COLUMNS) | set(DEPRECATED_COLUMNS)
    extra = [n for n in names if n not in known]
    if extra:
        position = names.index(extra[0]) + 1
        raise SubmissionError(
            f"unexpected column {extra[0]!r} (column {position}) "
            f"(rule: only one id column, one of {', '.join(SIGNAL_COLUMNS)}, an optional "
            f"{' or '.join(DATE_COLUMNS)} column)",
            rule="extra_column",
            column=extra[0],
        )
    date = found["date"][0] if found["date"] else None
    deprecated = [n for n in names if n in DEPRECATED_COLUMNS]
    return found["id"][0], found["signal"][0], date, deprecated


# --------------------------------------------------------------------------- values
def _as_text(values: pd.Series) -> pd.Series:
    text = values.astype("str").where(values.notna(), "")
    return text.str.strip()


def _signal_values(raw: pd.Series, lines: np.ndarray, column: str, unit: str) -> np.ndarray:
    why = "signals must be finite numbers in [0, 1]"
    if pd.api.types.is_numeric_dtype(raw.dtype) and not pd.api.types.is_bool_dtype(raw.dtype):
        numbers = raw.to_numpy(dtype=np.float64, na_value=np.nan)
        shown = raw.astype("str").to_numpy()
        missing = np.isnan(numbers)
        non_numeric = np.zeros(len(raw), dtype=bool)
    else:
        text = _as_text(raw)
        numbers = pd.to_numeric(text, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
        shown = text.to_numpy()
        missing_token = text.str.lower().isin(_MISSING_TOKENS).to_numpy()
        non_numeric = np.isnan(numbers) & ~missing_token
        missing = np.isnan(numbers) & missing_token
    if non_numeric.any():
        raise _row_error("non_numeric", column, unit, lines[non_numeric], "not a number",
                         values=shown[non_numeric], why=why)
    if missing.any():
        raise _row_error("missing_value", column, unit, lines[missing], "value is missing or NaN",
                         values=shown[missing], why=why)
    infinite = np.isinf(numbers)
    if infinite.any():
        raise _row_error("non_finite", column, unit, lines[infinite], "value is infinite",
                         values=shown[infinite], why=why)
    outside = (numbers < -VALUE_TOLERANCE) | (numbers > 1 + VALUE_TOLERANCE)
    if outside.any():
        raise _row_error("out_of_range", column, unit, lines[outside], "value outside [0, 1]",
                         values=shown[outside], why=why)
    return np.clip(numbers, 0.0, 1.0)


def parse_dates(raw: pd.Series) -> pd.Series:
    """Dates written ``YYYY-MM-DD`` (ISO 8601, optional time and zone) or ``YYYYMMDD``.

    Returns normalized naive ``datetime64`` values; NaT where unreadable or missing.
    """
    if pd.api.types.is_datetime64_any_dtype(raw.dtype):
        stamps = pd.to_datetime(raw)
        if stamps.dt.tz is not None:
            stamps = stamps.dt.tz_localize(None)
        return stamps.dt.normalize()
    codes, distinct = pd.factorize(_as_text(raw))  # a history file repeats few distinct dates
    text = pd.Series(distinct, dtype="str").str.replace(r"\.0$", "", regex=True)  # YYYYMMDD stored as a float
    with_time = text.str.contains("T", regex=False)
    text = text.mask(with_time, text.str.replace(r"(Z|[+-]\d{2}:?\d{2})$", "", regex=True))
    parsed = pd.to_datetime(text, format="ISO8601", errors="coerce").dt.normalize().to_numpy(dtype="datetime64[ns]")
    stamps = parsed[codes] if len(parsed) else np.full(len(codes), np.datetime64("NaT"), dtype="datetime64[ns]")
    return pd.Series(stamps, index=raw.index)


def _dates(raw: pd.Series, lines: np.ndarray, column: str, unit: str) -> pd.Series:
    stamps = parse_dates(raw)
    bad = stamps.isna().to_numpy()
    if bad.any():
        shown = _as_text(raw).to_numpy()
        raise _row_error("bad_date", column, unit, lines[bad], "not a date", values=shown[bad],
                         why="dates must be YYYY-MM-DD or YYYYMMDD")
    return stamps


def _tidy(frame: pd.DataFrame, lines: np.ndarray, file_format: str, header_label: str) -> ParsedSubmission:
    unit = "line" if file_format == "csv" else "row"
    names = [str(c).strip().lower() for c in frame.columns]
    frame = frame.set_axis(names, axis=1)
    # Unnamed columns that hold nothing (trailing separators) are not columns.
    unnamed = [i for i, n in enumerate(names) if n == "" or n.startswith("unnamed:")]
    empty_unnamed = [i for i in unnamed if _as_text(frame.iloc[:, i]).eq("").all()]
    if empty_unnamed:
        keep = [i for i in range(len(names)) if i not in empty_unnamed]
        frame = frame.iloc[:, keep]
        names = [names[i] for i in keep]
    id_column, signal_column, date_column, deprecated = _roles(names, header_label)
    warnings = tuple(
        f"column {name!r} is deprecated and was ignored" for name in deprecated
    )
    if frame.empty:
        raise SubmissionError(
            "the file has a header but no data rows (rule: at least one data row)", rule="empty_file"
        )
    ids = _as_text(frame[id_column])
    blank_id = ids.eq("").to_numpy()
    if blank_id.any():
        raise _row_error("missing_id", id_column, unit, lines[blank_id], "id is empty",
                         why="every row names a ticker")
    signal = _signal_values(frame[signal_column], lines, signal_column, unit)
    if date_column is None:
        dates = pd.Series(pd.NaT, index=frame.index, dtype="datetime64[ns]")
    else:
        dates = _dates(frame[date_column], lines, date_column, unit)
    rows = pd.DataFrame(
        {
            "line": lines.astype(np.int64),
            "id": ids.to_numpy(),
            "date": dates.to_numpy(dtype="datetime64[ns]"),
            "signal": signal,
        }
    )
    return ParsedSubmission(rows, id_column, signal_column, date_column, file_format, warnings)


def parse_submission(source: Source, *, max_bytes: int = DEFAULT_MAX_BYTES) -> ParsedSubmission:
    """Read a CSV or Parquet submission from a path, bytes or a binary file object.

    The size limit is checked before reading (file size, or reading at most
    ``max_bytes + 1`` bytes from a stream). Parquet is recognised by its magic bytes
    (``PAR1``), whatever the file is called. Raises :class:`SubmissionError` on any broken rule.
    """
    data = _read_bytes(source, max_bytes)
    if not data.removeprefix(b"\xef\xbb\xbf").strip():
        raise SubmissionError("the file is empty (rule: a header and at least one data row)", rule="empty_file")
    if data[:4] == _PARQUET_MAGIC:
        frame = _parquet_table(data)
        return _tidy(frame, np.arange(1, len(frame) + 1, dtype=np.int64), "parquet", "schema")
    table, lines = _csv_table(data)
    blank = np.ones(len(table), dtype=bool)
    for column in table.columns:
        blank &= table[column].str.strip().eq("").to_numpy()
    content = np.flatnonzero(~blank)
    if len(content) == 0:
        raise SubmissionError("the file is empty (rule: a header and at least one data row)", rule="empty_file")
    header_at = content[0]
    header = [str(v) for v in table.iloc[header_at]]
    body_rows = content[content > header_at]
    body = table.iloc[body_rows].set_axis(header, axis=1).reset_index(drop=True)
    label = "header" if lines[header_at] == 1 else f"header (line {lines[header_at]})"
    return _tidy(body, lines[body_rows], "csv", label)


# --------------------------------------------------------------------------- universe
def _members(universe: Universe, date: pd.Timestamp) -> pd.Index:
    if callable(universe):
        return pd.Index(universe(date))
    if isinstance(universe, Mapping):
        return pd.Index(universe.get(date, []))
    return pd.Index(universe)


def _row_dates(parsed: ParsedSubmission, date) -> tuple[pd.Series, list[str]]:
    """Each row's data date (the file's date column, else ``date`` for every row) and the
    warnings this raises."""
    rows = parsed.rows
    if parsed.date_column is None:
        if date is None:
            raise SubmissionError(
                "the file has no date column and no date was given (rule: every signal has a data date)",
                rule="missing_date",
            )
        stamp = _one_date(date)
        dates = pd.Series(np.full(len(rows), stamp.to_datetime64()), index=rows.index, dtype="datetime64[ns]")
        return dates, []
    if date is None:
        return rows["date"], []
    return rows["date"], [f"the file's {parsed.date_column!r} column overrides the given date {date}"]


def _in_universe(dates: pd.Series, mapped: pd.Series, unique_dates: pd.DatetimeIndex,
                 universe: Universe) -> np.ndarray:
    """Boolean (rows,): the row's canonical ticker is in its date's universe."""
    members = [_members(universe, d) for d in unique_dates]
    universe_keys = pd.MultiIndex.from_arrays(
        [
            np.repeat(unique_dates.to_numpy(dtype="datetime64[ns]"), [len(m) for m in members]),
            np.concatenate([m.astype("str").to_numpy(dtype=object) for m in members]) if members else [],
        ]
    )
    known = mapped.notna().to_numpy()
    row_keys = pd.MultiIndex.from_arrays([dates.to_numpy(dtype="datetime64[ns]"), mapped.fillna("").to_numpy(dtype=object)])
    return known & row_keys.isin(universe_keys)


def _split_rows(
    rows: pd.DataFrame, dates: pd.Series, mapped: pd.Series, in_universe: np.ndarray
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The accepted rows (line, id, date, ticker, signal) and the dropped ones with a reason."""
    known = mapped.notna().to_numpy()
    table = pd.DataFrame(
        {"line": rows["line"].to_numpy(), "id": rows["id"].to_numpy(), "date": dates.to_numpy(),
         "ticker": mapped.to_numpy(dtype=object), "signal": rows["signal"].to_numpy()}
    )
    accepted = table[in_universe]
    dropped = table.loc[~in_universe, ["line", "id", "date"]].assign(
        reason=np.where(known[~in_universe], "not in universe", "unknown id")
    ).reset_index(drop=True)
    return accepted, dropped


def _check_unique_tickers(accepted: pd.DataFrame, parsed: ParsedSubmission) -> None:
    """Reject a ticker listed twice on one date (every offending line named)."""
    duplicated = accepted.duplicated(["date", "ticker"], keep=False).to_numpy()
    if duplicated.any():
        first = accepted[duplicated].sort_values(["date", "ticker", "line"])
        ticker, day = first["ticker"].iloc[0], pd.Timestamp(first["date"].iloc[0]).date()
        raise _row_error(
            "duplicate_ticker", parsed.id_column, parsed.unit, first["line"], f"duplicate tickers (first: {ticker} on {day})",
            values=first["id"].to_list(), why="each ticker at most once per date",
        )


def _check_ticker_counts(accepted: pd.DataFrame, dropped: pd.DataFrame, unique_dates: pd.DatetimeIndex,
                         min_tickers: int, parsed: ParsedSubmission) -> None:
    """Reject the first date with fewer than ``min_tickers`` matched tickers."""
    counts = accepted.groupby("date").size().reindex(unique_dates, fill_value=0)
    short = counts[counts < min_tickers]
    if len(short):
        day = short.index[0]
        of_day = dropped[dropped["date"] == day]
        examples = ", ".join(repr(x) for x in pd.unique(of_day["id"])[:SHOWN])
        detail = f"; {len(of_day)} dropped ids, e.g. {examples}" if len(of_day) else ""
        more = f" (and {len(short) - 1} more dates)" if len(short) > 1 else ""
        raise SubmissionError(
            f"only {int(short.iloc[0])} tickers on {day.date()}{more} match the universe "
            f"(rule: at least {min_tickers} per date){detail}",
            rule="too_few_tickers",
            column=parsed.id_column,
        )


def _check_varies(accepted: pd.DataFrame, parsed: ParsedSubmission) -> None:
    """Reject the first date whose signal is constant across its tickers."""
    spread = accepted.groupby("date")["signal"].std(ddof=0)
    constant = spread[spread.fillna(0.0) < CONSTANT_STD]
    if len(constant):
        day = constant.index[0]
        of_day = accepted[accepted["date"] == day]
        raise _row_error(
            "constant_signal", parsed.signal_column, parsed.unit, of_day["line"],
            f"the signal is constant ({of_day['signal'].iloc[0]:g}) on {pd.Timestamp(day).date()}",
            why="signals must vary across tickers",
        )


def _accepted_frame(accepted: pd.DataFrame) -> pd.DataFrame:
    """date, ticker, signal of the accepted rows, sorted by date then ticker."""
    frame = (
        accepted[["date", "ticker", "signal"]]
        .sort_values(["date", "ticker"])
        .reset_index(drop=True)
        .astype({"ticker": "str", "signal": "float64"})
    )
    frame["date"] = pd.to_datetime(frame["date"]).astype("datetime64[ns]")
    return frame


def validate_submission(
    parsed: ParsedSubmission,
    *,
    tickers: TickerMap | pd.DataFrame,
    universe: Universe,
    date: DateLike | None = None,
    min_tickers: int = DEFAULT_MIN_TICKERS,
) -> ValidatedSubmission:
    """Match a parsed submission to canonical tickers and each date's universe.

    ``tickers``: a :class:`TickerMap` or the securities frame to build one from.
    ``universe``: canonical tickers (one index for every date), a ``date -> index``
    mapping, or a callable such as ``store.universe``. ``date`` is the data date of a
    file without a date column (ignored, with a warning, when the file has one).
    """
    dates, date_warnings = _row_dates(parsed, date)
    ticker_map = tickers if isinstance(tickers, TickerMap) else TickerMap.from_securities(tickers)
    mapped = ticker_map.to_canonical(parsed.rows["id"], parsed.id_column)
    unique_dates = pd.DatetimeIndex(pd.unique(dates))
    in_universe = _in_universe(dates, mapped, unique_dates, universe)
    accepted, dropped = _split_rows(parsed.rows, dates, mapped, in_universe)
    _check_unique_tickers(accepted, parsed)
    _check_ticker_counts(accepted, dropped, unique_dates, min_tickers, parsed)
    _check_varies(accepted, parsed)
    return ValidatedSubmission(
        frame=_accepted_frame(accepted),
        dropped=dropped,
        id_column=parsed.id_column,
        signal_column=parsed.signal_column,
        date_column=parsed.date_column,
        warnings=(*parsed.warnings, *date_warnings),
    )


def _one_date(value) -> pd.Timestamp:
    stamps = parse_dates(pd.Series([value]))
    if stamps.isna().iloc[0]:
        raise SubmissionError(
            f"cannot read {value!r} as a date (rule: dates are YYYY-MM-DD or YYYYMMDD)", rule="bad_date"
        )
    return pd.Timestamp(stamps.iloc[0])


def validate_for_store(
    store: Store, parsed: ParsedSubmission, *, date: DateLike | None = None, min_tickers: int = DEFAULT_MIN_TICKERS
) -> ValidatedSubmission:
    """:func:`validate_submission` against a :class:`metasignal.data.store.Store`.

    A file without a date column takes ``date`` (default: the store's last trading day).
    Every date must be a trading day the store holds; the universe of each date is
    ``store.universe(date)`` (read for all dates at once, see :func:`store_universes`).
    """
    days = store.trading_days()
    if len(days) == 0:
        store.last_date()  # raises the store's one-line "no bars" error
    covers = f"the store covers {days[0].date()} to {days[-1].date()}"
    if store.stored_days()[-1] > days[-1]:
        covers += f", the last known at its clock ({store.now():%Y-%m-%d %H:%M} UTC)"
    if parsed.date_column is None:
        stamp = store.last_date() if date is None else _one_date(date)
        if stamp not in days:
            raise SubmissionError(
                f"date {stamp.date()} is not a trading day in the store (rule: signals are dated on "
                f"trading days; {covers})",
                rule="not_trading_day",
            )
        date = stamp
    else:
        off = ~parsed.rows["date"].isin(days).to_numpy()
        if off.any():
            shown = [str(d.date()) for d in parsed.rows.loc[off, "date"]]
            raise _row_error(
                "not_trading_day", parsed.date_column, parsed.unit, parsed.rows.loc[off, "line"],
                "not a trading day in the store", values=shown,
                why=f"signals are dated on trading days; {covers}",
            )
    dates = pd.DatetimeIndex([date]) if parsed.date_column is None else pd.DatetimeIndex(pd.unique(parsed.rows["date"]))
    return validate_submission(
        parsed,
        tickers=TickerMap.from_securities(store.securities()),
        universe=store_universes(store, dates),
        date=date,
        min_tickers=min_tickers,
    )


def store_universes(store, dates: pd.DatetimeIndex) -> dict[pd.Timestamp, pd.Index]:
    """``date -> store.universe(date)`` for many dates from one read of the store's
    ``in_universe`` panel (one query instead of one per date)."""
    dates = pd.DatetimeIndex(dates).normalize()
    flags = store.panel("in_universe", dates.min(), dates.max())
    flags.index = pd.DatetimeIndex(flags.index).astype("datetime64[ns]")
    member = flags.reindex(dates.astype("datetime64[ns]")).eq(True).to_numpy()
    columns = flags.columns
    return {pd.Timestamp(day): pd.Index(columns[member[i]], name="ticker") for i, day in enumerate(dates)}
