"""Plain data shared by the core, the drivers and the scene control.

Nothing here performs I/O. Events are what happened (on a wire, at a keypad, through the
control API); effects are what the core asks the outside world to do. Both are small frozen
dataclasses so that an event, once built, cannot change on its way through the daemon and can
be written to the session store and replayed exactly.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from enum import StrEnum
from typing import Any, ClassVar

SeatId = str
CouncillorId = str
DeviceName = str


class Role(StrEnum):
    CHAIR = "chair"  # runs the debate; has priority and never counts toward max_open
    MEMBER = "member"  # a voting councillor
    CLERK = "clerk"  # minute taker; speaks rarely, same rules as members
    GUEST = "guest"  # administration, experts; never given the floor automatically


class Mode(StrEnum):
    OPEN = "open"  # a press opens the mic directly while there is room, else queues
    REQUEST = "request"  # presses queue; the chair or technician grants
    OVERRIDE = "override"  # a press at max_open closes the longest-open delegate mic
    VOICE = "voice"  # mics follow voice activity, no queue


class MicState(StrEnum):
    OFF = "off"
    REQUESTING = "requesting"
    ON = "on"


class Link(StrEnum):
    """Health of one connection to a peer (desk, CU, camera, OBS, bridge, keypad)."""

    CONNECTING = "connecting"  # first attempt under way
    CONNECTED = "connected"  # the peer answers
    LOST = "lost"  # the peer stopped answering; a retry is scheduled
    RECONNECTING = "reconnecting"  # a retry is under way
    CLOSED = "closed"  # stopped on purpose


# ---------------------------------------------------------------------------------------------
# Events


@dataclass(frozen=True, slots=True, kw_only=True)
class Event:
    """Something that happened. Subclasses register themselves by class name for the store."""

    registry: ClassVar[dict[str, type[Event]]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        # No zero-argument super(): dataclass(slots=True) rebuilds the class, which breaks it.
        # The rebuilt class registers last, so the registry holds the class actually used.
        Event.registry[cls.__name__] = cls

    def to_dict(self) -> dict[str, Any]:
        return {"type": type(self).__name__, **asdict(self)}

    @staticmethod
    def from_dict(data: dict[str, Any]) -> Event:
        cls = Event.registry[data["type"]]
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})


# --- Device events: channel level, as a driver sees its wire. The daemon maps channels to
# seats through the configuration, so drivers need not know about seats.


@dataclass(frozen=True, slots=True, kw_only=True)
class ChannelSwitched(Event):
    """A mic/channel was switched on or off at the device (desk surface, delegate button, CU)."""

    device: DeviceName
    channel: int
    on: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class ChannelRequested(Event):
    """A request to speak was added to or removed from the device's own request list."""

    device: DeviceName
    channel: int
    requesting: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class ChannelVoice(Event):
    """Voice activity on a channel started or stopped (after threshold, attack and hold)."""

    device: DeviceName
    channel: int
    active: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class ChannelLevel(Event):
    """Momentary level of a channel in dBFS; high rate, shown live, never stored."""

    device: DeviceName
    channel: int
    dbfs: float


@dataclass(frozen=True, slots=True, kw_only=True)
class DeviceStatus(Event):
    """A driver's link changed state or its counters moved."""

    device: DeviceName
    link: Link
    detail: str = ""
    errors: int = 0  # malformed or unexpected input counted since start


@dataclass(frozen=True, slots=True, kw_only=True)
class DeviceLimit(Event):
    """A device that runs the floor itself reported its limit of open mics (a conference
    unit's `max_speakers`)."""

    device: DeviceName
    max_open: int


@dataclass(frozen=True, slots=True, kw_only=True)
class CameraMotion(Event):
    """A camera started (moving) or finished a preset move; `ok` False = it failed."""

    device: DeviceName
    moving: bool
    preset: int | None = None
    ok: bool = True
    detail: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class KeyPressed(Event):
    """A key or pad on a chair keypad / button surface went down (pressed) or up."""

    device: DeviceName
    key: str
    pressed: bool = True


# --- Video bridge events: participants of the bridge room as the bridge driver sees them.
# `participant` is the bridge's own id for that participant (as a string); the daemon maps
# displays to councillors (councild.remote).


@dataclass(frozen=True, slots=True, kw_only=True)
class ParticipantJoined(Event):
    """A participant is in the bridge room (joined, or found there on resync)."""

    device: DeviceName
    participant: str
    display: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ParticipantLeft(Event):
    """A participant left the bridge room (or was kicked, or is gone after a resync)."""

    device: DeviceName
    participant: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ParticipantTalking(Event):
    """The bridge's audio-level detection says a participant started or stopped talking."""

    device: DeviceName
    participant: str
    talking: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class ParticipantDisplay(Event):
    """A participant changed their display name (e.g. a "raise hand" marker in it)."""

    device: DeviceName
    participant: str
    display: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ParticipantPublished(Event):
    """A participant in the room started publishing audio (a browser joins first and
    publishes after): what the mute policy must now apply to."""

    device: DeviceName
    participant: str


