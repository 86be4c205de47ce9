"""Conference central unit (CU): the DCS 6000-style ASCII external-control protocol.

Wire facts (protocols.md §3, from the Shure/DIS CU 6110 manual; the Shure MXC DIS-CCU uses the
same command style over TCP 3142): lines `<command> <data>` ended by CR, LF or both (the CU
ends its own with CRLF), case-insensitive, seats 1..65535. Commands to the CU and the CU's
notifications use the same words — `mic_on 212` is both "switch 212 on" and "212 is now on",
sent by the CU whenever a state changes, whoever changed it.

**The one guess: the answer to `mic_status`.** The manual says the CU answers "with the
current speakers and requests plus the settings", but not in which lines. Everything that
depends on it is in one place, `StatusReader` (section "The answer to mic_status" below),
which accepts every plausible form and never makes CONNECTED depend on one of them:

- notification lines, the CU's ordinary words: one `mic_on N` per open mic, one
  `mic_request_on N` per request (in order), then settings such as `mic_mode fifo` and
  `max_speakers 4`; optionally headed by a bare `mic_status` line;
- one line with keys, as councild's simulator used to send it:
  `mic_status speakers=3,212 requests=17,5 max_speakers=2 mic_mode=fifo` (lists in order,
  empty = nothing after `=`, keys in any order, unknown keys ignored).

The answer is complete at its one-line form, at its closing settings (`mic_mode` and
`max_speakers` both seen), or after a quiet period once it started — whichever comes first.
We assume only that the CU answers `mic_status` with at least one line. At connect every
answer replaces the driver's state (stale speakers removed); while following (the answer is
the 1 s ping), only an answer that ends itself may remove a seat, a quiet period never does,
and no query is sent while the CU is still talking (an answer at 9600 baud can take seconds).
A seat councild switched on that such an answer does not list was refused by the CU.

Layers: `DcsCodec` (sans-IO, lines ↔ events, used by the driver and the simulator),
`StatusReader` (sans-IO, events + time → the CU's full state) and `ConferenceUnit` (asyncio
driver over serial — pyserial-asyncio-fast, works on ptys — or TCP).
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum, StrEnum
from typing import Any, ClassVar, Literal

from pydantic import Field, model_validator

from councild.errors import (
    ConnectionLostError,
    LocalProtocolError,
    OperationTimeoutError,
    RemoteProtocolError,
)
from councild.i18n import _
from councild.model import ChannelRequested, ChannelSwitched, DeviceLimit
from councild.sansio import NEED_DATA, LineFramer, Malformed, NeedData, TooLong
from devices import serial_link
from devices.base import DeviceOptions, Emit, Snapshot, StatefulDevice
from devices.capabilities import ConferenceSystem

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
    "StatusReader",
    "StatusResult",
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
    """The CU's answer to `mic_status` in its one-line form (one of the forms we accept; see
    the module docstring and `StatusReader`)."""

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
class Closed(CUEvent):
    """The peer closed the stream (after every event before it was delivered)."""


EOF = Closed()


# ---------------------------------------------------------------------------------------------
# Parsing

_NUMBER = re.compile(r"[0-9]{1,5}")


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


# Key names of the one-line status form, and the spellings a CU might plausibly use instead.
_STATUS_KEYS = {
    "speakers": "speakers", "mic_on": "speakers", "mics": "speakers",
    "requests": "requests", "mic_request_on": "requests", "mic_requests": "requests",
    "max_speakers": "max_speakers",
    "mic_mode": "mic_mode", "mode": "mic_mode",
}


def _parse_status(args: list[str]) -> CUEvent:
    if not args:
        return MicStatusQuery()  # from the CU: the head of a multi-line answer
    fields: dict[str, str] = {}
    for token in args:
        key, sep, value = token.partition("=")
        if not sep:
            raise ValueError(f"status field without '=': {token!r}")
        name = _STATUS_KEYS.get(key.lower())
        if name is not None:
            fields[name] = value.lower()
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


def parse_line(line: str) -> CUEvent | Malformed:
    """One line (without its end) → event; Malformed for anything else. Never raises."""
    raw = line.encode("ascii", "replace")
    words = line.split()
    if not words:
        return Malformed.of("line", "empty", raw)
    parser = _PARSERS.get(words[0].lower())
    if parser is None:
        return Malformed.of("line", f"unknown command {words[0]!r}", raw)
    try:
        return parser(words[1:])
    except (ValueError, LocalProtocolError) as exc:
        return Malformed.of("line", exc, raw)


class CodecState(Enum):
    OPEN = "open"  # following the peer's stream
    CLOSED = "closed"  # the peer ended the stream; feeding more data is an error


class DcsCodec:
    """Lines in (any of CR, LF, CRLF), events out; events in, CRLF-terminated lines out."""

    def __init__(self, line_ending: bytes = b"\r\n") -> None:
        self._ending = line_ending
        self._lines = LineFramer(limit=MAX_LINE)
        self._events: deque[CUEvent | Malformed] = deque()
        self._eof = False

    def send(self, event: CUEvent) -> bytes:
        if not isinstance(event, CUEvent) or not event.WORD or isinstance(event, Closed):
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
            last = self._lines.end()
            if last is not None:
                self._line(last)  # a last line without its end still counts
            return
        # A CU may end its lines with CR alone: every CR is a line end, and the empty line
        # between the CR and LF of a CRLF is skipped like any empty line.
        for line in self._lines.iter_feed(data.replace(b"\r", b"\n")):
            if isinstance(line, TooLong):
                self._events.append(Malformed.of("line", "line too long"))
            elif line:
                self._line(line)

    @property
    def state(self) -> CodecState:
        return CodecState.CLOSED if self._eof else CodecState.OPEN

    def next_event(self) -> CUEvent | Malformed | NeedData:
        if self._events:
            return self._events.popleft()
        return EOF if self._eof else NEED_DATA

    def _line(self, raw: bytes) -> None:
        try:
            line = raw.decode("ascii")
        except UnicodeDecodeError:
            self._events.append(Malformed.of("line", "not ASCII", raw))
            return
        if line.strip():
            self._events.append(parse_line(line))


# ---------------------------------------------------------------------------------------------
# The answer to mic_status: the one place that holds the guess (see the module docstring).

# Once the answer has started, this long without a line ends it: a CU writes its answer in
# one go (at 9600 baud a line of 16 bytes takes 17 ms), so a pause this long is its end.
STATUS_QUIET = 0.25
# An answer that started this long ago is taken as complete even if lines keep coming
# (notifications of a busy session): CONNECTED must never wait on traffic.
STATUS_CAP = 1.5
# No line at all this long after asking: ask once more (a query lost in line noise) ...
STATUS_ASK_AGAIN = 1.0
# ... and after this long the CU is not answering: the link is retried with backoff.
STATUS_NO_ANSWER = 2.5


@dataclass(frozen=True, slots=True)
class StatusResult:
    """The CU's full state, as one answer to `mic_status` (plus what changed meanwhile)."""

    speakers: tuple[int, ...]  # oldest speaker first
    requests: tuple[int, ...]  # first request first
    max_speakers: int | None
    mode: DiscussionMode | None
    # Ended by the answer itself (its one-line form, or its closing settings lines) rather
    # than by a quiet period: only then may a speaker missing from it be taken as gone while
    # following (at connect every answer replaces the state, ended either way).
    explicit: bool


