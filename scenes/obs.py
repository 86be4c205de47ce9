"""The connection to OBS Studio over obs-websocket v5 (JSON messages over a websocket).

Three layers, as everywhere in councild:

- `ObsProtocol`: the sans-IO codec. Messages (text frames) in through `receive_message()`,
  the end of the connection through `receive_close()`, events out of `next_event()`,
  Identify / Request / RequestBatch out through `send() -> str`. No sockets, no clock.
- `ObsConnection`: one websocket session, used once: connect, Hello → Identify → Identified,
  requests with per-request timeouts, events to a callback. When the socket drops, every
  request still waiting fails at once with ConnectionLostError.
- `ObsClient`: what the daemon holds. Reconnects with backoff, checks after every connect
  that the scenes and inputs councild needs exist, calls `on_ready` so the current shot can
  be re-applied, publishes health as DeviceStatus(device="obs"), dispatches OBS events to
  subscribers, and offers the helpers the director needs.

Why not simpleobsws: it cannot be made sans-IO, fails an in-flight call only after its own
15 s timeout, has no disconnect callback, waits its full identify timeout on a wrong password
(the 4009 close code is dropped), silently skips malformed messages (nothing to count) and
fires callbacks as unreferenced tasks. The websocket framing itself comes from `websockets`.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import ipaddress
import itertools
import json
import logging
import os
import stat
from collections import deque
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from enum import Enum, IntEnum, IntFlag
from pathlib import Path
from typing import Any

import websockets
from pydantic import BaseModel, ConfigDict, Field
from websockets.asyncio.client import ClientConnection

from councild.errors import (
    AuthenticationError,
    ConnectionLostError,
    CouncildError,
    LocalProtocolError,
    OperationTimeoutError,
    RemoteProtocolError,
)
from councild.i18n import _
from councild.model import Event, Link
from devices.base import BACKOFF_CAP, LinkReporter, backoff_delay

__all__ = [
    "NEED_DATA",
    "CloseCode",
    "Closed",
    "EventSubscription",
    "Hello",
    "Identified",
    "Identify",
    "MediaSource",
    "ObsClient",
    "ObsConnection",
    "ObsEvent",
    "ObsInventory",
    "ObsLocalProtocolError",
    "ObsOptions",
    "ObsProtocol",
    "ObsProtocolState",
    "ObsRemoteProtocolError",
    "ObsRequestError",
    "OpCode",
    "OutputStateChanged",
    "Request",
    "RequestBatch",
    "RequestBatchResponse",
    "RequestResponse",
    "authentication_string",
    "parse_output_state",
]

log = logging.getLogger("councild.obs")

# --- timeouts and limits -------------------------------------------------------------------

# TCP connect plus websocket upgrade. OBS runs on the same machine or the same LAN and
# answers in milliseconds; waiting longer only delays the next retry.
CONNECT_TIMEOUT = 5.0
# Hello → Identify → Identified. OBS sends Hello at once; the auth check is one hash.
IDENTIFY_TIMEOUT = 5.0
# Per request. OBS answers in ~6.5 ms on loopback; a cut that lands seconds late is wrong
# anyway, so fail fast and let the caller decide. Screenshots and batches pass their own.
REQUEST_TIMEOUT = 3.0
# A rendered screenshot at 1080p takes OBS a frame or two plus PNG encoding.
SCREENSHOT_TIMEOUT = 10.0
# Websocket pings find a peer that vanished without a FIN (cable pulled, host frozen) long
# before TCP would; OBS answers pings on its own thread even while its UI thread is busy.
PING_INTERVAL = 5.0
PING_TIMEOUT = 10.0
# How long to wait for OBS's half of the closing handshake before dropping the socket.
CLOSE_TIMEOUT = 2.0
# A wrong password will not fix itself; retrying slowly keeps OBS's log readable while still
# picking up a corrected password without a daemon restart.
AUTH_RETRY_DELAY = 30.0
# Reconnect probing for an OBS on this machine: a refused local connect costs nothing (no
# packet leaves the host, OBS sees nothing), and the program must be back within a second of
# OBS accepting connections again, so the backoff stops growing at this. A remote OBS keeps
# the common backoff (devices.base), capped at 5 s.
LOCAL_RETRY_CAP = 0.4
# Cap on one incoming message: a 1080p PNG screenshot in base64 is a few MiB.
MAX_MESSAGE_BYTES = 16 * 1024 * 1024

RPC_VERSION = 1
SUBPROTOCOL = "obswebsocket.json"


# --- protocol constants --------------------------------------------------------------------


class OpCode(IntEnum):
    HELLO = 0
    IDENTIFY = 1
    IDENTIFIED = 2
    REIDENTIFY = 3
    EVENT = 5
    REQUEST = 6
    REQUEST_RESPONSE = 7
    REQUEST_BATCH = 8
    REQUEST_BATCH_RESPONSE = 9


class EventSubscription(IntFlag):
    GENERAL = 1 << 0  # ExitStarted, vendor and custom events
    CONFIG = 1 << 1
    SCENES = 1 << 2  # CurrentProgramSceneChanged, SceneListChanged, ...
    INPUTS = 1 << 3
    TRANSITIONS = 1 << 4
    FILTERS = 1 << 5
    OUTPUTS = 1 << 6  # stream and record state
    SCENE_ITEMS = 1 << 7
    MEDIA_INPUTS = 1 << 8
    VENDORS = 1 << 9
    UI = 1 << 10  # StudioModeStateChanged
    ALL = (1 << 11) - 1  # everything but the high-volume meters and transforms


class CloseCode(IntEnum):
    """Websocket close codes obs-websocket uses (4000-4012), and the transport's own."""

    NORMAL = 1000
    ABNORMAL = 1006  # no close frame: the peer died or the network dropped
    UNKNOWN_REASON = 4000
    MESSAGE_DECODE_ERROR = 4002
    MISSING_DATA_FIELD = 4003
    INVALID_DATA_FIELD_TYPE = 4004
    INVALID_DATA_FIELD_VALUE = 4005
    UNKNOWN_OP_CODE = 4006
    NOT_IDENTIFIED = 4007
    ALREADY_IDENTIFIED = 4008
    AUTHENTICATION_FAILED = 4009
    UNSUPPORTED_RPC_VERSION = 4010
    SESSION_INVALIDATED = 4011
    UNSUPPORTED_FEATURE = 4012


