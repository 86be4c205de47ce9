"""Sony VISCA PTZ cameras: RS-232 (9600 8N1) or VISCA over IP (UDP 52381).

Two layers, as everywhere in devices/:

- `ViscaCodec` (sans-IO): bytes in → typed events out (`receive_data()` / `next_event()`),
  events → bytes (`send()`). One class serves both ends: role CONTROLLER (our driver: sends
  commands, reads replies) and role CAMERA (the simulator: reads commands, sends replies),
  with SERIAL framing (messages end with FF) or IP framing (an 8-byte header per message).
- `ViscaCamera` (asyncio, a `devices.base.Device`): one link to one camera; `recall(preset)`
  waits for the ACK and then the completion and reports the motion as `CameraMotion` events,
  so the daemon can tell the director when a camera moves and when it has arrived.

Wire facts: /work/shared/reference/protocols.md §4. A VISCA message is 3..16 bytes: a header
byte (1 s r r r: sender, receiver; the controller is 0, so a command to camera x starts
8x and its replies start z0 with z = x + 8), then data bytes, then the terminator FF.
Replies: ACK z0 4y FF, completion z0 5y FF (inquiries: z0 50 data FF), error z0 6y ee FF;
y is the camera's command socket (0 = none). VISCA over IP prefixes every message with
type (u16), payload length (u16) and sequence number (u32), all big-endian; the camera
echoes the sequence number in its replies, which is how replies are matched over UDP.
The power inquiry used as the liveness ping (8x 09 04 00 FF → z0 50 02 FF) is from Sony's
command list, not from protocols.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import socket
import struct
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar, Final, Literal, TypeAlias

from pydantic import Field, model_validator

from councild.datagram import Address, DatagramLink, open_datagram
from councild.errors import (
    ConnectionLostError,
    CouncildError,
    LocalProtocolError,
    OperationTimeoutError,
    RemoteProtocolError,
)
from councild.i18n import _
from councild.model import CameraMotion
from councild.sansio import NEED_DATA, Malformed, NeedData
from devices.base import Device, DeviceOptions, Emit
from devices.capabilities import Camera
from devices.serial_link import close_writer, open_serial

__all__ = [
    "DEFAULT_PORT",
    "NEED_DATA",
    "Ack",
    "CameraMotion",
    "Completion",
    "ControlReply",
    "ControlReset",
    "Framing",
    "IfClear",
    "OtherCommand",
    "PowerInquiry",
    "RecallPreset",
    "ReplyError",
    "Role",
    "StorePreset",
    "ViscaCamera",
    "ViscaCodec",
    "ViscaCommandError",
    "ViscaEvent",
    "ViscaLocalError",
    "ViscaOptions",
    "ViscaRemoteError",
]

DEFAULT_PORT: Final = 52381
DEFAULT_BAUD: Final = 9600

# --- wire constants --------------------------------------------------------------------------

TERMINATOR: Final = 0xFF
MIN_MESSAGE: Final = 3  # header, one byte, terminator
MAX_MESSAGE: Final = 16  # VISCA's own packet limit
IP_HEADER: Final = struct.Struct(">HHI")
SEQ_MODULO: Final = 1 << 32
# Bytes held while waiting for a terminator or a full IP payload. A valid message never needs
# more than header + 16 bytes; past this the input is garbage and is dropped.
MAX_BUFFER: Final = 1024
# Parsed events waiting for next_event(): reaching this means nobody drains the codec.
MAX_PENDING_EVENTS: Final = 256

# Error codes in z0 6y ee FF.
ERR_LENGTH: Final = 0x01
ERR_SYNTAX: Final = 0x02
ERR_BUFFER_FULL: Final = 0x03
ERR_CANCELLED: Final = 0x04
ERR_NO_SOCKET: Final = 0x05
ERR_NOT_EXECUTABLE: Final = 0x41
ERROR_NAMES: Final = {
    ERR_LENGTH: "message length error",
    ERR_SYNTAX: "syntax error",
    ERR_BUFFER_FULL: "command buffer full",
    ERR_CANCELLED: "command cancelled",
    ERR_NO_SOCKET: "no socket",
    ERR_NOT_EXECUTABLE: "command not executable now",
}

POWER_ON: Final = 0x02


class PayloadType(enum.IntEnum):
    COMMAND = 0x0100
    INQUIRY = 0x0110
    REPLY = 0x0111
    CONTROL = 0x0200
    CONTROL_REPLY = 0x0201


CONTROL_RESET: Final = b"\x01"  # control payload: reset the sequence number
# A camera reports a sequence or message abnormality in a control reply (Sony's manual).
CONTROL_ERROR_SEQUENCE: Final = b"\x0f\x01"
CONTROL_ERROR_MESSAGE: Final = b"\x0f\x02"


class ViscaLocalError(LocalProtocolError):
    """We were asked to encode something VISCA cannot express (bad address, preset...)."""


class ViscaRemoteError(RemoteProtocolError):
    """Bytes that are not a valid VISCA message (inside the codec: they become a Malformed)."""


class ViscaCommandError(CouncildError):
    """The camera refused or failed a command (an error reply or no answer in time)."""

    def __init__(self, code: int | None, message: str) -> None:
        self.code = code
        super().__init__(message)


class Role(enum.Enum):
    CONTROLLER = "controller"  # sends commands, parses replies (the driver)
    CAMERA = "camera"  # parses commands, sends replies (the simulator)


class Framing(enum.Enum):
    SERIAL = "serial"  # bare VISCA messages, each ending with FF
    IP = "ip"  # VISCA over IP: 8-byte header before every message


# --- events ----------------------------------------------------------------------------------


def _check_address(address: int) -> None:
    if not 1 <= address <= 7:
        raise ViscaLocalError(f"camera address {address} not 1..7")


def _check_byte(name: str, value: int, high: int = 0xFE) -> None:
    if not 0 <= value <= high:
        raise ViscaLocalError(f"{name} {value} not 0..{high}")


@dataclass(frozen=True, slots=True, kw_only=True)
class ViscaEvent:
    """One message. `seq` is the VISCA-over-IP sequence number (None on serial)."""

    seq: int | None = None

    def __post_init__(self) -> None:
        if self.seq is not None and not 0 <= self.seq < SEQ_MODULO:
            raise ViscaLocalError(f"sequence number {self.seq} out of range")


@dataclass(frozen=True, slots=True, kw_only=True)
class _CameraMessage(ViscaEvent):
    address: int

    def __post_init__(self) -> None:
        ViscaEvent.__post_init__(self)
        _check_address(self.address)


@dataclass(frozen=True, slots=True, kw_only=True)
class RecallPreset(_CameraMessage):
    """8x 01 04 3F 02 pp FF"""

    preset: int

    def __post_init__(self) -> None:
        _CameraMessage.__post_init__(self)
        _check_byte("preset", self.preset)


@dataclass(frozen=True, slots=True, kw_only=True)
class StorePreset(_CameraMessage):
    """8x 01 04 3F 01 pp FF"""

    preset: int

    def __post_init__(self) -> None:
        _CameraMessage.__post_init__(self)
        _check_byte("preset", self.preset)


@dataclass(frozen=True, slots=True, kw_only=True)
class IfClear(_CameraMessage):
    """8x 01 00 01 FF: empty the camera's command buffers; answered z0 50 FF."""


