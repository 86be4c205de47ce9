"""Allen & Heath SQ (or Qu) desk simulator: MIDI over TCP, mutes only.

Behaves like the desk as far as councild cares: answers an SQ GET with the absolute NRPN mute
form (to the asker only), applies a SET, and pushes every change to the *other* connected
clients — a surface change goes to all of them. (Whether the real desk echoes a SET to its
sender is unverified; the driver copes either way.) `--variant qu` speaks the Qu/dLive
note-on form instead, which has no GET. `process_delay` makes the desk take that long per
incoming message, in order, as a real desk's MIDI handling does: answers to a burst of GETs
then trickle in, and anything sent after the GETs is applied after the last answer.

Run standalone: `councild sim sq --port 51325 [--variant qu] [--script random]`.
"""

from __future__ import annotations

import argparse
import asyncio
import random
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from councild.i18n import _
from councild.sansio import NeedData
from devices.allen_heath import (
    DEFAULT_PORT,
    QU_FIRST_NOTE,
    SQ_MUTE_PARAMS,
    AHEvent,
    Closed,
    Malformed,
    MuteQuery,
    MuteState,
    QuCodec,
    SQCodec,
    Strip,
)

Variant = Literal["sq", "qu"]
# How many received commands the State remembers for tests and the demo's log.
RECEIVED_KEEP = 200
# Pause between random surface presses: slow enough to follow by eye in the demo.
RANDOM_INTERVAL = (1.0, 4.0)
# Client tasks end within a loop iteration of the abort; the bound only guards a bug.
STOP_TIMEOUT = 1.0


@dataclass
class SQState:
    """What the desk holds, and what it last received."""

    variant: Variant = "sq"
    muted: dict[tuple[Strip, int], bool] = field(default_factory=dict)
    received: deque[AHEvent] = field(default_factory=lambda: deque(maxlen=RECEIVED_KEEP))
    malformed: int = 0
    # True: the desk hangs (reads and ignores everything) — tests the driver's liveness ping.
    frozen: bool = False

    def __post_init__(self) -> None:
        for strip, (_first, count) in SQ_MUTE_PARAMS.items():
            for index in range(1, count + 1):
                self.muted.setdefault((strip, index), False)

    def is_muted(self, channel: int, strip: Strip = Strip.INPUT) -> bool:
        return self.muted[(strip, channel)]


