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
from enum import Enum
from typing import Literal

from pydantic import Field, field_validator

from councild.errors import LocalProtocolError, RemoteProtocolError
from councild.keypad import KeyMap
from councild.model import KeyPressed, Link
from devices import serial_link
from devices.base import Device, DeviceOptions, Emit

__all__ = [
    "NEED_DATA",
    "BoxEvent",
    "BoxSideCodec",
    "ButtonBoxCodec",
    "ButtonBoxError",
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


class ButtonBoxError(RemoteProtocolError):
    """The box sent a line this protocol does not have."""


class _Sentinel(Enum):
    NEED_DATA = "NEED_DATA"  # no complete line buffered yet

    def __repr__(self) -> str:
        return self.value


NEED_DATA = _Sentinel.NEED_DATA


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


# --- framing -----------------------------------------------------------------------------------


class _Lines:
    """LF-terminated lines with a cap; an over-long line is reported once and skipped."""

    def __init__(self) -> None:
        self._buf = bytearray()
        self._skipping = False

    def feed(self, data: bytes) -> list[bytes | None]:
        """Complete lines (CR stripped); None stands for one over-long line that was dropped."""
        out: list[bytes | None] = []
        self._buf += data
        while True:
            end = self._buf.find(b"\n")
            if end < 0:
                if len(self._buf) > MAX_LINE:
                    if not self._skipping:
                        out.append(None)
                    self._skipping = True
                    self._buf.clear()
                return out
            line = bytes(self._buf[:end]).rstrip(b"\r")
            del self._buf[: end + 1]
            if self._skipping or len(line) > MAX_LINE:
                if not self._skipping:
                    out.append(None)
                self._skipping = False
                continue
            out.append(line)


class _Codec(ABC):
    def __init__(self) -> None:
        self._lines = _Lines()
        self._pending: deque[object] = deque()

    def receive_data(self, data: bytes) -> None:
        for line in self._lines.feed(data):
            if len(self._pending) >= MAX_PENDING:
                self._pending.popleft()  # the caller stopped draining: keep the newest
            if line is None:
                self._pending.append(ButtonBoxError(f"line longer than {MAX_LINE} bytes"))
            elif line.strip():
                self._pending.append(self._parse(line))

    def _next(self) -> object:
        if not self._pending:
            return NEED_DATA
        item = self._pending.popleft()
        if isinstance(item, ButtonBoxError):
            raise item
        return item

    @abstractmethod
    def _parse(self, line: bytes) -> object:
        """Each variant's own."""


class ButtonBoxCodec(_Codec):
    """Host side: box lines in → BoxEvents out; `next_event()` raises ButtonBoxError for a
    bad line (the next call goes on with the following line)."""

    def next_event(self) -> BoxEvent | _Sentinel:
        event = self._next()
        assert isinstance(event, BoxEvent | _Sentinel)
        return event

    def send(self, event: HostEvent) -> bytes:
        if isinstance(event, Ping):
            return event.line()
        raise LocalProtocolError(f"cannot send {event!r} to a button box")

    def _parse(self, line: bytes) -> BoxEvent | ButtonBoxError:
        try:
            words = line.decode("ascii").split()
        except UnicodeDecodeError:
            return ButtonBoxError(f"not ASCII: {line[:MAX_LINE]!r}")
        word = words[0].upper()
        if word == "KEY" and len(words) == 3 and _NAME.match(words[1]):
            edge = words[2].upper()
            if edge in ("DOWN", "UP"):
                return KeyChange(name=words[1], pressed=edge == "DOWN")
        elif word == "PONG" and len(words) == 1:
            return Pong()
        elif word == "HELLO":
            return Hello(text=" ".join(words[1:]))
        return ButtonBoxError(f"unknown line {line!r}")


class BoxSideCodec(_Codec):
    """The box's side (for the simulator): host lines in → HostEvents; BoxEvents → bytes."""

    def next_event(self) -> HostEvent | _Sentinel:
        event = self._next()
        assert isinstance(event, HostEvent | _Sentinel)
        return event

    def send(self, event: BoxEvent) -> bytes:
        if isinstance(event, KeyChange | Hello | Pong):
            return event.line()
        raise LocalProtocolError(f"a box cannot send {event!r}")

    def _parse(self, line: bytes) -> HostEvent | ButtonBoxError:
        if line.strip().upper() == b"PING":
            return Ping()
        return ButtonBoxError(f"unknown line {line!r}")


# --- the driver --------------------------------------------------------------------------------


class SerialKeypadOptions(DeviceOptions):
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
        while True:
            try:
                event = self._codec.next_event()
            except ButtonBoxError as exc:
                self._malformed("button box line", exc)
                continue
            if event is NEED_DATA:
                break
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