@dataclass(frozen=True, slots=True, kw_only=True)
class PowerInquiry(_CameraMessage):
    """8x 09 04 00 FF → z0 50 pp FF (02 on, 03 standby): our liveness ping."""


@dataclass(frozen=True, slots=True, kw_only=True)
class OtherCommand(_CameraMessage):
    """A well-formed command or inquiry we do not model; `body` excludes header and FF."""

    body: bytes
    inquiry: bool = False

    def __post_init__(self) -> None:
        _CameraMessage.__post_init__(self)
        if not 1 <= len(self.body) <= MAX_MESSAGE - 2 or TERMINATOR in self.body:
            raise ViscaLocalError(f"command body {self.body.hex(' ')} cannot be framed")


@dataclass(frozen=True, slots=True, kw_only=True)
class _Reply(ViscaEvent):
    address: int  # the camera that answers
    socket: int

    def __post_init__(self) -> None:
        ViscaEvent.__post_init__(self)
        _check_address(self.address)
        _check_byte("socket", self.socket, 0x0F)


@dataclass(frozen=True, slots=True, kw_only=True)
class Ack(_Reply):
    """z0 4y FF: the command was accepted into socket y."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Completion(_Reply):
    """z0 5y FF: the command in socket y is done; z0 50 data FF answers an inquiry."""

    data: bytes = b""

    def __post_init__(self) -> None:
        _Reply.__post_init__(self)
        if len(self.data) > MAX_MESSAGE - 3 or TERMINATOR in self.data:
            raise ViscaLocalError(f"reply data {self.data.hex(' ')} cannot be framed")


@dataclass(frozen=True, slots=True, kw_only=True)
class ReplyError(_Reply):
    """z0 6y ee FF."""

    code: int

    def __post_init__(self) -> None:
        _Reply.__post_init__(self)
        _check_byte("error code", self.code)

    @property
    def reason(self) -> str:
        return ERROR_NAMES.get(self.code, f"error {self.code:#04x}")


@dataclass(frozen=True, slots=True, kw_only=True)
class ControlReset(ViscaEvent):
    """VISCA over IP control message 01: reset the sequence number."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ControlReply(ViscaEvent):
    """VISCA over IP control reply: 01 acknowledges a reset, 0F 0x reports an abnormality."""

    payload: bytes = CONTROL_RESET

    def __post_init__(self) -> None:
        ViscaEvent.__post_init__(self)
        if not 1 <= len(self.payload) <= MAX_MESSAGE:
            raise ViscaLocalError("control reply payload must be 1..16 bytes")


