"""Meta-signal to target weights: risk model, constraints, costs and the cvxpy optimizer.

The optimizer is one cvxpy problem built once with parameters and re-solved per date:
expected alpha minus factor risk (``f = B'w``, never an N x N covariance) minus spread,
impact and borrow costs, under constraints that are small objects. Weights are fractions
of capital; returns are simple returns.

    from metasignal.portfolio import PortfolioSettings, target_portfolio

    target = target_portfolio(store, "2024-06-28", PortfolioSettings(gross=2.0))
    target.table  # ticker, weight, country, sector, previous_weight, trade, ...
"""

from metasignal.errors import (
    FallbackWarning,
    InfeasiblePortfolioError,
    OptimizationError,
    PortfolioInputError,
    RiskModelError,
)
from metasignal.portfolio._exposure_report import ExposureReport, exposure_report
from metasignal.portfolio.book import previous_portfolio, store_portfolio
from metasignal.portfolio.constraints import (
    Constraint,
    CountryNeutral,
    DollarNeutral,
    FactorBounds,
    FactorNeutral,
    GrossLeverage,
    GroupNeutral,
    MaxWeight,
    ParticipationLimit,
    ReachableMaxWeight,
    SectorNeutral,
    TurnoverLimit,
)
from metasignal.portfolio.costs import (
    BorrowCostModel,
    TransactionCostModel,
    linear_quadratic_impact,
)
from metasignal.portfolio.daily import TargetPortfolio, save_target, target_portfolio
from metasignal.portfolio.optimizer import (
    OptimizerConfig,
    PortfolioInputs,
    PortfolioOptimizer,
    PortfolioResult,
    alpha_from_signal,
)
from metasignal.portfolio.risk_history import FactorReturnHistory, factor_return_history
from metasignal.portfolio.risk_model import (
    RiskModel,
    RiskModelConfig,
    estimate_risk_model,
    factor_exposure_matrix,
    risk_model_from_store,
)
from metasignal.portfolio.settings import PortfolioSettings, build_optimizer

__all__ = [
    "BorrowCostModel",
    "Constraint",
    "CountryNeutral",
    "DollarNeutral",
    "ExposureReport",
    "FactorBounds",
    "FactorNeutral",
    "FactorReturnHistory",
    "FallbackWarning",
    "GrossLeverage",
    "GroupNeutral",
    "InfeasiblePortfolioError",
    "MaxWeight",
    "OptimizationError",
    "OptimizerConfig",
    "ParticipationLimit",
    "PortfolioInputError",
    "PortfolioInputs",
    "PortfolioOptimizer",
    "PortfolioResult",
    "PortfolioSettings",
    "ReachableMaxWeight",
    "RiskModel",
    "RiskModelConfig",
    "RiskModelError",
    "SectorNeutral",
    "TargetPortfolio",
    "TransactionCostModel",
    "TurnoverLimit",
    "alpha_from_signal",
    "build_optimizer",
    "estimate_risk_model",
    "exposure_report",
    "factor_exposure_matrix",
    "factor_return_history",
    "linear_quadratic_impact",
    "previous_portfolio",
    "risk_model_from_store",
    "save_target",
    "store_portfolio",
    "target_portfolio",
]
