"""What a device can do beyond being a link: one interface per ability, as pyatv does.

A driver declares the abilities it has by deriving from their interfaces (`class SQDesk(
StatefulDevice, Mixer)`); the daemon asks `isinstance(device, Camera)` instead of looking for
a method by name. Every method of an interface raises `NotSupportedError` until a driver
overrides it, so a driver that declares an ability but lacks one call of it (a Qu has no
request list) still answers in the one way the daemon's call worker understands.

The daemon's calls to a device travel as typed commands (`DeviceCommand`) on that device's
queue, carried out in order by `carry_out`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from councild.errors import NotSupportedError

if TYPE_CHECKING:  # the keypad vocabulary; drivers import it themselves
    from councild.keypad import Action, SeatLamp
    from devices.base import Device

__all__ = [
    "ActionSurface",
    "BridgeParticipant",
    "ButtonSurface",
    "Camera",
    "ClearRequests",
    "ConferenceSystem",
    "DeviceCommand",
    "Mixer",
    "NextSpeaker",
    "SetChannel",
    "SetMaxSpeakers",
    "SetRequest",
    "VideoBridge",
    "carry_out",
]


# --- the abilities --------------------------------------------------------------------------


class Mixer:
    """A desk whose input channels councild switches (X32, XAir, SQ, Qu)."""

    async def set_channel(self, channel: int, on: bool) -> None:
        """Open (on) or close a channel at the desk."""
        raise NotSupportedError("cannot switch channels")


class ConferenceSystem:
    """A conference unit: microphones, a request list, and maybe a floor of its own."""

    async def set_channel(self, channel: int, on: bool) -> None:
        """Switch a delegate unit's microphone on or off."""
        raise NotSupportedError("cannot switch microphones")

    async def set_request(self, channel: int, on: bool) -> None:
        """Add or remove a unit from the unit's own request list."""
        raise NotSupportedError("has no request list")

    async def next_speaker(self) -> None:
        """First speaker off, first request on, as the unit's own discussion does it."""
        raise NotSupportedError("has no next-speaker command")

    async def clear_requests(self) -> None:
        raise NotSupportedError("has no request list")

    async def set_max_speakers(self, n: int) -> None:
        raise NotSupportedError("has no limit of open microphones")

    def runs_floor(self) -> bool:
        """The unit runs the discussion (config `master = "cu"`): councild mirrors it and
        turns floor commands into the unit's commands."""
        return False


class Camera:
    """A PTZ camera the director moves between presets (VISCA)."""

    async def recall(self, preset: int) -> None:
        """Move to a preset; returns once the camera reports arrival."""
        raise NotSupportedError("cannot recall presets")


class ButtonSurface:
    """A keypad or button surface with lamps: MIDI LEDs, Stream Deck keys, OSC feedback.

    A setter returns how many lamps it changed, or an awaitable of it where painting is
    slow (a Stream Deck paints in a worker thread)."""

    def set_seat_states(self, lamps: Mapping[str, SeatLamp]) -> int | Awaitable[int]:
        raise NotSupportedError("has no seat lamps")

    def set_broadcast_lamps(self, lamps: Mapping[str, bool]) -> int | Awaitable[int]:
        """Stream live, recording, broadcast alarm."""
        raise NotSupportedError("has no broadcast lamps")


class ActionSurface:
    """A surface that speaks in actions rather than keys (OSC control: Companion)."""

    on_action: Callable[[Action], None] | None = None


class BridgeParticipant(Protocol):
    """What councild reads of one participant of a video bridge's room."""

    @property
    def audio_mids(self) -> Sequence[str]: ...


class VideoBridge:
    """A video room (Janus VideoRoom) followed by a control participant."""

    @property
    def roster(self) -> Mapping[str, BridgeParticipant]:
        """Participants in the room now, by participant id."""
        raise NotSupportedError("has no room")

    async def mute(self, participant: str, muted: bool) -> None:
        raise NotSupportedError("cannot mute participants")

    async def forward(self, participant: str, host: str, audio_port: int,
                      video_port: int | None = None) -> dict[str, int]:
        """Forward a participant's streams as RTP to host:port (a slot's media source)."""
        raise NotSupportedError("cannot forward streams")

    async def stop_forward(self, participant: str) -> None:
        raise NotSupportedError("cannot forward streams")

    async def kick(self, participant: str) -> None:
        raise NotSupportedError("cannot remove participants")


# --- the daemon's calls ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SetChannel:
    channel: int
    on: bool


@dataclass(frozen=True, slots=True)
class SetRequest:
    channel: int
    on: bool


@dataclass(frozen=True, slots=True)
class NextSpeaker:
    pass


@dataclass(frozen=True, slots=True)
class ClearRequests:
    pass


@dataclass(frozen=True, slots=True)
class SetMaxSpeakers:
    value: int


DeviceCommand = SetChannel | SetRequest | NextSpeaker | ClearRequests | SetMaxSpeakers


async def carry_out(device: Device, command: DeviceCommand) -> None:
    """One command at the device; NotSupportedError where the device lacks the ability."""
    match command:
        case SetChannel(channel=channel, on=on):
            await device.set_channel(channel, on)
        case SetRequest(channel=channel, on=on):
            await device.set_request(channel, on)
        case NextSpeaker() if isinstance(device, ConferenceSystem):
            await device.next_speaker()
        case ClearRequests() if isinstance(device, ConferenceSystem):
            await device.clear_requests()
        case SetMaxSpeakers(value=value) if isinstance(device, ConferenceSystem):
            await device.set_max_speakers(value)
        case _:
            raise NotSupportedError(f"{device.name}: cannot {type(command).__name__}")
