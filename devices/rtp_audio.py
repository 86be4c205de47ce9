"""A plain-RTP participant of the AudioBridge: any ffmpeg input in, the mix out to any output.

Three parts, each supervised on its own:

- `RtpRelay` owns the one UDP port Janus knows the participant by. Janus's plain-RTP socket is
  connect()ed to the address given in the join (measured on 1.1.2): it takes RTP only *from*
  that port and sends the mix *to* it. ffmpeg cannot send and receive on one port from two
  processes, so the relay does: RTP from the encoder (a local port of the relay's) goes out
  from the participant port to Janus; RTP from Janus goes on to the decoder's port. ffmpeg
  restarts change no address Janus knows; a Janus restart changes only where the relay sends.
  The relay counts packets both ways (what "audio flows" means) and drops anything that is
  not RTP (counted, never logged per packet).
- the *send* ffmpeg: the input (a desk aux bus via ALSA, a test tone ...) → Opus RTP → relay.
- the *return* ffmpeg: relay → the mix decoded → the configured output (the desk's "remote
  return" input via ALSA, a WAV file, raw PCM over UDP in tests), plus 8 kHz mono PCM on its
  stdout, from which the return meter is computed.

`FfmpegRunner` is the supervision shared by both ffmpegs (restart with backoff when it exits,
the last stderr lines as the reason, a status callback), the same policy as the chamber
programme feed (councild.join.chamber), whose process-group termination it reuses.
"""

from __future__ import annotations

import array
import asyncio
import contextlib
import logging
import math
import os
import shutil
import socket
import sys
import tempfile
from collections import deque
from collections.abc import Callable, Sequence
from pathlib import Path

from councild.join.chamber import _terminate, spawn
from councild.model import Link
from devices.base import backoff_delay as base_backoff

__all__ = ["FfmpegRunner", "RtpAudioEndpoint", "RtpRelay", "decoder_args", "encoder_args",
           "rms_dbfs", "sdp_for"]

log = logging.getLogger("councild.rtp_audio")

OPUS_PT = 111
MAX_DATAGRAM = 1500  # an RTP packet of ours or Janus's is far smaller; more is not RTP
RTP_HEADER = 12
# A crash is over in a moment: retry after 0.25 s (audio back well within 2 s), then back off
# to every 10 s so a missing capture device is not hammered.
BACKOFF_FIRST_S = 0.25
BACKOFF_CAP_S = 10.0
STABLE_S = 10.0  # an ffmpeg that ran this long was working: the next failure retries fast
STDERR_LINES = 20
METER_RATE = 8000  # Hz of the PCM the return meter reads: plenty for a level
METER_BLOCK_S = 0.05  # one level reading per 50 ms, like a desk's meter
SILENCE_DBFS = -120.0


def backoff_delay(tries: int) -> float:
    return base_backoff(tries, first=BACKOFF_FIRST_S, factor=2.0, cap=BACKOFF_CAP_S)


def rms_dbfs(pcm: bytes) -> float:
    """RMS level of signed 16-bit little-endian mono PCM, in dBFS (a full-scale sine = -3)."""
    samples = array.array("h")
    samples.frombytes(pcm[: len(pcm) - len(pcm) % 2])
    if sys.byteorder != "little":
        samples.byteswap()
    if not samples:
        return SILENCE_DBFS
    power = sum(s * s for s in samples) / len(samples)
    if power <= 0:
        return SILENCE_DBFS
    return max(SILENCE_DBFS, 10 * math.log10(power / 32768.0**2))


def sdp_for(port: int, host: str = "127.0.0.1") -> str:
    """What the return ffmpeg reads: one Opus stream on `port` (Janus's payload type)."""
    return "\r\n".join(["v=0", f"o=- 0 0 IN IP4 {host}", "s=councild audio bridge return",
                        f"c=IN IP4 {host}", "t=0 0", f"m=audio {port} RTP/AVP {OPUS_PT}",
                        f"a=rtpmap:{OPUS_PT} opus/48000/2"]) + "\r\n"


