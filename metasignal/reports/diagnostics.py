"""The diagnostics page of a historical signal file: one self-contained plotly HTML file.

Summary table, cumulative score per metric, churn, turnover and neutral churn (with the
payout eligibility limits of the first two), style exposure per era, then the notes and the
skipped dates; the numbers are those of :func:`metasignal.backtest.diagnostics.diagnose`.
"""

from __future__ import annotations

import html
import os
from pathlib import Path

import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from metasignal.backtest.diagnostics import CHANGE_METRICS, CHANGE_THRESHOLDS, Diagnostics
from metasignal.reports.html import figure_html, page, section, table, write_page

__all__ = ["write_diagnostics_report"]

_CORRELATION_SCORES = ("corr", "icv2", "fnc", "nc", "mmc", "nmc")
_PORTFOLIO_SCORES = ("alpha", "mpc")


def _cumulative_figure(per_era: pd.DataFrame) -> go.Figure:
    groups = [
        ("correlation scores", [m for m in _CORRELATION_SCORES if m in per_era]),
        ("portfolio scores", [m for m in _PORTFOLIO_SCORES if m in per_era]),
    ]
    groups = [(title, names) for title, names in groups if names]
    figure = make_subplots(rows=len(groups), cols=1, shared_xaxes=True, subplot_titles=[t for t, _ in groups])
    for row, (_, names) in enumerate(groups, start=1):
        for name in names:
            cumulative = per_era[name].fillna(0.0).cumsum()
            figure.add_trace(go.Scatter(x=per_era.index, y=cumulative, mode="lines+markers", name=name), row=row, col=1)
        figure.update_yaxes(title_text="cumulative score", row=row, col=1)
    figure.update_layout(title="Cumulative score per metric over eras", height=320 * len(groups) + 80)
    return figure


def _lines_figure(frame: pd.DataFrame, title: str, y_title: str,
                  thresholds: dict[str, float] | None = None) -> go.Figure:
    figure = go.Figure()
    for name in frame.columns:
        figure.add_trace(go.Scatter(x=frame.index, y=frame[name], mode="lines+markers", name=str(name)))
    for name, level in (thresholds or {}).items():
        figure.add_hline(y=level, line_dash="dash", annotation_text=f"{name} limit {level:g}")
    figure.update_layout(title=title, yaxis_title=y_title, height=380)
    return figure


def _summary_table(summary: pd.DataFrame) -> str:
    """The summary (metric x stat) with counts as integers, other stats to 4 decimals, NaN blank."""
    def cell(stat: str, value: float) -> str:
        if pd.isna(value):
            return ""
        return f"{value:.0f}" if stat == "n_eras" else f"{value:.4f}"

    rows = ([label, *(cell(stat, value) for stat, value in row.items())] for label, row in summary.iterrows())
    return table(rows, header=[summary.index.name or "", *summary.columns], row_headers=True)


def _inference_table(inference: pd.DataFrame | None) -> str:
    """Mean per era with its HAC interval, t, effective eras and the verdict against zero."""
    if inference is None or not len(inference):
        return ""
    def number(value: float, digits: int = 4) -> str:
        return "" if pd.isna(value) else f"{value:.{digits}f}"

    rows = [
        (metric, number(row["mean"]), f"[{number(row['ci_low'])}, {number(row['ci_high'])}]", number(row["t"], 2),
         number(row["n_effective"], 1), "~0 (not distinguishable)" if not row["significant"] else
         ("above 0" if row["mean"] > 0 else "below 0"))
        for metric, row in inference.iterrows()
    ]
    lag = int(inference["lag"].max())
    note = (f"<p>Newey-West (HAC) standard errors over the eras with truncation {lag} (twice the overlap of the "
            "target windows, at least 1.3 sqrt(eras)) and fixed-b critical values, two-sided 5 %; n_eff: the "
            "number of independent eras the variance amounts to.</p>")
    return table(rows, header=["metric", "mean", "95% interval", "t (HAC)", "n_eff", "vs 0"], row_headers=True) + note


def _listed(metrics: list[str]) -> str:
    """``a``, ``a and b``, ``a, b and c`` of the metric names (underscores as spaces)."""
    names = [m.replace("_", " ") for m in metrics]
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"


def _figures(diagnostics: Diagnostics) -> list[go.Figure]:
    per_era = diagnostics.per_era
    figures = [_cumulative_figure(per_era)]
    changes = [m for m in CHANGE_METRICS if m in per_era]
    if changes:
        limits = {m: CHANGE_THRESHOLDS[m] for m in changes if m in CHANGE_THRESHOLDS}
        title = f"{_listed(changes).capitalize()} vs the previous date"
        figures.append(_lines_figure(per_era[changes], title, "value", limits))
    figures.append(_lines_figure(diagnostics.style_exposure, "Style exposure per era (Pearson)", "correlation"))
    return figures


def _facts(diagnostics: Diagnostics) -> str:
    dates = diagnostics.dates
    facts = [
        f"model <b>{html.escape(diagnostics.model)}</b>",
        f"{len(dates)} era(s) scored, {dates[0].date()} to {dates[-1].date()}",
        f"target window {html.escape(diagnostics.window)}",
        f"max style exposure {diagnostics.max_style_exposure:.3f} ({html.escape(diagnostics.max_style_factor)})",
    ]
    return f"<p>{' &middot; '.join(facts)}</p>"


def _notes(diagnostics: Diagnostics) -> str:
    items = "".join(f"<li>{html.escape(note)}</li>" for note in diagnostics.notes)
    return f"<ul>{items}</ul>" if items else ""


def _skipped(diagnostics: Diagnostics) -> str:
    if not len(diagnostics.skipped):
        return ""
    items = "".join(
        f"<li>{day.date()}: {html.escape(reason)}</li>" for day, reason in diagnostics.skipped.itertuples(index=False)
    )
    return section("Skipped dates", f"<ul>{items}</ul>")


def write_diagnostics_report(diagnostics: Diagnostics, path: str | os.PathLike) -> Path:
    """Write the diagnostics page to ``path`` (plotly.js inlined, works offline; atomic, folders
    created): summary table, cumulative scores per metric, churn/turnover/neutral churn against
    the eligibility limits, style exposure per era, notes and skipped dates. Returns the path."""
    body = (
        f"<h1>Signal diagnostics</h1>{_facts(diagnostics)}"
        + section("Summary", _summary_table(diagnostics.summary_table()))
        + (section("Mean score per era: is it distinguishable from zero?", _inference_table(diagnostics.inference))
           if diagnostics.inference is not None and len(diagnostics.inference) else "")
        + _notes(diagnostics)
        + "".join(section(None, figure_html(figure)) for figure in _figures(diagnostics))
        + _skipped(diagnostics)
    )
    return write_page(path, page(f"Diagnostics: {diagnostics.model}", body))