class BatchExecution(IntEnum):
    SERIAL_REALTIME = 0  # one after the other, as fast as possible
    SERIAL_FRAME = 1  # one per rendered frame: changes land together with a frame
    PARALLEL = 2


# RequestStatus codes councild reacts to; OBS sends many more.
STATUS_SUCCESS = 100
STATUS_RESOURCE_NOT_FOUND = 600
STATUS_STUDIO_MODE_NOT_ACTIVE = 506


# --- errors --------------------------------------------------------------------------------


class ObsRemoteProtocolError(RemoteProtocolError):
    """OBS sent a message that is not valid obs-websocket v5."""


class ObsLocalProtocolError(LocalProtocolError):
    """We were asked to send something obs-websocket cannot carry, or out of order."""


class ObsRequestError(CouncildError):
    """OBS refused a request; `code` is obs-websocket's RequestStatus, `comment` its reason."""

    def __init__(self, request_type: str, code: int, comment: str | None) -> None:
        self.request_type = request_type
        self.code = code
        self.comment = comment
        text = f"OBS refused {request_type}: code {code}"
        super().__init__(f"{text}: {comment}" if comment else text)


# --- codec messages ------------------------------------------------------------------------


class _NeedData:
    def __repr__(self) -> str:
        return "NEED_DATA"


NEED_DATA = _NeedData()  # next_event(): no complete message is waiting


def _require(ok: bool, what: str) -> None:
    if not ok:
        raise ObsLocalProtocolError(what)


