"""Conference central unit (CU): the DCS 6000-style ASCII external-control protocol.

Wire facts (protocols.md §3, from the Shure/DIS CU 6110 manual; the Shure MXC DIS-CCU uses the
same command style over TCP 3142): lines `<command> <data>` ended by CR, LF or both (the CU
ends its own with CRLF), case-insensitive, seats 1..65535. Commands to the CU and the CU's
notifications use the same words — `mic_on 212` is both "switch 212 on" and "212 is now on",
sent by the CU whenever a state changes, whoever changed it.

**Unverified — defined by this module and its simulator:** the answer to `mic_status`. The
manual says the CU answers "with the current speakers and requests plus the settings" but the
exact line was not available. We use one line:

    mic_status speakers=3,212 requests=17,5 max_speakers=2 mic_mode=fifo

(lists in order, oldest speaker / first request first; empty list = nothing after `=`; keys
in any order; unknown keys ignored). Check the real CU's answer before relying on it; only
`MicStatus` parsing (`_parse_status`) has to change.

Layers: `DcsCodec` (sans-IO, lines ↔ events, used by the driver and the simulator) and
`ConferenceUnit` (asyncio driver over serial — pyserial-asyncio-fast, works on ptys — or TCP).
"""

from __future__ import annotations

import asyncio
import re
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum, StrEnum
from typing import Any, ClassVar, Literal

from pydantic import Field, model_validator

from councild.errors import ConnectionLostError, LocalProtocolError
from councild.i18n import _
from councild.model import ChannelRequested, ChannelSwitched
from devices import serial_link
from devices.base import Device, DeviceOptions, Emit

__all__ = [
    "EOF",
    "NEED_DATA",
    "CUEvent",
    "Closed",
    "CodecState",
    "ConferenceUnit",
    "DcsCodec",
    "DcsOptions",
    "DiscussionMode",
    "Malformed",
    "MaxRequests",
    "MaxSpeakers",
    "MaxTotalSpeakers",
    "MicAllRequestsOff",
    "MicInterrupt",
    "MicMode",
    "MicNextOn",
    "MicOff",
    "MicOn",
    "MicReplyOff",
    "MicReplyOn",
    "MicRequestOff",
    "MicRequestOn",
    "MicStatus",
    "MicStatusQuery",
]

SEAT_MAX = 65535
# Longest line we buffer. A status answer with the 250 requests a CU can hold is ~1.6 KB;
# anything past 4 KB without a line end is garbage (wrong baud rate, binary protocol).
MAX_LINE = 4096
DEFAULT_TCP_PORT = 3142
DEFAULT_BAUD = 9600
# A `mic_status` every second as the ping; lost after 2.5 s without a valid line, so a dead
# CU is reported within 3 s. At 9600 baud a status line of a normal session (<20 requests,
# ~120 bytes) takes ~0.13 s, well inside the margin.
PING_INTERVAL = 1.0
LOST_AFTER = 2.5


class Sentinel(Enum):
    NEED_DATA = "NEED_DATA"  # no complete line buffered yet

    def __repr__(self) -> str:
        return self.value


NEED_DATA = Sentinel.NEED_DATA


class DiscussionMode(StrEnum):
    AUTO = "auto"  # a press opens the mic while there is room, else queues
    FIFO = "fifo"  # a press opens the mic; at the limit the longest speaker is switched off
    MANUAL = "manual"  # a press queues a request; the chair or external control grants
    VOX = "vox"  # voice-activated mics


def _check_seat(seat: int) -> None:
    if not 1 <= seat <= SEAT_MAX:
        raise LocalProtocolError(f"seat {seat} out of range 1..{SEAT_MAX}")


def _check_range(what: str, value: int, low: int, high: int) -> None:
    if not low <= value <= high:
        raise LocalProtocolError(f"{what} {value} out of range {low}..{high}")


# ---------------------------------------------------------------------------------------------
# Events: one class per command word; the same class is a command or a notification.


@dataclass(frozen=True, slots=True, kw_only=True)
class CUEvent:
    WORD: ClassVar[str] = ""

    def args(self) -> str:
        return ""


