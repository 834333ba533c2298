"""The walk-forward report: the backtest page of the simulation, plus the held book's sector
and country net exposures and the optimizer's per-rebalance diagnostics (``result.solves``)."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from metasignal.backtest.exposure import net_exposure_by_group
from metasignal.backtest.walk_forward import WalkForwardResult
from metasignal.reports.backtest import write_report
from metasignal.reports.fund_sections import FundViews, fund_views
from metasignal.reports.html import table

__all__ = ["rebalance_figure", "rebalance_summary_html", "write_walk_forward_report"]


def rebalance_figure(solves: pd.DataFrame) -> go.Figure:
    """Per rebalance: solve times, turnover and gross, and the largest |net| exposures (log scale)."""
    figure = make_subplots(rows=3, cols=1, shared_xaxes=True, vertical_spacing=0.06,
                           subplot_titles=("solve time (s)", "turnover and gross",
                                           "largest |net| (dollar, country, sector)"))
    figure.add_trace(go.Bar(x=solves.index, y=solves["seconds"], name="solve (s)"), 1, 1)
    figure.add_trace(go.Bar(x=solves.index, y=solves["solver_seconds"], name="solver alone (s)"), 1, 1)
    figure.add_trace(go.Scatter(x=solves.index, y=solves["turnover"], name="turnover (half sum |trade|)"),
                     2, 1)
    figure.add_trace(go.Scatter(x=solves.index, y=solves["gross"], name="gross"), 2, 1)
    for column, label in (("net", "|net|"), ("max_abs_country_net", "max |country net|"),
                          ("max_abs_sector_net", "max |sector net|")):
        figure.add_trace(go.Scatter(x=solves.index, y=solves[column].abs(), name=label), 3, 1)
    figure.update_yaxes(type="log", tickformat=".0e", exponentformat="e", row=3, col=1)  # no SI "100p"
    figure.update_layout(height=800, barmode="overlay")
    return figure


def rebalance_summary_html(solves: pd.DataFrame) -> str:
    """A table of the solves: count, statuses, fallbacks, solve times, largest nets, names held."""
    fallback = solves["fallback"].notna()
    fallback_dates = ", ".join(str(d.date()) for d in solves.index[fallback][:5])
    rows = {
        "rebalances": f"{len(solves)}",
        "statuses": ", ".join(f"{k}: {v}" for k, v in solves["status"].value_counts().items()),
        "fallbacks (turnover limit lifted)": f"{int(fallback.sum())}"
        + (f" on {fallback_dates}" if fallback.any() else ""),
        "median / max solve time": f"{solves['seconds'].median():.3f} s / {solves['seconds'].max():.3f} s",
        "largest |net| of a target": f"{solves['net'].abs().max():.2e}",
        "largest |country net| / |sector net|":
            f"{solves['max_abs_country_net'].max():.2e} / {solves['max_abs_sector_net'].max():.2e}",
        "mean names long / short": f"{solves['n_long'].mean():.0f} / {solves['n_short'].mean():.0f}",
    }
    return table(rows.items(), row_headers=True)


def write_walk_forward_report(result: WalkForwardResult, path: str | os.PathLike, *,
                              title: str = "metasignal walk-forward backtest", views: FundViews | None = None,
                              caveat: str | None = None) -> Path:
    """Write the walk-forward's HTML report to ``path`` (self-contained, atomic); return the path.
    The fund's net returns are regressed on the equal-weighted market of the names it could trade
    (alpha and beta with HAC intervals). views: the PM numbers, by default those the result alone
    gives (:func:`metasignal.reports.fund_sections.fund_views` without a store: P&L by sector and leg,
    contributors, predicted vs realized volatility); pass ``fund_views(result, store, settings)``
    for the factor split, participation and the meta-signal's IC."""
    from metasignal.backtest.metrics import equal_weight_market

    held = result.simulation.weights
    return write_report(
        result.simulation, path, title=title,
        sector_exposure=net_exposure_by_group(held, result.groups["sector"]),
        country_exposure=net_exposure_by_group(held, result.groups["country"]),
        extra_sections=[("Rebalances: solve diagnostics", rebalance_summary_html(result.solves)),
                        ("Rebalances over time", rebalance_figure(result.solves))],
        benchmark=equal_weight_market(result.returns),
        views=views if views is not None else fund_views(result), caveat=caveat,
    )
