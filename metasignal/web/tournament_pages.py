"""The tournament's pages: ``/`` (leaderboard), ``/models/{name}``, ``/rounds`` and ``/rounds/{date}``.

Everything here is read from the round ledger (:mod:`metasignal.backtest.rounds`) and the stake
ledger (:mod:`metasignal.signals.stakes`) as stored: the pages compute only ranks,
percentiles and cumulative sums. A model's submissions (versions, upload times, file names)
are private: only its owner and operators see them.
"""

from __future__ import annotations

from typing import Optional

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse

from metasignal.api import clock_body
from metasignal.backtest.inference import format_interval
from metasignal.backtest.payouts import CHURN_LIMIT, TURNOVER_LIMIT, PayoutPolicy
from metasignal.backtest.rounds import (
    leaderboard, round_results, round_scores, rounds_table, scored_windows,
)
from metasignal.data.store import Store
from metasignal.reports.tournament import cumulative_payout_figure, stake_figure
from metasignal.signals import storage
from metasignal.signals.round_calendar import RoundCalendar
from metasignal.signals.stakes import stake_balances, stake_history
from metasignal.web.context import Web
from metasignal.web.layout import Column, Viewer, chart, data_table, esc, facts, fmt

__all__ = ["PAGE_SCORES", "add_tournament_pages", "percentiles"]

PAGE_SCORES = ("corr", "mmc", "fnc", "alpha", "mpc")  # the scores the pages lead with
MORE_SCORES = ("icv2", "nc", "nmc")
LAST_DAY = pd.Timestamp("2262-01-01")  # a stake balance "after every event" (pandas' last day, as leaderboard())


def percentiles(results: pd.DataFrame, metrics=("payout_score", *PAGE_SCORES)) -> pd.DataFrame:
    """Per round, each submitting model's percentile rank (0-1, highest best) of ``metrics``
    among the models that submitted to it: ``round_date, model, <metric>_pct``."""
    submitted = results[results["submitted"].fillna(False).astype(bool)]
    ranks = submitted.groupby("round_date")[list(metrics)].rank(pct=True)
    ranks.columns = [f"{m}_pct" for m in metrics]
    return pd.concat([submitted[["round_date", "model"]], ranks], axis=1)


def hac_cell(metric: str):
    """``text(row)`` of a score column: ``mean ±half-width`` of the 95 % HAC interval, ``~0`` when
    not distinguishable from zero (the leaderboard's ``<m>_ci``, ``<m>_ns``), as the CLI prints it."""
    def text(row: dict) -> str:
        mean, half = row.get(metric), row.get(f"{metric}_ci")
        mean = float("nan") if mean is None or pd.isna(mean) else float(mean)
        half = float("nan") if half is None or pd.isna(half) else float(half)
        cell = format_interval(0.0 if abs(mean) < 5e-5 else mean, half)  # no "-0.0000"
        # a no-break space keeps the mark with the interval when a narrow cell wraps at the ±
        return cell + ("\u00a0~0" if np.isfinite(half) and bool(row.get(f"{metric}_ns")) else "")
    return text


HAC_NOTE = ("<p class=\"note\">Scores: mean per paid round ± the half-width of its 95 % interval (Newey-West / "
            "HAC over the model's rounds, lag from the overlap of the target windows, fixed-b critical values); "
            "<b>~0</b>: not distinguishable from zero at 5 %; fewer than 3 rounds: no interval.</p>")


def _wrap_class(row: dict) -> str:
    return "wrap"  # the cell may wrap at its spaces on a narrow page ("mean ±half-width" at the ±; assets.py)


def _model_link(row: dict) -> str:
    return f"/models/{row['model']}"


def _round_link(key: str):
    return lambda row: None if pd.isna(row.get(key)) else f"/rounds/{pd.Timestamp(row[key]).date()}"


def _limit_class(limit: float, key: str):
    return lambda row: "bad" if not pd.isna(row.get(key)) and row[key] >= limit else ""


def _records(frame: pd.DataFrame) -> list[dict]:
    return frame.to_dict(orient="records")


