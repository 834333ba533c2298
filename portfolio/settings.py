"""Portfolio settings with documented defaults, and the optimizer they describe.

Units: weights and caps are fractions of capital; ``capital`` is dollars; ``participation``
is a fraction of a name's 20-day dollar ADV per rebalance (None: no limit, so names trade
without volume); ``turnover`` caps
``0.5 * sum |w - w_prev|`` per rebalance; ``style_bound`` caps ``|sum_i w_i b_ij|`` for each
style z-score; ``half_spread`` is a fraction of traded value; ``borrow_rate`` is annual.

One source of defaults: a setting that a component also takes (the optimizer's risk aversion,
horizon, solver and fallback; the cost models' capital, spread, impact and borrow rate; the
risk model's look-back) defaults to that component's own default, read from its class, so
the two cannot disagree; the other defaults are written here. ``metasignal.example.toml``
lists every key with its default (a test checks that they agree). Every value is checked on
construction: :class:`ConfigurationError` names the key and its allowed range.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, fields

import numpy as np
import pandas as pd

from metasignal.data.schema import STYLE_FACTORS
from metasignal.errors import ConfigurationError
from metasignal.portfolio.constraints import (
    CountryNeutral,
    DollarNeutral,
    FactorBounds,
    GrossLeverage,
    ParticipationLimit,
    ReachableMaxWeight,
    SectorNeutral,
    TurnoverLimit,
)
from metasignal.portfolio.costs import BorrowCostModel, TransactionCostModel
from metasignal.portfolio.optimizer import FALLBACKS, OptimizerConfig, PortfolioOptimizer
from metasignal.portfolio.risk_model import RiskModelConfig, factor_exposure_matrix
from metasignal.signals import META_SIGNAL_METHODS
from metasignal.signals.meta_model import DEFAULT_MIN_STAKE


@dataclass(frozen=True)
class Range:
    """Allowed values of a numeric setting: ``low <`` (or ``<=``) value ``<`` (or ``<=``) ``high``.

    ``whole``: the value must be an integer; ``optional``: None is allowed too (``none`` says
    what None means).
    """

    low: float | None = None
    high: float | None = None
    low_inclusive: bool = True
    high_inclusive: bool = True
    whole: bool = False
    optional: bool = False
    none: str = ""

    def holds(self, value: object) -> bool:
        """Whether ``value`` is allowed."""
        if value is None:
            return self.optional
        kinds = (int, np.integer) if self.whole else (int, float, np.integer, np.floating)
        if isinstance(value, bool) or not isinstance(value, kinds) or not math.isfinite(value):
            return False
        above = self.low is None or (value >= self.low if self.low_inclusive else value > self.low)
        below = self.high is None or (value <= self.high if self.high_inclusive else value < self.high)
        return above and below

    def __str__(self) -> str:
        kind = "a whole number" if self.whole else "a number"
        if self.low is not None and self.high is not None:
            text = (f"{kind} in {'[' if self.low_inclusive else '('}{self.low:g}, "
                    f"{self.high:g}{']' if self.high_inclusive else ')'}")
        elif self.low is not None:
            text = f"{kind} {'>=' if self.low_inclusive else '>'} {self.low:g}"
        else:
            text = kind
        return f'{text} or "none" / None ({self.none})' if self.optional else text


POSITIVE = Range(0.0, low_inclusive=False)
NON_NEGATIVE = Range(0.0)
FRACTION = Range(0.0, 1.0, low_inclusive=False)  # (0, 1]

RANGES: dict[str, Range] = {
    "capital": POSITIVE,
    "gross": POSITIVE,
    "max_weight": FRACTION,
    "participation": Range(0.0, 1.0, low_inclusive=False, optional=True,
                           none="no participation limit: names trade without volume"),
    "turnover": Range(0.0, low_inclusive=False, optional=True, none="no turnover cap"),
    "style_bound": NON_NEGATIVE,
    "risk_aversion": NON_NEGATIVE,
    "ic": FRACTION,
    "horizon_days": Range(1, whole=True),
    "half_spread": Range(0.0, 1.0, high_inclusive=False),
    "impact": NON_NEGATIVE,
    "borrow_rate": NON_NEGATIVE,
    "min_stake": NON_NEGATIVE,
    "risk_lookback": Range(2, whole=True),
}
CHOICES: dict[str, tuple] = {
    "sector_neutral": (True, False),
    "country_neutral": (True, False),
    "fallback": FALLBACKS,
    "meta_method": META_SIGNAL_METHODS,
}


def _means_none(key: str, value: object) -> bool:
    """Whether ``value`` is the TOML spelling of None for an optional setting ``key``."""
    allowed = RANGES.get(key)
    return allowed is not None and allowed.optional and isinstance(value, str) and value.strip().lower() == "none"


@dataclass(frozen=True)
class PortfolioSettings:
    """Everything that shapes a target portfolio (defaults: a 2x gross, neutral book).

    Field by field (units in the module docstring): ``capital`` dollars; ``gross`` cap on
    sum |w|; ``max_weight`` cap on |w_i|; ``participation`` of ADV per trade; ``turnover``
    one-way cap per rebalance (None: none); ``style_bound`` on each style exposure;
    ``risk_aversion`` per unit of holding-period variance; ``ic`` expected information
    coefficient of the signal; ``horizon_days`` holding period; ``half_spread``, ``impact``,
    ``borrow_rate`` cost models; ``solver`` (cvxpy name); ``fallback`` on infeasibility;
    ``meta_method`` and ``min_stake`` of the meta-signal; ``risk_lookback`` trading days.
    """

    capital: float = TransactionCostModel.capital
    gross: float = 2.0
    max_weight: float = 0.02
    participation: float | None = 0.1
    turnover: float | None = 0.5
    style_bound: float = 0.05
    sector_neutral: bool = True
    country_neutral: bool = True
    risk_aversion: float = OptimizerConfig.risk_aversion
    ic: float = 0.03
    horizon_days: int = OptimizerConfig.horizon_days
    half_spread: float = TransactionCostModel.half_spread
    impact: float = TransactionCostModel.impact
    borrow_rate: float = BorrowCostModel.annual_rate
    solver: str = OptimizerConfig.solver
    fallback: str | None = OptimizerConfig.fallback
    meta_method: str = "stake_weighted"
    min_stake: float = DEFAULT_MIN_STAKE
    risk_lookback: int = RiskModelConfig.lookback

    def __post_init__(self) -> None:
        for key, allowed in RANGES.items():
            value = getattr(self, key)
            if not allowed.holds(value):
                raise ConfigurationError(f"portfolio setting {key} must be {allowed}, got {value!r}")
        for key, choices in CHOICES.items():
            value = getattr(self, key)
            if not _is_one_of(value, choices):
                shown = ", ".join("None" if c is None else repr(c) for c in choices)
                raise ConfigurationError(f"portfolio setting {key} must be one of {shown}, got {value!r}")
        if not isinstance(self.solver, str) or not self.solver.strip():
            raise ConfigurationError(f"portfolio setting solver must be a cvxpy solver name, got {self.solver!r}")

    @classmethod
    def from_mapping(cls, values: dict) -> PortfolioSettings:
        """Settings from a mapping (e.g. a TOML table); unknown keys are an error. TOML has no
        null: the string ``"none"`` gives None to a setting that takes it (``turnover``,
        ``participation``)."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ConfigurationError(f"unknown portfolio setting(s) {', '.join(unknown)}: known are {', '.join(sorted(known))}")
        return cls(**{key: None if _means_none(key, value) else value for key, value in values.items()})

    def constraints(self) -> list:
        """The constraint objects these settings ask for."""
        chosen = [DollarNeutral()]
        if self.sector_neutral:
            chosen.append(SectorNeutral())
        if self.country_neutral:
            chosen.append(CountryNeutral())
        chosen += [
            FactorBounds({style: self.style_bound for style in STYLE_FACTORS}),
            GrossLeverage(self.gross),
            ReachableMaxWeight(self.max_weight, self.participation),
        ]
        if self.participation is not None:
            chosen.append(ParticipationLimit(self.participation))
        if self.turnover is not None:
            chosen.append(TurnoverLimit(self.turnover))
        return chosen

    def transaction_costs(self) -> TransactionCostModel:
        """Spread and impact model at the fund's capital."""
        return TransactionCostModel(half_spread=self.half_spread, impact=self.impact, capital=self.capital)

    def borrow_costs(self) -> BorrowCostModel:
        """Annual borrow fee on shorts."""
        return BorrowCostModel(annual_rate=self.borrow_rate)

    def optimizer_config(self) -> OptimizerConfig:
        """The optimizer's objective and solver settings."""
        return OptimizerConfig(
            risk_aversion=self.risk_aversion, horizon_days=self.horizon_days,
            transaction_costs=self.transaction_costs(), borrow_costs=self.borrow_costs(),
            capital=self.capital, solver=self.solver, fallback=self.fallback,
        )

    def risk_config(self) -> RiskModelConfig:
        """The risk model's estimation settings (the look-back; the rest at their defaults)."""
        return RiskModelConfig(lookback=self.risk_lookback)


def _is_one_of(value: object, choices: tuple) -> bool:
    """``value`` equals one of ``choices`` with the same type (so 1 is not True, nor 0 None)."""
    return any(type(value) is type(choice) and value == choice for choice in choices)


def build_optimizer(tickers: Sequence[str], securities: pd.DataFrame, settings: PortfolioSettings) -> PortfolioOptimizer:
    """The optimizer over ``tickers`` with every country and sector of ``securities`` as groups."""
    groups = {
        "country": sorted(securities["country"].dropna().astype(str).unique()),
        "sector": sorted(securities["sector"].dropna().astype(str).unique()),
    }
    membership = factor_exposure_matrix(securities.reindex(pd.Index(tickers)), groups=groups, styles=())
    return PortfolioOptimizer(
        tickers, settings.constraints(), groups=membership, styles=STYLE_FACTORS, config=settings.optimizer_config()
    )
