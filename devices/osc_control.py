"""OSC control input: Bitfocus Companion (or any OSC button surface) as the chair's keypad.

Companion's generic-OSC buttons send one OSC message per UDP datagram. The addresses are in
docs/osc.md; in short `/councild/grant <seat>`, `/councild/next`, `/councild/revoke [<seat>]`,
`/councild/revoke_all`, `/councild/priority <0|1>`, `/councild/clear`, `/councild/wide`,
`/councild/lock <0|1>`, `/councild/agenda`, `/councild/mute_remote <0|1>` and
`/councild/key <name> [<0|1>]` (a raw key for number entry).

Layers: `OscControlCodec` (sans-IO, the dialect of councild/sansio.py: a datagram →
`ControlAction` / `ControlKey`, or a `Malformed`; OSC itself is devices/osc.py, shared with
the X32 desks) and `OscControl` (asyncio UDP through councild/datagram.py: source-address
filter, the `on_action` callback, seat-state feedback).
"""

from __future__ import annotations

import asyncio
import hmac
import ipaddress
import logging
import os
import re
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import Field, field_validator

from councild.datagram import Address, DatagramLink, open_datagram
from councild.errors import (
    ConfigError,
    ConnectionLostError,
    LocalProtocolError,
    RemoteProtocolError,
)
from councild.i18n import _
from councild.keypad import (
    BROADCAST_OPS,
    Action,
    AdvanceAgenda,
    Broadcast,
    ClearQueue,
    GrantSeat,
    KeyMap,
    LockProgram,
    MuteRemote,
    NextSpeaker,
    PriorityHold,
    RevokeAll,
    RevokeCurrent,
    RevokeSeat,
    SeatLamp,
    Wide,
)
from councild.model import KeyPressed
from councild.sansio import NEED_DATA, Malformed, NeedData
from devices.base import Device, DeviceOptions, Emit, KeyedOptions
from devices.capabilities import ActionSurface, ButtonSurface
from devices.osc import OscRemoteError, decode_message, encode_message, is_bundle

__all__ = [
    "NEED_DATA",
    "PREFIX",
    "ControlAction",
    "ControlEvent",
    "ControlKey",
    "OscControl",
    "OscControlCodec",
    "OscControlError",
    "OscControlOptions",
    "broadcast_datagram",
    "seat_state_datagram",
]

PREFIX = "/councild"
DEFAULT_PORT = 9000
# Companion's messages are tens of bytes; a datagram past 1 KiB is not meant for us.
MAX_DATAGRAM = 1024
# Parsed commands not yet taken by next_event(); one datagram = one command.
MAX_PENDING = 64

_SEAT = re.compile(r"^[A-Za-z0-9_.-]{1,32}$")
_KEY = re.compile(r"^[A-Za-z0-9_-]{1,32}$")

log = logging.getLogger("councild.device.osc_control")


class OscControlError(RemoteProtocolError):
    """A datagram that is not one of our OSC control messages (inside the codec: it becomes
    a Malformed)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ControlEvent:
    """A decoded control message."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ControlAction(ControlEvent):
    action: Action


@dataclass(frozen=True, slots=True, kw_only=True)
class ControlKey(ControlEvent):
    """`/councild/key <name> [<0|1>]`: a key of a surface, for the keypad's number entry."""

    key: str
    pressed: bool


# --- argument parsing --------------------------------------------------------------------------


