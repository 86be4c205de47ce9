"""Janus AudioBridge plugin: the mix-minus room of a hybrid session.

Every participant of an AudioBridge room receives the mix of everyone else. councild keeps one
room (created or verified like the VideoRoom: secret from the environment, talking events,
plain-RTP participants allowed, groups "chamber" and "remote"), joins it as the chamber (a
plain-RTP participant, group "chamber", whose RTP councild.chamber_audio relays), follows the
room's events on that same handle, and mutes/unmutes remote councillors as the room's admin.

The codec half is sans-IO: `parse_event()` turns the plugin payload of a Janus message into an
`AbEvent`, the `*_request()` functions build request bodies. The transport (WebSocket, session,
handle, keepalive) is devices/janus_client.py's `JanusClient` attached to this plugin; the
session and room setup it shares with the VideoRoom driver are in devices/janus_room.py.

Measured on Debian's janus 1.1.2 (and in the plugin's documentation at the top of
src/plugins/janus_audiobridge.c, tag v1.1.2):
- a wrong room secret is error 489 (the VideoRoom answers 433);
- our own `join` is answered by {"audiobridge": "joined", "id": ..., "participants": [...],
  "rtp": {ip, port, payload_type}}; someone else's join arrives as "joined" *without* a
  top-level "id" and with the newcomer as the only entry of "participants";
- a mute or display change arrives as {"audiobridge": "event", "participants": [entry]};
- a participant leaving: {"audiobridge": "event", "leaving": id}; kicked: "kicked": id;
- talking: {"audiobridge": "talking"|"stopped-talking", "room", "id"} only for WebRTC
  participants that negotiated the audio-level extension: plain-RTP participants get none
  (Janus does not parse header extensions on that path);
- a plain-RTP participant's UDP socket at Janus is connect()ed to the address given in the
  join: Janus accepts RTP only *from* that address and port, and starts sending the mix only
  after the first packet. Whoever joins must send from the port it receives on.
- `muted` is one flag per participant: an admin mute can be undone by the participant's own
  `configure {"muted": false}` — the join page's proxy (councild.join.gate) refuses that.
Where a detail is not documented (e.g. whether "display" is present), every plausible form is
accepted: a missing display is "", a missing muted/talking is False.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from dataclasses import replace as _replace
from enum import Enum
from typing import Any, Literal

from pydantic import Field

from councild.errors import (
    AuthenticationError,
    ConnectionLostError,
    RemoteProtocolError,
)
from councild.model import (
    ParticipantDisplay,
    ParticipantJoined,
    ParticipantLeft,
    ParticipantTalking,
)
from devices.base import Device, DeviceOptions, Emit
from devices.janus_client import KEEPALIVE_INTERVAL, JanusClient
from devices.janus_protocol import JanusEvent, JanusMessage, JanusRequestError, Success
from devices.janus_room import RosterRace, ensure_room, room_session

__all__ = [
    "AUDIOBRIDGE",
    "GROUPS",
    "GROUP_CHAMBER",
    "GROUP_REMOTE",
    "AbEvent",
    "AbEventKind",
    "AbParticipant",
    "AudioBridge",
    "AudioBridgeError",
    "AudioBridgeOptions",
    "create_request",
    "join_request",
    "mute_request",
    "parse_event",
]

AUDIOBRIDGE = "janus.plugin.audiobridge"
GROUP_CHAMBER = "chamber"
GROUP_REMOTE = "remote"
GROUPS = (GROUP_CHAMBER, GROUP_REMOTE)
OPUS_PT = 111
NO_SUCH_ROOM = 485
ROOM_EXISTS = 486
ID_EXISTS = 490
# Sampling rates libopus (and so the AudioBridge mixer) supports.
SAMPLING_RATES = (8000, 12000, 16000, 24000, 48000)


class AudioBridgeError(RemoteProtocolError):
    """An AudioBridge payload we cannot read."""


# --- codec ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AbParticipant:
    id: str
    display: str = ""
    muted: bool = False
    talking: bool = False
    setup: bool = False  # media flowing (WebRTC up, or a first plain-RTP packet seen)


class AbEventKind(Enum):
    JOINED = "joined"  # our own join succeeded: id, the others, our RTP address at Janus
    PARTICIPANTS = "participants"  # someone joined, or changed (muted, display)
    LIST = "list"  # the answer to listparticipants: the whole room
    LEAVING = "leaving"  # someone left
    KICKED = "kicked"  # someone was kicked
    TALKING = "talking"
    STOPPED_TALKING = "stopped-talking"
    LEFT = "left"  # we left
    DESTROYED = "destroyed"  # the room is gone
    OTHER = "other"  # created, success, result ok, forwarders, announcements ...


@dataclass(frozen=True, slots=True, kw_only=True)
class AbEvent:
    kind: AbEventKind
    room: int | str | None = None
    participant: str | None = None
    participants: tuple[AbParticipant, ...] = ()
    rtp: tuple[str, int] | None = None  # JOINED of a plain-RTP join: where to send
    data: Mapping[str, Any] = field(default_factory=dict)


def _id(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, int | str) or value == "":
        raise AudioBridgeError(f"participant id {value!r} is neither int nor string")
    return str(value)


def _flag(entry: Mapping[str, Any], key: str) -> bool:
    value = entry.get(key, False)
    if not isinstance(value, bool):
        raise AudioBridgeError(f"{key} {value!r} is not a boolean")
    return value


def _participant(entry: Any) -> AbParticipant:
    if not isinstance(entry, Mapping):
        raise AudioBridgeError(f"participant entry {entry!r} is not an object")
    display = entry.get("display", "")
    if display is None:
        display = ""
    if not isinstance(display, str):
        raise AudioBridgeError(f"display {display!r} is not a string")
    return AbParticipant(id=_id(entry.get("id")), display=display, muted=_flag(entry, "muted"),
                         talking=_flag(entry, "talking"), setup=_flag(entry, "setup"))


def _participants(data: Mapping[str, Any]) -> tuple[AbParticipant, ...]:
    value = data.get("participants", [])
    if not isinstance(value, list):
        raise AudioBridgeError("'participants' is not a list")
    return tuple(_participant(p) for p in value)


def _rtp(data: Mapping[str, Any]) -> tuple[str, int] | None:
    rtp = data.get("rtp")
    if rtp is None:
        return None
    if not isinstance(rtp, Mapping):
        raise AudioBridgeError("'rtp' is not an object")
    ip, port = rtp.get("ip"), rtp.get("port")
    if not isinstance(ip, str) or isinstance(port, bool) or not isinstance(port, int) \
            or not 0 < port < 65536:
        raise AudioBridgeError(f"rtp address {ip!r}:{port!r}")
    return ip, port


def parse_event(data: Mapping[str, Any]) -> AbEvent:
    """One AudioBridge plugin payload (plugindata.data) → AbEvent; AudioBridgeError if odd."""
    if not isinstance(data, Mapping):
        raise AudioBridgeError("plugin data is not an object")
    kind = data.get("audiobridge")
    if not isinstance(kind, str):
        raise AudioBridgeError("payload without an 'audiobridge' type")
    room = data.get("room")
    if room is not None and (isinstance(room, bool) or not isinstance(room, int | str)):
        raise AudioBridgeError(f"room {room!r}")
    common: dict[str, Any] = {"room": room, "data": data}
    if kind == "joined":
        if "id" in data:
            return AbEvent(kind=AbEventKind.JOINED, participant=_id(data["id"]),
                           participants=_participants(data), rtp=_rtp(data), **common)
        return AbEvent(kind=AbEventKind.PARTICIPANTS, participants=_participants(data), **common)
    if kind == "participants":
        return AbEvent(kind=AbEventKind.LIST, participants=_participants(data), **common)
    if kind in ("talking", "stopped-talking"):
        return AbEvent(kind=AbEventKind(kind), participant=_id(data.get("id")), **common)
    if kind == "left":
        return AbEvent(kind=AbEventKind.LEFT, **common)
    if kind == "destroyed":
        return AbEvent(kind=AbEventKind.DESTROYED, **common)
    if kind == "event":
        if "leaving" in data:
            who = data["leaving"]
            return AbEvent(kind=AbEventKind.LEAVING,
                           participant=None if who == "ok" else _id(who), **common)
        if "kicked" in data:
            return AbEvent(kind=AbEventKind.KICKED, participant=_id(data["kicked"]), **common)
        if "participants" in data:
            return AbEvent(kind=AbEventKind.PARTICIPANTS, participants=_participants(data),
                           **common)
    return AbEvent(kind=AbEventKind.OTHER, **common)


def create_request(room: int, secret: str | None, *, sampling_rate: int = 16000,
                   audio_active_packets: int = 50, audio_level_average: int = 40,
                   prebuffer: int = 2) -> dict[str, Any]:
    body: dict[str, Any] = {
        "request": "create", "room": room, "description": "councild hybrid session",
        "sampling_rate": sampling_rate, "audiolevel_event": True,
        "audio_active_packets": audio_active_packets,
        "audio_level_average": audio_level_average,
        "default_prebuffering": prebuffer, "allow_rtp_participants": True,
        "groups": list(GROUPS),
    }
    if secret is not None:
        body["secret"] = secret
    return body


def join_request(room: int, *, display: str, group: str, muted: bool,
                 participant_id: int | None = None, rtp: tuple[str, int] | None = None,
                 bitrate: int | None = None) -> dict[str, Any]:
    """A join; with `rtp` (where Janus sends our mix) a plain-RTP participant."""
    body: dict[str, Any] = {"request": "join", "room": room, "display": display,
                            "group": group, "muted": muted}
    if participant_id is not None:
        body["id"] = participant_id
    if bitrate is not None:
        body["bitrate"] = bitrate
    if rtp is not None:
        body["rtp"] = {"ip": rtp[0], "port": rtp[1], "payload_type": OPUS_PT}
    return body


def mute_request(room: int, secret: str, participant: str, muted: bool) -> dict[str, Any]:
    return {"request": "mute" if muted else "unmute", "room": room, "secret": secret,
            "id": int(participant) if participant.isdigit() else participant}


# --- driver ---------------------------------------------------------------------------------


class AudioBridgeOptions(DeviceOptions):
    """The AudioBridge room councild keeps (built from [bridge.audio])."""

    driver: Literal["audiobridge"] = "audiobridge"
    url: str = "ws://127.0.0.1:8188"
    room: int = Field(default=2234, ge=1)
    secret_env: str = "COUNCILD_BRIDGE_SECRET"
    create_room: bool = True
    sampling_rate: int = 16000
    audio_active_packets: int = Field(default=50, ge=1, le=1000)
    audio_level_average: int = Field(default=40, ge=0, le=127)
    prebuffer: int = Field(default=2, ge=1, le=50)
    chamber_id: int = Field(default=1, ge=1)
    chamber_display: str = "Chamber"
    bitrate: int = Field(default=32000, ge=6000, le=510000)  # bps Janus encodes our mix at
    keepalive: float = Field(default=KEEPALIVE_INTERVAL, gt=0, le=55)
    follow_floor: bool = False


ChamberAddress = Callable[[tuple[str, int] | None], None]


class AudioBridge(Device):
    """The AudioBridge room: the chamber as a participant, the rest as a roster."""

    Options = AudioBridgeOptions

    def __init__(self, name: str, options: DeviceOptions, emit: Emit, *,
                 chamber_rtp: Callable[[], tuple[str, int]],
                 on_chamber: ChamberAddress = lambda address: None,
                 on_change: Callable[[str | None], None] = lambda participant: None) -> None:
        """`chamber_rtp()`: where Janus must send the chamber's mix (the relay's socket);
        `on_chamber(address)`: where the chamber's RTP goes now (None: not joined);
        `on_change(participant)`: a participant's muted flag changed (None: the whole roster
        was read again, after a (re)connection)."""
        super().__init__(name, options, emit)
        assert isinstance(options, AudioBridgeOptions)
        self.opts: AudioBridgeOptions = options
        self._chamber_rtp = chamber_rtp
        self._on_chamber = on_chamber
        self._on_change = on_change
        self._roster: dict[str, AbParticipant] = {}
        self._client: JanusClient | None = None
        self.own_id: str | None = None
        self._race = RosterRace()
        self.chamber_address: tuple[str, int] | None = None
        self.joins = 0  # chamber joins (one per (re)connection)

    @property
    def roster(self) -> dict[str, AbParticipant]:
        return dict(self._roster)

    @property
    def secret(self) -> str | None:
        return os.environ.get(self.opts.secret_env) or None

    @property
    def connected(self) -> bool:
        return self._client is not None

    async def mute(self, participant: str, muted: bool) -> None:
        """Admin mute/unmute; the roster follows Janus's own event."""
        client = self._client
        if client is None:
            raise ConnectionLostError(f"{self.name}: not connected to Janus")
        secret = self.secret
        if secret is None:
            raise AuthenticationError(f"{self.name}: ${self.opts.secret_env} is not set; "
                                      "muting needs the room secret")
        await client.plugin(mute_request(self.opts.room, secret, participant, muted))
        old = self._roster.get(participant)
        if old is not None and old.muted != muted:
            self._roster[participant] = _replace(old, muted=muted)

    async def kick(self, participant: str) -> None:
        client = self._client
        secret = self.secret
        if client is None or secret is None:
            raise ConnectionLostError(f"{self.name}: not connected, or no secret")
        await client.plugin({"request": "kick", "room": self.opts.room, "secret": secret,
                             "id": int(participant) if participant.isdigit() else participant})

    # --- session ------------------------------------------------------------------------------

    async def _session(self) -> None:
        async with room_session(self.opts.url, AUDIOBRIDGE, self._on_message,
                                malformed=self._malformed, seen=self._seen,
                                room=f"AudioBridge room {self.opts.room}",
                                secret_env=self.opts.secret_env) as client:
            try:
                await self._setup(client)
                self._client = client
                self._on_change(None)
                await client.run(self.opts.keepalive, self.name)
            finally:
                self._client = None
                self._set_chamber(None)

    async def _setup(self, client: JanusClient) -> None:
        room, secret = self.opts.room, self.secret
        create = create_request(
            room, secret, sampling_rate=self.opts.sampling_rate,
            audio_active_packets=self.opts.audio_active_packets,
            audio_level_average=self.opts.audio_level_average,
            prebuffer=self.opts.prebuffer) if self.opts.create_room else None
        await ensure_room(client, room, secret, create=create, exists_code=ROOM_EXISTS,
                          what=f"AudioBridge room {room}")
        body = join_request(room, display=self.opts.chamber_display, group=GROUP_CHAMBER,
                            muted=False, participant_id=self.opts.chamber_id,
                            rtp=self._chamber_rtp(), bitrate=self.opts.bitrate)
        with self._race.joining():
            try:
                joined = await client.plugin(body, until_event=True)
            except JanusRequestError as exc:
                if exc.code != ID_EXISTS:
                    raise
                # our chamber of an earlier connection (the WebSocket dropped, Janus did not
                # restart) still holds the id: kick it, then join again
                if secret is not None:
                    with contextlib.suppress(JanusRequestError):
                        await client.plugin({"request": "kick", "room": room, "secret": secret,
                                             "id": self.opts.chamber_id})
                joined = await client.plugin(body, until_event=True)
            event = self._event_of(joined)
            if event is None or event.kind is not AbEventKind.JOINED or event.rtp is None:
                raise AudioBridgeError(f"join answered with {joined!r}")
            self.own_id = event.participant
            self.joins += 1
            listed = await client.plugin({"request": "listparticipants", "room": room})
            lst = self._event_of(listed)
            self._resync(lst.participants if lst is not None else event.participants)
        self._set_chamber(event.rtp)
        detail = f"room {room}, {len(self._roster)} participants"
        if secret is None:
            detail += f"; ${self.opts.secret_env} unset: no muting"
        self._connected(detail)

    def _set_chamber(self, address: tuple[str, int] | None) -> None:
        if address == self.chamber_address:
            return
        self.chamber_address = address
        self._on_chamber(address)

    # --- roster -------------------------------------------------------------------------------

    def _event_of(self, msg: JanusMessage) -> AbEvent | None:
        room = msg.room if isinstance(msg, Success | JanusEvent) else None
        if room is None:
            return None
        try:
            return parse_event(room.data)
        except AudioBridgeError as exc:
            self._malformed("audiobridge payload", exc)
            return None

    def _resync(self, people: tuple[AbParticipant, ...]) -> None:
        listed = {p.id: p for p in people if p.id != self.own_id}
        fresh, leaving = self._race.settle(listed, self._roster)
        for pid in leaving:
            self._leave(pid)
        for p in fresh.values():
            self._upsert(p)

    def _upsert(self, p: AbParticipant) -> None:
        if p.id == self.own_id:
            return
        self._race.announced(p.id)
        old = self._roster.get(p.id)
        self._roster[p.id] = p
        if old is None:
            self._emit(ParticipantJoined(device=self.name, participant=p.id, display=p.display))
            if p.talking:
                self._emit(ParticipantTalking(device=self.name, participant=p.id, talking=True))
            self._on_change(p.id)
            return
        if old.display != p.display:
            self._emit(ParticipantDisplay(device=self.name, participant=p.id,
                                          display=p.display))
        if old.talking != p.talking:
            self._emit(ParticipantTalking(device=self.name, participant=p.id,
                                          talking=p.talking))
        if old.muted != p.muted:
            self._on_change(p.id)

    def _leave(self, pid: str) -> None:
        self._race.left(pid)
        old = self._roster.pop(pid, None)
        if old is None:
            return
        if old.talking:
            self._emit(ParticipantTalking(device=self.name, participant=pid, talking=False))
        self._emit(ParticipantLeft(device=self.name, participant=pid))

    def _on_message(self, msg: JanusMessage) -> None:
        if not isinstance(msg, JanusEvent | Success):
            return
        event = self._event_of(msg)
        if event is None or (event.room is not None and event.room != self.opts.room):
            return
        kind = event.kind
        if kind is AbEventKind.PARTICIPANTS:
            for p in event.participants:
                old = self._roster.get(p.id)
                # a change event does not repeat "talking": keep what we know
                self._upsert(_replace(p, talking=old.talking) if old is not None
                             and "talking" not in _entry(event, p.id) else p)
        elif kind in (AbEventKind.LEAVING, AbEventKind.KICKED):
            if event.participant == self.own_id and kind is AbEventKind.KICKED:
                raise ConnectionLostError("the chamber was kicked from the AudioBridge room")
            if event.participant is not None:
                self._leave(event.participant)
        elif kind in (AbEventKind.TALKING, AbEventKind.STOPPED_TALKING):
            old = self._roster.get(event.participant or "")
            talking = kind is AbEventKind.TALKING
            if old is not None and old.talking != talking:
                self._roster[old.id] = _replace(old, talking=talking)
                self._emit(ParticipantTalking(device=self.name, participant=old.id,
                                              talking=talking))
        elif kind is AbEventKind.DESTROYED:
            for pid in list(self._roster):
                self._leave(pid)
            raise ConnectionLostError(f"AudioBridge room {self.opts.room} was destroyed")


def _entry(event: AbEvent, pid: str) -> Mapping[str, Any]:
    for entry in event.data.get("participants") or ():
        if isinstance(entry, Mapping) and str(entry.get("id")) == pid:
            return entry
    return {}

