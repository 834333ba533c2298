"""What a portfolio manager reads off a backtest: where the P&L came from and what the book was.

Plain functions over the tidy frames of a walk-forward (:class:`WalkForwardResult`: the held
weights, the daily returns, the solves) and, for the parts the result does not keep, the same
point-in-time store data the walk-forward used (:func:`store_inputs`).

Accounting. The simulation's day ``d`` earns ``gross_d = sum_i w_{i,d-1} r_{i,d} + financing_d``
(``w``: held weights at the close of ``d-1``, fractions of equity; a NaN return earns 0, the
name is closed at its last price; financing is the cash interest) and pays the costs, so

    net_d = factor_d + specific_d + financing_d - costs_d,
    factor_d = sum_i w_{i,d-1} x_{i,d-1} . f_d,   specific_d = sum_i w_{i,d-1} (r_{i,d} - x_{i,d-1} . f_d)

with ``x`` the exposures (sector and country one-hots, style z-scores) of ``d-1`` and ``f_d``
the factor returns the risk model's cross-sectional regression fits for ``d`` (the regression
of ``d`` uses the exposures of ``d-1``, :mod:`metasignal.portfolio.risk_history`). The position
P&L splits exactly by sector and by leg (long: ``w > 0``, short: ``w < 0``) too.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

import numpy as np
import pandas as pd

from metasignal.backtest import metrics as perf
from metasignal.backtest._simulate import SimulationResult

__all__ = [
    "AttributionInputs", "PnlAttribution", "concentration", "drawdown_table", "factor_pnl", "forward_returns",
    "group_pnl", "leg_pnl", "name_contributions", "participation", "participation_summary", "pnl_attribution",
    "position_contributions", "predicted_vs_realized_volatility", "rolling_beta", "rolling_ic", "signal_ic",
    "store_inputs", "stored_signals", "style_exposure", "top_contributors",
]

FACTOR_KINDS = ("country", "sector", "style")


@dataclass(frozen=True)
class AttributionInputs:
    """What the walk-forward read from the store but its result does not keep.

    factor_returns: date x factor (the fitted daily factor returns; columns ``country:<c>``,
        ``sector:<s>`` and the style names); group_one_hot: ticker x the group factors (0/1);
    styles: style name -> date x ticker z-scores (NaN where unknown, counted as 0 as in the
        regression); adv: date x ticker 20-day dollar ADV.
    """

    factor_returns: pd.DataFrame
    group_one_hot: pd.DataFrame
    styles: Mapping[str, pd.DataFrame]
    adv: pd.DataFrame


@dataclass(frozen=True)
class PnlAttribution:
    """Daily P&L split three ways, each as fractions of the previous day's equity.

    daily: date x [factor, specific, financing, costs, net] plus the factor part by kind
        (``factor_country``, ``factor_sector``, ``factor_style``); factor + specific + financing
        - costs = net, and the three kinds sum to factor.
    by_sector: date x sector, the position P&L of each sector's names (sums to factor + specific).
    legs: date x [long, short], the position P&L of the long and of the short names.
    """

    daily: pd.DataFrame
    by_sector: pd.DataFrame
    legs: pd.DataFrame

    def totals(self) -> pd.Series:
        """Each daily column summed over the days (simple sums, not compounded)."""
        return self.daily.sum()


def _previous_weights(weights: pd.DataFrame) -> pd.DataFrame:
    """The book each day starts from: the held weights of the previous close (0 on the first day)."""
    return weights.shift(1).fillna(0.0)


def position_contributions(weights: pd.DataFrame, returns: pd.DataFrame) -> pd.DataFrame:
    """Date x ticker P&L of each held name, ``w_{i,d-1} r_{i,d}`` (fractions of equity; NaN returns earn 0)."""
    returns = returns.reindex(index=weights.index, columns=weights.columns)
    return _previous_weights(weights) * returns.fillna(0.0)


def factor_pnl(weights: pd.DataFrame, inputs: AttributionInputs) -> pd.DataFrame:
    """Date x factor P&L ``sum_i w_{i,d-1} x_{i,k,d-1} f_{k,d}`` over the simulation's days."""
    days, tickers = weights.index, weights.columns
    previous = _previous_weights(weights).to_numpy()
    f = inputs.factor_returns.reindex(days).fillna(0.0)
    group_factors = list(inputs.group_one_hot.columns)
    one_hot = inputs.group_one_hot.reindex(tickers).fillna(0.0).to_numpy()
    parts = {name: (previous @ one_hot)[:, j] * f[name].to_numpy() for j, name in enumerate(group_factors)}
    for name, panel in inputs.styles.items():  # exposures of d-1, NaN as 0 as in the regression
        lagged = panel.reindex(columns=tickers).shift(1).reindex(days).fillna(0.0).to_numpy()
        parts[name] = (previous * lagged).sum(axis=1) * f[name].to_numpy()
    return pd.DataFrame(parts, index=days)