@dataclass(frozen=True, slots=True, kw_only=True)
class _SeatEvent(CUEvent):
    seat: int

    def __post_init__(self) -> None:
        _check_seat(self.seat)

    def args(self) -> str:
        return str(self.seat)


class MicOn(_SeatEvent):
    WORD = "mic_on"


class MicOff(_SeatEvent):
    WORD = "mic_off"


class MicRequestOn(_SeatEvent):
    WORD = "mic_request_on"


class MicRequestOff(_SeatEvent):
    WORD = "mic_request_off"


class MicReplyOn(_SeatEvent):
    WORD = "mic_reply_on"


class MicReplyOff(_SeatEvent):
    WORD = "mic_reply_off"


@dataclass(frozen=True, slots=True, kw_only=True)
class MicAllRequestsOff(CUEvent):
    WORD = "mic_all_requests_off"


@dataclass(frozen=True, slots=True, kw_only=True)
class MicNextOn(CUEvent):
    """First speaker off, first request on."""

    WORD = "mic_next_on"


@dataclass(frozen=True, slots=True, kw_only=True)
class _CountEvent(CUEvent):
    LIMITS: ClassVar[tuple[int, int]] = (1, 8)
    value: int

    def __post_init__(self) -> None:
        _check_range(self.WORD, self.value, *self.LIMITS)

    def args(self) -> str:
        return str(self.value)


class MaxSpeakers(_CountEvent):
    WORD = "max_speakers"


class MaxTotalSpeakers(_CountEvent):
    WORD = "max_total_speakers"


class MaxRequests(_CountEvent):
    WORD = "max_requests"
    LIMITS = (0, 250)


@dataclass(frozen=True, slots=True, kw_only=True)
class MicMode(CUEvent):
    WORD = "mic_mode"
    mode: DiscussionMode

    def args(self) -> str:
        return self.mode.value


@dataclass(frozen=True, slots=True, kw_only=True)
class MicInterrupt(CUEvent):
    WORD = "mic_interrupt"
    on: bool

    def args(self) -> str:
        return "on" if self.on else "off"


@dataclass(frozen=True, slots=True, kw_only=True)
class MicStatusQuery(CUEvent):
    WORD = "mic_status"


@dataclass(frozen=True, slots=True, kw_only=True)
class MicStatus(CUEvent):
    """The CU's answer to `mic_status` (format unverified, see the module docstring)."""

    WORD = "mic_status"
    speakers: tuple[int, ...] = ()
    requests: tuple[int, ...] = ()
    max_speakers: int | None = None
    mode: DiscussionMode | None = None

    def __post_init__(self) -> None:
        for seat in (*self.speakers, *self.requests):
            _check_seat(seat)

    def args(self) -> str:
        parts = [
            "speakers=" + ",".join(map(str, self.speakers)),
            "requests=" + ",".join(map(str, self.requests)),
        ]
        if self.max_speakers is not None:
            parts.append(f"max_speakers={self.max_speakers}")
        if self.mode is not None:
            parts.append(f"mic_mode={self.mode.value}")
        return " ".join(parts)


@dataclass(frozen=True, slots=True, kw_only=True)
class Malformed(CUEvent):
    """A line that made no sense was skipped; counted by the driver, never raised."""

    line: str
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Closed(CUEvent):
    """The peer closed the stream (after every event before it was delivered)."""


EOF = Closed()


# ---------------------------------------------------------------------------------------------
# Parsing

_NUMBER = re.compile(r"[0-9]{1,5}")
_LINE_END = re.compile(rb"[\r\n]")


def _number(token: str) -> int:
    # int() would also take "+5", "1_0" and non-ASCII digits; the wire has plain digits.
    if not _NUMBER.fullmatch(token):
        raise ValueError(f"not a number: {token!r}")
    return int(token)


def _one(args: list[str]) -> str:
    if len(args) != 1:
        raise ValueError(f"expected one argument, got {len(args)}")
    return args[0]


def _none(args: list[str]) -> None:
    if args:
        raise ValueError("unexpected argument")


def _seat(cls: type[_SeatEvent]) -> Callable[[list[str]], CUEvent]:
    return lambda args: cls(seat=_number(_one(args)))


def _count(cls: type[_CountEvent]) -> Callable[[list[str]], CUEvent]:
    return lambda args: cls(value=_number(_one(args)))


