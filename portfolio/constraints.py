"""Portfolio constraints as small composable objects.

A constraint is declared with its values (scalars or per-ticker Series) and used by
:class:`metasignal.portfolio.optimizer.PortfolioOptimizer` in two ways:

- ``weight_bounds(ctx)``: a per-name box ``lower <= w <= upper`` (numpy). The optimizer
  intersects every box into ONE parameterized box, so per-name caps and participation limits
  add no rows of their own (``MaxWeight``, ``ParticipationLimit``).
- ``compile(variables)``: cvxpy constraints over the shared variables whose data are
  ``cp.Parameter``s; the returned :class:`CompiledConstraint` sets them per date in
  ``update(ctx)``, so a re-solve never rebuilds the problem.

Every constraint also measures its own ``violation(weights, ctx)`` (numpy, >= 0) and may give
a cheap ``infeasibility(ctx, lower, upper)`` certificate used to name binding constraints.

Weights are fractions of capital; ``trade = w - w_prev``. Exposures ``f = B' w`` come from the
date's factor exposure matrix (group one-hots ``"sector:<label>"``, styles by name).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import cvxpy as cp
import numpy as np
import pandas as pd
import scipy.sparse as sp

from metasignal.errors import PortfolioInputError
from metasignal.portfolio.risk_model import group_columns

RELAXED_LIMIT = 1e6  # value a relaxed upper limit takes (fraction of capital, never binding)
TOLERANCE = 1e-7  # slack allowed by the cheap infeasibility certificates


@dataclass(frozen=True)
class DateContext:
    """One date's data aligned to the optimizer's fixed ticker list (length n) and factors (k).

    in_universe: names allowed to hold a position; others are forced to 0.
    prev_weights: previous weights (fractions of capital); exposures: ``B`` (n, k), 0 outside
    the universe; dollar_volume: average daily traded value in dollars (NaN = unknown);
    capital: fund capital in dollars.
    """

    tickers: pd.Index
    factors: pd.Index
    in_universe: np.ndarray
    prev_weights: np.ndarray
    exposures: np.ndarray
    dollar_volume: np.ndarray | None
    capital: float

    def factor_positions(self, names: Sequence[str]) -> np.ndarray:
        return self.factors.get_indexer(list(names))


class ProblemVariables:
    """The cvxpy variables and per-date parameters shared by the objective and constraints.

    The decision variable is the scaled trade ``u``; ``trade = r o u`` with ``r`` a positive
    per-name parameter (the optimizer sets ``r = 1 / sqrt(q)`` so that its diagonal quadratic
    term ``sum q_i trade_i^2`` is the parameter-free ``||u||^2``; feasibility checks use
    ``r = 1``). ``weights = prev + trade``; ``factor_exposure`` (k) equals ``B' weights``, with
    the group one-hot block a constant sparse matrix fixed at build time and the style block a
    parameter. ``abs_trade()`` and ``abs_weight()`` create, once, epigraph variables
    ``t >= |trade|`` and ``s >= |weights|``. Constraints use ``trade``, ``weights``,
    ``factor_exposure`` and the epigraphs, never ``u`` itself.
    """

    def __init__(self, n: int, factors: pd.Index, group_matrix: sp.csr_matrix, n_styles: int):
        self.n = n
        self.factors = factors
        self.scaled_trade = cp.Variable(n, name="scaled_trade")
        self.trade_scale = cp.Parameter(n, nonneg=True, name="trade_scale")
        self.trade = cp.multiply(self.trade_scale, self.scaled_trade)
        self.prev = cp.Parameter(n, name="prev_weights")
        self.weights = self.prev + self.trade
        self.factor_exposure = cp.Variable(len(factors), name="factor_exposure")
        self.definitions: list[cp.Constraint] = []
        n_groups = group_matrix.shape[1]
        if n_groups:
            self.definitions.append(self.factor_exposure[:n_groups] == group_matrix.T @ self.weights)
        self._styles = None
        if n_styles:
            # rows scaled by r so that the style block stays parameter x variable (DPP)
            self._styles = cp.Parameter((n, n_styles), name="scaled_style_exposures")
            self._prev_styles = cp.Parameter(n_styles, name="prev_style_exposures")
            self.definitions.append(
                self.factor_exposure[n_groups:] == self._styles.T @ self.scaled_trade + self._prev_styles
            )
        self._n_groups = n_groups
        self._abs_trade: cp.Variable | None = None
        self._abs_weight: cp.Variable | None = None

    def abs_trade(self) -> cp.Variable:
        if self._abs_trade is None:
            self._abs_trade = cp.Variable(self.n, name="abs_trade")
            self.definitions += [self._abs_trade >= self.trade, self._abs_trade >= -self.trade]
        return self._abs_trade

    def abs_weight(self) -> cp.Variable:
        if self._abs_weight is None:
            self._abs_weight = cp.Variable(self.n, name="abs_weight")
            self.definitions += [self._abs_weight >= self.weights, self._abs_weight >= -self.weights]
        return self._abs_weight

    def update(self, ctx: DateContext, trade_scale: np.ndarray | None = None) -> None:
        """Set ``prev``, ``r`` (default 1) and the style block for the date."""
        scale = np.ones(self.n) if trade_scale is None else trade_scale
        self.trade_scale.value = scale
        self.prev.value = ctx.prev_weights
        if self._styles is not None:
            styles = ctx.exposures[:, self._n_groups:]
            self._styles.value = styles * scale[:, None]
            self._prev_styles.value = styles.T @ ctx.prev_weights

    def trade_value(self) -> np.ndarray:
        """The solved trade ``r o u`` (fractions of capital)."""
        return np.asarray(self.trade_scale.value) * np.asarray(self.scaled_trade.value)


@dataclass
class CompiledConstraint:
    """cvxpy constraints of one declared constraint, with the per-date parameter update."""

    constraints: list[cp.Constraint]
    update: Callable[[DateContext], None] = lambda ctx: None
    relax: Callable[[], None] | None = None


class Constraint:
    """Base class: override ``weight_bounds`` and/or ``compile``, and ``violation``."""

    def label(self) -> str:
        return type(self).__name__ + "()"

    def __repr__(self) -> str:
        return self.label()

    def weight_bounds(self, ctx: DateContext) -> tuple[np.ndarray, np.ndarray] | None:
        return None

    def compile(self, variables: ProblemVariables) -> CompiledConstraint | None:
        return None

    def violation(self, weights: np.ndarray, ctx: DateContext) -> float:
        raise NotImplementedError

    def infeasibility(self, ctx: DateContext, lower: np.ndarray, upper: np.ndarray) -> str | None:
        """A sentence if the constraint cannot hold for any ``w`` in the box, else None."""
        return None


def _exposure_range(column: np.ndarray, lower: np.ndarray, upper: np.ndarray) -> tuple[float, float]:
    """Smallest and largest ``b' w`` over the box ``lower <= w <= upper``."""
    low = np.minimum(column * lower, column * upper)
    high = np.maximum(column * lower, column * upper)
    return float(low.sum()), float(high.sum())


