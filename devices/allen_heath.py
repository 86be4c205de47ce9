"""Allen & Heath desks over MIDI on TCP port 51325: SQ (NRPN mutes) and Qu/dLive (note-on mutes).

Layers, bottom up:
- `RunningStatusExpander` turns a raw MIDI byte stream into complete messages, each with its
  own status byte. mido 1.3's parser does not expand running status (Avantis sends
  `9B 00 7F 01 7F 02 7F` for three note-ons; mido sees one), so this sits in front of it.
- `MidiStream` feeds those complete messages to mido's pure-Python `Parser`.
- `SQCodec` / `QuCodec` (sans-IO) turn MIDI messages into mute events and mute commands into
  bytes. Both sides (driver and simulator) use them.
- `SQDesk` / `QuDesk` are the thin asyncio drivers.

Wire facts (protocols.md §2): SQ mute on `BN 63 MB BN 62 LB BN 06 00 BN 26 01`, off the same
with `26 00`, get `BN 63 MB BN 62 LB BN 60 7F`; the desk answers a get and reports surface
changes with the absolute form. Qu/dLive (unverified): `9N CH 7F 9N CH 00` = mute on,
`9N CH 3F 9N CH 00` = mute off; the Qu note for input 1 is 0x20 (unverified), dLive 0x00.
"""

from __future__ import annotations

import asyncio
import contextlib
from abc import ABC, abstractmethod
from collections import deque
from dataclasses import dataclass
from enum import Enum, StrEnum
from typing import ClassVar, Literal

import mido
from pydantic import Field, field_validator, model_validator

from councild.errors import ConnectionLostError, LocalProtocolError, OperationTimeoutError
from councild.i18n import _
from councild.model import ChannelSwitched
from councild.sansio import NEED_DATA, Malformed, NeedData
from devices import serial_link
from devices.base import DeviceOptions, Emit, Snapshot, StatefulDevice
from devices.capabilities import Mixer

__all__ = [
    "EOF",
    "NEED_DATA",
    "Closed",
    "CodecState",
    "Malformed",
    "MidiStream",
    "MuteQuery",
    "MuteState",
    "QuCodec",
    "QuDesk",
    "QuOptions",
    "RunningStatusExpander",
    "SQCodec",
    "SQDesk",
    "SQOptions",
    "Strip",
]

DEFAULT_PORT = 51325
# Longest SysEx we buffer; A&H desks send short ones (scene names, meters are not MIDI).
MAX_SYSEX = 1024
# Ping (a mute GET) every second; the desk is lost after 2.5 s without a valid message, so a
# dead desk is reported within 3 s as the floor needs, and one late answer is tolerated.
PING_INTERVAL = 1.0
LOST_AFTER = 2.5
# The state read at connect: GETs still unanswered after this long are sent again (a desk
# busy with a scene recall), and a desk that has not answered them all by the second limit
# is not following; the link is retried with backoff.
READ_AGAIN_AFTER = 1.0
READ_TIMEOUT = 2.5


# ---------------------------------------------------------------------------------------------
# Events


@dataclass(frozen=True, slots=True, kw_only=True)
class AHEvent:
    """Base of everything the Allen & Heath codecs produce or accept."""


class Strip(StrEnum):
    INPUT = "input"
    LR = "lr"
    GROUP = "group"
    FX_RETURN = "fx_return"
    AUX = "aux"
    DCA = "dca"
    MUTE_GROUP = "mute_group"


# SQ mute parameters: strip → (first NRPN parameter as MB<<7|LB, count).
SQ_MUTE_PARAMS: dict[Strip, tuple[int, int]] = {
    Strip.INPUT: (0x0000, 48),
    Strip.GROUP: (0x0030, 12),
    Strip.FX_RETURN: (0x003C, 8),
    Strip.LR: (0x0044, 1),
    Strip.AUX: (0x0045, 12),
    Strip.DCA: ((0x02 << 7) | 0x00, 8),
    Strip.MUTE_GROUP: ((0x04 << 7) | 0x00, 8),
}
_SQ_PARAM_TO_STRIP: dict[int, tuple[Strip, int]] = {
    first + i: (strip, i + 1) for strip, (first, n) in SQ_MUTE_PARAMS.items() for i in range(n)
}


# Inputs an A&H desk can have (dLive: 128); the SQ codec enforces its own 48.
MAX_INPUTS = 128


