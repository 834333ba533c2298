"""Bounded resources for submission files: every limit rejects early, names its rule, and a
file exactly at a limit passes; error bodies and receipts stay small."""

from __future__ import annotations

import dataclasses
import io
import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from submission_fixtures import DAYS, securities, submission_csv, universe_members, write_adversarial_files

from metasignal.errors import ConfigurationError
from metasignal.signals import SubmissionLimits as ExportedLimits
from metasignal.signals.storage import SubmissionReceipt, create_model, list_submissions, submit
from metasignal.signals.submission import (
    DEFAULT_MAX_BYTES,
    SubmissionError,
    SubmissionLimits,
    parse_submission,
    validate_submission,
)
from metasignal.signals.tickers import TickerMap

MEMBERS = list(universe_members(DAYS[0]))
MiB = 2**20


def _reject(data, rule: str, **kwargs) -> SubmissionError:
    with pytest.raises(SubmissionError) as caught:
        parse_submission(data, **kwargs)
    error = caught.value
    assert error.rule == rule, str(error)
    assert "\n" not in str(error) and len(str(error)) < 300
    return error


def _csv(n_rows: int, *, blank_every: int = 0, newline: str = "\n") -> bytes:
    """A valid CSV of ``n_rows`` data rows, with a blank line after every ``blank_every`` rows."""
    lines = ["ticker,signal"]
    for i in range(n_rows):
        lines.append(f"T{i},{i / max(n_rows, 1):.4f}")
        if blank_every and (i + 1) % blank_every == 0:
            lines.append("   ")
    return (newline.join(lines) + newline).encode()


def _parquet(frame: pd.DataFrame | pa.Table, **kwargs) -> bytes:
    table = frame if isinstance(frame, pa.Table) else pa.Table.from_pandas(frame, preserve_index=False)
    buffer = io.BytesIO()
    pq.write_table(table, buffer, **kwargs)
    return buffer.getvalue()


FRAME = pd.DataFrame({"ticker": ["A", "B", "C"], "signal": [0.1, 0.5, 0.9],
                      "date": ["2024-01-05"] * 3})


# --------------------------------------------------------------------------- the limits object
def test_limits_have_documented_defaults_and_are_exported():
    limits = SubmissionLimits()
    assert ExportedLimits is SubmissionLimits
    assert limits.max_bytes == DEFAULT_MAX_BYTES == 100 * MiB
    assert (limits.max_rows, limits.max_columns, limits.max_seconds) == (2_000_000, 64, 30.0)
    assert (limits.max_decompressed_bytes, limits.max_metadata_bytes) == (2**30, 4 * MiB)
    with pytest.raises(dataclasses.FrozenInstanceError):
        limits.max_rows = 5  # type: ignore[misc]


@pytest.mark.parametrize("field", ["max_bytes", "max_rows", "max_columns", "max_seconds"])
@pytest.mark.parametrize("value", [0, -1, None])
def test_limits_must_be_positive(field, value):
    with pytest.raises(ConfigurationError, match=field):
        SubmissionLimits(**{field: value})


# --------------------------------------------------------------------------- size
def test_max_bytes_from_limits_and_from_the_old_keyword():
    data = _csv(3)
    assert parse_submission(data, limits=SubmissionLimits(max_bytes=len(data))).n_rows == 3
    error = _reject(data, "file_too_large", limits=SubmissionLimits(max_bytes=len(data) - 1))
    assert "rule: max file size" in str(error)
    _reject(data, "file_too_large", max_bytes=len(data) - 1)  # still honoured without limits
    assert parse_submission(data, max_bytes=len(data)).n_rows == 3


# --------------------------------------------------------------------------- CSV rows
@pytest.mark.parametrize("newline", ["\n", "\r\n", "\r"])
def test_csv_at_the_row_limit_passes_and_one_more_is_rejected(newline):
    assert parse_submission(_csv(50, newline=newline), limits=SubmissionLimits(max_rows=50)).n_rows == 50
    error = _reject(_csv(51, newline=newline), "too_many_rows", limits=SubmissionLimits(max_rows=50))
    assert str(error) == "the file has 51 data rows, over the limit of 50 (rule: max rows)"


def test_blank_lines_do_not_count_as_rows():
    data = _csv(40, blank_every=2) + b"\n\n , \n\n"  # 20 + 4 blank lines: more lines than the limit
    parsed = parse_submission(b"\n , \n" + data, limits=SubmissionLimits(max_rows=40))
    assert parsed.n_rows == 40 and parsed.rows["line"].iloc[0] == 4  # the two blank lines before the header count
    _reject(data, "too_many_rows", limits=SubmissionLimits(max_rows=39))


