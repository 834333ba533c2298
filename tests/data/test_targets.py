import numpy as np
import pandas as pd
import pytest

from metasignal.data.targets import bin_targets, parse_window, window_returns
from metasignal.errors import DataValidationError


def test_window_parsing():
    assert parse_window("20D2L") == (20, 2)
    assert parse_window("60d2l") == (60, 2)
    with pytest.raises(DataValidationError, match="20D2L"):
        parse_window("twenty days")


def test_window_return_compounds_days_t_plus_lag_plus_1_to_t_plus_lag_plus_days():
    rng = np.random.default_rng(0)
    ret = pd.DataFrame(rng.normal(0, 0.01, size=(40, 3)))
    out = window_returns(ret, "5D2L")
    expected = np.prod(1 + ret.to_numpy()[3:8], axis=0) - 1  # date 0: returns of days 3..7
    np.testing.assert_allclose(out.to_numpy()[0], expected)
    assert out.iloc[40 - 1 - 7 :].iloc[1:].isna().all().all()  # windows past the end are NaN
    assert out.iloc[40 - 1 - 7].notna().all()


def test_target_depends_only_on_returns_inside_its_window():
    rng = np.random.default_rng(1)
    ret = pd.DataFrame(rng.normal(0, 0.01, size=(60, 4)))
    base = window_returns(ret, "20D2L").iloc[5]
    outside = ret.copy()
    outside.iloc[:8] += 0.05  # days 0..7 are before date 5's window (which starts at day 8)
    outside.iloc[28:] -= 0.05  # after its last day (27)
    pd.testing.assert_series_equal(window_returns(outside, "20D2L").iloc[5], base)
    inside = ret.copy()
    inside.iloc[8] += 0.05
    assert not np.allclose(window_returns(inside, "20D2L").iloc[5], base)


def test_bins_have_5_20_50_20_5_shares():
    values = np.random.default_rng(2).normal(size=(3, 1000))
    binned = bin_targets(values)
    for row in binned:
        shares = pd.Series(row).value_counts(normalize=True).sort_index()
        np.testing.assert_allclose(shares.to_numpy(), [0.05, 0.2, 0.5, 0.2, 0.05])
    with_nan = values[0].copy()
    with_nan[:10] = np.nan
    assert np.isnan(bin_targets(with_nan)[:10]).all()


def test_stored_targets_have_the_distribution_on_every_date(store_copy):
    targets = store_copy.con.execute(
        "SELECT date, factor_neutral AS v, count(*) AS n FROM targets GROUP BY date, v"
    ).fetch_df()
    shares = targets.pivot(index="date", columns="v", values="n").fillna(0)
    shares = shares.div(shares.sum(axis=1), axis=0)
    # with ~140 names the shares are the 5/20/50/20/5 split up to one name per bin
    np.testing.assert_allclose(shares.to_numpy(), np.tile([0.05, 0.2, 0.5, 0.2, 0.05], (len(shares), 1)), atol=0.011)
    raw = store_copy.targets(store_copy.target_dates()[10])["raw"]
    assert raw.mean() == pytest.approx(0.5, abs=0.01)