def _bare(cls: type[CUEvent]) -> Callable[[list[str]], CUEvent]:
    def parse(args: list[str]) -> CUEvent:
        _none(args)
        return cls()

    return parse


def _on_off(args: list[str]) -> CUEvent:
    word = _one(args).lower()
    if word not in ("on", "off"):
        raise ValueError(f"expected on/off, got {word!r}")
    return MicInterrupt(on=word == "on")


def _seats(value: str) -> tuple[int, ...]:
    return tuple(_number(t) for t in value.split(",")) if value else ()


def _parse_status(args: list[str]) -> CUEvent:
    if not args:
        return MicStatusQuery()
    fields: dict[str, str] = {}
    for token in args:
        key, sep, value = token.partition("=")
        if not sep:
            raise ValueError(f"status field without '=': {token!r}")
        fields[key.lower()] = value.lower()
    max_speakers = fields.get("max_speakers")
    mode = fields.get("mic_mode")
    return MicStatus(
        speakers=_seats(fields.get("speakers", "")),
        requests=_seats(fields.get("requests", "")),
        max_speakers=_number(max_speakers) if max_speakers else None,
        mode=DiscussionMode(mode) if mode else None,
    )


_PARSERS: dict[str, Callable[[list[str]], CUEvent]] = {
    "mic_on": _seat(MicOn),
    "mic_off": _seat(MicOff),
    "mic_request_on": _seat(MicRequestOn),
    "mic_request_off": _seat(MicRequestOff),
    "mic_reply_on": _seat(MicReplyOn),
    "mic_reply_off": _seat(MicReplyOff),
    "mic_all_requests_off": _bare(MicAllRequestsOff),
    "mic_next_on": _bare(MicNextOn),
    "max_speakers": _count(MaxSpeakers),
    "max_total_speakers": _count(MaxTotalSpeakers),
    "max_requests": _count(MaxRequests),
    "mic_mode": lambda args: MicMode(mode=DiscussionMode(_one(args).lower())),
    "mic_interrupt": _on_off,
    "mic_status": _parse_status,
}


def parse_line(line: str) -> CUEvent:
    """One line (without its end) → event; Malformed for anything else. Never raises."""
    words = line.split()
    if not words:
        return Malformed(line=line, reason="empty")
    parser = _PARSERS.get(words[0].lower())
    if parser is None:
        return Malformed(line=line, reason=f"unknown command {words[0]!r}")
    try:
        return parser(words[1:])
    except (ValueError, LocalProtocolError) as exc:
        return Malformed(line=line, reason=str(exc))


class CodecState(Enum):
    OPEN = "open"  # following the peer's stream
    CLOSED = "closed"  # the peer ended the stream; feeding more data is an error


class DcsCodec:
    """Lines in (any of CR, LF, CRLF), events out; events in, CRLF-terminated lines out."""

    def __init__(self, line_ending: bytes = b"\r\n") -> None:
        self._ending = line_ending
        self._buffer = bytearray()
        self._discarding = False  # inside an over-long line: drop up to the next line end
        self._events: deque[CUEvent] = deque()
        self._eof = False

    def send(self, event: CUEvent) -> bytes:
        if not event.WORD or isinstance(event, Malformed | Closed):
            raise LocalProtocolError(f"cannot send {event!r}")
        args = event.args()
        text = f"{event.WORD} {args}" if args else event.WORD
        return text.encode("ascii") + self._ending

    def receive_data(self, data: bytes | None) -> None:
        """Feed bytes from the peer; b"" or None means the peer closed the stream."""
        if self._eof:
            if data:
                raise LocalProtocolError("data received after end of stream")
            return
        if not data:
            self._eof = True
            if self._buffer and not self._discarding:
                self._line(bytes(self._buffer))  # a last line without its end still counts
            self._buffer.clear()
            return
        self._buffer += data
        self._split()

    @property
    def state(self) -> CodecState:
        return CodecState.CLOSED if self._eof else CodecState.OPEN

    def next_event(self) -> CUEvent | Sentinel:
        if self._events:
            return self._events.popleft()
        return EOF if self._eof else NEED_DATA

    def _split(self) -> None:
        start = 0
        buf = self._buffer
        while (match := _LINE_END.search(buf, start)) is not None:
            end = match.start()
            if self._discarding:
                self._discarding = False
            elif end > start:
                self._line(bytes(buf[start:end]))
            start = end + 1
        del buf[:start]
        if len(buf) > MAX_LINE:
            if not self._discarding:
                preview = bytes(buf[:40]).decode("ascii", "replace")
                self._events.append(Malformed(line=preview, reason="line too long"))
            self._discarding = True
            buf.clear()

    def _line(self, raw: bytes) -> None:
        try:
            line = raw.decode("ascii")
        except UnicodeDecodeError:
            self._events.append(
                Malformed(line=raw[:40].decode("ascii", "replace"), reason="not ASCII")
            )
            return
        if line.strip():
            self._events.append(parse_line(line))


