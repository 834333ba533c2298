"""Sign-in, sign-out and the submission page.

- ``GET /signin`` shows a form for an API key; ``POST /signin`` checks the key with
  ``service.user`` and starts a web session (:mod:`metasignal.web.sessions`: the cookie holds
  a random session id, never the key), then redirects to ``next`` (a path on this server).
- ``POST /signout`` (the session's form token) ends the session and clears the cookie.
- ``GET /submit`` (signed in) shows an upload form for the user's models (an operator's: every
  model); ``POST /submit`` hands the file to the API's own upload route handler
  (``POST /models/{name}/submissions``) with the signed-in user: the same ownership check,
  validation, stamping, commit, receipt and audit as an API upload, and no second code path.
  Each rendered form carries a fresh ``Idempotency-Key``, so submitting the same form twice
  (a double click, a reload) answers the original receipt.
"""

from __future__ import annotations

import secrets
from typing import Any, Callable, Optional

from fastapi import FastAPI, File, Form, Request, Response, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.routing import APIRoute

from metasignal.errors import AuthenticationError, MetasignalError
from metasignal.signals import storage
from metasignal.web.context import SECURITY_HEADERS, Web
from metasignal.web.layout import Column, Viewer, data_table, esc, facts, fmt
from metasignal.web.sessions import COOKIE

__all__ = ["add_account_pages", "safe_next", "upload_handler"]

UPLOAD_PATH = "/models/{name}/submissions"


def safe_next(target: Optional[str]) -> str:
    """A redirect target on this server: a path starting with one ``/`` (else ``/``)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


def upload_handler(app: FastAPI) -> Callable[..., dict[str, Any]]:
    """The API's upload route handler (``POST /models/{name}/submissions``) of ``app``."""
    for route in app.routes:
        if isinstance(route, APIRoute) and route.path == UPLOAD_PATH and "POST" in route.methods:
            return route.endpoint
    raise RuntimeError(f"the app has no POST {UPLOAD_PATH} route: call install_web(app, ...) on create_app's app")


def _signin_form(viewer: Viewer, next_path: str, message: str = "") -> str:
    alert = f'<p class="error" role="alert">{esc(message)}</p>' if message else ""
    current = (f"<p>You are signed in as <strong>{esc(viewer.user.name)}</strong>; signing in again replaces it.</p>"
               if viewer.user else "")
    return (
        f"{alert}{current}<p>Sign in with your API key (<code>metasignal users create NAME</code> gives one). "
        "The key is checked once; your browser keeps only a random session id.</p>"
        f'<form method="post" action="{viewer.url("/signin")}" class="stack">'
        '<label for="key">API key<input type="password" id="key" name="key" autocomplete="off" required></label>'
        f'<input type="hidden" name="next" value="{esc(next_path)}">'
        '<button type="submit">Sign in</button></form>'
    )


def _models_of(web: Web, viewer: Viewer) -> list[str]:
    models = storage.list_models(web.store())
    if viewer.user is None:
        return []
    if not viewer.user.is_operator:
        models = models[models["owner"] == viewer.user.name]
    return list(models["name"])


def _submit_form(web: Web, viewer: Viewer, chosen: Optional[str]) -> str:
    models = _models_of(web, viewer)
    if not models:
        return ("<p>You own no model yet: create one with <code>POST /models</code> "
                "or <code>metasignal models create NAME --owner YOU</code>.</p>")
    options = "".join(f'<option value="{esc(m)}"{" selected" if m == chosen else ""}>{esc(m)}</option>' for m in models)
    return (
        f'<form method="post" action="{viewer.url("/submit")}" enctype="multipart/form-data" class="stack">'
        f'<label for="model">Model<select id="model" name="model" required>{options}</select></label>'
        '<label for="file">Signal file (CSV or Parquet)<input type="file" id="file" name="file" '
        'accept=".csv,.parquet,text/csv" required></label>'
        '<label for="date">Date (optional: the open round, or the file\'s date column)'
        '<input type="text" id="date" name="date" placeholder="YYYY-MM-DD" pattern="\\d{4}-\\d{2}-\\d{2}"></label>'
        '<label><span><input type="checkbox" name="backfill" value="true"> research history (backfill: '
        "never staked or paid)</span></label>"
        f'<input type="hidden" name="csrf" value="{esc(viewer.csrf)}">'
        f'<input type="hidden" name="idempotency" value="{secrets.token_urlsafe(24)}">'
        '<button type="submit">Upload</button></form>'
    )


def _open_round(web: Web) -> str:
    from metasignal.api import clock_body

    clock = clock_body(web.store())
    if clock["open_round"]:
        return (f"<p>The open round is <strong>{esc(clock['open_round']['round'])}</strong>, deadline "
                f"{esc(fmt(clock['open_round']['deadline'], 'time'))}.</p>")
    return f"<p>No round is open; the next opens {esc(fmt(clock['next_round']['opens'], 'time'))}.</p>"


