"""Errors and warnings of the portfolio floor (risk model, constraints, optimizer)."""

from __future__ import annotations

from metasignal.data.errors import DataValidationError, MetasignalError


class PortfolioInputError(DataValidationError):
    """Inputs to the risk model or optimizer break a rule (names the ticker, factor or field)."""


class RiskModelError(MetasignalError):
    """The risk model cannot be estimated (too little history, no exposures before the date)."""


class OptimizationError(MetasignalError):
    """The solver failed or the problem is unbounded; the message names the status and the fix."""


class InfeasiblePortfolioError(OptimizationError):
    """No weights satisfy the constraints; ``constraints`` names the likely binding ones.

    ``constraints``: labels such as ``"TurnoverLimit(0.05)"``; ``details``: one sentence per
    finding (a violated necessary condition, or a constraint whose removal restores feasibility).
    """

    def __init__(self, message: str, constraints: tuple[str, ...] = (), details: tuple[str, ...] = ()):
        super().__init__(message)
        self.constraints = constraints
        self.details = details


class FallbackWarning(UserWarning):
    """The optimizer solved a relaxed problem (the result's ``fallback`` field says which)."""
