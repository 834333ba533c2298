"""Backtest report (one self-contained plotly HTML file) and plain output files.

``write_report`` embeds plotly.js once in the page, so the file opens offline. Sections, in
order: metrics table, equity and drawdown, rolling Sharpe, exposures, sector and country net
exposures (when given), turnover and cumulative cost drag, monthly returns heatmap, then the
caller's ``extra_sections`` (title + plotly figure or an HTML fragment).

``write_outputs`` writes ``returns.csv`` (date, gross, net), ``weights.parquet`` (one row per
execution date and ticker with a non-zero target or held weight) and ``metrics.json``.
"""

from __future__ import annotations

import html
import json
import math
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.offline import get_plotlyjs
from plotly.subplots import make_subplots

from metasignal.backtest import metrics as perf
from metasignal.backtest.simulate import SimulationResult
from metasignal.data.atomic_write import atomic_write

__all__ = ["net_exposure_by_group", "write_outputs", "write_report"]

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


def net_exposure_by_group(weights: pd.DataFrame, groups: pd.Series) -> pd.DataFrame:
    """Net weight per group and date: ``weights`` (date x ticker) summed by ``groups``.

    groups: Series ticker -> group label (sector, country); tickers without a label are left
    out. Returns a frame date x group.
    """
    labels = groups.reindex(weights.columns)
    known = labels.notna().to_numpy()
    codes, names = pd.factorize(labels[known])
    one_hot = np.zeros((int(known.sum()), len(names)))
    one_hot[np.arange(len(codes)), codes] = 1.0
    exposure = weights.to_numpy(dtype=float)[:, known] @ one_hot
    return pd.DataFrame(exposure, index=weights.index, columns=pd.Index(names, name=groups.name))


def _format_metric(name: str, value: float) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    return _METRIC_FORMATS.get(name, "{:.3f}").format(value)


def _metrics_table(metrics: dict[str, float]) -> str:
    rows = "".join(
        f"<tr><th>{html.escape(name)}</th><td>{html.escape(_format_metric(name, value))}</td></tr>"
        for name, value in metrics.items()
    )
    return f'<table class="metrics">{rows}</table>'


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
    table = perf.monthly_returns(result.net_returns)
    text = table.map(lambda value: "" if pd.isna(value) else f"{value:.1%}")
    figure = go.Figure(
        go.Heatmap(
            z=table.to_numpy(),
            x=[pd.Timestamp(2000, month, 1).strftime("%b") for month in table.columns],
            y=[str(year) for year in table.index],
            text=text.to_numpy(),
            texttemplate="%{text}",
            colorscale="RdYlGn",
            zmid=0.0,
            colorbar={"tickformat": ".0%"},
        )
    )
    figure.update_yaxes(autorange="reversed", type="category")
    return figure


def _figure_html(figure: go.Figure) -> str:
    figure.update_layout(template="plotly_white", height=figure.layout.height or 450)
    return figure.to_html(full_html=False, include_plotlyjs=False)


def _section(title: str, body: str) -> str:
    return f"<section><h2>{html.escape(title)}</h2>{body}</section>"


def write_report(
    result: SimulationResult,
    path: str | os.PathLike,
    *,
    title: str,
    sector_exposure: pd.DataFrame | None = None,
    country_exposure: pd.DataFrame | None = None,
    extra_sections: Sequence[ExtraSection] = (),
) -> Path:
    """Write the HTML report of ``result`` to ``path`` and return the path.

    sector_exposure, country_exposure: net weight per group over time (date x group,
        fractions of equity), e.g. from ``net_exposure_by_group(result.weights, sectors)``.
    extra_sections: (title, content) pairs appended at the end; content is a plotly Figure or
        an HTML fragment (inserted as is).
    """
    path = Path(path)
    sections = [
        _section("Metrics", _metrics_table(result.metrics())),
        _section("Equity and drawdown", _figure_html(_equity_figure(result))),
        _section("Rolling Sharpe", _figure_html(_rolling_sharpe_figure(result))),
        _section(
            "Exposure",
            _figure_html(_lines_figure(result.exposure, "fraction of equity")),
        ),
    ]
    for name, exposure in (("Sector", sector_exposure), ("Country", country_exposure)):
        if exposure is not None:
            figure = _lines_figure(exposure, "net weight")
            sections.append(_section(f"{name} net exposure", _figure_html(figure)))
    sections.append(_section("Turnover and cost drag", _figure_html(_trading_figure(result))))
    sections.append(_section("Monthly net returns", _figure_html(_monthly_figure(result))))
    for extra_title, content in extra_sections:
        body = _figure_html(content) if isinstance(content, go.Figure) else str(content)
        sections.append(_section(extra_title, body))

    start, end = result.equity.index[0].date(), result.equity.index[-1].date()
    page = (
        "<!DOCTYPE html><html><head><meta charset='utf-8'>"
        f"<title>{html.escape(title)}</title>"
        "<style>body{font-family:sans-serif;margin:2em;max-width:1200px}"
        "table.metrics{border-collapse:collapse}"
        "table.metrics th,table.metrics td{border:1px solid #ccc;padding:3px 10px;text-align:left}"
        "</style>"
        f"<script type='text/javascript'>{get_plotlyjs()}</script></head><body>"
        f"<h1>{html.escape(title)}</h1>"
        f"<p>{start} to {end}, {len(result.equity)} trading days, {len(result.targets)} "
        f"rebalances, execution lag {result.lag} day(s), starting capital {result.capital:,.0f}."
        "</p>" + "".join(sections) + "</body></html>"
    )
    atomic_write(path, lambda temporary: Path(temporary).write_text(page, encoding="utf-8"))
    return path


def _json_ready(metrics: dict[str, float]) -> dict[str, float | None]:
    """NaN/inf are not JSON: write them as null."""
    return {name: (value if math.isfinite(value) else None) for name, value in metrics.items()}


def write_outputs(result: SimulationResult, out_dir: str | os.PathLike) -> dict[str, Path]:
    """Write returns.csv, weights.parquet and metrics.json into ``out_dir``; return their paths.

    returns.csv: date, gross, net (daily fractions of previous equity).
    weights.parquet: date (execution date), decision_date, ticker, target_weight, held_weight
        (end of the execution day, after trading), for each rebalance and each ticker with a
        non-zero target or held weight.
    metrics.json: ``result.metrics()`` (NaN written as null).
    """
    out = Path(out_dir)
    paths = {name: out / name for name in ("returns.csv", "weights.parquet", "metrics.json")}

    returns = pd.DataFrame(
        {
            "date": result.net_returns.index,
            "gross": result.gross_returns.to_numpy(),
            "net": result.net_returns.to_numpy(),
        }
    )
    atomic_write(paths["returns.csv"], lambda tmp: returns.to_csv(tmp, index=False))

    executed = result.targets.index
    target = result.targets.to_numpy(dtype=float)
    held = result.weights.loc[executed].to_numpy(dtype=float)
    rows, cols = np.nonzero((target != 0) | (held != 0))
    weights = pd.DataFrame(
        {
            "date": executed[rows],
            "decision_date": result.decision_dates.to_numpy()[rows],
            "ticker": result.targets.columns.to_numpy()[cols].astype(str),
            "target_weight": target[rows, cols],
            "held_weight": held[rows, cols],
        }
    )
    atomic_write(paths["weights.parquet"], lambda tmp: weights.to_parquet(tmp, index=False))

    text = json.dumps(_json_ready(result.metrics()), indent=2)
    atomic_write(paths["metrics.json"], lambda tmp: Path(tmp).write_text(text, encoding="utf-8"))
    return paths
