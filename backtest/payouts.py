"""Payout arithmetic: policies, payout factor, eligibility, and stake updates.

    payout_i      = at_risk_i * clip(payout_factor * sum_k multiplier_k * score_ik, -clip, +clip)
    payout_factor = min(1, stake_threshold / total_at_risk)      (1 when nothing is at risk)

A burn never takes a stake below 0 (payout >= -at_risk, which matters for unclipped
policies). Stakes are in NMR-like units; scores are the metrics of ``metasignal.signals.scoring``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from metasignal.errors import ConfigurationError, DataValidationError

CHURN_LIMIT = 0.15
TURNOVER_LIMIT = 0.25
SIGNALS_STAKE_THRESHOLD = 36_000.0


@dataclass(frozen=True)
class PayoutPolicy:
    """Score multipliers, symmetric clip (``None``: unclipped) and payout-factor switch."""

    name: str
    multipliers: dict[str, float] = field(default_factory=dict)
    clip: float | None = 0.017
    use_payout_factor: bool = True
    stake_threshold: float = SIGNALS_STAKE_THRESHOLD

    def __post_init__(self) -> None:
        if not self.multipliers:
            raise DataValidationError(f"payout policy {self.name!r} has no score multipliers")
        if self.clip is not None and self.clip <= 0:
            raise DataValidationError(f"payout policy {self.name!r}: clip must be positive, got {self.clip}")


DEFAULT_PAYOUT_POLICY = "alpha_mpc"  # the preset rounds resolve with unless told otherwise
PAYOUT_PRESETS: dict[str, PayoutPolicy] = {
    DEFAULT_PAYOUT_POLICY: PayoutPolicy(DEFAULT_PAYOUT_POLICY, {"alpha": 0.3, "mpc": 0.8}, clip=0.017),
    "fnc_mmc": PayoutPolicy("fnc_mmc", {"fnc": 1.0, "mmc": 2.0}, clip=0.05),
    "atomic": PayoutPolicy("atomic", {"alpha": 4.0, "mpc": 8.0}, clip=None, use_payout_factor=False),
}


def payout_policy(name: str = DEFAULT_PAYOUT_POLICY, multipliers: dict[str, float] | None = None, clip: float | None = None) -> PayoutPolicy:
    """A preset by name, or ``"custom"`` with explicit multipliers (and an optional clip)."""
    if name == "custom":
        return PayoutPolicy("custom", dict(multipliers or {}), clip=clip)
    if name not in PAYOUT_PRESETS:
        raise ConfigurationError(f"unknown payout policy {name!r}: choose from {', '.join(PAYOUT_PRESETS)} or custom")
    return PAYOUT_PRESETS[name]


def payout_factor(total_at_risk: float, stake_threshold: float = SIGNALS_STAKE_THRESHOLD) -> float:
    """``min(1, threshold / total_at_risk)``; 1 when nothing is at risk."""
    return 1.0 if total_at_risk <= 0 else min(1.0, stake_threshold / total_at_risk)


def eligible(churn: pd.Series, turnover: pd.Series) -> pd.Series:
    """True unless max churn >= 0.15 or max turnover >= 0.25. NaN (nothing to compare against)
    counts as 1.0, as numerai-tools' ``calculate_max_churn_and_turnover`` gives it: ineligible."""
    churn_bad = churn.fillna(1.0) >= CHURN_LIMIT
    turnover_bad = turnover.fillna(1.0) >= TURNOVER_LIMIT
    return ~(churn_bad | turnover_bad)


def payout_scores(scores: pd.DataFrame, rule: PayoutPolicy) -> pd.Series:
    """``sum_k multiplier_k * score_k`` per model (NaN scores count as 0)."""
    missing = [metric for metric in rule.multipliers if metric not in scores.columns]
    if missing:
        raise DataValidationError(f"payout policy {rule.name!r} needs score(s) {', '.join(missing)}")
    weights = pd.Series(rule.multipliers, dtype=float)
    return scores[weights.index].fillna(0.0) @ weights


def stake_payouts(at_risk: pd.Series, scores: pd.DataFrame, rule: PayoutPolicy) -> tuple[pd.Series, float]:
    """Payout per model (negative = burn) and the payout factor used.

    ``at_risk``: model -> stake at risk (0 for ineligible or missing submissions);
    ``scores``: model x metric.
    """
    if (at_risk < 0).any():
        raise DataValidationError("stakes at risk cannot be negative")
    factor = payout_factor(float(at_risk.sum()), rule.stake_threshold) if rule.use_payout_factor else 1.0
    raw = factor * payout_scores(scores.reindex(at_risk.index), rule)
    if rule.clip is not None:
        raw = raw.clip(-rule.clip, rule.clip)
    amount = at_risk * raw.to_numpy()
    return (amount.clip(lower=-at_risk) + 0.0).rename("payout"), factor  # + 0.0: no negative zeros
