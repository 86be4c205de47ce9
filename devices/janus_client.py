"""One WebSocket to Janus with one session and one plugin handle, used once: `JanusClient`.

It runs its own reader task over devices/janus_protocol.py's codec; answers go to the waiting
request by transaction, everything else to `on_event`. `run()` keeps the Janus session alive
until the link ends. Reconnecting is the owner's business (the drivers' supervisor, the
join page's chamber feed, the simulators).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from typing import Any

import websockets
from websockets.asyncio.client import ClientConnection

from councild.errors import ConnectionLostError, OperationTimeoutError
from councild.sansio import Malformed, NeedData
from devices.janus_protocol import (
    MAX_MESSAGE,
    SUBPROTOCOL,
    VIDEOROOM,
    Ack,
    JanusError,
    JanusEvent,
    JanusMessage,
    JanusProtocol,
    JanusRemoteError,
    JanusRequestError,
    Success,
)

__all__ = ["KEEPALIVE_INTERVAL", "OPEN_TIMEOUT", "REQUEST_TIMEOUT", "JanusClient"]

# Janus answers on loopback/LAN in milliseconds; 5 s only trips on a hung server.
REQUEST_TIMEOUT = 5.0
# The WebSocket handshake to a local Janus is instant; a stuck TCP connect must not hang.
OPEN_TIMEOUT = 5.0
# Janus drops sessions after session_timeout (default 60 s) without traffic; a keepalive every
# 15 s leaves three misses of slack.
KEEPALIVE_INTERVAL = 15.0


class JanusClient:
    """One WebSocket with one Janus session and one plugin handle, used once.

    Runs its own reader task; answers go to the waiting request by transaction, everything
    else to `on_event` (called in the reader: an exception raised there ends the client).
    """

    def __init__(self, ws: ClientConnection, on_event: Callable[[JanusMessage], None],
                 on_malformed: Callable[[Malformed], None] | None = None,
                 on_seen: Callable[[], None] | None = None) -> None:
        self.ws = ws
        self.codec = JanusProtocol()
        self.session_id = 0
        self.handle_id = 0
        self._pending: dict[str, tuple[asyncio.Future[JanusMessage], bool]] = {}
        self._on_event = on_event
        self._on_malformed = on_malformed
        self._on_seen = on_seen
        self.reader: asyncio.Task[None] = asyncio.create_task(self._read(), name="janus:reader")

    @classmethod
    async def connect(cls, url: str, on_event: Callable[[JanusMessage], None],
                      on_malformed: Callable[[Malformed], None] | None = None,
                      on_seen: Callable[[], None] | None = None,
                      plugin: str = VIDEOROOM) -> JanusClient:
        """Open the WebSocket, create a session and attach the plugin (the VideoRoom)."""
        try:
            ws = await websockets.connect(
                url, subprotocols=[websockets.Subprotocol(SUBPROTOCOL)],
                open_timeout=OPEN_TIMEOUT, max_size=MAX_MESSAGE,
            )
        except (OSError, TimeoutError, websockets.InvalidHandshake) as exc:
            raise ConnectionLostError(f"cannot reach Janus at {url}: {exc}") from exc
        client = cls(ws, on_event, on_malformed, on_seen)
        try:
            tx, text = client.codec.create()
            reply = await client.request(tx, text, what="create session")
            client.session_id = _answer_id(reply)
            tx, text = client.codec.attach(client.session_id, plugin)
            reply = await client.request(tx, text, what=f"attach {plugin}")
            client.handle_id = _answer_id(reply)
        except BaseException:
            await client.close()
            raise
        return client

    async def close(self) -> None:
        """Safe to call twice: stops the reader, fails waiters, closes the socket."""
        self.reader.cancel()
        try:
            # asyncio.wait, not `await reader` under suppress(CancelledError): a stop() that
            # lands here must cancel the caller, not be swallowed with the reader's end
            await asyncio.wait([self.reader])
        finally:
            self.fail_pending(ConnectionLostError("Janus connection closed"))
            await self.ws.close()

    async def request(self, tx: str, text: str, *, until_event: bool = False,
                      what: str = "request") -> JanusMessage:
        """Send; wait for the answer with that transaction (ack-only answers unless until_event)."""
        fut: asyncio.Future[JanusMessage] = asyncio.get_running_loop().create_future()
        self._pending[tx] = (fut, until_event)
        try:
            # asyncio.timeout, not wait_for: 3.11's wait_for can swallow a cancellation that
            # races with the answer, and then stop() would wait forever
            async with asyncio.timeout(REQUEST_TIMEOUT):
                await self.ws.send(text)
                reply = await fut
        except TimeoutError as exc:
            raise OperationTimeoutError(f"Janus did not answer {what} in {REQUEST_TIMEOUT} s") \
                from exc
        except websockets.ConnectionClosed as exc:
            raise ConnectionLostError(f"Janus connection lost during {what}") from exc
        finally:
            self._pending.pop(tx, None)
        if isinstance(reply, JanusError):
            raise JanusRequestError(what, reply.code, reply.reason)
        error = reply.error if isinstance(reply, Success | JanusEvent) else None
        if error is not None:
            raise JanusRequestError(what, error.code, error.reason)
        return reply

    async def plugin(self, body: Mapping[str, Any], *, until_event: bool = False) -> JanusMessage:
        """A request to the plugin; `until_event` for the asynchronous ones (join, configure)."""
        tx, text = self.codec.message(self.session_id, self.handle_id, body)
        return await self.request(tx, text, until_event=until_event, what=str(body["request"]))

    async def keepalive(self) -> None:
        tx, text = self.codec.keepalive(self.session_id)
        await self.request(tx, text, what="keepalive")

    async def run(self, keepalive_s: float, name: str) -> None:
        """Keep the session alive every `keepalive_s` until the link ends; raises the reason
        it ended (the reader's error, or a keepalive that timed out)."""

        async def keep() -> None:
            while True:
                await asyncio.sleep(keepalive_s)
                await self.keepalive()

        task = asyncio.create_task(keep(), name=f"{name}:keepalive")
        try:
            done, _ = await asyncio.wait({self.reader, task}, return_when=asyncio.FIRST_COMPLETED)
            for finished in done:
                finished.result()
        finally:
            task.cancel()
            await asyncio.wait([task])  # never swallows our own cancellation

    def dispatch(self, msg: JanusMessage) -> None:
        entry = self._pending.get(msg.transaction) if msg.transaction else None
        if entry is not None:
            fut, until_event = entry
            if not (isinstance(msg, Ack) and until_event) and not fut.done():
                fut.set_result(msg)
            if isinstance(msg, Ack | Success | JanusError):
                return  # answers only; an event with our transaction may also carry news
        self._on_event(msg)

    def fail_pending(self, exc: BaseException) -> None:
        for fut, _ in self._pending.values():
            if not fut.done():
                fut.set_exception(exc)
        self._pending.clear()

    async def _read(self) -> None:
        try:
            async for text in self.ws:
                self.codec.receive_data(text)
                while not isinstance(msg := self.codec.next_event(), NeedData):
                    if isinstance(msg, Malformed):
                        if self._on_malformed is not None:
                            self._on_malformed(msg)
                        continue
                    if self._on_seen is not None:
                        self._on_seen()
                    self.dispatch(msg)
            raise ConnectionLostError("Janus closed the connection")
        except websockets.ConnectionClosed as exc:
            err: BaseException = ConnectionLostError(f"Janus connection lost: {exc}")
            self.fail_pending(err)
            raise err from exc
        except BaseException as exc:
            # a request waiting during setup must not sit out its timeout on a dead link
            self.fail_pending(exc if isinstance(exc, Exception) else ConnectionLostError())
            raise


def _answer_id(reply: JanusMessage) -> int:
    if not isinstance(reply, Success) or not isinstance(reply.data.get("id"), int):
        raise JanusRemoteError(f"expected an id in {reply!r}")
    return int(reply.data["id"])
