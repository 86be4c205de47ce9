from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from councild.api import ApiClient
from councild.config import parse
from councild.daemon import Daemon

BASE = """
[session]
title = "Test session"
date = 2026-11-25

[floor]
mode = "request"
max_open = 2
[floor.speaking_limit]
member = 0
chair = 0

[[agenda]]
id = "1"
title = "Opening"

[[agenda]]
id = "2"
title = "Budget"

[[councillors]]
id = "chair"
name = "Clara Chair"
role = "chair"
"""


def chamber_toml(members: int = 8, extra: str = "") -> str:
    parts = [BASE]
    for i in range(1, members + 1):
        parts.append(f'[[councillors]]\nid = "m{i}"\nname = "Member {i}"\nparty = "P{i % 3}"\n')
    parts.append('[[seats]]\nid = "C"\nlabel = "Chair"\ncouncillor = "chair"\n')
    for i in range(1, members + 1):
        parts.append(f'[[seats]]\nid = "{i}"\nlabel = "{i:02d}"\ncouncillor = "m{i}"\n')
    parts.append(extra)
    return "\n".join(parts)


@pytest.fixture
async def daemon(short_tmp: Path) -> AsyncIterator[Daemon]:
    d = Daemon(parse(chamber_toml()), store_path=short_tmp / "s.db",
               socket_path=short_tmp / "api.sock")
    await d.start()
    try:
        yield d
    finally:
        await d.stop()


@pytest.fixture
async def client(daemon: Daemon) -> AsyncIterator[ApiClient]:
    c = await ApiClient.connect(Path(daemon.socket_path))
    try:
        yield c
    finally:
        await c.close()


class DaemonProcess:
    """`councild run` as a real subprocess, started and killed by the test."""

    def __init__(self, config: Path, db: Path, sock: Path, log: Path) -> None:
        self.config, self.db, self.sock, self.log = config, db, sock, log
        self.proc: subprocess.Popen[bytes] | None = None

    async def start(self) -> None:
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(  # noqa: ASYNC220 - returns at once
                [sys.executable, "-m", "councild.cli", "run", "-c", str(self.config),
                 "--db", str(self.db), "--socket", str(self.sock)],
                stdout=log, stderr=log, env=env,
            )
        for _ in range(500):
            if self.proc.poll() is not None:
                raise AssertionError(f"daemon exited: {self.log.read_text()}")
            if self.sock.exists():
                try:
                    c = await ApiClient.connect(self.sock)
                    await c.close()
                    return
                except OSError:
                    pass
            await asyncio.sleep(0.02)
        raise AssertionError("daemon did not open its socket in 10 s")

    def kill(self, sig: int = signal.SIGKILL) -> int:
        assert self.proc is not None
        self.proc.send_signal(sig)
        return self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)


@pytest.fixture
def daemon_process(short_tmp: Path) -> Iterator[DaemonProcess]:
    config = short_tmp / "config.toml"
    config.write_text(chamber_toml())
    p = DaemonProcess(config, short_tmp / "s.db", short_tmp / "api.sock", short_tmp / "log")
    try:
        yield p
    finally:
        p.stop()
