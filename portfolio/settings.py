"""Portfolio settings with documented defaults, and the optimizer they describe.

Units: weights and caps are fractions of capital; ``capital`` is dollars; ``participation``
is a fraction of a name's 20-day dollar ADV per rebalance; ``turnover`` caps
``0.5 * sum |w - w_prev|`` per rebalance; ``style_bound`` caps ``|sum_i w_i b_ij|`` for each
style z-score; ``half_spread`` is a fraction of traded value; ``borrow_rate`` is annual.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Sequence

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
from metasignal.portfolio.optimizer import OptimizerConfig, PortfolioOptimizer
from metasignal.portfolio.risk_model import RiskModelConfig, factor_exposure_matrix


@dataclass(frozen=True)
class PortfolioSettings:
    """Everything that shapes a target portfolio (defaults: a 2x gross, neutral book)."""

    capital: float = 1e8
    gross: float = 2.0
    max_weight: float = 0.02
    participation: float = 0.1
    turnover: float | None = 0.5
    style_bound: float = 0.05
    sector_neutral: bool = True
    country_neutral: bool = True
    risk_aversion: float = 10.0
    ic: float = 0.03
    horizon_days: int = 20
    half_spread: float = 0.0005
    impact: float = 1.0
    borrow_rate: float = 0.005
    solver: str = "CLARABEL"
    fallback: str | None = "relax_turnover"
    meta_method: str = "stake_weighted"
    min_stake: float = 0.0
    risk_lookback: int = 252

    @classmethod
    def from_mapping(cls, values: dict) -> "PortfolioSettings":
        """Settings from a mapping (e.g. a TOML table); unknown keys are an error."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ConfigurationError(f"unknown portfolio setting(s) {', '.join(unknown)}: known are {', '.join(sorted(known))}")
        return cls(**values)

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
            ParticipationLimit(self.participation),
        ]
        if self.turnover is not None:
            chosen.append(TurnoverLimit(self.turnover))
        return chosen

    def transaction_costs(self) -> TransactionCostModel:
        return TransactionCostModel(half_spread=self.half_spread, impact=self.impact, capital=self.capital)

    def borrow_costs(self) -> BorrowCostModel:
        return BorrowCostModel(annual_rate=self.borrow_rate)

    def optimizer_config(self) -> OptimizerConfig:
        return OptimizerConfig(
            risk_aversion=self.risk_aversion, horizon_days=self.horizon_days,
            transaction_costs=self.transaction_costs(), borrow_costs=self.borrow_costs(),
            capital=self.capital, solver=self.solver, fallback=self.fallback,
        )

    def risk_config(self) -> RiskModelConfig:
        return RiskModelConfig(lookback=self.risk_lookback)


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
