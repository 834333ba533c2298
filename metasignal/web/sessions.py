"""Web sign-in sessions: a random id in a cookie, the user in the server's memory.

Signing in posts an API key once; the server checks it (``UploadService.user``: the same
scrypt check as the API's Bearer keys) and keeps ``session id -> (user, form token, expiry)``
in memory. The cookie holds only the session id (32 random bytes, URL-safe): never the key,
and nothing a copy of the store or a log could turn back into one. It is ``HttpOnly`` (no
script reads it), ``SameSite=Strict`` (no other site's page sends it), ``Path=/`` and
``Secure`` when the request came over HTTPS. Each session also has a form token that every
POST form carries (``csrf``), checked in constant time, as a second guard beside SameSite.

Sessions end at sign-out, after ``ttl`` (12 hours) and when the server restarts; at most
``max_sessions`` are kept (the oldest go first).
"""

from __future__ import annotations

import hmac
import secrets
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Optional

from metasignal.signals.accounts import User

__all__ = ["COOKIE", "WebSession", "WebSessions"]

COOKIE = "metasignal_session"
DEFAULT_TTL = 12 * 3600.0  # seconds
DEFAULT_MAX_SESSIONS = 10_000


@dataclass(frozen=True)
class WebSession:
    """One signed-in browser: its id (the cookie), user, form token and expiry (monotonic s)."""

    id: str
    user: User
    csrf: str
    expires: float

    def form_token_ok(self, token: Optional[str]) -> bool:
        """Whether ``token`` (a POST form's ``csrf`` field) is this session's form token."""
        return token is not None and hmac.compare_digest(token.encode(), self.csrf.encode())


class WebSessions:
    """The server's signed-in sessions (thread-safe; in memory only)."""

    def __init__(self, ttl: float = DEFAULT_TTL, max_sessions: int = DEFAULT_MAX_SESSIONS):
        self.ttl = ttl
        self.max_sessions = max_sessions
        self._sessions: OrderedDict[str, WebSession] = OrderedDict()
        self._lock = threading.Lock()

    def create(self, user: User) -> WebSession:
        """A new session for ``user`` (whose key the caller has checked)."""
        session = WebSession(secrets.token_urlsafe(32), user, secrets.token_urlsafe(24), time.monotonic() + self.ttl)
        with self._lock:
            self._sessions[session.id] = session
            while len(self._sessions) > self.max_sessions:
                self._sessions.popitem(last=False)
        return session

    def get(self, session_id: Optional[str]) -> Optional[WebSession]:
        """The live session of cookie value ``session_id`` (None: none, unknown or expired)."""
        if not session_id:
            return None
        with self._lock:
            session = self._sessions.get(session_id)
            if session is not None and session.expires <= time.monotonic():
                del self._sessions[session_id]
                session = None
        return session

    def drop(self, session_id: Optional[str]) -> None:
        """End the session of ``session_id`` (nothing when there is none)."""
        with self._lock:
            self._sessions.pop(session_id or "", None)

    def __len__(self) -> int:
        with self._lock:
            return len(self._sessions)