@dataclass(frozen=True, slots=True, kw_only=True)
class ObsMessage:
    """One obs-websocket message, either direction."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Hello(ObsMessage):
    obs_websocket_version: str
    rpc_version: int
    challenge: str | None = None
    salt: str | None = None

    @property
    def auth_required(self) -> bool:
        return self.challenge is not None


@dataclass(frozen=True, slots=True, kw_only=True)
class Identify(ObsMessage):
    event_subscriptions: int = EventSubscription.ALL

    def __post_init__(self) -> None:
        _require(0 <= self.event_subscriptions < 1 << 32, "event_subscriptions out of range")


@dataclass(frozen=True, slots=True, kw_only=True)
class Identified(ObsMessage):
    rpc_version: int


@dataclass(frozen=True, slots=True, kw_only=True)
class ObsEvent(ObsMessage):
    event_type: str
    intent: int
    data: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class Request(ObsMessage):
    request_type: str
    request_id: str = ""  # empty inside a batch
    data: Mapping[str, Any] | None = None

    def __post_init__(self) -> None:
        _require(bool(self.request_type), "a request needs a type")
        _require(self.data is None or isinstance(self.data, Mapping), "data must be a mapping")


@dataclass(frozen=True, slots=True, kw_only=True)
class RequestBatch(ObsMessage):
    request_id: str
    requests: tuple[Request, ...]
    halt_on_failure: bool = False
    execution: BatchExecution = BatchExecution.SERIAL_REALTIME

    def __post_init__(self) -> None:
        _require(bool(self.request_id), "a batch needs an id")
        _require(len(self.requests) > 0, "a batch needs at least one request")


@dataclass(frozen=True, slots=True, kw_only=True)
class RequestResponse(ObsMessage):
    request_type: str
    request_id: str  # empty inside a batch response
    ok: bool
    code: int
    comment: str | None = None
    data: Mapping[str, Any] = field(default_factory=dict)

    def error(self) -> ObsRequestError:
        return ObsRequestError(self.request_type, self.code, self.comment)


@dataclass(frozen=True, slots=True, kw_only=True)
class RequestBatchResponse(ObsMessage):
    request_id: str
    results: tuple[RequestResponse, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class Closed(ObsMessage):
    """The websocket closed; `code` None = no close frame at all (the peer died)."""

    code: int | None
    reason: str = ""


def authentication_string(password: str, salt: str, challenge: str) -> str:
    """obs-websocket v5: b64(sha256(b64(sha256(password + salt)) + challenge))."""
    secret = base64.b64encode(hashlib.sha256((password + salt).encode()).digest())
    return base64.b64encode(hashlib.sha256(secret + challenge.encode()).digest()).decode()


# --- codec ---------------------------------------------------------------------------------


class ObsProtocolState(Enum):
    AWAIT_HELLO = "await-hello"  # socket open; OBS speaks first
    HELLO = "hello"  # Hello received; our Identify is due
    IDENTIFYING = "identifying"  # Identify sent; waiting for Identified (or close 4009)
    IDENTIFIED = "identified"  # requests, responses and events flow
    CLOSED = "closed"  # the websocket closed; nothing more in or out


_S = ObsProtocolState

# Which incoming op codes each state accepts, and the state after them.
_RECEIVE: dict[tuple[ObsProtocolState, int], ObsProtocolState] = {
    (_S.AWAIT_HELLO, OpCode.HELLO): _S.HELLO,
    (_S.IDENTIFYING, OpCode.IDENTIFIED): _S.IDENTIFIED,
    (_S.IDENTIFIED, OpCode.IDENTIFIED): _S.IDENTIFIED,  # answer to a Reidentify
    (_S.IDENTIFIED, OpCode.EVENT): _S.IDENTIFIED,
    (_S.IDENTIFIED, OpCode.REQUEST_RESPONSE): _S.IDENTIFIED,
    (_S.IDENTIFIED, OpCode.REQUEST_BATCH_RESPONSE): _S.IDENTIFIED,
}

# Which outgoing messages each state allows, and the state after them.
_SEND: dict[tuple[ObsProtocolState, type[ObsMessage]], ObsProtocolState] = {
    (_S.HELLO, Identify): _S.IDENTIFYING,
    (_S.IDENTIFIED, Request): _S.IDENTIFIED,
    (_S.IDENTIFIED, RequestBatch): _S.IDENTIFIED,
}


def _field(data: Mapping[str, Any], key: str, kind: type | tuple[type, ...]) -> Any:
    value = data.get(key)
    # bool is an int in Python; JSON true must not pass for a number.
    if not isinstance(value, kind) or (isinstance(value, bool) and bool not in _kinds(kind)):
        raise ObsRemoteProtocolError(f"field {key!r} missing or not {_kind_name(kind)}")
    return value


def _optional(data: Mapping[str, Any], key: str, kind: type | tuple[type, ...]) -> Any:
    return None if data.get(key) is None else _field(data, key, kind)


def _kinds(kind: type | tuple[type, ...]) -> tuple[type, ...]:
    return kind if isinstance(kind, tuple) else (kind,)


def _kind_name(kind: type | tuple[type, ...]) -> str:
    return "/".join(k.__name__ for k in _kinds(kind))


def _parse_hello(d: Mapping[str, Any]) -> Hello:
    auth = _optional(d, "authentication", dict)
    return Hello(
        obs_websocket_version=_field(d, "obsWebSocketVersion", str),
        rpc_version=_field(d, "rpcVersion", int),
        challenge=_field(auth, "challenge", str) if auth else None,
        salt=_field(auth, "salt", str) if auth else None,
    )


def _parse_identified(d: Mapping[str, Any]) -> Identified:
    return Identified(rpc_version=_field(d, "negotiatedRpcVersion", int))


def _parse_event(d: Mapping[str, Any]) -> ObsEvent:
    return ObsEvent(
        event_type=_field(d, "eventType", str),
        intent=_field(d, "eventIntent", int),
        data=_optional(d, "eventData", dict) or {},
    )


def _parse_response(d: Mapping[str, Any], *, in_batch: bool = False) -> RequestResponse:
    status = _field(d, "requestStatus", dict)
    return RequestResponse(
        request_type=_field(d, "requestType", str),
        request_id="" if in_batch else _field(d, "requestId", str),
        ok=_field(status, "result", bool),
        code=_field(status, "code", int),
        comment=_optional(status, "comment", str),
        data=_optional(d, "responseData", dict) or {},
    )


def _parse_batch_response(d: Mapping[str, Any]) -> RequestBatchResponse:
    results = _field(d, "results", list)
    for result in results:
        if not isinstance(result, dict):
            raise ObsRemoteProtocolError("batch result is not an object")
    return RequestBatchResponse(
        request_id=_field(d, "requestId", str),
        results=tuple(_parse_response(r, in_batch=True) for r in results),
    )


_PARSERS: dict[int, Callable[[Mapping[str, Any]], ObsMessage]] = {
    OpCode.HELLO: _parse_hello,
    OpCode.IDENTIFIED: _parse_identified,
    OpCode.EVENT: _parse_event,
    OpCode.REQUEST_RESPONSE: _parse_response,
    OpCode.REQUEST_BATCH_RESPONSE: _parse_batch_response,
}


def _request_payload(request: Request) -> dict[str, Any]:
    payload: dict[str, Any] = {"requestType": request.request_type}
    if request.request_id:
        payload["requestId"] = request.request_id
    if request.data is not None:
        payload["requestData"] = dict(request.data)
    return payload


class ObsProtocol:
    """obs-websocket v5 client side, sans-IO. `password` is only used to answer Hello."""

    def __init__(
        self, password: str | None = None, *, max_message_bytes: int = MAX_MESSAGE_BYTES
    ) -> None:
        self._password = password
        self._max = max_message_bytes
        self._state = ObsProtocolState.AWAIT_HELLO
        self._events: deque[ObsMessage] = deque()
        self._hello: Hello | None = None
        self._ids = itertools.count(1)

    def __repr__(self) -> str:  # never show the password
        return f"<ObsProtocol {self._state.value}>"

    @property
    def state(self) -> ObsProtocolState:
        return self._state

    @property
    def hello(self) -> Hello | None:
        return self._hello

    @property
    def has_password(self) -> bool:
        return self._password is not None

    def new_request_id(self) -> str:
        return f"c{next(self._ids)}"

    def receive_message(self, data: str | bytes) -> None:
        """Feed one websocket message. Raises ObsRemoteProtocolError for a bad one; the
        codec stays usable, since websocket framing keeps the next message intact."""
        if self._state is ObsProtocolState.CLOSED:
            raise ObsRemoteProtocolError("message after the connection closed")
        if len(data) > self._max:
            raise ObsRemoteProtocolError(f"message of {len(data)} bytes exceeds {self._max}")
        try:
            message = json.loads(data)
        except (ValueError, RecursionError) as exc:  # UnicodeDecodeError is a ValueError
            raise ObsRemoteProtocolError(f"not JSON: {exc}") from None
        if not isinstance(message, dict):
            raise ObsRemoteProtocolError("message is not a JSON object")
        op = _field(message, "op", int)
        d = _field(message, "d", dict)
        parser = _PARSERS.get(op)
        if parser is None:
            raise ObsRemoteProtocolError(f"unknown op code {op}")
        new_state = _RECEIVE.get((self._state, op))
        if new_state is None:
            raise ObsRemoteProtocolError(
                f"op {OpCode(op).name} not expected in state {self._state.value}"
            )
        event = parser(d)
        if isinstance(event, Hello):
            self._hello = event
        self._state = new_state
        self._events.append(event)

    def receive_close(self, code: int | None, reason: str = "") -> None:
        """The websocket closed (code None: without a close frame). Idempotent."""
        if self._state is ObsProtocolState.CLOSED:
            return
        self._state = ObsProtocolState.CLOSED
        self._events.append(Closed(code=code, reason=reason))

    def next_event(self) -> ObsMessage | _NeedData:
        return self._events.popleft() if self._events else NEED_DATA

    def send(self, message: ObsMessage) -> str:
        """The websocket text for an outgoing message; ObsLocalProtocolError if not allowed."""
        new_state = _SEND.get((self._state, type(message)))
        if new_state is None:
            raise ObsLocalProtocolError(
                f"cannot send {type(message).__name__} in state {self._state.value}"
            )
        if isinstance(message, Identify):
            payload = self._identify(message)
        elif isinstance(message, Request):
            _require(bool(message.request_id), "a request needs an id")
            payload = {"op": OpCode.REQUEST, "d": _request_payload(message)}
        else:
            assert isinstance(message, RequestBatch)
            payload = {
                "op": OpCode.REQUEST_BATCH,
                "d": {
                    "requestId": message.request_id,
                    "haltOnFailure": message.halt_on_failure,
                    "executionType": int(message.execution),
                    "requests": [_request_payload(r) for r in message.requests],
                },
            }
        try:
            text = json.dumps(payload, allow_nan=False, ensure_ascii=False)
        except (TypeError, ValueError) as exc:
            raise ObsLocalProtocolError(f"request data is not JSON: {exc}") from None
        self._state = new_state
        return text

    def _identify(self, message: Identify) -> dict[str, Any]:
        hello = self._hello
        assert hello is not None  # state HELLO implies it
        d: dict[str, Any] = {
            "rpcVersion": RPC_VERSION,
            "eventSubscriptions": int(message.event_subscriptions),
        }
        if hello.auth_required:
            if self._password is None:
                raise ObsLocalProtocolError("OBS requires a password and none is configured")
            assert hello.salt is not None
            assert hello.challenge is not None
            d["authentication"] = authentication_string(self._password, hello.salt, hello.challenge)
        return {"op": OpCode.IDENTIFY, "d": d}


# --- one connection ------------------------------------------------------------------------


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
        on_malformed: Callable[[str, Exception], None] | None = None,
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
            self._feed(await ws.recv())
            while not isinstance(event := self._codec.next_event(), _NeedData):
                if isinstance(event, Hello):
                    self.hello = event
                    if event.auth_required and not self._codec.has_password:
                        raise AuthenticationError(
                            _(
                                "OBS at {where} requires a websocket password and none is "
                                "configured"
                            ).format(where=self.where)
                        )
                    await ws.send(
                        self._codec.send(Identify(event_subscriptions=self._subscriptions))
                    )
                elif isinstance(event, Identified):
                    return

    def _feed(self, message: str | bytes) -> None:
        try:
            self._codec.receive_message(message)
        except ObsRemoteProtocolError as exc:
            if self._on_malformed is not None:
                self._on_malformed("obs-websocket message", exc)
            else:
                log.warning("obs %s: malformed message: %s", self.where, exc)

    async def _read(self, ws: ClientConnection) -> None:
        try:
            async for message in ws:
                self._feed(message)
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
        while not isinstance(event := self._codec.next_event(), _NeedData):
            if isinstance(event, (RequestResponse, RequestBatchResponse)):
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
                    await self._ws.send(self._codec.send(message))
                return await waiter
        except TimeoutError:
            name = getattr(message, "request_type", "request batch")
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


# --- the reconnecting client ---------------------------------------------------------------


def _is_local(host: str) -> bool:
    """OBS on this machine (loopback or the name localhost)."""
    if host.strip("[]").lower() in ("localhost", "localhost.localdomain"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class ObsOptions(BaseModel):
    """The `[obs]` table of config.toml. The password never lives in the file itself."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    host: str = "127.0.0.1"
    port: int = Field(4455, ge=1, le=65535)
    # Where the websocket password comes from: this environment variable, else this file
    # (which must not be readable by group or others).
    password_env: str = "COUNCILD_OBS_PASSWORD"
    password_file: Path | None = None
    request_timeout: float = Field(REQUEST_TIMEOUT, gt=0, le=60)

    def read_password(self, environ: Mapping[str, str] | None = None) -> str | None:
        env = os.environ if environ is None else environ
        if self.password_env and env.get(self.password_env):
            return env[self.password_env]
        if self.password_file is None:
            return None
        try:
            mode = self.password_file.stat().st_mode
            if mode & (stat.S_IRWXG | stat.S_IRWXO):
                raise AuthenticationError(
                    _("{path} is readable by other users; chmod 600 it").format(
                        path=self.password_file
                    )
                )
            return self.password_file.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise AuthenticationError(
                _("cannot read the OBS password file: {reason}").format(reason=exc)
            ) from exc


