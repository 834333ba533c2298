"""Point-in-time factor risk model: ``Sigma = B F B' + diag(d)`` estimated from past returns.

For every day ``t`` of a look-back window ending at the estimation date, daily simple returns
are regressed cross-sectionally (weighted least squares, e.g. weights ``sqrt(market cap)``) on
the factor exposures known the day before (country and sector one-hots, style z-scores). All
days are solved in one batched pass (normal equations per day, pseudo-inverse through a
batched eigendecomposition, so collinear one-hot blocks get the minimum-norm factor returns;
a portfolio's factor return is unique because its exposures are orthogonal to the null space).

- Factor covariance ``F`` (k x k, daily): sample covariance of the factor returns (optionally
  exponentially weighted), with its off-diagonal entries shrunk toward 0 by the Ledoit-Wolf /
  Schaefer-Strimmer optimal intensity (or a fixed intensity).
- Specific variances ``d`` (n, daily): mean squared residual per name, shrunk toward the
  median of its sector with weight ``prior_days / (prior_days + n_observations)``; a name with no
  history gets the sector median.

Factor naming: a one-hot group column is ``"<group>:<label>"`` (``"country:US"``,
``"sector:Energy"``); a style column is its bare name (``"beta"``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from metasignal.data.calendar import DateLike
from metasignal.data.regression_weights import risk_regression_weights
from metasignal.data.store import Store
from metasignal.errors import PortfolioInputError, RiskModelError

GROUP_SEPARATOR = ":"


@dataclass(frozen=True)
class RiskModelConfig:
    """Estimation settings.

    lookback: number of daily cross-sectional regressions (trading days) ending at the date.
    halflife: exponential weighting of days (in trading days) for ``F`` and ``d``; None = equal.
    factor_shrinkage: intensity toward the diagonal in [0, 1]; None = Ledoit-Wolf estimate.
    prior_days: strength of the shrinkage of specific variances toward the sector median.
    min_observations: days of history for a name to count in the sector median.
    shrink_group: group prefix whose labels define the shrinkage target ("sector").
    """

    lookback: int = 252
    halflife: float | None = None
    factor_shrinkage: float | None = None
    prior_days: float = 20.0
    min_observations: int = 20
    shrink_group: str = "sector"

    def __post_init__(self) -> None:
        if self.lookback < 2:
            raise PortfolioInputError(f"RiskModelConfig.lookback must be at least 2 days, got {self.lookback}")
        if self.factor_shrinkage is not None and not 0.0 <= self.factor_shrinkage <= 1.0:
            raise PortfolioInputError(
                f"RiskModelConfig.factor_shrinkage must lie in [0, 1], got {self.factor_shrinkage}"
            )
        if self.halflife is not None and self.halflife <= 0:
            raise PortfolioInputError(f"RiskModelConfig.halflife must be positive, got {self.halflife}")


@dataclass(frozen=True)
class RiskModel:
    """Factor risk model for one date: daily covariance ``B F B' + diag(d)`` of simple returns.

    exposures ``B`` (n x k), factor_covariance ``F`` (k x k), specific_variance ``d`` (n,);
    ``factor_sqrt`` ``L`` (k x k) satisfies ``L L' = F`` (computed; F may be singular).
    """

    as_of: pd.Timestamp
    tickers: pd.Index
    factors: pd.Index
    exposures: np.ndarray
    factor_covariance: np.ndarray
    specific_variance: np.ndarray
    shrinkage: float | None = None
    factor_returns: pd.DataFrame | None = None
    factor_sqrt: np.ndarray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        n, k = len(self.tickers), len(self.factors)
        exposures = np.asarray(self.exposures, dtype=float)
        cov = np.asarray(self.factor_covariance, dtype=float)
        spec = np.asarray(self.specific_variance, dtype=float)
        if exposures.shape != (n, k) or cov.shape != (k, k) or spec.shape != (n,):
            raise PortfolioInputError(
                f"risk model shapes disagree: {n} tickers and {k} factors but exposures {exposures.shape}, "
                f"factor covariance {cov.shape}, specific variance {spec.shape}"
            )
        if not (np.isfinite(exposures).all() and np.isfinite(cov).all() and np.isfinite(spec).all()):
            raise PortfolioInputError("risk model exposures, factor covariance and specific variances must be finite")
        if (spec < 0).any():
            raise PortfolioInputError(f"specific variance is negative for {self.tickers[spec < 0][0]}")
        if self.tickers.has_duplicates or self.factors.has_duplicates:
            raise PortfolioInputError("risk model tickers and factor names must be unique")
        object.__setattr__(self, "exposures", exposures)
        object.__setattr__(self, "factor_covariance", cov)
        object.__setattr__(self, "specific_variance", spec)
        object.__setattr__(self, "factor_sqrt", _psd_sqrt(cov))

    @property
    def factor_exposure_frame(self) -> pd.DataFrame:
        """``B`` as a ticker x factor frame."""
        return pd.DataFrame(self.exposures, index=self.tickers, columns=self.factors)

    def total_variance(self) -> pd.Series:
        """Per-name daily return variance ``diag(B F B') + d`` (ticker -> variance)."""
        loaded = self.exposures @ self.factor_sqrt
        return pd.Series((loaded**2).sum(axis=1) + self.specific_variance, index=self.tickers)

    def variance(self, weights: pd.Series | np.ndarray) -> float:
        """Daily variance ``w' (B F B' + D) w`` of a weight vector (fractions of capital).

        A Series is aligned by ticker (absent names weigh 0); a name outside the model with a
        nonzero weight is an error. An array must have one entry per model ticker.
        """
        w = self._aligned(weights)
        factor = self.factor_sqrt.T @ (self.exposures.T @ w)
        return float(factor @ factor + (self.specific_variance * w) @ w)

    def _aligned(self, weights: pd.Series | np.ndarray) -> np.ndarray:
        if isinstance(weights, pd.Series):
            values = weights.fillna(0.0).to_numpy(dtype=float)
            if weights.index.equals(self.tickers):
                return values
            positions = weights.index.get_indexer(self.tickers)  # -1: a model name without a weight
            outside = np.ones(len(values), dtype=bool)
            outside[positions[positions >= 0]] = False
            held = outside & (values != 0)
            if held.any():
                raise PortfolioInputError(f"ticker {weights.index[held][0]} has a weight but is not in the risk model")
            return np.where(positions >= 0, values[np.maximum(positions, 0)], 0.0) if len(values) else np.zeros(len(self.tickers))
        w = np.asarray(weights, dtype=float)
        if w.shape != (len(self.tickers),):
            raise PortfolioInputError(f"weights have shape {w.shape}; the risk model has {len(self.tickers)} tickers")
        return w


def factor_exposure_matrix(
    frame: pd.DataFrame,
    *,
    groups: Mapping[str, Sequence[str] | None] | None = None,
    styles: Sequence[str] = (),
) -> pd.DataFrame:
    """Ticker x factor matrix: one-hot ``"<group>:<label>"`` columns, then style columns.

    ``groups`` maps a categorical column of ``frame`` (e.g. ``"country"``) to its fixed list of
    labels, so the factor count does not depend on the date (None: the labels present, sorted).
    A ticker whose label is missing or not listed is an error. Style NaN become 0 (the
    cross-sectional mean of a z-score).
    """
    groups = {"country": None, "sector": None} if groups is None else dict(groups)
    blocks = []
    for column, labels in groups.items():
        if column not in frame.columns:
            raise PortfolioInputError(f"exposure frame has no {column!r} column")
        values = frame[column]
        if values.isna().any():
            raise PortfolioInputError(f"ticker {values.index[values.isna()][0]} has no {column}")
        values = values.astype(str)
        labels = sorted(values.unique()) if labels is None else [str(label) for label in labels]
        unknown = ~values.isin(labels)
        if unknown.any():
            raise PortfolioInputError(
                f"ticker {values.index[unknown][0]} has {column} {values[unknown].iloc[0]!r}, "
                f"which is not among the {len(labels)} listed {column} labels"
            )
        codes = pd.Categorical(values, categories=labels).codes
        one_hot = np.zeros((len(frame), len(labels)))
        one_hot[np.arange(len(frame)), codes] = 1.0
        names = [f"{column}{GROUP_SEPARATOR}{label}" for label in labels]
        blocks.append(pd.DataFrame(one_hot, index=frame.index, columns=names))
    missing = [s for s in styles if s not in frame.columns]
    if missing:
        raise PortfolioInputError(f"exposure frame has no style column {missing[0]!r}")
    blocks.append(frame[list(styles)].astype(float).fillna(0.0))
    result = pd.concat(blocks, axis=1)
    result.columns = pd.Index(result.columns.astype(str), name="factor")
    return result


def group_columns(factors: Sequence[str], group: str) -> list[str]:
    """The one-hot columns ``"<group>:<label>"`` of ``group`` among ``factors``."""
    prefix = f"{group}{GROUP_SEPARATOR}"
    return [f for f in factors if str(f).startswith(prefix)]


def group_labels(exposures: pd.DataFrame, group: str) -> pd.Series:
    """Invert a one-hot block: ticker -> label of ``group`` (NaN where no column is set)."""
    factors = [str(column) for column in exposures.columns]
    columns = group_columns(factors, group)
    if not columns:
        return pd.Series(np.nan, index=exposures.index, dtype=object)
    positions = [factors.index(column) for column in columns]
    block = exposures.to_numpy(dtype=float)[:, positions]
    labels = np.array([c.split(GROUP_SEPARATOR, 1)[1] for c in columns], dtype=object)
    result = labels[block.argmax(axis=1)]
    result[block.max(axis=1) <= 0] = np.nan
    return pd.Series(result, index=exposures.index, dtype=object)


@dataclass(frozen=True)
class FactorRegressions:
    """Daily cross-sectional regressions, one row per return date.

    factor_returns: date x factor (daily simple returns of the factors);
    residuals: date x ticker (NaN where the name was not in that day's fit).
    Row ``t`` uses returns of ``t`` and exposures and weights dated strictly before ``t`` only,
    so one pass over a whole history serves every later estimation date.
    """

    factor_returns: pd.DataFrame
    residuals: pd.DataFrame


def cross_sectional_regressions(
    returns: pd.DataFrame,
    exposures: pd.DataFrame,
    *,
    weights: pd.Series | pd.DataFrame | None = None,
    start=None,
    end=None,
    chunk_days: int = 32,
) -> FactorRegressions:
    """Weighted least squares of each day's returns on the exposures known the day before.

    returns: date x ticker simple daily returns. exposures: a static ticker x factor frame, or
    a panel indexed by (date, ticker): the return of day ``t`` is regressed on the latest
    exposures dated strictly before ``t`` (days without earlier exposures are skipped).
    weights: None (equal), a ticker Series, or a date x ticker frame (latest row strictly before
    ``t``); non-positive or missing weights drop a name from the fit. start/end: the return
    dates to fit (inclusive). Days are processed in chunks of ``chunk_days`` (bounded memory).
    """
    returns = _date_indexed(returns, "returns")
    if start is not None:
        returns = returns.loc[pd.Timestamp(start).normalize():]
    if end is not None:
        returns = returns.loc[:pd.Timestamp(end).normalize()]
    factors = pd.Index(exposures.columns.astype(str), name="factor")
    lookup = _ExposureLookup(exposures)
    position = lookup.position_before(returns.index)
    dates = returns.index[position >= 0]
    position = position[position >= 0]
    tickers = lookup.tickers.intersection(returns.columns)
    y = returns.reindex(index=dates, columns=tickers).to_numpy(dtype=float)
    v = _regression_weights(weights, dates, tickers)
    factor_returns = np.full((len(dates), len(factors)), np.nan)
    residuals = np.full((len(dates), len(tickers)), np.nan)
    static = lookup.static_values(tickers)
    for begin in range(0, len(dates), chunk_days):
        rows = slice(begin, min(begin + chunk_days, len(dates)))
        x = static if static is not None else lookup.values(position[rows], tickers)
        factor_returns[rows], residuals[rows] = _regress(x, y[rows], v[rows])
    return FactorRegressions(
        pd.DataFrame(factor_returns, index=dates, columns=factors),
        pd.DataFrame(residuals, index=dates, columns=pd.Index(tickers, name="ticker")),
    )


def risk_model_from_regressions(
    regressions: FactorRegressions,
    exposures: pd.DataFrame,
    as_of,
    *,
    config: RiskModelConfig = RiskModelConfig(),
) -> RiskModel:
    """The model at ``as_of`` from regressions dated up to ``as_of`` (the last ``lookback`` days).

    exposures: ticker x factor frame known at ``as_of`` (the model's ``B``; no NaN).
    """
    as_of = pd.Timestamp(as_of).normalize()
    end = int(regressions.factor_returns.index.searchsorted(as_of, side="right"))
    window = slice(max(end - config.lookback, 0), end)
    factor_returns = regressions.factor_returns.iloc[window]
    residuals = regressions.residuals.to_numpy(dtype=float)[window]  # (days, every ticker of the history)
    exposures = exposures.astype(float)
    exposures.columns = exposures.columns.astype(str)
    exposures.index = exposures.index.astype(str)
    if list(exposures.columns) != list(factor_returns.columns):
        raise PortfolioInputError("the exposures' factors differ from the regressions' factors")
    if exposures.isna().to_numpy().any():
        raise PortfolioInputError(f"exposures on {as_of.date()} contain NaN (fill styles with 0 first)")
    k = len(exposures.columns)
    valid_days = (~np.isnan(residuals)).sum(axis=1) > k
    if valid_days.sum() < 2:
        raise RiskModelError(
            f"need at least 2 days up to {as_of.date()} with more observed names than the {k} factors "
            f"(and exposures known the day before), found {int(valid_days.sum())}"
        )
    day_weights = _day_weights(len(factor_returns), config.halflife)
    cov, intensity = _shrunk_covariance(factor_returns.to_numpy()[valid_days], day_weights[valid_days],
                                        config.factor_shrinkage)
    columns = regressions.residuals.columns.get_indexer(exposures.index)  # -1: no history
    own = (residuals[:, np.maximum(columns, 0)] if residuals.shape[1] else np.full((len(residuals), len(columns)), np.nan))
    own = np.where(columns >= 0, own, np.nan)
    spec_fit, n_obs = _specific_variance(np.nan_to_num(own), np.isfinite(own), day_weights)
    labels = group_labels(exposures, config.shrink_group)
    specific = _shrink_to_group_median(spec_fit, n_obs, labels, config)
    return RiskModel(
        as_of=as_of,
        tickers=pd.Index(exposures.index, name="ticker"),
        factors=pd.Index(exposures.columns, name="factor"),
        exposures=exposures.to_numpy(),
        factor_covariance=cov,
        specific_variance=specific,
        shrinkage=intensity,
        factor_returns=factor_returns,
    )


def estimate_risk_model(
    returns: pd.DataFrame,
    exposures: pd.DataFrame,
    as_of: DateLike,
    *,
    weights: pd.Series | pd.DataFrame | None = None,
    config: RiskModelConfig = RiskModelConfig(),
) -> RiskModel:
    """Estimate the risk model at ``as_of`` from data known at ``as_of`` only.

    Runs :func:`cross_sectional_regressions` over the last ``config.lookback`` usable return
    dates up to ``as_of`` and :func:`risk_model_from_regressions` with the latest exposures
    dated at or before ``as_of`` (for a static frame: the frame). Arguments as there.
    For many dates, run the regressions once over the whole history instead.
    """
    as_of = pd.Timestamp(as_of).normalize()
    returns = _date_indexed(returns, "returns").loc[:as_of]
    lookup = _ExposureLookup(exposures)
    usable = returns.index[lookup.position_before(returns.index) >= 0]
    if len(usable) < 2:
        raise RiskModelError(
            f"need at least 2 days of returns up to {as_of.date()} with exposures known the day before, "
            f"found {len(usable)}"
        )
    regressions = cross_sectional_regressions(returns, exposures, weights=weights,
                                               start=usable[-min(config.lookback, len(usable))], end=as_of)
    return risk_model_from_regressions(regressions, lookup.latest(as_of), as_of, config=config)


@dataclass(frozen=True)
class RiskInputs:
    """What the risk model reads: returns (date x ticker), an exposure panel ((date, ticker) x
    factor, universe names only) and regression weights (date x ticker, sqrt market cap)."""

    returns: pd.DataFrame
    exposures: pd.DataFrame
    weights: pd.DataFrame

    def exposures_on(self, date) -> pd.DataFrame:
        """The ticker x factor exposures dated at or before ``date``."""
        return _ExposureLookup(self.exposures).latest(pd.Timestamp(date).normalize())


def risk_inputs_from_store(store, start, end, *, styles: Sequence[str] | None = None) -> RiskInputs:
    """Read returns, universe exposures and sqrt-cap weights between ``start`` and ``end``.

    Each name's country and sector are those known on each date (:meth:`Store.classification`:
    a reclassification moves the name from its effective date on); the groups are every country
    and sector of ``store.securities()`` and of those dates (a fixed factor list for the whole
    store); styles default to the store's style exposures (NaN -> 0).
    """
    from metasignal.data.schema import STYLE_FACTORS

    styles = list(STYLE_FACTORS if styles is None else styles)
    securities = store.securities()
    in_universe = store.panel("in_universe", start, end).fillna(False).astype(bool)
    stacked = in_universe.stack()
    keys = stacked.index[stacked.to_numpy()]
    long = pd.DataFrame(index=keys)
    for column in ("country", "sector"):
        long[column] = store.classification(column, start, end).stack().reindex(keys).to_numpy()
    for style in styles:
        long[style] = store.panel(style, start, end).stack().reindex(keys).to_numpy()
    groups = {column: sorted(set(securities[column].dropna().astype(str)) | set(long[column].dropna().astype(str)))
              for column in ("country", "sector")}
    exposures = factor_exposure_matrix(long, groups=groups, styles=styles)
    weights = risk_regression_weights(store.panel("market_cap", start, end), store.panel("adv_20d", start, end))
    return RiskInputs(store.returns(start, end), exposures, weights)


def risk_model_from_store(store: Store, date: DateLike, *, config: RiskModelConfig = RiskModelConfig(),
                          styles: Sequence[str] | None = None) -> RiskModel:
    """Estimate the model at ``date`` (the last trading day on or before it) from a store.

    For a backtest over many dates, read :func:`risk_inputs_from_store` once, run
    :func:`cross_sectional_regressions` once, and call :func:`risk_model_from_regressions`
    per date with ``inputs.exposures_on(date)``.
    """
    days = store.trading_days(end=date)
    if len(days) < 3:
        raise RiskModelError(f"the store has fewer than 3 trading days up to {pd.Timestamp(date).date()}")
    date = days[-1]
    inputs = risk_inputs_from_store(store, days[max(0, len(days) - config.lookback - 1)], date, styles=styles)
    return estimate_risk_model(inputs.returns, inputs.exposures, date, weights=inputs.weights, config=config)


# --- estimation steps (arrays) -------------------------------------------------------------


def _date_indexed(frame: pd.DataFrame, what: str) -> pd.DataFrame:
    if not isinstance(frame.index, pd.DatetimeIndex):
        raise PortfolioInputError(f"{what} must be indexed by date")
    frame = frame.copy()
    frame.index = frame.index.normalize()
    frame.columns = frame.columns.astype(str)
    return frame.sort_index()


class _ExposureLookup:
    """Positional access to static exposures or a (date, ticker) panel without a full reindex."""

    def __init__(self, exposures: pd.DataFrame):
        self.panel = isinstance(exposures.index, pd.MultiIndex)
        self.frame = exposures
        if not self.panel:
            self.tickers = pd.Index(exposures.index.astype(str))
            self.dates = None
            return
        dates = pd.DatetimeIndex(exposures.index.get_level_values(0)).normalize()
        names = pd.Index(exposures.index.get_level_values(1).astype(str))
        self.dates = dates.unique().sort_values()
        self.tickers = names.unique()
        date_pos, ticker_pos = self.dates.get_indexer(dates), self.tickers.get_indexer(names)
        self.row_of = np.full((len(self.dates), len(self.tickers)), len(exposures), dtype=np.int64)
        if pd.Series(date_pos * len(self.tickers) + ticker_pos).duplicated().any():
            raise PortfolioInputError("the exposure panel has duplicate (date, ticker) rows")
        self.row_of[date_pos, ticker_pos] = np.arange(len(exposures))
        self._values = exposures.to_numpy(dtype=float)

    def position_before(self, dates: pd.DatetimeIndex) -> np.ndarray:
        """Index of the latest exposure date strictly before each date (-1: none; 0 if static)."""
        if not self.panel:
            return np.zeros(len(dates), dtype=np.int64)
        return self.dates.searchsorted(dates, side="left") - 1

    def static_values(self, tickers: pd.Index) -> np.ndarray | None:
        if self.panel:
            return None
        return self.frame.reindex(tickers).to_numpy(dtype=float, copy=True)[None, :, :]

    def values(self, positions: np.ndarray, tickers: pd.Index) -> np.ndarray:
        """(len(positions), n, k) exposures at the given date positions (NaN where absent)."""
        columns = self.tickers.get_indexer(tickers)
        rows = self.row_of[positions][:, columns]
        return self._take(rows)

    def _take(self, rows: np.ndarray) -> np.ndarray:
        """Exposure rows by panel row number; the sentinel ``len(panel)`` gives NaN."""
        missing = rows >= len(self._values)
        values = self._values[np.where(missing, 0, rows)]
        values[missing] = np.nan
        return values

    def latest(self, as_of: pd.Timestamp) -> pd.DataFrame:
        """The exposures dated at or before ``as_of`` (the static frame itself if static)."""
        if not self.panel:
            return self.frame
        position = self.dates.searchsorted(as_of, side="right") - 1
        if position < 0:
            raise RiskModelError(f"no factor exposures dated on or before {as_of.date()}")
        rows = self.row_of[position]
        present = np.flatnonzero(rows < len(self.frame))
        present = present[np.argsort(rows[present])]  # the panel's own row order
        return pd.DataFrame(self._take(rows[present]), index=self.tickers[present],
                            columns=self.frame.columns)


def _regression_weights(weights, dates: pd.DatetimeIndex, tickers: pd.Index) -> np.ndarray:
    """(T, n) non-negative regression weights; a frame contributes its latest row before each date."""
    shape = (len(dates), len(tickers))
    if weights is None:
        return np.ones(shape)
    if isinstance(weights, pd.Series):
        row = weights.reindex(tickers).to_numpy(dtype=float)
        values = np.broadcast_to(row, shape)
    else:
        weights = _date_indexed(weights, "weights")
        rows = weights.index.searchsorted(dates, side="left") - 1
        values = weights.reindex(columns=tickers).to_numpy(dtype=float)[np.clip(rows, 0, None)]
        values[rows < 0] = np.nan
    return np.where(np.isfinite(values) & (values > 0), values, 0.0)


def _regress(x: np.ndarray, y: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Batched WLS of ``y[t]`` on ``x[t]`` with weights ``v[t]`` (minimum-norm solutions).

    x: (T, n, k), or (1, n, k) shared by every day; NaN entries are zeroed in place.
    y, v: (T, n). Returns factor returns (T, k) and residuals (T, n), NaN where unobserved.
    """
    observed = np.isfinite(y) & np.isfinite(x).all(axis=2)
    x[~np.isfinite(x)] = 0.0
    weight = np.where(observed, v, 0.0)
    y0 = np.where(observed, y, 0.0)
    wx = weight[:, :, None] * x
    normal = np.swapaxes(wx, 1, 2) @ x
    rhs = (y0[:, None, :] @ wx)[:, 0, :]
    factor_returns = (_batched_pinv(normal) @ rhs[:, :, None])[:, :, 0]
    fitted = (x @ factor_returns[:, :, None])[:, :, 0]
    return factor_returns, np.where(observed, y0 - fitted, np.nan)


def _cross_sectional_regressions(x: np.ndarray, y: np.ndarray, v: np.ndarray):
    """Array form kept for ``portfolio.risk_history``: factor returns (T, k), residuals (T, n)
    with 0 where unobserved, and the observed mask (T, n). Prefer :func:`cross_sectional_regressions`."""
    factor_returns, residuals = _regress(x, y, v)
    observed = np.isfinite(residuals)
    return factor_returns, np.where(observed, residuals, 0.0), observed


def _batched_pinv(matrices: np.ndarray, rtol: float = 1e-10) -> np.ndarray:
    """Pseudo-inverse of a stack of symmetric PSD matrices (T, k, k)."""
    values, vectors = np.linalg.eigh(matrices)
    cutoff = rtol * np.maximum(values.max(axis=1, keepdims=True), 0.0)
    inverse = np.where(values > cutoff, 1.0 / np.where(values > cutoff, values, 1.0), 0.0)
    return (vectors * inverse[:, None, :]) @ np.swapaxes(vectors, 1, 2)


def _day_weights(t_days: int, halflife: float | None) -> np.ndarray:
    """Relative weight of each day (oldest first), not normalized."""
    if halflife is None:
        return np.ones(t_days)
    age = np.arange(t_days)[::-1]
    return 0.5 ** (age / halflife)


def _shrunk_covariance(samples: np.ndarray, day_weights: np.ndarray, fixed: float | None):
    """Weighted covariance (k, k) with off-diagonals shrunk toward 0; returns (cov, intensity).

    Optimal intensity (Ledoit-Wolf with a diagonal target, Schaefer & Strimmer 2005):
    ``sum_{i!=j} Var(s_ij) / sum_{i!=j} s_ij^2`` with ``Var(s_ij)`` estimated from the
    per-day products, clipped to [0, 1].
    """
    a = day_weights / day_weights.sum()
    centred = samples - a @ samples
    cov = (centred * a[:, None]).T @ centred
    sum_a2 = float(a @ a)
    cov = cov / (1.0 - sum_a2)  # unbiased for equal weights
    if fixed is not None:
        intensity = float(fixed)
    else:
        # sum_t a_t (c_ti c_tj - m_ij)^2 = sum_t a_t c_ti^2 c_tj^2 - m_ij^2 (the a_t sum to 1)
        mean_products = (centred * a[:, None]).T @ centred
        squared = centred**2
        spread = ((squared * a[:, None]).T @ squared - mean_products**2) / (1.0 - sum_a2)
        var_s = spread * sum_a2 / (1.0 - sum_a2) ** 2
        off = ~np.eye(cov.shape[0], dtype=bool)
        denominator = float((cov[off] ** 2).sum())
        intensity = 1.0 if denominator <= 0 else float(np.clip(var_s[off].sum() / denominator, 0.0, 1.0))
    shrunk = cov * (1.0 - intensity)
    np.fill_diagonal(shrunk, np.diag(cov))
    return shrunk, intensity


def _specific_variance(residuals: np.ndarray, observed: np.ndarray, day_weights: np.ndarray):
    """Per-name weighted mean squared residual (NaN without data) and observation count."""
    weight = observed * day_weights[:, None]
    total = weight.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        variance = (weight * residuals**2).sum(axis=0) / total
    variance[total <= 0] = np.nan
    return variance, observed.sum(axis=0)


def _shrink_to_group_median(variance: np.ndarray, n_obs: np.ndarray, labels: pd.Series,
                            config: RiskModelConfig) -> np.ndarray:
    """``(1 - kappa) * own + kappa * group median`` with ``kappa = prior / (prior + n_obs)``."""
    reliable = (n_obs >= config.min_observations) & np.isfinite(variance)
    if not reliable.any():
        reliable = np.isfinite(variance)
    if not reliable.any():
        raise RiskModelError("no name has any residual history to estimate specific variances")
    overall = float(np.median(variance[reliable]))
    codes, _ = pd.factorize(labels.to_numpy())  # -1: no label
    medians = _group_medians(variance, codes, reliable & (codes >= 0))
    target = np.where(codes >= 0, medians[np.maximum(codes, 0)], np.nan) if len(medians) else np.full(len(codes), np.nan)
    target = np.where(np.isfinite(target), target, overall)
    with np.errstate(invalid="ignore", divide="ignore"):
        kappa = np.where(n_obs > 0, config.prior_days / (config.prior_days + n_obs), 1.0)
    own = np.where(np.isfinite(variance), variance, target)
    return (1.0 - kappa) * own + kappa * target


def _group_medians(values: np.ndarray, codes: np.ndarray, keep: np.ndarray) -> np.ndarray:
    """(groups,) median of ``values[keep]`` per group code (codes 0..g-1; NaN for an empty group)."""
    groups = int(codes.max()) + 1 if len(codes) else 0
    code, value = codes[keep], values[keep]
    order = np.lexsort((value, code))
    code, value = code[order], value[order]
    starts = np.searchsorted(code, np.arange(groups), side="left")
    counts = np.searchsorted(code, np.arange(groups), side="right") - starts
    low = np.minimum(starts + (counts - 1) // 2, max(len(value) - 1, 0))
    high = np.minimum(starts + counts // 2, max(len(value) - 1, 0))
    if not len(value):
        return np.full(groups, np.nan)
    return np.where(counts > 0, (value[low] + value[high]) / 2.0, np.nan)


def _psd_sqrt(cov: np.ndarray) -> np.ndarray:
    """``L`` with ``L L' = cov`` for a symmetric PSD matrix (negative eigenvalues clipped)."""
    if cov.size == 0:
        return cov.copy()
    values, vectors = np.linalg.eigh((cov + cov.T) / 2.0)
    return vectors * np.sqrt(np.clip(values, 0.0, None))[None, :]
