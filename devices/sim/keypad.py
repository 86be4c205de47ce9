"""A serial button box on a pseudo-terminal, and an OSC sender standing in for Companion.

`ButtonBoxSimulator` is the box's end of a pty speaking devices/keypad_serial.py's line
protocol (it reuses that module's codec): it answers PING with PONG and sends KEY lines when
a use case presses a key. `link=PATH` keeps a symlink to the pty, like /dev/serial/by-id/,
so the driver finds a re-plugged box (a new pty) under the same name.

`OscSender` sends the OSC control messages of devices/osc_control.py from a UDP socket on
127.0.0.1, as Bitfocus Companion's generic-OSC buttons would.

`councild sim keypad` runs the box and prints its pty path; with `--osc HOST:PORT ADDRESS
[ARGS...]` it sends one OSC message instead.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import random
import socket
import sys
from collections import deque
from dataclasses import dataclass, field
from typing import Self

from pythonosc.osc_message_builder import OscMessageBuilder

from councild.i18n import _
from councild.sansio import Malformed, NeedData
from devices.keypad_serial import (
    BoxSideCodec,
    Hello,
    KeyChange,
    Ping,
    Pong,
)
from devices.sim.pty import SimPty

# Host lines kept for tests to inspect.
RECEIVED_KEEP = 256
FIRMWARE = "councild-sim-box 1.0"


@dataclass
class ButtonBoxState:
    """What the box holds and what it received."""

    down: set[str] = field(default_factory=set)
    pings: int = 0
    errors: int = 0  # host lines that were not PING
    received: deque[str] = field(default_factory=lambda: deque(maxlen=RECEIVED_KEEP))
    answer_pings: bool = True  # False: a hung box (firmware stuck)


class ButtonBoxSimulator:
    """Service: the box on a pty. start()/stop(), or `async with`."""

    def __init__(self, link: str | None = None) -> None:
        self.link = link
        self.state = ButtonBoxState()
        self.usecases = ButtonBoxUseCases(self)
        self._codec = BoxSideCodec()
        self._pty: SimPty | None = None

    @property
    def path(self) -> str:
        """Where the driver opens the box: the symlink if there is one, else the pty."""
        if self.link is not None:
            return self.link
        assert self._pty is not None, "simulator not started"
        return self._pty.path

    @property
    def plugged(self) -> bool:
        return self._pty is not None

    async def start(self) -> str:
        self.plug()
        return self.path

    async def stop(self) -> None:
        self.unplug()

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def plug(self) -> None:
        """Connect the box (a fresh pty: a re-plugged USB adapter gets a new tty, too)."""
        if self._pty is None:
            self._codec = BoxSideCodec()
            self._pty = SimPty(self._receive, self.link)
            self._write(Hello(text=FIRMWARE))

    def unplug(self) -> None:
        """Pull the cable: the driver's reads fail; keys held stay held at the box."""
        if self._pty is not None:
            self._pty.close()
            self._pty = None

    def send_raw(self, data: bytes) -> None:
        if self._pty is not None:
            self._pty.write(data)

    def _write(self, event: KeyChange | Hello | Pong) -> None:
        self.send_raw(self._codec.send(event))

    def _receive(self, data: bytes) -> None:
        self._codec.receive_data(data)
        while not isinstance(event := self._codec.next_event(), NeedData):
            if isinstance(event, Malformed):
                self.state.errors += 1
                self.state.received.append(f"? {event.detail} {event.data!r}")
                continue
            self.state.received.append(type(event).__name__)
            if isinstance(event, Ping):
                self.handle_ping(event)

    def handle_ping(self, event: Ping) -> None:
        self.state.pings += 1
        if self.state.answer_pings:
            self._write(Pong())

    def key(self, name: str, pressed: bool) -> None:
        if pressed:
            self.state.down.add(name)
        else:
            self.state.down.discard(name)
        self._write(KeyChange(name=name, pressed=pressed))


