"""Janus WebRTC server, VideoRoom plugin: remote councillors as participants of one room.

`JanusProtocol` is the sans-IO codec of the Janus JSON API (over the WebSocket transport,
subprotocol "janus-protocol"): text messages in through `receive_message()`, typed messages out
of `next_event()`; requests out as JSON text with a fresh transaction id. VideoRoom plugin data
is decoded into `RoomEvent`s (joined, publishers, leaving, talking, moderation, display ...).

`JanusBridge` is the driver: it joins the room as a publisher that never publishes (display
"councild"), which is how a control client receives the room's events without any WebRTC of
its own, resyncs the roster with `listparticipants` on every (re)connection, keeps the Janus
session alive, and moderates (mute, kick, rtp_forward) with the room secret taken from an
environment variable.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from dataclasses import replace as _replace
from enum import Enum
from typing import Any, Literal

import websockets
from pydantic import Field
from websockets.asyncio.client import ClientConnection

from councild.errors import (
    AuthenticationError,
    ConnectionLostError,
    CouncildError,
    LocalProtocolError,
    OperationTimeoutError,
    RemoteProtocolError,
)
from councild.model import (
    ParticipantDisplay,
    ParticipantJoined,
    ParticipantLeft,
    ParticipantPublished,
    ParticipantTalking,
)
from devices.base import Device, DeviceOptions, Emit
from devices.capabilities import VideoBridge

__all__ = [
    "CONTROL_DISPLAY",
    "SUBPROTOCOL",
    "UNAUTHORIZED_CODES",
    "VIDEOROOM",
    "Ack",
    "JanusBridge",
    "JanusClient",
    "JanusError",
    "JanusEvent",
    "JanusLocalError",
    "JanusMessage",
    "JanusOptions",
    "JanusProtocol",
    "JanusRemoteError",
    "JanusRequestError",
    "JanusTimeout",
    "Participant",
    "RoomEvent",
    "RoomEventKind",
    "Success",
]

SUBPROTOCOL = "janus-protocol"
VIDEOROOM = "janus.plugin.videoroom"
CONTROL_DISPLAY = "councild"
# A Janus message is a few hundred bytes; a participants list of a full room a few KiB. Far
# more than this is not a message Janus would send us.
MAX_MESSAGE = 256 * 1024
# Janus error codes that mean "your credentials are wrong": VideoRoom 433 (unauthorized, wrong
# secret or pin), Janus core 403 (api_secret/token). Some deployments document the wrong room
# secret as 489; it is treated the same.
UNAUTHORIZED_CODES = frozenset({403, 433, 489})
ROOM_NOT_FOUND = 426  # JANUS_VIDEOROOM_ERROR_NO_SUCH_ROOM
ROOM_EXISTS = 427  # JANUS_VIDEOROOM_ERROR_ROOM_EXISTS

# Janus answers on loopback/LAN in milliseconds; 5 s only trips on a hung server.
REQUEST_TIMEOUT = 5.0
# The WebSocket handshake to a local Janus is instant; a stuck TCP connect must not hang.
OPEN_TIMEOUT = 5.0
# Janus drops sessions after session_timeout (default 60 s) without traffic; a keepalive every
# 15 s leaves three misses of slack.
KEEPALIVE_INTERVAL = 15.0


# --- codec ----------------------------------------------------------------------------------


class JanusRemoteError(RemoteProtocolError):
    """Janus sent text that is not a Janus message we understand."""


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


class _NeedData:
    def __repr__(self) -> str:
        return "NEED_DATA"


NEED_DATA = _NeedData()


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
        self._events: list[JanusMessage] = []
        self._state = ProtocolState.OPEN
        self.malformed = 0

    @property
    def state(self) -> ProtocolState:
        return self._state

    def receive_message(self, text: str | bytes | None) -> None:
        """One WebSocket message; None = the transport closed. Raises JanusRemoteError."""
        if text is None:
            self._state = ProtocolState.CLOSED
            return
        if self._state is not ProtocolState.OPEN:
            raise JanusRemoteError("message after close")
        if len(text) > MAX_MESSAGE:
            self.malformed += 1
            raise JanusRemoteError(f"message of {len(text)} bytes exceeds {MAX_MESSAGE}")
        try:
            msg = json.loads(text)
        except (ValueError, UnicodeDecodeError) as exc:
            self.malformed += 1
            raise JanusRemoteError(f"not JSON: {exc}") from exc
        if not isinstance(msg, Mapping):
            self.malformed += 1
            raise JanusRemoteError("message is not a JSON object")
        try:
            self._events.append(_parse(msg))
        except JanusRemoteError:
            self.malformed += 1
            raise
        except (TypeError, ValueError, KeyError, AttributeError) as exc:
            self.malformed += 1
            raise JanusRemoteError(f"unexpected message shape: {exc}") from exc

    def next_event(self) -> JanusMessage | _NeedData:
        return self._events.pop(0) if self._events else NEED_DATA

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


# --- driver ---------------------------------------------------------------------------------


class JanusOptions(DeviceOptions):
    """[devices.NAME] with driver = "janus"."""

    driver: Literal["janus"] = "janus"
    url: str = "ws://127.0.0.1:8188"
    room: int = Field(default=1234, ge=1)
    # Environment variable holding the room secret (moderation, rtp_forward, room creation);
    # never in config.toml, which is readable by more people than the daemon's user.
    secret_env: str = "COUNCILD_BRIDGE_SECRET"
    create_room: bool = False  # create the room (with talking events) when it does not exist
    # Janus averages the audio level over this many packets (20 ms each) before it decides
    # "talking": 50 = 1 s, steady enough for a camera cut; tests use 10.
    audio_active_packets: int = Field(default=50, ge=1, le=1000)
    audio_level_average: int = Field(default=40, ge=0, le=127)  # -dBov threshold of "talking"
    keepalive: float = Field(default=KEEPALIVE_INTERVAL, gt=0, le=55)  # < session_timeout 60
    # Janus asks every publisher for a keyframe this often (room fir_freq, when we create the
    # room). A forward to OBS is one-way: without it a browser sends keyframes only when
    # asked, so OBS could wait forever for its first picture, or after a lost packet.
    keyframe_interval: int = Field(default=2, ge=0, le=60)
    follow_floor: bool = False  # the bridge has no channels the floor would switch


class JanusClient:
    """One WebSocket with one Janus session and one VideoRoom handle, used once.

    Runs its own reader task; answers go to the waiting request by transaction, everything
    else to `on_event` (called in the reader: an exception raised there ends the client).
    """

    def __init__(self, ws: ClientConnection, on_event: Callable[[JanusMessage], None],
                 on_malformed: Callable[[Exception], None] | None = None,
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
                      on_malformed: Callable[[Exception], None] | None = None,
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
        error = getattr(reply, "error", None)
        if error is not None:
            raise JanusRequestError(what, error.code, error.reason)
        return reply

    async def plugin(self, body: Mapping[str, Any], *, until_event: bool = False) -> JanusMessage:
        """A VideoRoom request; `until_event` for the asynchronous ones (join, configure)."""
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
                try:
                    self.codec.receive_message(text)
                except JanusRemoteError as exc:
                    if self._on_malformed is not None:
                        self._on_malformed(exc)
                    continue
                while not isinstance(msg := self.codec.next_event(), _NeedData):
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


OPUS_PT = 111  # what forwarded audio is sent as (councild.bridge writes the SDP to match)
VP8_PT = 96


class JanusBridge(Device, VideoBridge):
    """A Janus VideoRoom, followed by a non-publishing control participant."""

    Options = JanusOptions

    def __init__(self, name: str, options: DeviceOptions, emit: Emit) -> None:
        super().__init__(name, options, emit)
        assert isinstance(options, JanusOptions)
        self.opts: JanusOptions = options
        self._roster: dict[str, Participant] = {}
        self._forwards: dict[str, list[int]] = {}
        self._client: JanusClient | None = None
        self.own_id: str | None = None
        # Participants announced (or gone) by events while we join and list the room: Janus
        # answers listparticipants from its own thread, so its list can be older than an
        # event that reached us first. Those events win over the list (None: not joining).
        self._announced: set[str] | None = None
        self._gone: set[str] | None = None
        self.attempts = 0  # connection attempts since start: tests check there is no flapping

    # --- what the daemon calls ---------------------------------------------------------------

    @property
    def roster(self) -> dict[str, Participant]:
        """Participants in the room now (without ourselves), by participant id."""
        return dict(self._roster)

    @property
    def secret(self) -> str | None:
        return os.environ.get(self.opts.secret_env) or None

    async def mute(self, participant: str, muted: bool) -> None:
        """Mute (or unmute) every audio stream of a publisher in the room (moderate)."""
        who = self._get(participant)
        if not who.audio_mids:
            raise CouncildError(f"{self.name}: participant {participant} publishes no audio")
        for mid in who.audio_mids:
            await self._moderated({"request": "moderate", "id": self._jid(participant),
                                   "mid": mid, "mute": muted})

    async def forward(self, participant: str, host: str, audio_port: int,
                      video_port: int | None = None) -> dict[str, int]:
        """rtp_forward the participant's first audio (and video) stream; stream id per mid."""
        who = self._get(participant)
        streams: list[dict[str, Any]] = []
        # Payload types pinned, so the SDP the receiver plays from can name them.
        if who.audio_mids and audio_port:
            streams.append({"mid": who.audio_mids[0], "port": audio_port, "pt": OPUS_PT})
        if who.video_mids and video_port:
            streams.append({"mid": who.video_mids[0], "port": video_port, "pt": VP8_PT})
        if not streams:
            raise CouncildError(f"{self.name}: participant {participant} has nothing to forward")
        reply = await self._moderated({"request": "rtp_forward",
                                       "publisher_id": self._jid(participant), "host": host,
                                       "host_family": "ipv4", "streams": streams})
        result: dict[str, int] = {}
        data = reply.room.data if reply.room is not None else {}
        for fwd in data.get("forwarders", ()):
            if isinstance(fwd, Mapping) and isinstance(fwd.get("stream_id"), int):
                result[str(fwd.get("mid", fwd.get("type", "")))] = fwd["stream_id"]
        self._forwards.setdefault(participant, []).extend(result.values())
        return result

    async def stop_forward(self, participant: str) -> None:
        for stream_id in self._forwards.pop(participant, []):
            with contextlib.suppress(JanusRequestError):  # already gone with its publisher
                await self._moderated({"request": "stop_rtp_forward",
                                       "publisher_id": self._jid(participant),
                                       "stream_id": stream_id})

    async def kick(self, participant: str) -> None:
        await self._moderated({"request": "kick", "id": self._jid(participant)})

    # --- internals ----------------------------------------------------------------------------

    def _get(self, participant: str) -> Participant:
        who = self._roster.get(participant)
        if who is None:
            raise CouncildError(f"{self.name}: no participant {participant} in the room")
        return who

    @staticmethod
    def _jid(participant: str) -> int | str:
        return int(participant) if participant.isdigit() else participant

    async def _moderated(self, body: dict[str, Any]) -> Success:
        client = self._client
        if client is None:
            raise ConnectionLostError(f"{self.name}: not connected to Janus")
        secret = self.secret
        if secret is None:
            raise AuthenticationError(f"{self.name}: ${self.opts.secret_env} is not set; "
                                      "moderation needs the room secret")
        body = {**body, "room": self.opts.room, "secret": secret}
        reply = await client.plugin(body)
        if not isinstance(reply, Success):
            raise JanusRemoteError(f"{body['request']} answered with {reply.janus!r}")
        return reply

    async def _session(self) -> None:
        self.attempts += 1
        client = await JanusClient.connect(
            self.opts.url, self._on_message,
            on_malformed=lambda exc: self._malformed("janus message", exc), on_seen=self._seen)
        try:
            await self._setup(client)
            self._client = client
            await client.run(self.opts.keepalive, self.name)
        except JanusRequestError as exc:
            if exc.unauthorized:
                raise AuthenticationError(
                    f"wrong room secret for room {self.opts.room} "
                    f"(${self.opts.secret_env}; Janus error {exc.code}: {exc.reason})"
                ) from exc
            raise
        finally:
            self._client = None
            await client.close()

    async def _setup(self, client: JanusClient) -> None:
        room, secret = self.opts.room, self.secret
        exists = await client.plugin({"request": "exists", "room": room})
        if not (isinstance(exists, Success) and exists.room and exists.room.data.get("exists")):
            if not self.opts.create_room:
                raise ConnectionLostError(f"room {room} does not exist at Janus")
            create: dict[str, Any] = {
                "request": "create", "room": room, "publishers": 16,
                "audiolevel_event": True, "notify_joining": True,
                "audio_active_packets": self.opts.audio_active_packets,
                "audio_level_average": self.opts.audio_level_average,
                "fir_freq": self.opts.keyframe_interval,
            }
            if secret is not None:
                create["secret"] = secret
            await client.plugin(create)
        if secret is not None:
            # A request that needs the secret and changes nothing: a wrong secret shows now,
            # not at the first mute in the middle of a session.
            await client.plugin({"request": "listforwarders", "room": room, "secret": secret})
        self._announced, self._gone = set(), set()
        joined = await client.plugin({"request": "join", "ptype": "publisher", "room": room,
                                      "display": CONTROL_DISPLAY}, until_event=True)
        if not (isinstance(joined, JanusEvent) and joined.room
                and joined.room.kind is RoomEventKind.JOINED):
            raise JanusRemoteError(f"join answered with {joined!r}")
        self.own_id = joined.room.participant
        listed = await client.plugin({"request": "listparticipants", "room": room})
        people = listed.room.participants if isinstance(listed, Success) and listed.room else ()
        try:
            self._resync(people, joined.room.participants)
        finally:
            self._announced = self._gone = None
        detail = f"room {room}, {len(self._roster)} participants"
        if secret is None:
            detail += f"; ${self.opts.secret_env} unset: no moderation"
        self._connected(detail)

    # --- roster ----------------------------------------------------------------------------

    def _resync(self, people: tuple[Participant, ...], publishers: tuple[Participant, ...]) -> None:
        """Replace the roster with what Janus lists, emitting only the differences."""
        streams = {p.id: p for p in publishers}
        fresh: dict[str, Participant] = {}
        gone, announced = self._gone or set(), self._announced or set()
        for p in people:
            if p.id == self.own_id or p.id in gone:
                continue
            # listparticipants has no streams: take them from the join's publisher list, or
            # from a publishers event that arrived between our join and this list
            pub = streams.get(p.id) or self._roster.get(p.id)
            if pub is not None:
                p = _replace(p, publisher=p.publisher or pub.publisher,
                             audio_mids=pub.audio_mids, video_mids=pub.video_mids,
                             muted=pub.muted)
            fresh[p.id] = p
        for pid in announced - fresh.keys():
            if pid in self._roster:  # joined after Janus made the list: still here
                fresh[pid] = self._roster[pid]
        for pid in list(self._roster):
            if pid not in fresh:
                self._leave(pid)
        for p in fresh.values():
            old = self._roster.get(p.id)
            self._roster[p.id] = p
            if old is None:
                self._emit(ParticipantJoined(device=self.name, participant=p.id,
                                             display=p.display))
            elif old.display != p.display:
                self._emit(ParticipantDisplay(device=self.name, participant=p.id,
                                              display=p.display))
            if (old.talking if old else False) != p.talking:
                self._emit(ParticipantTalking(device=self.name, participant=p.id,
                                              talking=p.talking))

    def _leave(self, pid: str) -> None:
        if self._gone is not None:
            self._gone.add(pid)
        self._forwards.pop(pid, None)  # Janus drops a publisher's forwarders with it
        old = self._roster.pop(pid, None)
        if old is not None:
            if old.talking:
                self._emit(ParticipantTalking(device=self.name, participant=pid, talking=False))
            self._emit(ParticipantLeft(device=self.name, participant=pid))

    def _upsert(self, p: Participant) -> None:
        if p.id == self.own_id:
            return
        if self._announced is not None:
            self._announced.add(p.id)
            if self._gone is not None:
                self._gone.discard(p.id)
        old = self._roster.get(p.id)
        if old is None:
            self._roster[p.id] = p
            self._emit(ParticipantJoined(device=self.name, participant=p.id, display=p.display))
            return
        new = self._roster[p.id] = Participant(
            id=p.id, display=p.display, publisher=p.publisher or old.publisher,
            talking=old.talking, audio_mids=p.audio_mids or old.audio_mids,
            video_mids=p.video_mids or old.video_mids, muted=old.muted)
        if old.display != p.display:
            self._emit(ParticipantDisplay(device=self.name, participant=p.id, display=p.display))
        if new.audio_mids != old.audio_mids:
            self._emit(ParticipantPublished(device=self.name, participant=p.id))

    def _on_message(self, msg: JanusMessage) -> None:
        if isinstance(msg, JanusTimeout):
            # raised inside the reader: ends this link, the base loop reconnects
            raise ConnectionLostError(f"Janus ended our session ({msg.janus})")
        if not isinstance(msg, JanusEvent | Success) or msg.room is None:
            return
        ev = msg.room
        if ev.room is not None and ev.room != self.opts.room:
            return
        handler = _ROOM_HANDLERS.get(ev.kind)
        if handler is not None:
            handler(self, ev)

    def _on_publishers(self, ev: RoomEvent) -> None:
        for p in ev.participants:
            self._upsert(p)

    def _on_joining(self, ev: RoomEvent) -> None:
        if ev.participant is not None:
            self._upsert(Participant(id=ev.participant, display=ev.display or ""))

    def _on_leaving(self, ev: RoomEvent) -> None:
        if ev.participant is not None:
            self._leave(ev.participant)

    def _on_unpublished(self, ev: RoomEvent) -> None:
        old = self._roster.get(ev.participant or "")
        if old is not None:
            if old.talking:
                self._emit(ParticipantTalking(device=self.name, participant=old.id,
                                              talking=False))
            self._roster[old.id] = Participant(id=old.id, display=old.display)

    def _on_talking(self, ev: RoomEvent) -> None:
        talking = ev.kind is RoomEventKind.TALKING
        old = self._roster.get(ev.participant or "")
        if old is None or old.talking == talking:
            return
        self._roster[old.id] = _replace(old, talking=talking)
        self._emit(ParticipantTalking(device=self.name, participant=old.id, talking=talking))

    def _on_moderation(self, ev: RoomEvent) -> None:
        old = self._roster.get(ev.participant or "")
        if old is not None and ev.muted is not None:
            self._roster[old.id] = _replace(old, muted=ev.muted)

    def _on_display(self, ev: RoomEvent) -> None:
        old = self._roster.get(ev.participant or "")
        if old is None or ev.display is None:
            return
        if old.display != ev.display:
            self._roster[old.id] = _replace(old, display=ev.display)
            self._emit(ParticipantDisplay(device=self.name, participant=old.id,
                                          display=ev.display))

    def _on_destroyed(self, ev: RoomEvent) -> None:
        for pid in list(self._roster):
            self._leave(pid)
        # reconnecting recreates the room (create_room) or reports that it is missing
        raise ConnectionLostError(f"room {self.opts.room} was destroyed")


_ROOM_HANDLERS = {
    RoomEventKind.PUBLISHERS: JanusBridge._on_publishers,
    RoomEventKind.JOINING: JanusBridge._on_joining,
    RoomEventKind.LEAVING: JanusBridge._on_leaving,
    RoomEventKind.KICKED: JanusBridge._on_leaving,
    RoomEventKind.UNPUBLISHED: JanusBridge._on_unpublished,
    RoomEventKind.TALKING: JanusBridge._on_talking,
    RoomEventKind.STOPPED_TALKING: JanusBridge._on_talking,
    RoomEventKind.MODERATION: JanusBridge._on_moderation,
    RoomEventKind.DISPLAY: JanusBridge._on_display,
    RoomEventKind.DESTROYED: JanusBridge._on_destroyed,
}
