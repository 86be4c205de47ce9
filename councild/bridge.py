"""Remote councillors: the video bridge's participants as councillors at remote seats.

The daemon hands this module the bridge's roster events and the floor's effects; it keeps
who-is-who (councild.remote matches a participant to a councillor), applies the policy
"remote councillors are muted unless they have the floor", turns a raised hand into a
request to speak, and shows a remote speaker in a "Remote N" slot scene: the bridge forwards
their RTP to a local port, an SDP file describes it, and the slot's OBS media source plays it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
import tempfile
from collections.abc import Awaitable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from councild.config import Config
from councild.errors import CouncildError, FloorError
from councild.host import RemoteHost
from councild.model import (
    Cancel,
    Event,
    MicClosed,
    ParticipantDisplay,
    ParticipantJoined,
    ParticipantLeft,
    ParticipantPublished,
    ParticipantTalking,
    Request,
)
from councild.obs_setup import feed_source
from councild.remote import Identity, KnownCouncillor, SlotAllocator, match_participant
from devices.base import Device
from devices.capabilities import VideoBridge
from devices.videoroom import OPUS_PT, VP8_PT
from scenes.obs_protocol import MediaSource

log = logging.getLogger("councild.bridge")

FORWARD_HOST = "127.0.0.1"  # OBS runs beside councild; its media source listens here
# What the bridge device reports of its room's participants.
ParticipantEvent = (ParticipantJoined | ParticipantDisplay | ParticipantLeft | ParticipantTalking
                    | ParticipantPublished)


def sdp(host: str, audio_port: int | None, video_port: int | None) -> str:
    """An SDP description of the forwarded streams, which OBS's media source (ffmpeg) plays."""
    lines = ["v=0", f"o=- 0 0 IN IP4 {host}", "s=councild remote councillor",
             f"c=IN IP4 {host}", "t=0 0"]
    if audio_port is not None:
        lines += [f"m=audio {audio_port} RTP/AVP {OPUS_PT}", f"a=rtpmap:{OPUS_PT} opus/48000/2"]
    if video_port is not None:
        lines += [f"m=video {video_port} RTP/AVP {VP8_PT}", f"a=rtpmap:{VP8_PT} VP8/90000"]
    return "\r\n".join(lines) + "\r\n"


@dataclass
class Attendee:
    """One participant of the bridge room."""

    participant: str
    identity: Identity
    seat: str | None  # the remote seat of their councillor; None for guests
    talking: bool = False