def _clock_facts(store: Store, viewer: Viewer) -> str:
    clock = clock_body(store)
    items = [("clock", f"{clock['mode']}, {pd.Timestamp(clock['now']):%Y-%m-%d %H:%M} UTC"),
             ("schedule", clock["schedule"])]
    html = facts(items)
    if clock["open_round"]:
        open_round = clock["open_round"]
        html += (f'<p>Round <a href="{viewer.url("/rounds/" + open_round["round"])}">{esc(open_round["round"])}</a> '
                 f"is open until {esc(fmt(open_round['deadline'], 'time'))}.</p>")
    elif clock["next_round"]:
        html += f"<p>No round is open; the next opens {esc(fmt(clock['next_round']['opens'], 'time'))}.</p>"
    return html


def leaderboard_page(web: Web, request: Request) -> HTMLResponse:
    """``/``: every scored model, ranked by cumulative payout (sortable in the browser)."""
    viewer, store = web.viewer(request), web.store()
    board = leaderboard(store)
    results = round_results(store)
    if len(board):
        mean_pct = percentiles(results).groupby("model")["payout_score_pct"].mean()
        board["payout_pct"] = board["model"].map(mean_pct)
        board.insert(0, "rank", range(1, len(board) + 1))
    columns = [
        Column("rank", "Rank", "int"),
        Column("model", "Model", href=_model_link),
        Column("stake", "Stake", "money"),
        Column("cumulative_payout", "Payouts", "money", title="cumulative payout over the paid rounds"),
        Column("return_on_stake", "Return on stake", "pct", more=True, title="cumulative payout / deposits"),
        Column("rounds", "Rounds", "int", title="rounds submitted to, among the paid ones"),
        Column("eligible_rounds", "Eligible", "int", more=True, title="rounds the model staked in"),
        Column("payout_pct", "Percentile", "pct", title="mean per-round percentile rank of the payout score"),
        *(Column(m, m, "num", title=f"mean {m} over paid rounds ± 95 % HAC interval; ~0: not different from 0",
                 text=hac_cell(m) if f"{m}_ci" in board else None, css=_wrap_class) for m in PAGE_SCORES),
        *(Column(m, m, "num", more=True, title=f"mean {m}") for m in MORE_SCORES),
        Column("churn", "churn", "num", more=True, css=_limit_class(CHURN_LIMIT, "churn"),
               title=f"mean max churn (limit {CHURN_LIMIT:g})"),
        Column("turnover", "turnover", "num", more=True, css=_limit_class(TURNOVER_LIMIT, "turnover"),
               title=f"mean max turnover (limit {TURNOVER_LIMIT:g})"),
    ]
    paid = rounds_table(store)
    summary = (f"<p>{len(board)} model(s) scored over {len(paid)} paid round(s) "
               f"(policy <code>{esc(PayoutPolicy.of(store).name)}</code>). Means are over each model's paid rounds.</p>")
    body = _clock_facts(store, viewer) + summary + data_table(
        columns, _records(board), caption="Leaderboard", viewer=viewer, table_id="leaderboard", row_header=1,
        empty="no round has been paid yet.") + (HAC_NOTE if len(board) else "")
    unscored = sorted(set(storage.list_models(store)["name"]) - set(board["model"]))
    if unscored:
        links = ", ".join(f'<a href="{viewer.url("/models/" + m)}">{esc(m)}</a>' for m in unscored)
        body += f"<p>Not scored yet: {links}.</p>"
    return web.reply("Leaderboard", body, viewer, store=store)


def _cumulative_scores_figure(results: pd.DataFrame) -> go.Figure:
    figure = go.Figure()
    for metric in PAGE_SCORES:
        if metric in results and results[metric].notna().any():
            figure.add_trace(go.Scatter(x=results["round_date"], y=results[metric].fillna(0.0).cumsum(),
                                        mode="lines+markers", name=metric))
    figure.update_layout(yaxis_title="cumulative score", height=380)
    return figure


def _score_columns() -> list[Column]:
    return [*(Column(m, m, "num") for m in PAGE_SCORES), *(Column(m, m, "num", more=True) for m in MORE_SCORES)]