# ---------------------------------------------------------------------------------------------
# Driver


class DcsOptions(DeviceOptions):
    """One CU. config.toml examples:

    [devices.cu]                       [devices.cu]
    driver = "dcs"                     driver = "dcs"
    transport = "serial"               transport = "tcp"
    path = "/dev/ttyUSB0"              host = "192.168.1.80"
    baud = 9600                        port = 3142
    master = "cu"                      master = "councild"
    """

    driver: Literal["dcs"] = "dcs"
    transport: Literal["serial", "tcp"] = "serial"
    path: str | None = None  # serial device (a /dev/serial/by-id link survives re-plugging)
    baud: int = Field(DEFAULT_BAUD, gt=0)
    host: str | None = None
    port: int = Field(DEFAULT_TCP_PORT, ge=1, le=65535)
    # cu: the CU runs the discussion; councild mirrors it and sends grant/next as commands.
    # councild: councild decides; the CU is put in manual mode and its mics are switched.
    master: Literal["cu", "councild"] = "cu"

    @model_validator(mode="after")
    def _transport_target(self) -> DcsOptions:
        if self.transport == "serial" and not self.path:
            raise ValueError(_("transport 'serial' needs 'path'"))
        if self.transport == "tcp" and not self.host:
            raise ValueError(_("transport 'tcp' needs 'host'"))
        return self


