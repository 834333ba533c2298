"""Limits that keep one slow or oversized client from holding the upload server.

- :class:`BodyLimit` (ASGI middleware): a request body may hold at most ``max_bytes``: refused
  (413) from ``Content-Length`` before a byte is read, and counted while streaming, so a chunked
  body is cut off at the limit instead of being written to disk in full. A body must arrive
  within ``body_timeout`` seconds in all and never stall more than ``idle_timeout`` seconds
  between chunks (408 otherwise).
- :class:`HeaderTimeoutH11Protocol` (uvicorn protocol): a connection that has not finished
  sending a request's headers within ``header_timeout`` seconds is closed (uvicorn by itself
  waits for ever). Header size is bounded by uvicorn's ``h11_max_incomplete_event_size``.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any, Awaitable, Callable

from uvicorn.protocols.http.h11_impl import H11Protocol

Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

DEFAULT_BODY_TIMEOUT = 120.0  # seconds for a whole body
DEFAULT_IDLE_TIMEOUT = 15.0  # seconds between two chunks of a body
DEFAULT_HEADER_TIMEOUT = 10.0  # seconds to send a request's headers


class BodyLimit:
    """ASGI middleware bounding the size and the arrival time of request bodies."""

    def __init__(self, app, *, max_bytes: int, body_timeout: float = DEFAULT_BODY_TIMEOUT,
                 idle_timeout: float = DEFAULT_IDLE_TIMEOUT):
        self.app = app
        self.max_bytes = max_bytes
        self.body_timeout = body_timeout
        self.idle_timeout = idle_timeout

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = dict(scope.get("headers") or []).get(b"content-length", b"")
        if length.isdigit() and int(length) > self.max_bytes:
            await _reply(send, 413, self._too_large(f"{int(length):,} bytes"), rule="file_too_large")
            return
        refusal: dict[str, Any] = {}
        received = 0
        started = time.monotonic()

        async def limited_receive() -> Message:
            nonlocal received
            if refusal:
                return {"type": "http.disconnect"}
            left = self.body_timeout - (time.monotonic() - started)
            try:
                message = await asyncio.wait_for(receive(), timeout=max(0.0, min(self.idle_timeout, left)))
            except asyncio.TimeoutError:
                waited = "in all" if left <= self.idle_timeout else "between two chunks"
                limit = self.body_timeout if left <= self.idle_timeout else self.idle_timeout
                refusal.update(status=408, rule="body_timeout",
                               error=f"the request body did not arrive in time (over {limit:g} s {waited}; "
                                     "rule: send the body without pauses)")
                return {"type": "http.disconnect"}
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    refusal.update(status=413, rule="file_too_large", error=self._too_large(f"over {self.max_bytes:,} bytes"))
                    return {"type": "http.disconnect"}
            return message

        replied = False

        async def guarded_send(message: Message) -> None:
            nonlocal replied
            if refusal:  # the app answers a body it could not read: answer the refusal instead
                if not replied:
                    replied = True
                    await _reply(send, refusal["status"], refusal["error"], rule=refusal["rule"])
                return
            await send(message)

        await self.app(scope, limited_receive, guarded_send)
        if refusal and not replied:
            await _reply(send, refusal["status"], refusal["error"], rule=refusal["rule"])

    def _too_large(self, size: str) -> str:
        return f"upload is {size}, over the size limit of {self.max_bytes:,} bytes (rule: max file size)"


async def _reply(send: Send, status: int, error: str, *, rule: str) -> None:
    body = json.dumps({"error": error, "rule": rule, "column": None, "lines": []}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": body})


class HeaderTimeoutH11Protocol(H11Protocol):
    """uvicorn's h11 protocol that closes a connection whose request headers are not complete
    within :attr:`header_timeout` seconds of its first byte (or of the connection)."""

    header_timeout: float = DEFAULT_HEADER_TIMEOUT

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._header_timer: asyncio.TimerHandle | None = None
        self._arm_header_timer()

    def data_received(self, data: bytes) -> None:
        if self._header_timer is None and self._between_requests():
            self._arm_header_timer()
        super().data_received(data)
        if not self._between_requests():
            self._disarm_header_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm_header_timer()
        super().connection_lost(exc)

    def _between_requests(self) -> bool:
        return self.cycle is None or self.cycle.response_complete

    def _arm_header_timer(self) -> None:
        self._header_timer = self.loop.call_later(self.header_timeout, self._header_timed_out)

    def _disarm_header_timer(self) -> None:
        if getattr(self, "_header_timer", None) is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _header_timed_out(self) -> None:
        self._header_timer = None
        if self._between_requests() and not self.transport.is_closing():
            self.logger.warning("closed a connection that sent no complete request headers in %g s", self.header_timeout)
            self.transport.close()