def test_a_quoted_field_spanning_lines_counts_as_one_row():
    data = b'ticker,signal\n"A\n\n\nB",0.5\nC,0.25\n'
    parsed = parse_submission(data, limits=SubmissionLimits(max_rows=2))
    assert parsed.rows["id"].tolist() == ["A\n\n\nB", "C"] and parsed.rows["line"].tolist() == [2, 6]
    _reject(data, "too_many_rows", limits=SubmissionLimits(max_rows=1))


# --------------------------------------------------------------------------- CSV columns
def test_csv_header_at_the_column_limit_passes_and_one_more_is_rejected():
    def wide(extra: int) -> bytes:  # trailing separators: empty unnamed columns, legal
        return b"ticker,signal" + b"," * extra + b"\nA,0.2" + b"," * extra + b"\nB,0.8" + b"," * extra + b"\n"

    assert parse_submission(wide(62)).rows["id"].tolist() == ["A", "B"]  # 64 columns
    error = _reject(wide(63), "too_many_columns")
    assert str(error) == "the header has 65 columns, over the limit of 64 (rule: max columns)"


def test_columns_are_counted_on_the_header_after_blank_lines_and_a_bom():
    data = b"\xef\xbb\xbf\n,,\n date ,ticker,signal\n2024-01-05,A,0.5\n"
    assert parse_submission(data, limits=SubmissionLimits(max_columns=3)).date_column == "date"
    _reject(data, "too_many_columns", limits=SubmissionLimits(max_columns=2))


# --------------------------------------------------------------------------- Parquet
def test_parquet_rows_and_columns_at_the_limit_pass_and_over_it_are_rejected():
    data = _parquet(FRAME)
    assert parse_submission(data, limits=SubmissionLimits(max_rows=3, max_columns=3)).n_rows == 3
    error = _reject(data, "too_many_rows", limits=SubmissionLimits(max_rows=2))
    assert str(error) == "the file has 3 rows, over the limit of 2 (rule: max rows)"
    error = _reject(data, "too_many_columns", limits=SubmissionLimits(max_columns=2))
    assert str(error) == "the schema has 3 columns, over the limit of 2 (rule: max columns)"


def test_parquet_uncompressed_size_and_footer_size_are_bounded():
    data = _parquet(FRAME)
    metadata = pq.ParquetFile(io.BytesIO(data)).metadata
    size = sum(metadata.row_group(i).total_byte_size for i in range(metadata.num_row_groups))
    footer = int.from_bytes(data[-8:-4], "little")
    assert parse_submission(data, limits=SubmissionLimits(max_decompressed_bytes=size, max_metadata_bytes=footer))
    error = _reject(data, "too_large_decompressed", limits=SubmissionLimits(max_decompressed_bytes=size - 1))
    assert f"{size:,} bytes uncompressed" in str(error) and "rule: max decompressed size" in str(error)
    error = _reject(data, "too_large_metadata", limits=SubmissionLimits(max_metadata_bytes=footer - 1))
    assert "rule: max metadata size" in str(error)


def test_a_parquet_file_with_a_foreign_column_is_rejected_by_its_schema():
    data = _parquet(FRAME.assign(notes="x"))
    error = _reject(data, "extra_column")
    assert error.column == "notes"
    _reject(data[:-8], "unreadable")  # no footer


# --------------------------------------------------------------------------- time
def test_time_budget_is_checked_between_parse_stages():
    error = _reject(_csv(10), "validation_timeout", limits=SubmissionLimits(max_seconds=1e-9))
    assert "rule: max validation time" in str(error)


def test_parse_time_counts_against_the_validation_budget():
    parsed = parse_submission(submission_csv(MEMBERS[:120]))
    tickers = TickerMap.from_securities(securities())
    assert validate_submission(parsed, tickers=tickers, universe=universe_members, date=DAYS[0]).n_accepted == 120
    slow = dataclasses.replace(parsed, seconds=31.0)  # as if parsing had taken 31 s
    with pytest.raises(SubmissionError) as caught:
        validate_submission(slow, tickers=tickers, universe=universe_members, date=DAYS[0])
    assert caught.value.rule == "validation_timeout"
    generous = SubmissionLimits(max_seconds=60)
    assert validate_submission(slow, tickers=tickers, universe=universe_members, date=DAYS[0],
                               limits=generous).n_accepted == 120


def test_submit_passes_limits_to_parsing_and_validation(submission_store):
    create_model(submission_store, "alpha")
    data = submission_csv(MEMBERS[:120], date=DAYS[1])
    with pytest.raises(SubmissionError) as caught:
        submit(submission_store, "alpha", data, backfill=True, limits=SubmissionLimits(max_rows=119))
    assert caught.value.rule == "too_many_rows"
    with pytest.raises(SubmissionError) as caught:
        submit(submission_store, "alpha", data, backfill=True, limits=SubmissionLimits(max_seconds=1e-9))
    assert caught.value.rule == "validation_timeout"
    assert list_submissions(submission_store, "alpha").empty
    receipt = submit(submission_store, "alpha", data, backfill=True, limits=SubmissionLimits(max_rows=120))
    assert receipt.n_accepted == 120