def model_page(web: Web, request: Request, name: str) -> HTMLResponse:
    """``/models/{name}``: the model's rounds, scores, stake and payouts; its submissions for
    its owner and operators."""
    viewer, store = web.viewer(request), web.store()
    models = storage.list_models(store).set_index("name")
    if name not in models.index:
        return web.error(viewer, 404, f"unknown model {name!r}", "Unknown model")
    owner = models.loc[name, "owner"]
    results = round_results(store, model=name)
    board = leaderboard(store)
    mine = board[board["model"] == name]
    history = stake_history(store)
    stake_now = float(stake_balances(store, LAST_DAY).get(name, 0.0))  # as the leaderboard: every event so far
    items = [("owner", fmt(owner)), ("created", fmt(models.loc[name, "created_at"], "date")),
             ("stake", fmt(stake_now, "money")), ("paid rounds submitted", fmt(int(results["submitted"].sum()), "int")),
             ("eligible rounds", fmt(int(results["eligible"].sum()), "int")),
             ("cumulative payout", fmt(results["payout"].sum() if len(results) else 0.0, "money"))]
    if len(mine):
        items.append(("leaderboard rank", f"{int(mine.index[0]) + 1} of {len(board)}"))
    body = facts(items)
    if len(mine):
        body += _mean_scores(mine.iloc[0].to_dict(), name, viewer)
    charts = False
    if len(results):
        ranks = percentiles(round_results(store))
        results = results.merge(ranks[ranks["model"] == name], on=["round_date", "model"], how="left")
        body += "<h2>Scores</h2>" + chart(_cumulative_scores_figure(results), f"Cumulative scores of {name} over paid rounds")
        charts = True
        columns = [
            Column("round_date", "Round", "date", href=_round_link("round_date")),
            Column("submitted", "Submitted", "bool", more=True), Column("eligible", "Eligible", "bool"),
            Column("reason", "Reason", css=_wrap_class, title="why the round is not eligible"),
            *_score_columns(),
            Column("payout_score_pct", "Percentile", "pct", title="percentile rank of the payout score in the round"),
            Column("corr_pct", "corr pct", "pct", more=True), Column("mmc_pct", "mmc pct", "pct", more=True),
            Column("churn", f"churn < {CHURN_LIMIT:g}", "num", css=_limit_class(CHURN_LIMIT, "churn"),
                   title=f"max churn against the previous submissions; eligible below the limit {CHURN_LIMIT:g}"),
            Column("turnover", f"turnover < {TURNOVER_LIMIT:g}", "num", title=f"limit {TURNOVER_LIMIT:g}",
                   css=_limit_class(TURNOVER_LIMIT, "turnover")),
            Column("neutral_churn", "neutral churn", "num", more=True),
            Column("stake", "Stake", "money", more=True), Column("at_risk", "At risk", "money", more=True),
            Column("payout_score", "Payout score", "num", more=True), Column("payout", "Payout", "money"),
        ]
        body += data_table(columns, _records(results), caption=f"Paid rounds of {name}", viewer=viewer,
                           table_id="model-rounds")
    else:
        body += "<p>No paid round yet.</p>"
    paid_days = set(rounds_table(store)["round_date"])
    waiting = round_scores(store, model=name)
    waiting = waiting[~waiting["round_date"].isin(paid_days) & waiting[list(PAGE_SCORES)].notna().any(axis=1)]
    if len(waiting):
        columns = [Column("round_date", "Round", "date", href=_round_link("round_date")), Column("window", "Window"),
                   Column("late", "Late", "bool"), *_score_columns()]
        body += "<h2>Scored, waiting for payout</h2>" + data_table(
            columns, _records(waiting), caption=f"Scores of {name} on windows that have ended", viewer=viewer,
            table_id="model-waiting")
    body += "<h2>Stake and payouts</h2>"
    if name in history and len(history):
        body += chart(stake_figure(history[[name]]), f"Stake of {name} after each ledger event")
        charts = True
    if len(results):
        body += chart(cumulative_payout_figure(results), f"Cumulative payout of {name} by round")
    body += _stake_events(store, name, viewer)
    body += _private_section(store, name, owner, viewer)
    return web.reply(f"Model {name}", body, viewer, charts=charts, store=store)


