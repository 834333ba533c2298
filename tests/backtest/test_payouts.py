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
