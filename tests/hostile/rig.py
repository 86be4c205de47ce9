"""The hostile-input rig: `councild run` as a real process with a desk (SQ simulator), a
conference unit (CU simulator), the TCP API and optionally the join page with a real Janus;
an attack from a process of its own (tests/hostile/attacks.py); and what the contract of
issue 16 measures during it:

- `ping` on the Unix socket every 20 ms from a connection opened before the attack:
  p50 ≤ 100 ms, max ≤ 500 ms;
- no device declared lost (every device status change is in the store);
- the daemon's log grows by less than 1 MB, its store (database and WAL) by less than 1 MB;
- its memory (RSS) is back within 10 MB of the start once the attack has ended.

Also the daemon's CPU during the attack, for bench/abuse.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import sqlite3
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from councild.api import ApiClient
from devices.sim.cu import CUSimulator
from devices.sim.sq import SQSimulator
from tests.chamber import BASE, DaemonProcess

TOKEN = "hostile-suite-token-0123456789"
TOKEN_ENV = "COUNCILD_HOSTILE_TOKEN"
JANUS_SECRET_ENV = "COUNCILD_HOSTILE_JANUS_SECRET"
PAGE_TOKEN = "P" * 8 + "hostile-page-token-abcdefghij"
ROOM = 4242
PROBE_INTERVAL = 0.02
MB = 1024 * 1024
ATTACK_SECONDS = 4.0  # longer than the 3 s in which a silent device is declared lost


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Figures:
    """What one attack did to the daemon."""

    name: str
    pings_ms: list[float] = field(default_factory=list)
    devices_lost: list[str] = field(default_factory=list)
    log_growth: int = 0
    store_growth: int = 0
    rss_start: int = 0
    rss_after: int = 0
    cpu_fraction: float = 0.0
    attacker: dict[str, Any] = field(default_factory=dict)

    @property
    def p50(self) -> float:
        return statistics.median(self.pings_ms)

    @property
    def p99(self) -> float:
        ordered = sorted(self.pings_ms)
        return ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]

    @property
    def worst(self) -> float:
        return max(self.pings_ms)

    def line(self) -> str:
        return (f"{self.name}: ping p50 {self.p50:.1f} ms, p99 {self.p99:.1f} ms, max "
                f"{self.worst:.1f} ms ({len(self.pings_ms)} pings); daemon CPU "
                f"{self.cpu_fraction * 100:.0f} %; devices lost {len(self.devices_lost)}; "
                f"log +{self.log_growth / 1024:.1f} KiB, store +{self.store_growth / 1024:.1f} "
                f"KiB; RSS {self.rss_start / MB:.1f} → {self.rss_after / MB:.1f} MB; "
                f"attacker {self.attacker}")

    def problems(self) -> list[str]:
        """Where the contract of issue 16 is broken (empty: it holds)."""
        out = []
        if self.p50 > 100 or self.worst > 500:
            out.append(f"ping p50 {self.p50:.1f} ms / max {self.worst:.1f} ms")
        if self.devices_lost:
            out.append(f"devices lost: {self.devices_lost}")
        if self.log_growth >= MB:
            out.append(f"log grew {self.log_growth} bytes")
        if self.store_growth >= MB:
            out.append(f"store grew {self.store_growth} bytes")
        if self.rss_after - self.rss_start > 10 * MB:
            out.append(f"memory {self.rss_start} → {self.rss_after}")
        return out


class Rig:
    def __init__(self, folder: Path, janus_url: str | None = None) -> None:
        self.folder = folder
        self.janus_url = janus_url
        self.sq = SQSimulator("127.0.0.1", 0)
        self.cu = CUSimulator("127.0.0.1", 0)
        self.tcp_port = free_port()
        self.join_port = free_port() if janus_url else None
        self.daemon: DaemonProcess | None = None
        self.probe: ApiClient | None = None

    def config(self) -> str:
        parts = [BASE, '[[seats]]\nid = "C"\nlabel = "Chair"\ncouncillor = "chair"\n']
        for i in range(1, 5):
            parts.append(f'[[councillors]]\nid = "m{i}"\nname = "Member {i}"\n')
            parts.append(f'[[seats]]\nid = "{i}"\nlabel = "{i:02d}"\ncouncillor = "m{i}"\n'
                         f'mic = {{ device = "desk", channel = {i} }}\n')
        parts.append(f'[devices.desk]\ndriver = "sq"\nhost = "127.0.0.1"\nport = {self.sq.port}\n'
                     'channels = [1, 2, 3, 4]\n')
        parts.append(f'[devices.cu]\ndriver = "dcs"\ntransport = "tcp"\nhost = "127.0.0.1"\n'
                     f'port = {self.cu.port}\nmaster = "councild"\n')
        parts.append(f'[api]\ntcp = "127.0.0.1:{self.tcp_port}"\ntoken_env = "{TOKEN_ENV}"\n')
        if self.janus_url:
            parts.append('[[councillors]]\nid = "r1"\nname = "Remote One"\n')
            parts.append('[[seats]]\nid = "R1"\nlabel = "R1"\ncouncillor = "r1"\nremote = true\n')
            parts.append(f'[devices.bridge]\ndriver = "janus"\nurl = "{self.janus_url}"\n'
                         f'room = {ROOM}\nsecret_env = "{JANUS_SECRET_ENV}"\n'
                         'create_room = true\n')
            tokens = self.folder / "tokens.toml"
            fd = os.open(tokens, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write(f'r1 = "{PAGE_TOKEN}"\n')
            parts.append(f'[bridge]\ndevice = "bridge"\ntokens_file = "{tokens}"\n')
            parts.append(f'[join]\nenabled = true\nbind = "127.0.0.1:{self.join_port}"\n')
        return "\n".join(parts)

    async def start(self) -> None:
        await self.sq.start()
        await self.cu.start()
        config = self.folder / "config.toml"
        config.write_text(self.config())
        os.environ[TOKEN_ENV] = TOKEN
        os.environ[JANUS_SECRET_ENV] = "hostile-janus-room-secret"
        self.daemon = DaemonProcess(config, self.folder / "s.db", self.folder / "a.sock",
                                    self.folder / "log")
        await self.daemon.start()
        self.probe = await ApiClient.connect(self.daemon.sock)
        expected = {"desk", "cu", *(["bridge"] if self.janus_url else [])}
        for _ in range(500):
            devices = (await self.probe.request("state"))["state"]["devices"]
            if all(devices.get(n, {}).get("link") == "connected" for n in expected):
                return
            await asyncio.sleep(0.02)
        raise AssertionError(f"devices did not connect: {devices}")

    async def stop(self) -> None:
        if self.probe is not None:
            with contextlib.suppress(Exception):
                await self.probe.close()
        if self.daemon is not None:
            self.daemon.stop()
        await self.sq.stop()
        await self.cu.stop()

    # --- measuring ------------------------------------------------------------------------

    def _proc(self) -> int:
        assert self.daemon is not None and self.daemon.proc is not None
        return self.daemon.proc.pid

    def rss(self) -> int:
        for line in Path(f"/proc/{self._proc()}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        raise AssertionError("no VmRSS")

    def cpu_seconds(self) -> float:
        fields = Path(f"/proc/{self._proc()}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def store_size(self) -> int:
        assert self.daemon is not None
        return sum(p.stat().st_size for p in (self.daemon.db, Path(f"{self.daemon.db}-wal"))
                   if p.exists())

    def lost_devices(self, since_seq: int) -> list[str]:
        assert self.daemon is not None
        with contextlib.closing(sqlite3.connect(self.daemon.db)) as db:
            rows = db.execute("SELECT source, body FROM log WHERE kind = 'device' AND seq > ?",
                              (since_seq,)).fetchall()
        return [src for src, body in rows if json.loads(body).get("link") != "connected"]

    def last_seq(self) -> int:
        assert self.daemon is not None
        with contextlib.closing(sqlite3.connect(self.daemon.db)) as db:
            return int(db.execute("SELECT COALESCE(MAX(seq), 0) FROM log").fetchone()[0])

    async def _pings(self, until: asyncio.Event, into: list[float]) -> None:
        assert self.probe is not None
        while not until.is_set():
            t0 = time.perf_counter()
            reply = await self.probe.request("ping")
            into.append((time.perf_counter() - t0) * 1000)
            assert reply["ok"], reply
            await asyncio.sleep(PROBE_INTERVAL)

    async def attack(self, name: str, **args: Any) -> Figures:
        """Run one attack (a process of its own, or `garbage` here) and measure it."""
        assert self.daemon is not None
        figures = Figures(name)
        args = {"seconds": ATTACK_SECONDS, "socket": str(self.daemon.sock),
                "tcp_port": self.tcp_port, "join_port": self.join_port, "token": TOKEN,
                "page_token": PAGE_TOKEN, **args}
        await asyncio.sleep(0.3)
        figures.rss_start = self.rss()
        log_start = self.daemon.log.stat().st_size
        store_start = self.store_size()
        seq = self.last_seq()
        cpu_start, t_start = self.cpu_seconds(), time.monotonic()
        stop = asyncio.Event()
        prober = asyncio.create_task(self._pings(stop, figures.pings_ms))
        try:
            if name == "garbage":
                figures.attacker = await self._garbage(float(args["seconds"]))
            else:
                proc = await asyncio.create_subprocess_exec(
                    sys.executable, "-m", "tests.hostile.attacks", name, json.dumps(args),
                    stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
                out, err = await asyncio.wait_for(proc.communicate(), args["seconds"] + 30)
                if proc.returncode != 0:
                    raise AssertionError(f"attack {name} failed: {err.decode()[-2000:]}")
                figures.attacker = json.loads(out.decode().strip().splitlines()[-1])
            figures.cpu_fraction = ((self.cpu_seconds() - cpu_start)
                                    / (time.monotonic() - t_start))
            await asyncio.sleep(0.5)  # still measured: the end of an attack counts too
        finally:
            stop.set()
            await prober
        figures.devices_lost = self.lost_devices(seq)
        figures.log_growth = self.daemon.log.stat().st_size - log_start
        figures.store_growth = self.store_size() - store_start
        for _ in range(50):  # memory comes back once dropped clients' buffers are freed
            figures.rss_after = self.rss()
            if figures.rss_after - figures.rss_start <= 10 * MB:
                break
            await asyncio.sleep(0.1)
        return figures

    async def _garbage(self, seconds: float) -> dict[str, int]:
        """Random bytes on the desk's link, ~200 kB/s, while the desk keeps answering."""
        rng = random.Random(6)
        sent = 0
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            chunk = rng.randbytes(4096)
            self.sq.send_raw(chunk)
            sent += len(chunk)
            await asyncio.sleep(0.02)
        return {"bytes": sent}
