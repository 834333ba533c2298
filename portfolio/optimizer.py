"""Meta-signal -> target weights: one cvxpy problem built once, re-solved per date.

The problem (maximize, everything in fractions of capital over a holding period of ``H`` days)::

    alpha' w  -  gamma H (||L' f||^2 + ||sqrt(d) o w||^2)  -  costs(w - w_prev)  -  H borrow' neg(w)
    s.t.  f = B' w,  lower <= w <= upper,  and the declared constraints

- ``alpha``: expected return of each name over the holding period. :func:`alpha_from_signal`
  scales a meta-signal the Grinold way, ``alpha_i = IC * sigma_i * sqrt(H) * z_i`` (z: the
  cross-sectionally standardized signal, sigma: daily volatility).
- Risk through the factor model (``F = L L'``, daily), never a dense n x n matrix: ``f`` is a
  variable tied to ``w`` by an equality constraint; the group one-hot block of ``B`` is a
  constant sparse matrix fixed at build time, the style block a parameter.
- Costs: half-spread ``a_i |x_i|`` plus impact ``c_i |x_i|^{3/2}`` (:mod:`metasignal.portfolio.costs`).
  ``impact="linear_quadratic"`` (default) replaces the 3/2 power by its least-squares fit on
  each name's feasible trade range (capped at ``impact_fit_max``), which keeps the problem a QP;
  ``impact="power"`` uses exact power cones (cvxpy's DPP compilation of cones needs memory
  ~ variables x parameters, so it is limited to small ticker lists). Results always report the
  exact 3/2-power cost of the chosen trades next to the modelled one.
- Borrow: ``rate_i / 252`` per day on short weight, times ``H``.

How it is compiled (each choice measured with ``benchmarks/bench_optimizer.py``):

- The decision variable is the trade ``x = w - w_prev``, written ``x = r o u`` with
  ``r = 1 / sqrt(q)`` and ``q`` the diagonal quadratic weight (``gamma H d`` plus the impact
  fit), so that term is the parameter-free ``||u||^2``. Every term involving ``w_prev`` or ``r``
  is folded into parameter values in numpy; the problem is DPP and a new date only sets
  parameter values (``solve(warm_start=True)``, Clarabel re-uses its factorization pattern).
  Names whose trade is fixed take a typical ``q``; others at least a floor of 1e-6 (a
  negligible proximal term when there is no risk or impact).
- Parameter-dependent linear objective terms sit in scalar equalities: cvxpy's
  quadratic-objective extraction densifies (variables x parameters) otherwise.
- Per date the objective is scaled by ``1 / max|alpha|`` so that solver tolerances are
  relative to the alpha units (the solution does not change).
- The problem is built for a FIXED ticker list (e.g. the union over a backtest) and fixed
  factors; names outside a date's universe get the box ``0 <= w <= 0`` (forced liquidation,
  exempt from participation limits) and zero exposures.
"""

from __future__ import annotations

import logging
import time
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import cvxpy as cp
import numpy as np
import pandas as pd
import scipy.sparse as sp

from metasignal.errors import (
    ConfigurationError,
    FallbackWarning,
    InfeasiblePortfolioError,
    OptimizationError,
    PortfolioInputError,
)
from metasignal.portfolio._exposure_report import ExposureReport, exposure_report
from metasignal.portfolio.constraints import (
    TOLERANCE,
    CompiledConstraint,
    Constraint,
    DateContext,
    ProblemVariables,
    TurnoverLimit,
)
from metasignal.portfolio.costs import (
    BorrowCostModel,
    TransactionCostModel,
    linear_quadratic_impact,
)
from metasignal.portfolio.risk_model import GROUP_SEPARATOR, RiskModel

logger = logging.getLogger(__name__)

UNBOUNDED_WEIGHT = 100.0  # stand-in for an infinite per-name bound (fractions of capital)
QUADRATIC_FLOOR = 1e-6  # least diagonal quadratic weight (objective scaled to max|alpha| = 1)
POWER_IMPACT_MAX_TICKERS = 2000  # exact power cones: cvxpy compile memory grows ~ n^2
POWER_TRADE_UNIT = 100.0  # trades enter the power cones in percent of capital (solver scaling)
IMPACT_MODES = ("linear_quadratic", "power")
FALLBACKS = (None, "relax_turnover")
FAST_CLARABEL_OPTIONS = {"iterative_refinement_enable": False}
UNIVERSE = "Universe"
NO_VOLUME = "NoVolume"