def _check_strip(strip: Strip, index: int) -> None:
    count = MAX_INPUTS if strip == Strip.INPUT else SQ_MUTE_PARAMS[strip][1]
    if not 1 <= index <= count:
        raise LocalProtocolError(f"{strip} {index} out of range 1..{count}")


@dataclass(frozen=True, slots=True, kw_only=True)
class MuteState(AHEvent):
    """Absolute mute state: the desk's answer/push, or our command to set it."""

    strip: Strip = Strip.INPUT
    index: int
    muted: bool

    def __post_init__(self) -> None:
        _check_strip(self.strip, self.index)


@dataclass(frozen=True, slots=True, kw_only=True)
class MuteQuery(AHEvent):
    """Ask for a mute's state (SQ GET); the desk answers with a MuteState."""

    strip: Strip = Strip.INPUT
    index: int

    def __post_init__(self) -> None:
        _check_strip(self.strip, self.index)

    def response(self, muted: bool) -> MuteState:
        return MuteState(strip=self.strip, index=self.index, muted=muted)


def _bad(reason: str) -> Malformed:
    """Bytes that made no sense were skipped: counted by the driver, never raised."""
    return Malformed("MIDI", reason)


@dataclass(frozen=True, slots=True, kw_only=True)
class Closed(AHEvent):
    """The peer closed the stream (after every event before it was delivered)."""


EOF = Closed()


# ---------------------------------------------------------------------------------------------
# MIDI framing

_DATA_LEN = {0x80: 2, 0x90: 2, 0xA0: 2, 0xB0: 2, 0xC0: 1, 0xD0: 1, 0xE0: 2}
_SYSTEM_COMMON_LEN = {0xF1: 1, 0xF2: 2, 0xF3: 1, 0xF6: 0}
_SYSEX_START, _SYSEX_END = 0xF0, 0xF7


class RunningStatusExpander:
    """Raw MIDI bytes in, complete messages (status byte first) out.

    Keeps the running status of channel messages, lets real-time bytes (F8..FF) through
    wherever they appear without disturbing it, clears it on system common and SysEx, and
    reports stray data bytes and oversized SysEx as `Malformed` instead of raising.
    """

    def __init__(self) -> None:
        self._running = 0  # status of the last channel message, 0 = none
        self._pending: list[int] = []  # message being assembled (status first)
        self._need = 0  # data bytes the pending message still needs
        self._sysex: bytearray | None = None
        self._sysex_overflow = False
        self._stray = False  # inside a run of stray data bytes (reported once)
        self._out: deque[bytes | Malformed] = deque()

    def feed(self, data: bytes) -> None:
        for byte in data:
            self._byte(byte)

    def pop(self) -> bytes | Malformed | None:
        return self._out.popleft() if self._out else None

    def _byte(self, b: int) -> None:
        if b >= 0xF8:
            self._out.append(bytes([b]))  # real-time: never breaks what surrounds it
        elif b < 0x80:
            self._data(b)
        else:
            self._status(b)

    def _status(self, b: int) -> None:
        self._stray = False
        if self._sysex is not None:
            if b == _SYSEX_END:
                if self._sysex_overflow:
                    self._out.append(_bad(f"sysex longer than {MAX_SYSEX} bytes"))
                else:
                    self._out.append(bytes(self._sysex) + bytes([b]))
                self._sysex = None
                return
            self._sysex = None
            self._out.append(_bad("sysex interrupted by a status byte"))
        if self._pending:
            self._out.append(_bad(f"incomplete message {bytes(self._pending).hex()}"))
            self._pending = []
        if b == _SYSEX_START:
            self._running = 0
            self._sysex, self._sysex_overflow = bytearray([b]), False
        elif b == _SYSEX_END:
            self._out.append(_bad("sysex end without start"))
        elif b >= 0xF0:
            self._running = 0
            need = _SYSTEM_COMMON_LEN.get(b)
            if need is None:
                self._out.append(_bad(f"undefined status {b:02X}"))
            else:
                self._start(b, need)
        else:
            self._running = b
            self._start(b, _DATA_LEN[b & 0xF0])

    def _start(self, status: int, need: int) -> None:
        if need == 0:
            self._out.append(bytes([status]))
        else:
            self._pending, self._need = [status], need

    def _data(self, b: int) -> None:
        if self._sysex is not None:
            if len(self._sysex) >= MAX_SYSEX:
                self._sysex_overflow = True
            else:
                self._sysex.append(b)
            return
        if not self._pending:
            if not self._running:
                if not self._stray:
                    self._out.append(_bad("data byte without status"))
                    self._stray = True
                return
            self._pending, self._need = [self._running], _DATA_LEN[self._running & 0xF0]
        self._pending.append(b)
        self._need -= 1
        if self._need == 0:
            self._out.append(bytes(self._pending))
            self._pending = []


