"""The web pages of the tournament and the fund, served by the upload API's own app.

``install_web(app, service)`` adds to a :func:`metasignal.api.create_app` app (pages are
server-rendered HTML; every asset comes from the server, nothing from a CDN):

- ``GET /``: the leaderboard (sortable columns; rank, stake, payouts, percentile, mean scores)
- ``GET /models/{name}``: per-round scores, percentile ranks, eligibility with churn and
  turnover against their limits, cumulative score chart, stake and payout history; the
  model's submissions only for its signed-in owner and operators
- ``GET /rounds`` and ``GET /rounds/{date}``: status, deadline, payout factor, per-model results
- ``GET /fund``: the stored books, their held returns and drawdowns, the last executions
- ``GET/POST /signin``, ``POST /signout``: web sessions (:mod:`metasignal.web.sessions`)
- ``GET/POST /submit``: an upload form for signed-in users, handled by the API's upload route
- ``GET /static/web.css``, ``/static/web.js``, ``/static/plotly.min.js``

Pages read through ``service.session()`` (each request thread's own store connection), like
the API routes. See docs/web.md.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import Response

from metasignal.web.account_pages import add_account_pages
from metasignal.web.assets import CSS, JS, plotly_js
from metasignal.web.context import Web
from metasignal.web.fund_page import add_fund_page
from metasignal.web.sessions import WebSessions
from metasignal.web.tournament_pages import add_tournament_pages

__all__ = ["install_web"]

STATIC_CACHE = "public, max-age=3600"


def install_web(app: FastAPI, service: Any, *, sessions: WebSessions | None = None) -> Web:
    """Add the web pages to ``app`` (made by ``create_app``; ``service`` is its
    ``app.state.service``). Installing twice changes nothing. Returns the pages' shared state
    (also ``app.state.web``)."""
    if getattr(app.state, "web", None) is not None:
        return app.state.web
    web = Web(service, sessions or WebSessions())
    app.state.web = web
    _add_static(app)
    add_tournament_pages(app, web)
    add_fund_page(app, web)
    add_account_pages(app, web)
    return web


def _add_static(app: FastAPI) -> None:
    """``/static/web.css``, ``/static/web.js`` and ``/static/plotly.min.js`` (ETag, an hour's cache)."""

    def asset(content: bytes, media_type: str, etag: str):
        def serve(request: Request) -> Response:
            headers = {"ETag": etag, "Cache-Control": STATIC_CACHE, "X-Content-Type-Options": "nosniff"}
            if request.headers.get("if-none-match") == etag:
                return Response(status_code=304, headers=headers)
            return Response(content, media_type=media_type, headers=headers)
        return serve

    import hashlib

    for name, text, media_type in (("web.css", CSS, "text/css"), ("web.js", JS, "text/javascript")):
        data = text.encode("utf-8")
        etag = '"' + hashlib.sha256(data).hexdigest()[:32] + '"'
        app.add_api_route(f"/static/{name}", asset(data, f"{media_type}; charset=utf-8", etag), methods=["GET"],
                          include_in_schema=False)

    def plotly_asset(request: Request) -> Response:
        data, etag = plotly_js()
        return asset(data, "text/javascript; charset=utf-8", etag)(request)

    app.add_api_route("/static/plotly.min.js", plotly_asset, methods=["GET"], include_in_schema=False)
