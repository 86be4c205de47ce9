"""Hybrid audio latency: tone-burst onset remote → chamber return, and chamber → remote.

A real Janus (AudioBridge), the real daemon in-process with [bridge.audio], real ffmpeg. The
chamber's send and remote councillor A's microphone are PCM streams this script generates
(s16le over UDP into their send ffmpeg, as a desk's ALSA input would be read), so the instant
a burst starts is known; the chamber return and what A hears are decoded to PCM over UDP and
timestamped on arrival. Onset = the first sample above a threshold, placed within its
datagram. Bursts alternate: A speaks (→ return), then the chamber (→ A), `--bursts` each.

Then every participant sends a steady tone (chamber 440, A 600, B 900 Hz, all with the
floor) for 2 s, and `own_voice_db` is the worst, over the three, of a participant's own tone
in what it receives relative to the loudest other tone there (mix-minus: far below zero).

CPU: Janus and every ffmpeg of the run, user+system time over the measured span, in % of a
core.

    python bench/hybrid_audio.py [--bursts 50] [--prebuffer 2]

`--prebuffer` (Janus's per-participant buffer, 20 ms packets) shows what it buys; the README's
figures are for the default.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import socket
import statistics
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from councild.config import parse  # noqa: E402
from councild.daemon import Daemon  # noqa: E402
from councild.model import Grant  # noqa: E402
from devices.sim.janus_server import JanusServer  # noqa: E402
from devices.sim.remote import AudioRemoteCouncillors  # noqa: E402
from tests.audio.capture import RATE, PcmCapture, open_capture, output_args, tone_db  # noqa: E402

SECRET_ENV = "COUNCILD_BENCH_AB_SECRET"
AB_ROOM = 8181
PCM_RATE = 48000
CHUNK = 960  # 20 ms of PCM per datagram, the cadence of a sound card period
BURST_S = 0.12
GAP_S = 0.33  # between a burst and the next one (the other direction)
THRESHOLD = 0.05 * 32768  # a burst is at 0.3 of full scale; Opus silence is far below


def config_text(janus_url: str, send_port: int, return_port: int, prebuffer: int = 2) -> str:
    send = ["-f", "s16le", "-ar", str(PCM_RATE), "-ac", "1",
            "-i", f"udp://127.0.0.1:{send_port}?overrun_nonfatal=1"]
    q = lambda args: "[" + ", ".join(f'"{a}"' for a in args) + "]"  # noqa: E731
    return f"""
[session]
title = "Hybrid audio bench"
date = 2026-11-25
[floor]
mode = "request"
max_open = 3
[[councillors]]
id = "chair"
name = "Chair"
role = "chair"
[[councillors]]
id = "r1"
name = "Anna Remote"
[[councillors]]
id = "r2"
name = "Bernd Remote"
[[seats]]
id = "C"
label = "Chair"
councillor = "chair"
[[seats]]
id = "R1"
label = "R1"
councillor = "r1"
remote = true
[[seats]]
id = "R2"
label = "R2"
councillor = "r2"
remote = true
[devices.bridge]
driver = "janus"
url = "{janus_url}"
room = 8180
secret_env = "{SECRET_ENV}"
create_room = true
[bridge]
device = "bridge"
[bridge.audio]
url = "{janus_url}"
room = {AB_ROOM}
secret_env = "{SECRET_ENV}"
bitrate = 24000
prebuffer = {prebuffer}
send = {q(send)}
output = {q(output_args(return_port))}
"""


class PcmSource:
    """Real-time s16le PCM into an ffmpeg's UDP input: silence, bursts, or a steady tone."""

    def __init__(self, port: int, frequency: float) -> None:
        self.address = ("127.0.0.1", port)
        self.frequency = frequency
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.burst_until = 0.0  # loop time until which the tone plays
        self.steady = False
        self._phase = 0

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        next_at = loop.time()
        t = np.arange(CHUNK)
        while True:
            now = loop.time()
            on = self.steady or now < self.burst_until
            if on:
                x = 0.3 * np.sin(2 * math.pi * self.frequency * (t + self._phase) / PCM_RATE)
                pcm = (x * 32767).astype("<i2").tobytes()
            else:
                pcm = b"\x00\x00" * CHUNK
            self._phase += CHUNK
            self.sock.sendto(pcm, self.address)
            next_at += CHUNK / PCM_RATE
            await asyncio.sleep(max(0.0, next_at - loop.time()))


def onset(capture: PcmCapture, after: float) -> float | None:
    """Loop time of the first sample above THRESHOLD in datagrams that arrived after `after`."""
    for arrived, samples in capture.chunks:
        if arrived <= after:
            continue
        loud = np.flatnonzero(np.abs(samples) > THRESHOLD)
        if loud.size:
            return arrived - (len(samples) - int(loud[0])) / RATE
    return None


