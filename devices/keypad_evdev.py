"""USB numeric keypads and button boxes through Linux evdev (/dev/input/eventN).

The kernel delivers `struct input_event` records: on 64-bit Linux 24 bytes, `llHHi` =
(seconds, microseconds, type, code, value); type 1 = EV_KEY with value 1 press, 0 release,
2 auto-repeat (protocols.md §7). EV_SYN / EV_MSC records around each key are skipped.

The device is found by path or by name (the kernel's name for it, as in
/sys/class/input/eventN/device/name), and grabbed with EVIOCGRAB so its keys reach only
councild, not the console or a desktop session of the same machine.

Layers: `EvdevCodec` (sans-IO: bytes → KeyEvents) and `EvdevKeypad` (asyncio: open, grab,
read with loop.add_reader, reopen when the device is unplugged and comes back).
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import fcntl
import os
import struct
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, Literal

from pydantic import Field, field_validator, model_validator

from councild.errors import ConnectionLostError, RemoteProtocolError
from councild.i18n import _
from councild.keypad import KeyMap
from councild.model import KeyPressed
from councild.sansio import NEED_DATA, Malformed, NeedData
from devices.base import Device, DeviceOptions, Emit, KeyedOptions

__all__ = [
    "EVENT_FORMAT",
    "EVENT_SIZE",
    "EVIOCGRAB",
    "EV_KEY",
    "KEY_CODES",
    "KEY_NAMES",
    "NEED_DATA",
    "EvdevCodec",
    "EvdevKeypad",
    "EvdevOptions",
    "KeyEvent",
    "encode_event",
    "find_by_name",
]

EVENT_FORMAT = "llHHi"  # native: struct input_event with a 64-bit struct timeval
EVENT_SIZE = struct.calcsize(EVENT_FORMAT)  # 24 on 64-bit Linux
EV_SYN = 0
EV_KEY = 1
EV_MSC = 4
KEY_UP, KEY_DOWN, KEY_REPEAT = 0, 1, 2
# _IOW('E', 0x90, int): exclusive access to the device.
EVIOCGRAB = 0x40044590
# Decoded key events not yet taken; a keypad sends a few per second, so only a stalled
# caller fills this.
MAX_PENDING = 1024
# One read takes up to this many records (a burst of a held key's repeats and syncs).
READ_RECORDS = 64
SYS_INPUT = Path("/sys/class/input")
DEV_INPUT = Path("/dev/input")

# Linux input-event-codes.h: what numeric keypads, macro pads and button boxes send.
KEY_CODES: dict[str, int] = {
    "KEY_ESC": 1,
    **{f"KEY_{d}": 1 + d for d in range(1, 10)},
    "KEY_0": 11,
    "KEY_MINUS": 12,
    "KEY_EQUAL": 13,
    "KEY_BACKSPACE": 14,
    "KEY_TAB": 15,
    "KEY_ENTER": 28,
    "KEY_KPASTERISK": 55,
    "KEY_SPACE": 57,
    **{f"KEY_F{n}": 58 + n for n in range(1, 11)},
    "KEY_NUMLOCK": 69,
    "KEY_KP7": 71,
    "KEY_KP8": 72,
    "KEY_KP9": 73,
    "KEY_KPMINUS": 74,
    "KEY_KP4": 75,
    "KEY_KP5": 76,
    "KEY_KP6": 77,
    "KEY_KPPLUS": 78,
    "KEY_KP1": 79,
    "KEY_KP2": 80,
    "KEY_KP3": 81,
    "KEY_KP0": 82,
    "KEY_KPDOT": 83,
    "KEY_F11": 87,
    "KEY_F12": 88,
    "KEY_KPENTER": 96,
    "KEY_KPSLASH": 98,
    "KEY_HOME": 102,
    "KEY_UP": 103,
    "KEY_PAGEUP": 104,
    "KEY_LEFT": 105,
    "KEY_RIGHT": 106,
    "KEY_END": 107,
    "KEY_DOWN": 108,
    "KEY_PAGEDOWN": 109,
    "KEY_INSERT": 110,
    "KEY_DELETE": 111,
    "KEY_KPEQUAL": 117,
    "KEY_KPCOMMA": 121,
    "KEY_KPLEFTPAREN": 179,
    "KEY_KPRIGHTPAREN": 180,
    **{f"KEY_F{n}": 170 + n for n in range(13, 25)},  # macro pads' favourite keys
    **{f"BTN_{d}": 0x100 + d for d in range(10)},  # generic button boxes
}
KEY_NAMES: dict[int, str] = {code: name for name, code in KEY_CODES.items()}


@dataclass(frozen=True, slots=True, kw_only=True)
class KeyEvent:
    code: int
    value: int  # 0 up, 1 down, 2 auto-repeat
    time: float  # the kernel's timestamp (wall clock at the event)

    @property
    def name(self) -> str:
        """The input-event-codes name, or KEY_<code> for codes outside our table."""
        return KEY_NAMES.get(self.code, f"KEY_{self.code}")

    @property
    def pressed(self) -> bool:
        return self.value != KEY_UP


def encode_event(type_: int, code: int, value: int, time: float = 0.0) -> bytes:
    """One input_event record (for tests and simulators: what the kernel would write)."""
    sec = int(time)
    return struct.pack(EVENT_FORMAT, sec, int((time - sec) * 1_000_000), type_, code, value)


class EvdevCodec:
    """Bytes in (`receive_data`, None or `b""` = end of stream), KeyEvents out (`next_event`);
    a bad record is a Malformed."""

    def __init__(self) -> None:
        self._buf = bytearray()
        self._pending: deque[KeyEvent | Malformed] = deque()
        self._eof = False
        self.skipped = 0  # non-key records (sync, scan codes, LEDs)

    def receive_data(self, data: bytes | None) -> None:
        if self._eof:
            if data:
                self._queue(Malformed.of("input_event", "data after end of stream", data))
            return
        if not data:
            self._eof = True
            if self._buf:
                self._queue(Malformed.of("input_event",
                                         f"stream ended {len(self._buf)} bytes into a record",
                                         self._buf))
                self._buf.clear()
            return
        self._buf += data
        whole = len(self._buf) - len(self._buf) % EVENT_SIZE
        for sec, usec, type_, code, value in struct.iter_unpack(EVENT_FORMAT, self._buf[:whole]):
            if type_ != EV_KEY:
                self.skipped += 1
            elif value not in (KEY_UP, KEY_DOWN, KEY_REPEAT):
                self._queue(Malformed("input_event", f"key {code} with value {value}"))
            else:
                self._queue(KeyEvent(code=code, value=value, time=sec + usec / 1_000_000))
        del self._buf[:whole]

    def _queue(self, item: KeyEvent | Malformed) -> None:
        if len(self._pending) >= MAX_PENDING:
            self._pending.popleft()  # caller stopped draining: the newest keys matter
        self._pending.append(item)

    def next_event(self) -> KeyEvent | Malformed | NeedData:
        return self._pending.popleft() if self._pending else NEED_DATA


def find_by_name(name: str, sys_root: Path = SYS_INPUT, dev_root: Path = DEV_INPUT) -> Path | None:
    """The event node of the input device with this kernel name; None when not plugged in."""
    for name_file in sorted(sys_root.glob("event*/device/name")):
        with contextlib.suppress(OSError):
            if name_file.read_text(errors="replace").strip() == name:
                return dev_root / name_file.parent.parent.name
    return None


# --- the driver --------------------------------------------------------------------------------


class EvdevOptions(KeyedOptions):
    driver: Literal["evdev"] = "evdev"
    follow_floor: bool = False  # nothing to switch
    path: str | None = None  # /dev/input/by-id/usb-...-event-kbd (stable across re-plugs)
    name: str | None = None  # or the kernel's device name, e.g. "CX 2.4G Receiver"
    grab: bool = True  # exclusive: keys do not also type into a console on this machine
    keys: dict[str, str] = Field(default_factory=dict)  # this keypad's keys → actions

    @model_validator(mode="after")
    def _path_or_name(self) -> EvdevOptions:
        if (self.path is None) == (self.name is None):
            raise ValueError("give exactly one of 'path' and 'name'")
        return self

    @field_validator("keys")
    @classmethod
    def _keys_valid(cls, value: dict[str, str]) -> dict[str, str]:
        KeyMap.build(value)
        return value


class EvdevKeypad(Device):
    """Emits KeyPressed(key=KEY_KP5 ...) on key down and up; auto-repeat is dropped."""

    Options = EvdevOptions
    # Class attributes so a test can point the name lookup at a fake sysfs tree.
    sys_root: ClassVar[Path] = SYS_INPUT
    dev_root: ClassVar[Path] = DEV_INPUT

    def __init__(self, name: str, options: DeviceOptions, emit: Emit) -> None:
        super().__init__(name, options, emit)
        if not isinstance(options, EvdevOptions):
            raise TypeError(f"{name}: expected EvdevKeypad.Options")
        self.opts = options
        self.held: set[str] = set()
        self.grabbed = False
        self.repeats = 0  # auto-repeat records dropped

    def _resolve(self) -> Path:
        if self.opts.path is not None:
            return Path(self.opts.path)
        assert self.opts.name is not None
        path = find_by_name(self.opts.name, self.sys_root, self.dev_root)
        if path is None:
            raise ConnectionLostError(
                _("no input device named {name!r}").format(name=self.opts.name))
        return path

    async def _session(self) -> None:
        path = self._resolve()
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        loop = asyncio.get_running_loop()
        lost: asyncio.Future[None] = loop.create_future()
        codec = EvdevCodec()
        try:
            self._grab(fd, path)
            self._connected(str(path))
            loop.add_reader(fd, self._readable, fd, codec, lost)
            try:
                await lost
            finally:
                loop.remove_reader(fd)
        finally:
            if self.grabbed:
                with contextlib.suppress(OSError):
                    fcntl.ioctl(fd, EVIOCGRAB, 0)
                self.grabbed = False
            os.close(fd)
            self._release_held()

    def _grab(self, fd: int, path: Path) -> None:
        if not self.opts.grab:
            return
        try:
            fcntl.ioctl(fd, EVIOCGRAB, 1)
            self.grabbed = True
        except OSError as exc:
            if exc.errno == errno.EBUSY:
                # Another program holds it; retrying later is all we can do.
                raise ConnectionLostError(
                    _("{path} is grabbed by another program").format(path=path)) from exc
            # Not an evdev node (a test stand-in, a misconfigured path): keys still arrive,
            # they just also reach whoever else reads the device.
            self.log.warning("%s: cannot grab %s: %s", self.name, path, exc.strerror)

    def _readable(self, fd: int, codec: EvdevCodec, lost: asyncio.Future[None]) -> None:
        try:
            data = os.read(fd, EVENT_SIZE * READ_RECORDS)
        except BlockingIOError:
            return
        except OSError as exc:  # ENODEV: unplugged; EIO: the stand-in pty hung up
            if not lost.done():
                lost.set_exception(ConnectionLostError(
                    _("read failed: {reason}").format(reason=exc.strerror)))
            return
        codec.receive_data(data)
        while not isinstance(event := codec.next_event(), NeedData):
            if isinstance(event, Malformed):
                self._malformed(event.what, RemoteProtocolError(event.detail))
                continue
            self._seen()
            self._key(event)
        if not data and not lost.done():
            lost.set_exception(ConnectionLostError(_("device closed")))

    def _key(self, event: KeyEvent) -> None:
        if event.value == KEY_REPEAT:
            self.repeats += 1
            return
        name = event.name
        if event.pressed:
            self.held.add(name)
        else:
            self.held.discard(name)
        self._emit(KeyPressed(device=self.name, key=name, pressed=event.pressed))

    def _release_held(self) -> None:
        # Unplugged with a key down: chair priority must not stay held.
        for key in sorted(self.held):
            self._emit(KeyPressed(device=self.name, key=key, pressed=False))
        self.held.clear()