class StatusReader:
    """Sans-IO: events from the CU and the time in, the CU's full state out.

    `ask(now)` when the query is sent; `feed(event, now)` every event from the CU; `poll(now)`
    whenever time passed. Both return a StatusResult once the answer is complete. Events that
    are changes, not part of the answer, are folded in too: the result is the state at its
    end.
    """

    def __init__(self) -> None:
        self._reset()

    def _reset(self) -> None:
        self.asked_at: float | None = None
        self.started_at: float | None = None  # first line after the query
        self.last_line: float | None = None
        self._speakers: list[int] = []
        self._requests: list[int] = []
        self._max_speakers: int | None = None
        self._mode: DiscussionMode | None = None
        self._closing: set[str] = set()  # settings words seen: both = the answer's end

    @property
    def active(self) -> bool:
        return self.asked_at is not None

    def ask(self, now: float) -> None:
        self._reset()  # a fresh answer
        self.asked_at = now

    def cancel(self) -> None:
        self._reset()

    def unanswered_for(self, now: float) -> float:
        """Seconds since asking without any line (0 once the answer started)."""
        if self.asked_at is None or self.started_at is not None:
            return 0.0
        return now - self.asked_at

    def deadline(self) -> float | None:
        """When `poll` could next complete the answer (None: only a line can)."""
        if self.started_at is None or self.last_line is None:
            return None
        return min(self.last_line + STATUS_QUIET, self.started_at + STATUS_CAP)

    def feed(self, event: CUEvent, now: float) -> StatusResult | None:
        if self.asked_at is None:
            return None
        if self.started_at is None:
            self.started_at = now
        self.last_line = now
        if isinstance(event, MicStatus):  # the one-line form: the whole state at once
            self._speakers, self._requests = list(event.speakers), list(event.requests)
            if event.max_speakers is not None:
                self._max_speakers = event.max_speakers
            if event.mode is not None:
                self._mode = event.mode
            return self._done(explicit=True)
        if isinstance(event, MicOn):
            if event.seat not in self._speakers:
                self._speakers.append(event.seat)
            if event.seat in self._requests:
                self._requests.remove(event.seat)
        elif isinstance(event, MicOff):
            if event.seat in self._speakers:
                self._speakers.remove(event.seat)
        elif isinstance(event, MicRequestOn):
            if event.seat not in self._requests and event.seat not in self._speakers:
                self._requests.append(event.seat)
        elif isinstance(event, MicRequestOff):
            if event.seat in self._requests:
                self._requests.remove(event.seat)
        elif isinstance(event, MicAllRequestsOff):
            self._requests.clear()
        elif isinstance(event, MicMode):
            self._mode = event.mode
            self._closing.add(MicMode.WORD)
        elif isinstance(event, MaxSpeakers):
            self._max_speakers = event.value
            self._closing.add(MaxSpeakers.WORD)
        if self._closing == {MicMode.WORD, MaxSpeakers.WORD}:
            return self._done(explicit=True)
        return None

    def poll(self, now: float) -> StatusResult | None:
        due = self.deadline()
        if due is None or now < due:
            return None
        return self._done(explicit=False)

    def _done(self, explicit: bool) -> StatusResult:
        result = StatusResult(
            tuple(self._speakers), tuple(self._requests), self._max_speakers, self._mode,
            explicit,
        )
        self.cancel()
        return result


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


