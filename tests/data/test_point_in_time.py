"""Changing bars after date t must not change anything computed for t."""

import numpy as np
import pandas as pd

from metasignal.data.derive import derive_store


def _perturb_after(store, day):
    bars = store.con.execute("SELECT * FROM bars WHERE date > ?", [day.date()]).fetch_df()
    rng = np.random.default_rng(11)
    shock = rng.uniform(0.5, 1.5, size=len(bars))
    for column in ("open", "high", "low", "close", "adj_close"):
        bars[column] *= shock
    bars["volume"] *= rng.uniform(0.1, 10, size=len(bars))
    store.write_bars(bars)
    derive_store(store)


def test_exposures_universe_neutralizers_for_t_ignore_later_bars(store_copy):
    days = store_copy.trading_days()
    checks = [days[150], days[260]]
    before = {
        day: (store_copy.universe(day), store_copy.exposures(day), store_copy.neutralizers(day))
        for day in checks
    }
    returns_before = store_copy.returns(end=days[260])
    _perturb_after(store_copy, days[260])
    for day in checks:
        universe, exposures, neutralizers = before[day]
        pd.testing.assert_index_equal(store_copy.universe(day), universe)
        pd.testing.assert_frame_equal(store_copy.exposures(day), exposures, check_exact=True)
        pd.testing.assert_frame_equal(store_copy.neutralizers(day), neutralizers, check_exact=True)
    pd.testing.assert_frame_equal(store_copy.returns(end=days[260]), returns_before, check_exact=True)
    # and something after t did change
    assert not store_copy.returns(start=days[262]).equals(returns_before)


def test_targets_for_t_use_only_their_window(store_copy):
    days = store_copy.trading_days()
    t = days[120]
    before = store_copy.targets(t)
    # perturbing bars after the window's last close (t + 2 + 20 trading days) leaves t's targets alone
    _perturb_after(store_copy, days[120 + 22])
    pd.testing.assert_frame_equal(store_copy.targets(t), before, check_exact=True)


def test_a_sector_and_share_count_change_effective_on_d_change_nothing_before_d(store_copy):
    days = store_copy.trading_days()
    d = days[300]
    checks = [days[150], days[299]]
    name = store_copy.universe(days[299])[0]
    securities = store_copy.securities(include_future=True)
    other_sector = sorted(set(securities["sector"]) - {securities.loc[name, "sector"]})[0]
    before = {day: (store_copy.universe(day), store_copy.exposures(day), store_copy.neutralizers(day),
                    store_copy.targets(day)) for day in checks}
    caps_before = store_copy.panel("market_cap", end=days[299])
    shares = securities.loc[name, "shares_outstanding"]
    store_copy.write_security_history(pd.DataFrame({
        "ticker": [name], "effective": [d], "sector": [other_sector], "shares_outstanding": [3 * shares]}))
    derive_store(store_copy)
    for day in checks:
        universe, exposures, neutralizers, targets = before[day]
        pd.testing.assert_index_equal(store_copy.universe(day), universe)
        pd.testing.assert_frame_equal(store_copy.exposures(day), exposures, check_exact=True)
        pd.testing.assert_frame_equal(store_copy.neutralizers(day), neutralizers, check_exact=True)
        pd.testing.assert_frame_equal(store_copy.targets(day), targets, check_exact=True)
    pd.testing.assert_frame_equal(store_copy.panel("market_cap", end=days[299]), caps_before, check_exact=True)
    # from d on, the new values hold
    assert store_copy.exposures(d).loc[name, "sector"] == other_sector
    assert store_copy.securities_on(d).loc[name, "sector"] == other_sector
    assert store_copy.securities_on(days[299]).loc[name, "sector"] == securities.loc[name, "sector"]
    close = store_copy.panel("close", start=d, end=d)[name].iloc[0]
    assert store_copy.panel("market_cap", start=d, end=d)[name].iloc[0] == close * (3 * shares)


def test_a_delisted_name_leaves_the_universe_and_stays_in_the_past(store_copy):
    securities = store_copy.securities(include_future=True)
    gone = securities[securities["delisted"].notna()]
    assert len(gone), "the synthetic market delists some names"
    name, last = gone.index[0], gone["delisted"].iloc[0]
    days = store_copy.trading_days()
    after = days[days > last]
    before = days[days <= last]
    in_past = [day for day in before[-40:] if name in store_copy.universe(day)]
    assert in_past  # survivorship visible: the name is in the universe of its past dates
    assert all(name not in store_copy.universe(day) for day in after[:5])
    assert name not in store_copy.securities_on(after[0]).index if len(after) else True