@dataclass(frozen=True, slots=True, kw_only=True)
class ObsInventory:
    """What OBS holds right after a (re)connect, checked against what councild needs."""

    obs_version: str
    websocket_version: str
    scenes: tuple[str, ...]
    inputs: tuple[str, ...]
    program_scene: str
    preview_scene: str | None
    studio_mode: bool
    missing_scenes: tuple[str, ...]
    missing_inputs: tuple[str, ...]

    @property
    def complete(self) -> bool:
        return not (self.missing_scenes or self.missing_inputs)


@dataclass(frozen=True, slots=True, kw_only=True)
class MediaSource:
    """Settings of an ffmpeg_source (media source) input, e.g. a remote councillor's feed:
    an SDP file describing an RTP stream is `local_file=..., is_local_file=True`."""

    local_file: str | None = None
    url: str | None = None  # used when is_local_file is False (rtsp://, srt://, ...)
    is_local_file: bool = True
    input_format: str = ""  # ffmpeg demuxer name; empty = probe
    ffmpeg_options: str = ""  # "key=value key=value", e.g. "protocol_whitelist=file,udp,rtp"
    restart_on_activate: bool = True
    close_when_inactive: bool = False
    hw_decode: bool = False

    def settings(self) -> dict[str, Any]:
        settings: dict[str, Any] = {
            "is_local_file": self.is_local_file,
            "input_format": self.input_format,
            "ffmpeg_options": self.ffmpeg_options,
            "restart_on_activate": self.restart_on_activate,
            "close_when_inactive": self.close_when_inactive,
            "hw_decode": self.hw_decode,
        }
        if self.local_file is not None:
            settings["local_file"] = self.local_file
        if self.url is not None:
            settings["input"] = self.url
        return settings


