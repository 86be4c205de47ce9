"""A serial button box (Arduino-style) as the chair's keypad: ASCII lines over RS-232 / USB-CDC.

The protocol is ours (no standard exists for these boxes); a box firmware implements it in
a few lines:

    box → host   KEY <name> DOWN     a key went down        (name: 1-32 of A-Z a-z 0-9 _ -)
                 KEY <name> UP       the key went up
                 HELLO <text>        sent at power-up; <text> names the firmware (optional)
                 PONG                the answer to PING
    host → box   PING                liveness probe; the box answers PONG at once

Lines end with LF; a CR before it is ignored; words are case-insensitive except key names.
At most 64 bytes per line. A box that cannot answer PING works with `ping_interval = 0` (a
pulled USB cable is still noticed: the tty read fails).

Layers: `ButtonBoxCodec` (sans-IO, host side), `BoxSideCodec` (the box's side, used by the
simulator in devices/sim/keypad.py) and `SerialKeypad` (asyncio, pyserial-asyncio-fast).
"""

from __future__ import annotations

import asyncio
import re
from abc import ABC, abstractmethod
from collections import deque
from dataclasses import dataclass
from typing import Literal

from pydantic import Field, field_validator

from councild.errors import LocalProtocolError, RemoteProtocolError
from councild.keypad import KeyMap
from councild.model import KeyPressed, Link
from councild.sansio import NEED_DATA, LineFramer, Malformed, NeedData, TooLong
from devices import serial_link
from devices.base import Device, DeviceOptions, Emit, KeyedOptions

__all__ = [
    "NEED_DATA",
    "BoxEvent",
    "BoxSideCodec",
    "ButtonBoxCodec",
    "Hello",
    "HostEvent",
    "KeyChange",
    "Ping",
    "Pong",
    "SerialKeypad",
    "SerialKeypadOptions",
]

# A line is at most "KEY " + 32-char name + " DOWN" + CRLF ≈ 43 bytes; 64 leaves room for a
# HELLO text. Longer means wrong baud rate or a different protocol on the wire.
MAX_LINE = 64
# Events parsed but not yet taken by next_event(); one line = one event, so this only fills
# if the caller stops draining.
MAX_PENDING = 256
DEFAULT_BAUD = 9600
# A box answers PING within a few ms; 2 s between pings and lost after 5 s of silence is
# what an unplugged-but-still-enumerated adapter (power loss on the box side) costs.
PING_INTERVAL = 2.0
LOST_AFTER = 5.0
# Without pings only a failed read ends the link: "never" for the silence timer.
NO_LIVENESS = 365 * 24 * 3600.0

_NAME = re.compile(r"^[A-Za-z0-9_-]{1,32}$")


# --- events ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class BoxEvent:
    """A line from the box."""


@dataclass(frozen=True, slots=True, kw_only=True)
class KeyChange(BoxEvent):
    name: str
    pressed: bool

    def __post_init__(self) -> None:
        if not _NAME.match(self.name):
            raise LocalProtocolError(f"bad key name {self.name!r}")

    def line(self) -> bytes:
        return f"KEY {self.name} {'DOWN' if self.pressed else 'UP'}\n".encode()


@dataclass(frozen=True, slots=True, kw_only=True)
class Hello(BoxEvent):
    text: str = ""

    def line(self) -> bytes:
        return f"HELLO {self.text}\n".encode() if self.text else b"HELLO\n"


@dataclass(frozen=True, slots=True, kw_only=True)
class Pong(BoxEvent):
    def line(self) -> bytes:
        return b"PONG\n"


@dataclass(frozen=True, slots=True, kw_only=True)
class HostEvent:
    """A line from the host."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Ping(HostEvent):
    def line(self) -> bytes:
        return b"PING\n"


# --- codecs ------------------------------------------------------------------------------------


class _Codec(ABC):
    """LF-terminated lines (CR before the LF ignored) with a cap: an over-long line is one
    Malformed and is skipped to its end."""

    def __init__(self) -> None:
        self._lines = LineFramer(limit=MAX_LINE)
        self._pending: deque[object] = deque()

    def receive_data(self, data: bytes | None) -> None:
        """Feed bytes from the peer; None (or b"") at end of stream: a last line without its
        LF still counts."""
        if data:
            lines: list[bytes | TooLong] = self._lines.feed(data)
        else:
            last = self._lines.end()
            lines = [] if last is None else [last]
        for line in lines:
            if len(self._pending) >= MAX_PENDING:
                self._pending.popleft()  # the caller stopped draining: keep the newest
            if isinstance(line, TooLong):
                self._pending.append(Malformed("line", f"line longer than {MAX_LINE} bytes"))
                continue
            line = line.rstrip(b"\r")
            if line.strip():
                self._pending.append(self._parse(line))

    def _next(self) -> object:
        return self._pending.popleft() if self._pending else NEED_DATA

    @abstractmethod
    def _parse(self, line: bytes) -> object:
        """Each variant's own."""