# --------------------------------------------------------------------------- small bodies
def test_an_error_on_many_rows_names_a_capped_number_of_lines():
    n = 200_000
    data = b"ticker,signal\n" + b"".join(b"T%d,2\n" % i for i in range(n))
    error = _reject(data, "out_of_range")
    assert error.lines == tuple(range(2, 2 + SubmissionError.MAX_LINES)) and error.n_lines == n
    assert error.lines_truncated and str(error).endswith("and 199,995 more: value outside [0, 1] "
                                                         "(rule: signals must be finite numbers in [0, 1])")


def test_duplicate_rows_on_one_date_name_a_capped_number_of_lines():
    n = 50_000
    parsed = parse_submission(submission_csv(MEMBERS[:120] + [MEMBERS[0]] * n, np.linspace(0, 1, 120 + n)))
    with pytest.raises(SubmissionError) as caught:
        validate_submission(parsed, tickers=TickerMap.from_securities(securities()), universe=universe_members,
                            date=DAYS[0])
    error = caught.value
    assert error.rule == "duplicate_ticker" and error.n_lines == n + 1
    assert len(error.lines) == SubmissionError.MAX_LINES and error.lines[0] == 2
    assert len(str(error)) < 300


def test_error_lines_are_capped_for_any_iterable():
    error = SubmissionError("x", rule="r", lines=(i for i in range(1, 1_000_001)))
    assert error.lines == tuple(range(1, 21)) and error.n_lines == 1_000_000
    small = SubmissionError("x", rule="r", lines=np.array([4, 9]))
    assert small.lines == (4, 9) and small.n_lines == 2 and not small.lines_truncated


def test_receipt_reply_caps_dropped_ids_but_the_receipt_keeps_them(submission_store):
    create_model(submission_store, "alpha")
    unknown = [f"NOPE{i} US" for i in range(500)]
    receipt = submit(submission_store, "alpha", submission_csv(MEMBERS[:120] + unknown, date=DAYS[1]), backfill=True)
    assert receipt.dropped_ids == tuple(unknown) and receipt.n_dropped == 500
    body = receipt.to_dict()
    assert body["dropped_ids"] == unknown[: SubmissionReceipt.MAX_DROPPED_SHOWN]
    assert body["n_dropped_ids"] == 500 and body["n_dropped"] == 500 and body["dropped_ids_truncated"] is True
    assert len(json.dumps(body)) < 3_000
    few = dataclasses.replace(receipt, dropped_ids=("NOPE US",)).to_dict()
    assert few["dropped_ids"] == ["NOPE US"] and few["n_dropped_ids"] == 1 and few["dropped_ids_truncated"] is False


# --------------------------------------------------------------------------- adversarial files
_CHILD = """
import json, re, resource, sys, time
import pyarrow, pyarrow.parquet
from metasignal.signals.submission import SubmissionError, parse_submission


def peak_mb():
    # VmHWM: this process's peak resident memory since exec. ru_maxrss is not used: after
    # fork + exec it still holds the forking parent's peak (pytest's), hiding the child's own.
    try:
        status = open("/proc/self/status").read()
        return int(re.search(r"VmHWM:\\s+(\\d+) kB", status).group(1)) / 1024
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


data = open(sys.argv[1], "rb").read()
out = {}
if sys.argv[2] == "parse":
    start = time.perf_counter()
    try:
        parse_submission(data)
    except SubmissionError as error:
        out["rule"] = error.rule
    out["seconds"] = time.perf_counter() - start
out["peak_mb"] = peak_mb()
out["arrow_peak_mb"] = pyarrow.default_memory_pool().max_memory() / 2**20
print(json.dumps(out))
"""


def _child(path, mode: str) -> dict:
    """Run the parse (mode ``parse``), or only the imports and the read (``read``), in a fresh
    interpreter: the difference of their peaks is what parsing this file costs."""
    done = subprocess.run([sys.executable, "-c", _CHILD, str(path), mode], capture_output=True, text=True,
                          timeout=120, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def adversarial_files(tmp_path_factory):
    return write_adversarial_files(tmp_path_factory.mktemp("adversarial"))


@pytest.mark.parametrize("rule", ["too_many_rows", "too_many_columns"])
def test_adversarial_files_are_rejected_fast_and_small(adversarial_files, rule):
    path = adversarial_files[rule]
    assert path.stat().st_size < (1 * MiB if rule == "too_many_rows" else 30 * MiB)
    baseline = _child(path, "read")
    measured = _child(path, "parse")
    assert measured["rule"] == rule
    assert measured["seconds"] < 2.0, measured
    assert measured["peak_mb"] - baseline["peak_mb"] < 200, (measured, baseline)
    assert measured["arrow_peak_mb"] < 50, measured