ReadyHook = Callable[["ObsInventory"], Awaitable[None] | None]
Subscriber = Callable[[ObsEvent], Awaitable[None] | None]

# Events that change which scenes and inputs exist.
_INVENTORY_EVENTS = frozenset(
    {
        "SceneListChanged",
        "SceneCreated",
        "SceneRemoved",
        "SceneNameChanged",
        "InputCreated",
        "InputRemoved",
        "InputNameChanged",
    }
)

# Events after which cached scene-item ids may point at the wrong item.
_ITEM_CACHE_EVENTS = frozenset(
    {
        "SceneItemCreated",
        "SceneItemRemoved",
        "SceneNameChanged",
        "SceneRemoved",
        "InputNameChanged",
        "InputRemoved",
        "SceneListChanged",
        "CurrentSceneCollectionChanged",
    }
)


class ObsClient(LinkReporter):
    """The daemon's handle on OBS: reconnects, checks, publishes health, dispatches events.

    `emit` receives DeviceStatus(device=name, ...) whenever the link or its detail changes.
    `on_ready(inventory)` runs after every successful (re)connect and check, so the daemon
    can re-apply the current shot. Requests raise ConnectionLostError while disconnected.
    """

    def __init__(
        self,
        options: ObsOptions,
        emit: Callable[[Event], None],
        *,
        password: str | None = None,
        required_scenes: Sequence[str] = (),
        required_inputs: Sequence[str] = (),
        on_ready: ReadyHook | None = None,
        name: str = "obs",
        event_subscriptions: int = EventSubscription.ALL,
    ) -> None:
        super().__init__(name, emit)
        self.options = options
        self._password = password
        self.required_scenes = tuple(required_scenes)
        self.required_inputs = tuple(required_inputs)
        self._on_ready = on_ready
        self._subscriptions = event_subscriptions
        self._tries = 0
        self.connect_attempts = 0
        self._sessions = 0
        self.retry_delay = 0.0  # the wait before the next attempt, once the link is lost
        self._conn: ObsConnection | None = None
        self._task: asyncio.Task[None] | None = None
        self._ready = asyncio.Event()
        self._subscribers: list[tuple[str | None, Subscriber]] = []
        self._callback_tasks: set[asyncio.Task[None]] = set()
        self._item_ids: dict[tuple[str, str], int] = {}
        self.inventory: ObsInventory | None = None
        self.program_scene: str | None = None
        self.preview_scene: str | None = None
        self.studio_mode = False

    # --- lifecycle -----------------------------------------------------------------------------

    @property
    def connected(self) -> bool:
        return self._conn is not None and not self._conn.closed and self._ready.is_set()

    @property
    def pending_requests(self) -> int:
        return self._conn.pending_requests if self._conn is not None else 0

    async def start(self) -> None:
        """Start connecting in the background; returns at once. Safe to call twice."""
        if self._task is None:
            self._task = asyncio.create_task(self._supervise(), name=f"device:{self.name}")

    async def stop(self) -> None:
        """Disconnect for good; safe to call twice."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        callbacks = list(self._callback_tasks)
        for callback_task in callbacks:
            callback_task.cancel()
        await asyncio.gather(*callbacks, return_exceptions=True)
        self._set_link(Link.CLOSED, _("stopped"))

    async def wait_ready(self, timeout: float = CONNECT_TIMEOUT + IDENTIFY_TIMEOUT) -> ObsInventory:
        """Wait until connected and checked; OperationTimeoutError with the last reason."""
        try:
            async with asyncio.timeout(timeout):
                await self._ready.wait()
        except TimeoutError:
            raise OperationTimeoutError(
                _("OBS not ready after {seconds} s: {detail}").format(
                    seconds=timeout, detail=self._detail
                )
            ) from None
        assert self.inventory is not None
        return self.inventory

    def subscribe(self, event_type: str | None, callback: Subscriber) -> Callable[[], None]:
        """Call `callback(event)` for every OBS event of this type (None: all events).
        Async callbacks run as tasks; exceptions are logged. Returns an unsubscribe."""
        entry = (event_type, callback)
        self._subscribers.append(entry)
        return lambda: self._subscribers.remove(entry) if entry in self._subscribers else None

    # --- requests ----------------------------------------------------------------------------

    async def request(
        self,
        request_type: str,
        data: Mapping[str, Any] | None = None,
        *,
        timeout: float | None = None,
    ) -> Mapping[str, Any]:
        """Any obs-websocket request; its responseData. ObsRequestError on refusal."""
        conn = self._connection()
        result = await conn.request(
            request_type, data, timeout=timeout or self.options.request_timeout
        )
        self._seen()
        return result

    async def batch(
        self,
        requests: Sequence[Request],
        *,
        halt_on_failure: bool = False,
        execution: BatchExecution = BatchExecution.SERIAL_REALTIME,
        timeout: float | None = None,
    ) -> tuple[RequestResponse, ...]:
        """Several requests in one message; SERIAL_FRAME lands them in the same frame."""
        conn = self._connection()
        results = await conn.batch(
            requests,
            halt_on_failure=halt_on_failure,
            execution=execution,
            timeout=timeout or self.options.request_timeout,
        )
        self._seen()
        return results

    async def set_program_scene(self, scene: str) -> None:
        await self.request("SetCurrentProgramScene", {"sceneName": scene})

    async def get_program_scene(self) -> str:
        data = await self.request("GetCurrentProgramScene")
        return str(data.get("sceneName") or data["currentProgramSceneName"])

    async def set_preview_scene(self, scene: str) -> None:
        """Needs studio mode (ObsRequestError code 506 otherwise)."""
        await self.request("SetCurrentPreviewScene", {"sceneName": scene})

    async def set_studio_mode(self, enabled: bool) -> None:
        await self.request("SetStudioModeEnabled", {"studioModeEnabled": enabled})

    async def get_studio_mode(self) -> bool:
        return bool((await self.request("GetStudioModeEnabled"))["studioModeEnabled"])

    async def trigger_transition(self) -> None:
        """Studio mode: put preview on program with the current transition."""
        await self.request("TriggerStudioModeTransition")

    async def set_transition(self, name: str, duration_ms: int | None = None) -> None:
        await self.request("SetCurrentSceneTransition", {"transitionName": name})
        if duration_ms is not None:
            await self.request(
                "SetCurrentSceneTransitionDuration", {"transitionDuration": duration_ms}
            )

    async def get_input_settings(self, input_name: str) -> Mapping[str, Any]:
        data = await self.request("GetInputSettings", {"inputName": input_name})
        settings: Mapping[str, Any] = data["inputSettings"]
        return settings

    async def set_input_settings(
        self, input_name: str, settings: Mapping[str, Any], *, overlay: bool = True
    ) -> None:
        await self.request(
            "SetInputSettings",
            {"inputName": input_name, "inputSettings": dict(settings), "overlay": overlay},
        )

    async def set_text(self, input_name: str, text: str) -> None:
        """Text of a text_ft2_source_v2 input (a lower-third line)."""
        await self.set_input_settings(input_name, {"text": text})

    async def set_media_source(self, input_name: str, media: MediaSource) -> None:
        """Point an ffmpeg_source input at a file/SDP or URL."""
        await self.set_input_settings(input_name, media.settings())

    async def set_scene_item_enabled(self, scene: str, source: str, enabled: bool) -> None:
        """Show or hide a source within a scene (looks the item id up once, then caches it)."""
        key = (scene, source)
        cached = self._item_ids.get(key)
        item_id = cached if cached is not None else await self._scene_item_id(scene, source)
        request = {"sceneName": scene, "sceneItemId": item_id, "sceneItemEnabled": enabled}
        try:
            await self.request("SetSceneItemEnabled", request)
        except ObsRequestError as exc:
            # A cached id can go stale through an edit we saw no event for: look up once more.
            if cached is None or exc.code != STATUS_RESOURCE_NOT_FOUND:
                raise
            request["sceneItemId"] = await self._scene_item_id(scene, source)
            await self.request("SetSceneItemEnabled", request)

    async def _scene_item_id(self, scene: str, source: str) -> int:
        data = await self.request("GetSceneItemId", {"sceneName": scene, "sourceName": source})
        item_id = self._item_ids[(scene, source)] = int(data["sceneItemId"])
        return item_id

    async def get_scene_names(self) -> list[str]:
        data = await self.request("GetSceneList")
        return [scene["sceneName"] for scene in data["scenes"]]

    async def get_screenshot(
        self, source: str, *, image_format: str = "png", width: int | None = None
    ) -> bytes:
        """A rendered picture of a source or scene, as image bytes."""
        data: dict[str, Any] = {"sourceName": source, "imageFormat": image_format}
        if width is not None:
            data["imageWidth"] = width
        reply = await self.request("GetSourceScreenshot", data, timeout=SCREENSHOT_TIMEOUT)
        _, _, encoded = str(reply["imageData"]).partition("base64,")
        return base64.b64decode(encoded)

    async def get_stats(self) -> Mapping[str, Any]:
        return await self.request("GetStats")

    # --- the broadcast: stream and recording (councild/broadcast.py reads these) -----------

    async def get_version(self) -> Mapping[str, Any]:
        """obsVersion, obsWebSocketVersion, availableRequests (capability detection)."""
        return await self.request("GetVersion")

    async def get_stream_status(self) -> Mapping[str, Any]:
        """outputActive, outputReconnecting, outputTimecode, outputDuration, outputCongestion,
        outputBytes, outputSkippedFrames, outputTotalFrames."""
        return await self.request("GetStreamStatus")

    async def get_record_status(self) -> Mapping[str, Any]:
        """outputActive, outputPaused, outputTimecode, outputDuration, outputBytes."""
        return await self.request("GetRecordStatus")

    async def get_stream_service(self) -> Mapping[str, Any]:
        """streamServiceType and streamServiceSettings (server, key, ...)."""
        return await self.request("GetStreamServiceSettings")

    async def get_record_directory(self) -> str:
        return str((await self.request("GetRecordDirectory"))["recordDirectory"])

    async def start_stream(self) -> None:
        await self.request("StartStream")

    async def stop_stream(self) -> None:
        await self.request("StopStream")

    async def start_record(self) -> None:
        await self.request("StartRecord")

    async def stop_record(self) -> str | None:
        """The path of the file OBS wrote, where OBS says it (obs-websocket 5.x: outputPath)."""
        data = await self.request("StopRecord")
        path = data.get("outputPath") if isinstance(data, Mapping) else None
        return str(path) if path else None

    async def pause_record(self) -> None:
        await self.request("PauseRecord")

    async def resume_record(self) -> None:
        await self.request("ResumeRecord")

    async def create_record_chapter(self, name: str | None = None) -> None:
        """obs-websocket 5.5 (OBS 30.2+), Hybrid MP4 only; check availableRequests first."""
        await self.request("CreateRecordChapter", {"chapterName": name} if name else {})

    # --- internals ---------------------------------------------------------------------------

    def _connection(self) -> ObsConnection:
        conn = self._conn
        if conn is None or conn.closed:
            raise ConnectionLostError(_("OBS is not connected"))
        return conn

    async def _supervise(self) -> None:
        first = True
        while True:
            self._set_link(Link.CONNECTING if first else Link.RECONNECTING)
            delay: float | None = None
            try:
                reason = await self._session()
                self.log.warning("%s: link lost: %s", self.name, reason)
            except asyncio.CancelledError:
                raise
            except AuthenticationError as exc:
                reason = str(exc)
                log_level = logging.ERROR if self._tries == 0 else logging.DEBUG
                self.log.log(log_level, "%s: %s", self.name, reason)
                delay = AUTH_RETRY_DELAY
            except CouncildError as exc:
                reason = str(exc)
                log_level = logging.WARNING if self._tries == 0 else logging.DEBUG
                self.log.log(log_level, "%s: %s", self.name, reason)
            except Exception as exc:  # any other failure: log loudly, retry
                reason = f"{type(exc).__name__}: {exc}"
                self.log.exception("%s: unexpected failure", self.name)
            finally:
                self._ready.clear()
                conn, self._conn = self._conn, None
                self._item_ids.clear()
                if conn is not None:
                    await conn.close()
            first = False
            self.retry_delay = delay if delay is not None else backoff_delay(
                self._tries, cap=LOCAL_RETRY_CAP if _is_local(self.options.host) else BACKOFF_CAP)
            self._set_link(Link.LOST, reason)
            await asyncio.sleep(self.retry_delay)
            self._tries += 1

    async def _session(self) -> str:
        """Connect, check, follow until the connection is gone; the reason it went."""
        self.connect_attempts += 1
        conn = ObsConnection(
            self.options.host,
            self.options.port,
            self._password,
            event_subscriptions=self._subscriptions,
            on_event=self._dispatch,
            on_malformed=self._malformed,
        )
        self._conn = conn
        hello = await conn.open()
        self._seen()
        inventory = await self._check(conn, hello)
        self.inventory = inventory
        self._tries = 0
        self._sessions += 1
        self._reconnects = self._sessions - 1  # successful connects after the first
        self._set_link(Link.CONNECTED, self._describe(inventory))
        self._ready.set()
        if self._on_ready is not None:
            try:
                result = self._on_ready(inventory)
                if isinstance(result, Awaitable):
                    await result
            except Exception:  # the hook's failure must not drop OBS
                self.log.exception("%s: on_ready hook failed", self.name)
        return str(await conn.wait_closed())

    async def _check(self, conn: ObsConnection, hello: Hello) -> ObsInventory:
        results = await conn.batch(
            [
                Request(request_type="GetVersion"),
                Request(request_type="GetSceneList"),
                Request(request_type="GetInputList"),
                Request(request_type="GetStudioModeEnabled"),
            ],
            timeout=self.options.request_timeout,
        )
        for result in results:
            if not result.ok:
                raise result.error()
        version, scene_list, input_list, studio = (r.data for r in results)
        try:
            # obs-websocket lists scenes bottom-up; reversed is the order OBS's UI shows.
            scenes = tuple(str(s["sceneName"]) for s in reversed(scene_list["scenes"]))
            inputs = tuple(str(i["inputName"]) for i in input_list["inputs"])
            program = str(scene_list["currentProgramSceneName"])
            preview = scene_list.get("currentPreviewSceneName")
            studio_mode = bool(studio["studioModeEnabled"])
        except (KeyError, TypeError) as exc:
            self._malformed("inventory", exc)
            raise ConnectionLostError(_("OBS sent an unusable scene list")) from exc
        self.program_scene, self.preview_scene = program, preview
        self.studio_mode = studio_mode
        inventory = ObsInventory(
            obs_version=str(version.get("obsVersion", "")),
            websocket_version=hello.obs_websocket_version,
            scenes=scenes,
            inputs=inputs,
            program_scene=program,
            preview_scene=str(preview) if preview else None,
            studio_mode=studio_mode,
            missing_scenes=tuple(s for s in self.required_scenes if s not in scenes),
            missing_inputs=tuple(i for i in self.required_inputs if i not in inputs),
        )
        if not inventory.complete:
            self.log.warning("%s: %s", self.name, self._describe(inventory))
        return inventory

    def _describe(self, inventory: ObsInventory) -> str:
        parts = []
        if inventory.missing_scenes:
            parts.append(
                _("missing scenes: {names}").format(names=", ".join(inventory.missing_scenes))
            )
        if inventory.missing_inputs:
            parts.append(
                _("missing inputs: {names}").format(names=", ".join(inventory.missing_inputs))
            )
        if not parts:
            parts.append(
                _("OBS {version}, websocket {ws}").format(
                    version=inventory.obs_version, ws=inventory.websocket_version
                )
            )
        return "; ".join(parts)

    def _dispatch(self, event: ObsEvent) -> None:
        self._seen()
        data = event.data
        if event.event_type == "CurrentProgramSceneChanged":
            self.program_scene = data.get("sceneName", self.program_scene)
        elif event.event_type == "CurrentPreviewSceneChanged":
            self.preview_scene = data.get("sceneName", self.preview_scene)
        elif event.event_type == "StudioModeStateChanged":
            self.studio_mode = bool(data.get("studioModeEnabled", self.studio_mode))
        elif event.event_type == "ExitStarted":
            self._set_link(self._link, _("OBS is shutting down"))
        elif event.event_type in _INVENTORY_EVENTS:
            self._track_inventory(event)
        if event.event_type in _ITEM_CACHE_EVENTS:
            self._item_ids.clear()
        for event_type, callback in list(self._subscribers):
            if event_type is not None and event_type != event.event_type:
                continue
            try:
                result = callback(event)
            except Exception:  # one subscriber must not break the others
                self.log.exception("%s: subscriber for %s failed", self.name, event.event_type)
                continue
            if isinstance(result, Awaitable):
                self._spawn(result, f"obs-event:{event.event_type}")

    def _track_inventory(self, event: ObsEvent) -> None:
        """Keep the scene and input lists current, so a required scene deleted in OBS
        during the session shows up in the health detail at once, not at the next connect."""
        inventory = self.inventory
        if inventory is None:
            return
        scenes, inputs = list(inventory.scenes), list(inventory.inputs)
        data, kind = event.data, event.event_type
        try:
            if kind == "SceneListChanged":
                scenes = [str(s["sceneName"]) for s in reversed(data["scenes"])]
            elif kind == "SceneCreated" and not data.get("isGroup"):
                scenes.append(str(data["sceneName"]))
            elif kind == "SceneRemoved":
                scenes = [s for s in scenes if s != data["sceneName"]]
            elif kind == "SceneNameChanged":
                scenes = [data["sceneName"] if s == data["oldSceneName"] else s for s in scenes]
            elif kind == "InputCreated":
                inputs.append(str(data["inputName"]))
            elif kind == "InputRemoved":
                inputs = [i for i in inputs if i != data["inputName"]]
            elif kind == "InputNameChanged":
                inputs = [data["inputName"] if i == data["oldInputName"] else i for i in inputs]
        except (KeyError, TypeError) as exc:
            self._malformed(kind, exc)
            return
        scenes = list(dict.fromkeys(scenes))  # SceneCreated and SceneListChanged both come
        updated = replace(
            inventory,
            scenes=tuple(scenes),
            inputs=tuple(inputs),
            missing_scenes=tuple(s for s in self.required_scenes if s not in scenes),
            missing_inputs=tuple(i for i in self.required_inputs if i not in inputs),
        )
        self.inventory = updated
        if (updated.missing_scenes, updated.missing_inputs) != (
            inventory.missing_scenes,
            inventory.missing_inputs,
        ):
            if not updated.complete:
                self.log.warning("%s: %s", self.name, self._describe(updated))
            self._set_link(self._link, self._describe(updated))

    def _spawn(self, awaitable: Awaitable[None], name: str) -> None:
        async def guarded() -> None:
            try:
                await awaitable
            except Exception:  # logged, never passed on
                self.log.exception("%s: async subscriber failed (%s)", self.name, name)

        task = asyncio.create_task(guarded(), name=name)
        self._callback_tasks.add(task)
        task.add_done_callback(self._callback_tasks.discard)


# --- output state events -------------------------------------------------------------------

OUTPUT_STATE_EVENTS = frozenset({"StreamStateChanged", "RecordStateChanged"})


@dataclass(frozen=True, slots=True)
class OutputStateChanged:
    """StreamStateChanged / RecordStateChanged, read: which output, its state without the
    OBS_WEBSOCKET_OUTPUT_ prefix (starting, started, stopping, stopped, reconnecting,
    reconnected, paused, resumed), whether it is active, and the file (recording only)."""

    output: str  # "stream" | "record"
    state: str
    active: bool
    path: str | None = None


def parse_output_state(event: ObsEvent) -> OutputStateChanged | None:
    """None for other events and for a state event without a usable outputState.
    obs-websocket 5.1 sends outputPath on RecordStateChanged only when the recording
    stopped; later versions also on start. Both are accepted."""
    if event.event_type not in OUTPUT_STATE_EVENTS:
        return None
    raw = event.data.get("outputState")
    if not isinstance(raw, str) or not raw:
        return None
    state = raw.removeprefix("OBS_WEBSOCKET_OUTPUT_").lower()
    path = event.data.get("outputPath")
    return OutputStateChanged(
        output="stream" if event.event_type == "StreamStateChanged" else "record",
        state=state,
        active=bool(event.data.get("outputActive", False)),
        path=str(path) if isinstance(path, str) and path else None,
    )