def encoder_args(ffmpeg: str, input_args: Sequence[str], port: int, *, bitrate: int,
                 frame_ms: int, ssrc: int) -> list[str]:
    """input → mono Opus RTP to the relay. `-application lowdelay` takes Opus's algorithmic
    delay from 26.5 ms to 5 ms; `frame_ms` is the packet time (20: Janus 1.1.2's AudioBridge
    mixes 20 ms frames; 10 ms packets garbled the mix in bench/hybrid_audio.py); `-flush_packets`
    sends each packet as it is made instead of filling a buffer first."""
    return [
        ffmpeg, "-nostdin", "-hide_banner", "-loglevel", "error", "-nostats",
        "-progress", "pipe:1", *input_args,
        "-vn", "-ac", "1", "-ar", "48000", "-c:a", "libopus", "-application", "lowdelay",
        "-b:a", str(bitrate), "-frame_duration", str(frame_ms), "-flush_packets", "1",
        "-ssrc", str(ssrc), "-payload_type", str(OPUS_PT), "-sdp_file", os.devnull,
        "-f", "rtp", f"rtp://127.0.0.1:{port}?pkt_size=1200",
    ]


def decoder_args(ffmpeg: str, sdp_path: str, output_args: Sequence[str]) -> list[str]:
    """The mix → `output_args` and the meter's PCM on stdout. `-fflags nobuffer`, `-flags
    low_delay`, a tiny probe (`-probesize 32 -analyzeduration 0`: the SDP already says what
    the stream is) and no reorder queue keep ffmpeg from holding audio back before output;
    loopback and a LAN do not reorder."""
    return [
        ffmpeg, "-nostdin", "-hide_banner", "-loglevel", "error", "-nostats",
        "-protocol_whitelist", "file,udp,rtp", "-fflags", "nobuffer", "-flags", "low_delay",
        "-probesize", "32", "-analyzeduration", "0", "-reorder_queue_size", "0",
        "-i", sdp_path, *output_args,
        "-map", "0:a", "-ac", "1", "-ar", str(METER_RATE), "-f", "s16le",
        "-flush_packets", "1", "pipe:1",
    ]


StatusCallback = Callable[[Link, str], None]


class FfmpegRunner:
    """One ffmpeg, restarted with backoff whenever it exits, until stopped."""

    def __init__(self, name: str, make_args: Callable[[], list[str]], *,
                 on_status: StatusCallback = lambda link, detail: None,
                 on_stdout: Callable[[bytes], None] | None = None,
                 ready: str = "progress") -> None:
        """`ready`: "progress" (CONNECTED at ffmpeg's first -progress report) or "stdout"
        (CONNECTED at the first bytes on stdout: decoded audio is coming out)."""
        self.name = name
        self._make_args = make_args
        self._on_status = on_status
        self._on_stdout = on_stdout
        self._ready = ready
        self.link = Link.CLOSED
        self.detail = ""
        self.starts = 0
        self._proc: asyncio.subprocess.Process | None = None
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()

    @property
    def pid(self) -> int | None:
        proc = self._proc
        return proc.pid if proc is not None and proc.returncode is None else None

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(),
                                                                name=f"ffmpeg:{self.name}")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.wait([task])
        self._set(Link.CLOSED, "stopped")

    def restart(self) -> None:
        """Start over now (new arguments, e.g. a new Janus stream), without backoff."""
        self._wake.set()
        proc = self._proc
        if proc is not None and proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, 15)

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        tries = 0
        first = True
        while True:
            self._set(Link.CONNECTING if first else Link.RECONNECTING, self.detail)
            first = False
            self._wake.clear()
            args = self._make_args()
            if shutil.which(args[0]) is None:
                reason = f"ffmpeg not found: {args[0]!r} (install the Debian package ffmpeg)"
                tries = max(tries, 6)
            else:
                started = loop.time()
                try:
                    reason = await self._once(args)
                except (OSError, ValueError) as exc:  # a broken pipe, an endless line
                    reason = f"ffmpeg: {type(exc).__name__}: {exc}"
                if loop.time() - started >= STABLE_S:
                    tries = 0
            if self._wake.is_set():  # asked to restart: no backoff, no alarm
                tries = 0
                continue
            log.warning("%s: %s", self.name, reason)
            self._set(Link.LOST, reason)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(backoff_delay(tries)):
                    await self._wake.wait()
            tries += 1

    async def _once(self, args: list[str]) -> str:
        try:
            proc = await spawn(*args)
        except OSError as exc:
            return f"cannot start ffmpeg: {exc}"
        self.starts += 1
        self._proc = proc
        tail: deque[str] = deque(maxlen=STDERR_LINES)
        try:
            await asyncio.gather(self._stdout(proc), self._stderr(proc, tail))
            code = await proc.wait()
        finally:
            self._proc = None
            await _terminate(proc)
            # stopped mid-read, the pipes are still open: close the transport now, not when
            # the garbage collector finds it after the loop is gone
            transport = getattr(proc, "_transport", None)
            if transport is not None:
                transport.close()
        return f"ffmpeg exited with code {code}: {tail[-1] if tail else 'no message'}"

    async def _stdout(self, proc: asyncio.subprocess.Process) -> None:
        assert proc.stdout is not None
        if self._ready == "progress":
            while raw := await _line(proc.stdout):
                if raw.startswith(b"progress="):
                    self._set(Link.CONNECTED, "running")
            return
        while chunk := await proc.stdout.read(4096):
            self._set(Link.CONNECTED, "audio coming out")
            if self._on_stdout is not None:
                self._on_stdout(chunk)

    async def _stderr(self, proc: asyncio.subprocess.Process, tail: deque[str]) -> None:
        assert proc.stderr is not None
        while raw := await _line(proc.stderr):
            line = raw.decode(errors="replace").strip()
            if line:
                tail.append(line[:300])

    def _set(self, link: Link, detail: str) -> None:
        if link == self.link and detail == self.detail:
            return
        self.link, self.detail = link, detail
        try:
            self._on_status(link, detail)
        except Exception:  # a listener's bug must not stop the audio
            log.exception("%s: status listener failed", self.name)


