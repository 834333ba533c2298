import numpy as np
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
    assert import_file(empty_store, _securities_csv(tmp_path)).counts == {"securities": 3}
    counts = import_file(empty_store, _bars_csv(tmp_path)).counts
    assert counts["bars"] == 240
    day = empty_store.trading_days()[-1]
    assert list(empty_store.universe(day)) == ["T0 US", "T1 US", "T2 US"]


def test_bars_for_unknown_tickers_are_refused(empty_store, tmp_path):
    with pytest.raises(UnknownTickerError, match="T0 US"):
        import_file(empty_store, _bars_csv(tmp_path))


@pytest.mark.parametrize(
    "text, message",
    [
        ("date,ticker,volume\n2023-01-02,T0 US,1\n",
         "missing required column\\(s\\) close \\(a long bars file has columns date,ticker,close\\[,volume"),
        ("date,ticker,close,volume\n2023-01-02,T0 US,1,many\n", "column volume: non-numeric or missing value on line"),
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


def _wide_closes(n_tickers=12, n_days=90, seed=0) -> pd.DataFrame:
    """Closes of ``n_tickers`` names over ``n_days`` business days, one column per symbol."""
    rng = np.random.default_rng(seed)
    days = pd.bdate_range("2023-01-02", periods=n_days)
    growth = np.exp(np.cumsum(rng.normal(0.0, 0.02, (n_days, n_tickers)), axis=0))
    return pd.DataFrame(50.0 * growth, index=pd.Index(days, name="Date"), columns=[f"T{i}" for i in range(n_tickers)])


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_a_wide_close_file_is_reshaped_and_matched_to_the_securities_symbols(empty_store, tmp_path, suffix):
    import_file(empty_store, _securities_csv(tmp_path, n=12))
    closes = _wide_closes()
    closes.iloc[:30, 0] = np.nan  # T0 lists later: its blank cells are no bars
    path = tmp_path / f"wide{suffix}"
    closes.reset_index().to_parquet(path) if suffix == ".parquet" else closes.to_csv(path)
    result = import_file(empty_store, path)
    assert result.counts["bars"] == closes.notna().sum().sum()
    stored = empty_store.con.execute("SELECT ticker, count(*), count(volume) FROM bars GROUP BY ticker ORDER BY ticker"
                                     ).fetchall()
    assert stored[0] == ("T0 US", 60, 0) and stored[1] == ("T1 US", 90, 0)  # volume unknown, not 0
    close = empty_store.one("SELECT close FROM bars WHERE ticker = 'T3 US' AND date = '2023-02-01'")[0]
    assert close == pytest.approx(closes.loc["2023-02-01", "T3"])
    assert result.report.without_volume == [f"T{i} US" for i in sorted(range(12), key=str)]
    assert empty_store.degraded_modes()["volume"] == "none"


def test_a_file_of_no_known_shape_names_its_columns_and_the_formats(empty_store, tmp_path):
    path = _write(tmp_path / "odd.csv", "Symbol,Price\nAAPL,1\n")
    with pytest.raises(DataValidationError, match="not a bars or securities file \\(found columns Symbol, Price\\): "
                                                  "expected long bars date,ticker,close"):
        import_file(empty_store, path)


def test_a_non_numeric_cell_of_a_wide_file_names_its_line_and_ticker(empty_store, tmp_path):
    import_file(empty_store, _securities_csv(tmp_path, n=2))
    path = _write(tmp_path / "wide.csv", "date,T0,T1\n2023-01-02,1,2\n2023-01-03,1,n/a?\n")
    with pytest.raises(DataValidationError, match="wide.csv: column T1: non-numeric close on line\\(s\\) 3"):
        import_file(empty_store, path)


def test_bars_with_volume_zero_import_in_the_no_volume_mode_and_the_report_says_so(empty_store, tmp_path):
    """The issue's bad case: volume 0 used to give '0 targets rows' and exit 0 with nothing said."""
    import_file(empty_store, _securities_csv(tmp_path, n=12))
    long = _wide_closes().stack().rename("close").reset_index().rename(columns={"Date": "date", "level_1": "ticker"})
    long["ticker"] = long["ticker"] + " US"
    long["volume"] = 0
    path = tmp_path / "zero_volume.csv"
    long.to_csv(path, index=False)
    report = import_file(empty_store, path).report
    assert len(report.without_volume) == 12 and report.universe_summary()["max"] == 12
    assert report.target_rows > 0 and report.refusal is None


def test_an_import_with_an_empty_universe_is_refused_and_writes_nothing(empty_store, tmp_path):
    import_file(empty_store, _securities_csv(tmp_path, n=12))
    before = empty_store.one("SELECT count(*) FROM bars")[0], dict(empty_store.con.execute("SELECT * FROM meta").fetchall())
    _wide_closes(n_days=40).to_csv(tmp_path / "short.csv")
    with pytest.raises(DataValidationError, match="short.csv: refused, nothing imported: fewer than 60 days of history: "
                                                  "the universe needs 60 daily returns and the longest name has 39"):
        import_file(empty_store, tmp_path / "short.csv")
    after = empty_store.one("SELECT count(*) FROM bars")[0], dict(empty_store.con.execute("SELECT * FROM meta").fetchall())
    assert after == before == (0, before[1])


def test_too_few_names_for_targets_is_a_note_not_silence(empty_store, tmp_path):
    import_file(empty_store, _securities_csv(tmp_path, n=3))
    report = import_file(empty_store, _bars_csv(tmp_path)).report
    assert report.target_rows == 0
    assert report.notes == ["0 target rows: a date gets targets when at least 10 universe names have a complete "
                            "target window; this store has at most 3 universe names"]