def _by_ticker(values: pd.Series, tickers: pd.Index) -> pd.Series:
    """``values`` as floats on ``tickers`` (NaN where absent), whatever the index's type."""
    if values.index.equals(tickers):
        return values.astype(float)
    values = values.astype(float)
    values.index = values.index.astype(str)
    return values.reindex(tickers)


def alpha_from_signal(
    signal: pd.Series,
    volatility: pd.Series | None = None,
    *,
    ic: float,
    horizon_days: int,
) -> pd.Series:
    """Expected holding-period return per name from a meta-signal.

    ``alpha_i = ic * sigma_i * sqrt(horizon_days) * z_i`` with ``z`` the signal standardized
    across names (mean 0, std 1) and ``sigma`` the daily return volatility. Without
    ``volatility`` the result is ``ic * z`` (alpha in IC units; scale risk aversion to match).
    NaN signals are dropped. ``ic`` and ``horizon_days`` have no default here: the fund's are
    :class:`metasignal.portfolio.settings.PortfolioSettings` ``ic`` and ``horizon_days``.
    """
    signal = signal.astype(float).dropna()
    std = signal.std(ddof=0)
    if len(signal) < 2 or not std > 0:
        raise PortfolioInputError("the signal needs at least two distinct values to be standardized")
    z = (signal - signal.mean()) / std
    if volatility is None:
        return ic * z
    sigma = volatility.reindex(z.index).astype(float)
    if sigma.isna().any():
        raise PortfolioInputError(f"no volatility for ticker {sigma.index[sigma.isna()][0]}")
    return ic * np.sqrt(horizon_days) * sigma * z


@dataclass(frozen=True)
class OptimizerConfig:
    """Objective and solver settings.

    risk_aversion: gamma, per unit of holding-period variance. horizon_days: H.
    transaction_costs / borrow_costs: None disables the term. capital: dollars (None: the
    transaction cost model's capital). impact: "linear_quadratic" or "power".
    impact_fit_max: largest trade (fraction of capital) the linear-quadratic fit covers.
    fallback: "relax_turnover" (default: lift TurnoverLimit, re-solve, report it in
    ``PortfolioResult.fallback``, a FallbackWarning and an info log) or None (raise on
    infeasibility).
    diagnose: name binding constraints by re-solving feasibility problems when needed.
    solver_options: passed to the solver. With CLARABEL and no iterative-refinement option
    given, the first attempt disables iterative refinement and a second attempt (solver
    defaults) runs only if the first does not end optimal, infeasible or unbounded.
    """

    risk_aversion: float = 10.0
    horizon_days: int = 20
    transaction_costs: TransactionCostModel | None = field(default_factory=TransactionCostModel)
    borrow_costs: BorrowCostModel | None = field(default_factory=BorrowCostModel)
    capital: float | None = None
    impact: str = "linear_quadratic"
    impact_fit_max: float = 0.02
    solver: str = "CLARABEL"
    solver_options: Mapping[str, object] = field(default_factory=dict)
    fallback: str | None = "relax_turnover"
    diagnose: bool = True

    def __post_init__(self) -> None:
        if self.impact not in IMPACT_MODES:
            raise ConfigurationError(f"impact must be one of {IMPACT_MODES}, got {self.impact!r}")
        if self.fallback not in FALLBACKS:
            raise ConfigurationError(f"fallback must be one of {FALLBACKS}, got {self.fallback!r}")
        if self.risk_aversion < 0 or self.horizon_days <= 0 or not self.impact_fit_max > 0:
            raise PortfolioInputError("risk_aversion must be >= 0, horizon_days and impact_fit_max > 0")
        if (self.capital is not None and self.transaction_costs is not None
                and float(self.capital) != float(self.transaction_costs.capital)):
            raise PortfolioInputError(
                f"capital {self.capital:g} differs from the transaction cost model's capital "
                f"{self.transaction_costs.capital:g}; give one value"
            )

    @property
    def fund_capital(self) -> float:
        """Dollars: ``capital``, else the transaction cost model's, else that model's default."""
        if self.capital is not None:
            return float(self.capital)
        costs = self.transaction_costs if self.transaction_costs is not None else TransactionCostModel()
        return float(costs.capital)


@dataclass(frozen=True)
class PortfolioInputs:
    """One date's inputs.

    alpha: ticker -> expected holding-period return; its index IS the date's universe.
    risk_model: the date's model (must cover the universe, with the optimizer's factors).
    prev_weights: current holdings (fractions of capital; absent = 0).
    dollar_volume: average daily traded value in dollars (needed by impact costs and
    ParticipationLimit). volatility: daily return volatility for impact (default: the risk
    model's total volatility).
    """

    alpha: pd.Series
    risk_model: RiskModel
    prev_weights: pd.Series | None = None
    dollar_volume: pd.Series | None = None
    volatility: pd.Series | None = None


