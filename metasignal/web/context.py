"""What every page handler shares: the upload service, the sign-in sessions and the replies.

Pages read the store through ``service.session()`` (this thread's connection), like the API
routes. Replies are HTML with security headers: a Content-Security-Policy that allows only
the server itself (so no page can load anything from elsewhere), ``no-store`` caching (pages
may hold a participant's private rows), no framing, no MIME sniffing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Optional

from fastapi import Request
from fastapi.responses import HTMLResponse

from metasignal.data.store import Store
from metasignal.errors import MetasignalError
from metasignal.web.layout import Viewer, esc, page
from metasignal.web.sessions import COOKIE, WebSession, WebSessions

__all__ = ["SECURITY_HEADERS", "Web"]

# plotly.js evaluates generated code and figures draw from inline scripts: 'unsafe-eval' and
# 'unsafe-inline' for scripts, but only from this server ('self')
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self' 'unsafe-inline' 'unsafe-eval'; style-src 'self' 'unsafe-inline'; "
        "img-src 'self' data: blob:; font-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; "
        "form-action 'self'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


@dataclass
class Web:
    """The pages' shared state: the app's :class:`~metasignal.api.UploadService` and the
    in-memory sign-in sessions."""

    service: Any  # metasignal.api.UploadService (not imported: the API module imports nothing of this)
    sessions: WebSessions = field(default_factory=WebSessions)

    def store(self) -> Store:
        """This request thread's store session (``UploadService.session``)."""
        return self.service.session()

    def session_of(self, request: Request) -> Optional[WebSession]:
        """The signed-in session of the request's cookie, if any."""
        return self.sessions.get(request.cookies.get(COOKIE))

    def viewer(self, request: Request) -> Viewer:
        """Who reads this request's page."""
        session = self.session_of(request)
        root = request.scope.get("root_path", "").rstrip("/")
        if session is None:
            return Viewer(root=root)
        return Viewer(user=session.user, csrf=session.csrf, root=root)

    def reply(self, title: str, body: str, viewer: Viewer, *, status: int = 200, charts: bool = False,
              store: Optional[Store] = None) -> HTMLResponse:
        """The page as an HTML response with the security headers (footer: the store clock)."""
        note = ""
        if store is not None:
            note = (f"Store clock: {store.clock().mode}, {store.now():%Y-%m-%d %H:%M} UTC; "
                    f"last trading day {self.service.last_trading_day or 'none'}.")
        return HTMLResponse(page(title, body, viewer, charts=charts, note=note), status_code=status,
                            headers=SECURITY_HEADERS)

    def error(self, viewer: Viewer, status: int, message: str, title: str = "Not available") -> HTMLResponse:
        """An error page: ``message`` (escaped) with ``status``."""
        body = f'<p class="error" role="alert">{esc(message)}</p><p><a href="{viewer.url("/")}">Back to the leaderboard</a></p>'
        return self.reply(title, body, viewer, status=status)

    def guarded(self, request: Request, build: Callable[[], HTMLResponse]) -> HTMLResponse:
        """``build()``, or an error page for an engine error (with the API's status for it)."""
        from metasignal.api import _status

        try:
            return build()
        except MetasignalError as error:
            return self.error(self.viewer(request), _status(error), str(error), "Something is missing")
