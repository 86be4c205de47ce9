"""Behringer X32 / Midas M32 and X-Air (XR12/16/18) desks over OSC/UDP.

Two layers, as everywhere in devices/:

- `X32Codec` (sans-IO, the dialect of councild/sansio.py): a datagram in → a typed event or
  a `Malformed` out (`receive_data()` / `next_event()`), `X32Command`s → datagram bytes
  (`send()`). It never touches a socket, asyncio or the clock. OSC itself is devices/osc.py
  (shared with the OSC control input); the meter blob packer is shared with the simulator
  in devices/sim/x32.py.
- `X32Desk` / `XAirDesk` (asyncio): one UDP socket (councild/datagram.py), probe, full
  resync, `/xremote` and `/meters` renewal, liveness, and the mapping of codec events to
  `councild.model` events.

Wire facts are in /work/shared/reference/protocols.md §1. Every datagram is one complete OSC
message (the desk sends no bundles), so there is no stream reassembly: a datagram either
decodes completely or is malformed.
"""

from __future__ import annotations

import asyncio
import ipaddress
import math
import socket
import struct
import time
from collections import deque
from dataclasses import dataclass, field
from typing import ClassVar, Final, Literal

from pydantic import Field

from councild.datagram import Address, DatagramLink, open_datagram
from councild.errors import ConnectionLostError, OperationTimeoutError
from councild.i18n import _
from councild.model import ChannelLevel, ChannelSwitched, ChannelVoice, Link
from councild.sansio import NEED_DATA, Malformed, NeedData
from devices.base import DeviceOptions, Emit, Snapshot, StatefulDevice
from devices.capabilities import Mixer
from devices.osc import (
    OscArg,
    OscLocalError,
    OscMessage,
    OscRemoteError,
    decode_message,
    encode_message,
)
from devices.vad import VoiceDetector, VoiceSettings

__all__ = [
    "NEED_DATA",
    "X32",
    "XAIR",
    "FaderReport",
    "GetFader",
    "GetMute",
    "GetName",
    "InfoReply",
    "MainMuteReport",
    "MeterReport",
    "MuteReport",
    "NameReport",
    "OscArg",
    "OscMessage",
    "OtherMessage",
    "Probe",
    "SetFader",
    "SetMute",
    "StatusQuery",
    "StatusReply",
    "SubscribeMeters",
    "Variant",
    "X32Codec",
    "X32Command",
    "X32Desk",
    "X32Event",
    "X32LocalError",
    "X32RemoteError",
    "XAirDesk",
    "XInfoReply",
    "XRemote",
    "channel_address",
    "db_to_fader",
    "dbfs_to_linear",
    "decode_message",
    "encode_message",
    "encode_meter_blob",
    "fader_to_db",
    "linear_to_dbfs",
]

# --- limits and timing ---------------------------------------------------------------------

# The largest datagram we accept. The biggest message we ask for is /meters/1 (408 bytes);
# the desk's largest replies (node dumps we never request) stay well below 2 KiB.
MAX_DATAGRAM = 4096
# Decoded events waiting for next_event(); one datagram yields one event, so reaching this
# means the caller stopped draining — a bug on our side, not the peer's.
MAX_PENDING_EVENTS = 256
# Meter readings are clamped here: log10(0) is -inf, and nothing quieter matters for voice.
METER_FLOOR_DBFS = -120.0
# X32 meter floats are linear with headroom up to 8.0 (+18 dBFS); anything larger is garbage.
METER_MAX_LINEAR = 8.0