def _mean_scores(row: dict, name: str, viewer: Viewer) -> str:
    """The model's leaderboard means with their HAC intervals and t-statistics, one row per score."""
    rows = [{"metric": m, "mean": row.get(m), "interval": hac_cell(m)(row), "t": row.get(f"{m}_t"),
             "ns": bool(row.get(f"{m}_ns"))} for m in PAGE_SCORES if m in row]
    columns = [Column("metric", "Score"), Column("mean", "Mean ± 95 % interval", "num", text=lambda r: r["interval"]),
               Column("t", "HAC t", "num", text=lambda r: fmt(None if r["t"] is None or pd.isna(r["t"]) else f"{r['t']:.2f}")),
               Column("ns", "Different from 0", "bool", text=lambda r: "no (~0)" if r["ns"] else "yes")]
    return "<h2>Mean scores</h2>" + data_table(columns, rows, caption=f"Mean scores of {name} over paid rounds",
                                               viewer=viewer, table_id="model-means") + HAC_NOTE


def _stake_events(store: Store, name: str, viewer: Viewer) -> str:
    events = store.con.execute(
        "SELECT effective, kind, amount, round_date FROM stake_events WHERE model = ? AND "
        "(created_at IS NULL OR created_at <= ?) ORDER BY effective, kind", [name, store.now().to_pydatetime()],
    ).fetch_df()
    columns = [Column("effective", "Effective after", "date"), Column("kind", "Kind"),
               Column("amount", "Amount", "money"), Column("round_date", "Round", "date", href=_round_link("round_date"))]
    return data_table(columns, _records(events), caption=f"Stake ledger of {name}", viewer=viewer,
                      table_id="model-stakes", empty="no stake events.")


def _private_section(store: Store, name: str, owner: Optional[str], viewer: Viewer) -> str:
    if not viewer.may_see(owner):
        who = "Sign in as its owner" if viewer.user is None else "Only its owner and operators see them"
        link = f' (<a href="{viewer.url("/signin?next=/models/" + name)}">sign in</a>)' if viewer.user is None else ""
        return f'<h2>Submissions</h2><p class="empty">The model\'s submissions are private. {esc(who)}{link}.</p>'
    uploads = storage.list_submissions(store, name).sort_values(["date", "version"], ascending=False)
    columns = [Column("date", "Date", "date"), Column("version", "Version", "int"), Column("current", "Current", "bool"),
               Column("status", "Status"), Column("uploaded_at", "Uploaded", "time"), Column("deadline", "Deadline", "time"),
               Column("n_accepted", "Accepted", "int"), Column("n_dropped", "Dropped", "int"),
               Column("source", "File", more=True)]
    table = data_table(columns, _records(uploads), caption=f"Submissions of {name} (private)", viewer=viewer,
                       table_id="model-submissions", empty="no uploads yet.")
    upload = f'<p><a href="{viewer.url("/submit?model=" + name)}">Upload a signal file for {esc(name)}</a></p>'
    return (f'<section class="private" id="private" aria-labelledby="private-title"><h2 id="private-title">'
            f"Submissions (visible to you only)</h2>{upload}{table}</section>")


def rounds_page(web: Web, request: Request) -> HTMLResponse:
    """``/rounds``: the rounds that have opened, newest first, with their state."""
    viewer, store = web.viewer(request), web.store()
    now = store.now()
    paid = rounds_table(store).set_index("round_date")
    scored = scored_windows(store).groupby("round_date")["window"].agg(lambda w: ", ".join(sorted(w)))
    counts = store.con.execute(
        "SELECT date, count(DISTINCT model) AS n FROM submissions WHERE status IN ('on_time', 'late') GROUP BY date"
    ).fetch_df()
    counts = pd.Series(counts["n"].to_numpy(), index=pd.to_datetime(counts["date"]))
    rows = []
    for round_ in reversed(RoundCalendar.of(store).rounds(store)):
        day = round_.data_date
        rows.append({"round": day, "status": _state(round_.status(now), day in scored.index, day in paid.index),
                     "deadline": round_.deadline, "models": counts.get(day, 0), "scored": scored.get(day),
                     "payout_factor": paid["payout_factor"].get(day), "at_risk": paid["total_at_risk"].get(day)})
    rows = [r for r in rows if r["models"] or r["status"] != "closed"] or rows[:10]
    columns = [Column("round", "Round", "date", href=_round_link("round")), Column("status", "Status"),
               Column("deadline", "Deadline", "time"), Column("models", "Models", "int", title="models that uploaded"),
               Column("scored", "Windows scored"), Column("payout_factor", "Payout factor", "num"),
               Column("at_risk", "Stake at risk", "money")]
    body = data_table(columns, rows, caption="Rounds", viewer=viewer, table_id="rounds", empty="no round has opened.")
    return web.reply("Rounds", body, viewer, store=store)