_Sender: TypeAlias = Callable[[bytes], None]
_Commands: TypeAlias = RecallPreset | StorePreset | IfClear | PowerInquiry | OtherCommand


# --- codec -----------------------------------------------------------------------------------


def _command_body(event: ViscaEvent) -> tuple[bytes, bool]:
    """(bytes between header and FF, is it an inquiry)."""
    if isinstance(event, RecallPreset):
        return bytes((0x01, 0x04, 0x3F, 0x02, event.preset)), False
    if isinstance(event, StorePreset):
        return bytes((0x01, 0x04, 0x3F, 0x01, event.preset)), False
    if isinstance(event, IfClear):
        return b"\x01\x00\x01", False
    if isinstance(event, PowerInquiry):
        return b"\x09\x04\x00", True
    if isinstance(event, OtherCommand):
        return event.body, event.inquiry
    raise ViscaLocalError(f"{type(event).__name__} is not a command")


def _parse_command(msg: bytes, seq: int | None) -> ViscaEvent:
    header = msg[0]
    if header & 0xF0 != 0x80 or header & 0x0F == 0 or header & 0x0F == 8:
        # 88 is the broadcast address (IF_Clear to all, address set); we do not model it.
        raise ViscaRemoteError(f"not a command to a camera: {msg.hex(' ')}")
    address = header & 0x07
    body = msg[1:-1]
    if body == b"\x01\x00\x01":
        return IfClear(address=address, seq=seq)
    if body == b"\x09\x04\x00":
        return PowerInquiry(address=address, seq=seq)
    if len(body) == 5 and body[:3] == b"\x01\x04\x3f" and body[3] in (1, 2):
        cls = RecallPreset if body[3] == 2 else StorePreset
        return cls(address=address, preset=body[4], seq=seq)
    if body[0] not in (0x01, 0x09):
        raise ViscaRemoteError(f"unknown message category {body[0]:#04x}: {msg.hex(' ')}")
    return OtherCommand(address=address, body=bytes(body), inquiry=body[0] == 0x09, seq=seq)


def _parse_reply(msg: bytes, seq: int | None) -> ViscaEvent:
    header = msg[0]
    if header & 0x8F != 0x80 or not 9 <= header >> 4 <= 15:
        raise ViscaRemoteError(f"not a reply from a camera: {msg.hex(' ')}")
    address = (header >> 4) - 8
    kind, sock = msg[1] >> 4, msg[1] & 0x0F
    data = bytes(msg[2:-1])
    if kind == 4 and not data:
        return Ack(address=address, socket=sock, seq=seq)
    if kind == 5:
        return Completion(address=address, socket=sock, data=data, seq=seq)
    if kind == 6 and len(data) == 1:
        return ReplyError(address=address, socket=sock, code=data[0], seq=seq)
    raise ViscaRemoteError(f"unknown reply {msg.hex(' ')}")