@dataclass(frozen=True)
class ObjectiveTerms:
    """Objective terms at the solution (fractions of capital over the holding period).

    impact_cost is the exact 3/2-power cost; impact_cost_model the impact as the objective
    modelled it (equal in "power" mode).
    """

    expected_return: float
    risk_penalty: float
    spread_cost: float
    impact_cost: float
    impact_cost_model: float
    borrow_cost: float

    @property
    def net(self) -> float:
        return self.expected_return - self.risk_penalty - self.spread_cost - self.impact_cost - self.borrow_cost


@dataclass(frozen=True)
class PortfolioResult:
    """Target weights (ticker -> fraction of capital, every optimizer ticker) and diagnostics.

    fallback: None, or the fallback that produced these weights; relaxed: labels of the
    constraints it lifted. violations: constraint label -> largest violation (>= 0).
    """

    weights: pd.Series
    status: str
    solve_seconds: float
    solver_seconds: float
    iterations: int
    objective: ObjectiveTerms
    fallback: str | None
    relaxed: tuple[str, ...]
    report: ExposureReport
    violations: pd.Series


@dataclass
class _Bounds:
    lower: np.ndarray
    upper: np.ndarray
    lower_source: np.ndarray  # label of the constraint that set each lower bound (object array)
    upper_source: np.ndarray


