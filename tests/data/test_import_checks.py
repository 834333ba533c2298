"""The import checks on tidy frames: each finding where it was planted, and nothing else."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from metasignal.data.import_checks import (
    build_report,
    empty_universe_reason,
    extreme_returns,
    gaps,
    stale_prices,
    suspected_splits,
)

DAYS = pd.bdate_range("2024-01-01", periods=30)


def _bars(closes: dict[str, np.ndarray], adj: dict[str, np.ndarray] | None = None, volume: float = 1e5):
    frames = []
    for ticker, close in closes.items():
        keep = ~np.isnan(close)
        frames.append(pd.DataFrame({"date": DAYS[: len(close)][keep], "ticker": ticker, "close": close[keep],
                                    "adj_close": (adj or closes)[ticker][keep], "volume": volume}))
    return pd.concat(frames, ignore_index=True)


def _walk(seed: int, n: int = 30) -> np.ndarray:
    return 100.0 * np.exp(np.cumsum(np.random.default_rng(seed).normal(0.0, 0.01, n)))


def test_gaps_count_the_missing_bars_inside_a_life_only():
    late = _walk(1)
    late[:5] = np.nan  # listed late: not a gap
    holed = _walk(2)
    holed[[10, 11, 20]] = np.nan
    found = gaps(_bars({"A": _walk(0), "B": late, "C": holed}))
    assert found.to_dict("list") == {"ticker": ["C"], "missing_bars": [3], "first_missing": [DAYS[10]]}


@settings(max_examples=40, deadline=None)
@given(st.sets(st.integers(1, 28), max_size=10))
def test_gaps_equal_the_interior_bars_removed(removed):
    close = _walk(3)
    close[sorted(removed)] = np.nan
    found = gaps(_bars({"A": _walk(0), "B": close}))
    assert int(found["missing_bars"].sum()) == len(removed)
    if removed:
        assert found["first_missing"].iloc[0] == DAYS[min(removed)]


def test_stale_prices_are_runs_of_an_unchanged_close():
    close = _walk(4)
    close[12:19] = close[12]  # 7 bars at one price
    close[25:28] = close[25]  # 3 bars: below the threshold
    found = stale_prices(_bars({"A": close, "B": _walk(5)}))
    assert found.to_dict("list") == {"ticker": ["A"], "first_date": [DAYS[12]], "last_date": [DAYS[18]], "bars": [7]}


def test_extreme_returns_name_the_ticker_and_date_largest_first():
    daily = pd.DataFrame({"date": [DAYS[1], DAYS[2], DAYS[3]], "ticker": ["A", "B", "C"], "ret": [0.5, -0.7, 0.1]})
    assert extreme_returns(daily).to_dict("list") == {"ticker": ["B", "A"], "date": [DAYS[2], DAYS[1]],
                                                      "ret": [-0.7, 0.5]}


def test_a_split_left_in_the_adjusted_prices_is_suspected_and_an_adjusted_one_is_not():
    raw = _walk(6)
    raw[15:] /= 3.0  # a 3-for-1 split on day 15
    adjusted = raw.copy()
    adjusted[:15] /= 3.0  # the same split, adjusted away
    found = suspected_splits(_bars({"U": raw, "S": raw.copy()}, adj={"U": raw, "S": adjusted}))
    assert list(found["ticker"]) == ["U"] and found["date"].iloc[0] == DAYS[15]
    assert found["factor"].iloc[0] == pytest.approx(1 / 3) and found["close_ratio"].iloc[0] == pytest.approx(
        found["adj_ratio"].iloc[0])


def _daily(bars: pd.DataFrame, in_universe: bool) -> pd.DataFrame:
    ordered = bars.sort_values(["ticker", "date"])
    ret = ordered.groupby("ticker")["adj_close"].pct_change()
    return ordered.assign(ret=ret, adv_20d=1e6, sigma=0.01, in_universe=in_universe)


def test_an_empty_universe_is_explained_by_the_short_history():
    bars = _bars({"A": _walk(0), "B": _walk(1)})
    assert empty_universe_reason(bars, _daily(bars, False)) == (
        "fewer than 60 days of history: the universe needs 60 daily returns and the longest name has 29")


def test_the_report_writes_json_and_csv_with_every_finding(tmp_path):
    close = _walk(7)
    close[5:12] = close[5]
    bars = _bars({"A": close, "B": _walk(8)})
    securities = pd.DataFrame({"sector": ["Energy", ""], "shares_outstanding": [1e6, np.nan]}, index=["A", "B"])
    report = build_report(bars, _daily(bars, True), securities, target_rows=0)
    assert report.without_shares == ["B"] and report.without_sector == ["B"] and report.without_volume == []
    assert report.universe_summary() == {"first_date": DAYS[0].date().isoformat(), "min": 2, "median": 2.0, "max": 2}
    data = json.loads(report.write(tmp_path / "r.json").read_text())
    assert data["stale_prices"][0]["ticker"] == "A" and data["stale_prices"][0]["bars"] == 7
    rows = pd.read_csv(report.write(tmp_path / "r.csv"))
    assert set(rows["check"]) == {"universe_size", "without_shares", "without_sector", "stale_price", "target_rows"}
    assert rows.loc[rows["check"] == "stale_price", "ticker"].tolist() == ["A"]
