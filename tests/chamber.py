"""A chamber for the tests: config text, and the daemon as a real subprocess."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path

from councild.api import ApiClient

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
