"""Payout arithmetic: policies, payout factor, eligibility, and stake updates.

    payout_i      = at_risk_i * clip(payout_factor * sum_k multiplier_k * score_ik, -clip, +clip)
    payout_factor = min(1, stake_threshold / total_at_risk)      (1 when nothing is at risk)

A burn never takes a stake below 0 (payout >= -at_risk, which matters for unclipped
policies). Stakes are in NMR-like units; scores are the metrics of ``metasignal.signals.scoring``.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, replace

import numpy as np
import pandas as pd

from metasignal.data.store import Store
from metasignal.data.targets import DEFAULT_WINDOW, LONG_WINDOW, parse_window, window_length
from metasignal.errors import ConfigurationError, DataValidationError

CHURN_LIMIT = 0.15
TURNOVER_LIMIT = 0.25
SIGNALS_STAKE_THRESHOLD = 36_000.0
NEUTRAL_CHURN_THRESHOLD = 0.1  # numerai-tools' neutral_churn_penalty: full payout up to this mean
NEUTRAL_CHURN_SCALING = 10.0  # ... then 2 / (1 + exp(scaling * (mean - threshold)))
POLICY_META_KEY = "payout_policy"


@dataclass(frozen=True)
class PayoutPolicy:
    """How a round pays: score multipliers, the target window each paid score is measured on,
    a symmetric clip (``None``: unclipped), the payout factor (on/off and its stake threshold)
    and the optional neutral-churn penalty on gains.

    ``windows``: metric -> target window (``"60D2L"``); a paid metric not named there, and every
    unpaid score, is measured on ``DEFAULT_WINDOW`` (20D2L).
    """

    name: str
    multipliers: dict[str, float] = field(default_factory=dict)
    clip: float | None = 0.017
    use_payout_factor: bool = True
    stake_threshold: float = SIGNALS_STAKE_THRESHOLD
    windows: dict[str, str] = field(default_factory=dict)
    neutral_churn_penalty: bool = False

    def __post_init__(self) -> None:
        if not self.multipliers:
            raise DataValidationError(f"payout policy {self.name!r} has no score multipliers")
        if not all(np.isfinite(float(m)) for m in self.multipliers.values()):
            raise DataValidationError(f"payout policy {self.name!r}: every multiplier must be a finite number")
        if self.clip is not None and not (np.isfinite(self.clip) and self.clip > 0):
            raise DataValidationError(f"payout policy {self.name!r}: clip must be positive, got {self.clip}")
        if not (np.isfinite(self.stake_threshold) and self.stake_threshold > 0):
            raise DataValidationError(
                f"payout policy {self.name!r}: the stake threshold must be positive, got {self.stake_threshold}")
        unpaid = [metric for metric in self.windows if metric not in self.multipliers]
        if unpaid:
            raise DataValidationError(f"payout policy {self.name!r} sets a window for {unpaid[0]!r}, which it does not pay")
        for window in self.windows.values():
            parse_window(window)

    def window_of(self, metric: str) -> str:
        """The target window ``metric`` is measured on under this policy."""
        return self.windows.get(metric, DEFAULT_WINDOW)

    @property
    def score_windows(self) -> tuple[str, ...]:
        """Every window a round is scored on, shortest first (20D2L always, for the unpaid scores)."""
        return tuple(sorted({DEFAULT_WINDOW, *map(self.window_of, self.multipliers)}, key=window_length))

    @property
    def payout_window(self) -> str:
        """The longest window a paid score is measured on: a round pays when it has ended."""
        return max(map(self.window_of, self.multipliers), key=window_length)

    def to_json(self) -> str:
        """The policy as one JSON object (what :meth:`save` stores)."""
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> "PayoutPolicy":
        """Inverse of :meth:`to_json`; a bad document raises :class:`ConfigurationError`."""
        try:
            fields = json.loads(text)
            return cls(**fields)
        except (TypeError, ValueError) as error:
            raise ConfigurationError(f"the stored payout policy cannot be read ({error})") from None

    def save(self, store: Store) -> None:
        """Record this policy as the store's: rounds resolved from now on pay by it."""
        store.set_meta(POLICY_META_KEY, self.to_json())

    @classmethod
    def of(cls, store: Store) -> "PayoutPolicy":
        """The store's payout policy (the ``alpha_mpc`` preset when none was set)."""
        text = store.get_meta(POLICY_META_KEY)
        return PAYOUT_PRESETS[DEFAULT_PAYOUT_POLICY] if not text else cls.from_json(text)