# How long one /info probe may go unanswered before we send another: a desk on a LAN answers
# in < 5 ms, so 0.5 s only covers a lost datagram.
PROBE_RETRY_S = 0.5
# A desk that has not answered any probe by then is not there; the base retries with backoff.
CONNECT_TIMEOUT_S = 2.0
# Resync GETs are sent in windows of this many outstanding requests: a burst of 96 datagrams
# can overflow a real desk's receive queue, 16 at a time cannot.
RESYNC_WINDOW = 16
# One window's replies may take this long before its missing GETs are sent again.
RESYNC_WINDOW_TIMEOUT_S = 0.3
# Rounds of re-sending missing GETs before the resync is declared failed (and retried).
RESYNC_ROUNDS = 4
# /xremote subscriptions expire after ~10 s on the desk: renew with 2 s to spare.
XREMOTE_RENEW_S = 8.0
# /meters streams stop after ~10 s: renew with the same margin.
METERS_RENEW_S = 8.0
# A stream we asked for that delivers nothing for this long has stopped (some desks stream
# to one client only, and another client just asked): renew at once. At 20 Hz that is eight
# missed blobs; with the follow tick it is noticed and renewed within 0.6 s.
METERS_STALL_S = 0.4
# Still nothing this long after the last blob: "meters stale" is shown (the director and
# the voice detector are blind), voice is reported stopped, and renewals go on at
# METERS_RETRY_S until the stream is back.
METERS_STALE_S = 1.0
METERS_RETRY_S = 1.0
# /status probe period while following: the liveness deadline below tolerates one lost probe.
STATUS_INTERVAL_S = 1.0
# No datagram at all for this long = link lost. The brief asks for "lost within 3 s of going
# silent": 2.5 s plus one follow tick (0.2 s) stays under that with one lost probe tolerated.
LIVENESS_TIMEOUT_S = 2.5
# Period of the follow loop's housekeeping (renewals, liveness check).
FOLLOW_TICK_S = 0.2
# X32 meter time factor: the desk streams every 50 ms × tf; 1 = 20 Hz, what voice detection
# needs to react within a syllable.
METER_TIME_FACTOR = 1
# A level event per channel at most this often: the TUI draws at ~20 fps, faster is waste.
LEVEL_INTERVAL_S = 0.05
# ...and only when it moved at least this much: a silent desk then costs the daemon nothing,
# and no meter display resolves half a dB.
LEVEL_DEADBAND_DB = 0.5


# --- errors and sentinels ------------------------------------------------------------------


# The desk's errors are the OSC codec's: the same bad bytes, the same bad arguments.
X32RemoteError = OscRemoteError  # not valid OSC/X32 from the desk (or whoever sent it)
X32LocalError = OscLocalError  # we were asked to encode what the desk cannot receive


# --- fader and meter scales ----------------------------------------------------------------


def fader_to_db(f: float) -> float:
    """X32 fader position 0..1 → dB (piecewise linear; 0.75 = 0 dB, 1.0 = +10 dB, 0 = -90)."""
    f = min(max(f, 0.0), 1.0)
    if f >= 0.5:
        return 40.0 * f - 30.0
    if f >= 0.25:
        return 80.0 * f - 50.0
    if f >= 0.0625:
        return 160.0 * f - 70.0
    return 480.0 * f - 90.0


def db_to_fader(db: float) -> float:
    """Inverse of `fader_to_db`, clamped to 0..1."""
    if db >= -10.0:
        f = (db + 30.0) / 40.0
    elif db >= -30.0:
        f = (db + 50.0) / 80.0
    elif db >= -60.0:
        f = (db + 70.0) / 160.0
    else:
        f = (db + 90.0) / 480.0
    return min(max(f, 0.0), 1.0)


def linear_to_dbfs(value: float) -> float:
    if value <= 0.0:
        return METER_FLOOR_DBFS
    return max(20.0 * math.log10(value), METER_FLOOR_DBFS)


def dbfs_to_linear(dbfs: float) -> float:
    if dbfs <= METER_FLOOR_DBFS:
        return 0.0
    return float(10.0 ** (dbfs / 20.0))


# --- OSC: the subset the X32 family speaks ---------------------------------------------------

# Argument types the desk sends (ints, floats, strings, blobs); anything else is malformed.
X32_TYPES: Final = "ifsb"


# --- desk variants ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Variant:
    """What differs between the X32/M32 and the X-Air family on the wire."""

    name: str
    default_port: int
    channels: int  # input strips
    main: str  # main bus address prefix
    probe: str  # request answered by every firmware of the family; its reply = "alive"
    model: str  # what the simulator reports as model
    meter_format: Literal["float", "int16"]  # /meters/1 value encoding
    meter_count: int  # values in a /meters/1 blob


X32: Final = Variant(
    name="x32",
    default_port=10023,
    channels=32,
    main="/main/st",
    probe="/info",
    model="X32",
    meter_format="float",  # linear 0..1 (headroom to 8.0), little-endian float32
    meter_count=96,  # 32 inputs, then (unverified) 32 gate and 32 dynamics gain reductions
)
XAIR: Final = Variant(
    name="xair",
    default_port=10024,
    channels=16,
    main="/lr",
    probe="/xinfo",
    model="XR18",
    # X-Air meters are signed 16-bit little-endian in 1/256 dB (from a public XR18 capture,
    # not verified on hardware here); the first 16 are the input strips.
    meter_format="int16",
    meter_count=40,
)


def channel_address(channel: int, leaf: str) -> str:
    """`/ch/NN/<leaf>` with NN zero-padded to two digits, as both families spell it."""
    return f"/ch/{channel:02d}/{leaf}"


