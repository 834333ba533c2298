import numpy as np
import pandas as pd
import pytest

from metasignal.data.store import Store
from metasignal.errors import StoreError, UnknownTickerError


def test_missing_store_is_a_one_line_error(tmp_path):
    with pytest.raises(StoreError, match="no store at"):
        Store.open(tmp_path / "absent.duckdb")


def test_env_variable_selects_the_store(tmp_path, monkeypatch):
    from metasignal.data.store import resolve_db_path

    monkeypatch.setenv("METASIGNAL_DB", str(tmp_path / "x.duckdb"))
    assert resolve_db_path() == tmp_path / "x.duckdb"
    assert resolve_db_path(tmp_path / "y.duckdb") == tmp_path / "y.duckdb"


def test_transaction_rolls_back_everything_on_error(store_copy):
    before = store_copy.one("SELECT count(*), sum(close) FROM bars")
    with pytest.raises(RuntimeError):
        with store_copy.transaction():
            store_copy.con.execute("DELETE FROM bars WHERE ticker IN (SELECT ticker FROM securities LIMIT 10)")
            with store_copy.transaction():  # nested blocks join the outer one
                store_copy.set_meta("x", 1)
            raise RuntimeError("boom")
    assert store_copy.one("SELECT count(*), sum(close) FROM bars") == before
    assert store_copy.get_meta("x") is None


def test_unknown_ticker_and_bad_dates(store_copy):
    with pytest.raises(UnknownTickerError, match="ZZZZ XX"):
        store_copy.security("ZZZZ XX")
    with pytest.raises(StoreError, match="empty date range"):
        store_copy.returns("2021-03-01", "2021-01-01")
    with pytest.raises(StoreError, match="not a trading day"):
        store_copy.universe("2020-01-04")  # a Saturday


def test_point_in_time_readers_agree_with_each_other(store_copy):
    day = store_copy.trading_days()[200]
    universe = store_copy.universe(day)
    exposures = store_copy.exposures(day)
    assert list(exposures.index) == list(universe)
    assert exposures[["beta", "size", "momentum", "volatility"]].abs().max().max() <= 3.0 + 1e-12
    assert exposures["sample_weight"].gt(0).all()
    assert exposures["sample_weight"].mean() == pytest.approx(np.sqrt(len(universe) / 5000))  # see derived.py
    returns = store_copy.returns(day - pd.Timedelta(days=30), day)
    assert returns.index[-1] == day
    assert set(universe) <= set(returns.columns)


def test_info_reports_the_contents(store_copy):
    info = store_copy.info()
    assert info["tickers"] == 150 and info["countries"] == 20 and info["sectors"] == 11
    assert info["last_derived_date"] == str(info["last_date"])
    assert info["source"] == "synthetic"


def test_daily_arrays_match_the_panels(store_copy):
    days = store_copy.trading_days()[100:140]
    tickers = store_copy.securities().index[:40].append(pd.Index(["NOT THERE"]))
    arrays = store_copy.daily_arrays(("ret", "beta", "in_universe"), days, tickers)
    for name in ("ret", "beta"):
        expected = store_copy.panel(name, days[0], days[-1]).reindex(index=days, columns=tickers)
        np.testing.assert_array_equal(arrays[name], expected.to_numpy(dtype=float))
    universe = store_copy.panel("in_universe", days[0], days[-1]).reindex(index=days, columns=tickers)
    np.testing.assert_array_equal(arrays["in_universe"], universe.fillna(False).to_numpy(dtype=bool))
    assert not arrays["in_universe"][:, -1].any() and np.isnan(arrays["ret"][:, -1]).all()


def test_a_failed_insert_reports_its_cause_on_one_line_and_changes_nothing(store_copy):
    before = store_copy.securities()
    frame = pd.DataFrame({"ticker": ["NEW US"], "country": ["US"], "sector": ["Energy"],
                          "shares_outstanding": ["a lot"]})
    with pytest.raises(StoreError, match="securities") as caught:
        store_copy.write_securities(frame)
    message = str(caught.value)
    assert "\n" not in message and "transaction is aborted" not in message and "a lot" in message
    pd.testing.assert_frame_equal(store_copy.securities(), before)
    store_copy.set_meta("after", 1)  # the connection is usable again
    assert store_copy.get_meta("after") == "1"


def test_targets_of_a_day_without_universe_say_so(store_copy):
    early = store_copy.trading_days()[10]  # before any name has 60 days of history
    with pytest.raises(StoreError, match="no ticker is in the universe") as caught:
        store_copy.targets(early)
    assert "window has not passed" not in str(caught.value)
    with pytest.raises(StoreError, match="window has not passed"):
        store_copy.targets(store_copy.last_date())


def test_a_store_held_by_another_process_is_waited_for_then_refused_in_one_line(tmp_path, monkeypatch):
    import subprocess
    import sys
    import time

    path = tmp_path / "held.duckdb"
    Store.open(path, create=True).close()
    hold = "import duckdb, sys, time; c = duckdb.connect(sys.argv[1]); print('held', flush=True); time.sleep(float(sys.argv[2]))"
    holder = subprocess.Popen([sys.executable, "-c", hold, str(path), "30"], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        monkeypatch.setenv("METASIGNAL_LOCK_WAIT", "0.5")
        began = time.monotonic()
        with pytest.raises(StoreError, match=rf"in use by process {holder.pid} \(waited 0.5 s") as caught:
            Store.open(path)
        assert time.monotonic() - began >= 0.5 and "\n" not in str(caught.value)
    finally:
        holder.kill()
        holder.wait()
    brief = subprocess.Popen([sys.executable, "-c", hold, str(path), "1"], stdout=subprocess.PIPE, text=True)
    assert brief.stdout.readline().strip() == "held"
    monkeypatch.setenv("METASIGNAL_LOCK_WAIT", "20")
    with Store.open(path) as store:  # opens once the brief holder exits
        assert store.path == path
    brief.wait()