# --- Floor inputs: seat level. They come from the control API, the keypad and from device
# events mapped to seats by the daemon.


@dataclass(frozen=True, slots=True, kw_only=True)
class FloorEvent(Event):
    """An input to the floor state machine."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Request(FloorEvent):
    """A delegate asks for the floor (button press, API, keypad). `reply`: the reply queue."""

    seat: SeatId
    reply: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class Cancel(FloorEvent):
    """A request is withdrawn."""

    seat: SeatId


@dataclass(frozen=True, slots=True, kw_only=True)
class Press(FloorEvent):
    """A delegate pressed the mic button: meaning depends on the mode and the seat's state."""

    seat: SeatId


@dataclass(frozen=True, slots=True, kw_only=True)
class Grant(FloorEvent):
    """Chair or technician gives the floor to a seat (queued or not)."""

    seat: SeatId


@dataclass(frozen=True, slots=True, kw_only=True)
class Revoke(FloorEvent):
    """Chair or technician closes a speaker's mic."""

    seat: SeatId


@dataclass(frozen=True, slots=True, kw_only=True)
class RevokeAll(FloorEvent):
    """Close every delegate mic (the chair's stays as it is)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Next(FloorEvent):
    """Close the longest-speaking delegate and grant the head of the reply/main queue."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Clear(FloorEvent):
    """Empty the request and reply queues."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Priority(FloorEvent):
    """Chair priority held (on) or released (off)."""

    on: bool
    seat: SeatId | None = None  # the chair seat; None = the first chair seat in the config


@dataclass(frozen=True, slots=True, kw_only=True)
class SetMode(FloorEvent):
    mode: Mode


@dataclass(frozen=True, slots=True, kw_only=True)
class SetMaxOpen(FloorEvent):
    value: int


@dataclass(frozen=True, slots=True, kw_only=True)
class SetAgenda(FloorEvent):
    """Move to an agenda item by id; `item=None` advances to the next item."""

    item: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class MicOpened(FloorEvent):
    """The device opened a seat's mic by itself (desk surface, CU as master): honoured."""

    seat: SeatId


@dataclass(frozen=True, slots=True, kw_only=True)
class MicClosed(FloorEvent):
    """The device closed a seat's mic by itself: honoured."""

    seat: SeatId


@dataclass(frozen=True, slots=True, kw_only=True)
class Mirror(FloorEvent):
    """A device that runs the floor itself (a conference unit with master = "cu") reports
    the state of the seats it holds; the floor takes it as it is, the device's rules are the
    rules. Of `seats`, those in `speakers` speak, those in `requests` wait (in that order),
    the others neither. `max_open`: the device's limit, mirrored; None leaves it."""

    seats: tuple[SeatId, ...]
    speakers: tuple[SeatId, ...] = ()
    requests: tuple[SeatId, ...] = ()
    max_open: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Voice(FloorEvent):
    """Voice activity at a seat started/stopped (drives the floor in voice mode)."""

    seat: SeatId
    active: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class Tick(FloorEvent):
    """Time passed; lets the floor fire speaking-time warnings and limits."""


# ---------------------------------------------------------------------------------------------
# Effects


@dataclass(frozen=True, slots=True, kw_only=True)
class Effect:
    """Something the core asks the outside world to do."""

    registry: ClassVar[dict[str, type[Effect]]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        Effect.registry[cls.__name__] = cls

    def to_dict(self) -> dict[str, Any]:
        return {"type": type(self).__name__, **asdict(self)}

    @staticmethod
    def from_dict(data: dict[str, Any]) -> Effect:
        cls = Effect.registry[data["type"]]
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})


@dataclass(frozen=True, slots=True, kw_only=True)
class OpenMic(Effect):
    seat: SeatId


@dataclass(frozen=True, slots=True, kw_only=True)
class CloseMic(Effect):
    seat: SeatId


@dataclass(frozen=True, slots=True, kw_only=True)
class RequestLamp(Effect):
    """Show (on) or clear a seat's request indication at the device (CU lamp, keypad LED)."""

    seat: SeatId
    on: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class SpeakingTimeWarning(Effect):
    """A speaker is `remaining` seconds from their limit."""

    seat: SeatId
    remaining: float


@dataclass(frozen=True, slots=True, kw_only=True)
class SpeakingTimeOver(Effect):
    """A speaker reached their limit; `closed` says whether the floor closed the mic."""

    seat: SeatId
    closed: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class AgendaChanged(Effect):
    item: str


@dataclass(frozen=True, slots=True, kw_only=True)
class CutTo(Effect):
    """Put a shot on program."""

    shot: str


@dataclass(frozen=True, slots=True, kw_only=True)
class RecallPreset(Effect):
    camera: str
    preset: int


@dataclass(frozen=True, slots=True, kw_only=True)
class ShowLowerThird(Effect):
    name: str
    detail: str  # party / role / agenda item, already composed


@dataclass(frozen=True, slots=True, kw_only=True)
class HideLowerThird(Effect):
    pass
