"""A Behringer X32 (or X-Air) desk over real UDP on 127.0.0.1, for tests and the demo.

It speaks the wire protocol of protocols.md §1 through the same OSC helpers as the driver
and follows the desk's semantics, not the driver's expectations:

- GET (bare address) → the value, sent back to the sender's ip:port.
- SET → no acknowledgement; a change is pushed to every *other* live `/xremote`
  subscriber, never echoed to the client that sent it — and a SET that leaves the value as
  it was is pushed to nobody (the desk reports changes, not commands).
- `/xremote` lasts `subscription_s` (10 s) unless renewed; at most 4 subscribers.
- `/info`, `/xinfo`, `/status` answer; unknown addresses get silence.
- `/meters ,si /meters/1 tf` streams /meters/1 blobs every 50 ms × tf for ~10 s. With
  `meters_one_client` (some X32 implementations) the stream goes to one client only: the
  last to ask takes it, and the one before receives nothing until it asks again.
- Channel names nobody set are empty strings, as on the desk.

Three parts, as every simulator here: `X32Simulator` (the service), `X32SimState` (what the
desk holds and what it last received) and `X32SimUseCases` (scenarios: a delegate talks, the
technician unmutes a channel on the surface, random council activity).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import math
import random
from collections import deque
from dataclasses import dataclass, field
from typing import Final, Self

from councild.datagram import DatagramLink, open_datagram
from councild.i18n import _
from devices.osc import OscArg, OscMessage, OscRemoteError, decode_message, encode_message
from devices.x32 import (
    MAX_DATAGRAM,
    X32,
    X32_TYPES,
    XAIR,
    Variant,
    channel_address,
    encode_meter_blob,
)

__all__ = [
    "X32SimState",
    "X32SimUseCases",
    "X32Simulator",
    "add_arguments",
    "run",
]

# How long an /xremote subscription lasts without renewal (desk behaviour).
SUBSCRIPTION_S: Final = 10.0
# The reference emulator serves at most this many /xremote clients; extra ones are ignored.
MAX_SUBSCRIBERS: Final = 4
# Meter period for time factor 1 (desk behaviour).
METER_PERIOD_S: Final = 0.05
# How long a /meters request streams without renewal (desk behaviour).
METER_STREAM_S: Final = 10.0
# The level an open but unused microphone shows: preamp and room noise.
SILENCE_DBFS: Final = -90.0
# Scribble-strip names are cut to this many characters by the desk.
NAME_MAX: Final = 12
# Keep this many received messages for tests to inspect.
RECEIVED_KEEP: Final = 512

Address = tuple[str, int]


@dataclass
class X32SimState:
    """Everything the desk holds, plus what it has received."""

    variant: Variant
    channels: int
    on: dict[int, bool] = field(default_factory=dict)  # True = audible, False = muted
    names: dict[int, str] = field(default_factory=dict)
    faders: dict[int, float] = field(default_factory=dict)
    colors: dict[int, int] = field(default_factory=dict)
    levels: dict[int, float] = field(default_factory=dict)  # dBFS at the input meter
    main_on: bool = True
    main_fader: float = 0.75
    received: deque[tuple[Address, OscMessage]] = field(
        default_factory=lambda: deque(maxlen=RECEIVED_KEEP)
    )
    errors: int = 0  # datagrams that were not valid OSC

    @classmethod
    def initial(cls, variant: Variant, channels: int | None = None) -> X32SimState:
        n = variant.channels if channels is None else channels
        state = cls(variant=variant, channels=n)
        for ch in range(1, n + 1):
            # A council desk starts with every delegate microphone closed.
            state.on[ch] = False
            state.names[ch] = ""  # the desk's default: unset
            state.faders[ch] = 0.75  # 0 dB
            state.colors[ch] = 2
            state.levels[ch] = SILENCE_DBFS
        return state

    def addresses_received(self) -> list[str]:
        return [msg.address for _sender, msg in self.received]


@dataclass
class _MeterStream:
    expires: float
    period: float
    next_due: float


class X32Simulator:
    """The service: one UDP socket on 127.0.0.1, dispatching each message to `handle_*`."""

    def __init__(
        self,
        *,
        xair: bool = False,
        host: str = "127.0.0.1",
        port: int = 0,
        channels: int | None = None,
        state: X32SimState | None = None,
        subscription_s: float = SUBSCRIPTION_S,
        meter_stream_s: float = METER_STREAM_S,
        server_name: str | None = None,
        meters_one_client: bool = False,
    ) -> None:
        self.meters_one_client = meters_one_client
        self.meters_halted = False  # the desk's meter engine stopped (see X32SimUseCases)
        self.variant = XAIR if xair else X32
        self.state = state or X32SimState.initial(self.variant, channels)
        self.usecases = X32SimUseCases(self)
        self.host = host
        self.port = port
        self.subscription_s = subscription_s
        self.meter_stream_s = meter_stream_s
        self.server_name = server_name or f"{self.variant.model}-SIM"
        self._udp: DatagramLink | None = None
        self._subscribers: dict[Address, float] = {}  # address → expiry (loop time)
        self._meters: dict[Address, _MeterStream] = {}
        self._meter_wakeup = asyncio.Event()
        self._meter_task: asyncio.Task[None] | None = None
        self._fixed = {
            "/info": self.handle_info,
            "/xinfo": self.handle_xinfo,
            "/status": self.handle_status,
            "/xremote": self.handle_xremote,
            "/meters": self.handle_meters,
        }
        self._params: dict[str, tuple[str, int]] = {
            f"{self.variant.main}/mix/on": ("main_on", 0),
            f"{self.variant.main}/mix/fader": ("main_fader", 0),
        }
        for ch in range(1, self.state.channels + 1):
            for leaf, kind in (
                ("mix/on", "on"),
                ("mix/fader", "fader"),
                ("config/name", "name"),
                ("config/color", "color"),
            ):
                self._params[channel_address(ch, leaf)] = (kind, ch)

    # --- lifecycle -----------------------------------------------------------------------------

    async def start(self) -> Address:
        """Bind (port 0 = let the OS choose) and start; returns the address listened on."""
        self._udp = await open_datagram(
            lambda data, addr: self._datagram(data, (str(addr[0]), int(addr[1]))),
            local_addr=(self.host, self.port),
        )
        local = self._udp.local_address
        assert local is not None
        self.port = local[1]
        self._meter_task = asyncio.create_task(self._stream_meters(), name="x32-sim:meters")
        return self.host, self.port

    async def stop(self) -> None:
        """Close the socket and forget subscribers (a powered-off desk); safe to call twice."""
        task, self._meter_task = self._meter_task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._udp is not None:
            self._udp.close()
            self._udp = None
        self._subscribers.clear()
        self._meters.clear()

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @property
    def address(self) -> Address:
        return self.host, self.port

    def subscribers(self) -> list[Address]:
        """The live /xremote subscribers now."""
        now = asyncio.get_running_loop().time()
        return [a for a, exp in self._subscribers.items() if exp > now]

    # --- dispatch ----------------------------------------------------------------------------

    def _datagram(self, data: bytes, addr: Address) -> None:
        try:
            msg = decode_message(data, MAX_DATAGRAM, X32_TYPES)
        except OscRemoteError:
            self.state.errors += 1  # the desk ignores garbage
            return
        self.state.received.append((addr, msg))
        handler = self._fixed.get(msg.address)
        if handler is not None:
            handler(msg, addr)
            return
        param = self._params.get(msg.address)
        if param is not None:
            self.handle_param(param, msg, addr)
        # anything else: silence, as on the desk

    def _send(self, datagram: bytes, addr: Address) -> None:
        if self._udp is not None:
            self._udp.sendto(datagram, addr)

    def send_raw(self, datagram: bytes, addr: Address) -> None:
        """Send arbitrary bytes from the desk's socket (tests: a corrupted datagram)."""
        self._send(datagram, addr)

    def push(self, address: str, value: OscArg, exclude: Address | None = None) -> None:
        """Tell every live /xremote subscriber except `exclude` about a change."""
        datagram = encode_message(address, value)
        for addr in self.subscribers():
            if addr != exclude:
                self._send(datagram, addr)

    # --- handlers ----------------------------------------------------------------------------

    def handle_info(self, msg: OscMessage, addr: Address) -> None:
        version = "V2.07" if self.variant is X32 else "V0.04"
        firmware = "4.06" if self.variant is X32 else "1.17"
        self._send(
            encode_message("/info", version, self.server_name, self.variant.model, firmware), addr
        )

    def handle_xinfo(self, msg: OscMessage, addr: Address) -> None:
        firmware = "4.06" if self.variant is X32 else "1.17"
        self._send(
            encode_message("/xinfo", self.host, self.server_name, self.variant.model, firmware),
            addr,
        )

    def handle_status(self, msg: OscMessage, addr: Address) -> None:
        self._send(encode_message("/status", "active", self.host, self.server_name), addr)

    def handle_xremote(self, msg: OscMessage, addr: Address) -> None:
        now = asyncio.get_running_loop().time()
        live = {a: e for a, e in self._subscribers.items() if e > now}
        if addr in live or len(live) < MAX_SUBSCRIBERS:
            live[addr] = now + self.subscription_s
        self._subscribers = live

    def handle_meters(self, msg: OscMessage, addr: Address) -> None:
        if self.meters_halted:
            return
        if not msg.args or msg.args[0] != "/meters/1":
            return  # only bank 1 is simulated; the desk's other banks get silence here
        ints = [a for a in msg.args[1:] if isinstance(a, int)]
        factor = min(max(ints[-1], 1), 99) if ints else 1
        now = asyncio.get_running_loop().time()
        if self.meters_one_client:
            self._meters.clear()  # this client takes the stream
        self._meters[addr] = _MeterStream(
            expires=now + self.meter_stream_s, period=METER_PERIOD_S * factor, next_due=now
        )
        self._meter_wakeup.set()

    def handle_param(self, param: tuple[str, int], msg: OscMessage, addr: Address) -> None:
        kind, ch = param
        if not msg.args:
            self._send(encode_message(msg.address, self._get(kind, ch)), addr)
            return
        value = self._coerce(kind, msg.args[0])
        if value is None:
            return  # wrong type: the desk ignores it
        before = self._get(kind, ch)
        self._set(kind, ch, value)
        if self._get(kind, ch) != before:  # an unchanged value is not pushed
            self.push(msg.address, self._get(kind, ch), exclude=addr)

    # --- parameter storage -----------------------------------------------------------------

    def _get(self, kind: str, ch: int) -> OscArg:
        s = self.state
        if kind == "on":
            return 1 if s.on[ch] else 0
        if kind == "fader":
            return float(s.faders[ch])
        if kind == "name":
            return s.names[ch]
        if kind == "color":
            return s.colors[ch]
        if kind == "main_on":
            return 1 if s.main_on else 0
        return float(s.main_fader)

    @staticmethod
    def _coerce(kind: str, arg: OscArg) -> OscArg | None:
        # The desk converts a float sent to an int parameter (and vice versa); values that
        # are not numbers at all (NaN, infinities, strings) are ignored like any bad SET.
        if not isinstance(arg, str | bytes) and not math.isfinite(arg):
            return None
        if kind in ("on", "main_on", "color"):
            if not isinstance(arg, int | float):
                return None
            value = round(arg)
            return (1 if value else 0) if kind != "color" else min(max(value, 0), 15)
        if kind in ("fader", "main_fader"):
            if not isinstance(arg, int | float):
                return None
            return min(max(float(arg), 0.0), 1.0)
        if not isinstance(arg, str):
            return None
        return arg[:NAME_MAX]

    def _set(self, kind: str, ch: int, value: OscArg) -> None:
        s = self.state
        if kind == "on":
            s.on[ch] = bool(value)
        elif kind == "fader":
            s.faders[ch] = float(value)
        elif kind == "name":
            s.names[ch] = str(value)
        elif kind == "color":
            s.colors[ch] = int(value)
        elif kind == "main_on":
            s.main_on = bool(value)
        else:
            s.main_fader = float(value)

    def surface_set(self, address: str, value: OscArg) -> None:
        """A change made at the desk itself: stored and pushed to every subscriber."""
        kind, ch = self._params[address]
        coerced = self._coerce(kind, value)
        if coerced is None:
            raise TypeError(f"{address}: {value!r} has the wrong type")
        before = self._get(kind, ch)
        self._set(kind, ch, coerced)
        if self._get(kind, ch) != before:
            self.push(address, self._get(kind, ch))

    # --- meters ------------------------------------------------------------------------------

    def meter_datagram(self) -> bytes:
        s = self.state
        levels = [s.levels[ch] for ch in range(1, s.channels + 1)]
        return encode_message("/meters/1", encode_meter_blob(self.variant, levels))

    async def _stream_meters(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            now = loop.time()
            self._meters = {a: m for a, m in self._meters.items() if m.expires > now}
            if not self._meters:
                self._meter_wakeup.clear()
                await self._meter_wakeup.wait()
                continue
            datagram: bytes | None = None
            for addr, stream in self._meters.items():
                if stream.next_due <= now:
                    datagram = datagram or self.meter_datagram()
                    self._send(datagram, addr)
                    # Keep the cadence; after a stall, restart it rather than burst.
                    stream.next_due = max(stream.next_due + stream.period, now)
            delay = min(m.next_due for m in self._meters.values()) - loop.time()
            if delay > 0:
                self._meter_wakeup.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._meter_wakeup.wait(), delay)


