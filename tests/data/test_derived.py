"""Derived daily fields on small hand-made frames."""

import numpy as np
import pandas as pd

from metasignal.data.derived import daily_returns
from metasignal.data.targets import window_returns


def test_a_holiday_gap_keeps_the_return_since_the_previous_bar():
    # two markets on one calendar: "JP" has no bar on day 2 (a local holiday)
    days = pd.bdate_range("2024-01-01", periods=6)
    adj = pd.DataFrame(
        {"US": [10.0, 11.0, 12.0, 13.0, 14.0, 15.0], "JP": [100.0, 110.0, np.nan, 130.0, 140.0, 150.0]},
        index=days,
    )
    ret = daily_returns(adj)
    assert np.isnan(ret.loc[days[2], "JP"])  # no bar, no return that day
    assert ret.loc[days[3], "JP"] == 130.0 / 110.0 - 1  # the move over the holiday is not lost
    assert np.isnan(ret.loc[days[0], "JP"])  # nothing before the first bar
    growth = (1 + ret.fillna(0.0)).prod()
    np.testing.assert_allclose(growth.to_numpy(), [15.0 / 10.0, 150.0 / 100.0])
    # a target window spanning the holiday compounds the full price move
    target = window_returns(ret, "3D0L").loc[days[0]]
    np.testing.assert_allclose(target.to_numpy(), [13.0 / 10.0 - 1, 130.0 / 100.0 - 1])


def test_a_holiday_21_days_back_does_not_blank_the_momentum_exposure():
    from metasignal.data.derived import derive_daily

    rng = np.random.default_rng(3)
    days = pd.bdate_range("2020-01-01", periods=300)
    names = [f"T{i}" for i in range(8)]
    adj = pd.DataFrame(100 * np.exp(np.cumsum(rng.normal(0, 0.01, (300, 8)), axis=0)), index=days, columns=names)
    volume = pd.DataFrame(1e5, index=days, columns=names)
    shares = pd.Series(1e6, index=names)
    t = 290
    holed = adj.copy()
    holed.iloc[t - 21, 0] = np.nan  # T0's market was closed 21 rows before t
    filled = holed.ffill()  # the same information, the last close carried over the holiday
    momentum = derive_daily(holed, holed, volume.where(holed.notna()), shares)["momentum"].iloc[t]
    expected = derive_daily(filled, filled, volume, shares)["momentum"].iloc[t]
    assert momentum["T0"] != 0.0
    np.testing.assert_allclose(momentum.to_numpy(), expected.to_numpy(), rtol=0, atol=1e-12)
