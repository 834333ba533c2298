"""``/fund``: what the store holds about the fund's books, and nothing it does not.

The page never computes a book (an optimizer solve per page view would be slow and would not
be the fund's record). It shows:

- the **latest stored book** (``portfolio_weights`` / ``portfolio_runs``: written by the fund
  job at each round's deadline, ``metasignal fund job on``, or by ``metasignal portfolio``):
  its summary, net weight by sector and country, largest longs and shorts;
- the **stored books over time**: gross, net, predicted volatility, turnover, names long and
  short, and the largest absolute sector and country net of each book (one line each);
- the **held books' returns**: each stored book held from the next trading day until the next
  book, weights times the names' daily returns, before costs and without the per-market
  execution lag. An indication, labelled as such; its drawdowns and the largest of them;
- the **executions** of the last round the fund job booked (``fund_executions``).

The walk-forward backtest (``metasignal backtest --out DIR``) writes files, not the store, so
it is not shown here; the page says so.
"""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse
from plotly.subplots import make_subplots

from metasignal.backtest import metrics as perf
from metasignal.backtest.attribution import drawdown_table
from metasignal.backtest.fund_job import fund_executions
from metasignal.data.store import Store
from metasignal.portfolio import book
from metasignal.web.context import Web
from metasignal.web.layout import Column, Viewer, chart, data_table, esc, facts, fmt

__all__ = ["add_fund_page", "held_returns", "stored_books"]

TOP_NAMES = 10
TOP_DRAWDOWNS = 5


def stored_books(store: Store) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(runs, weights) of the books stored on or before the store's horizon: ``portfolio_runs``
    rows by date, and the long ``date, ticker, weight`` rows."""
    book.ensure_tables(store)
    horizon = store.visible_through().date()
    runs = store.con.execute("SELECT * FROM portfolio_runs WHERE date <= ? ORDER BY date", [horizon]).fetch_df()
    weights = store.con.execute("SELECT date, ticker, weight FROM portfolio_weights WHERE date <= ? ORDER BY date",
                                [horizon]).fetch_df()
    for frame in (runs, weights):
        frame["date"] = pd.to_datetime(frame["date"])
    return runs, weights


def held_returns(store: Store, weights: pd.DataFrame) -> pd.Series:
    """Daily return of the stored books held in turn: each book (``date, ticker, weight``) from
    the trading day after its date through the next book's date (the last one through the
    store's horizon), as sum(weight x return); before costs, no execution lag."""
    if weights.empty:
        return pd.Series(dtype=float, name="return")
    dates = sorted(weights["date"].unique())
    days = store.trading_days(start=dates[0])
    tickers = sorted(weights["ticker"].unique())
    returns = store.returns(start=days[0], tickers=tickers).reindex(columns=tickers).fillna(0.0)
    wide = weights.pivot_table(index="date", columns="ticker", values="weight", aggfunc="sum")
    wide = wide.reindex(columns=tickers).fillna(0.0)
    held = wide.reindex(returns.index).shift(1).ffill()  # the book of day d earns from day d + 1
    daily = (held * returns).sum(axis=1)[held.notna().any(axis=1)]
    return daily.rename("return")


def _group_net(latest: pd.Series, securities: pd.DataFrame, group: str) -> pd.DataFrame:
    groups = securities[group].reindex(latest.index).fillna("unknown")
    frame = pd.DataFrame({"weight": latest, group: groups})
    out = frame.groupby(group)["weight"].agg(
        net="sum", long=lambda w: w[w > 0].sum(), short=lambda w: w[w < 0].sum(), names="count")
    return out.reindex(out["net"].abs().sort_values(ascending=False).index).reset_index()