def _min_abs(lower: np.ndarray, upper: np.ndarray) -> np.ndarray:
    """Smallest ``|x|`` with ``lower <= x <= upper`` per name."""
    return np.clip(lower, 0.0, None) + np.clip(-upper, 0.0, None)


# --- equality constraints ------------------------------------------------------------------


class DollarNeutral(Constraint):
    """Net exposure 0: ``sum(w) == 0``."""

    def compile(self, variables: ProblemVariables) -> CompiledConstraint:
        return CompiledConstraint([cp.sum(variables.weights) == 0])

    def violation(self, weights: np.ndarray, ctx: DateContext) -> float:
        return abs(float(weights.sum()))

    def infeasibility(self, ctx, lower, upper):
        low, high = float(lower.sum()), float(upper.sum())
        if low > TOLERANCE or high < -TOLERANCE:
            return f"{self.label()}: the per-name bounds force the net exposure into [{low:.4g}, {high:.4g}]"
        return None


class FactorNeutral(Constraint):
    """Zero net exposure to each named factor column: ``B[:, j]' w == 0``."""

    def __init__(self, factors: Sequence[str]):
        self.factors = [str(f) for f in factors]
        if not self.factors:
            raise PortfolioInputError(f"{type(self).__name__} needs at least one factor")

    def label(self) -> str:
        return f"FactorNeutral({self.factors})"

    def _columns(self, factors: pd.Index) -> list[str]:
        missing = [f for f in self.factors if f not in factors]
        if missing:
            raise PortfolioInputError(f"{self.label()}: factor {missing[0]!r} is not among the optimizer's factors")
        return self.factors

    def compile(self, variables: ProblemVariables) -> CompiledConstraint:
        idx = variables.factors.get_indexer(self._columns(variables.factors))
        return CompiledConstraint([variables.factor_exposure[idx] == 0])

    def violation(self, weights, ctx):
        idx = ctx.factor_positions(self._columns(ctx.factors))
        return float(np.abs(ctx.exposures[:, idx].T @ weights).max())

    def infeasibility(self, ctx, lower, upper):
        for name in self._columns(ctx.factors):
            low, high = _exposure_range(ctx.exposures[:, ctx.factors.get_loc(name)], lower, upper)
            if low > TOLERANCE or high < -TOLERANCE:
                return f"{self.label()}: the per-name bounds force the {name} exposure into [{low:.4g}, {high:.4g}]"
        return None


