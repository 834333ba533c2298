import pandas as pd
import pytest

from metasignal.data.file_loader import import_file
from metasignal.data.store import Store
from metasignal.errors import DataValidationError, UnknownTickerError


def _write(path, text):
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def empty_store(tmp_path):
    store = Store.open(tmp_path / "files.duckdb", create=True)
    yield store
    store.close()


def _securities_csv(tmp_path, n=3):
    rows = "\n".join(f"T{i} US,US,Energy" for i in range(n))
    return _write(tmp_path / "securities.csv", "ticker,country,sector\n" + rows + "\n")


def _bars_csv(tmp_path, n_tickers=3, n_days=80):
    days = pd.bdate_range("2023-01-02", periods=n_days)
    lines = ["date,ticker,close,volume"]
    for i in range(n_tickers):
        for k, day in enumerate(days):
            lines.append(f"{day.date()},T{i} US,{100 + i + 0.1 * k},{1000 + k}")
    return _write(tmp_path / "bars.csv", "\n".join(lines) + "\n")


def test_securities_then_bars_import_and_derive(empty_store, tmp_path):
    assert import_file(empty_store, _securities_csv(tmp_path)) == {"securities": 3}
    counts = import_file(empty_store, _bars_csv(tmp_path))
    assert counts["bars"] == 240
    day = empty_store.trading_days()[-1]
    assert list(empty_store.universe(day)) == ["T0 US", "T1 US", "T2 US"]


def test_bars_for_unknown_tickers_are_refused(empty_store, tmp_path):
    with pytest.raises(UnknownTickerError, match="T0 US"):
        import_file(empty_store, _bars_csv(tmp_path))


@pytest.mark.parametrize(
    "text, message",
    [
        ("date,ticker,close\n2023-01-02,T0 US,1\n", "missing required column\\(s\\) volume"),
        ("date,ticker,close,volume\n2023-01-02,T0 US,abc,1\n", "column close: non-numeric or missing value on line\\(s\\) 2"),
        ("date,ticker,close,volume\n2023-01-02,T0 US,1,1\nnot a date,T0 US,1,1\n", "column date: unparseable date on line\\(s\\) 3"),
        ("date,ticker,close,volume\n2023-01-02,T0 US,-1,1\n", "prices must be positive"),
        ("date,ticker,close,volume\n2023-01-02,T0 US,1,1\n2023-01-02,T0 US,2,1\n", "duplicate \\(date, ticker\\) on line\\(s\\) 3"),
        ("date,ticker,close,volume\n", "no rows"),
    ],
)
def test_malformed_bars_name_the_line_column_and_rule(empty_store, tmp_path, text, message):
    import_file(empty_store, _securities_csv(tmp_path))
    with pytest.raises(DataValidationError, match=message):
        import_file(empty_store, _write(tmp_path / "bad.csv", text))


def test_failed_import_leaves_the_store_unchanged(store_copy, tmp_path, monkeypatch):
    before = store_copy.one("SELECT count(*), sum(close) FROM bars"), store_copy.one("SELECT count(*), sum(beta) FROM daily")
    ticker = store_copy.securities().index[0]
    day = store_copy.last_date() + pd.offsets.BDay(1)
    path = _write(tmp_path / "more.csv", f"date,ticker,close,volume\n{day.date()},{ticker},10,100\n")

    import metasignal.data.file_loader as loader

    def crash(*args, **kwargs):
        raise RuntimeError("disk full while deriving")

    monkeypatch.setattr(loader, "derive_store", crash)
    with pytest.raises(RuntimeError, match="disk full"):
        import_file(store_copy, path)
    after = store_copy.one("SELECT count(*), sum(close) FROM bars"), store_copy.one("SELECT count(*), sum(beta) FROM daily")
    assert after == before


@pytest.mark.parametrize(
    "text, message",
    [
        ("ticker,country,sector,shares_outstanding\nT0 US,US,Energy,1e6\nT1 US,US,Energy,lots\n",
         "column shares_outstanding: non-numeric value on line\\(s\\) 3"),
        ("ticker,country,sector,listed\nT0 US,US,Energy,2020-01-02\nT1 US,US,Energy,soon\n",
         "column listed: unparseable date on line\\(s\\) 3"),
    ],
)
def test_malformed_securities_name_the_line_and_leave_the_store_unchanged(empty_store, tmp_path, text, message):
    import_file(empty_store, _securities_csv(tmp_path))
    before = empty_store.securities()
    with pytest.raises(DataValidationError, match=message):
        import_file(empty_store, _write(tmp_path / "bad.csv", text))
    pd.testing.assert_frame_equal(empty_store.securities(), before)


def test_a_blank_adj_close_is_refused_not_stored_as_a_missing_return(empty_store, tmp_path):
    import_file(empty_store, _securities_csv(tmp_path))
    text = "date,ticker,close,volume,adj_close\n2023-01-02,T0 US,10,100,10\n2023-01-03,T0 US,11,100,\n"
    with pytest.raises(DataValidationError, match="column adj_close: non-numeric or missing value on line\\(s\\) 3"):
        import_file(empty_store, _write(tmp_path / "bars.csv", text))