def _books_figure(runs: pd.DataFrame, widest: pd.DataFrame) -> go.Figure:
    figure = make_subplots(rows=3, cols=1, shared_xaxes=True, vertical_spacing=0.08,
                           subplot_titles=("gross, net and turnover (fractions of capital)",
                                           "largest |net| by sector and by country", "names long and short"))
    for column, label in (("gross", "gross"), ("net", "net"), ("turnover", "turnover")):
        figure.add_trace(go.Scatter(x=runs["date"], y=runs[column], mode="lines+markers", name=label), 1, 1)
    for column in ("sector", "country"):
        figure.add_trace(go.Scatter(x=widest.index, y=widest[column], mode="lines+markers",
                                    name=f"max |{column} net|"), 2, 1)
    figure.add_trace(go.Scatter(x=runs["date"], y=runs["n_long"], mode="lines+markers", name="long names"), 3, 1)
    figure.add_trace(go.Scatter(x=runs["date"], y=runs["n_short"], mode="lines+markers", name="short names"), 3, 1)
    figure.update_yaxes(exponentformat="e", row=2, col=1)  # tiny values as 1e-12, not 1p
    figure.update_layout(height=720)
    return figure


def _returns_figure(returns: pd.Series) -> go.Figure:
    figure = make_subplots(rows=2, cols=1, shared_xaxes=True, row_heights=[0.65, 0.35], vertical_spacing=0.06)
    wealth = (1.0 + returns).cumprod()
    figure.add_trace(go.Scatter(x=wealth.index, y=wealth, name="growth of 1 (before costs)"), 1, 1)
    drawdown = perf.drawdown_series(returns)
    figure.add_trace(go.Scatter(x=drawdown.index, y=drawdown, name="drawdown", fill="tozeroy"), 2, 1)
    figure.update_yaxes(tickformat=".1%", row=2, col=1)
    figure.update_layout(height=480)
    return figure


def fund_page(web: Web, request: Request) -> HTMLResponse:
    """``/fund``: the stored books, their held returns and the last executions."""
    viewer, store = web.viewer(request), web.store()
    runs, weights = stored_books(store)
    intro = ('<p class="note">This page shows what the store holds: the books the fund job stored at each '
             "round's deadline (<code>metasignal fund job on</code>) or <code>metasignal portfolio</code> wrote. "
             "It computes no book. The walk-forward backtest (<code>metasignal backtest --out DIR</code>) is "
             "written to files, not to the store, so it is not shown here.</p>")
    if runs.empty:
        body = intro + "<p>No book is stored yet: run <code>metasignal portfolio</code> or turn the fund job on.</p>"
        return web.reply("Fund", body, viewer, store=store)
    body = intro + _latest_section(store, runs, weights, viewer)
    securities = store.securities(include_future=True)
    widest = pd.DataFrame({
        group: weights.assign(g=weights["ticker"].map(securities[group])).groupby(["date", "g"])["weight"].sum()
        .abs().groupby("date").max() for group in ("sector", "country")})
    body += "<h2>Stored books over time</h2>" + chart(_books_figure(runs, widest), "The fund's stored books over time")
    columns = [Column("date", "Book", "date"), Column("status", "Status"), Column("gross", "Gross", "num"),
               Column("net", "Net", "num"), Column("n_long", "Long", "int"), Column("n_short", "Short", "int"),
               Column("predicted_volatility", "Predicted vol (daily)", "num"), Column("turnover", "Turnover", "num"),
               Column("fallback", "Fallback", more=True)]
    body += data_table(columns, runs.sort_values("date", ascending=False).to_dict("records"),
                       caption="Stored books", viewer=viewer, table_id="fund-books")
    body += _returns_section(store, weights, viewer)
    body += _executions_section(store, viewer)
    return web.reply("Fund", body, viewer, charts=True, store=store)


