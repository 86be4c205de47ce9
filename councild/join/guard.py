"""The join page's bounds: the port faces the internet, so every connection is capped in number
(in all and per client address) and in time (its first request's headers within
`HEADER_TIMEOUT`, an idle keep-alive closed after `KEEPALIVE_TIMEOUT`), and each page's control
messages are rate-limited.

aiohttp bounds the size of a request line and its headers but has no cap on connections and no
header timeout, so the listening socket's protocol factory is wrapped here: a connection beyond
the cap is closed at once (before aiohttp sees it), one that has not sent a complete request in
time is aborted. A middleware marks the connection as having made a request.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from councild.limits import CoalescedLog, ConnectionCaps

log = logging.getLogger("councild.join")

MAX_CONNECTIONS = 256  # a council's remote councillors need a few each (page, 2 WebSockets)
MAX_PER_ADDRESS = 32  # several councillors may share an address (a town hall's NAT)
HEADER_TIMEOUT = 10.0  # the first request's headers, from the connection's start
KEEPALIVE_TIMEOUT = 15.0  # an idle HTTP keep-alive connection (aiohttp closes it)
# Control messages per page: a councillor presses a button a few times a minute; a burst
# allows a double click and a reconnect's resend.
CONTROL_RATE = 2.0  # per second, sustained
CONTROL_BURST = 6.0


class TokenBucket:
    """`allow(now)` is true for at most `burst` at once and `rate` a second after that."""

    def __init__(self, rate: float = CONTROL_RATE, burst: float = CONTROL_BURST) -> None:
        self.rate = rate
        self.burst = burst
        self._tokens = burst
        self._at: float | None = None

    def allow(self, now: float) -> bool:
        if self._at is not None:
            self._tokens = min(self.burst, self._tokens + (now - self._at) * self.rate)
        self._at = now
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return True
        return False


class _GuardedProtocol(asyncio.Protocol):
    """Forwards to aiohttp's protocol, once the connection is within the caps."""

    def __init__(self, guard: ConnectionGuard, inner: asyncio.Protocol) -> None:
        self._guard = guard
        self._inner: asyncio.Protocol | None = inner
        self._address = ""
        self._timer: asyncio.TimerHandle | None = None
        self._transport: asyncio.BaseTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        peer = transport.get_extra_info("peername")
        address = str(peer[0]) if peer else "?"
        if not self._guard.caps.admit(address):
            self._guard.refused.note(address)
            self._inner = None
            transport.abort()
            return
        self._address = address
        self._transport = transport
        self._guard.live[transport] = self
        self._timer = asyncio.get_running_loop().call_later(
            self._guard.header_timeout, self._too_slow)
        assert self._inner is not None
        self._inner.connection_made(transport)

    def request_seen(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _too_slow(self) -> None:
        self._timer = None
        self._guard.slow.note(self._address)
        if self._transport is not None:
            self._transport.abort()

    def data_received(self, data: bytes) -> None:
        if self._inner is not None:
            self._inner.data_received(data)

    def eof_received(self) -> bool | None:
        return self._inner.eof_received() if self._inner is not None else None

    def pause_writing(self) -> None:
        if self._inner is not None:
            self._inner.pause_writing()

    def resume_writing(self) -> None:
        if self._inner is not None:
            self._inner.resume_writing()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._inner is None:
            return
        self.request_seen()
        self._guard.caps.release(self._address)
        inner, self._inner = self._inner, None
        self._transport = None  # no cycle with the transport: freed at once, not by the gc
        inner.connection_lost(exc)


class ConnectionGuard:
    """The caps and timeouts of one listening socket."""

    def __init__(self, total: int = MAX_CONNECTIONS, per_address: int = MAX_PER_ADDRESS,
                 header_timeout: float = HEADER_TIMEOUT) -> None:
        self.caps = ConnectionCaps(total, per_address)
        self.header_timeout = header_timeout
        self.live: weakref.WeakKeyDictionary[Any, _GuardedProtocol] = weakref.WeakKeyDictionary()
        self.refused = CoalescedLog(log, "join: refused a connection (too many)")
        self.slow = CoalescedLog(log, "join: closed a connection that sent no request in time")

    def factory(self, inner: Callable[[], asyncio.Protocol]) -> Callable[[], asyncio.Protocol]:
        return lambda: _GuardedProtocol(self, inner())

    @web.middleware
    async def middleware(self, request: web.Request,
                         handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
                         ) -> web.StreamResponse:
        guarded = self.live.get(request.transport)
        if guarded is not None:
            guarded.request_seen()
        return await handler(request)


class GuardedSite(web.TCPSite):
    """aiohttp's TCP site with the guard's protocol factory in front of aiohttp's."""

    def __init__(self, runner: web.BaseRunner, guard: ConnectionGuard, host: str, port: int,
                 **kwargs: Any) -> None:
        super().__init__(runner, host, port, **kwargs)
        self._guard = guard

    async def start(self) -> None:
        await web.BaseSite.start(self)
        server = self._runner.server
        assert server is not None
        self._server = await asyncio.get_running_loop().create_server(
            self._guard.factory(server), self._host, self._port, ssl=self._ssl_context,
            backlog=self._backlog, reuse_address=self._reuse_address,
            reuse_port=self._reuse_port)
        self._bound_port = self._server.sockets[0].getsockname()[1]
