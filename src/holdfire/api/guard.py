"""Hostile load at the HTTP edge, per source address (`AddressBook`, as for CoT).

- Open connections per address are capped when a connection is accepted, before a byte of it
  is read: over the cap it is answered 429 (the shared JSON error, `Retry-After`) and closed.
  A WebSocket stream keeps counting as its connection until it closes.
- Requests per address are rate-limited (token bucket): over the rate, 429 with `Retry-After`
  (a WebSocket upgrade over the rate is refused with close code 1013, "try again later").
- uvicorn reads headers without a time limit of its own (its keep-alive timer stops at the
  first byte), so the protocol here closes a connection whose request headers are not complete
  `header_timeout_s` after it opened or after the request's first byte, and one whose body is
  not complete `body_timeout_s` after its headers (slowloris, slow POST).

Every refusal is counted (`ApiContext.counters`, `refused-<reason>`) and logged at most once
per address per minute. Behind a reverse proxy every client has the proxy's address: raise the
limits there, or let the proxy enforce them.
"""

import asyncio
import json
import logging
import math
from dataclasses import dataclass
from typing import Any, cast

from starlette.types import ASGIApp, Receive, Scope, Send
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.protocols.websockets.auto import AutoWebSocketsProtocol

from holdfire.adapters.net.admission import AddressBook
from holdfire.api.limits import send_error

log = logging.getLogger("holdfire.api")


@dataclass(frozen=True, slots=True)
class HttpLimits:
    """Per source address; 0 turns a limit off."""

    max_per_address: int = 64  # connections open at once, streams included
    requests_per_s: float = 50.0  # after a burst of 10 s of it
    keep_alive_s: int = 30  # an idle keep-alive connection is closed after this
    header_timeout_s: float = 10.0
    body_timeout_s: float = 30.0
    log_every_s: float = 60.0


class HttpGuard:
    """The HTTP listener's address book: open connections and request budgets."""

    def __init__(self, limits: HttpLimits | None = None) -> None:
        self.limits = limits or HttpLimits()
        self.book = AddressBook(
            "http",
            max_open=self.limits.max_per_address,
            connects_per_s=0.0,  # a browser opens connections as it likes; requests count
            connect_burst=1.0,
            log=log,
            log_every_s=self.limits.log_every_s,
        )
        self._open: dict[int, str] = {}  # id(transport) -> address, while it counts
        self._pruned = self.book.clock()

    def opened(self, transport: asyncio.BaseTransport, host: str) -> bool:
        if self.book.admit(host) is not None:
            return False
        self._open[id(transport)] = host
        return True

    def closed(self, transport: asyncio.BaseTransport) -> None:
        host = self._open.pop(id(transport), None)
        if host is not None:
            self.book.release(host)
            now = self.book.clock()
            if now - self._pruned > 10.0:  # now and then: a walk over every address
                self._pruned = now
                self.book.prune()

    def request_wait(self, host: str) -> float:
        """0.0 if `host` may make a request now (one is taken), else the seconds to wait."""
        rate = self.limits.requests_per_s
        if not rate:
            return 0.0
        bucket = self.book.bucket(host, "requests", rate, 10 * rate)
        now = self.book.clock()
        if bucket.take(now):
            return 0.0
        self.book.refuse(host, "request-rate")
        return bucket.wait_s(now)


def _error_bytes(status: int, reason: str, message: str, retry_after: int | None) -> bytes:
    """A whole HTTP/1.1 error answer with the shared JSON body, and `Connection: close`."""
    body = json.dumps({"error": message, "field": None}).encode()
    head = [
        f"HTTP/1.1 {status} {reason}",
        "content-type: application/json",
        f"content-length: {len(body)}",
        "connection: close",
    ]
    if retry_after is not None:
        head.append(f"retry-after: {retry_after}")
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


def guarded_protocols(guard: HttpGuard) -> tuple[type[asyncio.Protocol], type[asyncio.Protocol]]:
    """uvicorn protocol classes (HTTP, WebSocket) that keep `guard`'s books and time-outs."""
    limits = guard.limits

    class GuardedHttp(HttpToolsProtocol):
        _timer: asyncio.TimerHandle | None = None

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            host = self.client[0] if self.client else "?"
            if not guard.opened(transport, host):
                message = "too many connections from this address; try again later"
                transport.write(_error_bytes(429, "Too Many Requests", message, 1))
                transport.close()
                return
            self._arm(limits.header_timeout_s, "slow-headers")

        def _arm(self, seconds: float, reason: str) -> None:
            self._disarm()
            if seconds:
                self._timer = self.loop.call_later(seconds, self._too_slow, reason)

        def _disarm(self) -> None:
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None

        def _too_slow(self, reason: str) -> None:
            self._timer = None
            if self.transport.is_closing():
                return
            guard.book.refuse(self.client[0] if self.client else "?", reason)
            if self.cycle is None or self.cycle.response_complete:
                message = "request not received in time"
                self.transport.write(_error_bytes(408, "Request Timeout", message, None))
            self.transport.close()

        def on_message_begin(self) -> None:
            super().on_message_begin()
            if self._timer is None:
                self._arm(limits.header_timeout_s, "slow-headers")

        def on_headers_complete(self) -> None:
            self._disarm()
            super().on_headers_complete()
            if self._has_body():
                self._arm(limits.body_timeout_s, "slow-body")

        def _has_body(self) -> bool:
            for name, value in self.headers:
                if name == b"transfer-encoding" and b"chunked" in value.lower():
                    return True
                if name == b"content-length" and value.strip() not in (b"", b"0"):
                    return True
            return False

        def on_message_complete(self) -> None:
            self._disarm()
            super().on_message_complete()

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm()
            guard.closed(self.transport)
            super().connection_lost(exc)

    base = cast(type[asyncio.Protocol], AutoWebSocketsProtocol)

    def ws_lost(self: Any, exc: Exception | None) -> None:
        guard.closed(self.transport)
        base.connection_lost(self, exc)

    guarded_ws = type("GuardedWebSocket", (base,), {"connection_lost": ws_lost})
    return GuardedHttp, guarded_ws


class RequestRate:
    """ASGI middleware: each request (and WebSocket upgrade) spends one of its address's
    tokens; none left is 429 with `Retry-After`."""

    def __init__(self, app: ASGIApp, guard: HttpGuard) -> None:
        self.app = app
        self.guard = guard

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        client = scope.get("client")
        wait = self.guard.request_wait(client[0] if client else "?")
        if wait <= 0.0:
            await self.app(scope, receive, send)
            return
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1013})
            return
        retry = str(max(1, math.ceil(wait))).encode()
        message = "too many requests from this address; try again later"
        await send_error(send, 429, message, None, [(b"retry-after", retry)])
