"""backtest.metrics: hand-checked values and invariants of the return and score metrics."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from metasignal.backtest import metrics as perf

RETURNS = pd.Series([0.10, -0.20, 0.05, 0.0, 0.10], index=pd.bdate_range("2024-01-01", periods=5))


def test_total_and_annualized_return_compound():
    growth = 1.10 * 0.80 * 1.05 * 1.0 * 1.10
    assert perf.total_return(RETURNS) == pytest.approx(growth - 1)
    assert perf.annualized_return(RETURNS, periods_per_year=5) == pytest.approx(growth - 1)
    assert perf.annualized_return(RETURNS, periods_per_year=10) == pytest.approx(growth**2 - 1)


def test_volatility_sharpe_and_sortino_by_hand():
    values = RETURNS.to_numpy()
    mean, std = values.mean(), values.std(ddof=1)
    assert perf.annualized_volatility(RETURNS, 252) == pytest.approx(std * math.sqrt(252))
    assert perf.sharpe_ratio(RETURNS, 252) == pytest.approx(mean / std * math.sqrt(252))
    downside = math.sqrt((0.20**2) / 5)
    assert perf.sortino_ratio(RETURNS, 1) == pytest.approx(mean / downside)


def test_drawdown_includes_the_starting_wealth_as_a_peak():
    # wealth: 1.1, 0.88, 0.924, 0.924, 1.0164; peak 1.1 -> worst 0.88 / 1.1 - 1 = -20 %
    drawdown = perf.drawdown_series(RETURNS)
    assert drawdown.iloc[0] == 0.0
    assert drawdown.min() == pytest.approx(-0.20)
    assert perf.max_drawdown(RETURNS) == pytest.approx(0.20)
    losing_start = pd.Series([-0.1, 0.05])
    assert perf.max_drawdown(losing_start) == pytest.approx(0.1)
    assert perf.calmar_ratio(RETURNS, 5) == pytest.approx(perf.annualized_return(RETURNS, 5) / 0.2)


def test_drawdown_of_scores_uses_the_cumulative_sum():
    scores = pd.Series([0.02, -0.01, -0.03, 0.01, 0.05])
    # level: .02, .01, -.02, -.01, .04; peak .02 -> worst -.02 - .02 = -.04
    assert perf.max_drawdown(scores, compound=False) == pytest.approx(0.04)


def test_hit_rate_ignores_flat_periods():
    assert perf.hit_rate(RETURNS) == pytest.approx(3 / 4)
    assert math.isnan(perf.hit_rate(pd.Series([0.0, 0.0])))


def test_hit_rate_of_scores_counts_a_zero_era_as_a_miss():
    scores = pd.Series([0.02, 0.0, -0.01, np.nan, 0.03])
    assert perf.hit_rate(scores, skip_flat=False) == pytest.approx(2 / 4)  # NaN eras are skipped
    assert perf.hit_rate(scores) == pytest.approx(2 / 3)
    assert perf.hit_rate(pd.Series([0.0, 0.0]), skip_flat=False) == 0.0
    assert math.isnan(perf.hit_rate(pd.Series([np.nan]), skip_flat=False))


def test_per_era_sharpe_is_mean_over_std():
    scores = pd.Series([0.02, -0.01, 0.03, 0.0])
    mean, std = 0.01, math.sqrt((0.01**2 + 0.02**2 + 0.02**2 + 0.01**2) / 3)
    assert perf.sharpe_ratio(scores, periods_per_year=1) == pytest.approx(mean / std)


def test_max_drawdown_without_periods_is_nan_and_without_loss_is_plus_zero():
    frame = pd.DataFrame({"up": [0.01, 0.02, np.nan], "none": [np.nan] * 3, "down": [0.01, -0.03, 0.01]})
    for compound in (True, False):
        worst = perf.max_drawdown(frame, compound=compound)
        assert worst["up"] == 0.0 and not np.signbit(worst["up"])  # +0, never -0
        assert math.isnan(worst["none"])
        assert math.isnan(perf.max_drawdown(frame["none"], compound=compound))
    assert perf.max_drawdown(frame["down"], compound=False) == pytest.approx(0.03)
    assert perf.max_drawdown(frame["down"]) == pytest.approx(0.03)  # 1.01 -> 1.01 * 0.97


def test_rolling_sharpe_equals_sharpe_of_each_window():
    rng = np.random.default_rng(1)
    returns = pd.Series(rng.normal(0.001, 0.01, 100))
    rolling = perf.rolling_sharpe(returns, window=20)
    assert rolling.iloc[:19].isna().all()
    for end in (19, 50, 99):
        window = returns.iloc[end - 19 : end + 1]
        assert rolling.iloc[end] == pytest.approx(perf.sharpe_ratio(window))


def test_monthly_returns_table_compounds_within_each_month():
    days = pd.to_datetime(["2024-01-30", "2024-01-31", "2024-02-01", "2025-03-03"])
    returns = pd.Series([0.10, 0.10, -0.05, 0.02], index=days)
    table = perf.monthly_returns(returns)
    assert list(table.columns) == list(range(1, 13))
    assert table.loc[2024, 1] == pytest.approx(0.21)
    assert table.loc[2024, 2] == pytest.approx(-0.05)
    assert table.loc[2025, 3] == pytest.approx(0.02)
    assert np.isnan(table.loc[2024, 3])


def test_constant_and_empty_series_give_nan_not_errors():
    flat = pd.Series([0.01] * 5)
    assert math.isnan(perf.sharpe_ratio(flat))
    empty = pd.Series([], dtype=float)
    assert math.isnan(perf.annualized_return(empty))
    assert math.isnan(perf.max_drawdown(empty))


def test_frame_input_gives_one_value_per_column():
    rng = np.random.default_rng(2)
    frame = pd.DataFrame(rng.normal(0.0, 0.01, (60, 2)), columns=["x", "y"])
    frame.iloc[:5, 1] = np.nan
    for function in (perf.annualized_return, perf.sharpe_ratio, perf.sortino_ratio,
                     perf.max_drawdown, perf.calmar_ratio, perf.hit_rate):
        by_frame = function(frame)
        for column in frame.columns:
            assert by_frame[column] == pytest.approx(function(frame[column].dropna()))


@settings(max_examples=40, deadline=None)
@given(st.lists(st.floats(-0.5, 0.5, allow_nan=False), min_size=2, max_size=60))
def test_drawdown_invariants(values):
    returns = pd.Series(values)
    drawdown = perf.drawdown_series(returns)
    assert ((drawdown <= 1e-15) & (drawdown >= -1.0)).all()
    assert 0.0 <= perf.max_drawdown(returns) <= 1.0
    if (returns >= 0).all():
        assert perf.max_drawdown(returns) == 0.0