class MidiStream:
    """Running-status expander in front of mido's Parser: bytes in, mido Messages out."""

    def __init__(self) -> None:
        self._expander = RunningStatusExpander()
        self._parser = mido.Parser()

    def feed(self, data: bytes) -> list[mido.Message | Malformed]:
        self._expander.feed(data)
        out: list[mido.Message | Malformed] = []
        while (item := self._expander.pop()) is not None:
            if isinstance(item, Malformed):
                out.append(item)
                continue
            self._parser.feed(item)
            got = list(self._parser)
            if not got:  # mido drops what it has no spec for (e.g. undefined real-time)
                out.append(_bad(f"mido rejected {item.hex()}"))
            out.extend(got)
        return out


# ---------------------------------------------------------------------------------------------
# Codecs


class CodecState(Enum):
    OPEN = "open"  # following the peer's stream
    CLOSED = "closed"  # the peer ended the stream; feeding more data is an error


class _MidiCodec(ABC):
    """Shared receive side: bytes → MIDI messages → protocol events, with explicit EOF."""

    def __init__(self, midi_channel: int) -> None:
        if not 1 <= midi_channel <= 16:
            raise LocalProtocolError(f"MIDI channel {midi_channel} out of range 1..16")
        self.channel = midi_channel - 1  # mido counts from 0
        self._stream = MidiStream()
        self._events: deque[AHEvent | Malformed] = deque()
        self._eof = False
        self.ignored = 0  # valid MIDI we do not care about (faders, scenes, other channels)

    def receive_data(self, data: bytes | None) -> None:
        """Feed bytes from the peer; b"" or None means the peer closed the stream."""
        if self._eof:
            if data:
                raise LocalProtocolError("data received after end of stream")
            return
        if not data:
            self._eof = True
            return
        for msg in self._stream.feed(data):
            if isinstance(msg, Malformed):
                self._events.append(msg)
            elif getattr(msg, "channel", None) != self.channel:
                self.ignored += 1
            else:
                self._message(msg)

    @property
    def state(self) -> CodecState:
        return CodecState.CLOSED if self._eof else CodecState.OPEN

    def next_event(self) -> AHEvent | Malformed | NeedData:
        if self._events:
            return self._events.popleft()
        return EOF if self._eof else NEED_DATA

    @abstractmethod
    def _message(self, msg: mido.Message) -> None:
        """Each variant's own."""

    def _cc(self, control: int, value: int) -> bytes:
        return bytes([0xB0 | self.channel, control, value])


