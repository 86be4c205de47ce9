"""Hybrid audio: the AudioBridge room, the chamber's send and return, and the floor's mutes.

The daemon builds this when [bridge.audio] is configured. It owns
- the AudioBridge driver (devices.audiobridge), which joins the room as the chamber;
- the chamber's plain-RTP endpoint (devices.rtp_audio): send ffmpeg, return ffmpeg, relay;
- the policy: who an AudioBridge participant is (the same identity rules and join-page claims
  as the video room, councild.bridge), and whether they are muted.

The floor is the one truth about who is audible: a remote councillor is unmuted in the
AudioBridge only while their seat has the floor (with `muted_unless_floor`), and never while
the chair has muted every remote (`mute_remote`); guests are always muted. Whatever Janus
reports (a participant joining unmuted, a self-unmute, a Janus restart) is brought back to
that, participant by participant, one request at a time and in order.

"Talking" of a remote seat comes from the AudioBridge's talking events only — the room where
their voice actually is (the join page publishes its microphone there and no longer to the
video room); the video room's talking events are then ignored for seats. Janus 1.1.2 sends no
talking events for plain-RTP participants (protocols.md §6): such a participant (a simulated
councillor, a SIP gateway) is heard and follows the floor, but never "talks" for the director.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any

from councild.bridge import RemoteSeats
from councild.config import BridgeAudio
from councild.errors import CouncildError
from councild.host import AudioHost
from councild.model import (
    DeviceStatus,
    Event,
    Link,
    ParticipantDisplay,
    ParticipantJoined,
    ParticipantLeft,
    ParticipantTalking,
)
from devices.audiobridge import AudioBridge, AudioBridgeOptions
from devices.rtp_audio import SILENCE_DBFS, RtpAudioEndpoint

__all__ = ["DEVICE", "RETURN", "RETURN_LEVEL", "SEND", "HybridAudio"]

log = logging.getLogger("councild.hybrid_audio")

DEVICE = "audiobridge"  # the room, as shown among the devices
SEND = "chamber-send"  # the chamber's send ffmpeg
RETURN = "chamber-return"  # the chamber's return ffmpeg
# The return meter's key in the daemon's level stream (seat ids cannot contain ":").
RETURN_LEVEL = "audio:return"


@dataclass
class AudioAttendee:
    participant: str
    seat: str | None  # None: a guest (always muted)
    name: str
    talking: bool = False


class HybridAudio:
    def __init__(self, settings: BridgeAudio, remote: RemoteSeats, host: AudioHost, *,
                 muted_unless_floor: bool = True) -> None:
        self.settings = settings
        self.remote = remote  # who is who: the video room's rules and join-page claims
        self.host = host
        self.muted_unless_floor = muted_unless_floor
        self.attendees: dict[str, AudioAttendee] = {}
        self.at_seat: dict[str, str] = {}  # seat → the newest participant of its councillor
        self._wanted: dict[str, bool] = {}
        self._muting: set[str] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self.return_level = SILENCE_DBFS
        self.endpoint = RtpAudioEndpoint(
            "chamber", settings.send, settings.output, ffmpeg=settings.ffmpeg,
            bitrate=settings.bitrate, meter=True,
            on_status=self._endpoint_status, on_level=self._on_level)
        options = AudioBridgeOptions(
            url=settings.url, room=settings.room, secret_env=settings.secret_env,
            create_room=settings.create_room, sampling_rate=settings.sampling_rate,
            audio_active_packets=settings.audio_active_packets,
            audio_level_average=settings.audio_level_average, prebuffer=settings.prebuffer,
            chamber_id=settings.chamber_id, chamber_display=settings.chamber_display)
        self.bridge = AudioBridge(
            DEVICE, options, self._on_event,
            chamber_rtp=lambda: ("127.0.0.1", self.endpoint.relay.port),
            on_chamber=self.endpoint.set_janus, on_change=self._reconcile)

    async def start(self) -> None:
        await self.endpoint.open()
        await self.bridge.start()
        self.endpoint.start()

    async def stop(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.wait(list(self._tasks))
        await self.bridge.stop()
        await self.endpoint.stop()

    # --- the floor's effects ---------------------------------------------------------------

    def floor_changed(self, seat: str) -> None:
        participant = self.at_seat.get(seat)
        if participant is not None:
            self._apply(participant)

    def mute_all(self, on: bool) -> None:  # RemoteSeats.all_muted already holds `on`
        del on
        for participant in list(self.attendees):
            self._apply(participant)

    def wanted_muted(self, participant: str) -> bool:
        attendee = self.attendees.get(participant)
        if attendee is None or attendee.seat is None:
            return True  # unknown or a guest: never heard
        if self.at_seat.get(attendee.seat) != participant:
            return True  # an older connection of the same councillor
        if self.remote.all_muted:
            return True
        return self.muted_unless_floor and not self.host.state.speaking(attendee.seat)

    def _reconcile(self, participant: str | None) -> None:
        """Janus's view changed (one participant, or all after a reconnection)."""
        for pid in [participant] if participant is not None else list(self.attendees):
            self._apply(pid)

    def _apply(self, participant: str) -> None:
        if participant not in self.attendees:
            return
        self._wanted[participant] = self.wanted_muted(participant)
        if participant not in self._muting:  # one worker per participant: calls stay in order
            self._muting.add(participant)
            task = asyncio.get_running_loop().create_task(self._mute_worker(participant),
                                                          name=f"audio:mute:{participant}")
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _mute_worker(self, participant: str) -> None:
        try:
            while (wanted := self._wanted.get(participant)) is not None:
                who = self.bridge.roster.get(participant)
                if who is None or who.muted == wanted or not self.bridge.connected:
                    return  # in place (or gone; a reconnection reconciles again)
                try:
                    await self.bridge.mute(participant, wanted)
                except CouncildError as exc:
                    log.warning("%s: %s %s failed: %s", DEVICE,
                                "mute" if wanted else "unmute", participant, exc)
                    return
        finally:
            self._muting.discard(participant)

    # --- the room's participants ------------------------------------------------------------

    def _on_event(self, event: Event) -> None:
        if isinstance(event, DeviceStatus):
            self.host.emit(event)
            return
        if isinstance(event, ParticipantJoined | ParticipantDisplay):
            self._joined(event.participant, event.display)
        elif isinstance(event, ParticipantLeft):
            self._left(event.participant)
        elif isinstance(event, ParticipantTalking):
            attendee = self.attendees.get(event.participant)
            if attendee is not None:
                attendee.talking = event.talking
                if attendee.seat is not None and self.at_seat.get(attendee.seat) == \
                        attendee.participant:
                    self.host.voice(attendee.seat, event.talking, DEVICE)
        self.host.changed()

    def _joined(self, participant: str, display: str) -> None:
        identity = self.remote.identify(participant, display)  # the video room's rules
        seat = self.remote.seat_of.get(identity.councillor) if identity.councillor else None
        old = self.attendees.get(participant)
        self.attendees[participant] = AudioAttendee(participant, seat, identity.name,
                                                    old.talking if old else False)
        if seat is not None:
            previous = self.at_seat.get(seat)
            self.at_seat[seat] = participant
            if previous is not None and previous != participant:
                self._apply(previous)  # the older connection is muted from now on
        self._apply(participant)

    def _left(self, participant: str) -> None:
        attendee = self.attendees.pop(participant, None)
        self._wanted.pop(participant, None)
        if attendee is None or attendee.seat is None:
            return
        if self.at_seat.get(attendee.seat) == participant:
            del self.at_seat[attendee.seat]
            if attendee.talking:
                self.host.voice(attendee.seat, False, DEVICE)

    def claim_changed(self, participant: str) -> None:
        """The join page bound `participant` to a councillor: identify them again."""
        who = self.bridge.roster.get(participant)
        if who is not None:
            self._joined(participant, who.display)

    # --- chamber endpoint -------------------------------------------------------------------

    def _endpoint_status(self, part: str, link: Link, detail: str) -> None:
        self.host.emit(DeviceStatus(device=SEND if part == "send" else RETURN, link=link,
                                    detail=detail))

    def _on_level(self, dbfs: float) -> None:
        self.return_level = dbfs
        self.host.level(RETURN_LEVEL, dbfs)

    def view(self) -> dict[str, Any]:
        return {
            "room": self.settings.room,
            "return_dbfs": round(self.return_level, 1),
            "participants": [
                {"participant": a.participant, "seat": a.seat, "name": a.name,
                 "talking": a.talking,
                 "muted": (who.muted if (who := self.bridge.roster.get(a.participant))
                           else True)}
                for a in self.attendees.values()],
            "sent": self.endpoint.relay.sent, "received": self.endpoint.relay.received,
        }

