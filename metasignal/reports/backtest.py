"""The backtest report: one self-contained plotly HTML page of a simulation.

Sections, in order: metrics table, equity and drawdown, rolling Sharpe, exposures, sector and
country net exposures (when given), turnover and cumulative cost drag, monthly returns
heatmap, then the caller's ``extra_sections`` (title + plotly figure or an HTML fragment).
The numbers come from the engine (:mod:`metasignal.backtest.metrics`, :class:`SimulationResult`); this
module only draws them.
"""

from __future__ import annotations

import html
import math
import os
from collections.abc import Sequence
from pathlib import Path

import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from metasignal.backtest import SimulationResult, describe_lag
from metasignal.backtest import metrics as perf
from metasignal.reports.fund_sections import FundViews, fund_view_sections, group_net_figure
from metasignal.reports.html import figure_html, page, section, table, write_page

__all__ = ["ExtraSection", "benchmark_regression_html", "write_report"]

ExtraSection = tuple[str, "go.Figure | str"]

_METRIC_FORMATS = {
    "total_return": "{:.2%}",
    "annualized_return": "{:.2%}",
    "annualized_volatility": "{:.2%}",
    "gross_annualized_return": "{:.2%}",
    "max_drawdown": "{:.2%}",
    "hit_rate": "{:.1%}",
    "average_turnover": "{:.3f}",
    "annual_turnover": "{:.1f}",
    "average_gross_exposure": "{:.3f}",
    "average_net_exposure": "{:.4f}",
}


def _format_metric(name: str, value: float | str) -> str:
    if isinstance(value, str):
        return value
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    return _METRIC_FORMATS.get(name, "{:.3f}").format(value)


def _metrics_table(metrics: dict[str, float]) -> str:
    return table(((name, _format_metric(name, value)) for name, value in metrics.items()), row_headers=True)


def _with_sharpe_uncertainty(metrics: dict[str, float], result: SimulationResult) -> dict[str, float | str]:
    """The metrics with, right after ``sharpe``, its HAC standard error, 95 % interval and PSR."""
    extra = perf.sharpe_uncertainty(result.net_returns, result.periods_per_year)
    rows: dict[str, float | str] = {}
    for name, value in metrics.items():
        rows[name] = value
        if name == "sharpe":
            rows["sharpe_se (HAC, Lo 2002)"] = extra["sharpe_se"]
            rows["sharpe_95%_interval"] = f"[{extra['sharpe_ci_low']:.2f}, {extra['sharpe_ci_high']:.2f}]"
            rows["P(true sharpe > 0)"] = f"{extra['sharpe_psr']:.3f}"
    return rows


def benchmark_regression_html(result: SimulationResult, benchmark: pd.Series | pd.DataFrame) -> str:
    """Net daily returns regressed on ``benchmark`` (market, and style factor returns) with HAC
    errors: annualized alpha, betas, their 95 % intervals (an HTML table)."""
    from metasignal.backtest.inference import factor_regression

    fit = factor_regression(result.net_returns, benchmark, periods_per_year=result.periods_per_year)
    rows = [
        (term, f"{row.coef:.4f}", f"{row.se:.4f}", f"{row.t:.2f}", f"[{row.ci_low:.4f}, {row.ci_high:.4f}]",
         "yes" if row.significant else "no (~0)")
        for term, row in fit.iterrows()
    ]
    lag = int(fit["lag"].iloc[0]) if len(fit) else 0
    note = (f"<p>OLS of the fund's net daily returns on the benchmark returns over {int(fit['n'].iloc[0])} days, "
            f"Newey-West (HAC) standard errors with {lag} lags; alpha annualized "
            f"(x {result.periods_per_year:g}), betas unitless; ~0: not distinguishable from zero at 5 %.</p>")
    return table(rows, header=["term", "estimate", "se", "t", "95% interval", "different from 0"]) + note


def _equity_figure(result: SimulationResult) -> go.Figure:
    figure = make_subplots(
        rows=2, cols=1, shared_xaxes=True, row_heights=[0.7, 0.3], vertical_spacing=0.05
    )
    gross_equity = result.capital * (1.0 + result.gross_returns).cumprod()
    figure.add_trace(go.Scatter(x=result.equity.index, y=result.equity, name="net equity"), 1, 1)
    figure.add_trace(
        go.Scatter(x=gross_equity.index, y=gross_equity, name="gross equity (before costs)"), 1, 1
    )
    drawdown = perf.drawdown_series(result.net_returns)
    figure.add_trace(
        go.Scatter(x=drawdown.index, y=drawdown, name="drawdown (net)", fill="tozeroy"), 2, 1
    )
    figure.update_yaxes(title_text="equity ($)", row=1, col=1)
    figure.update_yaxes(title_text="drawdown", tickformat=".0%", row=2, col=1)
    return figure


def _rolling_sharpe_figure(result: SimulationResult) -> go.Figure:
    figure = go.Figure()
    for window in (63, 252):
        sharpe = perf.rolling_sharpe(result.net_returns, window, result.periods_per_year)
        figure.add_trace(go.Scatter(x=sharpe.index, y=sharpe, name=f"{window}-day"))
    figure.update_yaxes(title_text="annualized Sharpe (net)")
    return figure