async def _line(stream: asyncio.StreamReader) -> bytes:
    """The next line (b"" at the end); a line beyond the reader's limit comes cut, not as an
    error: ffmpeg's output is not ours to trust."""
    try:
        return await stream.readline()
    except ValueError:  # LimitOverrunError: take what the buffer holds and go on
        return await stream.read(2**16) or b" "


def _is_rtp(data: bytes) -> bool:
    return RTP_HEADER <= len(data) <= MAX_DATAGRAM and data[0] >> 6 == 2


class _Side(asyncio.DatagramProtocol):
    def __init__(self, on_packet: Callable[[bytes, tuple[str, int]], None]) -> None:
        self._on_packet = on_packet

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self._on_packet(data, addr)

    def error_received(self, exc: Exception) -> None:  # ICMP port unreachable: peer not up
        pass


class RtpRelay:
    """The participant's port towards Janus, and a port for the encoder to send to."""

    def __init__(self) -> None:
        self.janus: tuple[str, int] | None = None  # where Janus wants our RTP
        self.decoder_port = 0  # where the mix goes on to (the return ffmpeg's SDP port)
        self.sent = 0  # packets to Janus
        self.received = 0  # packets from Janus
        self.malformed = 0
        self.last_received: float | None = None  # loop time of the newest packet from Janus
        self._outer: asyncio.DatagramTransport | None = None
        self._inner: asyncio.DatagramTransport | None = None
        self._outer_sock: socket.socket | None = None

    async def open(self) -> None:
        loop = asyncio.get_running_loop()
        outer, _ = await loop.create_datagram_endpoint(
            lambda: _Side(self._from_janus), local_addr=("127.0.0.1", 0))
        inner, _ = await loop.create_datagram_endpoint(
            lambda: _Side(self._from_encoder), local_addr=("127.0.0.1", 0))
        self._outer, self._inner = outer, inner

    @property
    def port(self) -> int:
        """The participant's own port: what the join's rtp object names."""
        assert self._outer is not None
        return int(self._outer.get_extra_info("sockname")[1])

    @property
    def encoder_port(self) -> int:
        assert self._inner is not None
        return int(self._inner.get_extra_info("sockname")[1])

    def close(self) -> None:
        for transport in (self._outer, self._inner):
            if transport is not None:
                transport.close()
        self._outer = self._inner = None

    def _from_encoder(self, data: bytes, addr: tuple[str, int]) -> None:
        if not _is_rtp(data):
            self.malformed += 1
            return
        if self.janus is not None and self._outer is not None:
            self._outer.sendto(data, self.janus)
            self.sent += 1

    def _from_janus(self, data: bytes, addr: tuple[str, int]) -> None:
        if self.janus is None or addr != self.janus or not _is_rtp(data):
            self.malformed += 1  # not from Janus's port (a stray sender), or not RTP
            return
        self.received += 1
        self.last_received = asyncio.get_running_loop().time()
        if self.decoder_port and self._outer is not None:
            self._outer.sendto(data, ("127.0.0.1", self.decoder_port))


