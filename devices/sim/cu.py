"""Conference central unit simulator: the DCS 6000-style ASCII protocol over TCP or a pty.

Delegates press their buttons, the CU keeps the speakers and the request list under its mode
(auto / fifo / manual; vox behaves as auto here) and max speakers, accepts external-control
commands, and sends a notification line to every client for every change, whoever made it
(the client that sent the command included). `mic_status` is answered to the asker only,
in one of the forms devices/conference.py accepts (`status_form`, since what a real CU sends
is not documented): `notify` (default) — one `mic_on N` per open mic, one `mic_request_on N`
per request, then `mic_mode …` and `max_speakers …`; `headed` — a bare `mic_status` line
first and the settings the other way round; `bare` — the lists only, no settings; `line` —
the one-line `mic_status speakers=… requests=…`. In auto, vox and fifo mode a free place goes
to the first request by itself. `mode_locked`: the unit ignores `mic_mode` (a CU whose mode
is set at its own menu).

Serial: `--pty` opens a pseudo-terminal in raw mode and prints the slave path for the driver;
`--link PATH` also keeps a symlink to it, so a restarted simulator (a new pty) is found at the
same path, as /dev/serial/by-id links do for a re-plugged adapter.

Run standalone: `councild sim cu --port 3142` or `councild sim cu --pty [--link /tmp/cu]`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import random
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from councild.i18n import _
from councild.sansio import NeedData
from devices.conference import (
    DEFAULT_TCP_PORT,
    Closed,
    CUEvent,
    DcsCodec,
    DiscussionMode,
    Malformed,
    MaxRequests,
    MaxSpeakers,
    MaxTotalSpeakers,
    MicAllRequestsOff,
    MicInterrupt,
    MicMode,
    MicNextOn,
    MicOff,
    MicOn,
    MicRequestOff,
    MicRequestOn,
    MicStatus,
    MicStatusQuery,
)
from devices.sim.pty import SimPty

# How many received commands the State remembers for tests and the demo's log.
RECEIVED_KEEP = 200
# Pause between random delegate actions: slow enough to follow by eye in the demo.
RANDOM_INTERVAL = (1.0, 4.0)
# Client tasks end within a loop iteration of the abort; the bound only guards a bug.
STOP_TIMEOUT = 1.0

Notify = list[CUEvent]
StatusForm = Literal["notify", "headed", "bare", "line"]
STATUS_FORMS: tuple[StatusForm, ...] = ("notify", "headed", "bare", "line")


@dataclass
class CUState:
    """What the CU holds, and the rules it applies. Pure: methods return the notifications."""

    mode: DiscussionMode = DiscussionMode.AUTO
    max_speakers: int = 4
    max_total_speakers: int = 8
    max_requests: int = 250
    interrupt: bool = False
    speakers: list[int] = field(default_factory=list)  # oldest first
    requests: list[int] = field(default_factory=list)  # first first
    received: deque[CUEvent] = field(default_factory=lambda: deque(maxlen=RECEIVED_KEEP))
    malformed: int = 0
    # True: the CU hangs (reads and ignores everything) — tests the driver's liveness ping.
    frozen: bool = False
    status_form: StatusForm = "notify"
    mode_locked: bool = False  # mic_mode from external control is ignored

    def status(self) -> MicStatus:
        return MicStatus(
            speakers=tuple(self.speakers),
            requests=tuple(self.requests),
            max_speakers=self.max_speakers,
            mode=self.mode,
        )

    def status_answer(self) -> Notify:
        """The lines answering `mic_status`, in `status_form`."""
        if self.status_form == "line":
            return [self.status()]
        lists: Notify = [MicOn(seat=s) for s in self.speakers]
        lists += [MicRequestOn(seat=s) for s in self.requests]
        if self.status_form == "bare":
            return lists
        if self.status_form == "headed":
            return [MicStatusQuery(), *lists, MaxSpeakers(value=self.max_speakers),
                    MicMode(mode=self.mode)]
        return [*lists, MicMode(mode=self.mode), MaxSpeakers(value=self.max_speakers)]

    # --- delegate side --------------------------------------------------------------------

    def press(self, seat: int) -> Notify:
        """A delegate presses the mic button."""
        if seat in self.speakers:
            return self.mic_off(seat)
        if seat in self.requests:
            return self.request_off(seat)
        if self.mode == DiscussionMode.MANUAL:
            return self.request_on(seat)
        if self.mode == DiscussionMode.FIFO or len(self.speakers) < self.max_speakers:
            return self.mic_on(seat)
        return self.request_on(seat)  # auto/vox at the limit: queue

    # --- rules (also what external control asks) ------------------------------------------

    def mic_on(self, seat: int) -> Notify:
        if seat in self.speakers:
            return []
        out: Notify = []
        if len(self.speakers) >= self.max_speakers:
            if self.mode != DiscussionMode.FIFO:
                return []  # full: the CU refuses, nothing changes, nothing is said
            out += self.mic_off(self.speakers[0], advance=False)
        if seat in self.requests:
            out += self.request_off(seat)
        self.speakers.append(seat)
        return [*out, MicOn(seat=seat)]

    def mic_off(self, seat: int, advance: bool = True) -> Notify:
        if seat not in self.speakers:
            return []
        self.speakers.remove(seat)
        out: Notify = [MicOff(seat=seat)]
        moves_up = (DiscussionMode.AUTO, DiscussionMode.VOX, DiscussionMode.FIFO)
        if advance and self.mode in moves_up and self.requests:
            out += self.mic_on(self.requests[0])  # a free place goes to the first request
        return out

    def request_on(self, seat: int) -> Notify:
        if seat in self.speakers or seat in self.requests:
            return []
        if len(self.requests) >= self.max_requests:
            return []
        self.requests.append(seat)
        return [MicRequestOn(seat=seat)]

    def request_off(self, seat: int) -> Notify:
        if seat not in self.requests:
            return []
        self.requests.remove(seat)
        return [MicRequestOff(seat=seat)]

    def all_requests_off(self) -> Notify:
        out: Notify = []
        for seat in list(self.requests):
            out += self.request_off(seat)
        return out

    def next_on(self) -> Notify:
        out: Notify = []
        if self.speakers:
            out += self.mic_off(self.speakers[0], advance=False)
        if self.requests:
            out += self.mic_on(self.requests[0])
        return out

    def set_max_speakers(self, n: int) -> Notify:
        self.max_speakers = n  # speakers above a lowered limit keep talking, as on a CU
        return [MaxSpeakers(value=n)]

    def set_mode(self, mode: DiscussionMode, external: bool = True) -> Notify:
        if mode == self.mode or (external and self.mode_locked):
            return []
        self.mode = mode
        return [MicMode(mode=mode)]


class _PacedLine:
    """The unit's UART at `baud` (8N1: ten bits a byte): what it writes leaves at that rate,
    as on a real serial line (a pty alone delivers at once)."""

    TICK = 0.01  # s between writes to the pty

    def __init__(self, write: Callable[[bytes], None], baud: int) -> None:
        self._write = write
        self._rate = baud / 10.0
        self._buffer = bytearray()
        self._task: asyncio.Task[None] | None = None

    def write(self, data: bytes) -> None:
        self._buffer += data
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._drain())

    async def _drain(self) -> None:
        step = max(1, int(self._rate * self.TICK))
        while self._buffer:
            chunk = bytes(self._buffer[:step])
            del self._buffer[:step]
            self._write(chunk)
            await asyncio.sleep(len(chunk) / self._rate)

    def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
        self._buffer.clear()


class _Client:
    """One connection (TCP or the pty) with its own codec."""

    def __init__(self, write: Callable[[bytes], None]) -> None:
        self.codec = DcsCodec()
        self.write = write


class CUSimulator:
    """The Service: TCP server and/or pty on 127.0.0.1 speaking the CU's ASCII protocol."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int | None = 0,
        *,
        pty: bool = False,
        link: str | None = None,
        state: CUState | None = None,
        baud: int | None = None,
    ) -> None:
        self.baud = baud  # with the pty: the line's speed (None: as fast as the pty goes)
        self._paced: _PacedLine | None = None
        self.host = host
        self.port = port  # None: no TCP server
        self.want_pty = pty
        self.link = link
        self.state = state if state is not None else CUState()
        self.pty: SimPty | None = None
        self._server: asyncio.Server | None = None
        self._clients: list[_Client] = []
        self._writers: dict[asyncio.StreamWriter, _Client] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def usecases(self) -> CUUseCases:
        """Scripted activity (the demo and `start_simulator` callers use this)."""
        return CUUseCases(self)

    @property
    def pty_path(self) -> str | None:
        return self.pty.path if self.pty is not None else None

    @property
    def tcp_clients(self) -> int:
        return len(self._writers)

    async def start(self) -> None:
        if self.port is not None:
            self._server = await asyncio.start_server(self._serve, self.host, self.port)
            self.port = self._server.sockets[0].getsockname()[1]
        if self.want_pty:
            def to_pty(data: bytes) -> None:
                if self.pty is not None:
                    self.pty.write(data)

            write = to_pty
            if self.baud is not None:
                self._paced = _PacedLine(to_pty, self.baud)
                write = self._paced.write
            client = _Client(write)
            self.pty = SimPty(lambda data: self._receive(client, data), self.link)
            self._clients.append(client)

    async def stop(self) -> None:
        """Power off: stop listening, drop every connection, hang up the pty."""
        server, self._server = self._server, None
        if server is not None:
            server.close()
        for writer in list(self._writers):
            writer.transport.abort()
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=STOP_TIMEOUT)
        if server is not None:
            await server.wait_closed()
        if self._paced is not None:
            self._paced.close()
            self._paced = None
        pty, self.pty = self.pty, None
        if pty is not None:
            pty.close()
        self._clients.clear()

    async def __aenter__(self) -> CUSimulator:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        client = _Client(lambda data: None if writer.is_closing() else writer.write(data))
        self._writers[writer] = client
        self._clients.append(client)
        try:
            while data := await reader.read(4096):
                self._receive(client, data)
        except (ConnectionError, OSError):
            pass  # a client vanishing is normal
        finally:
            self._writers.pop(writer, None)
            with contextlib.suppress(ValueError):
                self._clients.remove(client)
            self._tasks.discard(task)
            writer.transport.abort()

    def _receive(self, client: _Client, data: bytes) -> None:
        if self.state.frozen:
            return
        client.codec.receive_data(data)
        while not isinstance(event := client.codec.next_event(), NeedData):
            handler: Callable[[_Client, Any], None] | None = getattr(
                self, f"handle_{type(event).__name__.lower()}", None
            )
            if handler is not None:
                if not isinstance(event, Malformed | Closed):
                    self.state.received.append(event)
                handler(client, event)
            if isinstance(event, Closed):
                break

    def notify(self, events: Notify) -> None:
        """Send notifications to every client."""
        if self.state.frozen:
            return
        for event in events:
            for client in list(self._clients):
                client.write(client.codec.send(event))

    def send_raw(self, data: bytes) -> None:
        """Write arbitrary bytes to every client (line noise, a wrong baud rate)."""
        for client in list(self._clients):
            client.write(data)

    # --- external control -----------------------------------------------------------------

    def handle_micon(self, client: _Client, event: MicOn) -> None:
        self.notify(self.state.mic_on(event.seat))

    def handle_micoff(self, client: _Client, event: MicOff) -> None:
        self.notify(self.state.mic_off(event.seat))

    def handle_micrequeston(self, client: _Client, event: MicRequestOn) -> None:
        self.notify(self.state.request_on(event.seat))

    def handle_micrequestoff(self, client: _Client, event: MicRequestOff) -> None:
        self.notify(self.state.request_off(event.seat))

    def handle_micallrequestsoff(self, client: _Client, event: MicAllRequestsOff) -> None:
        self.notify(self.state.all_requests_off())

    def handle_micnexton(self, client: _Client, event: MicNextOn) -> None:
        self.notify(self.state.next_on())

    def handle_maxspeakers(self, client: _Client, event: MaxSpeakers) -> None:
        self.notify(self.state.set_max_speakers(event.value))

    def handle_maxtotalspeakers(self, client: _Client, event: MaxTotalSpeakers) -> None:
        self.state.max_total_speakers = event.value
        self.notify([event])

    def handle_maxrequests(self, client: _Client, event: MaxRequests) -> None:
        self.state.max_requests = event.value
        self.notify([event])

    def handle_micmode(self, client: _Client, event: MicMode) -> None:
        self.notify(self.state.set_mode(event.mode))

    def handle_micinterrupt(self, client: _Client, event: MicInterrupt) -> None:
        self.state.interrupt = event.on
        self.notify([event])

    def handle_micstatusquery(self, client: _Client, event: MicStatusQuery) -> None:
        client.write(b"".join(client.codec.send(e) for e in self.state.status_answer()))

    def handle_malformed(self, client: _Client, event: Malformed) -> None:
        self.state.malformed += 1


