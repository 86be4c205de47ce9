"""Simulated remote councillors in a real Janus VideoRoom, without any browser.

Each councillor is a VideoRoom "remote publisher" (`add_remote_publisher`, which needs the
room secret): Janus answers with a UDP port on 127.0.0.1, and plain RTP sent there is that
participant's audio. The audio is Opus (a constant comfort-silence frame) carrying the RFC 6464
audio level in the RFC 8285 header extension: Janus's talking detection reads only that level,
so "talking" is a level of LEVEL_TALKING (-20 dBov) and silence is 127. SSRC = 1000 + 10 ×
mindex, as Janus expects of remote publishers. Leaving is `remove_remote_publisher`, which
Janus announces to the room like any participant leaving.

The simulator reuses `devices.janus_client.JanusClient` and `devices.rtp.RtpStream`. It creates the
room (with talking events) if it does not exist yet, as the driver does with create_room.

Service / State / UseCases as in /work/shared/reference/style.md §5. Standalone:
`councild sim remote --url ws://127.0.0.1:8188 --room 1234 --count 3 [--names A,B,C]
[--pattern rotate|silent]` with the secret in $COUNCILD_BRIDGE_SECRET.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import socket
import subprocess
from dataclasses import dataclass, field
from typing import Self

from councild.errors import CouncildError
from devices.audiobridge import AUDIOBRIDGE, GROUP_REMOTE, join_request, parse_event
from devices.janus_client import JanusClient
from devices.janus_protocol import (
    ROOM_EXISTS,
    JanusEvent,
    JanusMessage,
    JanusRequestError,
    Success,
)
from devices.rtp import AUDIO_LEVEL_EXT_ID, LEVEL_SILENT, LEVEL_TALKING, RtpStream
from devices.rtp_audio import RtpAudioEndpoint

__all__ = ["AudioRemote", "AudioRemoteCouncillors", "RemoteCouncillors", "RemoteSimState",
           "RemoteSimUseCases", "add_arguments", "run"]

# One Opus packet carries 20 ms: the real cadence of a WebRTC sender.
PACKET_INTERVAL = 0.02
# Same as the driver: Janus drops idle sessions after session_timeout (60 s by default).
KEEPALIVE_INTERVAL = 15.0
# In the standalone "rotate" pattern each councillor talks this long, in turn.
ROTATE_TALK_S = 4.0
ROTATE_PAUSE_S = 2.0
AUDIO_MINDEX = 0
VIDEO_MINDEX = 1
VIDEO_PT = 96


def _video_encoder(ffmpeg: str, address: tuple[str, int]) -> subprocess.Popen[bytes]:
    """ffmpeg sending a moving test picture as VP8 RTP (SSRC by Janus's remote-publisher
    convention: 1000 + 10 × mindex), in its own process group."""
    host, port = address
    return subprocess.Popen(
        [ffmpeg, "-nostdin", "-loglevel", "error", "-re", "-f", "lavfi",
         "-i", "testsrc=size=320x180:rate=15", "-an", "-c:v", "libvpx", "-deadline",
         "realtime", "-cpu-used", "8", "-b:v", "300k", "-g", "5",
         "-ssrc", str(1000 + 10 * VIDEO_MINDEX), "-payload_type", str(VIDEO_PT),
         "-f", "rtp", f"rtp://{host}:{port}"],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True)


def _stop_process(proc: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(5)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(5)
DEFAULT_NAMES = ("Anna Müller", "Bernd Schulz", "Clara Weber", "Deniz Yilmaz", "Eva Roth")


@dataclass(slots=True)
class Remote:
    """One simulated councillor: their Janus id and where their RTP goes."""

    name: str
    ssrc: int = 1000 + 10 * AUDIO_MINDEX
    participant: str | None = None  # the Janus publisher id while joined
    address: tuple[str, int] | None = None  # Janus's UDP port for this publisher
    talking: bool = False
    stream: RtpStream | None = None
    packets: int = 0


@dataclass(slots=True)
class RemoteSimState:
    remotes: dict[str, Remote] = field(default_factory=dict)
    sent: int = 0  # RTP packets sent in total
    events: list[JanusMessage] = field(default_factory=list)  # room events as the sim saw them


class RemoteSimUseCases:
    """Scenario steps a test or the demo acts out."""

    def __init__(self, sim: RemoteCouncillors) -> None:
        self._sim = sim

    def talk(self, name: str, on: bool = True) -> None:
        """Start (or stop) talking: the level in the next packets changes at once."""
        self._sim.state.remotes[name].talking = on

    async def leave(self, name: str) -> None:
        await self._sim.remove(name)

    async def join(self, name: str) -> str:
        return await self._sim.add(name)


class RemoteCouncillors:
    """Remote publishers in one room, each streaming Opus RTP with an audio level."""

    def __init__(self, url: str, room: int, secret: str, names: list[str] | tuple[str, ...],
                 *, join: bool = True, video: bool = False, ffmpeg: str = "ffmpeg") -> None:
        self.url = url
        self.room = room
        self.secret = secret
        self.state = RemoteSimState({n: Remote(name=n) for n in names})
        self.usecases = RemoteSimUseCases(self)
        self._join_at_start = join
        # Video: each councillor also publishes a VP8 test picture, encoded by ffmpeg (there
        # is no VP8 encoder in Python here) and sent to the same Janus port under its own SSRC.
        self.video = video
        self._ffmpeg = ffmpeg
        self._encoders: dict[str, subprocess.Popen[bytes]] = {}
        self._client: JanusClient | None = None
        self._sock: socket.socket | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def start(self) -> None:
        self._client = await JanusClient.connect(self.url, self.state.events.append)
        await self._ensure_room()
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._sock.setblocking(False)
        for coro, name in ((self._send_loop(), "remote-sim:rtp"),
                           (self._keepalive(), "remote-sim:keepalive")):
            task = asyncio.create_task(coro, name=name)
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        if self._join_at_start:
            for name in list(self.state.remotes):
                await self.add(name)

    async def stop(self) -> None:
        """Remove every publisher we added and close; safe to call twice."""
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks)  # a cancellation of stop() itself still propagates
        client, self._client = self._client, None
        if client is not None:
            for name, remote in self.state.remotes.items():
                if remote.participant is not None:
                    with contextlib.suppress(CouncildError, OSError):
                        await self._remove(client, name)
            await client.close()
        for encoder in self._encoders.values():
            _stop_process(encoder)
        self._encoders.clear()
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    async def add(self, name: str) -> str:
        """add_remote_publisher for `name`; returns the participant id Janus gave it."""
        client = self._need_client()
        remote = self.state.remotes.setdefault(name, Remote(name=name))
        if remote.participant is not None:
            return remote.participant
        reply = await client.plugin({
            "request": "add_remote_publisher", "room": self.room, "secret": self.secret,
            "display": name, "iface": "127.0.0.1",
            "streams": [{"type": "audio", "mid": str(AUDIO_MINDEX), "mindex": AUDIO_MINDEX,
                         "codec": "opus", "audiolevel_ext_id": AUDIO_LEVEL_EXT_ID}]
                       + ([{"type": "video", "mid": str(VIDEO_MINDEX), "mindex": VIDEO_MINDEX,
                            "codec": "vp8"}] if self.video else []),
        })
        data = reply.room.data if isinstance(reply, Success) and reply.room else {}
        remote.participant = str(data["id"])
        remote.address = (str(data.get("ip", "127.0.0.1")), int(data["port"]))
        remote.stream = RtpStream(remote.ssrc)
        if self.video:
            self._encoders[name] = _video_encoder(self._ffmpeg, remote.address)
        return remote.participant

    async def remove(self, name: str) -> None:
        await self._remove(self._need_client(), name)

    async def _remove(self, client: JanusClient, name: str) -> None:
        encoder = self._encoders.pop(name, None)
        if encoder is not None:
            _stop_process(encoder)
        remote = self.state.remotes[name]
        participant, remote.participant, remote.address = remote.participant, None, None
        remote.talking = False
        if participant is None:
            return
        await client.plugin({"request": "remove_remote_publisher", "room": self.room,
                             "secret": self.secret,
                             "id": int(participant) if participant.isdigit() else participant})

    def _need_client(self) -> JanusClient:
        if self._client is None:
            raise CouncildError("remote councillors simulator is not started")
        return self._client

    async def _ensure_room(self) -> None:
        client = self._need_client()
        exists = await client.plugin({"request": "exists", "room": self.room})
        if isinstance(exists, Success) and exists.room and exists.room.data.get("exists"):
            return
        try:
            await client.plugin({
                "request": "create", "room": self.room, "secret": self.secret, "publishers": 16,
                "audiolevel_event": True, "notify_joining": True,
                "audio_active_packets": 50, "audio_level_average": 40,
            })
        except JanusRequestError as exc:
            if exc.code != ROOM_EXISTS:  # the daemon created it since we asked: fine
                raise

    async def _send_loop(self) -> None:
        loop = asyncio.get_running_loop()
        next_at = loop.time()
        while True:
            for remote in self.state.remotes.values():
                if remote.address is None or remote.stream is None or self._sock is None:
                    continue
                level = LEVEL_TALKING if remote.talking else LEVEL_SILENT
                with contextlib.suppress(OSError):  # Janus restarting: the port is gone
                    self._sock.sendto(remote.stream.next_packet(level), remote.address)
                    remote.packets += 1
                    self.state.sent += 1
            # a media clock, not synchronisation: keep the 20 ms cadence without drifting
            next_at += PACKET_INTERVAL
            await asyncio.sleep(max(0.0, next_at - loop.time()))

    async def _keepalive(self) -> None:
        while True:
            await asyncio.sleep(KEEPALIVE_INTERVAL)
            if self._client is not None:
                await self._client.keepalive()


# --- AudioBridge participants: real audio (a tone each) --------------------------------------

# Janus comes back from a restart in well under a second; a rejoin is tried this often.
REJOIN_S = 0.25


@dataclass(slots=True)
class AudioRemote:
    """One simulated councillor in the AudioBridge: a tone out, the mix they hear in."""

    name: str
    display: str
    frequency: float
    endpoint: RtpAudioEndpoint
    participant_id: int | None = None
    participant: str | None = None  # the id Janus knows them by while joined
    joins: int = 0


class AudioRemoteCouncillors:
    """Plain-RTP participants of an AudioBridge room (group "remote"), each sending a sine
    tone and decoding what Janus sends them (everyone else) to an ffmpeg output.

    Like the join page, each joins *muted* and waits for the daemon to unmute them when they
    have the floor, and rejoins by itself (muted again) when Janus restarts. Janus 1.1.2 sends
    no talking events for plain-RTP participants, so these never "talk" for the director;
    what they say is heard (the mix is what the hybrid-audio tests measure).
    """

    def __init__(self, url: str, room: int, *, ffmpeg: str = "ffmpeg",
                 bitrate: int = 24000) -> None:
        self.url = url
        self.room = room
        self.ffmpeg = ffmpeg
        self.bitrate = bitrate
        self.remotes: dict[str, AudioRemote] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}

    def add(self, name: str, frequency: float, output: list[str], *, display: str | None = None,
            participant_id: int | None = None,
            input_args: list[str] | None = None) -> AudioRemote:
        """Declare a councillor; they join at start(). `input_args` replaces the tone (e.g. a
        PCM stream a benchmark generates)."""
        tone = input_args or ["-re", "-f", "lavfi", "-i",
                              f"sine=frequency={frequency}:sample_rate=48000,volume=0.3"]
        endpoint = RtpAudioEndpoint(f"sim:{name}", tone, output, ffmpeg=self.ffmpeg,
                                    bitrate=self.bitrate, ssrc=0x5100 + len(self.remotes))
        remote = AudioRemote(name, display or name, frequency, endpoint, participant_id)
        self.remotes[name] = remote
        return remote

    async def start(self) -> None:
        for name in self.remotes:
            await self.join(name)

    async def join(self, name: str) -> None:
        remote = self.remotes[name]
        if name in self._tasks:
            return
        await remote.endpoint.open()
        remote.endpoint.start()
        self._tasks[name] = asyncio.create_task(self._participate(remote),
                                                name=f"remote-sim:ab:{name}")

    async def leave(self, name: str) -> None:
        task = self._tasks.pop(name, None)
        if task is not None:
            task.cancel()
            await asyncio.wait([task])
        remote = self.remotes[name]
        await remote.endpoint.stop()
        remote.participant = None

    async def stop(self) -> None:
        for name in list(self._tasks):
            await self.leave(name)

    async def _participate(self, remote: AudioRemote) -> None:
        while True:
            try:
                client = await JanusClient.connect(self.url, lambda message: None,
                                                   plugin=AUDIOBRIDGE)
            except CouncildError:
                await asyncio.sleep(REJOIN_S)
                continue
            try:
                joined = await client.plugin(join_request(
                    self.room, display=remote.display, group=GROUP_REMOTE, muted=True,
                    participant_id=remote.participant_id,
                    rtp=("127.0.0.1", remote.endpoint.relay.port)), until_event=True)
                event = parse_event(joined.room.data if isinstance(joined, JanusEvent)
                                    and joined.room else {"audiobridge": "none"})
                if event.rtp is None:
                    raise CouncildError(f"join answered without rtp: {event.data!r}")
                remote.participant = event.participant
                remote.joins += 1
                remote.endpoint.set_janus(event.rtp)
                keep = asyncio.create_task(self._keepalive(client))
                try:
                    await asyncio.wait({client.reader, keep},
                                       return_when=asyncio.FIRST_COMPLETED)
                finally:
                    keep.cancel()
                    await asyncio.wait([keep])
            except (CouncildError, OSError, TimeoutError):
                pass  # the room is not there yet (the daemon creates it), or Janus went away
            finally:
                remote.endpoint.set_janus(None)
                remote.participant = None
                await client.close()
            await asyncio.sleep(REJOIN_S)

    async def _keepalive(self, client: JanusClient) -> None:
        while True:
            await asyncio.sleep(KEEPALIVE_INTERVAL)
            await client.keepalive()


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--url", default="ws://127.0.0.1:8188", help="Janus WebSocket API")
    parser.add_argument("--room", type=int, default=1234, help="VideoRoom room number")
    parser.add_argument("--count", type=int, default=3, help="number of remote councillors")
    parser.add_argument("--names", default="", help="comma-separated display names")
    parser.add_argument("--secret-env", default="COUNCILD_BRIDGE_SECRET",
                        help="environment variable holding the room secret")
    parser.add_argument("--pattern", choices=("rotate", "silent"), default="rotate",
                        help="rotate: each talks in turn; silent: nobody talks")
    parser.add_argument("--video", action="store_true",
                        help="also publish a VP8 test picture each (needs ffmpeg)")
    parser.add_argument("--audio-room", type=int, default=0,
                        help="also join this AudioBridge room, each with a tone (needs ffmpeg)")
    parser.add_argument("--tones", default="600,900,750,1100,1300",
                        help="comma-separated tone frequencies (Hz) for --audio-room")


def _names(args: argparse.Namespace) -> list[str]:
    given = [n.strip() for n in args.names.split(",") if n.strip()]
    names = given or list(DEFAULT_NAMES)
    while len(names) < args.count:
        names.append(f"Remote councillor {len(names) + 1}")
    return names[: args.count]


async def run(args: argparse.Namespace) -> None:
    """Run until cancelled, printing who joined and where their RTP goes."""
    secret = os.environ.get(args.secret_env, "")
    if not secret:
        raise SystemExit(f"${args.secret_env} must hold the room secret")
    sim = RemoteCouncillors(args.url, args.room, secret, _names(args), video=args.video)
    await sim.start()
    audio: AudioRemoteCouncillors | None = None
    if args.audio_room:
        audio = AudioRemoteCouncillors(args.url, args.audio_room)
        tones = [float(t) for t in args.tones.split(",") if t.strip()] or [600.0]
        for i, name in enumerate(_names(args)):
            audio.add(name, tones[i % len(tones)], [])
            print(f"remote councillor {name!r}: {tones[i % len(tones)]:g} Hz in AudioBridge "
                  f"room {args.audio_room} (joins muted; the floor unmutes)", flush=True)
        await audio.start()
    for remote in sim.state.remotes.values():
        print(f"remote councillor {remote.name!r}: participant {remote.participant}, "
              f"RTP to udp://{remote.address[0]}:{remote.address[1]}"
              if remote.address else f"{remote.name!r}: not joined", flush=True)
    try:
        while True:
            for name in list(sim.state.remotes):
                if args.pattern == "silent":
                    await asyncio.sleep(ROTATE_TALK_S)
                    continue
                sim.usecases.talk(name, True)
                await asyncio.sleep(ROTATE_TALK_S)
                sim.usecases.talk(name, False)
                await asyncio.sleep(ROTATE_PAUSE_S)
    finally:
        if audio is not None:
            await audio.stop()
        await sim.stop()