class SQSimulator:
    """The Service: a TCP server on 127.0.0.1 speaking the desk's MIDI."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        variant: Variant = "sq",
        midi_channel: int = 1,
        first_note: int = QU_FIRST_NOTE,
        state: SQState | None = None,
        process_delay: float = 0.0,
    ) -> None:
        self.process_delay = process_delay
        self.host = host
        self.port = port
        self.variant = variant
        self.midi_channel = midi_channel
        self.first_note = first_note
        self.state = state if state is not None else SQState(variant=variant)
        self._server: asyncio.Server | None = None
        self._clients: dict[asyncio.StreamWriter, SQCodec | QuCodec] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def usecases(self) -> SQUseCases:
        """Scripted activity (the demo and `start_simulator` callers use this)."""
        return SQUseCases(self)

    @property
    def clients(self) -> int:
        return len(self._clients)

    def _codec(self) -> SQCodec | QuCodec:
        if self.variant == "qu":
            return QuCodec(self.midi_channel, self.first_note)
        return SQCodec(self.midi_channel)

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, self.host, self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        """Power off: stop listening and drop every connection at once."""
        server, self._server = self._server, None
        if server is not None:
            server.close()
        for writer in list(self._clients):
            writer.transport.abort()
        self._clients.clear()
        # Aborted transports end every client task by EOF; cancelling them instead would make
        # asyncio's stream callback log the cancellation as an error.
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=STOP_TIMEOUT)
        if server is not None:
            await server.wait_closed()

    async def __aenter__(self) -> SQSimulator:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        codec = self._codec()
        self._clients[writer] = codec
        try:
            while data := await reader.read(4096):
                if self.state.frozen:
                    continue
                codec.receive_data(data)
                while not isinstance(event := codec.next_event(), NeedData):
                    if isinstance(event, Closed):
                        break
                    if self.process_delay > 0:
                        await asyncio.sleep(self.process_delay)
                    self._dispatch(writer, event)
        except (ConnectionError, OSError):
            pass  # a client vanishing is normal for a desk
        finally:
            self._clients.pop(writer, None)
            self._tasks.discard(task)
            writer.transport.abort()

    def _dispatch(self, writer: asyncio.StreamWriter, event: AHEvent | Malformed) -> None:
        handler: Callable[[asyncio.StreamWriter, Any], None] | None = getattr(
            self, f"handle_{type(event).__name__.lower()}", None
        )
        if handler is not None:
            handler(writer, event)

    def handle_mutestate(self, writer: asyncio.StreamWriter, event: MuteState) -> None:
        self.state.received.append(event)
        self.set_mute(event.index, event.muted, event.strip, source=writer)

    def handle_mutequery(self, writer: asyncio.StreamWriter, event: MuteQuery) -> None:
        self.state.received.append(event)
        answer = event.response(self.state.muted[(event.strip, event.index)])
        self._send(writer, answer)

    def handle_malformed(self, writer: asyncio.StreamWriter, event: Malformed) -> None:
        self.state.malformed += 1

    def handle_closed(self, writer: asyncio.StreamWriter, event: Closed) -> None:
        pass

    def set_mute(
        self,
        channel: int,
        muted: bool,
        strip: Strip = Strip.INPUT,
        source: asyncio.StreamWriter | None = None,
    ) -> None:
        """Change a mute and tell every client except the one that asked for it."""
        key = (strip, channel)
        if self.state.muted[key] == muted:
            return
        self.state.muted[key] = muted
        for writer in list(self._clients):
            if writer is not source:
                self._send(writer, MuteState(strip=strip, index=channel, muted=muted))

    def send_raw(self, data: bytes) -> None:
        """Write arbitrary bytes to every client (line noise, a firmware bug)."""
        for writer in list(self._clients):
            if not writer.is_closing():
                writer.write(data)

    def _send(self, writer: asyncio.StreamWriter, event: MuteState) -> None:
        codec = self._clients.get(writer)
        if codec is None or writer.is_closing() or self.state.frozen:
            return
        if isinstance(codec, QuCodec) and event.strip != Strip.INPUT:
            return  # the Qu form only maps inputs
        writer.write(codec.send(event))


class SQUseCases:
    """Scenarios acted out on the desk surface."""

    def __init__(self, sim: SQSimulator) -> None:
        self.sim = sim

    def surface_mute(self, channel: int, muted: bool = True) -> None:
        """The engineer presses a channel's mute key on the desk."""
        self.sim.set_mute(channel, muted)

    def surface_unmute(self, channel: int) -> None:
        self.sim.set_mute(channel, False)

    def hang(self, frozen: bool = True) -> None:
        """The desk stops answering without closing the connection."""
        self.sim.state.frozen = frozen

    async def random_activity(self, channels: range, rng: random.Random) -> None:
        """Toggle random mutes forever, as a busy engineer would."""
        while True:
            await asyncio.sleep(rng.uniform(*RANDOM_INTERVAL))
            channel = rng.choice(channels)
            muted = not self.sim.state.is_muted(channel)
            self.surface_mute(channel, muted)
            text = _("sq: surface mutes input {n}") if muted else _("sq: surface unmutes input {n}")
            print(text.format(n=channel), flush=True)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help="TCP port (0 = any)")
    parser.add_argument("--variant", choices=["sq", "qu"], default="sq")
    parser.add_argument("--midi-channel", type=int, default=1)
    parser.add_argument("--script", choices=["random", "none"], default="none")
    parser.add_argument("--seed", type=int, default=None, help="seed for --script random")


async def run(args: argparse.Namespace) -> None:
    sim = SQSimulator(args.host, args.port, variant=args.variant, midi_channel=args.midi_channel)
    async with sim:
        text = _("{variant} simulator listening on {host}:{port} (MIDI channel {channel})")
        print(
            text.format(
                variant=args.variant, host=sim.host, port=sim.port, channel=args.midi_channel
            ),
            flush=True,
        )
        if args.script == "random":
            await SQUseCases(sim).random_activity(range(1, 17), random.Random(args.seed))
        else:
            await asyncio.Event().wait()