class CUUseCases:
    """Scenarios acted out in the chamber."""

    def __init__(self, sim: CUSimulator) -> None:
        self.sim = sim

    def press(self, seat: int) -> None:
        """Delegate `seat` presses the mic button (meaning depends on mode and state)."""
        self.sim.notify(self.sim.state.press(seat))

    def delegate_requests(self, seat: int) -> None:
        """'Delegate 12 presses request': joins the request list whatever the mode."""
        self.sim.notify(self.sim.state.request_on(seat))

    def delegate_mic_on(self, seat: int) -> None:
        """'Delegate 3 switches mic on' (refused by the CU when full, except in fifo)."""
        self.sim.notify(self.sim.state.mic_on(seat))

    def delegate_mic_off(self, seat: int) -> None:
        self.sim.notify(self.sim.state.mic_off(seat))

    def chair_next(self) -> None:
        """The chair unit's 'next' key."""
        self.sim.notify(self.sim.state.next_on())

    def hang(self, frozen: bool = True) -> None:
        """The CU stops answering without closing the connection."""
        self.sim.state.frozen = frozen

    async def random_activity(self, seats: range, rng: random.Random) -> None:
        """Delegates press at random; the chair moves on now and then."""
        while True:
            await asyncio.sleep(rng.uniform(*RANDOM_INTERVAL))
            if rng.random() < 0.2:
                self.chair_next()
                print(_("cu: chair presses next"), flush=True)
            else:
                seat = rng.choice(seats)
                self.press(seat)
                print(_("cu: delegate {seat} presses the mic button").format(seat=seat), flush=True)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--port", type=int, default=DEFAULT_TCP_PORT, help="TCP port (0 = any)")
    where.add_argument("--pty", action="store_true", help="serve a pseudo-terminal instead")
    parser.add_argument("--link", default=None, help="with --pty: keep a symlink at this path")
    parser.add_argument("--baud", type=int, default=None,
                        help="with --pty: write at this line speed (default: at once)")
    parser.add_argument("--mode", choices=[m.value for m in DiscussionMode], default="auto")
    parser.add_argument("--max-speakers", type=int, default=4)
    parser.add_argument("--status-form", choices=STATUS_FORMS, default="notify",
                        help="how the unit answers mic_status (the real form is undocumented)")
    parser.add_argument("--mode-locked", action="store_true",
                        help="ignore mic_mode from external control")
    parser.add_argument("--script", choices=["random", "none"], default="none")
    parser.add_argument("--seed", type=int, default=None, help="seed for --script random")


async def run(args: argparse.Namespace) -> None:
    state = CUState(mode=DiscussionMode(args.mode), max_speakers=args.max_speakers,
                    status_form=args.status_form, mode_locked=args.mode_locked)
    port = None if args.pty else args.port
    sim = CUSimulator(args.host, port, pty=args.pty, link=args.link, state=state,
                      baud=getattr(args, "baud", None))
    async with sim:
        if sim.pty_path is not None:
            print(_("cu simulator on serial pty {path}").format(path=sim.pty_path), flush=True)
            if args.link:
                text = _("cu simulator link {link} -> {path}")
                print(text.format(link=args.link, path=sim.pty_path), flush=True)
        else:
            text = _("cu simulator listening on {host}:{port}")
            print(text.format(host=sim.host, port=sim.port), flush=True)
        if args.script == "random":
            await CUUseCases(sim).random_activity(range(1, 25), random.Random(args.seed))
        else:
            await asyncio.Event().wait()