def cpu_seconds(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def pct(values: list[float], q: float) -> float:
    if not values:
        raise SystemExit("no burst was heard: the audio path is broken")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


async def main(bursts: int, prebuffer: int = 2) -> None:
    os.environ[SECRET_ENV] = "bench-secret"
    with tempfile.TemporaryDirectory(prefix="bench-ab-") as folder:
        janus = JanusServer("janus", Path(folder))
        janus.start()
        try:
            return await _measure(janus, folder, bursts, prebuffer)
        finally:
            janus.stop()  # also when the setup failed: nothing of ours outlives the bench


async def _measure(janus: JanusServer, folder: str, bursts: int, prebuffer: int) -> None:
    ret, at_a, at_b = await open_capture(), await open_capture(), await open_capture()
    send_port, mic_port = _free_udp(), _free_udp()
    daemon = Daemon(parse(config_text(janus.url, send_port, ret.port, prebuffer)),
                    store_path=Path(folder) / "s.db", socket_path=Path(folder) / "a.sock")
    chamber_src, mic_src = PcmSource(send_port, 440.0), PcmSource(mic_port, 600.0)
    sims = AudioRemoteCouncillors(janus.url, AB_ROOM)
    sims.add("Anna Remote", 600, output_args(at_a.port), input_args=[
        "-f", "s16le", "-ar", str(PCM_RATE), "-ac", "1",
        "-i", f"udp://127.0.0.1:{mic_port}?overrun_nonfatal=1"])
    sims.add("Bernd Remote", 900, output_args(at_b.port))
    sources = [asyncio.create_task(s.run()) for s in (chamber_src, mic_src)]
    try:
        await daemon.start()
        await _until(lambda: daemon.audio is not None
                     and daemon.device_views["audiobridge"].link.value == "connected", 15)
        await sims.start()
        await _until(lambda: set(daemon.audio.at_seat) == {"R1", "R2"}, 15)
        daemon.submit(Grant(seat="R1"), "bench")
        await _until(lambda: not daemon.audio.bridge.roster[
            daemon.audio.at_seat["R1"]].muted, 10)
        await asyncio.sleep(1.5)  # every ffmpeg up, the mixes flowing
        loop = asyncio.get_running_loop()
        pids = [janus.proc.pid, *_ffmpeg_pids(daemon, sims)]
        cpu0, t0 = {p: cpu_seconds(p) for p in pids}, loop.time()
        r2c: list[float] = []
        c2r: list[float] = []
        for _ in range(bursts):
            for src, capture, out in ((mic_src, ret, r2c), (chamber_src, at_a, c2r)):
                start = loop.time()
                src.burst_until = start + BURST_S
                await asyncio.sleep(GAP_S)
                when = onset(capture, start)
                if when is not None and when >= start:
                    out.append((when - start) * 1000)
        span = loop.time() - t0
        cpu = {p: (cpu_seconds(p) - cpu0[p]) / span * 100 for p in pids}
        # steady tones, everyone with the floor: each participant's own voice
        daemon.submit(Grant(seat="R2"), "bench")
        chamber_src.steady = mic_src.steady = True
        await asyncio.sleep(2.0)
        own = []
        for capture, mine, others in ((ret, 440.0, (600.0, 900.0)),
                                      (at_a, 600.0, (440.0, 900.0)),
                                      (at_b, 900.0, (440.0, 600.0))):
            samples = capture.recent(1.0)
            own.append(tone_db(samples, mine) - max(tone_db(samples, f) for f in others))
    finally:
        for task in sources:
            task.cancel()
        await sims.stop()
        await daemon.stop()
        for c in (ret, at_a, at_b):
            c.close()
    for label, values in (("remote → chamber return", r2c), ("chamber → remote", c2r)):
        print(f"{label}: n={len(values)} p50 {pct(values, 50):.1f} p95 {pct(values, 95):.1f} "
              f"p99 {pct(values, 99):.1f} ms (min {min(values):.1f}, mean "
              f"{statistics.fmean(values):.1f})")
    print(f"CPU over {span:.1f} s: janus {cpu[pids[0]]:.1f} %, ffmpeg (6 processes) "
          f"{sum(v for p, v in cpu.items() if p != pids[0]):.1f} % of a core")
    print("own voice relative to the loudest other tone, dB: "
          + ", ".join(f"{n} {v:.1f}" for n, v in zip(("chamber", "A", "B"), own, strict=True)))
    print(f"RESULT remote_to_chamber_p50_ms={pct(r2c, 50):.1f} "
          f"remote_to_chamber_p99_ms={pct(r2c, 99):.1f} "
          f"chamber_to_remote_p50_ms={pct(c2r, 50):.1f} "
          f"chamber_to_remote_p99_ms={pct(c2r, 99):.1f} own_voice_db={max(own):.1f}")


def _free_udp() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _ffmpeg_pids(daemon: Daemon, sims: AudioRemoteCouncillors) -> list[int]:
    runners = [daemon.audio.endpoint.sender, daemon.audio.endpoint.returner]
    for remote in sims.remotes.values():
        runners += [remote.endpoint.sender, remote.endpoint.returner]
    return [r.pid for r in runners if r.pid is not None]


async def _until(predicate, timeout: float) -> None:  # type: ignore[no-untyped-def]
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            raise SystemExit("bench setup did not come up in time")
        await asyncio.sleep(0.05)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bursts", type=int, default=50)
    parser.add_argument("--prebuffer", type=int, default=2)
    options = parser.parse_args()
    asyncio.run(main(options.bursts, options.prebuffer))