def _factor_kind(factor: str) -> str:
    kind = factor.split(":", 1)[0]
    return kind if kind in ("country", "sector") else "style"


def pnl_attribution(simulation: SimulationResult, returns: pd.DataFrame, groups: pd.DataFrame,
                    inputs: AttributionInputs) -> PnlAttribution:
    """Factor vs specific, by sector and by leg, of a simulation (see the module docstring).

    returns: date x ticker daily returns the simulation used; groups: ticker x [sector, ...].
    """
    weights = simulation.weights
    contributions = position_contributions(weights, returns)
    position = contributions.sum(axis=1)
    by_factor = factor_pnl(weights, inputs)
    kinds = by_factor.T.groupby(lambda name: _factor_kind(str(name))).sum().T
    factor = by_factor.sum(axis=1)
    costs = simulation.costs.sum(axis=1)
    daily = pd.DataFrame({
        "factor": factor, "specific": position - factor, "financing": simulation.gross_returns - position,
        "costs": costs, "net": simulation.net_returns,
        **{f"factor_{kind}": kinds[kind] if kind in kinds else 0.0 for kind in FACTOR_KINDS},
    })
    return PnlAttribution(daily, group_pnl(contributions, groups["sector"]), leg_pnl(weights, contributions))


def group_pnl(contributions: pd.DataFrame, labels: pd.Series) -> pd.DataFrame:
    """Date x group: the summed position P&L (:func:`position_contributions`) of each group's names
    (``labels``: ticker -> group; names without one count as "unclassified")."""
    labels = labels.reindex(contributions.columns).fillna("unclassified").astype(str)
    return contributions.T.groupby(labels.to_numpy()).sum().T


def leg_pnl(weights: pd.DataFrame, contributions: pd.DataFrame) -> pd.DataFrame:
    """Date x [long, short]: the position P&L of the names held long (short) at the previous close."""
    previous = _previous_weights(weights)
    return pd.DataFrame({"long": contributions.where(previous > 0, 0.0).sum(axis=1),
                         "short": contributions.where(previous < 0, 0.0).sum(axis=1)})


def name_contributions(weights: pd.DataFrame, returns: pd.DataFrame) -> pd.Series:
    """Ticker -> summed daily P&L (fractions of equity) over the backtest."""
    return position_contributions(weights, returns).sum()


def top_contributors(contributions: pd.Series, groups: pd.DataFrame | None = None, n: int = 10) -> pd.DataFrame:
    """The ``n`` largest and the ``n`` smallest summed contributions: rows ticker, side
    (contributor/detractor), pnl, and the groups' columns when given; best first, worst last."""
    ranked = contributions[contributions != 0].sort_values(ascending=False)
    best, worst = ranked[ranked > 0].head(n), ranked[ranked < 0].tail(n)
    frame = pd.concat([best, worst]).rename("pnl").rename_axis("ticker").reset_index()
    frame.insert(1, "side", np.where(frame["pnl"] > 0, "contributor", "detractor"))
    if groups is not None:
        frame = frame.join(groups.reindex(frame["ticker"]).reset_index(drop=True))
    return frame


def concentration(weights: pd.DataFrame, top: int = 10) -> pd.DataFrame:
    """Date x [names, n_long, n_short, effective_n, top_share] of the held book.

    effective_n = 1 / sum p_i^2 with p_i = |w_i| / sum |w| (the number of equal positions with
    the same concentration); top_share = the ``top`` largest |w| over the gross. Days with an
    empty book have NaN effective_n and top_share.
    """
    held = weights.to_numpy()
    size = np.abs(held)
    gross = size.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        share = size / gross[:, None]
        effective = 1.0 / (share ** 2).sum(axis=1)
        k = min(top, size.shape[1])
        largest = -np.partition(-size, k - 1, axis=1)[:, :k].sum(axis=1) if k else np.zeros(len(size))
        top_share = largest / gross
    empty = gross == 0
    effective[empty], top_share[empty] = np.nan, np.nan
    return pd.DataFrame({
        "names": (held != 0).sum(axis=1), "n_long": (held > 0).sum(axis=1), "n_short": (held < 0).sum(axis=1),
        "effective_n": effective, f"top{top}_share": top_share,
    }, index=weights.index)


