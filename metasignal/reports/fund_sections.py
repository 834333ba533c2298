"""The portfolio manager's sections of a backtest report, drawn from :mod:`metasignal.backtest.attribution`.

:func:`fund_views` gathers the numbers of a walk-forward (from its result, and from the store
for what the result does not keep: the risk model's factor returns and exposures, ADV and the
meta-signal traded); :func:`fund_view_sections` draws them, and from a bare simulation the
parts it supports (names and concentration, realized volatility, drawdowns).
:func:`group_net_figure` is the readable neutrality chart: the largest absolute net of any group
per day as one line, every group's net a click away in the legend.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from metasignal.backtest import attribution as pm
from metasignal.backtest import SimulationResult, WalkForwardResult
from metasignal.portfolio import PortfolioSettings
from metasignal.reports.html import figure_html, section, table

if TYPE_CHECKING:
    from metasignal.data import Store

__all__ = ["FundViews", "fund_view_sections", "fund_views", "group_net_figure", "tiny_value_axis"]

IC_WINDOW = 12  # rebalances in the rolling mean IC
VOLATILITY_WINDOW = 63  # trading days of realized volatility
BETA_WINDOW = 63  # trading days of the rolling beta


@dataclass(frozen=True)
class FundViews:
    """The numbers behind the PM sections; any part may be None when its inputs are missing.

    attribution: the daily factor / specific / financing / costs split, by sector and leg;
    sector_pnl, legs: by sector and leg without the factor split (when only the returns are known);
    contributors: :func:`metasignal.backtest.attribution.top_contributors`;
    participation: trade size / ADV per trade; ic: date -> IC of the traded meta-signal with the
    next ``horizon_days`` returns; predicted_volatility: date -> the optimizer's annual prediction;
    styles: date x style exposure of the held book; market: the equal-weighted market return of
    the names the fund could trade (for the rolling beta).
    """

    attribution: pm.PnlAttribution | None = None
    sector_pnl: pd.DataFrame | None = None
    legs: pd.DataFrame | None = None
    contributors: pd.DataFrame | None = None
    participation: pd.Series | None = None
    ic: pd.Series | None = None
    horizon_days: int | None = None
    predicted_volatility: pd.Series | None = None
    styles: pd.DataFrame | None = None
    market: pd.Series | None = None


def fund_views(result: WalkForwardResult, store: Store | None = None, portfolio: PortfolioSettings | None = None,
               *, meta_signal_ic: bool = True) -> FundViews:
    """The views of a :class:`~metasignal.backtest.walk_forward.WalkForwardResult`; with ``store``
    (the one the walk-forward ran on) and its ``portfolio`` settings also the factor split,
    participation and (``meta_signal_ic``: the run traded the stored submissions' meta-signal)
    the meta-signal's IC, read exactly as the walk-forward read them."""

    simulation = result.simulation
    predicted = result.solves["predicted_volatility"] if "predicted_volatility" in result.solves else None
    if result.returns.empty:
        return FundViews(predicted_volatility=predicted)
    from metasignal.backtest.metrics import equal_weight_market

    contributions = pm.position_contributions(simulation.weights, result.returns)
    contributors = pm.top_contributors(contributions.sum(), result.groups)
    market = equal_weight_market(result.returns)
    if store is None:
        return FundViews(sector_pnl=pm.group_pnl(contributions, result.groups["sector"]),
                         legs=pm.leg_pnl(simulation.weights, contributions), contributors=contributors,
                         predicted_volatility=predicted, market=market)
    portfolio = portfolio or PortfolioSettings()
    inputs = pm.store_inputs(store, result)
    attribution = pm.pnl_attribution(simulation, result.returns, result.groups, inputs)
    ic = None
    if meta_signal_ic:
        signals = pm.stored_signals(store, result.targets.index, portfolio)
        ic = pm.signal_ic(signals, pm.forward_returns(result.returns, portfolio.horizon_days))
    return FundViews(attribution=attribution, sector_pnl=attribution.by_sector, legs=attribution.legs,
                     contributors=contributors, participation=pm.participation(simulation, result.returns, inputs.adv),
                     ic=ic, horizon_days=portfolio.horizon_days, predicted_volatility=predicted,
                     styles=pm.style_exposure(simulation.weights, inputs.styles), market=market)


def tiny_value_axis(values: pd.DataFrame | pd.Series) -> dict:
    """Plotly axis settings for fractions that can be tiny: percent when the largest |value| is
    at least 0.01 %, else plain exponents (``1e-12``), never SI prefixes (``100p``)."""
    largest = float(np.nanmax(np.abs(np.asarray(values, dtype=float)))) if np.size(values) else 0.0
    if largest >= 1e-4 or largest == 0:
        return {"tickformat": ".2%", "exponentformat": "none"}
    return {"tickformat": ".1e", "exponentformat": "e"}


def group_net_figure(exposure: pd.DataFrame, group: str) -> go.Figure:
    """The largest |net| of any ``group`` per day as one line (hover: which group), and each
    group's net as a trace hidden until clicked in the legend (date x group, fractions of equity)."""
    figure = go.Figure()
    size = exposure.abs()
    widest = size.idxmax(axis=1).where(size.notna().any(axis=1), "")
    figure.add_trace(go.Scatter(x=exposure.index, y=size.max(axis=1), name=f"largest |{group} net|",
                                customdata=widest, line={"color": "black"},
                                hovertemplate="%{x|%Y-%m-%d}: %{y} (%{customdata})<extra></extra>"))
    for column in exposure.columns:
        figure.add_trace(go.Scatter(x=exposure.index, y=exposure[column], name=str(column), visible="legendonly"))
    figure.update_yaxes(title_text="net weight (fraction of equity)", **tiny_value_axis(exposure))
    figure.update_layout(legend={"title": {"text": "click a name to show it"}})
    return figure


def _concentration_figure(frame: pd.DataFrame) -> go.Figure:
    top = [c for c in frame.columns if c.startswith("top")][0]
    figure = make_subplots(rows=2, cols=1, shared_xaxes=True, vertical_spacing=0.1,
                           subplot_titles=("names held", "concentration"),
                           specs=[[{}], [{"secondary_y": True}]])
    for column, label in (("n_long", "long"), ("n_short", "short")):
        figure.add_trace(go.Scatter(x=frame.index, y=frame[column], name=f"names {label}"), 1, 1)
    figure.add_trace(go.Scatter(x=frame.index, y=frame["effective_n"], name="effective N = 1 / Σ p²"), 2, 1)
    figure.add_trace(go.Scatter(x=frame.index, y=frame[top], name=f"{top[3:-6]} largest / gross (right)"),
                     2, 1, secondary_y=True)
    figure.update_yaxes(title_text="names", row=1, col=1)
    figure.update_yaxes(title_text="effective N", row=2, col=1, secondary_y=False)
    figure.update_yaxes(title_text="top share", tickformat=".0%", showgrid=False, row=2, col=1, secondary_y=True)
    figure.update_layout(height=560)
    return figure


def _concentration_html(frame: pd.DataFrame) -> str:
    top = [c for c in frame.columns if c.startswith("top")][0]
    last = frame.dropna().iloc[-1] if frame.dropna().size else frame.iloc[-1]
    rows = [("names held (mean / last)", f"{frame['names'].mean():.0f} / {last['names']:.0f}"),
            ("long / short names (last)", f"{last['n_long']:.0f} / {last['n_short']:.0f}"),
            ("effective N (mean / last)", f"{frame['effective_n'].mean():.1f} / {last['effective_n']:.1f}"),
            (f"top-{top[3:-6]} share of gross (mean / max)", f"{frame[top].mean():.1%} / {frame[top].max():.1%}")]
    note = ("<p>Effective N = 1 / Σ p² with p = |w| / Σ|w|: the number of equal positions with the same "
            "concentration.</p>")
    return table(rows, row_headers=True) + note


def _volatility_figure(frame: pd.DataFrame) -> go.Figure:
    figure = go.Figure()
    figure.add_trace(go.Scatter(x=frame.index, y=frame["realized"], name=f"realized ({VOLATILITY_WINDOW}-day, net)"))
    if "predicted" in frame:
        figure.add_trace(go.Scatter(x=frame.index, y=frame["predicted"], name="predicted by the risk model",
                                    line_shape="hv"))
    figure.update_yaxes(title_text="annualized volatility", tickformat=".1%", rangemode="tozero")
    return figure


def _style_beta_figure(styles: pd.DataFrame | None, beta: pd.Series | None) -> go.Figure:
    rows = [part for part in (styles, beta) if part is not None]
    titles = [t for t, part in (("style exposure of the held book (Σ w z)", styles),
                                (f"rolling {BETA_WINDOW}-day beta to the equal-weighted market", beta)) if part is not None]
    figure = make_subplots(rows=len(rows), cols=1, shared_xaxes=True, vertical_spacing=0.12, subplot_titles=titles)
    row = 1
    if styles is not None:
        for column in styles.columns:
            figure.add_trace(go.Scatter(x=styles.index, y=styles[column], name=str(column)), row, 1)
        figure.update_yaxes(title_text="Σ w z", exponentformat="e", row=row, col=1)  # no SI prefixes
        row += 1
    if beta is not None:
        figure.add_trace(go.Scatter(x=beta.index, y=beta, name="beta (net returns)"), row, 1)
        figure.update_yaxes(title_text="beta", row=row, col=1)
    figure.update_layout(height=300 * len(rows) + 100)
    return figure


def _drawdowns_html(drawdowns: pd.DataFrame) -> str:
    if drawdowns.empty:
        return "<p>No drawdown.</p>"
    rows = [(f"{row.depth:.2%}", f"{row.peak:%Y-%m-%d}", f"{row.trough:%Y-%m-%d}",
             "not yet" if pd.isna(row.recovery) else f"{row.recovery:%Y-%m-%d}", f"{row.days}",
             "" if pd.isna(row.days_to_recover) else f"{row.days_to_recover:.0f}")
            for row in drawdowns.itertuples()]
    return table(rows, header=["depth", "peak", "trough", "recovered", "days peak to trough",
                               "days to recover"])


def _attribution_html(attribution: pm.PnlAttribution) -> str:
    totals = attribution.totals()
    labels = [("factor", "factor (all)"), ("factor_sector", "of which sector factors"),
              ("factor_country", "of which country factors"), ("factor_style", "of which style factors"),
              ("specific", "specific (stock picking)"), ("financing", "financing (cash interest)"),
              ("costs", "costs (spread, impact, borrow)"), ("net", "net")]
    rows = [(label, f"{totals[key] * 1e4:,.0f}", f"{totals[key] / totals['net']:.1%}" if totals["net"] else "")
            for key, label in labels]
    note = ("<p>Daily P&L summed over the backtest, in basis points of equity (not compounded): "
            "factor + specific + financing − costs = net every day. Factor: the held weights times the "
            "exposures and the factor returns the risk model's daily regression fits; specific: the rest "
            "of the positions' P&L.</p>")
    return table(rows, header=["part", "bp of equity", "share of net"], row_headers=True) + note


def _cumulative_figure(frame: pd.DataFrame, title: str) -> go.Figure:
    figure = go.Figure()
    cumulative = frame.cumsum()
    for column in cumulative.columns:
        figure.add_trace(go.Scatter(x=cumulative.index, y=cumulative[column], name=str(column)))
    figure.update_yaxes(title_text=title, tickformat=".1%")
    return figure


def _sector_bar(sector_pnl: pd.DataFrame) -> go.Figure:
    summed = sector_pnl.sum().sort_values()
    figure = go.Figure(go.Bar(x=summed.to_numpy(), y=[str(s) for s in summed.index], orientation="h",
                              name="summed P&L"))
    figure.update_xaxes(title_text="summed daily P&L (fraction of equity)", tickformat=".1%")
    figure.update_layout(height=max(300, 28 * len(summed) + 120), margin={"l": 180})
    return figure


def _contributors_html(frame: pd.DataFrame) -> str:
    extra = [c for c in ("sector", "country") if c in frame.columns]
    rows = [(row["ticker"], row["side"], f"{row['pnl'] * 1e4:,.1f}", *(str(row[c]) for c in extra))
            for _, row in frame.iterrows()]
    return table(rows, header=["ticker", "side", "summed P&L (bp)", *extra], row_headers=True)


def _participation_html(values: pd.Series, capital: float) -> str:
    summary = pm.participation_summary(values)
    rows = [("trades", f"{summary['trades']:,.0f}")] + [
        (f"{name} of trade / ADV", f"{summary[name]:.3%}") for name in summary.index if name != "trades"]
    note = (f"<p>Each trade's dollars over the name's 20-day dollar ADV known the day before, at the "
            f"simulated capital of {capital:,.0f}; participation scales with capital.</p>")
    return table(rows, row_headers=True) + note


def _ic_figure(ic: pd.Series, horizon: int | None) -> go.Figure:
    figure = go.Figure()
    figure.add_trace(go.Bar(x=ic.index, y=ic, name="IC per rebalance", marker={"color": "#9ab"}))
    figure.add_trace(go.Scatter(x=ic.index, y=pm.rolling_ic(ic, IC_WINDOW), name=f"mean of the last {IC_WINDOW}"))
    figure.update_yaxes(title_text=f"Spearman IC with the next {horizon or '?'} days' returns")
    return figure


def fund_view_sections(simulation: SimulationResult, views: FundViews | None = None) -> list[str]:
    """The PM sections (HTML): attribution, by sector and leg, contributors, volatility,
    concentration, drawdowns, participation, IC; those without their inputs are left out."""
    views = views or FundViews()
    sections = []
    if views.attribution is not None:
        daily = views.attribution.daily[["factor", "specific", "financing", "costs", "net"]]
        sections.append(section("P&L attribution: factor vs specific",
                                _attribution_html(views.attribution)
                                + figure_html(_cumulative_figure(daily.assign(costs=-daily["costs"]),
                                                                 "cumulative P&L (sum of daily)"))))
    if views.sector_pnl is not None:
        sections.append(section("P&L by sector", figure_html(_sector_bar(views.sector_pnl))))
    if views.legs is not None:
        legs = views.legs.sum()
        text = (f"<p>Long leg {legs['long'] * 1e4:,.0f} bp, short leg {legs['short'] * 1e4:,.0f} bp "
                "(summed daily P&L of the names held long / short at the previous close).</p>")
        sections.append(section("P&L of the long and the short leg",
                                text + figure_html(_cumulative_figure(views.legs, "cumulative P&L (sum of daily)"))))
    if views.contributors is not None and len(views.contributors):
        sections.append(section("Top contributors and detractors", _contributors_html(views.contributors)))
    if views.styles is not None or views.market is not None:
        beta = None if views.market is None else pm.rolling_beta(simulation.net_returns, views.market, BETA_WINDOW)
        sections.append(section("Style and beta exposure", figure_html(_style_beta_figure(views.styles, beta))))
    volatility = pm.predicted_vs_realized_volatility(simulation.net_returns, views.predicted_volatility,
                                                     VOLATILITY_WINDOW, simulation.periods_per_year)
    title = "Predicted vs realized volatility" if views.predicted_volatility is not None else "Realized volatility"
    sections.append(section(title, figure_html(_volatility_figure(volatility))))
    book = pm.concentration(simulation.weights)
    sections.append(section("Names held and concentration",
                            _concentration_html(book) + figure_html(_concentration_figure(book))))
    sections.append(section("Largest drawdowns", _drawdowns_html(pm.drawdown_table(simulation.net_returns))))
    if views.participation is not None:
        sections.append(section("Capacity: trade size / ADV", _participation_html(views.participation,
                                                                                   simulation.capital)))
    if views.ic is not None and views.ic.notna().any():
        sections.append(section("Rolling IC of the meta-signal", figure_html(_ic_figure(views.ic, views.horizon_days))))
    return sections