class GroupNeutral(FactorNeutral):
    """Each group's net exposure 0, over the one-hot columns ``"<group>:<label>"`` of ``B``."""

    def __init__(self, group: str):
        self.group = str(group)
        self.factors = []

    def label(self) -> str:
        return f"{type(self).__name__}({self.group!r})" if type(self) is GroupNeutral else f"{type(self).__name__}()"

    def _columns(self, factors: pd.Index) -> list[str]:
        columns = group_columns(factors, self.group)
        if not columns:
            raise PortfolioInputError(
                f"{self.label()}: the optimizer has no one-hot factor columns named '{self.group}:<label>'"
            )
        return columns


class SectorNeutral(GroupNeutral):
    """Each sector's net exposure 0."""

    def __init__(self):
        super().__init__("sector")


class CountryNeutral(GroupNeutral):
    """Each country's net exposure 0."""

    def __init__(self):
        super().__init__("country")


# --- inequality constraints ----------------------------------------------------------------


class FactorBounds(Constraint):
    """Bounds on factor exposures ``lower_j <= B[:, j]' w <= upper_j``.

    bounds: factor name -> limit (symmetric ``[-limit, limit]``) or ``(lower, upper)``.
    """

    def __init__(self, bounds: Mapping[str, float | tuple[float, float]]):
        if not bounds:
            raise PortfolioInputError("FactorBounds needs at least one factor")
        self.bounds: dict[str, tuple[float, float]] = {}
        for name, value in bounds.items():
            low, high = (-abs(value), abs(value)) if np.isscalar(value) else value
            if not low <= high:
                raise PortfolioInputError(f"FactorBounds: lower bound {low} exceeds upper bound {high} for {name!r}")
            self.bounds[str(name)] = (float(low), float(high))

    def label(self) -> str:
        return f"FactorBounds({self.bounds})"

    def _positions(self, factors: pd.Index) -> np.ndarray:
        missing = [f for f in self.bounds if f not in factors]
        if missing:
            raise PortfolioInputError(f"{self.label()}: factor {missing[0]!r} is not among the optimizer's factors")
        return factors.get_indexer(list(self.bounds))

    def compile(self, variables: ProblemVariables) -> CompiledConstraint:
        idx = self._positions(variables.factors)
        low = cp.Parameter(len(idx), name="factor_lower")
        high = cp.Parameter(len(idx), name="factor_upper")
        exposure = variables.factor_exposure[idx]

        def update(ctx: DateContext) -> None:
            low.value = np.array([b[0] for b in self.bounds.values()])
            high.value = np.array([b[1] for b in self.bounds.values()])

        return CompiledConstraint([exposure >= low, exposure <= high], update)

    def violation(self, weights, ctx):
        exposure = ctx.exposures[:, self._positions(ctx.factors)].T @ weights
        low = np.array([b[0] for b in self.bounds.values()])
        high = np.array([b[1] for b in self.bounds.values()])
        return float(np.clip(np.maximum(low - exposure, exposure - high), 0.0, None).max())

    def infeasibility(self, ctx, lower, upper):
        for name, (low, high) in self.bounds.items():
            reach_low, reach_high = _exposure_range(ctx.exposures[:, ctx.factors.get_loc(name)], lower, upper)
            if reach_low > high + TOLERANCE or reach_high < low - TOLERANCE:
                return (f"{self.label()}: the per-name bounds keep the {name} exposure in "
                        f"[{reach_low:.4g}, {reach_high:.4g}], outside [{low:.4g}, {high:.4g}]")
        return None


