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
column and the rule; ``error.rule``, ``error.column`` and ``error.lines`` carry the same
(``error.lines`` holds at most ``SubmissionError.MAX_LINES`` (20), ``error.n_lines`` the count).

Resources are bounded by :class:`SubmissionLimits` (bytes, rows, columns, Parquet's
uncompressed size and footer, seconds), checked before the expensive step they guard:
a CSV's rows are counted on the raw bytes and its header is read alone before pandas
parses the file; a Parquet file's footer is read before any of its data.
"""

from __future__ import annotations

import csv
import io
import os
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Callable, Mapping, Sequence, Union

import numpy as np
import pandas as pd

from metasignal.data.calendar import DateLike
from metasignal.data.store import Store
from metasignal.errors import ConfigurationError, SubmissionError, SubmissionTooLargeError
from metasignal.signals.tickers import ID_COLUMNS, TickerMap

SIGNAL_COLUMNS: tuple[str, ...] = ("signal", "prediction")
DATE_COLUMNS: tuple[str, ...] = ("date", "friday_date")
DEPRECATED_COLUMNS: tuple[str, ...] = ("data_type",)
DEFAULT_MAX_BYTES = 100 * 2**20
DEFAULT_MAX_ROWS = 2_000_000
DEFAULT_MAX_COLUMNS = 64
DEFAULT_MAX_DECOMPRESSED_BYTES = 2**30
DEFAULT_MAX_METADATA_BYTES = 4 * 2**20
DEFAULT_MAX_SECONDS = 30.0
DEFAULT_MIN_TICKERS = 100
VALUE_TOLERANCE = 1e-8
CONSTANT_STD = 1e-8
SHOWN = 5  # offending rows named in one message
_MISSING_TOKENS = frozenset({"", "nan", "-nan", "na", "n/a", "#n/a", "null", "none", "<na>"})
_PARQUET_MAGIC = b"PAR1"

Source = Union[str, os.PathLike, bytes, bytearray, memoryview, IO[bytes]]
Universe = Union[pd.Index, Callable[[pd.Timestamp], pd.Index], Mapping[pd.Timestamp, pd.Index]]


@dataclass(frozen=True)
class SubmissionLimits:
    """The most one submission file may cost to read and validate.

    ``max_bytes``: file size in bytes (100 MiB), checked before reading. ``max_rows``: data
    rows in the whole file (2,000,000; a 5-year weekly backfill of a 5,000-name universe is
    1.3M). For CSV, rows are counted on the raw bytes before parsing: every record holding a
    byte other than space, tab, CR, LF or comma counts (so blank lines, and lines of commas,
    do not; a quoted field spanning lines counts once). ``max_columns``: columns of a CSV
    header (every field, empty trailing ones included) or leaf columns of a Parquet schema
    (64). ``max_decompressed_bytes``: a Parquet file's uncompressed data size in bytes, the
    sum of its row groups' ``total_byte_size`` (1 GiB). ``max_metadata_bytes``: a Parquet
    footer's size in bytes (4 MiB), checked before the footer is parsed. ``max_seconds``:
    wall seconds for parsing and validating one file together (30 s), checked between
    stages (a stage in progress finishes first); over it, rule ``validation_timeout``.
    """

    max_bytes: int = DEFAULT_MAX_BYTES
    max_rows: int = DEFAULT_MAX_ROWS
    max_columns: int = DEFAULT_MAX_COLUMNS
    max_decompressed_bytes: int = DEFAULT_MAX_DECOMPRESSED_BYTES
    max_metadata_bytes: int = DEFAULT_MAX_METADATA_BYTES
    max_seconds: float = DEFAULT_MAX_SECONDS

    def __post_init__(self) -> None:
        for name in ("max_bytes", "max_rows", "max_columns", "max_decompressed_bytes", "max_metadata_bytes",
                     "max_seconds"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
                raise ConfigurationError(f"SubmissionLimits.{name} must be a positive number, not {value!r}")


class _Budget:
    """The time left for one file: ``check`` raises ``validation_timeout`` once it is spent."""

    def __init__(self, seconds: float, spent: float = 0.0):
        self.seconds = seconds
        self.started = time.perf_counter() - spent

    @property
    def elapsed(self) -> float:
        return time.perf_counter() - self.started

    def check(self, stage: str) -> None:
        elapsed = self.elapsed
        if elapsed > self.seconds:
            raise SubmissionError(
                f"validating the file took {elapsed:.3g} s, over the limit of {self.seconds:g} s "
                f"(stopped {stage}) (rule: max validation time)",
                rule="validation_timeout",
            )


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
    seconds: float = field(default=0.0, compare=False)  # wall seconds spent parsing

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
def _where(unit: str, lines: np.ndarray, values: list[str] | None = None) -> str:
    """``line 3 ('x'), line 9 ('y') and 12 more``: the first ``SHOWN`` of ``lines``."""
    shown = []
    for i, line in enumerate(lines[:SHOWN].tolist()):
        text = f"{unit} {line}"
        if values is not None and i < len(values):
            text += f" ({values[i]!r})"
        shown.append(text)
    text = ", ".join(shown)
    if len(lines) > SHOWN:
        text += f" and {len(lines) - SHOWN:,} more"
    return text


def _row_error(
    rule: str, column: str, unit: str, lines, problem: str, *, values=None, why: str
) -> SubmissionError:
    """An error naming the rows that break a rule; ``values`` (aligned with ``lines``, or
    just their first ``SHOWN``) are quoted in the message. Only the shown ones are converted."""
    lines = np.asarray(lines, dtype=np.int64).reshape(-1)
    vals = None if values is None else [str(v) for v in list(values[:SHOWN])]
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


_BOM = b"\xef\xbb\xbf"
_CONTENT_BYTE = re.compile(rb"[^ \t\r\n,]")  # a byte that makes a CSV line not blank
_IS_CONTENT = np.ones(256, dtype=bool)
_IS_CONTENT[list(b" \t\r\n,")] = False
_CHUNK = 2**20  # bytes per numpy pass when counting records


def _line_ends(data: bytes, start: int = 0, end: int | None = None) -> int:
    """Line ends (LF, CR or CRLF, as pandas reads them) in ``data[start:end]``."""
    end = len(data) if end is None else end
    return data.count(b"\n", start, end) + data.count(b"\r", start, end) - data.count(b"\r\n", start, end)


def _csv_records(data: bytes, start: int) -> int:
    """CSV records from byte ``start`` on that hold a content byte (not space, tab, CR, LF or
    comma). Quote-aware (a line end inside quotes does not end a record); numpy over 1 MiB
    chunks, so memory stays a few MiB whatever the file size."""
    view = np.frombuffer(data, dtype=np.uint8)
    records, quoted, open_has_content = 0, 0, False
    for begin in range(start, len(view), _CHUNK):  # chunks of the file, not rows
        chunk = view[begin:begin + _CHUNK]
        following = view[begin + 1:begin + _CHUNK + 1]
        quotes = np.cumsum(chunk == 34, dtype=np.uint8)  # only the parity matters: wrapping is fine
        outside = ((quotes + quoted) & 1) == 0
        cr_alone = chunk == 13
        cr_alone[: len(following)] &= following != 10
        ends = np.flatnonzero(((chunk == 10) | cr_alone) & outside)
        content = np.cumsum(_IS_CONTENT[chunk], dtype=np.int64)
        if len(ends):
            at = content[ends]
            has = at > np.concatenate([[0], at[:-1]])
            has[0] |= open_has_content
            records += int(np.count_nonzero(has))
            open_has_content = bool(content[-1] > at[-1])
        else:
            open_has_content = open_has_content or bool(content[-1] > 0)
        quoted = (int(quotes[-1]) + quoted) & 1
    return records + int(open_has_content)


def _header_start(data: bytes) -> int:
    """Byte offset of the first line holding a content byte (the header's line), after any BOM;
    ``len(data)`` when there is none."""
    first = _CONTENT_BYTE.search(data, len(_BOM) if data.startswith(_BOM) else 0)
    if first is None:
        return len(data)
    return max(data.rfind(b"\n", 0, first.start()), data.rfind(b"\r", 0, first.start())) + 1


def _header_fields(data: bytes, start: int, max_records: int) -> int | None:
    """Fields of the first non-blank record from byte ``start`` on, read with the csv module
    (at most ``max_records`` records); ``None`` when it cannot be read (the full parse reports why)."""
    stream = io.TextIOWrapper(io.BytesIO(data), encoding="utf-8", newline="")
    stream.buffer.seek(start)
    reader = csv.reader(stream)
    try:
        for _ in range(max_records):  # blank records before the header: bounded by the row limit
            record = next(reader)
            if any(field.strip() for field in record):
                return len(record)
    except csv.Error:  # e.g. a header field over the csv module's size limit: count its separators
        line_end = min((i for i in (data.find(b"\n", start), data.find(b"\r", start)) if i >= 0), default=len(data))
        return data.count(b",", start, line_end) + 1
    except (StopIteration, UnicodeDecodeError):
        return None
    return None


def _check_csv_limits(data: bytes, limits: SubmissionLimits) -> int:
    """Reject a CSV with too many rows or header columns before parsing it; returns the
    byte offset of the header's line."""
    start = _header_start(data)
    rows = _line_ends(data, start)  # an upper bound on the data rows (one line is the header)
    if rows > limits.max_rows:
        rows = _csv_records(data, start) - 1
        if rows > limits.max_rows:
            raise SubmissionError(
                f"the file has {rows:,} data rows, over the limit of {limits.max_rows:,} (rule: max rows)",
                rule="too_many_rows",
            )
    columns = _header_fields(data, start, limits.max_rows + 1)
    if columns is not None and columns > limits.max_columns:
        raise SubmissionError(
            f"the header has {columns:,} columns, over the limit of {limits.max_columns:,} (rule: max columns)",
            rule="too_many_columns",
        )
    return start


def _csv_table(data: bytes, start: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    """All records of a CSV as strings (header included) and each record's first file line;
    the lines before byte ``start`` (blank ones, before the header) are skipped but counted."""
    skipped = _line_ends(data, 0, start)  # only spaces, tabs and commas before start: no quotes
    try:
        text = data.decode("utf-8-sig") if start == 0 else str(memoryview(data)[start:], "utf-8")
    except UnicodeDecodeError as error:
        at = error.start + start
        line = data[:at].count(b"\n") + 1
        raise SubmissionError(
            f"line {line}: byte 0x{data[at]:02x} is not valid UTF-8 (rule: files must be UTF-8 text)",
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
        raise _locate_csv_error(text, 1 + skipped) from None
    table = table.fillna("")
    embedded = np.zeros(len(table), dtype=np.int64)
    if '"' in text:  # only quoted fields can hold newlines
        for column in table.columns:  # a handful of columns
            embedded += table[column].str.count("\n").to_numpy(dtype=np.int64)
    before = np.concatenate([[0], np.cumsum(embedded)[:-1]])
    lines = 1 + skipped + np.arange(len(table), dtype=np.int64) + before
    return table, lines


def _locate_csv_error(text: str, first_line: int = 1) -> SubmissionError:
    """Find the line pandas' parser choked on (error path only: a plain loop is fine);
    ``text`` begins at file line ``first_line``."""
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    width = None
    start = first_line
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
            start = first_line + reader.line_num
    except csv.Error as error:
        problem = "a quoted field is never closed" if "end of data" in str(error) else f"malformed CSV ({error})"
        return SubmissionError(
            f"line {start}: {problem} (rule: quotes must be balanced)", rule="malformed_csv", lines=[start]
        )
    return SubmissionError("malformed CSV: the parser could not read it", rule="malformed_csv")


def _check_parquet_footer(data: bytes, limits: SubmissionLimits) -> None:
    """Reject a Parquet footer over ``max_metadata_bytes`` from the file's last 8 bytes
    (footer length, little-endian uint32, then ``PAR1``), before the footer is parsed."""
    if len(data) < 12 or data[-4:] != _PARQUET_MAGIC:
        raise SubmissionError("not a readable Parquet file (no footer: the file is truncated)", rule="unreadable")
    footer = int.from_bytes(data[-8:-4], "little")
    if footer > limits.max_metadata_bytes:
        raise SubmissionError(
            f"the Parquet footer is {footer:,} bytes, over the limit of {limits.max_metadata_bytes:,} "
            "(rule: max metadata size)",
            rule="too_large_metadata",
        )


def _check_parquet_metadata(metadata, limits: SubmissionLimits) -> None:
    """Reject rows, columns or uncompressed bytes over the limits from the footer alone."""
    if metadata.num_rows > limits.max_rows:
        raise SubmissionError(
            f"the file has {metadata.num_rows:,} rows, over the limit of {limits.max_rows:,} (rule: max rows)",
            rule="too_many_rows",
        )
    if metadata.num_columns > limits.max_columns:
        raise SubmissionError(
            f"the schema has {metadata.num_columns:,} columns, over the limit of {limits.max_columns:,} "
            "(rule: max columns)",
            rule="too_many_columns",
        )
    # one entry per row group (the footer is bounded by max_metadata_bytes), not per row
    size = sum(metadata.row_group(i).total_byte_size for i in range(metadata.num_row_groups))
    if size > limits.max_decompressed_bytes:
        raise SubmissionError(
            f"the file's data is {size:,} bytes uncompressed, over the limit of "
            f"{limits.max_decompressed_bytes:,} (rule: max decompressed size)",
            rule="too_large_decompressed",
        )


def _is_index_level(name: str) -> bool:
    # pandas writes an unnamed index as "__index_level_N__": not a submission column
    return re.fullmatch(r"__index_level_\d+__", name) is not None


def _is_unnamed(name: str) -> bool:
    return name == "" or name.startswith("unnamed:")


def _parquet_table(data: bytes, limits: SubmissionLimits, budget: _Budget) -> pd.DataFrame:
    """The columns of a Parquet file that may be submission columns, after checking its
    footer against ``limits`` and its column names against the rules (no data read before)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    _check_parquet_footer(data, limits)
    try:
        parquet = pq.ParquetFile(pa.BufferReader(data))
        _check_parquet_metadata(parquet.metadata, limits)
        names = [str(name) for name in parquet.schema_arrow.names]
        lowered = [name.strip().lower() for name in names]
        _roles_unique(lowered, "schema")
        # the header rules, before any data is read (unnamed columns are dropped later if empty)
        _roles([n for n, raw in zip(lowered, names) if not _is_unnamed(n) and not _is_index_level(raw)], "schema")
        budget.check("after reading the Parquet footer")
        table = parquet.read(columns=[name for name in names if not _is_index_level(name)])
    except (pa.ArrowException, OSError, ValueError) as error:
        raise SubmissionError(
            f"not a readable Parquet file ({str(error).splitlines()[0]})", rule="unreadable"
        ) from None
    budget.check("after reading the Parquet data")
    names = [str(name) for name in table.column_names]
    frame = table.rename_columns([f"_{i}" for i in range(len(names))]).to_pandas()
    frame.columns = names
    return frame


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
    parsed = pd.to_datetime(text, format="ISO8601", errors="coerce").dt.normalize()
    # a year like 0001 or 9999 parses at a coarser resolution and would wrap around as nanoseconds
    parsed = parsed.where((parsed >= pd.Timestamp.min) & (parsed <= pd.Timestamp.max)).to_numpy(dtype="datetime64[ns]")
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


def _tidy(
    frame: pd.DataFrame, lines: np.ndarray, file_format: str, header_label: str, budget: _Budget
) -> ParsedSubmission:
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
    budget.check("after reading the ids")
    signal = _signal_values(frame[signal_column], lines, signal_column, unit)
    budget.check("after reading the signal values")
    if date_column is None:
        dates = pd.Series(pd.NaT, index=frame.index, dtype="datetime64[ns]")
    else:
        dates = _dates(frame[date_column], lines, date_column, unit)
        budget.check("after reading the dates")
    rows = pd.DataFrame(
        {
            "line": lines.astype(np.int64),
            "id": ids.to_numpy(),
            "date": dates.to_numpy(dtype="datetime64[ns]"),
            "signal": signal,
        }
    )
    return ParsedSubmission(rows, id_column, signal_column, date_column, file_format, warnings, budget.elapsed)


def parse_submission(
    source: Source, *, max_bytes: int = DEFAULT_MAX_BYTES, limits: SubmissionLimits | None = None
) -> ParsedSubmission:
    """Read a CSV or Parquet submission from a path, bytes or a binary file object.

    ``limits`` bound the work (default ``SubmissionLimits(max_bytes=max_bytes)``; when
    given, its ``max_bytes`` is used and ``max_bytes`` is ignored). The size limit is
    checked before reading (file size, or reading at most ``max_bytes + 1`` bytes from a
    stream); a CSV's rows and header columns before pandas parses it; a Parquet file's
    footer, rows, columns and uncompressed size before any data is read. Parquet is
    recognised by its magic bytes (``PAR1``), whatever the file is called. Raises
    :class:`SubmissionError` on any broken rule.
    """
    limits = SubmissionLimits(max_bytes=max_bytes) if limits is None else limits
    budget = _Budget(limits.max_seconds)
    data = _read_bytes(source, limits.max_bytes)
    if not data.removeprefix(_BOM).strip():
        raise SubmissionError("the file is empty (rule: a header and at least one data row)", rule="empty_file")
    budget.check("after reading the file")
    if data[:4] == _PARQUET_MAGIC:
        frame = _parquet_table(data, limits, budget)
        return _tidy(frame, np.arange(1, len(frame) + 1, dtype=np.int64), "parquet", "schema", budget)
    start = _check_csv_limits(data, limits)
    budget.check("after counting the CSV rows")
    table, lines = _csv_table(data, start)
    budget.check("after parsing the CSV")
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
    return _tidy(body, lines[body_rows], "csv", label, budget)


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
    known = mapped.notna().to_numpy()
    if len(unique_dates) == 1:  # a live file: one hash lookup per row
        members = pd.Index(_members(universe, unique_dates[0]).to_numpy(dtype=object))
        return known & (members.get_indexer(mapped.to_numpy(dtype=object, na_value=None)) >= 0)
    members = [_members(universe, d) for d in unique_dates]
    universe_keys = pd.MultiIndex.from_arrays(
        [
            np.repeat(unique_dates.to_numpy(dtype="datetime64[ns]"), [len(m) for m in members]),
            np.concatenate([m.astype("str").to_numpy(dtype=object) for m in members]) if members else [],
        ]
    )
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
            values=first["id"].to_numpy(), why="each ticker at most once per date",
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
    limits: SubmissionLimits | None = None,
) -> ValidatedSubmission:
    """Match a parsed submission to canonical tickers and each date's universe.

    ``tickers``: a :class:`TickerMap` or the securities frame to build one from.
    ``universe``: canonical tickers (one index for every date), a ``date -> index``
    mapping, or a callable such as ``store.universe``. ``date`` is the data date of a
    file without a date column (ignored, with a warning, when the file has one).
    ``limits.max_seconds`` (default :class:`SubmissionLimits`' 30 s) bounds parsing and
    validating together: the seconds ``parsed`` took count against it.
    """
    limits = SubmissionLimits() if limits is None else limits
    budget = _Budget(limits.max_seconds, spent=parsed.seconds)
    budget.check("before matching the ids")
    dates, date_warnings = _row_dates(parsed, date)
    ticker_map = tickers if isinstance(tickers, TickerMap) else TickerMap.from_securities(tickers)
    mapped = ticker_map.to_canonical(parsed.rows["id"], parsed.id_column)
    budget.check("after mapping the ids to tickers")
    unique_dates = pd.DatetimeIndex(pd.unique(dates))
    in_universe = _in_universe(dates, mapped, unique_dates, universe)
    accepted, dropped = _split_rows(parsed.rows, dates, mapped, in_universe)
    budget.check("after matching the universe")
    _check_unique_tickers(accepted, parsed)
    _check_ticker_counts(accepted, dropped, unique_dates, min_tickers, parsed)
    _check_varies(accepted, parsed)
    budget.check("after checking each date")
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


@dataclass(frozen=True)
class ValidationContext:
    """What validating a file against a store needs, read from it once (picklable: a server
    validates in worker processes that cannot open the store).

    ``days``: the trading days known at the clock; ``covers``: how the store's span reads in
    errors; ``default_date``: the date of a file without a date column when none is given;
    ``tickers``: the id lookups; ``universes``: date -> universe, for the dates it was built for.
    """

    days: pd.DatetimeIndex
    covers: str
    default_date: pd.Timestamp
    tickers: TickerMap
    universes: Mapping[pd.Timestamp, pd.Index]

    def covers_dates(self, parsed: "ParsedSubmission", date: DateLike | None) -> bool:
        """Whether this context holds the universe of every date ``parsed`` needs."""
        return all(day in self.universes for day in _file_dates(parsed, date, self))


def _file_dates(parsed: ParsedSubmission, date: DateLike | None, context: "ValidationContext") -> pd.DatetimeIndex:
    if parsed.date_column is None:
        return pd.DatetimeIndex([context.default_date if date is None else _one_date(date)])
    return pd.DatetimeIndex(pd.unique(parsed.rows["date"]))


def validation_context(store: Store, dates: Sequence[DateLike] = ()) -> ValidationContext:
    """The :class:`ValidationContext` of ``store`` at its clock with the universes of ``dates``
    (kept in the store's cache until its market data change)."""
    days = store.trading_days()
    if len(days) == 0:
        store.last_date()  # raises the store's one-line "no bars" error
    covers = f"the store covers {days[0].date()} to {days[-1].date()}"
    if store.stored_days()[-1] > days[-1]:
        covers += f", the last known at its clock ({store.now():%Y-%m-%d %H:%M} UTC)"
    horizon = store.visible_through()  # what the store knows: the lookups and universes are kept per horizon
    wanted = pd.DatetimeIndex([_one_date(d) for d in dates]).intersection(days)
    return ValidationContext(
        days=days, covers=covers, default_date=store.last_date(),
        tickers=store.cached(("ticker_map", horizon), lambda: TickerMap.from_securities(store.securities())),
        universes=(store.cached(("universes", horizon, tuple(wanted)), lambda: store_universes(store, wanted))
                   if len(wanted) else {}),
    )


def validate_in_context(
    parsed: ParsedSubmission,
    context: ValidationContext,
    *,
    date: DateLike | None = None,
    min_tickers: int = DEFAULT_MIN_TICKERS,
    limits: SubmissionLimits | None = None,
) -> ValidatedSubmission:
    """:func:`validate_submission` against a store's :class:`ValidationContext`: every date
    must be a trading day the store holds (a file without a date column takes ``date``, default
    ``context.default_date``), then ids and universes are checked."""
    days, covers = context.days, context.covers
    if parsed.date_column is None:
        stamp = context.default_date if date is None else _one_date(date)
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
            shown = [str(d.date()) for d in parsed.rows.loc[off, "date"].iloc[:SHOWN]]
            raise _row_error(
                "not_trading_day", parsed.date_column, parsed.unit, parsed.rows.loc[off, "line"],
                "not a trading day in the store", values=shown,
                why=f"signals are dated on trading days; {covers}",
            )
    return validate_submission(
        parsed, tickers=context.tickers, universe=context.universes, date=date, min_tickers=min_tickers,
        limits=limits,
    )


def validate_for_store(
    store: Store,
    parsed: ParsedSubmission,
    *,
    date: DateLike | None = None,
    min_tickers: int = DEFAULT_MIN_TICKERS,
    limits: SubmissionLimits | None = None,
) -> ValidatedSubmission:
    """:func:`validate_submission` against a :class:`metasignal.data.store.Store`.

    A file without a date column takes ``date`` (default: the store's last trading day).
    Every date must be a trading day the store holds; the universe of each date is
    ``store.universe(date)`` (read for all dates at once, see :func:`store_universes`).
    ``limits`` (its ``max_seconds``) is passed on to :func:`validate_submission`.
    """
    if parsed.date_column is None:
        dates = [store.last_date() if date is None else date]
    else:
        dates = list(pd.unique(parsed.rows["date"]))
    return validate_in_context(parsed, validation_context(store, dates), date=date, min_tickers=min_tickers,
                               limits=limits)


def store_universes(store, dates: pd.DatetimeIndex) -> dict[pd.Timestamp, pd.Index]:
    """``date -> store.universe(date)`` for many dates from one read of the store's
    ``in_universe`` panel (one query instead of one per date)."""
    dates = pd.DatetimeIndex(dates).normalize()
    flags = store.panel("in_universe", dates.min(), dates.max())
    flags.index = pd.DatetimeIndex(flags.index).astype("datetime64[ns]")
    member = flags.reindex(dates.astype("datetime64[ns]")).eq(True).to_numpy()
    columns = flags.columns
    return {pd.Timestamp(day): pd.Index(columns[member[i]], name="ticker") for i, day in enumerate(dates)}
