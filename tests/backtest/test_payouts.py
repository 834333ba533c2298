import pandas as pd
import pytest

from metasignal.backtest.payouts import (
    PAYOUT_PRESETS,
    eligible,
    payout_factor,
    payout_policy,
    stake_payouts,
)
from metasignal.errors import DataValidationError


def _scores(**columns):
    return pd.DataFrame(columns, index=["a", "b", "c"])


def test_payout_factor():
    assert payout_factor(0.0) == 1.0
    assert payout_factor(10_000.0) == 1.0
    assert payout_factor(72_000.0) == pytest.approx(0.5)
    assert payout_factor(100.0, stake_threshold=50.0) == pytest.approx(0.5)


def test_alpha_mpc_clip_and_factor_by_hand():
    at_risk = pd.Series({"a": 40_000.0, "b": 20_000.0, "c": 12_000.0})  # total 72k -> factor 0.5
    scores = _scores(alpha=[0.01, 0.2, -0.5], mpc=[0.02, 0.0, 0.0])
    paid, factor = stake_payouts(at_risk, scores, PAYOUT_PRESETS["alpha_mpc"])
    assert factor == pytest.approx(0.5)
    # a: 0.5 * (0.3*0.01 + 0.8*0.02) = 0.0095 -> 380
    # b: 0.5 * (0.3*0.2) = 0.03 -> clipped to 0.017 -> 340
    # c: 0.5 * (0.3*-0.5) = -0.075 -> clipped to -0.017 -> -204
    assert paid.to_dict() == pytest.approx({"a": 380.0, "b": 340.0, "c": -204.0})


def test_fnc_mmc_preset_by_hand():
    at_risk = pd.Series({"a": 100.0, "b": 0.0, "c": 50.0})
    scores = _scores(fnc=[0.01, 0.5, 0.02], mmc=[0.005, 0.5, -0.1])
    paid, factor = stake_payouts(at_risk, scores, PAYOUT_PRESETS["fnc_mmc"])
    assert factor == 1.0
    # a: 0.01 + 2*0.005 = 0.02 -> 2.0 ; b: no stake at risk -> 0 ; c: 0.02 - 0.2 = -0.18 -> clip -0.05 -> -2.5
    assert paid.to_dict() == pytest.approx({"a": 2.0, "b": 0.0, "c": -2.5})


def test_atomic_is_unclipped_without_factor_and_burns_stop_at_the_stake():
    at_risk = pd.Series({"a": 100_000.0, "b": 10.0, "c": 10.0})
    scores = _scores(alpha=[0.01, -0.3, 0.0], mpc=[0.01, -0.1, 0.0])
    paid, factor = stake_payouts(at_risk, scores, PAYOUT_PRESETS["atomic"])
    assert factor == 1.0  # no payout factor even far above the threshold
    # a: 4*0.01 + 8*0.01 = 0.12 -> 12000 ; b: -1.2 - 0.8 = -2.0 -> burn capped at the stake, -10
    assert paid.to_dict() == pytest.approx({"a": 12_000.0, "b": -10.0, "c": 0.0})
    assert (at_risk + paid >= 0).all()


def test_custom_policy_and_errors():
    custom = payout_policy("custom", {"corr": 2.0}, clip=0.1)
    paid, _ = stake_payouts(pd.Series({"a": 10.0, "b": 10.0, "c": 10.0}), _scores(corr=[0.01, 0.2, float("nan")]), custom)
    assert paid.to_dict() == pytest.approx({"a": 0.2, "b": 1.0, "c": 0.0})
    with pytest.raises(DataValidationError, match="unknown payout policy"):
        payout_policy("nope")
    with pytest.raises(DataValidationError, match="needs score"):
        stake_payouts(pd.Series({"a": 1.0, "b": 1.0, "c": 1.0}), _scores(corr=[0, 0, 0]), PAYOUT_PRESETS["alpha_mpc"])


def test_eligibility_thresholds():
    churn = pd.Series({"a": 0.1, "b": 0.15, "c": float("nan"), "d": 0.0})
    turnover = pd.Series({"a": 0.2, "b": 0.0, "c": float("nan"), "d": 0.25})
    # NaN: nothing to compare against counts as 1.0, as numerai-tools' calculate_max_churn_and_turnover
    assert eligible(churn, turnover).to_dict() == {"a": True, "b": False, "c": False, "d": False}
    assert not eligible(pd.Series([float("nan")]), pd.Series([0.0])).iloc[0]
    assert eligible(pd.Series([0.1499]), pd.Series([0.2499])).iloc[0]


# ----------------------------------------------------------------------------- policies in the store
def test_a_policy_round_trips_through_the_store_and_keeps_every_setting(store_copy):
    from metasignal.backtest.payouts import PayoutPolicy

    assert PayoutPolicy.of(store_copy) == PAYOUT_PRESETS["alpha_mpc"]  # nothing set: the default preset
    rule = payout_policy("custom", {"corr": 0.5, "alpha": 1.0}, clip=None, stake_threshold=1e5,
                         windows={"alpha": "60D2L"}, neutral_churn_penalty=True)
    rule.save(store_copy)
    assert PayoutPolicy.of(store_copy) == rule
    assert rule.window_of("corr") == "20D2L" and rule.window_of("alpha") == "60D2L"
    assert rule.score_windows == ("20D2L", "60D2L") and rule.payout_window == "60D2L"


