"""obs-websocket v5, sans-IO: the messages, the op codes, the auth hash, encode and decode.

The codec speaks councild's one dialect (councild/sansio.py). One websocket message (a text
frame; the websocket library does the framing) goes in through `receive_data()`, the end of the
connection through `receive_close()` (or `receive_data(None)`: ended without a close frame);
events come out of `next_event()`: a message, a `Malformed` for one OBS sent that is not valid
obs-websocket (counted by the driver, the next message still parses), or NEED_DATA.
Identify / Request / RequestBatch go out through `send() -> bytes` (the text of a text frame).
No sockets, no clock: scenes/obs_connection.py drives it over one websocket.

Also here, because they only read or build message data: `MediaSource` (the settings of a
media-source input) and `parse_output_state` (stream and record state events).
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import Enum, IntEnum, IntFlag
from typing import Any

from councild.errors import CouncildError, LocalProtocolError, RemoteProtocolError
from councild.sansio import NEED_DATA, Malformed, NeedData

__all__ = [
    "NEED_DATA",
    "BatchExecution",
    "CloseCode",
    "Closed",
    "EventSubscription",
    "Hello",
    "Identified",
    "Identify",
    "Malformed",
    "MediaSource",
    "ObsEvent",
    "ObsLocalProtocolError",
    "ObsMessage",
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

# Cap on one incoming message: a 1080p PNG screenshot in base64 is a few MiB.
MAX_MESSAGE_BYTES = 16 * 1024 * 1024

RPC_VERSION = 1
SUBPROTOCOL = "obswebsocket.json"

# What a Malformed from this codec is about (the driver's count names it).
MESSAGE = "obs-websocket message"

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
    """OBS sent a message that is not valid obs-websocket v5. Raised inside the decoder
    only: `receive_data` turns it into a `Malformed` event."""


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
        self._events: deque[ObsMessage | Malformed] = deque()
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

    def receive_data(self, data: bytes | str | None) -> None:
        """Feed one websocket message (None: the connection ended without a close frame).
        A bad message becomes a `Malformed` event and changes no state: websocket framing
        keeps the next message intact, so the codec stays usable."""
        if data is None:
            self.receive_close(None)
            return
        try:
            event = self._decode(data)
        except ObsRemoteProtocolError as exc:
            raw = data.encode("utf-8", "replace") if isinstance(data, str) else data
            self._events.append(Malformed.of(MESSAGE, exc, raw))
            return
        self._events.append(event)

    def _decode(self, data: bytes | str) -> ObsMessage:
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
        return event

    def receive_close(self, code: int | None, reason: str = "") -> None:
        """The websocket closed (code None: without a close frame). Idempotent."""
        if self._state is ObsProtocolState.CLOSED:
            return
        self._state = ObsProtocolState.CLOSED
        self._events.append(Closed(code=code, reason=reason))

    def next_event(self) -> ObsMessage | Malformed | NeedData:
        return self._events.popleft() if self._events else NEED_DATA

    def send(self, message: ObsMessage) -> bytes:
        """The text (UTF-8) of the websocket text frame for an outgoing message;
        ObsLocalProtocolError if it cannot be sent now or cannot be encoded."""
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
        return text.encode()

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


# --- message data ----------------------------------------------------------------------------


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
