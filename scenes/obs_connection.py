"""One websocket session with OBS (obs-websocket v5), used once.

`ObsConnection`: connect, Hello → Identify → Identified, requests and batches with
per-request timeouts, events to a callback. When the socket drops, every request still waiting
fails at once with ConnectionLostError. The messages are scenes/obs_protocol.py's sans-IO
codec; the reconnecting client the daemon holds is scenes/obs_client.py.

Why not simpleobsws: it cannot be made sans-IO, fails an in-flight call only after its own
15 s timeout, has no disconnect callback, waits its full identify timeout on a wrong password
(the 4009 close code is dropped), silently skips malformed messages (nothing to count) and
fires callbacks as unreferenced tasks. The websocket framing itself comes from `websockets`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Mapping, Sequence
from enum import Enum
from typing import Any

import websockets
from websockets.asyncio.client import ClientConnection

from councild.errors import (
    AuthenticationError,
    ConnectionLostError,
    CouncildError,
    OperationTimeoutError,
)
from councild.i18n import _
from councild.sansio import Malformed, NeedData
from scenes.obs_protocol import (
    MAX_MESSAGE_BYTES,
    SUBPROTOCOL,
    BatchExecution,
    CloseCode,
    Closed,
    EventSubscription,
    Hello,
    Identified,
    Identify,
    ObsEvent,
    ObsMessage,
    ObsProtocol,
    Request,
    RequestBatch,
    RequestBatchResponse,
    RequestResponse,
)

__all__ = [
    "CONNECT_TIMEOUT",
    "IDENTIFY_TIMEOUT",
    "REQUEST_TIMEOUT",
    "ConnectionState",
    "ObsConnection",
    "close_error",
]

log = logging.getLogger("councild.obs")

# TCP connect plus websocket upgrade. OBS runs on the same machine or the same LAN and
# answers in milliseconds; waiting longer only delays the next retry.
CONNECT_TIMEOUT = 5.0
# Hello → Identify → Identified. OBS sends Hello at once; the auth check is one hash.
IDENTIFY_TIMEOUT = 5.0
# Per request. OBS answers in ~6.5 ms on loopback; a cut that lands seconds late is wrong
# anyway, so fail fast and let the caller decide. Screenshots and batches pass their own.
REQUEST_TIMEOUT = 3.0
# Websocket pings find a peer that vanished without a FIN (cable pulled, host frozen) long
# before TCP would; OBS answers pings on its own thread even while its UI thread is busy.
PING_INTERVAL = 5.0
PING_TIMEOUT = 10.0
# How long to wait for OBS's half of the closing handshake before dropping the socket.
CLOSE_TIMEOUT = 2.0


class ConnectionState(Enum):
    INITIALIZED = "initialized"  # built, not yet connected
    CONNECTING = "connecting"  # websocket upgrade and identify under way
    IDENTIFIED = "identified"  # usable
    CLOSED = "closed"  # gone; `error` says why


def close_error(code: int | None, reason: str, where: str) -> CouncildError:
    """Turn a websocket close into councild's error for it, in one place."""
    if code == CloseCode.AUTHENTICATION_FAILED:
        return AuthenticationError(
            _(
                "OBS at {where} refused the websocket password (close code 4009); "
                "check the password in OBS (Tools → WebSocket Server Settings) and councild's "
                "OBS password setting"
            ).format(where=where)
        )
    if code is None or code == CloseCode.ABNORMAL:
        return ConnectionLostError(_("OBS at {where} went away").format(where=where))
    detail = f"{code} {reason}".strip()
    return ConnectionLostError(
        _("OBS at {where} closed the connection ({detail})").format(where=where, detail=detail)
    )


EventCallback = Callable[[ObsEvent], None]