class PortfolioOptimizer:
    """Factor-risk long/short optimizer over a fixed ticker list, re-solved per date.

    tickers: every name the optimizer may ever hold. groups: ticker x ``"<group>:<label>"``
    one-hot frame (e.g. from ``factor_exposure_matrix(securities, styles=())``), fixed for the
    optimizer's life. styles: style factor names whose values come with each date's risk model.
    """

    def __init__(
        self,
        tickers: Sequence[str],
        constraints: Sequence[Constraint] = (),
        *,
        groups: pd.DataFrame | None = None,
        styles: Sequence[str] = (),
        config: OptimizerConfig = OptimizerConfig(),
    ):
        self.tickers = pd.Index([str(t) for t in tickers], name="ticker")
        if self.tickers.has_duplicates or len(self.tickers) == 0:
            raise PortfolioInputError("the optimizer needs a non-empty list of unique tickers")
        self.config = config
        self.constraints = list(constraints)
        self._group_matrix, group_names = self._groups(groups)
        styles = [str(s) for s in styles]
        if any(GROUP_SEPARATOR in s for s in styles):
            raise PortfolioInputError(f"style names may not contain {GROUP_SEPARATOR!r}")
        self.factors = pd.Index(group_names + styles, name="factor")
        if self.factors.has_duplicates:
            raise PortfolioInputError("factor names must be unique")
        self._n_styles = len(styles)
        n = len(self.tickers)
        if config.impact == "power" and self._has_impact and n > POWER_IMPACT_MAX_TICKERS:
            raise PortfolioInputError(
                f"impact='power' supports at most {POWER_IMPACT_MAX_TICKERS} tickers (cvxpy's compilation of "
                f"{n} power cones with parameters needs too much memory); use impact='linear_quadratic'"
            )
        self._build()

    # --- construction ----------------------------------------------------------------------

    def _groups(self, groups: pd.DataFrame | None) -> tuple[sp.csr_matrix, list[str]]:
        if groups is None or groups.shape[1] == 0:
            return sp.csr_matrix((len(self.tickers), 0)), []
        names = [str(c) for c in groups.columns]
        bad = [c for c in names if GROUP_SEPARATOR not in c]
        if bad:
            raise PortfolioInputError(f"group column {bad[0]!r} is not named '<group>{GROUP_SEPARATOR}<label>'")
        aligned = groups.copy()
        aligned.index = aligned.index.astype(str)
        missing = self.tickers.difference(aligned.index)
        if len(missing):
            raise PortfolioInputError(f"ticker {missing[0]} has no row in the group one-hot frame")
        values = aligned.reindex(self.tickers).to_numpy(dtype=float)
        if not np.isin(values, (0.0, 1.0)).all():
            raise PortfolioInputError("group columns must be one-hot (0 or 1)")
        return sp.csr_matrix(values), names

    @property
    def _has_impact(self) -> bool:
        tcm = self.config.transaction_costs
        return tcm is not None and tcm.impact > 0

    def _build(self) -> None:
        n, k = len(self.tickers), len(self.factors)
        v = ProblemVariables(n, self.factors, self._group_matrix, self._n_styles)
        self._variables = v
        self._compiled: list[tuple[Constraint, CompiledConstraint]] = []
        for constraint in self.constraints:
            compiled = constraint.compile(v)
            if compiled is not None:
                self._compiled.append((constraint, compiled))

        u = v.scaled_trade  # trade = r o u with r = 1 / sqrt(diagonal quadratic weight)
        self._box_low = cp.Parameter(n, name="scaled_trade_lower")
        self._box_high = cp.Parameter(n, name="scaled_trade_upper")
        rows = [u >= self._box_low, u <= self._box_high]

        # objective pieces; parameter-dependent linear terms sit in scalar equalities so that
        # cvxpy's quadratic-objective extraction stays sparse
        self._alpha = cp.Parameter(n, name="alpha_effective")
        expected = cp.Variable(name="expected_return")
        rows.append(expected == self._alpha @ u)
        objective = expected - cp.sum_squares(u)  # specific risk + quadratic impact, parameter-free
        self._factor_sqrt = None
        if k:
            self._factor_sqrt = cp.Parameter((k, k), name="factor_sqrt")
            factor = cp.Variable(k, name="factor_risk")
            rows.append(factor == self._factor_sqrt.T @ v.factor_exposure)
            objective = objective - cp.sum_squares(factor)

        linear_terms = []
        self._spread = self._borrow_half = self._impact_power = None
        if self.config.transaction_costs is not None:
            self._spread = cp.Parameter(n, nonneg=True, name="linear_trade_cost")
            linear_terms.append(self._spread @ v.abs_trade())
        if self.config.borrow_costs is not None:
            self._borrow_half = cp.Parameter(n, nonneg=True, name="half_borrow")
            self._borrow_scaled = cp.Parameter(n, nonneg=True, name="half_borrow_scaled")
            linear_terms.append(self._borrow_half @ v.abs_weight() - self._borrow_scaled @ u)
        if linear_terms:
            linear_cost = cp.Variable(name="linear_cost")
            rows.append(linear_cost == sum(linear_terms[1:], linear_terms[0]))
            objective = objective - linear_cost
        if self.config.impact == "power" and self._has_impact:
            self._impact_power = cp.Parameter(n, nonneg=True, name="impact_coefficient")
            powered = cp.Variable(n, name="impact_power")
            impact = cp.Variable(name="impact_cost")
            rows += [powered >= cp.power(POWER_TRADE_UNIT * v.abs_trade(), 1.5, approx=False),
                     impact == self._impact_power @ powered]
            objective = objective - impact

        constraints = [c for _, compiled in self._compiled for c in compiled.constraints]
        self._problem = cp.Problem(cp.Maximize(objective), v.definitions + rows + constraints)

    # --- per date ---------------------------------------------------------------------------

    def solve(self, inputs: PortfolioInputs) -> PortfolioResult:
        """Target weights for one date. Raises InfeasiblePortfolioError / OptimizationError."""
        started = time.perf_counter()
        ctx, alpha, specific, factor_sqrt, volatility = self._context(inputs)
        coefficients = self._impact_coefficients(ctx, volatility)
        bounds = self._bounds(ctx, coefficients)
        empty = bounds.lower > bounds.upper + TOLERANCE
        if empty.any():
            raise self._empty_box_error(ctx, bounds, empty)
        self._set_parameters(ctx, alpha, specific, factor_sqrt, coefficients, bounds)
        status = self._run()
        fallback, relaxed = None, ()
        if status in (cp.INFEASIBLE, cp.INFEASIBLE_INACCURATE) and self.config.fallback == "relax_turnover":
            status, relaxed = self._relax_turnover(ctx, status)
            fallback = "relax_turnover" if relaxed else None
        self._check_status(ctx, bounds, coefficients, status)
        weights = self._solution_weights(ctx, bounds)
        elapsed = time.perf_counter() - started
        stats = self._problem.solver_stats
        result = self._result(ctx, inputs, weights, alpha, coefficients, bounds, status, elapsed,
                              float(stats.solve_time or 0.0), int(stats.num_iters or 0), fallback, relaxed)
        if fallback is not None:
            message = (f"portfolio infeasible under {', '.join(relaxed)}; solved with the turnover limit lifted "
                       f"(turnover {result.report.turnover:.4g})")
            logger.info(message)
            warnings.warn(message, FallbackWarning, stacklevel=2)
        return result

    def _relax_turnover(self, ctx: DateContext, status: str) -> tuple[str, tuple[str, ...]]:
        """Re-solve an infeasible date (``status``) with every TurnoverLimit lifted: (new status,
        labels of the lifted limits), or (status, ()) when there is none to lift or the relaxed
        problem is not solved either (the limits are then back in force)."""
        turnover = [(c, compiled) for c, compiled in self._compiled if isinstance(c, TurnoverLimit)]
        if not turnover:
            logger.debug("infeasible portfolio (%s): no TurnoverLimit to relax", status)
            return status, ()
        for _, compiled in turnover:
            compiled.relax()
        status = self._run()
        if status in (cp.OPTIMAL, cp.OPTIMAL_INACCURATE):
            return status, tuple(c.label() for c, _ in turnover)
        logger.debug("infeasible portfolio: lifting the turnover limit did not help (%s)", status)
        for _, compiled in turnover:
            compiled.update(ctx)
        return status, ()

    def _check_status(self, ctx: DateContext, bounds: _Bounds, coefficients: np.ndarray, status: str) -> None:
        """Raise unless the solver ended optimal (infeasible, unbounded or a failed solve)."""
        if status in (cp.INFEASIBLE, cp.INFEASIBLE_INACCURATE):
            raise self._infeasible_error(ctx, bounds, coefficients, status)
        if status in (cp.UNBOUNDED, cp.UNBOUNDED_INACCURATE):
            raise OptimizationError(
                f"the portfolio problem is unbounded ({status}); add risk aversion, costs or GrossLeverage"
            )
        if status not in (cp.OPTIMAL, cp.OPTIMAL_INACCURATE):
            hint = ("; exact power-cone impact is numerically fragile, impact='linear_quadratic' is the robust choice"
                    if self._impact_power is not None else "")
            raise OptimizationError(f"the solver {self.config.solver} failed with status {status!r}{hint}")

    def _solution_weights(self, ctx: DateContext, bounds: _Bounds) -> np.ndarray:
        """(n,) weights of the solved problem (names with a fixed box exactly at it)."""
        weights = ctx.prev_weights + self._variables.trade_value()
        fixed = bounds.lower == bounds.upper
        weights[fixed] = bounds.lower[fixed]
        if np.abs(weights).max() >= 0.99 * UNBOUNDED_WEIGHT:
            raise OptimizationError(
                "the weights reach the artificial bound of the unconstrained problem; "
                "add risk aversion, costs, MaxWeight or GrossLeverage"
            )
        return weights

    def _run(self) -> str:
        """Solve; with Clarabel, first without iterative refinement (about 40% faster here, same
        accuracy), and again with the solver's defaults if that does not end optimal."""
        options = dict(self.config.solver_options)
        attempts = [options]
        if self.config.solver.upper() == "CLARABEL" and not options.keys() & FAST_CLARABEL_OPTIONS.keys():
            attempts = [{**FAST_CLARABEL_OPTIONS, **options}, options]
        status = ""
        for attempt in attempts:
            try:
                self._problem.solve(solver=self.config.solver, warm_start=True, **attempt)
                status = str(self._problem.status)
            except cp.SolverError as error:
                status = f"solver_error: {error}"
            if status in (cp.OPTIMAL, cp.INFEASIBLE, cp.UNBOUNDED):
                break
            if attempt is not attempts[-1]:
                logger.debug("solver %s ended %s without iterative refinement; solving again with its defaults",
                             self.config.solver, status)
        return status

    def _context(self, inputs: PortfolioInputs):
        """The date's arrays over the optimizer's tickers: (context, alpha (n,), specific
        variance (n,), factor sqrt L (k, k), daily volatility (n,)); raises on bad inputs."""
        tickers = self.tickers
        alpha, in_universe = self._universe_alpha(inputs.alpha)
        risk = inputs.risk_model
        exposures, specific, factor_sqrt = self._risk_arrays(risk, alpha.index, in_universe)
        prev = self._previous_weights(inputs.prev_weights)
        volume = None
        if inputs.dollar_volume is not None:
            volume = _by_ticker(inputs.dollar_volume, tickers).to_numpy()
        if inputs.volatility is not None:
            volatility = _by_ticker(inputs.volatility, tickers).fillna(0.0).to_numpy()
        else:
            volatility = np.sqrt(risk.total_variance().reindex(tickers).fillna(0.0).to_numpy())
        ctx = DateContext(tickers, self.factors, in_universe, prev, exposures, volume, self.config.fund_capital)
        return ctx, alpha.reindex(tickers).fillna(0.0).to_numpy(), specific, factor_sqrt, volatility

    def _universe_alpha(self, alpha: pd.Series) -> tuple[pd.Series, np.ndarray]:
        """(alpha by ticker, (n,) bool: in the date's universe); the alpha's index is the universe."""
        alpha = alpha.astype(float)
        alpha.index = alpha.index.astype(str)
        if alpha.index.has_duplicates:
            raise PortfolioInputError(f"alpha lists ticker {alpha.index[alpha.index.duplicated()][0]} twice")
        positions = self.tickers.get_indexer(alpha.index)
        if (positions < 0).any():
            raise PortfolioInputError(
                f"ticker {alpha.index[positions < 0][0]} has an alpha but is not in the optimizer's ticker list "
                "(build the optimizer over the union of every date's universe)"
            )
        if alpha.isna().any():
            raise PortfolioInputError(f"alpha is NaN for ticker {alpha.index[alpha.isna()][0]}")
        in_universe = np.zeros(len(self.tickers), dtype=bool)
        in_universe[positions] = True
        return alpha, in_universe

    def _risk_arrays(self, risk: RiskModel, universe: pd.Index,
                     in_universe: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(exposures (n, k), specific variance (n,), factor sqrt (k, k)) in the optimizer's
        order; names outside the universe get zeros."""
        tickers, factors = self.tickers, self.factors
        missing = factors.difference(risk.factors)
        extra = risk.factors.difference(factors)
        if len(missing) or len(extra):
            name = missing[0] if len(missing) else extra[0]
            raise PortfolioInputError(
                f"the risk model's factors differ from the optimizer's: {name!r} is in only one of them"
            )
        uncovered = risk.tickers.get_indexer(universe) < 0
        if uncovered.any():
            raise PortfolioInputError(f"ticker {universe[uncovered][0]} is in the universe but not in the risk model")
        rows = risk.tickers.get_indexer(tickers)
        cols = risk.factors.get_indexer(factors)
        inside = in_universe & (rows >= 0)
        exposures = np.zeros((len(tickers), len(factors)))
        exposures[inside] = risk.exposures[rows[inside]][:, cols]
        self._check_fixed_groups(exposures, inside)
        specific = np.zeros(len(tickers))
        specific[inside] = risk.specific_variance[rows[inside]]
        return exposures, specific, risk.factor_sqrt[cols]

    def _check_fixed_groups(self, exposures: np.ndarray, inside: np.ndarray) -> None:
        """The risk model's group one-hots must equal the ones the optimizer was built with."""
        n_groups = self._group_matrix.shape[1]
        if not n_groups:
            return
        fixed = self._group_matrix[np.flatnonzero(inside)].toarray()
        differs = np.abs(exposures[inside, :n_groups] - fixed) > 1e-9
        if differs.any():
            row, col = np.argwhere(differs)[0]
            raise PortfolioInputError(
                f"ticker {self.tickers[inside][row]} has {self.factors[col]} = {exposures[inside][row, col]:g} in "
                "the risk model but a different value in the optimizer's groups; rebuild the optimizer"
            )

    def _previous_weights(self, held: pd.Series | None) -> np.ndarray:
        """(n,) current holdings, fractions of capital (0 where absent)."""
        if held is None:
            return np.zeros(len(self.tickers))
        held = held.astype(float).fillna(0.0)
        if held.index.equals(self.tickers):
            return held.to_numpy()
        held.index = held.index.astype(str)
        outside = held[(self.tickers.get_indexer(held.index) < 0) & (held != 0).to_numpy()]
        if len(outside):
            raise PortfolioInputError(f"ticker {outside.index[0]} is held but not in the optimizer's ticker list")
        return held.reindex(self.tickers).fillna(0.0).to_numpy()

    def _impact_coefficients(self, ctx: DateContext, volatility: np.ndarray) -> np.ndarray:
        """``c_i`` of the 3/2-power impact (inf: no volume, cannot trade); 0 without impact."""
        if not self._has_impact:
            return np.zeros(len(ctx.tickers))
        if ctx.dollar_volume is None:
            raise PortfolioInputError("impact costs need the dollar volume (ADV) of each name")
        tcm = self.config.transaction_costs
        return tcm.impact_coefficients(volatility, ctx.dollar_volume)

    def _bounds(self, ctx: DateContext, coefficients: np.ndarray, skip: Constraint | None = None) -> _Bounds:
        """Intersect every per-name box; remember which constraint set each binding side."""
        n = len(ctx.tickers)
        lower, upper = np.full(n, -np.inf), np.full(n, np.inf)
        lower_source, upper_source = np.full(n, "", dtype=object), np.full(n, "", dtype=object)
        boxes = [(c.label(), c.weight_bounds(ctx)) for c in self.constraints if c is not skip]
        untradeable = ctx.in_universe & ~np.isfinite(coefficients)
        boxes.append((NO_VOLUME, (np.where(untradeable, ctx.prev_weights, -np.inf),
                                  np.where(untradeable, ctx.prev_weights, np.inf))))
        for label, box in boxes:
            if box is None:
                continue
            low, high = box
            tighter_low, tighter_high = low > lower, high < upper
            lower, upper = np.where(tighter_low, low, lower), np.where(tighter_high, high, upper)
            lower_source[tighter_low], upper_source[tighter_high] = label, label
        outside = ~ctx.in_universe
        lower[outside], upper[outside] = 0.0, 0.0
        lower_source[outside], upper_source[outside] = UNIVERSE, UNIVERSE
        return _Bounds(np.clip(lower, -UNBOUNDED_WEIGHT, UNBOUNDED_WEIGHT),
                       np.clip(upper, -UNBOUNDED_WEIGHT, UNBOUNDED_WEIGHT), lower_source, upper_source)

    def _set_parameters(self, ctx, alpha, specific, factor_sqrt, coefficients, bounds) -> None:
        """Set every parameter for the date; the objective is multiplied by ``1 / max|alpha|``.

        The scale keeps the solver's absolute tolerances meaningful whatever the alpha units
        (it changes no solution: every term is scaled alike).
        """
        cfg = self.config
        largest = float(np.abs(alpha).max(initial=0.0))
        scale = 1.0 / largest if largest > 0 else 1.0
        gamma_h = cfg.risk_aversion * cfg.horizon_days * scale
        for _, compiled in self._compiled:
            compiled.update(ctx)
        finite_c = np.where(np.isfinite(coefficients), coefficients, 0.0)
        quadratic = np.zeros(len(ctx.tickers))
        if self._spread is not None:
            spread = np.broadcast_to(np.asarray(cfg.transaction_costs.half_spread, dtype=float), alpha.shape)
            linear = spread.copy()
            if cfg.impact == "linear_quadratic":
                lin, quadratic = linear_quadratic_impact(finite_c, self._fit_range(ctx, bounds))
                linear, quadratic = linear + lin, scale * quadratic
            self._spread.value = scale * linear
        if self._impact_power is not None:
            self._impact_power.value = scale * finite_c / POWER_TRADE_UNIT**1.5
        # diagonal quadratic weight q (specific risk + impact fit) -> trade = u / sqrt(q); a name
        # whose trade the box fixes gets a typical q (its term is constant), others a tiny floor
        weight = gamma_h * specific + quadratic
        fixed = bounds.lower == bounds.upper
        free = weight[~fixed & (weight > QUADRATIC_FLOOR)]
        typical = float(np.median(free)) if len(free) else 1.0
        root = np.sqrt(np.where(fixed, typical, np.maximum(weight, QUADRATIC_FLOOR)))
        self._variables.update(ctx, 1.0 / root)
        self._box_low.value = (bounds.lower - ctx.prev_weights) * root
        self._box_high.value = (bounds.upper - ctx.prev_weights) * root
        self._alpha.value = (scale * alpha - 2.0 * gamma_h * specific * ctx.prev_weights) / root
        if self._factor_sqrt is not None:
            self._factor_sqrt.value = np.sqrt(gamma_h) * factor_sqrt
        if self._borrow_half is not None:
            daily = np.broadcast_to(np.asarray(cfg.borrow_costs.daily_rate(), dtype=float), alpha.shape)
            self._borrow_half.value = scale * 0.5 * cfg.horizon_days * daily
            self._borrow_scaled.value = self._borrow_half.value / root

    def _fit_range(self, ctx: DateContext, bounds: _Bounds) -> np.ndarray:
        reach = np.maximum(bounds.upper - ctx.prev_weights, ctx.prev_weights - bounds.lower)
        return np.clip(reach, 1e-6, self.config.impact_fit_max)

    # --- results ----------------------------------------------------------------------------

    def _result(self, ctx, inputs, weights, alpha, coefficients, bounds, status, elapsed, solver_seconds,
                iterations, fallback, relaxed) -> PortfolioResult:
        cfg = self.config
        trade = weights - ctx.prev_weights
        series = pd.Series(weights, index=self.tickers, name="weight")
        exposures = pd.DataFrame(ctx.exposures, index=self.tickers, columns=self.factors)
        report = exposure_report(series, exposures, risk_model=inputs.risk_model,
                                 prev_weights=pd.Series(ctx.prev_weights, index=self.tickers))
        spread = impact = impact_model = borrow = 0.0
        if cfg.transaction_costs is not None:
            finite_c = np.where(np.isfinite(coefficients), coefficients, 0.0)
            half_spread = np.broadcast_to(np.asarray(cfg.transaction_costs.half_spread, float), trade.shape)
            spread = float((half_spread * np.abs(trade)).sum())
            impact = float((finite_c * np.abs(trade) ** 1.5).sum())
            if cfg.impact == "linear_quadratic":
                lin, quad = linear_quadratic_impact(finite_c, self._fit_range(ctx, bounds))
                impact_model = float((lin * np.abs(trade) + quad * trade**2).sum())
            else:
                impact_model = impact
        if cfg.borrow_costs is not None:
            borrow = cfg.horizon_days * float(cfg.borrow_costs.cost(weights).sum())
        risk_penalty = cfg.risk_aversion * cfg.horizon_days * report.predicted_variance
        terms = ObjectiveTerms(float(alpha @ weights), risk_penalty, spread, impact, impact_model, borrow)
        violations = {c.label(): c.violation(weights, ctx) for c in self.constraints}
        violations[UNIVERSE] = float(np.abs(weights[~ctx.in_universe]).max(initial=0.0))
        return PortfolioResult(series, status, elapsed, solver_seconds, iterations, terms, fallback, relaxed,
                               report, pd.Series(violations, dtype=float))

    # --- infeasibility ----------------------------------------------------------------------

    def _empty_box_error(self, ctx: DateContext, bounds: _Bounds, empty: np.ndarray) -> InfeasiblePortfolioError:
        names = np.flatnonzero(empty)
        i = names[0]
        labels = sorted(set(bounds.lower_source[names]) | set(bounds.upper_source[names]))
        detail = (f"{len(names)} name(s) have no feasible weight, e.g. {ctx.tickers[i]}: "
                  f"{bounds.lower_source[i]} needs w >= {bounds.lower[i]:.4g} but {bounds.upper_source[i]} needs "
                  f"w <= {bounds.upper[i]:.4g} (previous weight {ctx.prev_weights[i]:.4g})")
        return InfeasiblePortfolioError(f"infeasible portfolio: {detail}", tuple(labels), (detail,))

    def _infeasible_error(self, ctx: DateContext, bounds: _Bounds, coefficients: np.ndarray, status: str) -> InfeasiblePortfolioError:
        labels, details = [], []
        for constraint in self.constraints:
            reason = constraint.infeasibility(ctx, bounds.lower, bounds.upper)
            if reason:
                labels.append(constraint.label())
                details.append(reason)
        if not labels and self.config.diagnose:
            for constraint in self.constraints:
                if self._feasible_without(ctx, coefficients, constraint):
                    labels.append(constraint.label())
                    details.append(f"dropping {constraint.label()} makes the problem feasible")
        if labels:
            message = f"infeasible portfolio ({status}); binding: {'; '.join(details)}"
        else:
            message = (f"infeasible portfolio ({status}); no single constraint explains it: "
                       f"{', '.join(c.label() for c in self.constraints)} conflict together")
            labels = [c.label() for c in self.constraints]
        if self.config.fallback == "relax_turnover":
            message += " (fallback relax_turnover tried and failed)" if any(
                isinstance(c, TurnoverLimit) for c in self.constraints) else " (no TurnoverLimit to relax)"
        return InfeasiblePortfolioError(message, tuple(labels), tuple(details))

    def _feasible_without(self, ctx: DateContext, coefficients: np.ndarray, dropped: Constraint) -> bool:
        """Whether the constraints other than ``dropped`` admit a portfolio (a zero-objective solve)."""
        bounds = self._bounds(ctx, coefficients, skip=dropped)
        if (bounds.lower > bounds.upper + TOLERANCE).any():
            return False
        v = ProblemVariables(len(ctx.tickers), self.factors, self._group_matrix, self._n_styles)
        rows = []
        for constraint in self.constraints:
            if constraint is dropped:
                continue
            compiled = constraint.compile(v)
            if compiled is not None:
                compiled.update(ctx)
                rows += compiled.constraints
        v.update(ctx)
        rows += [v.scaled_trade >= bounds.lower - ctx.prev_weights, v.scaled_trade <= bounds.upper - ctx.prev_weights]
        problem = cp.Problem(cp.Minimize(0), v.definitions + rows)
        try:
            problem.solve(solver=self.config.solver, **dict(self.config.solver_options))
        except cp.SolverError:
            return False
        return problem.status in (cp.OPTIMAL, cp.OPTIMAL_INACCURATE)