def encode_meter_blob(variant: Variant, dbfs: list[float]) -> bytes:
    """A /meters/1 blob: little-endian int32 count, then `count` little-endian values.

    `dbfs` gives the first values (input levels); the rest are sent as silence.
    """
    values = list(dbfs[: variant.meter_count])
    values += [METER_FLOOR_DBFS] * (variant.meter_count - len(values))
    head = struct.pack("<i", variant.meter_count)
    if variant.meter_format == "float":
        return head + struct.pack(f"<{variant.meter_count}f", *map(dbfs_to_linear, values))
    raw = [max(-32768, min(32767, round(v * 256))) for v in values]
    return head + struct.pack(f"<{variant.meter_count}h", *raw)


# --- codec events ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class X32Event:
    """Something the desk told us."""


def _check_channel(channel: int) -> None:
    if not 1 <= channel <= 32:
        raise X32LocalError(f"channel {channel} is not 1..32")


@dataclass(frozen=True, slots=True, kw_only=True)
class MuteReport(X32Event):
    """`/ch/NN/mix/on`: on = audible (1), off = muted (0)."""

    channel: int
    on: bool

    def __post_init__(self) -> None:
        _check_channel(self.channel)


@dataclass(frozen=True, slots=True, kw_only=True)
class FaderReport(X32Event):
    channel: int
    position: float  # 0..1

    def __post_init__(self) -> None:
        _check_channel(self.channel)

    @property
    def db(self) -> float:
        return fader_to_db(self.position)


@dataclass(frozen=True, slots=True, kw_only=True)
class NameReport(X32Event):
    channel: int
    name: str

    def __post_init__(self) -> None:
        _check_channel(self.channel)


@dataclass(frozen=True, slots=True, kw_only=True)
class MainMuteReport(X32Event):
    on: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class InfoReply(X32Event):
    version: str
    server: str
    model: str
    firmware: str


@dataclass(frozen=True, slots=True, kw_only=True)
class XInfoReply(X32Event):
    ip: str
    name: str
    model: str
    firmware: str


@dataclass(frozen=True, slots=True, kw_only=True)
class StatusReply(X32Event):
    state: str
    ip: str
    name: str


