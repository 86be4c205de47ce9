"""Janus WebRTC server, VideoRoom plugin: remote councillors as participants of one room.

`JanusBridge` is the driver: it joins the room as a publisher that never publishes (display
"councild"), which is how a control client receives the room's events without any WebRTC of
its own, resyncs the roster with `listparticipants` on every (re)connection, keeps the Janus
session alive, and moderates (mute, kick, rtp_forward) with the room secret taken from an
environment variable. The Janus API and the VideoRoom's payloads are decoded in
devices/janus_protocol.py; the WebSocket is devices/janus_client.py's JanusClient; the session
and room setup it shares with the AudioBridge driver are in devices/janus_room.py.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Mapping
from dataclasses import replace as _replace
from typing import Any, Literal

from pydantic import Field

from councild.errors import AuthenticationError, ConnectionLostError, CouncildError
from councild.model import (
    ParticipantDisplay,
    ParticipantJoined,
    ParticipantLeft,
    ParticipantPublished,
    ParticipantTalking,
)
from devices.base import Device, DeviceOptions, Emit
from devices.capabilities import VideoBridge
from devices.janus_client import KEEPALIVE_INTERVAL, JanusClient
from devices.janus_protocol import (
    ROOM_EXISTS,
    VIDEOROOM,
    JanusEvent,
    JanusMessage,
    JanusRemoteError,
    JanusRequestError,
    Participant,
    RoomEvent,
    RoomEventKind,
    Success,
)
from devices.janus_room import RosterRace, ensure_room, room_session

__all__ = ["CONTROL_DISPLAY", "OPUS_PT", "VP8_PT", "JanusBridge", "JanusOptions"]

CONTROL_DISPLAY = "councild"


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
        self._race = RosterRace()
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
        async with room_session(self.opts.url, VIDEOROOM, self._on_message,
                                malformed=self._malformed, seen=self._seen,
                                room=f"room {self.opts.room}",
                                secret_env=self.opts.secret_env) as client:
            try:
                await self._setup(client)
                self._client = client
                await client.run(self.opts.keepalive, self.name)
            finally:
                self._client = None

    async def _setup(self, client: JanusClient) -> None:
        room, secret = self.opts.room, self.secret
        create: dict[str, Any] | None = None
        if self.opts.create_room:
            create = {
                "request": "create", "room": room, "publishers": 16,
                "audiolevel_event": True, "notify_joining": True,
                "audio_active_packets": self.opts.audio_active_packets,
                "audio_level_average": self.opts.audio_level_average,
                "fir_freq": self.opts.keyframe_interval,
            }
            if secret is not None:
                create["secret"] = secret
        await ensure_room(client, room, secret, create=create, exists_code=ROOM_EXISTS,
                          what=f"room {room}")
        with self._race.joining():
            joined = await client.plugin({"request": "join", "ptype": "publisher",
                                          "room": room, "display": CONTROL_DISPLAY},
                                         until_event=True)
            if not (isinstance(joined, JanusEvent) and joined.room
                    and joined.room.kind is RoomEventKind.JOINED):
                raise JanusRemoteError(f"join answered with {joined!r}")
            self.own_id = joined.room.participant
            listed = await client.plugin({"request": "listparticipants", "room": room})
            people = (listed.room.participants if isinstance(listed, Success) and listed.room
                      else ())
            self._resync(people, joined.room.participants)
        detail = f"room {room}, {len(self._roster)} participants"
        if secret is None:
            detail += f"; ${self.opts.secret_env} unset: no moderation"
        self._connected(detail)

    # --- roster ----------------------------------------------------------------------------

    def _resync(self, people: tuple[Participant, ...], publishers: tuple[Participant, ...]) -> None:
        """Replace the roster with what Janus lists, emitting only the differences."""
        streams = {p.id: p for p in publishers}
        listed: dict[str, Participant] = {}
        for p in people:
            if p.id == self.own_id:
                continue
            # listparticipants has no streams: take them from the join's publisher list, or
            # from a publishers event that arrived between our join and this list
            pub = streams.get(p.id) or self._roster.get(p.id)
            if pub is not None:
                p = _replace(p, publisher=p.publisher or pub.publisher,
                             audio_mids=pub.audio_mids, video_mids=pub.video_mids,
                             muted=pub.muted)
            listed[p.id] = p
        fresh, leaving = self._race.settle(listed, self._roster)
        for pid in leaving:
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
        self._race.left(pid)
        self._forwards.pop(pid, None)  # Janus drops a publisher's forwarders with it
        old = self._roster.pop(pid, None)
        if old is not None:
            if old.talking:
                self._emit(ParticipantTalking(device=self.name, participant=pid, talking=False))
            self._emit(ParticipantLeft(device=self.name, participant=pid))

    def _upsert(self, p: Participant) -> None:
        if p.id == self.own_id:
            return
        self._race.announced(p.id)
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