class ViscaCodec:
    """Sans-IO VISCA for one end of one link. See the module docstring."""

    def __init__(self, role: Role, framing: Framing) -> None:
        self.role = role
        self.framing = framing
        self._buffer = bytearray()
        # Events and Malformed in arrival order: one bad message never hides good ones.
        self._events: deque[ViscaEvent | Malformed] = deque()
        self._bad = 0  # how many of them are Malformed (each kind has its own bound)
        self._next_seq = 0  # IP only: sequence number of the next command we send
        self._closed = False

    # --- input -----------------------------------------------------------------------------

    def receive_data(self, data: bytes | None) -> None:
        """Feed bytes as they arrived; None = end of stream (an empty datagram is nothing)."""
        if data is None:
            self._closed = True
            return
        if not data:
            return
        if self._closed:
            self._fail(f"data after end of stream: {bytes(data[:16]).hex(' ')}")
            return
        self._buffer += data
        self._parse()
        if len(self._buffer) > MAX_BUFFER:
            self._buffer.clear()
            self._fail(f"more than {MAX_BUFFER} bytes without a complete message")

    def end_datagram(self) -> None:
        """UDP: a datagram holds whole messages, so bytes left over are garbage."""
        if self._buffer:
            leftover = bytes(self._buffer)
            self._buffer.clear()
            self._fail(f"incomplete message at the end of a datagram: {leftover.hex(' ')}")

    def next_event(self) -> ViscaEvent | Malformed | NeedData:
        """The next parsed message, or a Malformed for each bad one (it is skipped)."""
        if not self._events:
            return NEED_DATA
        event = self._events.popleft()
        if isinstance(event, Malformed):
            self._bad -= 1
        return event

    @property
    def pending(self) -> int:
        """Events and Malformed not yet taken."""
        return len(self._events)

    def _fail(self, message: str) -> None:
        # Garbage arrives faster than anyone drains it only when nobody drains at all: then
        # the reports are what is dropped, never the events.
        if self._bad < MAX_PENDING_EVENTS:
            self._bad += 1
            self._events.append(Malformed("VISCA message", message))

    def _deliver(self, event: ViscaEvent) -> None:
        if len(self._events) - self._bad >= MAX_PENDING_EVENTS:
            raise ViscaLocalError("events not drained: call next_event() until NEED_DATA")
        self._events.append(event)

    def _parse(self) -> None:
        while self._buffer:
            if self.framing is Framing.SERIAL:
                if not self._parse_serial():
                    return
            elif not self._parse_ip():
                return

    def _parse_serial(self) -> bool:
        end = self._buffer.find(TERMINATOR)
        if end < 0:
            if len(self._buffer) > MAX_MESSAGE:
                # No terminator where one must be: skip to the next possible header.
                dropped = bytes(self._buffer)
                self._buffer.clear()
                self._fail(f"no terminator in {len(dropped)} bytes")
            return False
        msg = bytes(self._buffer[: end + 1])
        del self._buffer[: end + 1]
        self._message(msg, None)
        return True

    def _parse_ip(self) -> bool:
        if len(self._buffer) < IP_HEADER.size:
            return False
        kind, length, seq = IP_HEADER.unpack_from(self._buffer)
        if not 1 <= length <= MAX_MESSAGE:
            # The length cannot be trusted, so neither can anything after it.
            dropped = len(self._buffer)
            self._buffer.clear()
            self._fail(f"payload length {length} not 1..{MAX_MESSAGE}; {dropped} bytes dropped")
            return False
        if len(self._buffer) < IP_HEADER.size + length:
            return False
        payload = bytes(self._buffer[IP_HEADER.size : IP_HEADER.size + length])
        del self._buffer[: IP_HEADER.size + length]
        try:
            ptype = PayloadType(kind)
        except ValueError:
            self._fail(f"unknown payload type {kind:#06x}")
            return True
        expected = _EXPECTED_TYPES[self.role]
        if ptype not in expected:
            self._fail(f"payload type {ptype.name} not expected by the {self.role.value}")
            return True
        if ptype is PayloadType.CONTROL:
            if payload == CONTROL_RESET:
                self._deliver(ControlReset(seq=seq))
            else:
                self._fail(f"unknown control payload {payload.hex(' ')}")
            return True
        if ptype is PayloadType.CONTROL_REPLY:
            self._deliver(ControlReply(payload=payload, seq=seq))
            return True
        if payload[-1] != TERMINATOR or TERMINATOR in payload[:-1]:
            self._fail(f"payload is not one VISCA message: {payload.hex(' ')}")
            return True
        self._message(payload, seq)
        return True

    def _message(self, msg: bytes, seq: int | None) -> None:
        if not MIN_MESSAGE <= len(msg) <= MAX_MESSAGE or not msg[0] & 0x80:
            self._fail(f"bad message {msg.hex(' ')}")
            return
        try:
            event = _PARSERS[self.role](msg, seq)
        except ViscaRemoteError as exc:
            self._fail(str(exc))
            return
        except ViscaLocalError as exc:  # a field out of range: the peer's fault here
            self._fail(f"{exc}: {msg.hex(' ')}")
            return
        self._deliver(event)

    # --- output ----------------------------------------------------------------------------

    def send(self, event: ViscaEvent) -> bytes:
        """Bytes for one message. On IP, a controller numbers its messages itself."""
        if self.role is Role.CONTROLLER:
            return self._send_controller(event)
        return self._send_camera(event)

    def _send_controller(self, event: ViscaEvent) -> bytes:
        if isinstance(event, ControlReset):
            # The reset itself carries the next number; the camera starts afresh from it.
            return self._frame(PayloadType.CONTROL, CONTROL_RESET, self._take_seq())
        if not isinstance(event, _Commands):
            raise ViscaLocalError(f"a controller does not send {type(event).__name__}")
        body, inquiry = _command_body(event)
        msg = bytes((0x80 | event.address,)) + body + bytes((TERMINATOR,))
        ptype = PayloadType.INQUIRY if inquiry else PayloadType.COMMAND
        return self._frame(ptype, msg, self._take_seq())

    def _send_camera(self, event: ViscaEvent) -> bytes:
        if isinstance(event, ControlReply):
            return self._frame(PayloadType.CONTROL_REPLY, event.payload, event.seq or 0)
        if isinstance(event, Ack):
            msg = bytes((0x80 | (event.address + 8) << 4, 0x40 | event.socket, TERMINATOR))
        elif isinstance(event, Completion):
            head = bytes((0x80 | (event.address + 8) << 4, 0x50 | event.socket))
            msg = head + event.data + bytes((TERMINATOR,))
        elif isinstance(event, ReplyError):
            msg = bytes(
                (0x80 | (event.address + 8) << 4, 0x60 | event.socket, event.code, TERMINATOR)
            )
        else:
            raise ViscaLocalError(f"a camera does not send {type(event).__name__}")
        return self._frame(PayloadType.REPLY, msg, event.seq or 0)

    def _take_seq(self) -> int:
        seq = self._next_seq
        self._next_seq = (self._next_seq + 1) % SEQ_MODULO
        return seq

    @property
    def next_seq(self) -> int:
        """Sequence number the next message will carry (IP, controller)."""
        return self._next_seq

    def _frame(self, ptype: PayloadType, payload: bytes, seq: int) -> bytes:
        if self.framing is Framing.SERIAL:
            if ptype in (PayloadType.CONTROL, PayloadType.CONTROL_REPLY):
                raise ViscaLocalError("control messages exist only in VISCA over IP")
            return payload
        return IP_HEADER.pack(ptype, len(payload), seq) + payload