class ButtonBoxCodec(_Codec):
    """Host side: box lines in → BoxEvents out; a bad line is a Malformed (the next call
    goes on with the following line)."""

    def next_event(self) -> BoxEvent | Malformed | NeedData:
        event = self._next()
        assert isinstance(event, BoxEvent | Malformed | NeedData)
        return event

    def send(self, event: HostEvent) -> bytes:
        if isinstance(event, Ping):
            return event.line()
        raise LocalProtocolError(f"cannot send {event!r} to a button box")

    def _parse(self, line: bytes) -> BoxEvent | Malformed:
        try:
            words = line.decode("ascii").split()
        except UnicodeDecodeError:
            return Malformed.of("line", "not ASCII", line)
        if not words:  # only control characters str.split() counts as space (\x1c-\x1f)
            return Malformed.of("line", "no words", line)
        word = words[0].upper()
        if word == "KEY" and len(words) == 3 and _NAME.match(words[1]):
            edge = words[2].upper()
            if edge in ("DOWN", "UP"):
                return KeyChange(name=words[1], pressed=edge == "DOWN")
        elif word == "PONG" and len(words) == 1:
            return Pong()
        elif word == "HELLO":
            return Hello(text=" ".join(words[1:]))
        return Malformed.of("line", "unknown line", line)


class BoxSideCodec(_Codec):
    """The box's side (for the simulator): host lines in → HostEvents; BoxEvents → bytes."""

    def next_event(self) -> HostEvent | Malformed | NeedData:
        event = self._next()
        assert isinstance(event, HostEvent | Malformed | NeedData)
        return event

    def send(self, event: BoxEvent) -> bytes:
        if isinstance(event, KeyChange | Hello | Pong):
            return event.line()
        raise LocalProtocolError(f"a box cannot send {event!r}")

    def _parse(self, line: bytes) -> HostEvent | Malformed:
        if line.strip().upper() == b"PING":
            return Ping()
        return Malformed.of("line", "unknown line", line)


# --- the driver --------------------------------------------------------------------------------


class SerialKeypadOptions(KeyedOptions):
    driver: Literal["keypad_serial"] = "keypad_serial"
    follow_floor: bool = False  # a keypad has no channels to switch
    path: str  # /dev/ttyUSB0, /dev/serial/by-id/... (a stable name survives re-plugging)
    baud: int = Field(default=DEFAULT_BAUD, ge=300, le=4_000_000)
    ping_interval: float = Field(default=PING_INTERVAL, ge=0.0, le=60.0)  # 0 = box has no PING
    lost_after: float = Field(default=LOST_AFTER, gt=0.0, le=600.0)
    # This surface's key names → actions (see councild.keypad), on top of DEFAULT_KEYS.
    keys: dict[str, str] = Field(default_factory=dict)

    @field_validator("keys")
    @classmethod
    def _keys_valid(cls, value: dict[str, str]) -> dict[str, str]:
        KeyMap.build(value)
        return value


class SerialKeypad(Device):
    """Emits KeyPressed for every KEY line; releases held keys when the box goes away."""

    Options = SerialKeypadOptions

    def __init__(self, name: str, options: DeviceOptions, emit: Emit) -> None:
        super().__init__(name, options, emit)
        if not isinstance(options, SerialKeypadOptions):
            raise TypeError(f"{name}: expected SerialKeypad.Options")
        self.opts = options
        self._codec = ButtonBoxCodec()
        self._writer: asyncio.StreamWriter | None = None
        self.held: set[str] = set()
        self.firmware = ""

    async def _session(self) -> None:
        reader, writer = await serial_link.open_serial(self.opts.path, self.opts.baud)
        self._codec = ButtonBoxCodec()
        self._writer = writer
        pinging = self.opts.ping_interval > 0
        try:
            if pinging:
                # The first PONG proves a box speaking our protocol is on the other end.
                await self._ping()
            else:
                self._connected(self.opts.path)
            await serial_link.follow(
                reader,
                self._feed,
                self._ping if pinging else None,
                ping_interval=self.opts.ping_interval if pinging else NO_LIVENESS,
                lost_after=self.opts.lost_after if pinging else NO_LIVENESS,
            )
        finally:
            self._writer = None
            await serial_link.close_writer(writer)
            self._release_held()

    async def _ping(self) -> None:
        if self._writer is not None:
            self._writer.write(self._codec.send(Ping()))
            await self._writer.drain()

    def _feed(self, data: bytes) -> bool:
        self._codec.receive_data(data)
        valid = False
        while not isinstance(event := self._codec.next_event(), NeedData):
            if isinstance(event, Malformed):
                self._malformed("button box line", RemoteProtocolError(f"{event.detail}: "
                                                                       f"{event.data!r}"))
                continue
            valid = True
            if isinstance(event, KeyChange):
                self._key(event.name, event.pressed)
            elif isinstance(event, Hello):
                self.firmware = event.text
        if valid:
            if self._link is not Link.CONNECTED:
                self._connected(self.firmware or self.opts.path)
            self._seen()
        return valid

    def _key(self, name: str, pressed: bool) -> None:
        if pressed:
            self.held.add(name)
        elif name in self.held:
            self.held.discard(name)
        self._emit(KeyPressed(device=self.name, key=name, pressed=pressed))

    def _release_held(self) -> None:
        # A box unplugged with a key down must not leave chair priority held forever.
        for name in sorted(self.held):
            self._emit(KeyPressed(device=self.name, key=name, pressed=False))
        self.held.clear()
