"""Total returns from raw closes and corporate actions, FX to dollars, split-adjusted share
counts: hand-worked examples through the store and derive."""

from __future__ import annotations

from fractions import Fraction as F

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from metasignal.data.derive import derive_store
from metasignal.data.fx import major_currency, usd_per_quote_unit
from metasignal.data.prices import action_grids, adjusted_close, gross_returns
from metasignal.data.store import Store
from metasignal.errors import DataValidationError

DAYS = pd.bdate_range("2024-03-04", periods=6)
# one US name: a 2:1 split with ex-date DAYS[2], a 0.50 dividend with ex-date DAYS[4]
RAW = ["100", "102", "51.5", "52", "51.7", "52.2"]
SPLIT_DAY, DIVIDEND_DAY = 2, 4


def _hand_returns() -> list[float]:
    """ret_t = k_t (c_t + d_t) / c_{t-1} - 1 worked in exact fractions."""
    close = [F(x) for x in RAW]
    k = [F(2) if t == SPLIT_DAY else F(1) for t in range(6)]
    d = [F(1, 2) if t == DIVIDEND_DAY else F(0) for t in range(6)]
    return [float(k[t] * (close[t] + d[t]) / close[t - 1] - 1) for t in range(1, 6)]


def test_the_hand_worked_split_and_dividend():
    close = pd.DataFrame({"AAA US": [float(x) for x in RAW]}, index=DAYS)
    actions = pd.DataFrame({"ticker": ["AAA US", "AAA US"], "date": [DAYS[SPLIT_DAY], DAYS[DIVIDEND_DAY]],
                            "split_ratio": [2.0, np.nan], "dividend": [np.nan, 0.5]})
    split, dividend = action_grids(actions, DAYS, close.columns)
    adjusted = adjusted_close(close, split, dividend)["AAA US"]
    ret = (adjusted / adjusted.shift(1) - 1).iloc[1:]
    np.testing.assert_allclose(ret.to_numpy(), _hand_returns(), rtol=0, atol=1e-12)
    assert ret.iloc[1] == pytest.approx(103 / 102 - 1, abs=1e-12)  # the split is not a -50 % day
    assert ret.iloc[3] == pytest.approx(52.2 / 52 - 1, abs=1e-12)  # the dividend is paid back
    assert adjusted.iloc[-1] == 52.2  # back-adjusted: the last adjusted close is the last raw close
    assert adjusted.iloc[0] == pytest.approx(100 / 2 * float(F("51.7") / F("52.2")), rel=1e-12)


def test_an_action_on_a_day_without_a_bar_reaches_the_next_bar():
    close = pd.DataFrame({"A": [100.0, np.nan, 51.0]}, index=DAYS[:3])
    actions = pd.DataFrame({"ticker": ["A"], "date": [DAYS[1]], "split_ratio": [2.0], "dividend": [0.0]})
    split, dividend = action_grids(actions, DAYS[:3], close.columns)
    gross = gross_returns(close, split, dividend)
    assert gross["A"].iloc[1] * gross["A"].iloc[2] == pytest.approx(2 * 51.0 / 100.0, abs=1e-15)


def _store(tmp_path, *, rates: bool = True, history: bool = True) -> Store:
    store = Store.open(tmp_path / "pit.duckdb", create=True)
    store.write_securities(pd.DataFrame({
        "ticker": ["AAA US", "VOD GB"], "country": ["US", "GB"], "sector": ["Tech", "Telecom"],
        "currency": ["USD", "GBp"], "shares_outstanding": [2e6, 5e6], "listed": [DAYS[0], DAYS[0]],
    }))
    vod = [250.0, 252.0, 251.0, 255.0, 256.0, 254.0]  # pence
    bars = pd.DataFrame({
        "date": list(DAYS) * 2, "ticker": ["AAA US"] * 6 + ["VOD GB"] * 6,
        "close": [float(x) for x in RAW] + vod, "volume": [1000.0] * 12,
    })
    bars["adj_close"] = bars["close"]  # the source's adjusted close: ignored for a name with actions
    store.write_bars(bars)
    store.write_actions(pd.DataFrame({"ticker": ["AAA US", "AAA US"], "date": [DAYS[SPLIT_DAY], DAYS[DIVIDEND_DAY]],
                                      "split_ratio": [2.0, None], "dividend": [None, 0.5]}))
    if rates:  # GBPUSD on the first four days only: the last two use the last known rate
        store.write_fx_rates(pd.DataFrame({"date": DAYS[:4], "currency": "GBP",
                                           "usd_per_unit": [1.25, 1.26, 1.24, 1.27]}))
    if history:  # 1e6 shares reported before the split (the securities row holds today's 2e6)
        store.write_security_history(pd.DataFrame({"ticker": ["AAA US"], "effective": [DAYS[0]],
                                                   "shares_outstanding": [1e6]}))
    derive_store(store)
    return store


