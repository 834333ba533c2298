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