def _lines_figure(frame: pd.DataFrame, y_title: str) -> go.Figure:
    figure = go.Figure()
    for column in frame.columns:
        figure.add_trace(go.Scatter(x=frame.index, y=frame[column], name=str(column)))
    figure.update_yaxes(title_text=y_title)
    return figure


def _trading_figure(result: SimulationResult) -> go.Figure:
    figure = make_subplots(rows=2, cols=1, shared_xaxes=True, vertical_spacing=0.08)
    traded = result.turnover[result.turnover > 0]
    figure.add_trace(go.Bar(x=traded.index, y=traded, name="turnover (one way: ½ Σ|trades| / equity)"), 1, 1)
    cumulative_bp = result.costs.cumsum() * 1e4
    for kind in cumulative_bp.columns:
        figure.add_trace(
            go.Scatter(x=cumulative_bp.index, y=cumulative_bp[kind], name=f"{kind} (cum. bp)"),
            2,
            1,
        )
    figure.update_yaxes(title_text="turnover", row=1, col=1)
    figure.update_yaxes(title_text="cumulative cost (bp)", row=2, col=1)
    return figure


def _monthly_figure(result: SimulationResult) -> go.Figure:
    returns_table = perf.monthly_returns(result.net_returns)
    text = returns_table.map(lambda value: "" if pd.isna(value) else f"{value:.1%}")
    figure = go.Figure(
        go.Heatmap(
            z=returns_table.to_numpy(),
            x=[pd.Timestamp(2000, month, 1).strftime("%b") for month in returns_table.columns],
            y=[str(year) for year in returns_table.index],
            text=text.to_numpy(),
            texttemplate="%{text}",
            colorscale="RdYlGn",
            zmid=0.0,
            colorbar={"tickformat": ".0%"},
        )
    )
    figure.update_yaxes(autorange="reversed", type="category")
    return figure


def _overview(result: SimulationResult) -> str:
    start, end = result.equity.index[0].date(), result.equity.index[-1].date()
    return (
        f"<p>{start} to {end}, {len(result.equity)} trading days, {len(result.targets)} "
        f"rebalances, execution lag {describe_lag(result.lag)} day(s), starting capital {result.capital:,.0f}.</p>"
    )


def write_report(
    result: SimulationResult,
    path: str | os.PathLike,
    *,
    title: str,
    sector_exposure: pd.DataFrame | None = None,
    country_exposure: pd.DataFrame | None = None,
    extra_sections: Sequence[ExtraSection] = (),
    benchmark: pd.Series | pd.DataFrame | None = None,
    views: FundViews | None = None,
    caveat: str | None = None,
) -> Path:
    """Write the HTML report of ``result`` to ``path`` (atomically) and return the path.

    sector_exposure, country_exposure: net weight per group over time (date x group,
        fractions of equity), e.g. from ``net_exposure_by_group(result.weights, sectors)``
        (:mod:`metasignal.backtest.exposure`).
    extra_sections: (title, content) pairs appended at the end; content is a plotly Figure or
        an HTML fragment (inserted as is).
    benchmark: market (and style factor) returns per day; when given, a section regresses the
        net returns on them with HAC errors (:func:`benchmark_regression_html`).
    views: the portfolio manager's numbers (:func:`metasignal.reports.fund_sections.fund_views`);
        without them the report still shows what the simulation alone gives (names and
        concentration, realized volatility, the largest drawdowns).
    caveat: an HTML fragment shown in a box under the title (e.g. where the returns come from).
    The metrics table adds the Sharpe ratio's HAC standard error, 95 % interval and
    probabilistic Sharpe (:func:`metasignal.backtest.metrics.sharpe_uncertainty`). Group net
    exposures are drawn as the largest |net| per day, each group's line a click away.
    """
    sections = [
        section("Metrics", _metrics_table(_with_sharpe_uncertainty(result.metrics(), result))),
        section("Equity and drawdown", figure_html(_equity_figure(result))),
        section("Rolling Sharpe", figure_html(_rolling_sharpe_figure(result))),
        section("Exposure", figure_html(_lines_figure(result.exposure, "fraction of equity"))),
    ]
    for name, exposure in (("Sector", sector_exposure), ("Country", country_exposure)):
        if exposure is not None:
            note = (f"<p>The held book's net weight per {name.lower()} at each close: the targets are neutral, "
                    "the book drifts with the returns between rebalances and names that stop trading.</p>")
            sections.append(section(f"{name} net exposure", note + figure_html(group_net_figure(exposure, name.lower()))))
    if benchmark is not None:
        sections.append(section("Alpha and beta vs the market (HAC)", benchmark_regression_html(result, benchmark)))
    sections.extend(fund_view_sections(result, views))
    sections.append(section("Turnover and cost drag", figure_html(_trading_figure(result))))
    sections.append(section("Monthly net returns", figure_html(_monthly_figure(result))))
    for extra_title, content in extra_sections:
        body = figure_html(content) if isinstance(content, go.Figure) else str(content)
        sections.append(section(extra_title, body))
    warning = "" if caveat is None else f"<aside class='caveat' role='note'>{caveat}</aside>"
    body = f"<h1>{html.escape(title)}</h1>{warning}{_overview(result)}" + "".join(sections)
    return write_page(path, page(title, body))