class ConferenceUnit(Device):
    """A DCS 6000-style CU: follows mics and requests, switches them on the daemon's behalf."""

    Options = DcsOptions
    options: DcsOptions

    def __init__(self, name: str, options: DeviceOptions, emit: Emit) -> None:
        super().__init__(name, options, emit)
        self._writer: asyncio.StreamWriter | None = None
        self._codec = DcsCodec()
        self._speakers: list[int] = []  # seats with mic on, oldest first
        self._requests: list[int] = []  # request list, first first
        self.max_speakers: int | None = None  # as the CU last reported
        self.mode: DiscussionMode | None = None
        self._awaiting_status = False  # connected, the first status answer not yet in

    # --- what the daemon calls ------------------------------------------------------------

    @property
    def speakers(self) -> tuple[int, ...]:
        return tuple(self._speakers)

    @property
    def requests(self) -> tuple[int, ...]:
        return tuple(self._requests)

    async def set_channel(self, channel: int, on: bool) -> None:
        await self._send(MicOn(seat=channel) if on else MicOff(seat=channel))

    async def set_request(self, channel: int, on: bool) -> None:
        await self._send(MicRequestOn(seat=channel) if on else MicRequestOff(seat=channel))

    async def next_speaker(self) -> None:
        """First speaker off, first request on — done by the CU (`mic_next_on`)."""
        await self._send(MicNextOn())

    async def clear_requests(self) -> None:
        await self._send(MicAllRequestsOff())

    async def set_max_speakers(self, n: int) -> None:
        await self._send(MaxSpeakers(value=n))

    async def set_mode(self, mode: DiscussionMode) -> None:
        await self._send(MicMode(mode=mode))

    # --- the link ---------------------------------------------------------------------------

    async def _send(self, event: CUEvent) -> None:
        data = self._codec.send(event)  # validates before we look at the link
        writer = self._writer
        if writer is None or writer.is_closing():
            raise ConnectionLostError(_("{name}: not connected").format(name=self.name))
        writer.write(data)
        await writer.drain()

    async def _open(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        opts = self.options
        if opts.transport == "serial":
            assert opts.path is not None
            return await serial_link.open_serial(opts.path, opts.baud)
        assert opts.host is not None
        return await serial_link.open_tcp(opts.host, opts.port)

    def _target(self) -> str:
        opts = self.options
        if opts.transport == "serial":
            return opts.path or ""
        return f"{opts.host}:{opts.port}"

    async def _session(self) -> None:
        reader, writer = await self._open()
        self._codec = DcsCodec()
        self._writer = writer
        self._awaiting_status = True
        try:
            if self.options.master == "councild":
                # The CU must not open mics by itself; councild's floor decides.
                await self._send(MicMode(mode=DiscussionMode.MANUAL))
            await self._send(MicStatusQuery())
            await serial_link.follow(
                reader, self._feed, self._ping, ping_interval=PING_INTERVAL, lost_after=LOST_AFTER
            )
        finally:
            self._writer = None
            await serial_link.close_writer(writer)

    async def _ping(self) -> None:
        await self._send(MicStatusQuery())

    def _feed(self, data: bytes) -> bool:
        self._codec.receive_data(data)
        valid = False
        while isinstance(event := self._codec.next_event(), CUEvent):
            if isinstance(event, Malformed):
                self._malformed(f"{event.reason}: {event.line!r}")
                continue
            if isinstance(event, Closed):
                break
            valid = True
            handler = self._HANDLERS.get(type(event))
            if handler is not None:
                handler(self, event)
        if valid:
            self._seen()
        return valid

    # --- state from the CU ------------------------------------------------------------------

    def _switched(self, seat: int, on: bool) -> None:
        if on and seat in self._requests:
            self._requested(seat, False)  # a granted request leaves the list, said or not
        if on == (seat in self._speakers):
            return
        if on:
            self._speakers.append(seat)
        else:
            self._speakers.remove(seat)
        self._emit(ChannelSwitched(device=self.name, channel=seat, on=on))

    def _requested(self, seat: int, on: bool) -> None:
        if on == (seat in self._requests):
            return
        if on:
            self._requests.append(seat)
        else:
            self._requests.remove(seat)
        self._emit(ChannelRequested(device=self.name, channel=seat, requesting=on))

    def _on_mic_on(self, event: MicOn) -> None:
        self._switched(event.seat, True)

    def _on_mic_off(self, event: MicOff) -> None:
        self._switched(event.seat, False)

    def _on_request_on(self, event: MicRequestOn) -> None:
        self._requested(event.seat, True)

    def _on_request_off(self, event: MicRequestOff) -> None:
        self._requested(event.seat, False)

    def _on_max_speakers(self, event: MaxSpeakers) -> None:
        self.max_speakers = event.value

    def _on_mode(self, event: MicMode) -> None:
        self.mode = event.mode

    def _on_status(self, event: MicStatus) -> None:
        first = self._awaiting_status
        for seat in [s for s in self._speakers if s not in event.speakers]:
            self._switched(seat, False)
        for seat in [s for s in self._requests if s not in event.requests]:
            self._requested(seat, False)
        for seat in event.speakers:
            if first and seat in self._speakers:
                # Resync after a reconnect: report even what we believed already.
                self._emit(ChannelSwitched(device=self.name, channel=seat, on=True))
            self._switched(seat, True)
        for seat in event.requests:
            if first and seat in self._requests:
                self._emit(ChannelRequested(device=self.name, channel=seat, requesting=True))
            self._requested(seat, True)
        # The CU's order is the truth (oldest speaker, first request first).
        self._speakers = list(event.speakers)
        self._requests = list(event.requests)
        if event.max_speakers is not None:
            self.max_speakers = event.max_speakers
        if event.mode is not None:
            self.mode = event.mode
        if first:
            self._awaiting_status = False
            self._connected(self._target())

    _HANDLERS: ClassVar[dict[type[CUEvent], Callable[[ConferenceUnit, Any], None]]] = {
        MicOn: _on_mic_on,
        MicOff: _on_mic_off,
        MicRequestOn: _on_request_on,
        MicRequestOff: _on_request_off,
        MaxSpeakers: _on_max_speakers,
        MicMode: _on_mode,
        MicStatus: _on_status,
    }
