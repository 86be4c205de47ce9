"""CPU cost of the technician's TUI following a 100-seat chamber with live meters.

The daemon runs in this process: 100 seats on four X32 desks (in-process simulators, so the
device panel shows real links), and a feeder task that hands the daemon a new level for
every seat 20 times a second (`Daemon.emit(ChannelLevel(...))`, the path a desk's
meters take), plus a floor change (request / grant / revoke) every second. The daemon
broadcasts levels to subscribers at most 20 times a second, as in production.

The TUI is the real command, `python -m tui --socket ...`, in a detached tmux session of
160×48 (every panel visible, about 35 roster rows being redrawn). Its CPU time is read from
/proc/<pid>/stat over the measuring window and divided by the wall time: a fraction of one
core. Goal: <= 0.25.

    .venv/bin/python bench/tui_load.py [--seconds 15] [--width 160 --height 48]

The last line is exactly `RESULT tui_cpu_fraction=<x>`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from councild.config import parse  # noqa: E402
from councild.daemon import Daemon  # noqa: E402
from councild.errors import FloorError  # noqa: E402
from councild.model import ChannelLevel, Grant, Request, Revoke  # noqa: E402
from devices.sim.x32 import X32Simulator  # noqa: E402

SEATS = 100
CHANNELS_PER_DESK = 25  # 4 desks × 25 channels = 100 seats (an X32 has 32)
LEVEL_RATE_HZ = 20.0
FLOOR_EVERY_S = 1.0
# Starting Python + Textual and attaching can take a few seconds on a busy machine.
ATTACH_TIMEOUT_S = 30.0
# Let start-up work (imports, first layout) finish before the window opens.
SETTLE_S = 2.0


def chamber(ports: list[int]) -> str:
    parts = ["""
[session]
title = "TUI load bench"
date = 2026-11-25

[floor]
mode = "request"
max_open = 4
[floor.speaking_limit]
member = 300
chair = 0
"""]
    for d, port in enumerate(ports, start=1):
        parts.append(f'[devices.desk{d}]\ndriver = "x32"\nhost = "127.0.0.1"\nport = {port}\n')
    parts.append('[[councillors]]\nid = "chair"\nname = "Clara Chair"\nrole = "chair"\n')
    for i in range(1, SEATS):
        parts.append(f'[[councillors]]\nid = "m{i}"\nname = "Member {i}"\nparty = "P{i % 5}"\n')
    for i in range(SEATS):
        desk, channel = divmod(i, CHANNELS_PER_DESK)
        who = "chair" if i == 0 else f"m{i}"
        parts.append(f'[[seats]]\nid = "{i}"\nlabel = "{i:03d}"\ncouncillor = "{who}"\n'
                     f'mic = {{ device = "desk{desk + 1}", channel = {channel + 1} }}\n')
    return "\n".join(parts)


async def feed_levels(daemon: Daemon, rng: random.Random) -> None:
    levels = [-60.0] * SEATS
    period = 1.0 / LEVEL_RATE_HZ
    while True:
        for i in range(SEATS):
            levels[i] = max(-90.0, min(0.0, levels[i] + rng.uniform(-6.0, 6.0)))
            desk, channel = divmod(i, CHANNELS_PER_DESK)
            daemon.emit(ChannelLevel(device=f"desk{desk + 1}", channel=channel + 1,
                                                dbfs=levels[i]))
        await asyncio.sleep(period)


async def churn_floor(daemon: Daemon, rng: random.Random) -> None:
    while True:
        await asyncio.sleep(FLOOR_EVERY_S)
        seat = str(rng.randrange(1, SEATS))
        event = rng.choice([Request(seat=seat), Grant(seat=seat), Revoke(seat=seat)])
        with contextlib.suppress(FloorError):
            daemon.submit(event, "bench")


async def tmux(server: str, *args: str) -> str:
    proc = await asyncio.create_subprocess_exec(
        "tmux", "-L", server, *args, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE)
    out, err = await proc.communicate()
    if proc.returncode:
        raise RuntimeError(f"tmux {args[0]}: {err.decode().strip()}")
    return out.decode()


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = int(fields[11]) + int(fields[12])  # utime + stime (fields 14, 15 of stat)
    return ticks / os.sysconf("SC_CLK_TCK")


async def main(args: argparse.Namespace) -> float:
    if shutil.which("tmux") is None:
        raise SystemExit("tmux is needed (Debian package tmux)")
    rng = random.Random(11)
    server = f"councild-tui-bench-{os.getpid()}"
    sims = [X32Simulator() for _ in range(SEATS // CHANNELS_PER_DESK)]
    with tempfile.TemporaryDirectory(prefix="cdb-") as tmp:
        sock = Path(tmp) / "api.sock"
        for sim in sims:
            await sim.start()
        daemon = Daemon(parse(chamber([s.port for s in sims])), store_path=Path(tmp) / "s.db",
                        socket_path=sock)
        await daemon.start()
        tasks = [asyncio.create_task(feed_levels(daemon, rng), name="bench:levels"),
                 asyncio.create_task(churn_floor(daemon, rng), name="bench:floor")]
        try:
            command = f"cd {ROOT} && exec {sys.executable} -m tui --socket {sock}"
            await tmux(server, "new-session", "-d", "-s", "tui", "-x", str(args.width),
                       "-y", str(args.height), command)
            pid = int((await tmux(server, "display", "-p", "-t", "tui", "#{pane_pid}")).strip())
            deadline = time.monotonic() + ATTACH_TIMEOUT_S
            while "● live" not in await tmux(server, "capture-pane", "-p", "-t", "tui"):
                if time.monotonic() > deadline:
                    raise SystemExit("the TUI did not attach")
                await asyncio.sleep(0.2)
            await asyncio.sleep(SETTLE_S)
            screen = await tmux(server, "capture-pane", "-p", "-t", "tui")
            wall0, cpu0, own0 = time.monotonic(), cpu_seconds(pid), time.process_time()
            await asyncio.sleep(args.seconds)
            wall = time.monotonic() - wall0
            tui = (cpu_seconds(pid) - cpu0) / wall
            own = (time.process_time() - own0) / wall
            print(screen, file=sys.stderr)
            print(f"window {wall:.1f} s at {args.width}x{args.height}; {SEATS} seats, levels "
                  f"{LEVEL_RATE_HZ:.0f} Hz, a floor change every {FLOOR_EVERY_S:.0f} s")
            print(f"daemon + feeder process: {own:.3f} of a core")
            print(f"TUI process: {tui:.3f} of a core (goal <= 0.25)")
        finally:
            for task in tasks:
                task.cancel()
            with contextlib.suppress(RuntimeError):
                await tmux(server, "kill-server")
            await daemon.stop()
            for sim in sims:
                await sim.stop()
    return tui


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--width", type=int, default=160)
    parser.add_argument("--height", type=int, default=48)
    fraction = asyncio.run(main(parser.parse_args()))
    print(f"RESULT tui_cpu_fraction={fraction:.3f}")
