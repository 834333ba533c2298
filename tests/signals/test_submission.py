"""Parsing and validating submission files: every rule names its lines, column and rule."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from submission_fixtures import (
    DAYS,
    LAST_MEMBER_LEAVES_AFTER,
    N_UNIVERSE,
    securities,
    submission_csv,
    universe_members,
)

from metasignal.errors import DataValidationError
from metasignal.signals.submission import (
    SubmissionError,
    SubmissionTooLargeError,
    parse_submission,
    store_universes,
    validate_for_store,
    validate_submission,
)
from metasignal.signals.tickers import TickerMap

SECURITIES = securities()
MEMBERS = list(universe_members(DAYS[0]))  # 140 canonical tickers
OUTSIDE = list(SECURITIES.index[N_UNIVERSE:])  # known securities outside the universe


def _reject(data, rule: str, **kwargs) -> SubmissionError:
    with pytest.raises(SubmissionError) as caught:
        parse_submission(data, **kwargs)
    assert caught.value.rule == rule, str(caught.value)
    assert isinstance(caught.value, DataValidationError)
    assert "\n" not in str(caught.value)
    return caught.value


def _validate(data: bytes, *, date=DAYS[0], min_tickers: int = 100, universe=None):
    return validate_submission(
        parse_submission(data),
        tickers=TickerMap.from_securities(SECURITIES),
        universe=universe_members if universe is None else universe,
        date=date,
        min_tickers=min_tickers,
    )


# --------------------------------------------------------------------------- accepted shapes
def test_bom_crlf_quotes_whitespace_and_header_case_are_accepted():
    text = '\ufeff Numerai_Ticker ,  SIGNAL \r\n"AAPX US", 0.5\r\n  BBAX JP ,"0.25"\r\n\r\n" CCAX GB ",1\r\n'
    parsed = parse_submission(text.encode("utf-8"))
    assert parsed.id_column == "numerai_ticker" and parsed.signal_column == "signal"
    assert parsed.date_column is None
    assert parsed.rows["id"].tolist() == ["AAPX US", "BBAX JP", "CCAX GB"]
    assert parsed.rows["signal"].tolist() == [0.5, 0.25, 1.0]
    assert parsed.rows["line"].tolist() == [2, 3, 5]  # the blank line 4 is skipped, not renumbered


def test_same_content_in_every_encoding_variant_parses_identically():
    plain = b"ticker,signal\nA,0.1\nB,0.9\n"
    variants = [
        b"\xef\xbb\xbf" + plain,
        plain.replace(b"\n", b"\r\n"),
        b'"ticker","signal"\n"A","0.1"\n"B","0.9"\n',
        b"  ticker  ,\tsignal\nA , 0.1 \n B,0.9\n\n\n",
        b"ticker,signal,\nA,0.1,\nB,0.9,\n",  # trailing separators: an empty unnamed column
    ]
    expected = parse_submission(plain).rows[["id", "signal"]]
    for data in variants:
        pd.testing.assert_frame_equal(parse_submission(data).rows[["id", "signal"]], expected)


def test_line_numbers_count_newlines_inside_quoted_fields():
    parsed = parse_submission(b'ticker,signal\n"A\nB",0.1\nC,0.2\n')
    assert parsed.rows["line"].tolist() == [2, 4]


def test_prediction_column_and_any_column_order():
    parsed = parse_submission(b"prediction,bloomberg_ticker\n0.3,AAPL UW\n")
    assert (parsed.id_column, parsed.signal_column) == ("bloomberg_ticker", "prediction")


def test_date_columns_iso_and_compact_and_multi_date():
    parsed = parse_submission(b"friday_date,ticker,signal\n20240105,A,0.1\n2024-01-12,A,0.2\n2024-01-12T00:00:00Z,B,0.3\n")
    assert parsed.date_column == "friday_date"
    assert parsed.rows["date"].tolist() == [pd.Timestamp("2024-01-05"), pd.Timestamp("2024-01-12"), pd.Timestamp("2024-01-12")]


def test_data_type_is_dropped_with_a_warning():
    parsed = parse_submission(b"ticker,signal,data_type\nA,0.1,live\n")
    assert parsed.warnings and "data_type" in parsed.warnings[0]
    assert list(parsed.rows.columns) == ["line", "id", "date", "signal"]


def test_values_a_hair_outside_zero_one_are_clipped():
    parsed = parse_submission(b"ticker,signal\nA,-1e-12\nB,1.000000000001\n")
    assert parsed.rows["signal"].tolist() == [0.0, 1.0]


def test_parquet_is_read_by_magic_bytes_and_rows_are_numbered():
    frame = pd.DataFrame({"date": pd.to_datetime(["2024-01-02", "2024-01-02"]), "sedol": [100000, 100001],
                          "signal": [0.2, 0.8]})
    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=False)
    parsed = parse_submission(buffer.getvalue())
    assert parsed.file_format == "parquet" and parsed.unit == "row"
    assert parsed.rows["id"].tolist() == ["100000", "100001"]
    assert parsed.rows["line"].tolist() == [1, 2]
    assert parsed.rows["date"].tolist() == [pd.Timestamp("2024-01-02")] * 2


def test_parquet_duplicate_columns():
    import pyarrow as pa
    import pyarrow.parquet as pq

    buffer = io.BytesIO()
    pq.write_table(pa.table([pa.array(["A"]), pa.array([0.5]), pa.array([0.6])], names=["ticker", "signal", "Signal"]), buffer)
    assert "'signal' appears 2 times in the schema" in str(_reject(buffer.getvalue(), "duplicate_column"))


def test_truncated_parquet_is_unreadable():
    buffer = io.BytesIO()
    pd.DataFrame({"ticker": ["A"], "signal": [0.5]}).to_parquet(buffer)
    error = _reject(buffer.getvalue()[:40], "unreadable")
    assert "not a readable Parquet file" in str(error)


def test_parquet_index_columns_written_by_pandas():
    named, unnamed = io.BytesIO(), io.BytesIO()
    pd.DataFrame({"signal": [0.1, 0.2]}, index=pd.Index(["A US", "B US"], name="numerai_ticker")).to_parquet(named)
    pd.DataFrame({"ticker": ["A", "B"], "signal": [0.1, 0.2]}, index=[5, 6]).to_parquet(unnamed)
    assert parse_submission(named.getvalue()).rows["id"].tolist() == ["A US", "B US"]  # a named index is a column
    assert parse_submission(unnamed.getvalue()).rows["id"].tolist() == ["A", "B"]  # an unnamed one is dropped


def test_parquet_bad_value_names_the_row():
    buffer = io.BytesIO()
    pd.DataFrame({"ticker": ["A", "B", "C"], "signal": [0.2, np.nan, 0.5]}).to_parquet(buffer, index=False)
    error = _reject(buffer.getvalue(), "missing_value")
    assert "row 2" in str(error) and "'signal'" in str(error)


def test_file_objects_and_paths_are_read(tmp_path):
    path = tmp_path / "sub.csv"
    path.write_bytes(b"ticker,signal\nA,0.5\n")
    assert parse_submission(path).n_rows == 1
    assert parse_submission(str(path)).n_rows == 1
    assert parse_submission(io.BytesIO(b"ticker,signal\nA,0.5\n")).n_rows == 1


# --------------------------------------------------------------------------- rejections: file
def test_size_limit_is_checked_before_reading(tmp_path, monkeypatch):
    path = tmp_path / "big.csv"
    path.write_bytes(b"ticker,signal\n" + b"AAAA US,0.5\n" * 100)
    from pathlib import Path

    def never(self):
        raise AssertionError("the file was read before its size was checked")

    monkeypatch.setattr(Path, "read_bytes", never)
    with pytest.raises(SubmissionTooLargeError, match="over the size limit of 1,000 bytes"):
        parse_submission(path, max_bytes=1000)


def test_size_limit_reads_at_most_limit_plus_one_byte_from_a_stream():
    stream = io.BytesIO(b"x" * 10_000)
    error = _reject(stream, "file_too_large", max_bytes=100)
    assert stream.tell() == 101
    assert "100 bytes" in str(error)


@pytest.mark.parametrize("data", [b"", b"   \r\n\r\n", b"\xef\xbb\xbf", b",,\n,,\n"])
def test_empty_file(data):
    assert "empty" in str(_reject(data, "empty_file"))


def test_header_without_rows():
    assert "no data rows" in str(_reject(b"ticker,signal\r\n\r\n", "empty_file"))


def test_not_utf8_names_the_line():
    error = _reject("ticker,signal\nA,0.5\nB\xe9,0.4\n".encode("latin-1"), "encoding")
    assert str(error).startswith("line 3:") and "UTF-8" in str(error) and error.lines == (3,)


def test_missing_file(tmp_path):
    _reject(tmp_path / "nope.csv", "missing_file")


# --------------------------------------------------------------------------- rejections: columns
def test_missing_id_column():
    error = _reject(b"symbol,signal\nA,0.5\n", "missing_column")
    assert "missing id column" in str(error) and "'symbol'" in str(error)


def test_missing_value_column():
    error = _reject(b"ticker,score\nA,0.5\n", "missing_column")
    assert "missing value column" in str(error) and "signal, prediction" in str(error)


def test_wrong_separator_gets_a_hint():
    assert "comma-separated" in str(_reject(b"ticker;signal\nA;0.5\n", "missing_column"))


def test_extra_column_is_named_with_its_position():
    error = _reject(b"ticker,signal,confidence\nA,0.5,1\n", "extra_column")
    assert "'confidence' (column 3)" in str(error) and error.column == "confidence"


def test_duplicate_column():
    error = _reject(b"ticker,signal,Signal\nA,0.5,0.6\n", "duplicate_column")
    assert "'signal' appears 2 times" in str(error) and "columns 2, 3" in str(error)


@pytest.mark.parametrize(
    "header, named",
    [(b"ticker,sedol,signal", "id column"), (b"ticker,signal,prediction", "value column"),
     (b"ticker,signal,date,friday_date", "date column")],
)
def test_two_columns_of_one_role(header, named):
    assert f"more than one {named}" in str(_reject(header + b"\n", "ambiguous_column"))


def test_row_with_too_many_fields_names_the_line():
    error = _reject(b'ticker,signal\nA,0.5\n"X\nY",0.2\n\nB,0.5,3\n', "field_count")
    assert str(error).startswith("line 6 has 3 fields") and error.lines == (6,)


def test_unclosed_quote_names_the_line():
    error = _reject(b'ticker,signal\nA,0.5\n"B,0.3\nC,0.1\n', "malformed_csv")
    assert str(error).startswith("line 3:") and "quote" in str(error)


# --------------------------------------------------------------------------- rejections: values
@pytest.mark.parametrize(
    "rows, rule, lines, problem",
    [
        (b"A,0.5\nB,abc\nC,0..1\n", "non_numeric", [3, 4], "not a number"),
        (b"A,0.5\nB,\nC,NaN\nD,null\n", "missing_value", [3, 4, 5], "missing or NaN"),
        (b"A,0.5\nB,inf\nC,-Infinity\n", "non_finite", [3, 4], "infinite"),
        (b"A,0.5\nB,1.5\nC,-0.1\nD,1\nE,0\n", "out_of_range", [3, 4], "outside [0, 1]"),
        (b"A,0.5\n ,0.4\n", "missing_id", [3], "id is empty"),
    ],
)
def test_bad_values_name_lines_column_and_rule(rows, rule, lines, problem):
    error = _reject(b"ticker,signal\n" + rows, rule)
    message = str(error)
    assert error.lines == tuple(lines)
    assert all(f"line {line}" in message for line in lines)
    assert "column 'signal'" in message or "column 'ticker'" in message
    assert problem in message and "(rule: " in message


def test_many_bad_rows_show_the_first_few_and_count_the_rest():
    data = b"ticker,signal\n" + b"".join(b"T%d,2\n" % i for i in range(12))
    error = _reject(data, "out_of_range")
    assert "line 2 ('2'), line 3 ('2')" in str(error) and "and 7 more" in str(error)
    assert len(error.lines) == 12


def test_unparseable_dates_name_lines():
    error = _reject(b"ticker,signal,date\nA,0.5,2024-01-05\nB,0.4,01/05/2024\nC,0.3,\n", "bad_date")
    assert "column 'date'" in str(error) and "line 3 ('01/05/2024'), line 4 ('')" in str(error)


# --------------------------------------------------------------------------- validation against the universe
def test_unknown_and_outside_universe_ids_are_dropped_and_reported():
    ids = MEMBERS[:120] + ["NOPE US"] + OUTSIDE[:3]
    validated = _validate(submission_csv(ids))
    assert validated.n_accepted == 120 and validated.n_dropped == 4
    assert validated.dropped_ids == ["NOPE US"] + OUTSIDE[:3]
    assert validated.dropped["reason"].tolist() == ["unknown id"] + ["not in universe"] * 3
    assert validated.dropped["line"].tolist() == [122, 123, 124, 125]
    assert list(validated.frame.columns) == ["date", "ticker", "signal"]
    assert validated.frame["ticker"].is_unique and validated.frame["ticker"].is_monotonic_increasing
    assert set(validated.frame["date"]) == {DAYS[0]}


def test_ids_of_other_types_map_to_canonical_tickers():
    members = SECURITIES.loc[MEMBERS[:110]]
    for column, ids in [("bloomberg_ticker", members["bloomberg_ticker"]), ("composite_figi", members["composite_figi"]),
                        ("sedol", members["sedol"]), ("ticker", members["yahoo_symbol"])]:
        validated = _validate(submission_csv(ids, column=column))
        assert sorted(validated.frame["ticker"]) == sorted(MEMBERS[:110]), column
        assert validated.id_column == column


def test_signals_keep_their_values_through_mapping():
    values = np.linspace(0.05, 0.95, 110)
    validated = _validate(submission_csv(MEMBERS[:110], values))
    by_ticker = validated.frame.set_index("ticker")["signal"]
    assert np.allclose(by_ticker.loc[MEMBERS[:110]].to_numpy(), values)


def test_duplicate_tickers_within_a_date_are_rejected_with_both_lines():
    ids = MEMBERS[:110]
    bloomberg = list(SECURITIES.loc[ids, "bloomberg_ticker"])
    data = submission_csv(ids + [bloomberg[5]], column="ticker")  # same security, two spellings
    with pytest.raises(SubmissionError) as caught:
        _validate(data)
    error = caught.value
    assert error.rule == "duplicate_ticker" and error.lines == (7, 112)
    assert "line 7" in str(error) and "line 112" in str(error) and ids[5] in str(error)


def test_the_same_ticker_on_different_dates_is_fine():
    data = submission_csv(MEMBERS[:110], date=DAYS[0]) + submission_csv(MEMBERS[:110], date=DAYS[1]).split(b"\n", 1)[1]
    validated = _validate(data)
    assert validated.n_accepted == 220 and list(validated.dates) == [DAYS[0], DAYS[1]]


def test_universe_is_taken_per_date():
    leaver = SECURITIES.index[N_UNIVERSE - 1]
    later = DAYS[DAYS > LAST_MEMBER_LEAVES_AFTER][0]
    data = submission_csv(MEMBERS, date=DAYS[0]) + submission_csv(MEMBERS, date=later).split(b"\n", 1)[1]
    validated = _validate(data)
    assert validated.dropped[["id", "date", "reason"]].values.tolist() == [[leaver, later, "not in universe"]]


def test_too_few_tickers_names_the_date_and_minimum():
    with pytest.raises(SubmissionError) as caught:
        _validate(submission_csv(MEMBERS[:60] + ["NOPE US"]))
    message = str(caught.value)
    assert caught.value.rule == "too_few_tickers"
    assert "only 60 tickers on 2024-01-01" in message and "at least 100" in message and "'NOPE US'" in message


def test_minimum_is_configurable():
    assert _validate(submission_csv(MEMBERS[:10]), min_tickers=10).n_accepted == 10
    with pytest.raises(SubmissionError, match="at least 11 per date"):
        _validate(submission_csv(MEMBERS[:10]), min_tickers=11)


def test_constant_signal_is_rejected():
    with pytest.raises(SubmissionError) as caught:
        _validate(submission_csv(MEMBERS[:110], np.full(110, 0.5)))
    assert caught.value.rule == "constant_signal" and caught.value.column == "signal"
    assert "constant (0.5) on 2024-01-01" in str(caught.value) and "line 2" in str(caught.value)


def test_missing_date_without_a_date_column():
    with pytest.raises(SubmissionError, match="no date column and no date was given"):
        _validate(submission_csv(MEMBERS[:110]), date=None)


def test_file_dates_override_the_given_date_with_a_warning():
    validated = _validate(submission_csv(MEMBERS[:110], date=DAYS[2]), date=DAYS[0])
    assert set(validated.frame["date"]) == {DAYS[2]}
    assert any("overrides" in w for w in validated.warnings)


def test_a_plain_index_universe_applies_to_every_date():
    validated = _validate(submission_csv(MEMBERS[:110]), universe=pd.Index(MEMBERS[:105]))
    assert validated.n_accepted == 105


# --------------------------------------------------------------------------- against a store
def test_validate_for_store_defaults_to_the_last_trading_day(submission_store):
    validated = validate_for_store(submission_store, parse_submission(submission_csv(MEMBERS[:110])))
    assert set(validated.frame["date"]) == {DAYS[-1]}


def test_validate_for_store_rejects_days_off_the_calendar(submission_store):
    with pytest.raises(SubmissionError, match="2024-01-06 is not a trading day"):
        validate_for_store(submission_store, parse_submission(submission_csv(MEMBERS[:110])), date="2024-01-06")
    data = b"date,ticker,signal\n2024-01-02,A,0.5\n2024-01-06,B,0.4\n"
    with pytest.raises(SubmissionError) as caught:
        validate_for_store(submission_store, parse_submission(data))
    assert caught.value.rule == "not_trading_day" and caught.value.lines == (3,)
    assert "column 'date' at line 3 ('2024-01-06')" in str(caught.value)


def test_store_universes_equal_the_store_universe_of_each_date(submission_store):
    universes = store_universes(submission_store, DAYS[[0, 3, 4, 7]])
    assert list(universes) == list(DAYS[[0, 3, 4, 7]])
    for day, members in universes.items():
        assert list(members) == list(submission_store.universe(day))


def test_validate_for_store_uses_the_store_universe(submission_store):
    data = submission_csv(MEMBERS[:110] + OUTSIDE[:2], date=DAYS[1])
    validated = validate_for_store(submission_store, parse_submission(data))
    assert validated.n_accepted == 110 and validated.dropped_ids == OUTSIDE[:2]


# --------------------------------------------------------------------------- properties
_cell_space = st.sampled_from(["", " ", "  ", "\t"])


@settings(max_examples=40, deadline=None)
@given(
    values=st.lists(st.floats(0, 1, allow_nan=False), min_size=1, max_size=20),
    bom=st.booleans(),
    newline=st.sampled_from(["\n", "\r\n"]),
    quote=st.booleans(),
    spaces=st.lists(_cell_space, min_size=4, max_size=4),
)
def test_formatting_never_changes_the_parsed_values(values, bom, newline, quote, spaces):
    ids = [f"T{i} US" for i in range(len(values))]
    q = '"' if quote else ""
    left, right, vleft, vright = spaces
    lines = [f"{left}ticker{right},{left}signal{right}"]
    lines += [f"{q}{left}{i}{right}{q},{q}{vleft}{v!r}{vright}{q}" for i, v in zip(ids, values)]
    text = ("\ufeff" if bom else "") + newline.join(lines) + newline
    parsed = parse_submission(text.encode("utf-8"))
    assert parsed.rows["id"].tolist() == ids
    assert parsed.rows["signal"].tolist() == values
    assert parsed.rows["line"].tolist() == list(range(2, len(values) + 2))


@settings(max_examples=30, deadline=None)
@given(bad_rows=st.sets(st.integers(0, 149), min_size=1, max_size=10))
def test_out_of_range_rows_are_reported_exactly(bad_rows):
    values = np.linspace(0.0, 1.0, 150)
    values[list(bad_rows)] = 1.5
    with pytest.raises(SubmissionError) as caught:
        parse_submission(submission_csv(MEMBERS + OUTSIDE[:10], values))
    assert caught.value.lines == tuple(sorted(r + 2 for r in bad_rows))


def test_dates_outside_the_nanosecond_range_are_unreadable_not_wrapped_around():
    from metasignal.signals.submission import parse_dates

    stamps = parse_dates(pd.Series(["0001-01-01", "2262-04-12", "9999-12-31", "2024-01-05", "20240105"]))
    assert stamps.isna().tolist() == [True, True, True, False, False]
    assert stamps.iloc[3] == stamps.iloc[4] == pd.Timestamp("2024-01-05")