def style_exposure(weights: pd.DataFrame, styles: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """Date x style: the held book's exposure ``sum_i w_{i,d} s_{i,d}`` at each close (the style
    z-scores of that day, NaN as 0; weights as fractions of equity)."""
    held = weights.to_numpy()
    return pd.DataFrame({name: (held * panel.reindex(index=weights.index, columns=weights.columns)
                                .fillna(0.0).to_numpy()).sum(axis=1) for name, panel in styles.items()},
                        index=weights.index)


def rolling_beta(returns: pd.Series, market: pd.Series, window: int = 63) -> pd.Series:
    """The OLS beta of ``returns`` on ``market`` over the last ``window`` days (NaN before)."""
    market = market.reindex(returns.index)
    covariance = returns.rolling(window).cov(market)
    return (covariance / market.rolling(window).var()).rename(f"beta_{window}")


def predicted_vs_realized_volatility(net_returns: pd.Series, predicted: pd.Series | None, window: int = 63,
                                     periods_per_year: float = 252.0) -> pd.DataFrame:
    """Date x [realized, predicted], annualized: the rolling ``window``-day standard deviation of
    the net returns (NaN until ``window`` days), and the optimizer's predicted volatility of the
    latest decision on or before each day (``solves["predicted_volatility"]``, held until the next)."""
    realized = net_returns.rolling(window).std() * np.sqrt(periods_per_year)
    frame = pd.DataFrame({"realized": realized})
    if predicted is not None:
        frame["predicted"] = predicted.sort_index().reindex(net_returns.index, method="ffill")
    return frame


def drawdown_table(returns: pd.Series, n: int = 5) -> pd.DataFrame:
    """The ``n`` deepest drawdowns of ``returns`` (compounded): columns peak (the last high),
    trough, recovery (first day back at the high, NaT while still under water), depth (a
    positive fraction), days (trading days from the peak to the trough) and days_to_recover."""
    columns = ["peak", "trough", "recovery", "depth", "days", "days_to_recover"]
    depth = perf.drawdown_series(returns)
    under = (depth < 0).to_numpy()
    if not under.any():
        return pd.DataFrame(columns=columns)
    starts = under & ~np.concatenate([[False], under[:-1]])
    episode = np.cumsum(starts)[under]
    positions = np.flatnonzero(under)
    values = depth.to_numpy()[under]
    frame = pd.DataFrame({"episode": episode, "position": positions, "depth": values})
    first = frame.groupby("episode")["position"].min()
    last = frame.groupby("episode")["position"].max()
    trough = frame.loc[frame.groupby("episode")["depth"].idxmin(), ["episode", "position", "depth"]].set_index("episode")
    index = returns.index
    peak_position = (first - 1).clip(lower=0)
    recovered = last + 1 < len(index)
    recovery_position = (last + 1).where(recovered, 0)
    table = pd.DataFrame({
        "peak": index[peak_position.to_numpy()],
        "trough": index[trough["position"].to_numpy()],
        "recovery": pd.DatetimeIndex(np.where(recovered, index[recovery_position.to_numpy()], pd.NaT)),
        "depth": -trough["depth"].to_numpy(),
        "days": (trough["position"] - peak_position).to_numpy(),
        "days_to_recover": np.where(recovered, recovery_position - trough["position"], np.nan),
    })
    return table.sort_values("depth", ascending=False).head(n).reset_index(drop=True)


def participation(simulation: SimulationResult, returns: pd.DataFrame, adv: pd.DataFrame) -> pd.Series:
    """Each trade's size over the name's dollar ADV known before it traded (the ADV of the
    previous day): one value per (day, ticker) with a trade, as a fraction (0.01 = 1 % of ADV).

    The trade is the held dollars after trading minus the previous close's dollars drifted by
    the day's return (names without a return were closed at their last price, no trade).
    """
    weights = simulation.weights
    dollars = weights.mul(simulation.equity, axis=0)
    r = returns.reindex(index=weights.index, columns=weights.columns)
    drifted = dollars.shift(1).fillna(0.0) * (1.0 + r.fillna(0.0))
    drifted = drifted.where(r.notna(), 0.0)
    trade = (dollars - drifted).abs().to_numpy()
    known_adv = adv.reindex(columns=weights.columns).shift(1).reindex(weights.index).to_numpy()
    traded = (trade > 1e-9 * simulation.capital) & np.isfinite(known_adv) & (known_adv > 0)
    rows, cols = np.nonzero(traded)
    index = pd.MultiIndex.from_arrays([weights.index[rows], weights.columns[cols]], names=["date", "ticker"])
    return pd.Series(trade[rows, cols] / known_adv[rows, cols], index=index, name="participation")


def participation_summary(values: pd.Series, quantiles=(0.5, 0.9, 0.99)) -> pd.Series:
    """Trades, the ``quantiles`` and the maximum of trade size / ADV (fractions)."""
    summary = {"trades": float(len(values))}
    for q in quantiles:
        summary[f"p{q * 100:g}"] = float(values.quantile(q)) if len(values) else float("nan")
    summary["max"] = float(values.max()) if len(values) else float("nan")
    return pd.Series(summary)


def forward_returns(returns: pd.DataFrame, horizon: int) -> pd.DataFrame:
    """Date x ticker compounded return over the ``horizon`` trading days after each date
    (``(t, t + horizon]``); NaN where the window runs past the data. A NaN daily return counts as 0."""
    growth = np.log1p(returns.fillna(0.0)).cumsum()
    ahead = growth.shift(-horizon) - growth
    ahead.iloc[len(ahead) - horizon:] = np.nan
    return np.expm1(ahead)


def signal_ic(signals: pd.DataFrame, realized: pd.DataFrame) -> pd.Series:
    """Date -> Spearman rank correlation across names of each date's signal (date x ticker) and
    the realized returns of that date (same shape; e.g. :func:`forward_returns`), over the names
    with both. NaN with fewer than 3 such names."""
    realized = realized.reindex(index=signals.index, columns=signals.columns)
    both = signals.notna() & realized.notna()
    x = signals.where(both).rank(axis=1)
    y = realized.where(both).rank(axis=1)
    x = x.sub(x.mean(axis=1), axis=0)
    y = y.sub(y.mean(axis=1), axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        ic = (x * y).sum(axis=1) / np.sqrt((x ** 2).sum(axis=1) * (y ** 2).sum(axis=1))
    return ic.where(both.sum(axis=1) >= 3).rename("ic")


def rolling_ic(ic: pd.Series, window: int = 12) -> pd.Series:
    """The mean IC over the last ``window`` dates (at least half of them known)."""
    return ic.rolling(window, min_periods=max(1, window // 2)).mean().rename(f"ic_{window}")


def store_inputs(store, result, lookback: int = 1) -> AttributionInputs:
    """The factor returns, group one-hots, style exposures and ADV over the simulation's days,
    from the store, exactly as the walk-forward read them (its :class:`MarketPanels` and its
    factor-return history: each day's regression uses only that day's and the previous day's
    data, so the window's start does not change them)."""
    from metasignal.backtest.walk_forward import MarketPanels, _factor_history
    from metasignal.data.schema import STYLE_FACTORS

    days = result.simulation.weights.index
    panels = MarketPanels(store, days[0], days[-1], lookback)
    history = _factor_history(panels)
    styles = {name: panels.frame(panels.styles[:, :, j]) for j, name in enumerate(STYLE_FACTORS)}
    return AttributionInputs(history.regressions.factor_returns, panels.group_one_hot, styles,
                             panels.frame(panels.adv))


def stored_signals(store, dates: pd.DatetimeIndex, portfolio) -> pd.DataFrame:
    """Date x ticker: the meta-signal the walk-forward traded at each of ``dates`` (the stored
    submissions of the latest round on or before the date, with the settings' method and minimum
    stake, :func:`metasignal.backtest.walk_forward.submissions_signal`)."""
    from metasignal.backtest.walk_forward import submissions_signal

    known = submissions_signal(store, portfolio)
    return pd.DataFrame({date: known(date) for date in dates}).T.rename_axis(index="date")