class RtpAudioEndpoint:
    """Relay + send ffmpeg + return ffmpeg: one plain-RTP participant's audio, supervised."""

    def __init__(self, name: str, input_args: Sequence[str], output_args: Sequence[str], *,
                 ffmpeg: str = "ffmpeg", bitrate: int = 32000, frame_ms: int = 20,
                 ssrc: int = 0x00C0FFEE, meter: bool = False,
                 on_status: Callable[[str, Link, str], None] = lambda part, link, detail: None,
                 on_level: Callable[[float], None] | None = None) -> None:
        self.name = name
        self.meter = meter  # decode the mix for the level even without an output
        self.input_args = list(input_args)
        self.output_args = list(output_args)
        self.ffmpeg = ffmpeg
        self.bitrate = bitrate
        self.frame_ms = frame_ms
        self.ssrc = ssrc
        self.relay = RtpRelay()
        self._on_level = on_level
        self._pcm = bytearray()
        self.level = SILENCE_DBFS
        self._dir = Path(tempfile.mkdtemp(prefix="councild-ab-"))
        self._sdp = self._dir / "return.sdp"
        self._decoder_sock: socket.socket | None = None
        self.sender = FfmpegRunner(f"{name}:send", self._encoder_args,
                                   on_status=lambda lk, d: on_status("send", lk, d))
        self.returner = FfmpegRunner(f"{name}:return", self._decoder_args,
                                     on_status=lambda lk, d: on_status("return", lk, d),
                                     on_stdout=self._meter, ready="stdout")

    async def open(self) -> int:
        """Bind the relay; returns the participant port the join must name."""
        await self.relay.open()
        return self.relay.port

    def start(self) -> None:
        self.sender.start()
        if self.output_args or self.meter:
            self.returner.start()

    def set_janus(self, address: tuple[str, int] | None) -> None:
        """Where Janus takes our RTP now; a new stream from Janus restarts the decoder (its
        RTP demuxer does not follow a change of SSRC and sequence)."""
        if address == self.relay.janus:
            return
        self.relay.janus = address
        if address is not None and self.returner.link is not Link.CLOSED:
            self.returner.restart()

    async def stop(self) -> None:
        await self.sender.stop()
        await self.returner.stop()
        self.relay.close()
        shutil.rmtree(self._dir, ignore_errors=True)

    def _encoder_args(self) -> list[str]:
        return encoder_args(self.ffmpeg, self.input_args, self.relay.encoder_port,
                            bitrate=self.bitrate, frame_ms=self.frame_ms, ssrc=self.ssrc)

    def _decoder_args(self) -> list[str]:
        # a fresh free port each start: the old ffmpeg's socket may linger a moment
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            probe.bind(("127.0.0.1", 0))
            port = int(probe.getsockname()[1])
        if port % 2:  # ffmpeg's RTP takes port+1 for RTCP: start on an even port
            port -= 1
        self._sdp.write_text(sdp_for(port))
        self.relay.decoder_port = port
        return decoder_args(self.ffmpeg, str(self._sdp), self.output_args)

    def _meter(self, chunk: bytes) -> None:
        self._pcm += chunk
        block = int(METER_RATE * METER_BLOCK_S) * 2
        while len(self._pcm) >= block:
            self.level = rms_dbfs(bytes(self._pcm[:block]))
            del self._pcm[:block]
            if self._on_level is not None:
                self._on_level(self.level)