DEFAULT_PAYOUT_POLICY = "alpha_mpc"  # the preset rounds resolve with unless told otherwise
_ALPHA_MPC_60D = {"alpha": LONG_WINDOW, "mpc": LONG_WINDOW}
PAYOUT_PRESETS: dict[str, PayoutPolicy] = {
    DEFAULT_PAYOUT_POLICY: PayoutPolicy(DEFAULT_PAYOUT_POLICY, {"alpha": 0.3, "mpc": 0.8}, clip=0.017,
                                        windows=_ALPHA_MPC_60D),
    "fnc_mmc": PayoutPolicy("fnc_mmc", {"fnc": 1.0, "mmc": 2.0}, clip=0.05),
    "atomic": PayoutPolicy("atomic", {"alpha": 4.0, "mpc": 8.0}, clip=None, use_payout_factor=False,
                           windows=_ALPHA_MPC_60D),
}
_UNSET = object()


def payout_policy(name: str = DEFAULT_PAYOUT_POLICY, multipliers: dict[str, float] | None = None,
                  clip: float | None | object = _UNSET, **changes: object) -> PayoutPolicy:
    """A preset by name, or ``"custom"`` with explicit multipliers, with any field changed:
    ``clip`` (``None``: unclipped), ``stake_threshold``, ``use_payout_factor``, ``windows``,
    ``neutral_churn_penalty``. A custom policy measures every score on 20D2L unless ``windows``
    says otherwise; a changed preset keeps its name."""
    if name == "custom":
        base = PayoutPolicy("custom", dict(multipliers or {}), windows=dict(changes.pop("windows", {})))
    elif name in PAYOUT_PRESETS:
        base = PAYOUT_PRESETS[name]
        if multipliers is not None:
            changes["multipliers"] = dict(multipliers)
    else:
        raise ConfigurationError(f"unknown payout policy {name!r}: choose from {', '.join(PAYOUT_PRESETS)} or custom")
    if clip is not _UNSET:
        changes["clip"] = clip
    unknown = set(changes).difference(PayoutPolicy.__dataclass_fields__)
    if unknown:
        raise ConfigurationError(f"payout policies have no setting {sorted(unknown)[0]!r}")
    return replace(base, **changes) if changes else base


def payout_factor(total_at_risk: float, stake_threshold: float = SIGNALS_STAKE_THRESHOLD) -> float:
    """``min(1, threshold / total_at_risk)``; 1 when nothing is at risk."""
    return 1.0 if total_at_risk <= 0 else min(1.0, stake_threshold / total_at_risk)


def eligible(churn: pd.Series, turnover: pd.Series) -> pd.Series:
    """True unless max churn >= 0.15 or max turnover >= 0.25. NaN (nothing to compare against)
    counts as 1.0, as numerai-tools' ``calculate_max_churn_and_turnover`` gives it: ineligible."""
    churn_bad = churn.fillna(1.0) >= CHURN_LIMIT
    turnover_bad = turnover.fillna(1.0) >= TURNOVER_LIMIT
    return ~(churn_bad | turnover_bad)


def neutral_churn_retention(mean_neutral_churn: pd.Series, threshold: float = NEUTRAL_CHURN_THRESHOLD,
                            scaling: float = NEUTRAL_CHURN_SCALING) -> pd.Series:
    """Share of a gain kept under the neutral-churn penalty of numerai-tools 0.7
    (``neutral_churn_penalty``), per model: 1 up to ``threshold``, then
    ``min(1, 2 / (1 + exp(scaling * (mean - threshold))))``. NaN (nothing to compare) counts as
    1.0, as ``calculate_mean_neutral_churn`` gives it."""
    mean = mean_neutral_churn.fillna(1.0).to_numpy(dtype=float)
    kept = np.where(mean <= threshold, 1.0, np.minimum(1.0, 2.0 / (1.0 + np.exp(scaling * (mean - threshold)))))
    return pd.Series(kept, index=mean_neutral_churn.index, name="retention")


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