class ObsConnection:
    """One websocket session with OBS, used once: `open()`, requests, `close()`."""

    def __init__(
        self,
        host: str,
        port: int,
        password: str | None,
        *,
        event_subscriptions: int = EventSubscription.ALL,
        on_event: EventCallback | None = None,
        on_malformed: Callable[[Malformed], None] | None = None,
        max_message_bytes: int = MAX_MESSAGE_BYTES,
        identify_timeout: float = IDENTIFY_TIMEOUT,
    ) -> None:
        self.where = f"{host}:{port}"
        self._identify_timeout = identify_timeout
        self._uri = f"ws://{host}:{port}"
        self._codec = ObsProtocol(password, max_message_bytes=max_message_bytes)
        self._subscriptions = event_subscriptions
        self._on_event = on_event
        self._on_malformed = on_malformed
        self._max = max_message_bytes
        self._ws: ClientConnection | None = None
        self._state = ConnectionState.INITIALIZED
        self._pending: dict[str, asyncio.Future[ObsMessage]] = {}
        self._reader: asyncio.Task[None] | None = None
        self._closed = asyncio.Event()
        self.error: CouncildError | None = None  # the first fatal error, kept
        self.hello: Hello | None = None
        self.late_responses = 0  # answers to requests that had already timed out

    @property
    def state(self) -> ConnectionState:
        return self._state

    @property
    def closed(self) -> bool:
        return self._state is ConnectionState.CLOSED

    @property
    def pending_requests(self) -> int:
        """Requests sent and not yet answered."""
        return len(self._pending)

    async def open(self) -> Hello:
        """Connect and identify. Raises AuthenticationError (wrong password),
        ConnectionLostError (unreachable, or closed during the handshake) or
        OperationTimeoutError; cleans up before raising."""
        if self._state is not ConnectionState.INITIALIZED:
            raise ConnectionLostError(f"connection already {self._state.value}")
        self._state = ConnectionState.CONNECTING
        try:
            self._ws = await self._connect()
            async with asyncio.timeout(self._identify_timeout):
                await self._identify(self._ws)
        except TimeoutError:
            await self._fail(
                OperationTimeoutError(
                    _("OBS at {where} did not complete the websocket handshake in time").format(
                        where=self.where
                    )
                )
            )
            raise self._error() from None
        except websockets.ConnectionClosed as exc:
            await self._fail(
                close_error(
                    exc.rcvd.code if exc.rcvd else None,
                    exc.rcvd.reason if exc.rcvd else "",
                    self.where,
                )
            )
            raise self._error() from exc
        except CouncildError as exc:
            await self._fail(exc)
            raise
        except BaseException:
            await self._fail(ConnectionLostError("connect cancelled"))
            raise
        self._state = ConnectionState.IDENTIFIED
        self._reader = asyncio.create_task(self._read(self._ws), name=f"obs-reader:{self.where}")
        assert self.hello is not None
        return self.hello

    async def request(
        self,
        request_type: str,
        data: Mapping[str, Any] | None = None,
        *,
        timeout: float = REQUEST_TIMEOUT,
    ) -> Mapping[str, Any]:
        """Send one request; its responseData, or ObsRequestError with OBS's code."""
        request = Request(
            request_type=request_type, request_id=self._codec.new_request_id(), data=data
        )
        response = await self._roundtrip(request, request.request_id, timeout)
        assert isinstance(response, RequestResponse)
        if not response.ok:
            raise response.error()
        return response.data

    async def batch(
        self,
        requests: Sequence[Request],
        *,
        halt_on_failure: bool = False,
        execution: BatchExecution = BatchExecution.SERIAL_REALTIME,
        timeout: float = REQUEST_TIMEOUT,
    ) -> tuple[RequestResponse, ...]:
        """Send requests as one batch; every result, failed ones included."""
        batch = RequestBatch(
            request_id=self._codec.new_request_id(),
            requests=tuple(requests),
            halt_on_failure=halt_on_failure,
            execution=execution,
        )
        response = await self._roundtrip(batch, batch.request_id, timeout)
        assert isinstance(response, RequestBatchResponse)
        return response.results

    async def wait_closed(self) -> CouncildError:
        """Wait until the connection is gone; the reason."""
        await self._closed.wait()
        return self._error()

    async def close(self) -> None:
        """Close on purpose; safe to call twice."""
        await self._fail(ConnectionLostError(_("connection to OBS closed")))

    # --- internals ---------------------------------------------------------------------------

    async def _connect(self) -> ClientConnection:
        try:
            return await websockets.connect(
                self._uri,
                subprotocols=[websockets.Subprotocol(SUBPROTOCOL)],
                open_timeout=CONNECT_TIMEOUT,
                ping_interval=PING_INTERVAL,
                ping_timeout=PING_TIMEOUT,
                close_timeout=CLOSE_TIMEOUT,
                max_size=self._max,
                compression=None,  # loopback/LAN: deflate costs CPU and buys nothing
                proxy=None,  # never send OBS traffic through an environment proxy
            )
        except TimeoutError:
            raise OperationTimeoutError(
                _("OBS at {where} did not answer in time").format(where=self.where)
            ) from None
        except (OSError, websockets.InvalidHandshake, websockets.InvalidURI) as exc:
            raise ConnectionLostError(
                _("cannot reach OBS at {where}: {reason}").format(where=self.where, reason=exc)
            ) from exc

    async def _identify(self, ws: ClientConnection) -> None:
        while True:
            self._codec.receive_data(await ws.recv(decode=False))
            while not isinstance(event := self._codec.next_event(), NeedData):
                if isinstance(event, Malformed):
                    self._malformed(event)
                elif isinstance(event, Hello):
                    self.hello = event
                    if event.auth_required and not self._codec.has_password:
                        raise AuthenticationError(
                            _(
                                "OBS at {where} requires a websocket password and none is "
                                "configured"
                            ).format(where=self.where)
                        )
                    await ws.send(
                        self._codec.send(Identify(event_subscriptions=self._subscriptions)),
                        text=True,
                    )
                elif isinstance(event, Identified):
                    return

    def _malformed(self, event: Malformed) -> None:
        if self._on_malformed is not None:
            self._on_malformed(event)
        else:
            log.warning("obs %s: malformed message: %s", self.where, event.detail)

    async def _read(self, ws: ClientConnection) -> None:
        try:
            while True:
                # Undecoded: the codec takes bytes (a text frame's UTF-8, as sent).
                self._codec.receive_data(await ws.recv(decode=False))
                self._drain()
        except websockets.ConnectionClosed:
            pass
        except Exception as exc:  # anything else still ends this connection
            log.error("obs %s: reader failed", self.where, exc_info=True)
            self._codec.receive_close(None, f"reader failed: {exc}")
        rcvd = ws.protocol.close_rcvd
        self._codec.receive_close(rcvd.code if rcvd else None, rcvd.reason if rcvd else "")
        self._drain()

    def _drain(self) -> None:
        while not isinstance(event := self._codec.next_event(), NeedData):
            if isinstance(event, Malformed):
                self._malformed(event)
            elif isinstance(event, (RequestResponse, RequestBatchResponse)):
                waiter = self._pending.pop(event.request_id, None)
                if waiter is None or waiter.done():
                    self.late_responses += 1
                    log.debug("obs %s: response %s after its timeout", self.where, event.request_id)
                else:
                    waiter.set_result(event)
            elif isinstance(event, ObsEvent):
                if self._on_event is not None:
                    try:
                        self._on_event(event)
                    except Exception:  # a subscriber must not kill the reader
                        log.exception("obs %s: event callback failed", self.where)
            elif isinstance(event, Closed):
                # Fail the waiters synchronously, before any of them can run again.
                self._mark_closed(close_error(event.code, event.reason, self.where))

    async def _roundtrip(
        self, message: Request | RequestBatch, request_id: str, timeout: float
    ) -> ObsMessage:
        if self._state is not ConnectionState.IDENTIFIED or self._ws is None:
            raise self.error or ConnectionLostError(_("OBS is not connected"))
        waiter: asyncio.Future[ObsMessage] = asyncio.get_running_loop().create_future()
        self._pending[request_id] = waiter
        try:
            async with asyncio.timeout(timeout):  # a stalled send counts against it too
                # On a close, the reader sees the same close and fails `waiter` with the reason.
                with contextlib.suppress(websockets.ConnectionClosed):
                    await self._ws.send(self._codec.send(message), text=True)
                return await waiter
        except TimeoutError:
            name = message.request_type if isinstance(message, Request) else "request batch"
            raise OperationTimeoutError(
                _("OBS did not answer {request} within {seconds} s").format(
                    request=name, seconds=timeout
                )
            ) from None
        finally:
            self._pending.pop(request_id, None)

    def _error(self) -> CouncildError:
        return self.error or ConnectionLostError(_("connection to OBS closed"))

    def _mark_closed(self, error: CouncildError) -> None:
        if self.error is None:
            self.error = error
        self._state = ConnectionState.CLOSED
        pending, self._pending = self._pending, {}
        for waiter in pending.values():
            if not waiter.done():
                waiter.set_exception(self._error())
        self._closed.set()

    async def _fail(self, error: CouncildError) -> None:
        """The single cleanup path: keep the first error, fail waiters, close the socket."""
        self._mark_closed(error)
        reader, self._reader = self._reader, None
        if reader is not None and reader is not asyncio.current_task():
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reader
        ws, self._ws = self._ws, None
        if ws is not None:
            await ws.close()
