"""The Janus JSON API (WebSocket transport, subprotocol "janus-protocol"), sans-IO.

`JanusProtocol` speaks councild's one dialect (councild/sansio.py): one WebSocket message in
through `receive_data()` (None: the transport closed), typed messages out of `next_event()` —
a message Janus sent that we cannot read is a `Malformed` event, counted by the driver, and the
next message still parses. Requests are built as JSON text with a fresh transaction id
(`create`, `attach`, `message`, `keepalive`, `destroy`: each returns the transaction and the
text of the frame to send).

The VideoRoom plugin's payloads are decoded here too, into `RoomEvent`s (joined, publishers,
leaving, talking, moderation, display ...), since they arrive inside the Janus messages; any
other plugin's payload is passed on as a RoomEvent of kind OTHER with its data (the AudioBridge
reads it with devices.audiobridge.parse_event). The client over one WebSocket is
devices/janus_client.py; the VideoRoom driver devices/videoroom.py.
"""

from __future__ import annotations

import json
import secrets
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from councild.errors import CouncildError, LocalProtocolError, RemoteProtocolError
from councild.sansio import NEED_DATA, Malformed, NeedData

__all__ = [
    "MAX_MESSAGE",
    "NEED_DATA",
    "ROOM_EXISTS",
    "SUBPROTOCOL",
    "UNAUTHORIZED_CODES",
    "VIDEOROOM",
    "Ack",
    "JanusError",
    "JanusEvent",
    "JanusLocalError",
    "JanusMessage",
    "JanusProtocol",
    "JanusRemoteError",
    "JanusRequestError",
    "JanusTimeout",
    "Malformed",
    "Participant",
    "RoomEvent",
    "RoomEventKind",
    "Success",
]

SUBPROTOCOL = "janus-protocol"
VIDEOROOM = "janus.plugin.videoroom"
# A Janus message is a few hundred bytes; a participants list of a full room a few KiB. Far
# more than this is not a message Janus would send us.
MAX_MESSAGE = 256 * 1024
# Janus error codes that mean "your credentials are wrong": VideoRoom 433 (unauthorized, wrong
# secret or pin), Janus core 403 (api_secret/token). Some deployments document the wrong room
# secret as 489; it is treated the same.
UNAUTHORIZED_CODES = frozenset({403, 433, 489})
ROOM_NOT_FOUND = 426  # JANUS_VIDEOROOM_ERROR_NO_SUCH_ROOM
ROOM_EXISTS = 427  # JANUS_VIDEOROOM_ERROR_ROOM_EXISTS
# What a Malformed from this codec is about (the driver's count names it).
MESSAGE = "janus message"


# --- errors ---------------------------------------------------------------------------------


class JanusRemoteError(RemoteProtocolError):
    """Janus sent text that is not a Janus message we understand. Raised inside the decoder
    only: `receive_data` turns it into a `Malformed` event."""


class JanusLocalError(LocalProtocolError):
    """We were asked to build a request Janus cannot accept."""


class JanusRequestError(CouncildError):
    """Janus (or the plugin) refused a request with an error code."""

    def __init__(self, request: str, code: int, reason: str) -> None:
        self.request = request
        self.code = code
        self.reason = reason
        super().__init__(f"{request}: Janus error {code}: {reason}")

    @property
    def unauthorized(self) -> bool:
        return self.code in UNAUTHORIZED_CODES


@dataclass(frozen=True, slots=True)
class Participant:
    """One participant of the room as Janus lists it."""

    id: str
    display: str
    publisher: bool = False
    talking: bool = False
    audio_mids: tuple[str, ...] = ()
    video_mids: tuple[str, ...] = ()
    muted: bool = False