class RemoteSeats:
    """The bridge side of the daemon: participants ↔ remote seats, mute policy, slots."""

    def __init__(
        self,
        config: Config,
        bridge: Device,  # a VideoBridge (devices.videoroom.JanusBridge)
        host: RemoteHost,
        *,
        tokens: Mapping[str, str],  # councillor id → join token (load_tokens)
        ignore: frozenset[str] = frozenset(),
    ) -> None:
        if not isinstance(bridge, VideoBridge):
            raise TypeError(f"{bridge.name}: not a video bridge")
        self.config = config
        self.bridge: VideoBridge = bridge
        self.name: str = bridge.name
        self.host = host
        self.seat_of: dict[str, str] = {}  # councillor id → remote seat id
        known = []
        for seat in config.seats:
            if seat.remote and seat.councillor is not None:
                councillor = config.councillor(seat.councillor)
                if councillor is not None:
                    self.seat_of[councillor.id] = seat.id
                    known.append(KnownCouncillor(councillor.id, councillor.name,
                                                 tokens.get(councillor.id)))
        self._known = known
        self._names = {c.id: c.name for c in known}
        # participant id → councillor, bound by the join page before the participant joins:
        # stronger than anything in the display, which the page cannot set.
        self.claims: dict[str, str] = {}
        self.ignore = ignore  # our own publishers in the room (the chamber programme feed)
        self.attendees: dict[str, Attendee] = {}  # participant id → attendee
        self.at_seat: dict[str, str] = {}  # remote seat → participant id (the newest)
        self.slots = SlotAllocator(config.bridge.slots)
        self.showing: dict[str, str] = {}  # slot → participant whose stream it plays
        self.all_muted = False  # the chair muted every remote councillor (e.g. for a vote)
        # False with hybrid audio: a seat's "talking" comes from the AudioBridge, where the
        # voice is (councild.hybrid_audio), not from this room
        self.voice_from_video = True
        # False with hybrid audio: remote voices reach the stream once, through the desk's
        # return channel, so a slot's media source plays their picture only
        self.forward_audio = True
        self._mute_wanted: dict[str, bool] = {}
        self._muting: set[str] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._sdp_dir = Path(tempfile.mkdtemp(prefix="councild-sdp-"))
        self._ports = {slot: (20000 + 4 * i, 20002 + 4 * i)
                       for i, slot in enumerate(config.bridge.slots)}

    async def stop(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError):
                await task
        shutil.rmtree(self._sdp_dir, ignore_errors=True)

    def _spawn(self, coro: Any, name: str) -> None:
        task = asyncio.get_running_loop().create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # --- bridge events ----------------------------------------------------------------------

    def claim(self, participant: str, councillor: str | None) -> None:
        """The join page says who `participant` is (None: the page's connection ended)."""
        if councillor is None:
            self.claims.pop(participant, None)
            return
        self.claims[participant] = councillor
        attendee = self.attendees.get(participant)
        if attendee is not None and attendee.identity.councillor != councillor:
            self._joined(participant, "")  # joined before the claim arrived: identify again

    def on_event(self, event: ParticipantEvent) -> None:
        if event.participant in self.ignore:
            return
        match event:
            case ParticipantJoined():
                self._joined(event.participant, event.display)
            case ParticipantDisplay():
                self._display(event.participant, event.display)
            case ParticipantLeft():
                self._left(event.participant)
            case ParticipantTalking():
                self._talking(event.participant, event.talking)
            case ParticipantPublished():
                self._published(event.participant)
        self.host.changed()

    def identify(self, participant: str, display: str) -> Identity:
        councillor = self.claims.get(participant)
        if councillor is not None:
            return Identity(councillor, True, False, self._names.get(councillor, councillor))
        return match_participant(display, self._known)

    def _joined(self, participant: str, display: str) -> None:
        identity = self.identify(participant, display)
        seat = self.seat_of.get(identity.councillor) if identity.councillor else None
        self.attendees[participant] = Attendee(participant, identity, seat)
        if seat is not None:
            previous = self.at_seat.get(seat)
            self.at_seat[seat] = participant
            if previous is not None and previous != participant:
                # The same councillor joined again (a second device, a reload): the newest
                # connection is the councillor; the older one is a guest from now on.
                self.attendees[previous].seat = None
                self._apply_mute(previous)  # a guest now: muted like one
                self._slot_changes(self.slots.left(previous))
                self.host.note(self.name, {"type": "replaced", "seat": seat,
                                           "participant": previous, "by": participant})
        self.host.note(self.name, {"type": "joined", "participant": participant,
                                   "councillor": identity.councillor, "seat": seat,
                                   "name": identity.name})
        self._apply_mute(participant)
        if seat is not None and identity.hand_raised:
            self._floor(Request(seat=seat))

    def _display(self, participant: str, display: str) -> None:
        attendee = self.attendees.get(participant)
        if attendee is None:
            self._joined(participant, display)
            return
        before = attendee.identity.hand_raised
        attendee.identity = self.identify(participant, display)
        seat = attendee.seat
        if seat is None or attendee.identity.hand_raised == before:
            return
        if attendee.identity.hand_raised:
            if not self._queued(seat) and not self._speaking(seat):
                self._floor(Request(seat=seat))
        elif self._queued(seat):
            self._floor(Cancel(seat=seat))

    def _published(self, participant: str) -> None:
        self._apply_mute(participant)
        attendee = self.attendees.get(participant)
        if (attendee is not None and attendee.seat is not None
                and self._speaking(attendee.seat) and self.slots.slot_of(participant) is None):
            # rejoined (a reload) while holding the floor: their new stream takes a slot
            self._slot_changes(self.slots.floor(participant, True))

    def _left(self, participant: str) -> None:
        self._mute_wanted.pop(participant, None)
        self.claims.pop(participant, None)
        attendee = self.attendees.pop(participant, None)
        if attendee is None:
            return
        seat = attendee.seat
        if seat is not None and self.at_seat.get(seat) == participant:
            del self.at_seat[seat]
            if self._speaking(seat):
                self._floor(MicClosed(seat=seat))  # their mic is gone with them
            elif self._queued(seat):
                self._floor(Cancel(seat=seat))
            if attendee.talking and self.voice_from_video:
                self.host.voice(seat, False, self.name)
        self._slot_changes(self.slots.left(participant))
        self.host.note(self.name, {"type": "left", "participant": participant, "seat": seat})

    def _talking(self, participant: str, talking: bool) -> None:
        attendee = self.attendees.get(participant)
        if attendee is None:
            return
        attendee.talking = talking
        if attendee.seat is not None and self.voice_from_video:
            self.host.voice(attendee.seat, talking, self.name)

    def _speaking(self, seat: str) -> bool:
        return self.host.state.speaking(seat)

    def _queued(self, seat: str) -> bool:
        return self.host.state.queued(seat)

    def _floor(self, event: Event) -> None:
        try:
            self.host.submit(event, self.name)
        except FloorError as exc:
            log.info("%s: %s not applied: %s", self.name, type(event).__name__, exc.message)

    # --- the floor's effects on remote seats -------------------------------------------------

    def is_remote(self, seat: str) -> bool:
        return seat in self.seat_of.values()

    def floor_changed(self, seat: str, has_floor: bool) -> None:
        """OpenMic / CloseMic for a remote seat: their audio, and their slot."""
        participant = self.at_seat.get(seat)
        if participant is None:
            return
        self._apply_mute(participant)
        self._slot_changes(self.slots.floor(participant, has_floor))

    def mute_all(self, on: bool) -> None:
        self.all_muted = on
        for participant in list(self.attendees):
            self._apply_mute(participant)

    def _apply_mute(self, participant: str) -> None:
        attendee = self.attendees.get(participant)
        if attendee is None:
            return
        who = self.bridge.roster.get(participant)
        if who is None or not who.audio_mids:
            return  # not publishing audio (a viewer, another control client): nothing to mute
        has_floor = attendee.seat is not None and self._speaking(attendee.seat)
        muted = self.all_muted or (self.config.bridge.muted_unless_floor and not has_floor)
        self._mute_wanted[participant] = muted
        if participant not in self._muting:  # one worker per participant keeps calls in order
            self._muting.add(participant)
            self._spawn(self._mute_worker(participant), f"bridge:mute:{participant}")

    async def _mute_worker(self, participant: str) -> None:
        """Apply the newest wanted mute state until it stands: a grant right after a join
        must not be overtaken by the join's mute still on its way."""
        try:
            applied: bool | None = None
            while (wanted := self._mute_wanted.get(participant)) is not None and wanted != applied:
                await self._call(self.bridge.mute(participant, wanted), "mute", participant,
                                 wanted)
                applied = wanted
        finally:
            self._muting.discard(participant)

    async def _call(self, call: Awaitable[object], method: str, *args: object) -> None:
        """One bridge call; a failure is logged (the next floor change tries again)."""
        try:
            await call
        except CouncildError as exc:
            log.warning("%s: %s%s failed: %s", self.name, method, args, exc)

    # --- slots: a remote speaker's picture ---------------------------------------------------

    def _slot_changes(self, changes: list[Any]) -> None:
        for change in changes:
            if change.participant is None:
                continue  # the feed stays until another speaker needs the slot: no black
            self._spawn(self._show(change.slot, change.participant), f"bridge:show:{change.slot}")

    async def _show(self, slot: str, participant: str) -> None:
        previous = self.showing.get(slot)
        if previous == participant:
            return
        if previous is not None:
            await self._call(self.bridge.stop_forward(previous), "stop_forward", previous)
        audio_port, video_port = self._ports[slot]
        if not self.forward_audio:
            audio_port = 0  # JanusBridge.forward: no port, no audio stream forwarded
        try:
            await self.bridge.forward(participant, FORWARD_HOST, audio_port, video_port)
        except CouncildError as exc:
            log.warning("%s: forwarding %s to %s failed: %s", self.name, participant, slot, exc)
            return
        self.showing[slot] = participant
        path = self._sdp_dir / f"{slot.replace(' ', '_')}.sdp"
        path.write_text(sdp(FORWARD_HOST, audio_port or None, video_port))
        obs = self.host.obs()
        if obs is not None and obs.connected:
            media = MediaSource(local_file=str(path), input_format="sdp",
                                ffmpeg_options="protocol_whitelist=file,udp,rtp",
                                restart_on_activate=True)
            try:
                await obs.set_media_source(feed_source(slot), media)
            except CouncildError as exc:
                log.warning("obs: %s: %s", feed_source(slot), exc)
        self.host.changed()

    def slot_scene(self, seat: str) -> str | None:
        participant = self.at_seat.get(seat)
        return self.slots.slot_of(participant) if participant is not None else None

    # --- what clients see --------------------------------------------------------------------

    def seat_view(self, seat: str) -> dict[str, Any]:
        participant = self.at_seat.get(seat)
        attendee = self.attendees.get(participant) if participant else None
        return {"present": attendee is not None, "participant": participant,
                "slot": self.slot_scene(seat)}

    def guests(self) -> list[dict[str, Any]]:
        return [{"participant": a.participant, "name": a.identity.name, "talking": a.talking}
                for a in self.attendees.values() if a.seat is None]
