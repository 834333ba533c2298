"""Tournament figures for reports: leaderboard table, stake evolution, payouts, score distributions."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd
import plotly.graph_objects as go

from metasignal.reports.html import table

__all__ = ["LEADERBOARD_COLUMNS", "SCORE_PANELS", "cumulative_payout_figure", "leaderboard_html",
           "planted_skill_caveat", "score_distribution_figure", "stake_figure"]

SCORE_PANELS = ("corr", "fnc", "mmc", "alpha", "mpc", "churn")


LEADERBOARD_COLUMNS = ("model", "stake", "cumulative_payout", "corr", "mmc", "alpha", "mpc")
_SHORT_HEADERS = {"cumulative_payout": "payouts", "return_on_stake": "return", "eligible_rounds": "eligible"}


def leaderboard_html(board: pd.DataFrame, digits: int = 4, columns: Sequence[str] = LEADERBOARD_COLUMNS) -> str:
    """The leaderboard as an HTML table that fits a 1200 px page: the ``columns`` (those the
    board has), then the whole board in a collapsed ``<details>`` ("all columns").

    A score with HAC columns (``<m>_ci``, ``<m>_ns``, ``<m>_t`` from
    :func:`metasignal.backtest.rounds.leaderboard`) is shown as ``mean ±half-width`` with ``~0``
    when it is not distinguishable from zero, the companion columns folded into it, and a note
    under the table explains the test. Floats get ``digits`` decimals (stake and payouts 2, the
    return on stake in percent).
    """
    shown = board.copy()
    scored = [c for c in shown.columns if f"{c}_ci" in shown.columns and f"{c}_ns" in shown.columns]
    for metric in scored:
        marks = shown[f"{metric}_ns"].astype(bool) & shown[f"{metric}_ci"].notna()
        shown[metric] = [
            "n/a" if pd.isna(mean) else f"{mean:.{digits}f}" + ("" if pd.isna(half) else f" ±{half:.{digits}f}")
            + (" ~0" if mark else "")
            for mean, half, mark in zip(shown[metric], shown[f"{metric}_ci"], marks)
        ]
    shown = shown.drop(columns=[f"{m}_{s}" for m in scored for s in ("ci", "ns", "t") if f"{m}_{s}" in shown])
    if "return_on_stake" in shown and pd.api.types.is_float_dtype(shown["return_on_stake"]):
        shown["return_on_stake"] = shown["return_on_stake"].map(lambda v: "n/a" if pd.isna(v) else f"{v:.1%}")
    for column in shown.columns:
        if pd.api.types.is_float_dtype(shown[column]):
            places = 2 if column in ("stake", "cumulative_payout") else digits
            shown[column] = shown[column].map(lambda v, p=places: "n/a" if pd.isna(v) else f"{v:,.{p}f}")
    default = [c for c in columns if c in shown.columns]
    note = ""
    if scored:
        note = ("<p>Scores: mean per round ± the half-width of its 95 % interval (Newey-West / HAC over the "
                "model's rounds, lag from the overlap of the target windows, fixed-b critical values); "
                "<b>~0</b>: not distinguishable from zero at 5 %.</p>")

    def _table(frame: pd.DataFrame) -> str:
        header = [_SHORT_HEADERS.get(c, c) for c in frame.columns]
        return table(frame.itertuples(index=False), header=header, row_headers=True)

    rest = [c for c in shown.columns if c not in default]
    full = ""
    if rest:
        full = (f"<details><summary>all columns ({', '.join(_SHORT_HEADERS.get(c, c) for c in rest)})</summary>"
                f"<div style='overflow-x:auto'>{_table(shown)}</div></details>")
    return f"<div class='leaderboard'>{_table(shown[default])}</div>{full}{note}"


def planted_skill_caveat(sharpe: float | None = None) -> str:
    """The demo's warning (HTML): the synthetic market plants the example models' skill, so the
    fund's Sharpe (``sharpe``, when given) is high by construction, not evidence of an edge."""
    figure = "" if sharpe is None or pd.isna(sharpe) else f" (net Sharpe {sharpe:.1f})"
    return ("<b>Synthetic market, planted skill.</b> The returns come from <code>metasignal.data.synthetic</code>, "
            "whose residual returns carry a small persistent expected part (the hidden alpha), and the "
            "<i>skilled</i> example model (and <i>copycat</i>, <i>partial</i>) is built from that hidden truth "
            "(<code>metasignal.data.example_models</code>); the big stake on it steers the meta-signal. The "
            f"fund's performance{figure} is high by construction: it shows that the engine recovers a planted "
            "signal after costs and constraints, not that any strategy would earn it on a real market.")


def stake_figure(stakes: pd.DataFrame) -> go.Figure:
    """Stake of each model over time (date x model)."""
    figure = go.Figure()
    for model in stakes.columns:
        figure.add_trace(go.Scatter(x=stakes.index, y=stakes[model], mode="lines", name=str(model), line_shape="hv"))
    figure.update_layout(yaxis_title="stake", height=420, margin={"t": 30})
    return figure


def cumulative_payout_figure(results: pd.DataFrame) -> go.Figure:
    """Cumulative payout per model by round date (results: round_date, model, payout)."""
    payouts = results.pivot_table(index="round_date", columns="model", values="payout", aggfunc="sum")
    cumulative = payouts.fillna(0.0).cumsum()
    figure = go.Figure()
    for model in cumulative.columns:
        figure.add_trace(go.Scatter(x=cumulative.index, y=cumulative[model], mode="lines", name=str(model)))
    figure.update_layout(yaxis_title="cumulative payout", height=420, margin={"t": 30})
    return figure


def score_distribution_figure(results: pd.DataFrame, metrics: Sequence[str] = SCORE_PANELS) -> go.Figure:
    """Box plots of per-round scores by model, one metric per dropdown entry."""
    metrics = [m for m in metrics if m in results.columns]
    models = sorted(results["model"].unique())
    figure = go.Figure()
    for position, metric in enumerate(metrics):
        for model in models:
            values = results.loc[results["model"] == model, metric]
            figure.add_trace(go.Box(y=values, name=str(model), visible=position == 0, boxmean=True))
    buttons = []
    for position, metric in enumerate(metrics):
        visible = [p == position for p in range(len(metrics)) for _ in models]
        buttons.append({"label": metric, "method": "update", "args": [{"visible": visible}, {"yaxis": {"title": metric}}]})
    figure.update_layout(
        updatemenus=[{"buttons": buttons, "direction": "down", "x": 0, "y": 1.15, "xanchor": "left"}],
        yaxis_title=metrics[0] if metrics else "", showlegend=False, height=460, margin={"t": 60},
    )
    return figure