@dataclass(frozen=True, slots=True, kw_only=True)
class MeterReport(X32Event):
    """/meters/1: input levels in dBFS, strip 1 first (clamped at METER_FLOOR_DBFS)."""

    inputs: tuple[float, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class OtherMessage(X32Event):
    """Valid OSC we do not interpret (another bus, an EQ change pushed by /xremote...)."""

    message: OscMessage


# --- codec commands --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class X32Command:
    """Something we ask of the desk: `X32Codec.send(command)` gives its datagram."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Probe(X32Command):
    """The family's probe (/info or /xinfo): its reply means "alive"."""


@dataclass(frozen=True, slots=True, kw_only=True)
class StatusQuery(X32Command):
    """GET /status: the liveness ping while following."""


@dataclass(frozen=True, slots=True, kw_only=True)
class XRemote(X32Command):
    """/xremote: push every change for ~10 s."""


@dataclass(frozen=True, slots=True, kw_only=True)
class SubscribeMeters(X32Command):
    """/meters ,si /meters/1 tf: stream input levels every 50 ms × tf for ~10 s."""

    time_factor: int = METER_TIME_FACTOR


@dataclass(frozen=True, slots=True, kw_only=True)
class GetMute(X32Command):
    channel: int


@dataclass(frozen=True, slots=True, kw_only=True)
class GetName(X32Command):
    channel: int


@dataclass(frozen=True, slots=True, kw_only=True)
class GetFader(X32Command):
    channel: int


@dataclass(frozen=True, slots=True, kw_only=True)
class SetMute(X32Command):
    """SET /ch/NN/mix/on ,i 1 (on: audible) or 0 (muted); never a bool on the wire."""

    channel: int
    on: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class SetFader(X32Command):
    channel: int
    position: float  # 0..1


# --- the codec -------------------------------------------------------------------------------


def _one(msg: OscMessage, tag: str) -> OscArg:
    if msg.tags != tag:
        raise X32RemoteError(f"{msg.address}: expected ,{tag}, got ,{msg.tags}")
    return msg.args[0]


def _strings(msg: OscMessage, n: int) -> tuple[str, ...]:
    if len(msg.args) < n or not all(isinstance(a, str) for a in msg.args[:n]):
        raise X32RemoteError(f"{msg.address}: expected {n} strings, got ,{msg.tags}")
    return tuple(str(a) for a in msg.args[:n])


def _on_off(msg: OscMessage) -> bool:
    value = _one(msg, "i")
    if value not in (0, 1):
        raise X32RemoteError(f"{msg.address}: on/off value {value} is not 0 or 1")
    return value == 1


class X32Codec:
    """Sans-IO X32/X-Air client codec: datagrams in, events out; commands → datagrams."""

    def __init__(self, variant: Variant = X32, channels: int | None = None) -> None:
        self.variant = variant
        self.channels = variant.channels if channels is None else channels
        if not 1 <= self.channels <= variant.channels:
            raise X32LocalError(f"{variant.name} has channels 1..{variant.channels}")
        self._events: deque[X32Event | Malformed] = deque()
        self._float_meters = struct.Struct(f"<{variant.meter_count}f")
        self._int_meters = struct.Struct(f"<{variant.meter_count}h")
        self._meter_blob_size = 4 + variant.meter_count * (
            4 if variant.meter_format == "float" else 2
        )
        # Table lookup by exact address: the desk always spells addresses the same way.
        self._readers: dict[str, tuple[str, int]] = {
            "/info": ("info", 0),
            "/xinfo": ("xinfo", 0),
            "/status": ("status", 0),
            "/meters/1": ("meters", 0),
            f"{variant.main}/mix/on": ("main_on", 0),
        }
        for ch in range(1, self.channels + 1):
            self._readers[channel_address(ch, "mix/on")] = ("on", ch)
            self._readers[channel_address(ch, "mix/fader")] = ("fader", ch)
            self._readers[channel_address(ch, "config/name")] = ("name", ch)

    # --- receive path ----------------------------------------------------------------------

    def receive_data(self, datagram: bytes | None) -> None:
        """Feed one whole datagram (None: end of stream, which UDP never has: ignored). One
        datagram is one event, or one Malformed if it is not valid OSC/X32."""
        if datagram is None:
            return
        if len(self._events) >= MAX_PENDING_EVENTS:
            raise X32LocalError("event queue full: call next_event() until NEED_DATA")
        try:
            event: X32Event | Malformed = self._interpret(
                decode_message(datagram, MAX_DATAGRAM, X32_TYPES))
        except OscRemoteError as exc:
            event = Malformed.of("datagram", exc, datagram)
        self._events.append(event)

    def next_event(self) -> X32Event | Malformed | NeedData:
        return self._events.popleft() if self._events else NEED_DATA

    def _interpret(self, msg: OscMessage) -> X32Event:
        kind, ch = self._readers.get(msg.address, ("other", 0))
        if kind == "on":
            return MuteReport(channel=ch, on=_on_off(msg))
        if kind == "meters":
            return MeterReport(inputs=self._meters(msg))
        if kind == "fader":
            pos = _one(msg, "f")
            assert isinstance(pos, float)
            if not 0.0 <= pos <= 1.0:  # also rejects NaN
                raise X32RemoteError(f"{msg.address}: fader {pos} outside 0..1")
            return FaderReport(channel=ch, position=pos)
        if kind == "name":
            return NameReport(channel=ch, name=str(_one(msg, "s")))
        if kind == "main_on":
            return MainMuteReport(on=_on_off(msg))
        if kind == "info":
            version, server, model, firmware = _strings(msg, 4)
            return InfoReply(version=version, server=server, model=model, firmware=firmware)
        if kind == "xinfo":
            ip, name, model, firmware = _strings(msg, 4)
            return XInfoReply(ip=ip, name=name, model=model, firmware=firmware)
        if kind == "status":
            state, ip, name = _strings(msg, 3)
            return StatusReply(state=state, ip=ip, name=name)
        return OtherMessage(message=msg)

    def _meters(self, msg: OscMessage) -> tuple[float, ...]:
        blob = _one(msg, "b")
        assert isinstance(blob, bytes)
        if len(blob) != self._meter_blob_size:
            raise X32RemoteError(
                f"/meters/1 blob of {len(blob)} bytes, expected {self._meter_blob_size}"
            )
        (count,) = struct.unpack_from("<i", blob)
        if count != self.variant.meter_count:
            raise X32RemoteError(f"/meters/1 count {count}, expected {self.variant.meter_count}")
        n = self.channels
        if self.variant.meter_format == "int16":
            raw = self._int_meters.unpack_from(blob, 4)[:n]
            return tuple(max(v / 256.0, METER_FLOOR_DBFS) for v in raw)
        values = self._float_meters.unpack_from(blob, 4)[:n]
        out = []
        for v in values:
            if not 0.0 <= v <= METER_MAX_LINEAR:  # also rejects NaN
                raise X32RemoteError(f"/meters/1 level {v} outside 0..{METER_MAX_LINEAR}")
            out.append(max(20.0 * math.log10(v), METER_FLOOR_DBFS) if v > 0 else METER_FLOOR_DBFS)
        return tuple(out)

    # --- send path ---------------------------------------------------------------------------

    def _channel(self, channel: int) -> int:
        if isinstance(channel, bool) or not 1 <= channel <= self.channels:
            raise X32LocalError(f"channel {channel!r} is not 1..{self.channels}")
        return channel

    def send(self, command: X32Command) -> bytes:
        """The datagram for one command; X32LocalError for one the desk cannot receive."""
        if isinstance(command, Probe):
            return encode_message(self.variant.probe)
        if isinstance(command, StatusQuery):
            return encode_message("/status")
        if isinstance(command, XRemote):
            return encode_message("/xremote")
        if isinstance(command, SubscribeMeters):
            factor = command.time_factor
            if isinstance(factor, bool) or not 1 <= factor <= 99:
                raise X32LocalError(f"meter time factor {factor!r} is not 1..99")
            return encode_message("/meters", "/meters/1", factor)
        if isinstance(command, GetMute):
            return encode_message(channel_address(self._channel(command.channel), "mix/on"))
        if isinstance(command, GetName):
            return encode_message(channel_address(self._channel(command.channel), "config/name"))
        if isinstance(command, GetFader):
            return encode_message(channel_address(self._channel(command.channel), "mix/fader"))
        if isinstance(command, SetMute):
            address = channel_address(self._channel(command.channel), "mix/on")
            return encode_message(address, 1 if command.on else 0)
        if isinstance(command, SetFader):
            if not 0.0 <= command.position <= 1.0:
                raise X32LocalError(f"fader {command.position} outside 0..1")
            address = channel_address(self._channel(command.channel), "mix/fader")
            return encode_message(address, command.position)
        raise X32LocalError(f"cannot send {command!r} to the desk")


# --- the driver ------------------------------------------------------------------------------


class _DeskOptions(DeviceOptions):
    host: str = "127.0.0.1"
    port: int = Field(default=10023, ge=1, le=65535)
    channels: int = Field(default=32, ge=1, le=32)
    # Subscribe to /meters/1: needed for ChannelLevel and voice detection, ~7 KiB/s of UDP.
    meters: bool = True
    vad_threshold: float = Field(default=-40.0, le=0.0)  # dBFS
    vad_attack: float = Field(default=0.15, ge=0.0, le=10.0)  # s
    vad_hold: float = Field(default=0.8, ge=0.0, le=30.0)  # s
    vad_hysteresis: float = Field(default=6.0, ge=0.0, le=60.0)  # dB
    level_interval: float = Field(default=LEVEL_INTERVAL_S, ge=0.0, le=10.0)  # s


@dataclass(slots=True)
class DeskView:
    """What the driver currently believes the desk holds (read-only for callers)."""

    on: dict[int, bool] = field(default_factory=dict)
    names: dict[int, str] = field(default_factory=dict)
    faders: dict[int, float] = field(default_factory=dict)
    levels: dict[int, float] = field(default_factory=dict)
    voice: dict[int, bool] = field(default_factory=dict)
    model: str = ""
    firmware: str = ""


_ResyncKey = tuple[str, int]


class _BehringerDesk(StatefulDevice, Mixer):
    """Shared X32/X-Air driver; subclasses pick the variant and the Options."""

    VARIANT: ClassVar[Variant] = X32
    # Class attributes so a test can shorten them without touching the module constants.
    xremote_renew_s: ClassVar[float] = XREMOTE_RENEW_S
    meters_renew_s: ClassVar[float] = METERS_RENEW_S
    meters_stall_s: ClassVar[float] = METERS_STALL_S
    meters_stale_s: ClassVar[float] = METERS_STALE_S
    status_interval_s: ClassVar[float] = STATUS_INTERVAL_S
    liveness_timeout_s: ClassVar[float] = LIVENESS_TIMEOUT_S

    def __init__(self, name: str, options: DeviceOptions, emit: Emit) -> None:
        super().__init__(name, options, emit)
        if not isinstance(options, _DeskOptions):
            raise TypeError(f"{name}: expected {type(self).__name__}.Options")
        self.opts = options
        if options.channels > self.VARIANT.channels:
            raise ValueError(
                f"{name}: {self.VARIANT.name} has at most {self.VARIANT.channels} channels"
            )
        self.view = DeskView()
        settings = VoiceSettings(
            threshold=options.vad_threshold,
            attack=options.vad_attack,
            hold=options.vad_hold,
            hysteresis=options.vad_hysteresis,
        )
        self._vad = {ch: VoiceDetector(settings) for ch in range(1, options.channels + 1)}
        self._level_sent: dict[int, tuple[float, float]] = {}  # (when, dBFS) last emitted
        self._codec = X32Codec(self.VARIANT, options.channels)
        self._udp: DatagramLink | None = None
        self._peer: tuple[str, int] | None = None
        self._last_rx = 0.0
        self._fatal: BaseException | None = None
        self._probe_reply: asyncio.Future[X32Event] | None = None
        self._awaiting: set[_ResyncKey] = set()
        self._awaiting_done: asyncio.Future[None] | None = None
        self._resyncing = False
        self._resynced: set[_ResyncKey] = set()
        # Read-backs of our own SETs still unanswered, per channel (see set_channel).
        self._readbacks: dict[int, int] = {}
        self.datagrams = 0  # valid datagrams from the desk since start (for the bench)
        self._meter_rx = 0.0  # loop time of the last /meters/1 blob (or of subscribing)
        self._meter_asked = 0.0  # loop time of the last /meters request
        self.meters_stale = False
        self.meter_renewals = 0  # renewals because the stream stopped (diagnostics, tests)
        self._link_detail = ""

    # --- public ------------------------------------------------------------------------------

    @property
    def local_address(self) -> tuple[str, int] | None:
        """Where our socket listens (diagnostics: the desk replies here)."""
        return None if self._udp is None else self._udp.local_address

    async def set_channel(self, channel: int, on: bool) -> None:
        """SET mix/on. The desk does not echo it, so our view is updated and nothing emitted."""
        datagram = self._codec.send(SetMute(channel=channel, on=on))
        udp = self._udp
        if udp is None or self._link != Link.CONNECTED:
            raise ConnectionLostError(_("{name}: desk not connected").format(name=self.name))
        udp.sendto(datagram, self._peer)
        self.view.on[channel] = bool(on)
        # Read it back: a SET lost on the network would otherwise leave our view wrong
        # forever. Only the answer to the newest read-back counts (older ones describe a
        # state our later SET replaced); it equals our view unless someone changed it since,
        # and then the desk's truth is reported like any other change.
        self._readbacks[channel] = self._readbacks.get(channel, 0) + 1
        udp.sendto(self._codec.send(GetMute(channel=channel)), self._peer)

    # --- session -----------------------------------------------------------------------------

    def snapshot(self) -> Snapshot:
        return Snapshot(frozenset(ch for ch, on in self.view.on.items() if on))

    async def _open_link(self) -> None:
        loop = asyncio.get_running_loop()
        infos = await loop.getaddrinfo(self.opts.host, self.opts.port, type=socket.SOCK_DGRAM)
        family, sockaddr = infos[0][0], infos[0][4]
        peer = (str(sockaddr[0]), int(sockaddr[1]))
        loopback = ipaddress.ip_address(peer[0]).is_loopback
        if family == socket.AF_INET6:
            local = "::1" if loopback else "::"
        else:
            local = "127.0.0.1" if loopback else "0.0.0.0"
        # Not connect()ed on purpose: a connected UDP socket makes the kernel drop datagrams
        # from other senders silently, and we want to count them as errors.
        udp = await open_datagram(
            self._on_datagram, local_addr=(local, 0), family=family,
            on_error=self._on_transport_error, on_lost=self._on_socket_lost,
        )
        self._codec = X32Codec(self.VARIANT, self.opts.channels)
        self._readbacks.clear()
        self._udp, self._peer, self._fatal = udp, peer, None
        self._last_rx = loop.time()
        self.meters_stale = False

    async def _read_state(self) -> str:
        loop = asyncio.get_running_loop()
        detail = await self._probe(loop)
        # Subscribe before reading: a change made during the resync is then pushed to us.
        self._send(self._codec.send(XRemote()))
        await self._resync()
        self._link_detail = detail
        return detail

    async def _follow_link(self) -> None:
        await self._follow(asyncio.get_running_loop())

    async def _close_link(self) -> None:
        udp, self._udp = self._udp, None
        if udp is not None:
            udp.close()
        self._end_voice()

    def _send(self, datagram: bytes) -> None:
        if self._udp is not None:
            self._udp.sendto(datagram, self._peer)

    async def _probe(self, loop: asyncio.AbstractEventLoop) -> str:
        deadline = loop.time() + CONNECT_TIMEOUT_S
        while loop.time() < deadline:
            self._probe_reply = loop.create_future()
            self._send(self._codec.send(Probe()))
            done, _pending = await asyncio.wait({self._probe_reply}, timeout=PROBE_RETRY_S)
            self._raise_fatal()
            if done:
                reply = self._probe_reply.result()
                self._probe_reply = None
                if isinstance(reply, InfoReply | XInfoReply):
                    self.view.model, self.view.firmware = reply.model, reply.firmware
                return f"{self.view.model} {self.view.firmware}".strip()
        self._probe_reply = None
        raise OperationTimeoutError(
            _("no reply to {probe} from {peer}").format(probe=self.VARIANT.probe, peer=self._peer)
        )

    async def _resync(self) -> None:
        """GET every channel's mute, name and fader; each channel is reported once."""
        keys = [
            (kind, ch)
            for ch in range(1, self.opts.channels + 1)
            for kind in ("on", "name", "fader")
        ]
        getters: dict[str, type[GetMute | GetName | GetFader]] = {
            "on": GetMute,
            "name": GetName,
            "fader": GetFader,
        }
        self._resyncing, self._resynced = True, set()
        try:
            for _ in range(RESYNC_ROUNDS):
                missing = [k for k in keys if k not in self._resynced]
                if not missing:
                    return
                for i in range(0, len(missing), RESYNC_WINDOW):
                    window = missing[i : i + RESYNC_WINDOW]
                    gets = {k: self._codec.send(getters[k[0]](channel=k[1])) for k in window}
                    await self._request(window, gets)
            missing = [k for k in keys if k not in self._resynced]
            if missing:
                raise OperationTimeoutError(
                    _("resync incomplete: {n} values unanswered").format(n=len(missing))
                )
        finally:
            self._resyncing = False

    async def _request(self, window: list[_ResyncKey], datagrams: dict[_ResyncKey, bytes]) -> None:
        loop = asyncio.get_running_loop()
        self._awaiting = {k for k in window if k not in self._resynced}
        if not self._awaiting:
            return
        self._awaiting_done = loop.create_future()
        for key in window:
            if key in self._awaiting:
                self._send(datagrams[key])
        await asyncio.wait({self._awaiting_done}, timeout=RESYNC_WINDOW_TIMEOUT_S)
        self._awaiting_done = None
        self._raise_fatal()

    async def _follow(self, loop: asyncio.AbstractEventLoop) -> None:
        now = loop.time()
        next_xremote = now + self.xremote_renew_s
        next_meters = now
        next_status = now + self.status_interval_s
        self._meter_rx = now  # the stream asked for below has its first blob due now
        while True:
            self._raise_fatal()
            now = loop.time()
            silent = now - self._last_rx
            if silent > self.liveness_timeout_s:
                raise ConnectionLostError(_("desk silent for {s:.1f} s").format(s=silent))
            if now >= next_xremote:
                self._send(self._codec.send(XRemote()))
                next_xremote = now + self.xremote_renew_s
            if self.opts.meters and now >= next_meters:
                self._subscribe_meters(now)
                next_meters = now + self.meters_renew_s
            if self.opts.meters and self._meters_stopped(now):
                self._subscribe_meters(now)  # at once: the director is blind without them
                self.meter_renewals += 1
                next_meters = now + self.meters_renew_s
            if now >= next_status:
                self._send(self._codec.send(StatusQuery()))
                next_status = now + self.status_interval_s
            await asyncio.sleep(FOLLOW_TICK_S)

    def _subscribe_meters(self, now: float) -> None:
        self._meter_asked = now
        self._send(self._codec.send(SubscribeMeters()))

    def _meters_stopped(self, now: float) -> bool:
        """The stream we asked for delivers nothing: renew now? Also shows it stale."""
        gap = now - self._meter_rx
        if gap >= self.meters_stale_s and not self.meters_stale:
            self.meters_stale = True
            self.log.warning("%s: no meters for %.1f s: meters stale", self.name, gap)
            self._end_voice()
            self._set_link(Link.CONNECTED, self._stale_detail())
        since_asked = now - self._meter_asked
        retry = METERS_RETRY_S if self.meters_stale else self.meters_stall_s
        return gap >= self.meters_stall_s and since_asked >= retry

    def _stale_detail(self) -> str:
        text = _("meters stale")
        return f"{self._link_detail}; {text}" if self._link_detail else text

    def _raise_fatal(self) -> None:
        if self._fatal is not None:
            raise ConnectionLostError(
                _("socket error: {error}").format(error=self._fatal)
            ) from self._fatal

    def _end_voice(self) -> None:
        # Voice on a desk we no longer hear is unknown: report it stopped rather than stuck.
        for ch, vad in self._vad.items():
            if vad.reset():
                self.view.voice[ch] = False
                self._emit(ChannelVoice(device=self.name, channel=ch, active=False))
        self._level_sent.clear()

    # --- receive path ------------------------------------------------------------------------

    def _on_transport_error(self, exc: BaseException) -> None:
        if self._udp is not None and self._fatal is None:
            self._fatal = exc

    def _on_socket_lost(self, exc: Exception | None) -> None:
        self._on_transport_error(exc or ConnectionLostError("socket closed"))

    def _on_datagram(self, data: bytes, addr: Address) -> None:
        if self._peer is None or (addr[0], addr[1]) != self._peer:
            self._malformed(f"datagram from foreign address {addr[0]}:{addr[1]}")
            return
        self._codec.receive_data(data)
        while not isinstance(event := self._codec.next_event(), NeedData):
            if isinstance(event, Malformed):
                self._malformed(event.what, X32RemoteError(event.detail))
                continue
            self._last_rx = asyncio.get_running_loop().time()
            self._seen()
            self.datagrams += 1
            self._handle(event)

    def _handle(self, event: X32Event) -> None:
        if isinstance(event, MeterReport):
            self._on_meters(event)
        elif isinstance(event, MuteReport):
            pending = self._readbacks.get(event.channel, 0)
            if pending:
                self._readbacks[event.channel] = pending - 1
                if pending > 1:
                    return  # superseded by a later SET of ours whose read-back is coming
            self._on_report(("on", event.channel), self.view.on, event.on)
        elif isinstance(event, NameReport):
            self._on_report(("name", event.channel), self.view.names, event.name)
        elif isinstance(event, FaderReport):
            self._on_report(("fader", event.channel), self.view.faders, event.position)
        elif (
            isinstance(event, InfoReply | XInfoReply)
            and self._probe_reply is not None
            and not self._probe_reply.done()
        ):
            self._probe_reply.set_result(event)
        # StatusReply, MainMuteReport, OtherMessage: arriving at all is what liveness needs.

    def _on_report(self, key: _ResyncKey, table: dict[int, object], value: object) -> None:
        kind, ch = key
        first = self._resyncing and key not in self._resynced
        changed = table.get(ch) != value
        table[ch] = value
        if self._resyncing:
            self._resynced.add(key)
            if key in self._awaiting:
                self._awaiting.discard(key)
                if not self._awaiting and self._awaiting_done and not self._awaiting_done.done():
                    self._awaiting_done.set_result(None)
        if not (first or changed):
            return
        # A name stays in the view: no part of the daemon uses the scribble strips.
        if kind == "on":
            self._emit(ChannelSwitched(device=self.name, channel=ch, on=bool(value)))

    def _on_meters(self, event: MeterReport) -> None:
        self._meter_rx = asyncio.get_running_loop().time()
        if self.meters_stale:
            self.meters_stale = False
            self.log.info("%s: meters are back", self.name)
            self._set_link(Link.CONNECTED, self._link_detail)
        now = time.monotonic()
        interval = self.opts.level_interval
        for ch, dbfs in enumerate(event.inputs, start=1):
            self.view.levels[ch] = dbfs
            change = self._vad[ch].update(dbfs, now)
            if change is not None:
                self.view.voice[ch] = change
                self._emit(ChannelVoice(device=self.name, channel=ch, active=change))
            last = self._level_sent.get(ch)
            if last is None or (
                now - last[0] >= interval and abs(dbfs - last[1]) >= LEVEL_DEADBAND_DB
            ):
                self._level_sent[ch] = (now, dbfs)
                self._emit(ChannelLevel(device=self.name, channel=ch, dbfs=round(dbfs, 1)))


class X32Desk(_BehringerDesk):
    """Behringer X32 / Midas M32: UDP 10023, 32 input channels, main bus /main/st."""

    VARIANT = X32

    class Options(_DeskOptions):
        driver: Literal["x32"] = "x32"
        port: int = Field(default=X32.default_port, ge=1, le=65535)
        channels: int = Field(default=X32.channels, ge=1, le=X32.channels)


class XAirDesk(_BehringerDesk):
    """Behringer X-Air XR12/16/18: UDP 10024, 16 input channels, main bus /lr."""

    VARIANT = XAIR

    class Options(_DeskOptions):
        driver: Literal["xair"] = "xair"
        port: int = Field(default=XAIR.default_port, ge=1, le=65535)
        channels: int = Field(default=XAIR.channels, ge=1, le=XAIR.channels)