_PARSERS: Final = {Role.CAMERA: _parse_command, Role.CONTROLLER: _parse_reply}
_EXPECTED_TYPES: Final = {
    Role.CAMERA: frozenset({PayloadType.COMMAND, PayloadType.INQUIRY, PayloadType.CONTROL}),
    Role.CONTROLLER: frozenset({PayloadType.REPLY, PayloadType.CONTROL_REPLY}),
}


# --- driver ----------------------------------------------------------------------------------

# A camera answers in milliseconds (7 bytes at 9600 baud take 7 ms); 1 s also covers a busy
# camera CPU and a congested LAN, and is short enough to show a dead camera quickly.
ACK_TIMEOUT_S: Final = 1.0
# The slowest preset move (a full pan at a low preset speed) takes well under 20 s.
COMPLETION_TIMEOUT_S: Final = 20.0
# Inquiries and IF_Clear are answered at once, like an ACK.
INQUIRY_TIMEOUT_S: Final = 1.0
# Ping every 0.5 s and give up after 2 s of silence: a lost camera is shown LOST within
# 2.5 s (the 3 s the technician's display promises), four pings missed in a row first.
PING_INTERVAL_S: Final = 0.5
LIVENESS_TIMEOUT_S: Final = 2.0
# First answer after opening the link; the reconnect loop retries with backoff after it.
CONNECT_TIMEOUT_S: Final = 1.0