class RoomEventKind(Enum):
    JOINED = "joined"  # our join succeeded: our id, and the publishers already there
    PUBLISHERS = "publishers"  # publishers started publishing (new or re-announced)
    JOINING = "joining"  # someone entered (rooms with notify_joining)
    UNPUBLISHED = "unpublished"  # a publisher stopped publishing but may still be there
    LEAVING = "leaving"  # a participant left the room
    KICKED = "kicked"  # a participant was kicked out
    TALKING = "talking"  # audio-level detection: started talking
    STOPPED_TALKING = "stopped-talking"  # audio-level detection: stopped talking
    MODERATION = "moderation"  # a publisher's stream was muted or unmuted by a moderator
    DISPLAY = "display"  # a participant changed display name
    PARTICIPANTS = "participants"  # reply to listparticipants
    DESTROYED = "destroyed"  # the room was destroyed
    OTHER = "other"  # any other plugin payload (created, success, rtp_forward ...)


@dataclass(frozen=True, slots=True, kw_only=True)
class RoomEvent:
    kind: RoomEventKind
    room: int | str | None = None
    participant: str | None = None
    display: str | None = None
    mid: str | None = None
    muted: bool | None = None
    participants: tuple[Participant, ...] = ()
    data: Mapping[str, Any] = field(default_factory=dict)  # the plugin payload as sent