class GrossLeverage(Constraint):
    """Gross exposure cap ``sum |w| <= limit`` (e.g. 2.0 = 100% long + 100% short)."""

    def __init__(self, limit: float):
        if not limit > 0:
            raise PortfolioInputError(f"GrossLeverage limit must be positive, got {limit}")
        self.limit = float(limit)

    def label(self) -> str:
        return f"GrossLeverage({self.limit:g})"

    def compile(self, variables: ProblemVariables) -> CompiledConstraint:
        limit = cp.Parameter(nonneg=True, name="gross_limit")

        def update(ctx: DateContext) -> None:
            limit.value = self.limit

        return CompiledConstraint([cp.sum(variables.abs_weight()) <= limit], update)

    def violation(self, weights, ctx):
        return max(float(np.abs(weights).sum()) - self.limit, 0.0)

    def infeasibility(self, ctx, lower, upper):
        needed = float(_min_abs(lower, upper).sum())
        if needed > self.limit + TOLERANCE:
            return f"{self.label()}: the per-name bounds already need a gross exposure of {needed:.4g}"
        return None


class TurnoverLimit(Constraint):
    """One-way turnover cap ``0.5 * sum |w - w_prev| <= limit``."""

    def __init__(self, limit: float):
        if not limit >= 0:
            raise PortfolioInputError(f"TurnoverLimit must be non-negative, got {limit}")
        self.limit = float(limit)

    def label(self) -> str:
        return f"TurnoverLimit({self.limit:g})"

    def compile(self, variables: ProblemVariables) -> CompiledConstraint:
        limit = cp.Parameter(nonneg=True, name="turnover_limit")

        def update(ctx: DateContext) -> None:
            limit.value = 2.0 * self.limit

        def relax() -> None:
            limit.value = RELAXED_LIMIT

        return CompiledConstraint([cp.sum(variables.abs_trade()) <= limit], update, relax)

    def violation(self, weights, ctx):
        return max(0.5 * float(np.abs(weights - ctx.prev_weights).sum()) - self.limit, 0.0)

    def infeasibility(self, ctx, lower, upper):
        needed = 0.5 * float(_min_abs(lower - ctx.prev_weights, upper - ctx.prev_weights).sum())
        if needed > self.limit + TOLERANCE:
            forced = 0.5 * float(np.abs(ctx.prev_weights[~ctx.in_universe]).sum())
            return (f"{self.label()}: the per-name bounds already force a turnover of {needed:.4g} "
                    f"({forced:.4g} from liquidating names outside the universe)")
        return None


# --- per-name boxes ------------------------------------------------------------------------


def _per_name(value: float | pd.Series, ctx: DateContext, what: str) -> np.ndarray:
    if isinstance(value, pd.Series):
        aligned = value.reindex(ctx.tickers).to_numpy(dtype=float)
        missing = ctx.in_universe & ~np.isfinite(aligned)
        if missing.any():
            raise PortfolioInputError(f"{what} has no value for ticker {ctx.tickers[missing][0]}")
        return np.where(np.isfinite(aligned), aligned, 0.0)
    return np.full(len(ctx.tickers), float(value))