class X32SimUseCases:
    """Scenarios acted out on the simulated desk."""

    def __init__(self, sim: X32Simulator) -> None:
        self.sim = sim

    def talk(self, channel: int, dbfs: float = -20.0) -> None:
        """Channel `channel` starts talking at `dbfs` on its input meter."""
        self.sim.state.levels[channel] = dbfs

    def silence(self, channel: int | None = None) -> None:
        """One channel (or all) falls silent."""
        chans = [channel] if channel is not None else list(self.sim.state.levels)
        for ch in chans:
            self.sim.state.levels[ch] = SILENCE_DBFS

    def surface_switch(self, channel: int, on: bool) -> None:
        """The technician presses the channel's mute button on the desk."""
        self.sim.surface_set(channel_address(channel, "mix/on"), 1 if on else 0)

    def surface_unmute(self, channel: int) -> None:
        self.surface_switch(channel, True)

    def halt_meters(self, halted: bool = True) -> None:
        """The desk stops streaming meters to anyone, and ignores /meters (or resumes)."""
        self.sim.meters_halted = halted
        if halted:
            self.sim._meters.clear()

    def surface_mute(self, channel: int) -> None:
        self.surface_switch(channel, False)

    def surface_rename(self, channel: int, name: str) -> None:
        self.sim.surface_set(channel_address(channel, "config/name"), name)

    async def random_activity(self, rng: random.Random | None = None) -> None:
        """Delegates speak one after another, with pauses between words; runs until cancelled.

        Now and then the technician switches the speaker's channel on the surface, as happens
        when the desk, not councild, is master of the microphones.
        """
        rng = rng or random.Random()
        channels = list(self.sim.state.levels)
        while True:
            ch = rng.choice(channels)
            if rng.random() < 0.3:
                self.surface_unmute(ch)
            end = asyncio.get_running_loop().time() + rng.uniform(2.0, 8.0)
            base = rng.uniform(-32.0, -14.0)
            while asyncio.get_running_loop().time() < end:
                # Syllables and short pauses: the level moves, sometimes drops for a breath.
                if rng.random() < 0.15:
                    self.silence(ch)
                else:
                    self.talk(ch, base + rng.uniform(-6.0, 6.0))
                await asyncio.sleep(0.1)
            self.silence(ch)
            if rng.random() < 0.3:
                self.surface_mute(ch)
            await asyncio.sleep(rng.uniform(0.5, 3.0))