class ViscaOptions(DeviceOptions):
    """config.toml: [devices.cam1] driver = "visca", transport = "udp", host = ..., address = 1"""

    driver: Literal["visca"] = "visca"
    follow_floor: bool = False  # a camera has no channels to switch
    transport: Literal["udp", "serial"] = "udp"
    host: str = "127.0.0.1"
    port: int = Field(DEFAULT_PORT, ge=1, le=65535)
    path: str | None = None  # serial device, e.g. /dev/ttyUSB0
    baud: int = Field(DEFAULT_BAUD, gt=0)
    address: int = Field(1, ge=1, le=7)

    @model_validator(mode="after")
    def _serial_needs_path(self) -> ViscaOptions:
        if self.transport == "serial" and not self.path:
            raise ValueError("transport 'serial' needs path")
        return self


@dataclass(slots=True)
class _Request:
    event: ViscaEvent
    seq: int | None
    ack: asyncio.Future[Ack] | None  # commands only
    done: asyncio.Future[Completion]


class ViscaCamera(Device, Camera):
    """One VISCA camera over UDP or a serial port."""

    Options: ClassVar[type[DeviceOptions]] = ViscaOptions
    # Class attributes so that a test can shorten them without touching the constants.
    ping_interval_s: ClassVar[float] = PING_INTERVAL_S
    liveness_timeout_s: ClassVar[float] = LIVENESS_TIMEOUT_S
    ack_timeout_s: ClassVar[float] = ACK_TIMEOUT_S
    completion_timeout_s: ClassVar[float] = COMPLETION_TIMEOUT_S

    def __init__(self, name: str, options: DeviceOptions, emit: Emit) -> None:
        super().__init__(name, options, emit)
        assert isinstance(options, ViscaOptions)
        self.opts = options
        self._codec = self._new_codec()
        self._send_bytes: _Sender | None = None
        self._awaiting_ack: _Request | None = None
        self._in_socket: dict[int, _Request] = {}
        self._immediate: _Request | None = None
        self._control: asyncio.Future[ControlReply] | None = None
        self._command_lock = asyncio.Lock()
        self._immediate_lock = asyncio.Lock()
        self._last_valid = 0.0
        self._peer: tuple[str, int] | None = None
        self.preset: int | None = None  # last preset reached (None = unknown)
        self.moving = False
        self._pings: set[asyncio.Task[None]] = set()
        self._udp: DatagramLink | None = None
        self._wanted = 0  # number of the newest recall asked for

    def _new_codec(self) -> ViscaCodec:
        framing = Framing.IP if self.opts.transport == "udp" else Framing.SERIAL
        return ViscaCodec(Role.CONTROLLER, framing)

    # --- what the daemon calls ---------------------------------------------------------------

    async def recall(self, preset: int) -> None:
        """Move to a preset; returns once the camera reports completion.

        Emits CameraMotion(moving=True) when the camera accepted the command and
        CameraMotion(moving=False) when it arrived (ok=False if it failed). Raises
        ViscaCommandError on an error reply or timeout, ConnectionLostError when not
        connected. Recalls run one after the other; one that is still waiting when a newer
        recall is asked for returns at once without moving the camera (the newer wins).
        """
        event = RecallPreset(address=self.opts.address, preset=preset)
        self._wanted += 1
        ticket = self._wanted
        async with self._command_lock:
            if ticket != self._wanted:
                self.log.debug("%s: recall %d superseded", self.name, preset)
                return
            req = await self._command(event)
            self.moving = True
            self._emit(CameraMotion(device=self.name, moving=True, preset=preset))
            try:
                async with asyncio.timeout(self.completion_timeout_s):
                    await req.done
            except BaseException as exc:
                self.moving = False
                self.preset = None
                self._forget(req)
                detail = _describe(exc)
                self._emit(
                    CameraMotion(
                        device=self.name, moving=False, preset=preset, ok=False, detail=detail
                    )
                )
                if isinstance(exc, TimeoutError):
                    raise ViscaCommandError(None, f"{self.name}: {detail}") from exc
                raise
            self.moving = False
            self.preset = preset
            self._emit(CameraMotion(device=self.name, moving=False, preset=preset))

    async def store(self, preset: int) -> None:
        """Store the current position as a preset (set-up, not used during a session)."""
        event = StorePreset(address=self.opts.address, preset=preset)
        async with self._command_lock:
            req = await self._command(event)
            try:
                async with asyncio.timeout(self.ack_timeout_s):
                    await req.done
            except TimeoutError as exc:
                self._forget(req)
                raise ViscaCommandError(None, f"{self.name}: no completion") from exc

    @property
    def local_address(self) -> tuple[str, int] | None:
        """Our UDP socket's address (diagnostics; tests send stray datagrams to it)."""
        return None if self._udp is None else self._udp.local_address

    # --- requests ----------------------------------------------------------------------------

    def _transmit(self, event: ViscaEvent) -> int | None:
        send = self._send_bytes
        if send is None:
            raise ConnectionLostError(_("{name}: camera not connected").format(name=self.name))
        seq = self._codec.next_seq if self._codec.framing is Framing.IP else None
        send(self._codec.send(event))
        return seq

    async def _command(self, event: ViscaEvent) -> _Request:
        """Send a command and wait for its ACK; the returned request's `done` follows."""
        loop = asyncio.get_running_loop()
        req = _Request(event, None, loop.create_future(), loop.create_future())
        self._awaiting_ack = req
        try:
            req.seq = self._transmit(event)
            assert req.ack is not None
            async with asyncio.timeout(self.ack_timeout_s):
                await req.ack
        except TimeoutError as exc:
            self._forget(req)
            raise ViscaCommandError(None, f"{self.name}: no ACK") from exc
        except BaseException:
            self._forget(req)
            raise
        finally:
            if self._awaiting_ack is req:
                self._awaiting_ack = None
        return req

    async def _ask(self, event: ViscaEvent) -> Completion:
        """An inquiry or IF_Clear: one reply, no ACK."""
        loop = asyncio.get_running_loop()
        async with self._immediate_lock:
            req = _Request(event, None, None, loop.create_future())
            self._immediate = req
            try:
                req.seq = self._transmit(event)
                async with asyncio.timeout(INQUIRY_TIMEOUT_S):
                    return await req.done
            finally:
                self._immediate = None

    def _forget(self, req: _Request) -> None:
        if self._awaiting_ack is req:
            self._awaiting_ack = None
        for sock, other in list(self._in_socket.items()):
            if other is req:
                del self._in_socket[sock]

    # --- session -----------------------------------------------------------------------------

    async def _session(self) -> None:
        self._codec = self._new_codec()
        if self.opts.transport == "udp":
            await self._session_udp()
        else:
            await self._session_serial()

    async def _session_udp(self) -> None:
        loop = asyncio.get_running_loop()
        infos = await loop.getaddrinfo(self.opts.host, self.opts.port, type=socket.SOCK_DGRAM)
        family, sockaddr = infos[0][0], infos[0][4]
        self._peer = (str(sockaddr[0]), int(sockaddr[1]))
        # Connected: the kernel drops datagrams from anyone but the camera. An ICMP error
        # (the camera is off) is for liveness to notice, so socket errors are not reported.
        udp = await open_datagram(self._on_datagram, remote_addr=self._peer, family=family)
        self._send_bytes = udp.sendto
        self._udp = udp
        try:
            self._control = loop.create_future()
            self._send_bytes(self._codec.send(ControlReset()))
            async with asyncio.timeout(CONNECT_TIMEOUT_S):
                await self._control
            await self._handshake()
            await self._follow()
        finally:
            self._send_bytes = None
            self._udp = None
            udp.close()
            self._fail_all(ConnectionLostError(f"{self.name}: link closed"))

    async def _session_serial(self) -> None:
        assert self.opts.path is not None
        reader, writer = await open_serial(self.opts.path, self.opts.baud)
        self._send_bytes = writer.write
        reader_task = asyncio.create_task(self._read_serial(reader), name=f"{self.name}:read")
        try:
            await self._handshake()
            await self._follow(reader_task)
        finally:
            self._send_bytes = None
            reader_task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await reader_task
            await close_writer(writer)
            self._fail_all(ConnectionLostError(f"{self.name}: link closed"))

    async def _read_serial(self, reader: asyncio.StreamReader) -> None:
        while True:
            data = await reader.read(4096)
            if not data:
                raise ConnectionLostError(f"{self.name}: serial port closed")
            self._feed(data)

    async def _handshake(self) -> None:
        """IF_Clear empties the camera's buffers of anything a previous session left."""
        try:
            await self._ask(IfClear(address=self.opts.address))
        except TimeoutError as exc:
            raise OperationTimeoutError(f"{self.name}: no answer to IF_Clear") from exc
        self._connected(f"address {self.opts.address}")

    async def _follow(self, reader_task: asyncio.Task[None] | None = None) -> None:
        """Ping until the camera has been silent for the liveness timeout."""
        loop = asyncio.get_running_loop()
        while True:
            if reader_task is not None and reader_task.done():
                reader_task.result()  # raises why the reader stopped
                raise ConnectionLostError(f"{self.name}: reader stopped")
            silent = time.monotonic() - self._last_valid
            if silent >= self.liveness_timeout_s:
                raise OperationTimeoutError(f"{self.name}: no answer for {silent:.1f} s")
            if self._immediate is None:
                # The reply arrives through _on_event; waiting for it here would only delay
                # the next check. Errors (no reply) surface as silence.
                task = loop.create_task(self._ping(), name=f"{self.name}:ping")
                self._pings.add(task)
                task.add_done_callback(self._pings.discard)
            await asyncio.sleep(self.ping_interval_s)

    async def _ping(self) -> None:
        with contextlib.suppress(TimeoutError, ConnectionLostError, ViscaCommandError):
            await self._ask(PowerInquiry(address=self.opts.address))

    # --- input -------------------------------------------------------------------------------

    def _on_datagram(self, data: bytes, addr: Address) -> None:
        self._feed(data, datagram=True)

    def _feed(self, data: bytes, datagram: bool = False) -> None:
        self._codec.receive_data(data)
        if datagram:
            self._codec.end_datagram()
        while not isinstance(event := self._codec.next_event(), NeedData):
            if isinstance(event, Malformed):
                self._malformed("reply", ViscaRemoteError(event.detail))
                continue
            self._on_event(event)

    def _on_event(self, event: ViscaEvent) -> None:
        if isinstance(event, ControlReply):
            if event.payload == CONTROL_RESET:
                self._mark_alive()
                if self._control is not None and not self._control.done():
                    self._control.set_result(event)
            else:
                self._malformed("control", ViscaRemoteError(f"camera reports {event.payload!r}"))
            return
        if not isinstance(event, Ack | Completion | ReplyError):
            self._malformed("reply", ViscaRemoteError(f"unexpected {type(event).__name__}"))
            return
        if event.address != self.opts.address:
            self._malformed("reply", ViscaRemoteError(f"reply from address {event.address}"))
            return
        self._mark_alive()
        if not self._match(event):
            # A late reply to a request that timed out: the camera is alive, nothing waits.
            self.log.debug("%s: unmatched %s", self.name, event)

    def _mark_alive(self) -> None:
        self._last_valid = time.monotonic()
        self._seen()

    def _match(self, event: Ack | Completion | ReplyError) -> bool:
        ip = event.seq is not None

        def same(req: _Request | None) -> bool:
            return req is not None and (not ip or req.seq == event.seq)

        if isinstance(event, Ack):
            req = self._awaiting_ack
            if not same(req) or req is None or req.ack is None or req.ack.done():
                return False
            self._in_socket[event.socket] = req
            req.ack.set_result(event)
            return True
        if isinstance(event, Completion):
            if event.socket == 0:
                req = self._immediate
                if same(req) and req is not None and not req.done.done():
                    req.done.set_result(event)
                    return True
                return False
            req = self._in_socket.get(event.socket)
            if not same(req) or req is None:
                return False
            del self._in_socket[event.socket]
            if not req.done.done():
                req.done.set_result(event)
            return True
        # An error: by sequence number over IP; on serial a socket, or whatever waits first.
        candidates = [self._in_socket.get(event.socket)] if event.socket else []
        candidates += [self._awaiting_ack, self._immediate, *self._in_socket.values()]
        for req in candidates:
            if same(req) and req is not None:
                self._forget(req)
                exc = ViscaCommandError(event.code, f"{self.name}: {event.reason}")
                for fut in (req.ack, req.done):
                    if fut is not None and not fut.done():
                        fut.set_exception(exc)
                        fut.exception()  # consumed here if nobody awaits it any more
                return True
        return False

    def _fail_all(self, exc: Exception) -> None:
        reqs = [self._awaiting_ack, self._immediate, *self._in_socket.values()]
        self._awaiting_ack = self._immediate = None
        self._in_socket.clear()
        for req in reqs:
            if req is None:
                continue
            for fut in (req.ack, req.done):
                if fut is not None and not fut.done():
                    fut.set_exception(exc)
                    fut.exception()
        if self._control is not None and not self._control.done():
            self._control.cancel()


def _describe(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        return "no completion in time"
    return str(exc) or type(exc).__name__
