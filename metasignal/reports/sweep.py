"""The comparison page of a parameter sweep: one self-contained plotly HTML file.

Net Sharpe against annual turnover and against cost drag (bp a year), one marker per config,
the best configs (by net Sharpe) highlighted; a table of every config ranked; the failed
configs with their errors. plotly.js is inlined (:func:`metasignal.reports.html.page`).
"""

from __future__ import annotations

import html
import os
from pathlib import Path

import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from metasignal.reports.html import figure_html, page, section, table, write_page

__all__ = ["best_configs", "write_sweep_report"]

BEST = 3  # configs highlighted
_COLUMNS = ("sharpe", "annualized_return", "annual_turnover", "cost_drag_bp_per_year", "max_drawdown", "gross_sharpe")


def best_configs(metrics: pd.DataFrame, n: int = BEST) -> pd.DataFrame:
    """The ``n`` finished configs with the highest net Sharpe (rows of the sweep table)."""
    done = metrics[metrics["status"] == "ok"]
    return done.sort_values("sharpe", ascending=False).head(n)


def _scatter(metrics: pd.DataFrame, best: pd.DataFrame) -> go.Figure:
    """Net Sharpe vs annual turnover (left) and vs cost drag (right)."""
    done = metrics[metrics["status"] == "ok"]
    others = done[~done["key"].isin(best["key"])]
    figure = make_subplots(rows=1, cols=2, subplot_titles=("net Sharpe vs annual turnover",
                                                           "net Sharpe vs cost drag"))
    for col, x in ((1, "annual_turnover"), (2, "cost_drag_bp_per_year")):
        for frame, name, style in ((others, "config", dict(size=8, color="#7f8c8d")),
                                   (best, f"best {len(best)}", dict(size=13, color="#e74c3c", symbol="star"))):
            figure.add_trace(go.Scatter(
                x=frame[x], y=frame["sharpe"], mode="markers", marker=style, name=name, text=frame["label"],
                hovertemplate="%{text}<br>%{x:.3g}, Sharpe %{y:.3f}<extra></extra>", showlegend=col == 1,
                legendgroup=name), row=1, col=col)
    figure.update_xaxes(title_text="annual turnover (x capital)", row=1, col=1)
    figure.update_xaxes(title_text="cost drag (bp a year)", row=1, col=2)
    figure.update_yaxes(title_text="net Sharpe", row=1, col=1)
    return figure


def _ranked(metrics: pd.DataFrame) -> str:
    done = metrics[metrics["status"] == "ok"].sort_values("sharpe", ascending=False)
    columns = [c for c in _COLUMNS if c in done.columns]
    rows = [[i + 1, row["label"], *(f"{row[c]:.4g}" for c in columns)] for i, (_, row) in enumerate(done.iterrows())]
    return table(rows, header=["rank", "config", *columns])


def write_sweep_report(metrics: pd.DataFrame, path: str | os.PathLike, *, title: str = "metasignal sweep") -> Path:
    """Write the comparison page of a sweep table (:func:`metasignal.backtest.sweep.sweep_table`)
    to ``path`` (atomic; folders created); return the path."""
    best = best_configs(metrics)
    failed = metrics[metrics["status"] != "ok"]
    body = [f"<h1>{html.escape(title)}</h1>",
            f"<p>{int((metrics['status'] == 'ok').sum())} config(s) finished, {len(failed)} failed; "
            f"the best {len(best)} by net Sharpe are starred.</p>"]
    if len(best):
        body.append(section("Net Sharpe against turnover and cost drag", figure_html(_scatter(metrics, best))))
        body.append(section("Configs ranked by net Sharpe", _ranked(metrics)))
    if len(failed):
        body.append(section("Failed configs", table([[row["label"], row["error"]] for _, row in failed.iterrows()],
                                                    header=["config", "error"])))
    return write_page(path, page(title, "".join(body)))
