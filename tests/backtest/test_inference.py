"""metasignal.backtest.inference: HAC means, Sharpe standard errors, deflated Sharpe, factor
regressions, checked on simulated series whose answers are known."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from metasignal.backtest.inference import (
    deflated_sharpe,
    expected_max_sharpe,
    factor_regression,
    hac_bandwidth,
    hac_lag,
    mean_with_hac,
    paired_difference,
    probabilistic_sharpe,
    score_inference,
    sharpe_with_se,
)

SEEDS = 400
N_ROUNDS = 150


def ar1(rng: np.random.Generator, n: int, phi: float, burn: int = 200) -> np.ndarray:
    """A stationary AR(1) series with unit innovations and mean 0."""
    shocks = rng.normal(size=n + burn)
    values = np.empty(n + burn)
    values[0] = shocks[0] / math.sqrt(1 - phi**2)
    for t in range(1, n + burn):
        values[t] = phi * values[t - 1] + shocks[t]
    return values[burn:]


def overlapping(rng: np.random.Generator, n: int, width: int) -> np.ndarray:
    """Scores of rounds whose targets overlap ``width`` rounds: the moving sum of iid shocks
    (weekly rounds on 20-day targets: width 4, autocorrelations 0.75, 0.5, 0.25)."""
    shocks = rng.normal(size=n + width - 1)
    return np.convolve(shocks, np.ones(width), "valid")


def rejection_rate(series: list[np.ndarray], lag: int, **options) -> float:
    return float(np.mean([mean_with_hac(values, lag, **options).significant for values in series]))


# A test of nominal size 5 % over 400 independent seeds rejects k ~ Binomial(400, 0.05) times:
# sd = sqrt(0.05 * 0.95 / 400) = 1.1 %, so [2 %, 9 %] is about -2.7 / +3.6 sd around 5 %; it
# allows the small finite-sample excess HAC tests are known for, and fails a test that
# doubles the nominal rate (the plain Newey-West at the overlap lag, 11 % here).
SIZE_BAND = (0.02, 0.09)


@pytest.mark.parametrize("phi", [0.5, 0.7])
def test_a_null_ar1_score_series_is_flagged_at_about_the_nominal_rate(phi):
    series = [ar1(np.random.default_rng(seed), N_ROUNDS, phi) for seed in range(SEEDS)]
    lag = hac_lag("20D2L", 5)
    hac = rejection_rate(series, lag)
    naive = rejection_rate(series, 0, fixed_b=False)  # the iid t-test
    print(f"AR(1) phi={phi}: HAC rejects {hac:.1%}, iid t-test {naive:.1%}")
    assert SIZE_BAND[0] <= hac <= SIZE_BAND[1]
    assert naive > 0.2  # the naive test over-rejects the same series several times over


def test_overlapping_targets_null_is_flagged_at_about_the_nominal_rate():
    series = [overlapping(np.random.default_rng(seed), N_ROUNDS, 4) for seed in range(SEEDS)]
    lag = hac_lag("20D2L", 5)
    hac = rejection_rate(series, lag)
    plain = rejection_rate(series, lag, fixed_b=False)  # Newey-West at the overlap, t(n-1)
    naive = rejection_rate(series, 0, fixed_b=False)
    print(f"overlap 4: HAC (fixed-b) rejects {hac:.1%}, plain Newey-West {plain:.1%}, iid {naive:.1%}")
    assert SIZE_BAND[0] <= hac <= SIZE_BAND[1]
    assert plain > hac and naive > 0.25


def test_a_planted_skill_series_is_detected_in_nearly_every_seed():
    detected = [mean_with_hac(0.02 + 0.05 * np.random.default_rng(seed).normal(size=N_ROUNDS),
                              hac_lag("20D2L", 5)) for seed in range(SEEDS)]
    rate = np.mean([e.significant and e.mean > 0 for e in detected])
    assert rate >= 0.97  # the power of a t-test at t ~ 4.9 with the fixed-b value is ~0.99
    assert np.mean([e.ci_low < 0.02 < e.ci_high for e in detected]) > 0.9


def test_the_hac_lag_rule_follows_window_and_spacing():
    assert hac_lag("20D2L", 5) == 4   # weekly rounds, ceil(22 / 5) - 1
    assert hac_lag("60D2L", 5) == 12  # ceil(62 / 5) - 1
    assert hac_lag("20D2L", 1) == 21  # daily rounds
    assert hac_lag("60D2L", 1) == 61
    assert hac_lag("1D0L", 5) == 0
    with pytest.raises(ValueError):
        hac_lag("20D2L", 0)
    assert hac_bandwidth(4, 150) == 16 and hac_bandwidth(12, 137) == 24 and hac_bandwidth(4, 5) == 3


def test_lag_zero_without_fixed_b_is_the_iid_t_test():
    values = np.random.default_rng(3).normal(0.1, 1.0, 80)
    estimate = mean_with_hac(values, 0, fixed_b=False)
    assert estimate.se == pytest.approx(values.std(ddof=1) / math.sqrt(80), rel=1e-12)
    assert estimate.n_effective == pytest.approx(80)
    assert estimate.t == pytest.approx(values.mean() / estimate.se)


def test_n_effective_shrinks_with_positive_autocorrelation():
    estimate = mean_with_hac(overlapping(np.random.default_rng(1), 400, 4), hac_lag("20D2L", 5))
    assert 40 < estimate.n_effective < 250  # an overlap of 4 leaves about n / 4 independent rounds
    assert estimate.n == 400


@pytest.mark.parametrize("values", [[], [np.nan, np.nan], [0.1, 0.2]])
def test_too_short_series_give_nan_not_an_error(values):
    estimate = mean_with_hac(pd.Series(values, dtype=float), 4)
    assert np.isnan(estimate.se) and np.isnan(estimate.p) and not estimate.significant


def test_paired_difference_of_identical_series_is_zero_with_zero_se():
    scores = pd.Series(np.random.default_rng(0).normal(size=60), index=pd.bdate_range("2024-01-05", periods=60))
    estimate = paired_difference(scores, scores.copy(), 4)
    assert estimate.mean == 0 and estimate.se == 0 and not estimate.significant


def test_paired_difference_pairs_by_round_and_drops_missing_rounds():
    index = pd.date_range("2024-01-05", periods=100, freq="W-FRI")
    rng = np.random.default_rng(7)
    b = pd.Series(rng.normal(size=100), index=index)
    a = b + 0.5 + 0.1 * rng.normal(size=100)
    a.iloc[::10] = np.nan
    estimate = paired_difference(a, b.iloc[::-1], 4)  # order of b does not matter: pairs by index
    assert estimate.n == 90
    assert estimate.significant and estimate.ci_low < 0.5 < estimate.ci_high


@settings(max_examples=25, deadline=None)
@given(st.lists(st.floats(-1, 1), min_size=3, max_size=60), st.integers(0, 8))
def test_the_interval_contains_the_mean_and_never_raises(values, lag):
    estimate = mean_with_hac(np.array(values), lag)
    assert estimate.n == len(values)
    assert estimate.ci_low <= estimate.mean + 1e-12 and estimate.mean <= estimate.ci_high + 1e-12
    assert 0 <= estimate.n_effective <= estimate.n


def test_score_inference_gives_one_row_per_model():
    rng = np.random.default_rng(5)
    dates = pd.date_range("2023-01-06", periods=120, freq="W-FRI")
    frame = pd.concat([
        pd.DataFrame({"round_date": dates, "model": "skilled", "corr": 0.03 + 0.02 * rng.normal(size=120)}),
        pd.DataFrame({"round_date": dates, "model": "noise", "corr": 0.02 * overlapping(rng, 120, 4) / 2}),
        pd.DataFrame({"round_date": dates[:2], "model": "new", "corr": [0.1, 0.2]}),
    ])
    table = score_inference(frame, "corr", hac_lag("20D2L", 5))
    assert set(table.index) == {"skilled", "noise", "new"}
    assert table.loc["skilled", "significant"] and table.loc["skilled", "ci_low"] > 0
    assert table.loc["new", "n"] == 2 and np.isnan(table.loc["new", "se"])
    direct = mean_with_hac(frame.query("model == 'noise'")["corr"].to_numpy(), hac_lag("20D2L", 5))
    assert table.loc["noise", "t"] == pytest.approx(direct.t)


def test_sharpe_se_matches_the_iid_formula_for_iid_normal_returns():
    ratios = []
    for seed in range(40):
        returns = np.random.default_rng(seed).normal(0.0005, 0.01, 2000)  # SR 0.05 per day
        estimate = sharpe_with_se(returns, periods_per_year=252, lag=0)
        ratios.append(estimate.se / estimate.se_iid)
        sr = returns.mean() / returns.std(ddof=1)
        assert estimate.se_iid == pytest.approx(math.sqrt((1 + sr**2 / 2) / 2000) * math.sqrt(252))
    assert np.mean(ratios) == pytest.approx(1.0, abs=0.03)


def test_the_sharpe_se_covers_the_true_sharpe_and_widens_with_autocorrelation():
    true_daily = 0.05
    covered = []
    for seed in range(200):
        returns = true_daily * 0.01 + 0.01 * np.random.default_rng(seed).normal(size=500)
        estimate = sharpe_with_se(returns, periods_per_year=252)
        covered.append(estimate.ci_low < true_daily * math.sqrt(252) < estimate.ci_high)
    assert 0.9 <= np.mean(covered) <= 0.99
    sticky = 0.0005 + 0.01 * ar1(np.random.default_rng(0), 2000, 0.5) * math.sqrt(0.75)
    estimate = sharpe_with_se(sticky, periods_per_year=252, lag=10)
    assert estimate.se > 1.4 * estimate.se_iid  # sqrt((1 + phi) / (1 - phi)) = 1.73 in theory


def test_probabilistic_and_deflated_sharpe():
    assert probabilistic_sharpe(1.0, 0.5) == pytest.approx(0.97725, abs=1e-4)
    assert probabilistic_sharpe(0.1, n=250) > probabilistic_sharpe(0.1, n=50) > 0.5
    # fat tails and negative skew make a Sharpe less certain
    assert probabilistic_sharpe(0.1, n=250, skew=-1, kurt=8) < probabilistic_sharpe(0.1, n=250)
    assert expected_max_sharpe(1, 0.01) == 0
    dsr = [deflated_sharpe(0.1, trials, 0.002, n=500) for trials in (1, 2, 10, 100, 1000)]
    assert dsr[0] == pytest.approx(probabilistic_sharpe(0.1, n=500))
    assert all(a > b for a, b in zip(dsr, dsr[1:]))


def test_factor_regression_recovers_alpha_and_beta():
    rng = np.random.default_rng(11)
    index = pd.bdate_range("2022-01-03", periods=1000)
    market = pd.Series(0.01 * rng.normal(size=1000), index=index)
    size = pd.Series(0.005 * rng.normal(size=1000), index=index)
    returns = 0.0004 + 0.3 * market - 0.5 * size + 0.002 * rng.normal(size=1000)
    table = factor_regression(returns, pd.DataFrame({"market": market, "size": size}), periods_per_year=252)
    assert list(table.index) == ["alpha", "market", "size"]
    assert table.loc["alpha", "ci_low"] < 0.0004 * 252 < table.loc["alpha", "ci_high"]
    assert table.loc["market", "ci_low"] < 0.3 < table.loc["market", "ci_high"]
    assert table.loc["size", "significant"] and table.loc["size", "coef"] < 0
    short = factor_regression(returns.iloc[:3], market.iloc[:3])
    assert short["coef"].isna().all() and not short["significant"].any()


def test_the_leaderboard_carries_hac_intervals_of_its_mean_scores(tournament):
    from metasignal.backtest import rounds

    store, _ = tournament
    rounds.resolve_rounds(store)
    board = rounds.leaderboard(store).set_index("model")
    lags = rounds.leaderboard_lags(store)
    assert lags == {"corr": 4, "fnc": 4, "mmc": 4, "alpha": 12, "mpc": 12}  # alpha_mpc, weekly rounds
    results = rounds.round_results(store)
    for metric in rounds.INFERENCE_METRICS:
        assert {f"{metric}_t", f"{metric}_ci", f"{metric}_ns"} <= set(board.columns)
        assert board[f"{metric}_ns"].dtype == bool
    model = board.index[0]
    own = results[results["model"] == model].sort_values("round_date")["corr"]
    expected = mean_with_hac(own.to_numpy(), lags["corr"])
    assert board.loc[model, "corr"] == pytest.approx(expected.mean)
    assert board.loc[model, "corr_t"] == pytest.approx(expected.t, nan_ok=True)
    assert board.loc[model, "corr_ns"] == (not expected.significant)


def test_diagnostics_intervals_take_the_lag_from_the_window_and_the_era_spacing():
    from metasignal.backtest.diagnostics import era_spacing_days, score_intervals

    rng = np.random.default_rng(2)
    weekly = pd.date_range("2023-01-06", periods=80, freq="W-FRI")
    per_era = pd.DataFrame({"corr": 0.03 + 0.02 * rng.normal(size=80), "churn": rng.uniform(size=80)}, index=weekly)
    assert era_spacing_days(weekly) == 5 and era_spacing_days(pd.bdate_range("2023-01-02", periods=9)) == 1
    table = score_intervals(per_era, "20D2L")
    assert list(table.index) == ["corr"]  # churn is not a score
    expected = mean_with_hac(per_era["corr"], hac_lag("20D2L", 5))
    assert table.loc["corr", "lag"] == expected.lag and table.loc["corr", "t"] == pytest.approx(expected.t)
    assert table.loc["corr", "significant"]