def _state(status: str, scored: bool, paid: bool) -> str:
    if paid:
        return "paid"
    if scored:
        return "scored, waiting for payout"
    return status


def round_page(web: Web, request: Request, date: str) -> HTMLResponse:
    """``/rounds/{date}``: the round's status, deadline, payout factor and per-model results."""
    viewer, store = web.viewer(request), web.store()
    calendar = RoundCalendar.of(store)
    try:
        day = pd.Timestamp(date).normalize()
    except (ValueError, TypeError):
        return web.error(viewer, 404, f"not a date: {date!r} (use YYYY-MM-DD)", "Unknown round")
    opened = {r.data_date: r for r in calendar.rounds(store)}
    if day not in opened:
        return web.error(viewer, 404, f"no round dated {day.date()} has opened", "Unknown round")
    round_ = opened[day]
    paid = rounds_table(store)
    paid = paid[paid["round_date"] == day]
    windows = scored_windows(store, day)
    status = _state(round_.status(store.now()), len(windows) > 0, len(paid) > 0)
    items = [("status", status), ("opens", fmt(round_.opens, "time")), ("deadline", fmt(round_.deadline, "time")),
             ("windows scored", ", ".join(windows["window"]) or "none yet")]
    if len(paid):
        row = paid.iloc[0]
        items += [("payout factor", fmt(row["payout_factor"], "num")), ("policy", fmt(row["policy"])),
                  ("payout window", fmt(row["window"])), ("resolved on", fmt(row["resolution_date"], "date")),
                  ("stake at risk", fmt(row["total_at_risk"], "money")), ("models submitted", fmt(row["n_models"], "int"))]
    body = facts(items)
    if len(paid):
        results = round_results(store, day)
        ranks = percentiles(results)
        results = results.merge(ranks, on=["round_date", "model"], how="left").sort_values("payout", ascending=False)
        columns = [Column("model", "Model", href=_model_link), Column("submitted", "Submitted", "bool"),
                   Column("eligible", "Eligible", "bool"), Column("reason", "Why not eligible", more=True),
                   Column("late", "Late", "bool", more=True), *_score_columns(),
                   Column("payout_score_pct", "Percentile", "pct"),
                   Column("churn", "churn", "num", more=True, css=_limit_class(CHURN_LIMIT, "churn")),
                   Column("turnover", "turnover", "num", more=True, css=_limit_class(TURNOVER_LIMIT, "turnover")),
                   Column("stake", "Stake", "money"), Column("at_risk", "At risk", "money"),
                   Column("payout", "Payout", "money")]
        body += data_table(columns, _records(results), caption=f"Results of round {day.date()}", viewer=viewer,
                           table_id="round-results")
    elif len(windows):
        scores = round_scores(store, day)
        columns = [Column("model", "Model", href=_model_link), Column("window", "Window"),
                   Column("late", "Late", "bool"), *_score_columns()]
        body += "<p>Scored on the windows that have ended; the round pays when its payout window ends.</p>"
        body += data_table(columns, _records(scores), caption=f"Scores of round {day.date()}", viewer=viewer,
                           table_id="round-scores")
    else:
        body += "<p>Not scored yet: a round is scored when its first target window ends (about 22 trading days).</p>"
    return web.reply(f"Round {day.date()}", body, viewer, store=store)


def add_tournament_pages(app: FastAPI, web: Web) -> None:
    """Register the tournament pages on ``app``."""

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def _leaderboard(request: Request) -> HTMLResponse:
        return web.guarded(request, lambda: leaderboard_page(web, request))

    @app.get("/models/{name}", response_class=HTMLResponse, include_in_schema=False)
    def _model(request: Request, name: str) -> HTMLResponse:
        return web.guarded(request, lambda: model_page(web, request, name))

    @app.get("/rounds", response_class=HTMLResponse, include_in_schema=False)
    def _rounds(request: Request) -> HTMLResponse:
        return web.guarded(request, lambda: rounds_page(web, request))

    @app.get("/rounds/{date}", response_class=HTMLResponse, include_in_schema=False)
    def _round(request: Request, date: str) -> HTMLResponse:
        return web.guarded(request, lambda: round_page(web, request, date))