def _receipt_html(receipt: dict[str, Any], viewer: Viewer, replayed: bool) -> str:
    columns = [Column("date", "Date", "date"), Column("version", "Version", "int"),
               Column("new_version", "New version", "bool"), Column("status", "Status"),
               Column("deadline", "Deadline", "time"), Column("queued_for", "Queued for", "date"),
               Column("n_accepted", "Accepted", "int"), Column("n_dropped", "Dropped", "int")]
    again = " (this form was sent before: the original receipt)" if replayed else ""
    warnings = "".join(f"<li>{esc(w)}</li>" for w in receipt.get("warnings", []))
    return (f'<p role="status">Stored for <a href="{viewer.url("/models/" + receipt["model"])}">'
            f"{esc(receipt['model'])}</a>{esc(again)}.</p>"
            + facts([("uploaded at", fmt(receipt["uploaded_at"], "time")), ("id column", receipt["id_column"]),
                     ("rows accepted", fmt(receipt["n_accepted"], "int")), ("rows dropped", fmt(receipt["n_dropped"], "int"))])
            + (f"<ul>{warnings}</ul>" if warnings else "")
            + data_table(columns, receipt["dates"], caption="Receipt", viewer=viewer, table_id="receipt", sortable=False))


def _error_html(error: MetasignalError) -> str:
    from metasignal.api import _error_body

    body = _error_body(error)
    details = [f"{key}: {body[key]}" for key in ("rule", "column") if body.get(key)]
    if body.get("lines"):
        details.append("lines: " + ", ".join(str(n) for n in body["lines"]))
    extra = f"<br>{esc('; '.join(details))}" if details else ""
    return f'<p class="error" role="alert">Not stored: {esc(body["error"])}{extra}</p>'


def add_account_pages(app: FastAPI, web: Web) -> None:
    """Register ``/signin``, ``/signout`` and ``/submit`` on ``app``."""
    upload = upload_handler(app)

    @app.get("/signin", response_class=HTMLResponse, include_in_schema=False)
    def signin_page(request: Request, next: Optional[str] = None) -> HTMLResponse:
        viewer = web.viewer(request)
        return web.reply("Sign in", _signin_form(viewer, safe_next(next)), viewer)

    @app.post("/signin", include_in_schema=False)
    def signin(request: Request, key: str = Form(""), next: str = Form("/")) -> Response:
        viewer = web.viewer(request)
        try:
            user = web.service.user(key)
        except AuthenticationError as error:
            return web.reply("Sign in", _signin_form(viewer, safe_next(next), str(error)), viewer, status=401)
        web.sessions.drop(request.cookies.get(COOKIE))
        session = web.sessions.create(user)
        response = RedirectResponse(viewer.root + safe_next(next), status_code=303, headers=SECURITY_HEADERS)
        response.set_cookie(COOKIE, session.id, max_age=int(web.sessions.ttl), path="/", httponly=True,
                            samesite="strict", secure=request.url.scheme == "https")
        return response

    @app.post("/signout", include_in_schema=False)
    def signout(request: Request, csrf: str = Form("")) -> Response:
        session = web.session_of(request)
        if session is not None and not session.form_token_ok(csrf):
            return web.error(web.viewer(request), 403, "this sign-out form is not from your session", "Sign out")
        web.sessions.drop(request.cookies.get(COOKIE))
        response = RedirectResponse(request.scope.get("root_path", "").rstrip("/") + "/", status_code=303,
                                    headers=SECURITY_HEADERS)
        response.delete_cookie(COOKIE, path="/", httponly=True, samesite="strict")
        return response

    @app.get("/submit", include_in_schema=False)
    def submit_page(request: Request, model: Optional[str] = None) -> Response:
        viewer = web.viewer(request)
        if viewer.user is None:
            return RedirectResponse(viewer.root + "/signin?next=/submit", status_code=303, headers=SECURITY_HEADERS)
        return web.guarded(request, lambda: web.reply(
            "Submit a signal", _open_round(web) + _submit_form(web, viewer, model), viewer, store=web.store()))

    @app.post("/submit", include_in_schema=False)
    def submit(request: Request, file: UploadFile = File(...), model: str = Form(...), date: str = Form(""),
               backfill: str = Form(""), csrf: str = Form(""), idempotency: str = Form("")) -> Response:
        session = web.session_of(request)
        viewer = web.viewer(request)
        if session is None:
            return web.error(viewer, 401, "sign in to upload", "Submit a signal")
        if not session.form_token_ok(csrf):
            return web.error(viewer, 403, "this upload form is not from your session: reload the page", "Submit a signal")
        response = Response()
        try:
            receipt = upload(name=model, request=request, response=response, file=file, date=date or None,
                             backfill_field=backfill or None, backfill_query=None,
                             idempotency_key=idempotency or None, user=session.user)
        except MetasignalError as error:
            from metasignal.api import _status

            body = _error_html(error) + _open_round(web) + _submit_form(web, viewer, model)
            return web.reply("Submit a signal", body, viewer, status=_status(error), store=web.store())
        replayed = response.headers.get("Idempotent-Replayed") == "true"
        body = _receipt_html(receipt, viewer, replayed) + "<h2>Upload another</h2>" + _submit_form(web, viewer, model)
        return web.reply("Submission received", body, viewer, store=web.store())
