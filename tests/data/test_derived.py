"""Derived daily fields on small hand-made frames."""

import numpy as np
import pandas as pd

from data.derived import daily_returns
from data.targets import window_returns


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