class ButtonBoxUseCases:
    """Scenarios acted out at the box."""

    def __init__(self, sim: ButtonBoxSimulator) -> None:
        self.sim = sim

    def press(self, name: str) -> None:
        self.sim.key(name, True)

    def release(self, name: str) -> None:
        self.sim.key(name, False)

    def tap(self, name: str) -> None:
        self.press(name)
        self.release(name)

    def type_seat(self, seat: str, enter: str = "ENTER") -> None:
        """The chair types a seat number and Enter."""
        for digit in seat:
            self.tap(digit)
        self.tap(enter)

    async def random_activity(self, rng: random.Random | None = None) -> None:
        """The chair calls seats 1-8 and the next speaker now and then; until cancelled."""
        rng = rng or random.Random()
        while True:
            await asyncio.sleep(rng.uniform(3.0, 8.0))
            if rng.random() < 0.5:
                self.type_seat(str(rng.randint(1, 8)))
            else:
                self.tap("NEXT")


# --- the OSC sender (Companion stand-in) -------------------------------------------------------

OscArg = int | float | str


def osc_datagram(address: str, *args: OscArg) -> bytes:
    """One OSC message; ints stay ints (Companion sends `,i`)."""
    builder = OscMessageBuilder(address=address)
    for arg in args:
        builder.add_arg(arg)
    return builder.build().dgram


class OscSender:
    """A UDP socket on 127.0.0.1 (port 0 unless given) sending OSC to one target."""

    def __init__(self, target: tuple[str, int], bind: tuple[str, int] = ("127.0.0.1", 0)) -> None:
        self.target = target
        family = socket.AF_INET6 if ":" in bind[0] else socket.AF_INET
        self._sock = socket.socket(family, socket.SOCK_DGRAM)
        self._sock.bind(bind)

    @property
    def address(self) -> tuple[str, int]:
        host, port = self._sock.getsockname()[:2]
        return str(host), int(port)

    def send(self, address: str, *args: OscArg) -> None:
        self._sock.sendto(osc_datagram(address, *args), self.target)

    def send_raw(self, datagram: bytes) -> None:
        self._sock.sendto(datagram, self.target)

    def close(self) -> None:
        self._sock.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# --- standalone: `councild sim keypad ...` -----------------------------------------------------


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--link", default=None, help="keep a symlink to the pty at this path")
    parser.add_argument("--script", choices=("random", "none"), default="random",
                        help="random: the chair calls seats now and then; none: idle")
    parser.add_argument("--seed", type=int, default=None, help="seed for --script random")
    parser.add_argument("--osc", metavar="HOST:PORT", default=None,
                        help="send one OSC message (ADDRESS ARGS...) there instead")
    parser.add_argument("message", nargs="*", help="with --osc: /councild/grant 4")


def _osc_arg(text: str) -> OscArg:
    for kind in (int, float):
        with contextlib.suppress(ValueError):
            return kind(text)
    return text


async def run(args: argparse.Namespace) -> None:
    """Run the box until cancelled, printing its pty; or send one OSC message with --osc."""
    if args.osc:
        host, _sep, port = args.osc.rpartition(":")
        if not args.message:
            print(_("--osc needs an address, e.g. /councild/next"), file=sys.stderr)
            return
        with OscSender((host.strip("[]") or "127.0.0.1", int(port))) as sender:
            sender.send(args.message[0], *[_osc_arg(a) for a in args.message[1:]])
        return
    sim = ButtonBoxSimulator(link=args.link)
    path = await sim.start()
    print(_("button box simulator on {path}").format(path=path), flush=True)
    try:
        if args.script == "random":
            await sim.usecases.random_activity(random.Random(args.seed))
        else:
            await asyncio.Event().wait()
    finally:
        await sim.stop()


if __name__ == "__main__":
    _parser = argparse.ArgumentParser(description="serial button box simulator / OSC sender")
    add_arguments(_parser)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run(_parser.parse_args()))
