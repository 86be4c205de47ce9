"""The chair's keypad, pure: key names → actions, and typing a seat number.

Every button surface (USB numeric keypad, MIDI pads, Stream Deck, serial button box,
Bitfocus Companion over OSC) ends up here. A driver reports `KeyPressed(device, key,
pressed)`; `Keypad.press()` looks the key up in a `KeyMap` and returns `Action`s; the daemon
turns each action into a control-API request with `action_to_api()`, so a keypad can do
exactly what `councild ctl` can and is subject to the same rules.

No I/O and no clock: the caller passes `now` and asks `next_deadline()` when to come back,
so half-typed seat numbers are forgotten after `entry_timeout` without a timer in here.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, ClassVar

from councild.errors import CouncildError
from councild.model import KeyPressed

__all__ = [
    "BROADCAST_OPS",
    "DEFAULT_KEYS",
    "MAX_DIGITS",
    "Action",
    "AdvanceAgenda",
    "Broadcast",
    "ClearQueue",
    "EntryKey",
    "GrantSeat",
    "KeyMap",
    "KeyMapError",
    "Keypad",
    "Keypads",
    "LockProgram",
    "MuteRemote",
    "NextSpeaker",
    "NothingToDo",
    "NumberEntry",
    "PriorityHold",
    "RevokeAll",
    "RevokeCurrent",
    "RevokeSeat",
    "SeatLamp",
    "Wide",
    "action_to_api",
    "longest_speaking",
    "seat_lamps",
]

# Seat numbers go up to 65535 on conference systems (protocols.md §3); a sixth digit is a
# typing mistake and is ignored rather than silently turning 12345 into 23456.
MAX_DIGITS = 5


class KeyMapError(CouncildError, ValueError):
    """A key map names an action that does not exist (a configuration error)."""


class NothingToDo(CouncildError):
    """The action needs a target that the floor does not have (no speaker to revoke)."""


# ---------------------------------------------------------------------------------------------
# Actions: what a key asks for. The daemon maps them onto control-API requests.


@dataclass(frozen=True, slots=True, kw_only=True)
class Action:
    """Something the chair asked for with a key."""


@dataclass(frozen=True, slots=True, kw_only=True)
class GrantSeat(Action):
    seat: str

    def __post_init__(self) -> None:
        if not self.seat:
            raise ValueError("GrantSeat needs a seat")


@dataclass(frozen=True, slots=True, kw_only=True)
class NextSpeaker(Action):
    pass


@dataclass(frozen=True, slots=True, kw_only=True)
class RevokeCurrent(Action):
    """Close the mic of the longest-speaking delegate (the chair's key for 'thank you')."""


@dataclass(frozen=True, slots=True, kw_only=True)
class RevokeSeat(Action):
    seat: str


@dataclass(frozen=True, slots=True, kw_only=True)
class RevokeAll(Action):
    pass


@dataclass(frozen=True, slots=True, kw_only=True)
class PriorityHold(Action):
    """Chair priority: on while the key is held, off when it is released."""

    on: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class ClearQueue(Action):
    pass


@dataclass(frozen=True, slots=True, kw_only=True)
class Wide(Action):
    """Director: put the wide shot on program now."""


@dataclass(frozen=True, slots=True, kw_only=True)
class LockProgram(Action):
    """Director: freeze (on) or release the program shot."""

    on: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class AdvanceAgenda(Action):
    pass


@dataclass(frozen=True, slots=True, kw_only=True)
class MuteRemote(Action):
    """Mute (on) or unmute every remote councillor at the video bridge."""

    on: bool


# Stream and recording commands a key may give (councild/broadcast_control.py carries them out).
BROADCAST_OPS = ("stream_start", "stream_stop", "record_start", "record_stop", "record_pause",
                 "record_resume")


@dataclass(frozen=True, slots=True, kw_only=True)
class Broadcast(Action):
    """Start or stop the stream, start/stop/pause/resume the recording (`op`, an API op)."""

    op: str

    def __post_init__(self) -> None:
        if self.op not in BROADCAST_OPS:
            raise ValueError(f"not a broadcast op: {self.op!r}")


def longest_speaking(state: Mapping[str, Any]) -> str | None:
    """The delegate who has spoken longest, from a control-API state; the chair only if alone.

    `speakers` is in order of granting, so the first non-chair seat is the longest-speaking
    delegate. The chair is skipped because 'revoke' on a chair keypad means 'thank you, next'
    to a delegate; the chair closes their own mic at their own unit.
    """
    speakers = [str(s) for s in state.get("speakers", [])]
    roles = {str(s.get("id")): s.get("role") for s in state.get("seats", [])}
    delegates = [s for s in speakers if roles.get(s) != "chair"]
    if delegates:
        return delegates[0]
    return speakers[0] if speakers else None


def action_to_api(action: Action, state: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The control-API request (docs/api.md) an action stands for, without `id`.

    `state` (the API's state object) is needed only for RevokeCurrent, which names no seat;
    NothingToDo when nobody speaks.
    """
    match action:
        case GrantSeat(seat=seat):
            return {"op": "grant", "seat": seat}
        case NextSpeaker():
            return {"op": "next"}
        case RevokeSeat(seat=seat):
            return {"op": "revoke", "seat": seat}
        case RevokeCurrent():
            seat = longest_speaking(state or {})
            if seat is None:
                raise NothingToDo("nobody is speaking")
            return {"op": "revoke", "seat": seat}
        case RevokeAll():
            return {"op": "revoke_all"}
        case PriorityHold(on=on):
            return {"op": "priority", "on": on}
        case ClearQueue():
            return {"op": "clear"}
        case Wide():
            return {"op": "wide"}
        case LockProgram(on=on):
            return {"op": "lock", "on": on}
        case AdvanceAgenda():
            return {"op": "agenda"}
        case MuteRemote(on=on):
            return {"op": "mute_remote", "on": on}
        case Broadcast(op=op):
            return {"op": op}
    raise TypeError(f"not a keypad action: {action!r}")


# ---------------------------------------------------------------------------------------------
# Number entry


class EntryKey(StrEnum):
    """The keys of the number-entry machine besides the digits."""

    ENTER = "enter"  # grant the seat typed so far
    BACKSPACE = "backspace"  # remove the last digit
    ESCAPE = "escape"  # forget the number


@dataclass(slots=True)
class NumberEntry:
    """Digits accumulate; Enter grants seat N; Backspace and Esc edit; a pause forgets.

    `step(key, now)` takes a digit ("0".."9") or an EntryKey and returns the GrantSeat it
    completes, or None. A number left alone for `timeout` seconds is forgotten, so a
    half-typed "1" from the morning does not turn the afternoon's "2" into seat 12.
    """

    timeout: float = 4.0
    digits: str = ""
    last: float | None = None  # when the last digit was typed

    def next_deadline(self) -> float | None:
        """When the half-typed number will be forgotten; None when nothing is typed."""
        if not self.digits or self.last is None:
            return None
        return self.last + self.timeout

    def expire(self, now: float) -> bool:
        """Forget the number if its deadline has passed; True if something was forgotten."""
        deadline = self.next_deadline()
        if deadline is not None and now >= deadline:
            self.clear()
            return True
        return False

    def clear(self) -> None:
        self.digits = ""
        self.last = None

    def step(self, key: str | EntryKey, now: float) -> GrantSeat | None:
        self.expire(now)
        if key == EntryKey.ENTER:
            digits = self.digits
            self.clear()
            if not digits:
                return None
            return GrantSeat(seat=str(int(digits)))  # "04" is seat "4", as seat ids are written
        if key == EntryKey.BACKSPACE:
            self.digits = self.digits[:-1]
            self.last = now if self.digits else None
            return None
        if key == EntryKey.ESCAPE:
            self.clear()
            return None
        if isinstance(key, str) and len(key) == 1 and key in "0123456789":
            if len(self.digits) < MAX_DIGITS:
                self.digits += key
            self.last = now  # typing more keeps the number alive even past MAX_DIGITS
            return None
        raise ValueError(f"not a number-entry key: {key!r}")


# ---------------------------------------------------------------------------------------------
# Key map


class _Kind(StrEnum):
    DIGIT = "digit"
    ENTRY = "entry"
    PRESS = "press"  # fires once on key down
    HOLD = "hold"  # on at key down, off at key up


@dataclass(frozen=True, slots=True)
class KeyFunction:
    """What one key does, parsed from its action name in the key map."""

    kind: _Kind
    name: str
    arg: str = ""

    def on_down(self) -> Action | None:
        return _PRESS_ACTIONS[self.name](self.arg) if self.kind is _Kind.PRESS else None


_PRESS_ACTIONS: dict[str, Any] = {
    "next": lambda _a: NextSpeaker(),
    "revoke": lambda a: RevokeSeat(seat=a) if a else RevokeCurrent(),
    "revoke_all": lambda _a: RevokeAll(),
    "clear": lambda _a: ClearQueue(),
    "wide": lambda _a: Wide(),
    "lock": lambda _a: LockProgram(on=True),
    "unlock": lambda _a: LockProgram(on=False),
    "agenda": lambda _a: AdvanceAgenda(),
    "mute_remote": lambda _a: MuteRemote(on=True),
    "unmute_remote": lambda _a: MuteRemote(on=False),
    "grant": lambda a: GrantSeat(seat=a),
    **{op: (lambda o: lambda _a: Broadcast(op=o))(op) for op in BROADCAST_OPS},
}
_HOLD_ACTIONS = {"priority"}
_SEAT_ARG = re.compile(r"^[A-Za-z0-9_.-]{1,32}$")  # the config's seat-id shape


def parse_function(spec: str) -> KeyFunction:
    """Parse an action name: "0".."9", enter, backspace, escape, next, revoke, revoke:12,
    revoke_all, priority, clear, wide, lock, unlock, agenda, mute_remote, unmute_remote,
    grant:12, stream_start, stream_stop, record_start, record_stop, record_pause,
    record_resume."""
    name, _sep, arg = spec.strip().partition(":")
    if len(name) == 1 and name in "0123456789" and not arg:
        return KeyFunction(_Kind.DIGIT, name)
    if name in EntryKey.__members__.values() and not arg:
        return KeyFunction(_Kind.ENTRY, name)
    if name in _HOLD_ACTIONS and not arg:
        return KeyFunction(_Kind.HOLD, name)
    if name in _PRESS_ACTIONS:
        if name == "grant" and not arg:
            raise KeyMapError("grant needs a seat: grant:<seat>")
        if arg and name not in ("grant", "revoke"):
            raise KeyMapError(f"{name!r} takes no seat")
        if arg and not _SEAT_ARG.match(arg):
            raise KeyMapError(f"{arg!r} is not a seat id")
        return KeyFunction(_Kind.PRESS, name, arg)
    known = ", ".join(["0-9", *EntryKey.__members__.values(), *_HOLD_ACTIONS, *_PRESS_ACTIONS])
    raise KeyMapError(f"unknown action {spec!r} (known: {known})")


# A plain USB numeric keypad (Linux evdev names) and the names the serial button box, MIDI
# pads and Companion usually get configured with. Configuration adds to and overrides this.
DEFAULT_KEYS: dict[str, str] = {
    **{f"KEY_KP{d}": str(d) for d in range(10)},
    **{f"KEY_{d}": str(d) for d in range(10)},
    **{str(d): str(d) for d in range(10)},
    "KEY_KPENTER": "enter",
    "KEY_ENTER": "enter",
    "ENTER": "enter",
    "KEY_BACKSPACE": "backspace",
    "BACKSPACE": "backspace",
    "KEY_ESC": "escape",
    "ESC": "escape",
    "KEY_KPPLUS": "next",
    "NEXT": "next",
    "KEY_KPMINUS": "revoke",
    "REVOKE": "revoke",
    "KEY_KPASTERISK": "priority",
    "PRIORITY": "priority",
    "KEY_KPSLASH": "wide",
    "WIDE": "wide",
    "KEY_KPDOT": "clear",
    "CLEAR": "clear",
    "KEY_NUMLOCK": "revoke_all",
    "REVOKE_ALL": "revoke_all",
    "KEY_TAB": "agenda",
    "AGENDA": "agenda",
}


@dataclass(frozen=True, slots=True)
class KeyMap:
    """Key name (as the driver reports it) → what the key does. Built from strings so the
    configuration can carry it; KeyMapError names the first bad entry."""

    functions: Mapping[str, KeyFunction]

    @classmethod
    def build(cls, keys: Mapping[str, str], *, defaults: bool = True) -> KeyMap:
        merged = {**(DEFAULT_KEYS if defaults else {}), **keys}
        functions: dict[str, KeyFunction] = {}
        for key, spec in merged.items():
            if spec in ("", "none"):
                continue  # a way to switch off a default key
            try:
                functions[key] = parse_function(spec)
            except KeyMapError as exc:
                raise KeyMapError(f"key {key!r}: {exc}") from None
        return cls(functions)

    def lookup(self, key: str) -> KeyFunction | None:
        return self.functions.get(key)

    def keys_for(self, name: str, arg: str = "") -> list[str]:
        """The keys bound to an action (for labelling a surface's buttons)."""
        return [k for k, f in self.functions.items() if f.name == name and f.arg == arg]


@dataclass(slots=True)
class Keypad:
    """One surface's keys → actions: the key map plus its own number entry.

    Key down fires press actions and digits; key up only releases a held priority. Keys not
    in the map are counted in `unmapped` and otherwise ignored (a stray key on the chair's
    desk must never do anything).
    """

    keymap: KeyMap
    entry: NumberEntry = field(default_factory=NumberEntry)
    unmapped: int = 0
    held: set[str] = field(default_factory=set)

    # Releasing a held key never fires an action except for these.
    RELEASE_ACTIONS: ClassVar[dict[str, Action]] = {"priority": PriorityHold(on=False)}

    @classmethod
    def from_config(cls, keys: Mapping[str, str], entry_timeout: float) -> Keypad:
        return cls(KeyMap.build(keys), NumberEntry(timeout=entry_timeout))

    def next_deadline(self) -> float | None:
        return self.entry.next_deadline()

    def expire(self, now: float) -> bool:
        return self.entry.expire(now)

    @property
    def typed(self) -> str:
        """The digits typed so far (for a display or a Stream Deck key)."""
        return self.entry.digits

    def press(self, key: str, pressed: bool, now: float) -> list[Action]:
        function = self.keymap.lookup(key)
        if function is None:
            if pressed:
                self.unmapped += 1
            return []
        if not pressed:
            if key not in self.held:
                return []  # a release whose press we never saw (plugged in mid-press)
            self.held.discard(key)
            release = self.RELEASE_ACTIONS.get(function.name)
            return [release] if release is not None else []
        if key in self.held:
            return []  # a second down without an up: auto-repeat or a bouncing contact
        self.held.add(key)
        if function.kind is _Kind.DIGIT:
            self.entry.step(function.name, now)
            return []
        if function.kind is _Kind.ENTRY:
            grant = self.entry.step(EntryKey(function.name), now)
            return [grant] if grant is not None else []
        if function.kind is _Kind.HOLD:
            return [PriorityHold(on=True)]
        action = function.on_down()
        return [action] if action is not None else []

    def release_all(self) -> list[Action]:
        """The surface went away: release what it held (priority must not stick on)."""
        actions: list[Action] = []
        for key in sorted(self.held):
            function = self.keymap.lookup(key)
            if function is not None and function.name in self.RELEASE_ACTIONS:
                actions.append(self.RELEASE_ACTIONS[function.name])
        self.held.clear()
        return actions


@dataclass(slots=True)
class Keypads:
    """Every surface's Keypad, for the daemon: one number entry per device, so digits typed
    on the chair's keypad and on the clerk's Stream Deck never mix.

    A device's key map is DEFAULT_KEYS, then `[keypad] keys`, then the device table's own
    `keys`; built on the first key from that device.
    """

    entry_timeout: float = 4.0
    keys: Mapping[str, str] = field(default_factory=dict)  # [keypad] keys
    device_keys: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    pads: dict[str, Keypad] = field(default_factory=dict)

    def pad(self, device: str) -> Keypad:
        pad = self.pads.get(device)
        if pad is None:
            merged = {**self.keys, **self.device_keys.get(device, {})}
            pad = self.pads[device] = Keypad.from_config(merged, self.entry_timeout)
        return pad

    def press(self, event: KeyPressed, now: float) -> list[Action]:
        return self.pad(event.device).press(event.key, event.pressed, now)

    def next_deadline(self) -> float | None:
        deadlines = [d for p in self.pads.values() if (d := p.next_deadline()) is not None]
        return min(deadlines, default=None)

    def expire(self, now: float) -> list[str]:
        """Forget half-typed numbers whose time is up; the devices concerned."""
        return [name for name, pad in self.pads.items() if pad.expire(now)]


# ---------------------------------------------------------------------------------------------
# Feedback: the colour a seat's button shows


class SeatLamp(StrEnum):
    FREE = "free"  # mic off, not waiting
    REQUESTING = "requesting"  # in the queue or the reply queue
    SPEAKING = "speaking"  # mic on, within the speaking time
    OVER = "over"  # mic on, speaking time used up


def seat_lamps(state: Mapping[str, Any]) -> dict[str, SeatLamp]:
    """Every seat's lamp from a control-API state object."""
    over = {str(s["seat"]) for s in state.get("speaking", []) if s.get("over")}
    lamps: dict[str, SeatLamp] = {}
    for seat in state.get("seats", []):
        sid = str(seat["id"])
        mic = seat.get("mic")
        if mic == "on":
            lamps[sid] = SeatLamp.OVER if sid in over else SeatLamp.SPEAKING
        elif mic == "requesting":
            lamps[sid] = SeatLamp.REQUESTING
        else:
            lamps[sid] = SeatLamp.FREE
    return lamps