def _latest_section(store: Store, runs: pd.DataFrame, weights: pd.DataFrame, viewer: Viewer) -> str:
    last = runs.iloc[-1]
    held = weights[weights["date"] == last["date"]].set_index("ticker")["weight"]
    securities = store.securities(include_future=True)
    items = [("book of", fmt(last["date"], "date")), ("status", fmt(last["status"])),
             ("gross", fmt(last["gross"], "num")), ("net", fmt(last["net"], "num")),
             ("names long / short", f"{fmt(last['n_long'], 'int')} / {fmt(last['n_short'], 'int')}"),
             ("predicted volatility (daily)", fmt(last["predicted_volatility"], "num")),
             ("turnover", fmt(last["turnover"], "num"))]
    html = f"<h2>Latest stored book ({esc(fmt(last['date'], 'date'))})</h2>" + facts(items)
    group_columns = lambda group: [Column(group, group.capitalize()), Column("net", "Net", "num"),  # noqa: E731
                                   Column("long", "Long", "num"), Column("short", "Short", "num"),
                                   Column("names", "Names", "int")]
    for group in ("sector", "country"):
        html += data_table(group_columns(group), _group_net(held, securities, group).to_dict("records"),
                           caption=f"Net weight by {group}", viewer=viewer, table_id=f"fund-{group}")
    names = pd.DataFrame({"ticker": held.index, "weight": held.to_numpy(),
                          "name": securities["name"].reindex(held.index).to_numpy(),
                          "sector": securities["sector"].reindex(held.index).to_numpy()})
    columns = [Column("ticker", "Ticker"), Column("name", "Name"), Column("sector", "Sector", more=True),
               Column("weight", "Weight", "num")]
    for label, part in (("Largest longs", names.nlargest(TOP_NAMES, "weight")),
                        ("Largest shorts", names.nsmallest(TOP_NAMES, "weight"))):
        html += data_table(columns, part.to_dict("records"), caption=label, viewer=viewer,
                           table_id="fund-" + label.split()[-1])
    return html


def _returns_section(store: Store, weights: pd.DataFrame, viewer: Viewer) -> str:
    returns = held_returns(store, weights)
    html = ("<h2>Returns of the stored books, held in turn</h2><p>Each book held from the trading day after its "
            "date until the next book: weights &times; the names' daily returns, <strong>before costs and "
            "without the per-market execution lag</strong>. An indication, not the fund's backtest.</p>")
    if len(returns) < 2:
        return html + "<p>Not enough days after the first stored book yet.</p>"
    html += facts([("days", fmt(len(returns), "int")), ("total return", fmt(perf.total_return(returns), "pct")),
                   ("annualized volatility", fmt(perf.annualized_volatility(returns), "pct")),
                   ("max drawdown", fmt(perf.max_drawdown(returns), "pct"))])
    html += chart(_returns_figure(returns), "Growth and drawdown of the stored books, before costs")
    columns = [Column("peak", "Peak", "date"), Column("trough", "Trough", "date"), Column("recovery", "Recovered", "date"),
               Column("depth", "Depth", "pct"), Column("days", "Days to trough", "int"),
               Column("days_to_recover", "Days to recover", "int")]
    return html + data_table(columns, drawdown_table(returns, TOP_DRAWDOWNS).to_dict("records"), caption="Largest drawdowns",
                             viewer=viewer, table_id="fund-drawdowns", empty="no drawdown.")


def _executions_section(store: Store, viewer: Viewer) -> str:
    executions = fund_executions(store)
    if executions.empty:
        return "<h2>Executions</h2><p>The fund job has recorded no executions (it records them at round deadlines).</p>"
    last = executions["round_date"].max()
    mine = executions[executions["round_date"] == last]
    summary = mine.groupby("execution_date").agg(names=("ticker", "count"), traded=("trade", lambda t: t.abs().sum()),
                                                  countries=("country", "nunique")).reset_index()
    columns = [Column("execution_date", "Trades on", "date"), Column("names", "Names", "int"),
               Column("countries", "Countries", "int"), Column("traded", "Sum |trade|", "num")]
    return (f"<h2>Executions of round {esc(fmt(last, 'date'))}</h2>"
            + data_table(columns, summary.to_dict("records"), caption="When each market trades the last booked round",
                         viewer=viewer, table_id="fund-executions"))


def add_fund_page(app: FastAPI, web: Web) -> None:
    """Register ``/fund`` on ``app``."""
    @app.get("/fund", response_class=HTMLResponse, include_in_schema=False)
    def _fund(request: Request) -> HTMLResponse:
        return web.guarded(request, lambda: fund_page(web, request))