class SQCodec(_MidiCodec):
    """SQ series: NRPN mutes on one MIDI channel (desk default: 1)."""

    def __init__(self, midi_channel: int = 1) -> None:
        super().__init__(midi_channel)
        self._param: tuple[int | None, int | None] = (None, None)  # (MB, LB) last selected
        self._value_msb: int | None = None

    def send(self, event: MuteState | MuteQuery) -> bytes:
        """Bytes for one command; write them with one write() call."""
        strip, index = event.strip, event.index
        first, count = SQ_MUTE_PARAMS[strip]
        if index > count:
            raise LocalProtocolError(f"SQ {strip} {index} out of range 1..{count}")
        param = first + index - 1
        select = self._cc(0x63, param >> 7) + self._cc(0x62, param & 0x7F)
        if isinstance(event, MuteQuery):
            return select + self._cc(0x60, 0x7F)
        if isinstance(event, MuteState):
            return select + self._cc(0x06, 0x00) + self._cc(0x26, int(event.muted))
        raise LocalProtocolError(f"SQ cannot send {event!r}")

    def _message(self, msg: mido.Message) -> None:
        if msg.type != "control_change":
            self.ignored += 1
            return
        handler = self._CC_HANDLERS.get(msg.control)
        if handler is None:
            self.ignored += 1
        else:
            handler(self, msg.value)

    def _select_msb(self, value: int) -> None:
        self._param = (value, None)
        self._value_msb = None

    def _select_lsb(self, value: int) -> None:
        self._param = (self._param[0], value)
        self._value_msb = None

    def _selected(self) -> tuple[Strip, int] | None:
        msb, lsb = self._param
        if msb is None or lsb is None:
            return None
        return _SQ_PARAM_TO_STRIP.get((msb << 7) | lsb)

    def _data_msb(self, value: int) -> None:
        self._value_msb = value

    def _data_lsb(self, value: int) -> None:
        msb, lsb = self._param
        if msb is None or lsb is None or self._value_msb is None:
            self._events.append(_bad("NRPN data without parameter/value MSB"))
            return
        target = self._selected()
        if target is None:
            self.ignored += 1  # a fader, pan … not a mute
            return
        if self._value_msb != 0 or value > 1:
            self._events.append(
                _bad(f"mute value {self._value_msb:02X} {value:02X} is not 0/1")
            )
            return
        self._events.append(MuteState(strip=target[0], index=target[1], muted=bool(value)))

    def _increment(self, value: int) -> None:
        target = self._selected()
        if self._param[1] is None:
            self._events.append(_bad("NRPN get without parameter"))
        elif value != 0x7F:
            self.ignored += 1  # a real data increment, not the SQ's GET
        elif target is None:
            self.ignored += 1
        else:
            self._events.append(MuteQuery(strip=target[0], index=target[1]))

    _CC_HANDLERS: ClassVar = {
        0x63: _select_msb,
        0x62: _select_lsb,
        0x06: _data_msb,
        0x26: _data_lsb,
        0x60: _increment,
    }


# Qu note for input 1 (unverified, from the Qu MIDI protocol as remembered by users; dLive: 0).
QU_FIRST_NOTE = 0x20
_QU_MUTE_ON, _QU_MUTE_OFF = 0x7F, 0x3F


class QuCodec(_MidiCodec):
    """Qu / dLive: mute = note-on with velocity ≥ 0x40 (on) or 1..0x3F (off), then velocity 0.

    Only input channels are mapped: input n ↔ note `first_note + n - 1`.
    """

    def __init__(self, midi_channel: int = 1, first_note: int = QU_FIRST_NOTE, inputs: int = 32):
        super().__init__(midi_channel)
        if first_note < 0 or inputs < 1 or first_note + inputs - 1 > 0x7F:
            raise LocalProtocolError("note range outside 0..127")
        self.first_note = first_note
        self.inputs = inputs

    def send(self, event: MuteState) -> bytes:
        if not isinstance(event, MuteState) or event.strip != Strip.INPUT:
            raise LocalProtocolError(f"Qu codec cannot send {event!r}")
        if event.index > self.inputs:
            raise LocalProtocolError(f"input {event.index} out of range 1..{self.inputs}")
        note = self.first_note + event.index - 1
        status = 0x90 | self.channel
        velocity = _QU_MUTE_ON if event.muted else _QU_MUTE_OFF
        return bytes([status, note, velocity, status, note, 0])

    def _message(self, msg: mido.Message) -> None:
        if msg.type != "note_on":
            self.ignored += 1
            return
        index = msg.note - self.first_note + 1
        if msg.velocity == 0 or not 1 <= index <= self.inputs:
            self.ignored += 1  # the release half of the pair, or a note we do not map
            return
        self._events.append(MuteState(index=index, muted=msg.velocity >= 0x40))


# ---------------------------------------------------------------------------------------------
# Drivers


def _check_channels(value: tuple[int, ...], limit: int) -> tuple[int, ...]:
    bad = [c for c in value if not 1 <= c <= limit]
    if bad:
        raise ValueError(_("channels {bad} outside 1..{limit}").format(bad=bad, limit=limit))
    return tuple(sorted(set(value)))


class SQOptions(DeviceOptions):
    """`[devices.desk] driver = "sq", host = "192.168.1.70", channels = [1, 2, 3]`."""

    driver: Literal["sq"] = "sq"
    host: str = "127.0.0.1"
    port: int = Field(DEFAULT_PORT, ge=1, le=65535)
    midi_channel: int = Field(1, ge=1, le=16)
    # Input channels councild follows and switches (1..48); each is read back at connect.
    channels: tuple[int, ...] = tuple(range(1, 17))

    @field_validator("channels")
    @classmethod
    def _channels(cls, value: tuple[int, ...]) -> tuple[int, ...]:
        return _check_channels(value, 48)


