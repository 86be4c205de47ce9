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

Both ffmpegs run under `devices.ffmpeg.FfmpegRunner`, the supervision every ffmpeg of
councild's shares (the chamber programme feed's too): restart with backoff when it exits, the
last stderr line as the reason, a status callback.
"""

from __future__ import annotations

import array
import asyncio
import logging
import math
import os
import shutil
import socket
import sys
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

from councild.model import Link
from councild.supervisor import Backoff
from devices.ffmpeg import FfmpegRunner

__all__ = ["RtpAudioEndpoint", "RtpRelay", "decoder_args", "encoder_args",
           "rms_dbfs", "sdp_for"]

log = logging.getLogger("councild.rtp_audio")

OPUS_PT = 111
MAX_DATAGRAM = 1500  # an RTP packet of ours or Janus's is far smaller; more is not RTP
RTP_HEADER = 12
# A crash is over in a moment: retry after 0.25 s (audio back well within 2 s), then back off
# to every 10 s so a missing capture device is not hammered.
# A missing ffmpeg is retried at the cap too: someone may install it while the session goes on.
BACKOFF = Backoff(first=0.25, factor=2.0, cap=10.0, fatal_retry_s=10.0)
METER_RATE = 8000  # Hz of the PCM the return meter reads: plenty for a level
METER_BLOCK_S = 0.05  # one level reading per 50 ms, like a desk's meter
SILENCE_DBFS = -120.0


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
        self.sender = FfmpegRunner(f"{name}:send", self._encoder_args, backoff=BACKOFF,
                                   on_status=lambda lk, d: on_status("send", lk, d), log=log)
        self.returner = FfmpegRunner(f"{name}:return", self._decoder_args, backoff=BACKOFF,
                                     on_status=lambda lk, d: on_status("return", lk, d),
                                     on_stdout=self._meter, ready="stdout", log=log)

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