def test_presets_pay_alpha_and_mpc_on_60_days_and_fnc_mmc_on_20():
    assert PAYOUT_PRESETS["alpha_mpc"].payout_window == "60D2L"
    assert PAYOUT_PRESETS["atomic"].payout_window == "60D2L"
    assert PAYOUT_PRESETS["fnc_mmc"].payout_window == "20D2L"
    assert PAYOUT_PRESETS["fnc_mmc"].score_windows == ("20D2L",)


def test_policy_settings_are_checked():
    with pytest.raises(DataValidationError, match="does not pay"):
        payout_policy("custom", {"corr": 1.0}, windows={"alpha": "60D2L"})
    with pytest.raises(DataValidationError, match="stake threshold"):
        payout_policy("alpha_mpc", stake_threshold=0.0)
    with pytest.raises(DataValidationError, match="<days>D<lag>L"):
        payout_policy("alpha_mpc", windows={"alpha": "60 days"})
    from metasignal.errors import ConfigurationError
    with pytest.raises(ConfigurationError, match="no setting 'clipping'"):
        payout_policy("alpha_mpc", clipping=0.1)


def test_neutral_churn_retention_equals_the_reference_penalty():
    from metasignal.backtest.payouts import neutral_churn_retention
    from metasignal.signals.scoring.reference_signals import neutral_churn_penalty

    means = pd.Series([0.0, 0.05, 0.1, 0.15, 0.2, 0.3, 0.5, 1.0, 2.0], index=list("abcdefghi"))
    kept = neutral_churn_retention(means)
    expected = [neutral_churn_penalty(m) for m in means]
    assert kept.to_numpy() == pytest.approx(expected, abs=1e-15)
    assert kept["d"] == pytest.approx(0.755, abs=1e-3)  # the spec's worked example
    assert neutral_churn_retention(pd.Series([float("nan")]))[0] == pytest.approx(neutral_churn_penalty(1.0))


# ----------------------------------------------------------------------------- the scale of v
def _cross_section(n: int, seed: int):
    """A universe of ``n`` names: exposures, liquidity, two signals and a binned target."""
    import numpy as np

    rng = np.random.default_rng(seed)
    tickers = [f"T{i:04d}" for i in range(n)]
    exposures = np.column_stack([rng.normal(size=(n, 3)), np.ones(n)])
    adv = rng.lognormal(14, 1.5, size=n)
    view = rng.normal(size=n)
    target = view + 3 * rng.normal(size=n)
    signals = pd.DataFrame({"staked": view + 2 * rng.normal(size=n), "other": view + 2 * rng.normal(size=n)},
                           index=tickers)
    return tickers, exposures, adv, signals, target


def _alpha_and_mpc(tickers, exposures, adv, signals, target):
    import numpy as np

    from metasignal.data import bin_targets, neutralizer_matrix
    from metasignal.data.derived import sample_weights
    from metasignal.signals.scoring import score_era

    v = sample_weights(pd.DataFrame([adv], columns=tickers), pd.DataFrame([np.ones(len(adv), bool)], columns=tickers))
    v = v.iloc[0]
    neutralizers = pd.DataFrame(neutralizer_matrix(exposures, v.to_numpy()), index=tickers)
    binned = pd.Series(bin_targets(target), index=tickers)
    scores = score_era(signals, targets=pd.DataFrame({"factor_neutral": binned, "raw": binned}),
                       neutralizers=neutralizers, sample_weights=v, stakes=pd.Series({"staked": 100.0, "other": 0.0}),
                       metrics=("alpha", "mpc"))
    return v, scores


def test_v_scales_so_the_alpha_mpc_balance_does_not_depend_on_the_universe_size():
    """The same market twice over (every name duplicated) is a universe of 2n names with the same
    information: with v at mean sqrt(n / 5000), alpha and MPC both grow by sqrt(2), so
    0.3 alpha : 0.8 MPC is unchanged (with mean-1 v alpha would stay put while MPC grew)."""
    import numpy as np

    from metasignal.data.derived import REFERENCE_UNIVERSE

    tickers, exposures, adv, signals, target = _cross_section(400, seed=3)
    v, small = _alpha_and_mpc(tickers, exposures, adv, signals, target)
    assert v.mean() == pytest.approx(np.sqrt(400 / REFERENCE_UNIVERSE), rel=1e-12)
    twins = tickers + [f"{t}.B" for t in tickers]
    doubled = pd.concat([signals, signals.set_axis(twins[400:])])
    _, large = _alpha_and_mpc(twins, np.vstack([exposures, exposures]), np.concatenate([adv, adv]),
                              doubled, np.concatenate([target, target]))
    assert large["alpha"].to_numpy() == pytest.approx(np.sqrt(2) * small["alpha"].to_numpy(), rel=1e-9)
    assert large["mpc"].to_numpy() == pytest.approx(np.sqrt(2) * small["mpc"].to_numpy(), rel=1e-9)
    ratio = (large["mpc"] / large["alpha"]).to_numpy()
    assert ratio == pytest.approx((small["mpc"] / small["alpha"]).to_numpy(), rel=1e-9)