class QuOptions(DeviceOptions):
    """`[devices.desk] driver = "qu", host = "192.168.1.71", channels = [1, 2]`."""

    driver: Literal["qu"] = "qu"
    host: str = "127.0.0.1"
    port: int = Field(DEFAULT_PORT, ge=1, le=65535)
    midi_channel: int = Field(1, ge=1, le=16)
    channels: tuple[int, ...] = tuple(range(1, 17))
    # Note of input 1: 0x20 (32) on Qu, 0 on dLive (both unverified).
    first_note: int = Field(QU_FIRST_NOTE, ge=0, le=0x7F)

    @field_validator("channels")
    @classmethod
    def _channels(cls, value: tuple[int, ...]) -> tuple[int, ...]:
        return _check_channels(value, MAX_INPUTS)

    @model_validator(mode="after")
    def _notes_fit(self) -> QuOptions:
        if self.channels and self.first_note + self.channels[-1] - 1 > 0x7F:
            raise ValueError(
                _("channel {n} with first_note {f} is past MIDI note 127").format(
                    n=self.channels[-1], f=self.first_note
                )
            )
        return self


class _AHDesk(StatefulDevice, Mixer):
    """Shared driver: one TCP connection, follow mute pushes, report channel on = not muted."""

    options: SQOptions | QuOptions

    def __init__(self, name: str, options: DeviceOptions, emit: Emit) -> None:
        super().__init__(name, options, emit)
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._codec: SQCodec | QuCodec | None = None
        self._muted: dict[int, bool] = {}  # input → muted, as last seen or set
        self._resync: set[int] = set()  # inputs whose state is reported even if unchanged
        self._unread: set[int] = set()  # inputs the state read at connect still waits for
        # GETs sent per input and not yet answered, and how many of those answers describe a
        # state one of our SETs replaced since (the desk answers in order; such an answer
        # arriving after the SET must not be taken for a surface change).
        self._outstanding: dict[int, int] = {}
        self._stale: dict[int, int] = {}
        self._next_ping = 0  # index into channels: the ping reads every input in turn

    @property
    def muted(self) -> dict[int, bool]:
        """Input → muted, as the desk last reported (or as we last set it)."""
        return dict(self._muted)

    def snapshot(self) -> Snapshot:
        return Snapshot(frozenset(ch for ch, m in self._muted.items()
                                  if not m and ch in self.options.channels))

    async def set_channel(self, channel: int, on: bool) -> None:
        data = self._new_codec().send(MuteState(index=channel, muted=not on))
        if self._writer is None:
            raise ConnectionLostError(_("{name}: not connected").format(name=self.name))
        # Recorded before the write: a desk that echoes our SET (unverified either way) is
        # then seen as "no change" even if the echo is read while we wait in drain().
        self._muted[channel] = not on
        self._stale[channel] = self._outstanding.get(channel, 0)
        await self._write(data)
        await self._read_back(channel)

    async def _read_back(self, channel: int) -> None:
        """After a SET: GET the channel again. A surface change the desk applied just before
        our SET was reported to us, but our SET won at the desk (it does not tell us); the
        answer, which comes after both, is the desk's final word."""

    @abstractmethod
    def _new_codec(self) -> SQCodec | QuCodec:
        """Each variant's own."""

    async def _write(self, data: bytes) -> None:
        writer = self._writer
        if writer is None or writer.is_closing():
            raise ConnectionLostError(_("{name}: not connected").format(name=self.name))
        writer.write(data)  # one write per command: the desk wants whole NRPNs per segment
        await writer.drain()

    async def _query(self, channel: int) -> None:
        await self._write(self._new_codec().send(MuteQuery(index=channel)))
        self._outstanding[channel] = self._outstanding.get(channel, 0) + 1

    def _feed(self, data: bytes) -> bool:
        """Feed the codec, act on its events; True when the desk sent anything valid."""
        codec = self._codec
        assert codec is not None
        codec.receive_data(data)
        valid = False
        while not isinstance(event := codec.next_event(), NeedData):
            if isinstance(event, Malformed):
                self._malformed(event.detail)
                continue
            if isinstance(event, Closed):
                break
            valid = True  # a GET from another controller is still a sign of life
            if isinstance(event, MuteState):
                self._on_mute(event)
        if codec.ignored:
            valid = True  # other valid MIDI (faders, scenes) proves the desk is alive
            codec.ignored = 0
        if valid:
            self._seen()
        return valid

    def _on_mute(self, event: MuteState) -> None:
        channel = event.index
        if event.strip != Strip.INPUT or channel not in self.options.channels:
            return
        self._unread.discard(channel)
        outstanding = self._outstanding.get(channel, 0)
        if outstanding:
            self._outstanding[channel] = outstanding - 1
            stale = self._stale.get(channel, 0)
            if stale:
                self._stale[channel] = stale - 1
                return  # the answer to a GET sent before our SET: the SET is newer
        changed = self._muted.get(channel) != event.muted
        self._muted[channel] = event.muted
        if changed or channel in self._resync:
            self._resync.discard(channel)
            self._emit(ChannelSwitched(device=self.name, channel=channel, on=not event.muted))

    async def _open_link(self) -> None:
        self._reader, self._writer = await serial_link.open_tcp(
            self.options.host, self.options.port)
        self._codec = self._new_codec()
        self._outstanding.clear()
        self._stale.clear()

    async def _close_link(self) -> None:
        writer, self._writer, self._reader = self._writer, None, None
        await serial_link.close_writer(writer)

    def _target(self) -> str:
        return f"{self.options.host}:{self.options.port}"