def test_derive_gives_total_returns_usd_prices_and_split_adjusted_caps(tmp_path):
    with _store(tmp_path) as store:
        ret = store.returns()
        np.testing.assert_allclose(ret["AAA US"].iloc[1:].to_numpy(), _hand_returns(), rtol=0, atol=1e-12)
        # dollar volume and market cap from raw prices: the split doubles shares, not dollars
        cap = store.panel("market_cap")["AAA US"]
        np.testing.assert_allclose(cap.to_numpy(), [float(x) * s for x, s in zip(RAW, [1e6] * 2 + [2e6] * 4)],
                                   rtol=1e-15)
        np.testing.assert_allclose(store.panel("dollar_volume")["AAA US"].to_numpy(), [float(x) * 1000 for x in RAW])
        # 250 GBp at 1.25 USD/GBP is 3.125 USD; days 4 and 5 carry the day-3 rate forward
        fx = np.array([1.25, 1.26, 1.24, 1.27, 1.27, 1.27])
        pence = np.array([250.0, 252.0, 251.0, 255.0, 256.0, 254.0])
        np.testing.assert_allclose(store.panel("dollar_volume")["VOD GB"].to_numpy(), pence / 100 * fx * 1000,
                                   rtol=1e-15)
        np.testing.assert_allclose(store.panel("market_cap")["VOD GB"].to_numpy(), pence / 100 * fx * 5e6, rtol=1e-15)
        local = pence[1:] / pence[:-1] - 1
        r_fx = fx[1:] / fx[:-1] - 1
        np.testing.assert_allclose(ret["VOD GB"].iloc[1:].to_numpy(), (1 + local) * (1 + r_fx) - 1, rtol=0, atol=1e-15)


def test_a_currency_without_any_rate_yet_is_one_error_naming_it(tmp_path):
    with pytest.raises(DataValidationError, match=r"no FX rate for GBP on or before 2024-03-04 .*VOD GB"):
        _store(tmp_path, rates=False)


def test_a_rate_is_never_taken_from_a_later_day():
    rates = pd.DataFrame({"date": pd.to_datetime(["2024-01-03", "2024-01-05"]), "currency": "EUR",
                          "usd_per_unit": [1.10, 1.20]})
    days = pd.to_datetime(["2024-01-02", "2024-01-03", "2024-01-04", "2024-01-05"])
    factors = usd_per_quote_unit(rates, pd.Series({"X FR": "EUR", "Y ZA": "ZAc", "Z US": None}), pd.DatetimeIndex(days))
    np.testing.assert_array_equal(factors["X FR"].to_numpy(), [np.nan, 1.10, 1.10, 1.20])
    assert factors["Z US"].eq(1.0).all() and factors["Y ZA"].isna().all()


def test_minor_units_are_their_major_currency_times_the_fraction():
    major, fraction = major_currency(pd.Series(["GBp", "GBP", "ZAc", "ILA", "usd", None, "JPY"]))
    assert list(major) == ["GBP", "GBP", "ZAR", "ILS", "USD", "USD", "JPY"]
    assert list(fraction) == [0.01, 1.0, 0.01, 0.01, 1.0, 1.0, 1.0]


@settings(max_examples=40, deadline=None)
@given(st.lists(st.floats(0.5, 2.0), min_size=4, max_size=12), st.lists(st.floats(0.5, 2.0), min_size=4, max_size=12))
def test_usd_returns_are_local_times_fx_growth(prices, rates):
    n = min(len(prices), len(rates))
    days = pd.bdate_range("2024-01-01", periods=n)
    local = pd.Series(prices[:n], index=days) * 100
    fx = pd.DataFrame({"date": days, "currency": "EUR", "usd_per_unit": rates[:n]})
    factors = usd_per_quote_unit(fx, pd.Series({"E": "EUR"}), days)["E"]
    usd = local * factors
    r_usd = (usd / usd.shift(1) - 1).iloc[1:]
    r_local = (local / local.shift(1) - 1).iloc[1:]
    r_fx = (pd.Series(rates[:n], index=days) / pd.Series(rates[:n], index=days).shift(1) - 1).iloc[1:]
    np.testing.assert_allclose(r_usd.to_numpy(), ((1 + r_local) * (1 + r_fx) - 1).to_numpy(), rtol=1e-12, atol=1e-14)


def test_writers_replace_their_key_ranges_and_stay_atomic(tmp_path):
    with _store(tmp_path) as store:
        store.write_fx_rates(pd.DataFrame({"date": [DAYS[0]], "currency": ["GBP"], "usd_per_unit": [1.30]}))
        rates = store.fx_rates(include_future=True)
        assert len(rates) == 4 and rates.loc[rates["date"] == DAYS[0], "usd_per_unit"].item() == 1.30
        before = store.corporate_actions(include_future=True)
        with pytest.raises(Exception):
            store.write_actions(pd.DataFrame({"ticker": ["AAA US", None], "date": [DAYS[2], DAYS[3]],
                                              "split_ratio": [3.0, 2.0], "dividend": [0.0, 0.0]}))
        pd.testing.assert_frame_equal(store.corporate_actions(include_future=True), before)