class ConferenceUnit(StatefulDevice, ConferenceSystem):
    """A DCS 6000-style CU: follows mics and requests, switches them on the daemon's behalf."""

    Options = DcsOptions
    options: DcsOptions

    def __init__(self, name: str, options: DeviceOptions, emit: Emit) -> None:
        super().__init__(name, options, emit)
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._codec = DcsCodec()
        self._status = StatusReader()
        self._answers: asyncio.Queue[StatusResult] = asyncio.Queue()
        self._following = False  # the full state is read: events are changes now
        # While reading: what the CU said after an answer ended (None: no answer yet, and
        # what comes before the first answer is superseded by it). Applied after the answer.
        self._stash: list[CUEvent] | None = None
        self._speakers: list[int] = []  # seats with mic on, oldest first
        self._requests: list[int] = []  # request list, first first
        self.max_speakers: int | None = None  # as the CU last reported
        self.mode: DiscussionMode | None = None
        # master = "councild" and the CU kept a mode that moves requests up by itself:
        # councild then follows what the CU does (every switch it reports is honoured).
        self.mode_refused = False
        # Seats we switched on that the CU has not confirmed, with the number of status
        # queries sent before the command: an answer to a later query that ends itself and
        # does not list the seat means the CU refused (full at its own max_speakers).
        self._unconfirmed: dict[int, int] = {}
        self._asked = 0  # status queries sent on this link
        self._last_line = 0.0  # loop time of the last valid line
        self._answering = 0  # the query the StatusReader's current answer belongs to

    # --- what the daemon calls ------------------------------------------------------------

    @property
    def speakers(self) -> tuple[int, ...]:
        return tuple(self._speakers)

    @property
    def requests(self) -> tuple[int, ...]:
        return tuple(self._requests)

    def snapshot(self) -> Snapshot:
        return Snapshot(frozenset(self._speakers), tuple(self._requests), self.max_speakers)

    def runs_floor(self) -> bool:
        return self.options.master == "cu"

    async def set_channel(self, channel: int, on: bool) -> None:
        await self._send(MicOn(seat=channel) if on else MicOff(seat=channel))
        if on and channel not in self._speakers:
            self._unconfirmed[channel] = self._asked
        else:
            self._unconfirmed.pop(channel, None)

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

    async def _open_link(self) -> None:
        self._reader, self._writer = await self._open()
        self._codec = DcsCodec()
        self._status = StatusReader()
        self._answers = asyncio.Queue()
        self._following = False
        self._stash = None
        self._unconfirmed.clear()
        self._asked = self._answering = 0

    async def _close_link(self) -> None:
        writer, self._writer, self._reader = self._writer, None, None
        self._following = False
        self._status.cancel()
        await serial_link.close_writer(writer)

    async def _read_state(self) -> str:
        """Ask for the full state and take it over; with master = "councild" also put the
        CU in manual mode and check that it took it (the second answer says)."""
        self._replace(await self._read_status(), resync=True)
        self._apply_stash()
        detail = self._target()
        self.mode_refused = False
        if self.options.master == "councild" and self.mode is not DiscussionMode.MANUAL:
            # The CU must not open mics by itself; councild's floor decides.
            await self._send(MicMode(mode=DiscussionMode.MANUAL))
            self._replace(await self._read_status(), resync=False)
            self._apply_stash()
            if self.mode is not DiscussionMode.MANUAL:
                self.mode_refused = True
                shown = self.mode.value if self.mode is not None else "?"
                self.log.warning(
                    "%s: the unit did not take manual mode (it reports %s): councild follows "
                    "the mics it switches by itself", self.name, shown)
                detail = _("{target}; unit stays in {mode} mode, councild follows it").format(
                    target=detail, mode=shown)
        self._following = True
        return detail

    async def _read_status(self) -> StatusResult:
        """One complete answer to `mic_status` (see StatusReader for when it is complete)."""
        assert self._reader is not None
        loop = asyncio.get_running_loop()
        self._answers = asyncio.Queue()
        self._ask(loop.time())
        await self._send(MicStatusQuery())
        asked_again = False
        while True:
            if not self._answers.empty():
                return self._answers.get_nowait()
            now = loop.time()
            result = self._status.poll(now)
            if result is not None:
                self._stash = []
                return result
            waited = self._status.unanswered_for(now)
            if waited >= STATUS_NO_ANSWER:
                raise OperationTimeoutError(
                    _("no answer to mic_status for {seconds:.1f} s").format(seconds=waited))
            if waited >= STATUS_ASK_AGAIN and not asked_again:
                asked_again = True
                await self._send(MicStatusQuery())
            due = self._status.deadline()
            if due is None:
                assert self._status.asked_at is not None
                due = self._status.asked_at + (
                    STATUS_NO_ANSWER if asked_again else STATUS_ASK_AGAIN)
            data: bytes | None = None
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(max(0.0, due - loop.time())):
                    data = await self._reader.read(serial_link.READ_SIZE)
            if data == b"":
                raise ConnectionLostError(_("peer closed the connection"))
            if data:
                self._feed(data)

    async def _follow_link(self) -> None:
        assert self._reader is not None
        await serial_link.follow(
            self._reader, self._feed, self._ping, ping_interval=PING_INTERVAL,
            lost_after=LOST_AFTER,
        )

    async def _ping(self) -> None:
        # The ping is a full read as well: an answer that ends itself also tells which
        # speakers are gone (a notification lost on the line is repaired within a second).
        now = asyncio.get_running_loop().time()
        if now - self._last_line < STATUS_QUIET:
            # The CU is talking (an answer still streaming at 9600 baud, a busy session):
            # alive, and a new query now would open a window on the tail of that answer.
            return
        self._ask(now)
        await self._send(MicStatusQuery())

    def _ask(self, now: float) -> None:
        self._asked += 1
        self._answering = self._asked
        self._status.ask(now)

    def _feed(self, data: bytes) -> bool:
        self._codec.receive_data(data)
        valid = False
        now = asyncio.get_running_loop().time()
        while not isinstance(event := self._codec.next_event(), NeedData):
            if isinstance(event, Malformed):
                self._malformed(event.what, RemoteProtocolError(f"{event.detail}: {event.data!r}"))
                continue
            if not isinstance(event, Closed):
                self._last_line = now
            if isinstance(event, Closed):
                break
            valid = True
            if self._following:
                handler = self._HANDLERS.get(type(event))
                if handler is not None:
                    handler(self, event)
            elif not self._status.active:
                if self._stash is not None:
                    self._stash.append(event)
                continue
            result = self._status.feed(event, now)
            if result is not None:
                if self._following:
                    if result.explicit:
                        self._replace(result, resync=False)
                        self._refused(result, self._answering)
                else:
                    self._answers.put_nowait(result)
                    self._stash = []
        if valid:
            self._seen()
        return valid

    # --- state from the CU ------------------------------------------------------------------

    def _switched(self, seat: int, on: bool) -> None:
        if on and seat in self._requests:
            self._requested(seat, False)  # a granted request leaves the list, said or not
        if on:
            self._unconfirmed.pop(seat, None)
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

    def _apply_stash(self) -> None:
        events, self._stash = self._stash or [], []
        for event in events:
            handler = self._HANDLERS.get(type(event))
            if handler is not None:
                handler(self, event)

    def _refused(self, result: StatusResult, query: int) -> None:
        """Seats we switched on before `query` was sent and that its answer does not list:
        the CU refused them. Reported off, so councild never shows a mic the CU has not."""
        for seat, before in list(self._unconfirmed.items()):
            if before < query and seat not in result.speakers:
                del self._unconfirmed[seat]
                self.log.info("%s: the unit did not switch seat %d on", self.name, seat)
                self._emit(ChannelSwitched(device=self.name, channel=seat, on=False))

    def _limit(self, value: int | None) -> None:
        if value is None or value == self.max_speakers:
            return
        self.max_speakers = value
        if self._following:
            self._emit(DeviceLimit(device=self.name, max_open=value))

    def _on_mic_on(self, event: MicOn) -> None:
        self._switched(event.seat, True)

    def _on_mic_off(self, event: MicOff) -> None:
        self._switched(event.seat, False)

    def _on_request_on(self, event: MicRequestOn) -> None:
        self._requested(event.seat, True)

    def _on_request_off(self, event: MicRequestOff) -> None:
        self._requested(event.seat, False)

    def _on_all_requests_off(self, event: MicAllRequestsOff) -> None:
        for seat in list(self._requests):
            self._requested(seat, False)

    def _on_max_speakers(self, event: MaxSpeakers) -> None:
        self._limit(event.value)

    def _on_mode(self, event: MicMode) -> None:
        self.mode = event.mode

    def _replace(self, result: StatusResult, *, resync: bool) -> None:
        """The CU's answer is the truth: speakers and requests it does not list are gone.
        `resync` (a new link): report even what we believed already."""
        for seat in [s for s in self._speakers if s not in result.speakers]:
            self._switched(seat, False)
        for seat in [s for s in self._requests if s not in result.requests]:
            self._requested(seat, False)
        for seat in result.speakers:
            if resync and seat in self._speakers:
                self._emit(ChannelSwitched(device=self.name, channel=seat, on=True))
            self._switched(seat, True)
        for seat in result.requests:
            if resync and seat in self._requests:
                self._emit(ChannelRequested(device=self.name, channel=seat, requesting=True))
            self._requested(seat, True)
        # The CU's order is the truth (oldest speaker, first request first).
        self._speakers = list(result.speakers)
        self._requests = list(result.requests)
        self._limit(result.max_speakers)
        if result.mode is not None:
            self.mode = result.mode

    _HANDLERS: ClassVar[dict[type[CUEvent], Callable[[ConferenceUnit, Any], None]]] = {
        MicOn: _on_mic_on,
        MicOff: _on_mic_off,
        MicRequestOn: _on_request_on,
        MicRequestOff: _on_request_off,
        MicAllRequestsOff: _on_all_requests_off,
        MaxSpeakers: _on_max_speakers,
        MicMode: _on_mode,
    }