class SQDesk(_AHDesk):
    """SQ-5/6/7 over MIDI TCP: NRPN mute per input channel, GET at connect and as a ping."""

    Options = SQOptions
    options: SQOptions

    def _new_codec(self) -> SQCodec:
        return SQCodec(self.options.midi_channel)

    async def _read_back(self, channel: int) -> None:
        await self._query(channel)

    async def _read_state(self) -> str:
        """GET every input's mute and wait for every answer: only then is the desk CONNECTED
        (and the floor pushed), so no answer can arrive after the push as if the surface had
        changed."""
        assert self._reader is not None
        channels = self.options.channels
        self._resync = set(channels)
        self._unread = set(channels)
        for channel in channels:
            await self._query(channel)
        loop = asyncio.get_running_loop()
        start = loop.time()
        asked_again = False
        while self._unread:
            waited = loop.time() - start
            if waited >= READ_TIMEOUT:
                raise OperationTimeoutError(
                    _("state read incomplete: {n} inputs unanswered").format(n=len(self._unread)))
            if waited >= READ_AGAIN_AFTER and not asked_again:
                asked_again = True
                for channel in sorted(self._unread):
                    await self._query(channel)
            limit = READ_TIMEOUT if asked_again else READ_AGAIN_AFTER
            data: bytes | None = None
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(max(0.0, start + limit - loop.time())):
                    data = await self._reader.read(serial_link.READ_SIZE)
            if data == b"":
                raise ConnectionLostError(_("peer closed the connection"))
            if data:
                self._feed(data)
        return self._target()

    async def _follow_link(self) -> None:
        assert self._reader is not None
        await serial_link.follow(
            self._reader, self._feed, self._ping, ping_interval=PING_INTERVAL,
            lost_after=LOST_AFTER,
        )

    async def _ping(self) -> None:
        # Each ping reads the next input: a surface change whose report was lost is
        # repaired within one round.
        channels = self.options.channels
        if not channels:
            await self._write(self._new_codec().send(MuteQuery(index=1)))
            return
        self._next_ping = (self._next_ping + 1) % len(channels)
        await self._query(channels[self._next_ping])


class QuDesk(_AHDesk):
    """Qu / dLive over MIDI TCP: note-on mutes.

    No GET is known for these desks, so there is no state to read and no protocol-level
    ping: the state is what the desk pushed or we set (the floor is pushed at connect), and a
    dead peer is noticed by EOF/RST or by the kernel's TCP keepalive (serial_link: about 3 s).
    """

    Options = QuOptions
    options: QuOptions

    def _new_codec(self) -> QuCodec:
        first = self.options.first_note
        return QuCodec(self.options.midi_channel, first, inputs=min(MAX_INPUTS, 0x80 - first))

    def snapshot(self) -> None:  # type: ignore[override]
        return None  # nothing could be read: a mirror has nothing to take over

    async def _read_state(self) -> str:
        self._resync = set()
        return self._target()

    async def _follow_link(self) -> None:
        assert self._reader is not None
        while data := await self._reader.read(serial_link.READ_SIZE):
            self._feed(data)
        raise ConnectionLostError(_("peer closed the connection"))