@dataclass(frozen=True, slots=True, kw_only=True)
class JanusMessage:
    janus: str
    transaction: str | None = None
    session_id: int | None = None
    sender: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Ack(JanusMessage):
    """Janus received a request; the answer follows as an event."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Success(JanusMessage):
    """A synchronous answer: Janus `data` (create/attach) or plugin data."""

    data: Mapping[str, Any] = field(default_factory=dict)
    room: RoomEvent | None = None
    error: JanusRequestError | None = None  # plugin-level error inside a success


@dataclass(frozen=True, slots=True, kw_only=True)
class JanusEvent(JanusMessage):
    """An asynchronous plugin event (maybe the answer to a request, by transaction)."""

    room: RoomEvent | None = None
    error: JanusRequestError | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class JanusError(JanusMessage):
    """Janus core refused a request."""

    code: int
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class JanusTimeout(JanusMessage):
    """Janus expired our session (or detached/hung up a handle): the link must be rebuilt."""


def _id(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise JanusRemoteError(f"participant id {value!r} is neither int nor string")
    return str(value)


def _streams(entry: Mapping[str, Any]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    audio: list[str] = []
    video: list[str] = []
    for stream in entry.get("streams") or ():
        if not isinstance(stream, Mapping) or stream.get("disabled"):
            continue
        mid = stream.get("mid")
        if not isinstance(mid, str):
            continue
        if stream.get("type") == "audio":
            audio.append(mid)
        elif stream.get("type") == "video":
            video.append(mid)
    return tuple(audio), tuple(video)


def _participant(entry: Any, *, publisher: bool) -> Participant:
    if not isinstance(entry, Mapping):
        raise JanusRemoteError(f"participant entry {entry!r} is not an object")
    display = entry.get("display", "")
    if not isinstance(display, str):
        raise JanusRemoteError(f"display {display!r} is not a string")
    audio, video = _streams(entry)
    return Participant(
        id=_id(entry.get("id")), display=display,
        publisher=bool(entry.get("publisher", publisher)), talking=bool(entry.get("talking")),
        audio_mids=audio, video_mids=video,
    )


def _list(data: Mapping[str, Any], key: str) -> list[Any]:
    value = data.get(key)
    if not isinstance(value, list):
        raise JanusRemoteError(f"{key!r} is not a list")
    return value


def _room_joined(d: Mapping[str, Any]) -> RoomEvent:
    pubs = tuple(_participant(p, publisher=True) for p in _list(d, "publishers"))
    return RoomEvent(kind=RoomEventKind.JOINED, room=d.get("room"), participant=_id(d.get("id")),
                     participants=pubs, data=d)


def _room_talking(d: Mapping[str, Any]) -> RoomEvent:
    kind = RoomEventKind(d["videoroom"])
    return RoomEvent(kind=kind, room=d.get("room"), participant=_id(d.get("id")), data=d)


def _room_participants(d: Mapping[str, Any]) -> RoomEvent:
    people = tuple(_participant(p, publisher=False) for p in _list(d, "participants"))
    return RoomEvent(kind=RoomEventKind.PARTICIPANTS, room=d.get("room"), participants=people,
                     data=d)


def _room_event(d: Mapping[str, Any]) -> RoomEvent:
    """The many shapes of {"videoroom": "event"}: which key is present says what happened."""
    room = d.get("room")
    if "publishers" in d:
        pubs = tuple(_participant(p, publisher=True) for p in _list(d, "publishers"))
        return RoomEvent(kind=RoomEventKind.PUBLISHERS, room=room, participants=pubs, data=d)
    if "joining" in d:
        who = _participant(d["joining"], publisher=False)
        return RoomEvent(kind=RoomEventKind.JOINING, room=room, participant=who.id,
                         display=who.display, data=d)
    for key, kind in (("leaving", RoomEventKind.LEAVING), ("kicked", RoomEventKind.KICKED),
                      ("unpublished", RoomEventKind.UNPUBLISHED)):
        if key in d:
            who = d[key]
            # "ok" is the answer to our own leave/unpublish, not someone else's
            participant = None if who == "ok" else _id(who)
            return RoomEvent(kind=kind, room=room, participant=participant, data=d)
    if "moderation" in d:
        state = d["moderation"]
        if state not in ("muted", "unmuted"):
            raise JanusRemoteError(f"moderation {state!r}")
        mid = d.get("mid")
        return RoomEvent(kind=RoomEventKind.MODERATION, room=room, participant=_id(d.get("id")),
                         mid=mid if isinstance(mid, str) else None, muted=state == "muted",
                         data=d)
    if "display" in d and "id" in d:
        display = d["display"]
        if not isinstance(display, str):
            raise JanusRemoteError(f"display {display!r} is not a string")
        return RoomEvent(kind=RoomEventKind.DISPLAY, room=room, participant=_id(d["id"]),
                         display=display, data=d)
    return RoomEvent(kind=RoomEventKind.OTHER, room=room, data=d)


_ROOM_PARSERS = {
    "joined": _room_joined,
    "talking": _room_talking,
    "stopped-talking": _room_talking,
    "participants": _room_participants,
    "event": _room_event,
    "destroyed": lambda d: RoomEvent(kind=RoomEventKind.DESTROYED, room=d.get("room"), data=d),
}


def _plugin(msg: Mapping[str, Any]) -> tuple[RoomEvent | None, JanusRequestError | None]:
    plugindata = msg.get("plugindata")
    if plugindata is None:
        return None, None
    if not isinstance(plugindata, Mapping) or not isinstance(plugindata.get("data"), Mapping):
        raise JanusRemoteError("plugindata without a data object")
    data = plugindata["data"]
    if "error_code" in data:
        code = data["error_code"]
        if not isinstance(code, int):
            raise JanusRemoteError(f"error_code {code!r}")
        return None, JanusRequestError("videoroom", code, str(data.get("error", "")))
    if plugindata.get("plugin") != VIDEOROOM:
        return RoomEvent(kind=RoomEventKind.OTHER, data=data), None
    kind = data.get("videoroom")
    parser = _ROOM_PARSERS.get(kind) if isinstance(kind, str) else None
    if parser is None:
        return RoomEvent(kind=RoomEventKind.OTHER, room=data.get("room"), data=data), None
    try:
        return parser(data), None
    except (KeyError, ValueError) as exc:
        raise JanusRemoteError(f"videoroom {kind!r}: {exc}") from exc


def _int_or_none(msg: Mapping[str, Any], key: str) -> int | None:
    value = msg.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise JanusRemoteError(f"{key} {value!r} is not an integer")
    return value


def _parse(msg: Mapping[str, Any]) -> JanusMessage:
    kind = msg.get("janus")
    if not isinstance(kind, str):
        raise JanusRemoteError("message without a 'janus' type")
    tx = msg.get("transaction")
    common: dict[str, Any] = {
        "janus": kind, "transaction": tx if isinstance(tx, str) else None,
        "session_id": _int_or_none(msg, "session_id"), "sender": _int_or_none(msg, "sender"),
    }
    if kind == "ack":
        return Ack(**common)
    if kind == "success":
        data = msg.get("data", {})
        if not isinstance(data, Mapping):
            raise JanusRemoteError("success data is not an object")
        room, error = _plugin(msg)
        return Success(**common, data=data, room=room, error=error)
    if kind == "event":
        room, error = _plugin(msg)
        return JanusEvent(**common, room=room, error=error)
    if kind == "error":
        err = msg.get("error")
        if not isinstance(err, Mapping) or not isinstance(err.get("code"), int):
            raise JanusRemoteError("error without a code")
        return JanusError(**common, code=err["code"], reason=str(err.get("reason", "")))
    if kind in ("timeout", "detached", "hangup"):
        return JanusTimeout(**common)
    # webrtcup, media, slowlink, trickle ...: not for a control client; passed on as is
    return JanusMessage(**common)


class ProtocolState(Enum):
    OPEN = "open"  # messages flow
    CLOSED = "closed"  # the transport closed; nothing more comes in


class JanusProtocol:
    """Sans-IO Janus API client codec: requests out as text, messages in as events."""

    def __init__(self) -> None:
        self._events: deque[JanusMessage | Malformed] = deque()
        self._state = ProtocolState.OPEN

    @property
    def state(self) -> ProtocolState:
        return self._state

    def receive_data(self, data: bytes | str | None) -> None:
        """One WebSocket message; None: the transport closed. A message we cannot read
        becomes one `Malformed` event and nothing half-parsed is queued."""
        if data is None:
            self._state = ProtocolState.CLOSED
            return
        try:
            event = self._decode(data)
        except JanusRemoteError as exc:
            raw = data.encode("utf-8", "replace") if isinstance(data, str) else data
            self._events.append(Malformed.of(MESSAGE, exc, raw))
            return
        self._events.append(event)

    def _decode(self, data: bytes | str) -> JanusMessage:
        if self._state is not ProtocolState.OPEN:
            raise JanusRemoteError("message after close")
        if len(data) > MAX_MESSAGE:
            raise JanusRemoteError(f"message of {len(data)} bytes exceeds {MAX_MESSAGE}")
        try:
            msg = json.loads(data)
        except (ValueError, RecursionError) as exc:  # UnicodeDecodeError is a ValueError
            raise JanusRemoteError(f"not JSON: {exc}") from None
        if not isinstance(msg, Mapping):
            raise JanusRemoteError("message is not a JSON object")
        try:
            return _parse(msg)
        except (TypeError, ValueError, KeyError, AttributeError) as exc:
            raise JanusRemoteError(f"unexpected message shape: {exc}") from exc

    def next_event(self) -> JanusMessage | Malformed | NeedData:
        return self._events.popleft() if self._events else NEED_DATA

    # --- requests: each returns (transaction, text to send) ------------------------------

    @staticmethod
    def _request(kind: str, **fields: Any) -> tuple[str, str]:
        tx = secrets.token_hex(6)
        body = {"janus": kind, "transaction": tx}
        body.update({k: v for k, v in fields.items() if v is not None})
        return tx, json.dumps(body, ensure_ascii=False)

    def create(self) -> tuple[str, str]:
        return self._request("create")

    def attach(self, session_id: int, plugin: str = VIDEOROOM) -> tuple[str, str]:
        return self._request("attach", session_id=session_id, plugin=plugin)

    def message(self, session_id: int, handle_id: int, body: Mapping[str, Any]) -> tuple[str, str]:
        if not isinstance(body.get("request"), str):
            raise JanusLocalError("a plugin message needs a 'request' name")
        return self._request("message", session_id=session_id, handle_id=handle_id,
                             body=dict(body))

    def keepalive(self, session_id: int) -> tuple[str, str]:
        return self._request("keepalive", session_id=session_id)

    def destroy(self, session_id: int) -> tuple[str, str]:
        return self._request("destroy", session_id=session_id)
