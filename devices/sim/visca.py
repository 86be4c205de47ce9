"""A Sony VISCA PTZ camera: VISCA over IP on UDP 127.0.0.1, or RS-232 over a pty.

Speaks the wire protocol through `devices.visca.ViscaCodec` in the CAMERA role, with the
behaviour of a real camera as far as councild relies on it:

- a preset recall is ACKed at once (socket 1) and completed after `move_time` seconds;
- a recall or store while a move is under way is refused with error 41 (not executable now,
  socket 0: it was never given a socket) — a second controller, or a driver that does not
  wait, sees what a busy camera answers;
- IF_Clear cancels the move under way (error 04 on its socket) and answers z0 50 FF;
- the power inquiry answers z0 50 02 FF (on); unknown commands get a syntax error (02);
- over IP, replies carry the request's sequence number; a control reset is acknowledged
  and restarts the numbering; a number not above the last one is answered with the
  sequence-abnormality control reply (0F 01) and the command is dropped;
- commands for another address are ignored (on a daisy chain they are someone else's).

Service / State / UseCases as in /work/shared/reference/style.md §5. Standalone:
`councild sim visca --port 52381 [--move-time 2] [--pty]`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import tty
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal, Self

from councild.datagram import DatagramLink, open_datagram
from councild.sansio import Malformed, NeedData
from devices.visca import (
    CONTROL_ERROR_MESSAGE,
    CONTROL_ERROR_SEQUENCE,
    CONTROL_RESET,
    DEFAULT_PORT,
    ERR_CANCELLED,
    ERR_NOT_EXECUTABLE,
    ERR_SYNTAX,
    POWER_ON,
    Ack,
    Completion,
    ControlReply,
    ControlReset,
    Framing,
    IfClear,
    OtherCommand,
    PowerInquiry,
    RecallPreset,
    ReplyError,
    Role,
    StorePreset,
    ViscaCodec,
    ViscaEvent,
)

__all__ = ["ViscaSimState", "ViscaSimUseCases", "ViscaSimulator", "add_arguments", "run"]

# A mid-size PTZ camera crosses a council chamber at preset speed in about two seconds.
DEFAULT_MOVE_TIME_S = 2.0
MOVE_SOCKET = 1  # the socket a move occupies; one move at a time, like a real head
READ_SIZE = 4096

Address = tuple[str, int]
Destination = Address | None  # None on the pty: there is only one peer


@dataclass
class ViscaSimState:
    """What the camera holds and what it last received."""

    address: int = 1
    move_time: float = DEFAULT_MOVE_TIME_S
    powered: bool = True  # False: the camera is dark and answers nothing
    preset: int | None = None  # where it stands (None: between presets / unknown)
    target: int | None = None  # where it is going while moving
    stored: set[int] = field(default_factory=set)
    received: list[ViscaEvent] = field(default_factory=list)
    recalls: list[int] = field(default_factory=list)  # completed recalls, in order
    refused: int = 0  # commands answered with error 41
    errors: int = 0  # malformed input
    last_seq: int | None = None  # IP: last sequence number accepted (None after reset)

    @property
    def moving(self) -> bool:
        return self.target is not None


class ViscaSimulator:
    """The service: one camera on UDP (VISCA over IP) or on a pty (serial VISCA)."""

    def __init__(
        self,
        *,
        transport: Literal["udp", "pty"] = "udp",
        host: str = "127.0.0.1",
        port: int = 0,
        address: int = 1,
        move_time: float = DEFAULT_MOVE_TIME_S,
        state: ViscaSimState | None = None,
    ) -> None:
        self.transport = transport
        self.host = host
        self.port = port
        self.state = state or ViscaSimState(address=address, move_time=move_time)
        self.usecases = ViscaSimUseCases(self)
        framing = Framing.IP if transport == "udp" else Framing.SERIAL
        self._codec = ViscaCodec(Role.CAMERA, framing)
        self._udp: DatagramLink | None = None
        self._master: int | None = None
        self._slave: int | None = None
        self.tty_path: str | None = None
        self._move: asyncio.TimerHandle | None = None
        self._move_reply: Callable[[ViscaEvent], None] | None = None
        self._move_seq: int | None = None
        self._handlers: dict[type[ViscaEvent], Callable[[Any, Destination], None]] = {
            RecallPreset: self.handle_recall,
            StorePreset: self.handle_store,
            IfClear: self.handle_if_clear,
            PowerInquiry: self.handle_power_inquiry,
            OtherCommand: self.handle_other,
            ControlReset: self.handle_control_reset,
        }

    # --- lifecycle -----------------------------------------------------------------------

    async def start(self) -> str:
        """Open the port (UDP port 0 = let the OS choose); returns where it listens."""
        loop = asyncio.get_running_loop()
        if self.transport == "udp":
            self._udp = await open_datagram(
                lambda data, addr: self._receive(data, (str(addr[0]), int(addr[1]))),
                local_addr=(self.host, self.port),
            )
            local = self._udp.local_address
            assert local is not None
            self.port = local[1]
            return f"udp://{self.host}:{self.port}"
        self._master, self._slave = os.openpty()
        tty.setraw(self._master)
        tty.setraw(self._slave)
        os.set_blocking(self._master, False)
        self.tty_path = os.ttyname(self._slave)
        loop.add_reader(self._master, self._read_pty)
        return self.tty_path

    async def stop(self) -> None:
        """Power the link down (a camera unplugged); safe to call twice."""
        self._cancel_move()
        if self._udp is not None:
            self._udp.close()
            self._udp = None
        if self._master is not None:
            asyncio.get_running_loop().remove_reader(self._master)
            for fd in (self._master, self._slave):
                if fd is not None:
                    with contextlib.suppress(OSError):
                        os.close(fd)
            self._master = self._slave = None
        self._codec = ViscaCodec(self._codec.role, self._codec.framing)

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @property
    def address(self) -> Address:
        return self.host, self.port

    # --- wire ----------------------------------------------------------------------------

    def _read_pty(self) -> None:
        assert self._master is not None
        try:
            data = os.read(self._master, READ_SIZE)
        except OSError:  # EIO: nobody has the other end open right now
            return
        if data:
            self._receive(data, None)

    def _receive(self, data: bytes, dest: Destination) -> None:
        if not self.state.powered:
            return
        self._codec.receive_data(data)
        if self._codec.framing is Framing.IP:
            self._codec.end_datagram()
        while not isinstance(event := self._codec.next_event(), NeedData):
            if isinstance(event, Malformed):
                self.state.errors += 1
                if self._codec.framing is Framing.IP:
                    self._send(ControlReply(payload=CONTROL_ERROR_MESSAGE, seq=0), dest)
                continue
            self._dispatch(event, dest)

    def _dispatch(self, event: ViscaEvent, dest: Destination) -> None:
        self.state.received.append(event)
        if isinstance(event, ControlReset):
            self.handle_control_reset(event, dest)
            return
        if getattr(event, "address", self.state.address) != self.state.address:
            return
        if event.seq is not None:
            last = self.state.last_seq
            if last is not None and event.seq <= last:
                self._send(ControlReply(payload=CONTROL_ERROR_SEQUENCE, seq=event.seq), dest)
                return
            self.state.last_seq = event.seq
        self._handlers[type(event)](event, dest)

    def _send(self, event: ViscaEvent, dest: Destination) -> None:
        data = self._codec.send(event)
        if self._udp is not None and dest is not None:
            self._udp.sendto(data, dest)
        elif self._master is not None:
            with contextlib.suppress(OSError):
                os.write(self._master, data)

    def send_raw(self, data: bytes, dest: Destination = None) -> None:
        """Send arbitrary bytes (tests: a corrupted reply)."""
        if self._udp is not None and dest is not None:
            self._udp.sendto(data, dest)
        elif self._master is not None:
            os.write(self._master, data)

    def _reply(self, dest: Destination) -> Callable[[ViscaEvent], None]:
        return lambda event: self._send(event, dest)

    # --- handlers ------------------------------------------------------------------------

    def handle_control_reset(self, event: ControlReset, dest: Destination) -> None:
        self.state.last_seq = None
        self._send(ControlReply(payload=CONTROL_RESET, seq=event.seq), dest)

    def handle_recall(self, event: RecallPreset, dest: Destination) -> None:
        addr = self.state.address
        if self.state.moving:
            self.state.refused += 1
            self._send(
                ReplyError(address=addr, socket=0, code=ERR_NOT_EXECUTABLE, seq=event.seq), dest
            )
            return
        self._send(Ack(address=addr, socket=MOVE_SOCKET, seq=event.seq), dest)
        self._start_move(event.preset, self._reply(dest), event.seq)

    def handle_store(self, event: StorePreset, dest: Destination) -> None:
        addr = self.state.address
        if self.state.moving:
            self.state.refused += 1
            self._send(
                ReplyError(address=addr, socket=0, code=ERR_NOT_EXECUTABLE, seq=event.seq), dest
            )
            return
        self._send(Ack(address=addr, socket=MOVE_SOCKET, seq=event.seq), dest)
        self.state.stored.add(event.preset)
        self._send(Completion(address=addr, socket=MOVE_SOCKET, seq=event.seq), dest)

    def handle_if_clear(self, event: IfClear, dest: Destination) -> None:
        addr = self.state.address
        if self.state.moving and self._move_reply is not None:
            self._move_reply(
                ReplyError(address=addr, socket=MOVE_SOCKET, code=ERR_CANCELLED, seq=self._move_seq)
            )
            self._cancel_move()
            self.state.preset = None  # stopped between two presets
        self._send(Completion(address=addr, socket=0, seq=event.seq), dest)

    def handle_power_inquiry(self, event: PowerInquiry, dest: Destination) -> None:
        data = bytes((POWER_ON,))
        self._send(Completion(address=self.state.address, socket=0, data=data, seq=event.seq), dest)

    def handle_other(self, event: OtherCommand, dest: Destination) -> None:
        addr = self.state.address
        self._send(ReplyError(address=addr, socket=0, code=ERR_SYNTAX, seq=event.seq), dest)

    # --- motion --------------------------------------------------------------------------

    def _start_move(
        self, preset: int, reply: Callable[[ViscaEvent], None] | None, seq: int | None
    ) -> None:
        loop = asyncio.get_running_loop()
        self.state.target = preset
        self.state.preset = None
        self._move_reply = reply
        self._move_seq = seq
        self._move = loop.call_later(self.state.move_time, self._arrive)

    def _arrive(self) -> None:
        target, reply, seq = self.state.target, self._move_reply, self._move_seq
        self._move = None
        self._move_reply = None
        self.state.target = None
        self.state.preset = target
        if target is not None:
            self.state.recalls.append(target)
        if reply is not None and self.state.powered:
            reply(Completion(address=self.state.address, socket=MOVE_SOCKET, seq=seq))

    def _cancel_move(self) -> None:
        if self._move is not None:
            self._move.cancel()
        self._move = None
        self._move_reply = None
        self.state.target = None


class ViscaSimUseCases:
    """Scenarios acted out on the camera."""

    def __init__(self, sim: ViscaSimulator) -> None:
        self._sim = sim

    def operator_recall(self, preset: int) -> None:
        """Someone moves the camera from its own panel or IR remote: no replies to anyone."""
        self._sim._start_move(preset, None, None)

    def power_off(self) -> None:
        """The camera goes dark but the network stays up: nothing answers."""
        self._sim._cancel_move()
        self._sim.state.powered = False

    def power_on(self) -> None:
        self._sim.state.powered = True


# --- standalone: `councild sim visca ...` ----------------------------------------------------


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (loopback)")
    parser.add_argument(
        "--port", type=int, default=DEFAULT_PORT, help="UDP port; 0 = pick a free one"
    )
    parser.add_argument("--address", type=int, default=1, help="VISCA camera address 1..7")
    parser.add_argument(
        "--move-time",
        type=float,
        default=DEFAULT_MOVE_TIME_S,
        help="seconds from a preset recall to its completion",
    )
    parser.add_argument(
        "--pty", action="store_true", help="serial VISCA on a pseudo-terminal instead of UDP"
    )


async def run(args: argparse.Namespace) -> None:
    """Run until cancelled, printing where the camera listens."""
    sim = ViscaSimulator(
        transport="pty" if args.pty else "udp",
        host=args.host,
        port=args.port,
        address=args.address,
        move_time=args.move_time,
    )
    where = await sim.start()
    print(f"VISCA camera {args.address} simulator listening on {where}", flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        await sim.stop()


if __name__ == "__main__":
    _parser = argparse.ArgumentParser(description="Sony VISCA camera simulator")
    add_arguments(_parser)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run(_parser.parse_args()))