def _flag(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.lower() in ("0", "1", "on", "off", "true", "false"):
        return value.lower() in ("1", "on", "true")
    raise OscControlError(f"expected 0 or 1, got {value!r}")


def _seat(value: Any) -> str:
    if isinstance(value, bool):
        raise OscControlError(f"expected a seat, got {value!r}")
    if isinstance(value, int) and 0 <= value <= 65535:
        return str(value)
    if isinstance(value, float) and value.is_integer() and 0 <= value <= 65535:
        return str(int(value))
    if isinstance(value, str) and _SEAT.match(value):
        return str(int(value)) if value.isdigit() else value
    raise OscControlError(f"expected a seat, got {value!r}")


def _no_args(make: Callable[[], Action]) -> Callable[[list[Any]], Action | None]:
    """A command without arguments. Companion may add 1 on press and 0 on release: a 0 (or
    false) is the release and does nothing."""

    def parse(args: list[Any]) -> Action | None:
        if not args:
            return make()
        if len(args) == 1:
            return make() if _flag(args[0]) else None
        raise OscControlError(f"expected no arguments, got {len(args)}")

    return parse


def _one_flag(make: Callable[[bool], Action]) -> Callable[[list[Any]], Action | None]:
    def parse(args: list[Any]) -> Action | None:
        if len(args) != 1:
            raise OscControlError(f"expected one 0|1 argument, got {len(args)}")
        return make(_flag(args[0]))

    return parse


def _grant(args: list[Any]) -> Action | None:
    if len(args) != 1:
        raise OscControlError(f"grant expects one seat, got {len(args)} arguments")
    return GrantSeat(seat=_seat(args[0]))


def _revoke(args: list[Any]) -> Action | None:
    if not args:
        return RevokeCurrent()
    if len(args) == 1:
        return RevokeSeat(seat=_seat(args[0]))
    raise OscControlError(f"revoke expects at most one seat, got {len(args)} arguments")


_COMMANDS: dict[str, Callable[[list[Any]], Action | None]] = {
    "grant": _grant,
    "next": _no_args(NextSpeaker),
    "revoke": _revoke,
    "revoke_all": _no_args(RevokeAll),
    "priority": _one_flag(lambda on: PriorityHold(on=on)),
    "clear": _no_args(ClearQueue),
    "wide": _no_args(Wide),
    "lock": _one_flag(lambda on: LockProgram(on=on)),
    "agenda": _no_args(AdvanceAgenda),
    "mute_remote": _one_flag(lambda on: MuteRemote(on=on)),
    **{op: _no_args((lambda o: lambda: Broadcast(op=o))(op)) for op in BROADCAST_OPS},
}


class OscControlCodec:
    """Datagrams in (`receive_data`), ControlEvents out (`next_event`).

    A datagram that is not a valid control message comes out as one Malformed; a valid
    message that means "nothing" (a release of a button without release semantics) gives
    nothing at all.
    """

    def __init__(self) -> None:
        self._pending: deque[ControlEvent | Malformed] = deque()
        self.datagrams = 0  # valid control messages decoded

    def receive_data(self, datagram: bytes | None) -> None:
        """One whole datagram; None (end of stream, which UDP never has) is ignored."""
        if datagram is None:
            return
        try:
            event = self._decode(datagram)
        except OscControlError as exc:
            self._queue(Malformed.of("OSC control message", exc, datagram))
            return
        self.datagrams += 1
        if event is not None:
            self._queue(event)

    def next_event(self) -> ControlEvent | Malformed | NeedData:
        return self._pending.popleft() if self._pending else NEED_DATA

    def _queue(self, item: ControlEvent | Malformed) -> None:
        if len(self._pending) >= MAX_PENDING:
            self._pending.popleft()  # caller stopped draining: keep the newest
        self._pending.append(item)

    def _decode(self, datagram: bytes) -> ControlEvent | None:
        if len(datagram) > MAX_DATAGRAM:
            raise OscControlError(f"datagram of {len(datagram)} bytes (max {MAX_DATAGRAM})")
        if is_bundle(datagram):
            raise OscControlError("OSC bundles are not supported; send single messages")
        try:
            message = decode_message(datagram, MAX_DATAGRAM)
        except OscRemoteError as exc:
            raise OscControlError(f"not an OSC message: {exc}") from None
        return self._interpret(message.address, list(message.args))

    @staticmethod
    def _interpret(address: str, args: list[Any]) -> ControlEvent | None:
        head, sep, command = address.rpartition("/")
        if head != PREFIX or not sep:
            raise OscControlError(f"unknown address {address[:80]!r}")
        if command == "key":
            if not 1 <= len(args) <= 2 or not isinstance(args[0], str) or not _KEY.match(args[0]):
                raise OscControlError("key expects <name> [<0|1>]")
            pressed = _flag(args[1]) if len(args) == 2 else True
            return ControlKey(key=args[0], pressed=pressed)
        parse = _COMMANDS.get(command)
        if parse is None:
            raise OscControlError(f"unknown address {address[:80]!r}")
        action = parse(args)
        return ControlAction(action=action) if action is not None else None


def broadcast_datagram(name: str, on: bool) -> bytes:
    """Feedback: `/councild/broadcast/<live|recording|alarm> ,i 0|1`."""
    if not _KEY.match(name):
        raise LocalProtocolError(f"bad broadcast lamp {name!r}")
    return encode_message(f"{PREFIX}/broadcast/{name}", 1 if on else 0)


def seat_state_datagram(seat: str, lamp: SeatLamp) -> bytes:
    """Feedback: `/councild/seat/<id>/state ,s <free|requesting|speaking|over>`."""
    if not _SEAT.match(seat):
        raise LocalProtocolError(f"bad seat id {seat!r}")
    return encode_message(f"{PREFIX}/seat/{seat}/state", lamp.value)


# --- the driver --------------------------------------------------------------------------------


def _host_port(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not 1 <= int(port) <= 65535:
        raise ValueError(f"expected HOST:PORT, got {text!r}")
    return host.strip("[]"), int(port)


class OscControlOptions(KeyedOptions):
    driver: Literal["osc_control"] = "osc_control"
    follow_floor: bool = False  # nothing to switch
    host: str = "127.0.0.1"  # where to listen; Companion on another machine needs its LAN IP
    port: int = Field(default=DEFAULT_PORT, ge=0, le=65535)  # 0 = any free port (tests)
    # Source addresses or networks allowed to send commands; everything else is counted.
    allow: list[str] = Field(default_factory=lambda: ["127.0.0.1", "::1"])
    # UDP on loopback carries no identity: any local process can send. Two optional checks
    # (docs/osc.md): the source port a surface sends from, and a shared secret that every
    # address starts with (/<secret>/councild/grant), read from this environment variable.
    allow_ports: list[Annotated[int, Field(ge=1, le=65535)]] = Field(default_factory=list)
    secret_env: str | None = None
    feedback: str | None = None  # "HOST:PORT" receiving /councild/seat/<id>/state
    keys: dict[str, str] = Field(default_factory=dict)  # for /councild/key names

    @field_validator("allow")
    @classmethod
    def _networks(cls, value: list[str]) -> list[str]:
        for item in value:
            ipaddress.ip_network(item, strict=False)
        return value

    @field_validator("feedback")
    @classmethod
    def _feedback(cls, value: str | None) -> str | None:
        if value is not None:
            _host_port(value)
        return value

    @field_validator("keys")
    @classmethod
    def _keys_valid(cls, value: dict[str, str]) -> dict[str, str]:
        KeyMap.build(value)
        return value


ActionCallback = Callable[[Action], None]


class OscControl(Device, ButtonSurface, ActionSurface):
    """Listens for control messages; actions go to `on_action`, raw keys are emitted as
    KeyPressed (the daemon runs them through its keypad). Feedback via `set_seat_states`."""

    Options = OscControlOptions

    def __init__(
        self, name: str, options: DeviceOptions, emit: Emit,
        on_action: ActionCallback | None = None,
    ) -> None:
        super().__init__(name, options, emit)
        if not isinstance(options, OscControlOptions):
            raise TypeError(f"{name}: expected OscControl.Options")
        self.opts = options
        self.on_action = on_action
        self._allow = [ipaddress.ip_network(a, strict=False) for a in options.allow]
        self._ports = frozenset(options.allow_ports)
        secret = os.environ.get(options.secret_env, "") if options.secret_env else None
        if secret is not None and not secret:
            raise ConfigError(f"devices.{name}.secret_env", [(
                str(options.secret_env), "is empty: the OSC shared secret must be set")])
        self._prefix = f"/{secret}".encode() if secret else None
        self._feedback = _host_port(options.feedback) if options.feedback else None
        self._codec = OscControlCodec()
        self._udp: DatagramLink | None = None
        self._lost: asyncio.Future[None] | None = None
        self._sent_lamps: dict[str, SeatLamp] = {}
        self._sent_broadcast: dict[str, bool] = {}
        self._broadcast: dict[str, bool] = {}
        self._lamps: dict[str, SeatLamp] = {}
        self.rejected = 0  # datagrams from sources not in `allow`
        self.actions = 0  # actions handed to on_action

    @property
    def local_address(self) -> tuple[str, int] | None:
        return None if self._udp is None else self._udp.local_address

    def set_seat_states(self, lamps: Mapping[str, SeatLamp]) -> int:
        """Send the seats whose state changed to the feedback address; returns how many."""
        self._lamps = dict(lamps)
        return self._send_feedback()

    def set_broadcast_lamps(self, lamps: Mapping[str, bool]) -> int:
        """Stream live, recording, broadcast alarm: sent when they change (and all of them
        again after the input restarts)."""
        self._broadcast = dict(lamps)
        if self._feedback is None or self._udp is None:
            return 0
        sent = 0
        for name, on in self._broadcast.items():
            if self._sent_broadcast.get(name) is on:
                continue
            self._udp.sendto(broadcast_datagram(name, on), self._feedback)
            self._sent_broadcast[name] = on
            sent += 1
        return sent

    def _send_feedback(self) -> int:
        if self._feedback is None or self._udp is None:
            return 0
        sent = 0
        for seat, lamp in self._lamps.items():
            if self._sent_lamps.get(seat) is lamp:
                continue
            try:
                self._udp.sendto(seat_state_datagram(seat, lamp), self._feedback)
            except LocalProtocolError:
                continue  # a seat id OSC cannot carry; the configuration forbids these anyway
            self._sent_lamps[seat] = lamp
            sent += 1
        return sent

    async def _session(self) -> None:
        loop = asyncio.get_running_loop()
        self._lost = loop.create_future()
        udp = await open_datagram(
            self._on_datagram, local_addr=(self.opts.host, self.opts.port),
            on_error=self._on_socket_error, on_lost=self._on_lost,
        )
        self._udp = udp
        self._codec = OscControlCodec()
        self._sent_lamps.clear()  # a restarted Companion needs everything again
        self._sent_broadcast.clear()
        try:
            host, port = self.local_address or (self.opts.host, self.opts.port)
            self._connected(f"udp://{host}:{port}")
            self._send_feedback()
            self.set_broadcast_lamps(self._broadcast)
            await self._lost
        finally:
            self._udp = None
            udp.close()

    @staticmethod
    def _on_socket_error(exc: Exception) -> None:
        # ICMP port unreachable from a feedback target that is down: not our link's fault.
        log.debug("osc_control: %s", exc)

    def _on_lost(self, exc: Exception | None) -> None:
        if self._lost is not None and not self._lost.done():
            self._lost.set_exception(exc or ConnectionLostError(_("socket closed")))

    def _allowed(self, addr: Address) -> bool:
        try:
            ip = ipaddress.ip_address(str(addr[0]).split("%")[0])
        except ValueError:
            return False
        if ip.version == 6 and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        return any(ip in net for net in self._allow)

    def _strip_secret(self, data: bytes) -> bytes | None:
        """The datagram with the address's secret prefix removed; None without the right
        one. The prefix is compared in constant time."""
        assert self._prefix is not None
        nul = data.find(b"\0")
        address = data[:nul] if nul >= 0 else b""
        head, sep, rest = address[1:].partition(b"/")
        if not sep or not hmac.compare_digest(b"/" + head, self._prefix):
            return None
        stripped = b"/" + rest
        args_at = (nul + 4) & ~3  # the address is NUL-terminated and padded to 4 bytes
        return stripped + b"\0" * (4 - len(stripped) % 4) + data[args_at:]

    def _on_datagram(self, data: bytes, addr: Address) -> None:
        refusal = None
        if not self._allowed(addr):
            refusal = "not in allow"
        elif self._ports and int(addr[1]) not in self._ports:
            refusal = "source port not in allow_ports"
        elif self._prefix is not None:
            unwrapped = self._strip_secret(data)
            if unwrapped is None:
                refusal = "without the shared secret"
            else:
                data = unwrapped
        if refusal is not None:
            # Counted in the device's errors (what the state shows), logged rate-limited.
            self.rejected += 1
            self._malformed(f"datagram from {addr[0]}:{addr[1]} {refusal}")
            return
        self._codec.receive_data(data)
        bad = False
        while not isinstance(event := self._codec.next_event(), NeedData):
            if isinstance(event, Malformed):
                bad = True
                self._malformed(event.what, OscControlError(event.detail))
            elif isinstance(event, ControlKey):
                self._emit(KeyPressed(device=self.name, key=event.key, pressed=event.pressed))
            elif isinstance(event, ControlAction):
                self._act(event.action)
        if not bad:
            self._seen()  # a valid message, even one that means nothing

    def _act(self, action: Action) -> None:
        if self.on_action is None:
            self.log.debug("%s: %r dropped: no on_action", self.name, action)
            return
        self.actions += 1
        try:
            self.on_action(action)
        except Exception:  # a bug in the callback must not kill the input
            self.log.exception("%s: on_action(%r) failed", self.name, action)