# --- standalone: `councild sim x32 ...` --------------------------------------------------------


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (loopback)")
    parser.add_argument(
        "--port",
        type=int,
        default=None,
        help="UDP port; 0 = pick a free one (default: 10023, or 10024 with --xair)",
    )
    parser.add_argument("--xair", action="store_true", help="simulate an X-Air XR18 instead")
    parser.add_argument("--channels", type=int, default=None, help="number of input channels")
    parser.add_argument(
        "--script",
        choices=("random", "none"),
        default="random",
        help="random: delegates talk and the surface switches channels; none: idle",
    )
    parser.add_argument("--seed", type=int, default=None, help="seed for --script random")
    parser.add_argument("--meters-one-client", action="store_true",
                        help="stream /meters/1 to the last client that asked only")


async def run(args: argparse.Namespace) -> None:
    """Run until cancelled, printing where the simulator listens."""
    variant = XAIR if args.xair else X32
    port = variant.default_port if args.port is None else args.port
    sim = X32Simulator(xair=args.xair, host=args.host, port=port, channels=args.channels,
                       meters_one_client=getattr(args, "meters_one_client", False))
    host, bound = await sim.start()
    print(
        _("{name} simulator listening on udp://{host}:{port}").format(
            name=variant.name, host=host, port=bound
        ),
        flush=True,
    )
    try:
        if args.script == "random":
            await sim.usecases.random_activity(random.Random(args.seed))
        else:
            await asyncio.Event().wait()
    finally:
        await sim.stop()


if __name__ == "__main__":  # the bench runs the simulator in its own process this way
    _parser = argparse.ArgumentParser(description="X32 / X-Air simulator")
    add_arguments(_parser)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run(_parser.parse_args()))