class MaxWeight(Constraint):
    """Per-name caps ``-short_cap_i <= w_i <= cap_i`` (scalar or ticker Series).

    short_cap defaults to cap. Values must be non-negative.
    """

    def __init__(self, cap: float | pd.Series, short_cap: float | pd.Series | None = None):
        for value in (cap, short_cap):
            if value is not None and (np.asarray(value, dtype=float) < 0).any():
                raise PortfolioInputError("MaxWeight caps must be non-negative")
        self.cap = cap
        self.short_cap = cap if short_cap is None else short_cap

    def label(self) -> str:
        show = lambda v: "per-name" if isinstance(v, pd.Series) else f"{v:g}"  # noqa: E731
        if self.short_cap is self.cap:
            return f"MaxWeight({show(self.cap)})"
        return f"MaxWeight({show(self.cap)}, short_cap={show(self.short_cap)})"

    def weight_bounds(self, ctx):
        return -_per_name(self.short_cap, ctx, self.label()), _per_name(self.cap, ctx, self.label())

    def violation(self, weights, ctx):
        lower, upper = self.weight_bounds(ctx)
        return float(np.clip(np.maximum(lower - weights, weights - upper), 0.0, None).max())


class ParticipationLimit(Constraint):
    """Trade size cap ``|w_i - w_prev_i| <= rate * ADV_i / capital`` (ADV in dollars).

    Names without volume cannot trade. Names leaving the universe are exempt: they are
    liquidated in full whatever their volume.
    """

    def __init__(self, rate: float):
        if not rate > 0:
            raise PortfolioInputError(f"ParticipationLimit rate must be positive, got {rate}")
        self.rate = float(rate)

    def label(self) -> str:
        return f"ParticipationLimit({self.rate:g})"

    def max_trade(self, ctx: DateContext) -> np.ndarray:
        if ctx.dollar_volume is None:
            raise PortfolioInputError(f"{self.label()} needs the dollar volume (ADV) of each name")
        volume = np.nan_to_num(ctx.dollar_volume, nan=0.0).clip(min=0.0)
        return self.rate * volume / ctx.capital

    def weight_bounds(self, ctx):
        step = np.where(ctx.in_universe, self.max_trade(ctx), np.inf)
        return ctx.prev_weights - step, ctx.prev_weights + step

    def violation(self, weights, ctx):
        excess = np.abs(weights - ctx.prev_weights) - self.max_trade(ctx)
        return float(np.clip(np.where(ctx.in_universe, excess, 0.0), 0.0, None).max())


class ReachableMaxWeight(MaxWeight):
    """``MaxWeight`` that a drifted book can always meet: where ``ParticipationLimit(rate)`` forbids
    trading back under the cap in one rebalance (a name that rallied past it, or has no volume),
    the bound is the nearest reachable weight ``prev -+ rate * ADV / capital`` instead.

    Identical to ``MaxWeight`` whenever the cap is reachable, and always with ``rate=None`` (no
    participation limit: every cap is reachable in one rebalance). ``loosened``: how many names
    the last call loosened.
    """

    def __init__(self, cap: float, rate: float | None):
        super().__init__(cap)
        self.participation = None if rate is None else ParticipationLimit(rate)
        self.loosened = 0

    def weight_bounds(self, ctx):
        lower, upper = super().weight_bounds(ctx)
        if self.participation is None:
            self.loosened = 0
            return lower, upper
        step = np.where(ctx.in_universe, self.participation.max_trade(ctx), np.inf)
        reach_low, reach_high = ctx.prev_weights - step, ctx.prev_weights + step
        self.loosened = int(((reach_low > upper) | (reach_high < lower)).sum())
        return np.minimum(lower, reach_high), np.maximum(upper, reach_low)
