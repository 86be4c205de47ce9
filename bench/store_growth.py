"""The session record as a session grows: WAL size at a sustained input rate, and restart
time (rebuilding the floor from the store) after many inputs vs an empty store.

The WAL part writes `--minutes` of inputs at `--rate` per second through the daemon's own
path (Store.record, a checkpoint every CHECKPOINT_INTERVAL from a worker thread, a floor
snapshot before each), compressed in time by `--speed` (the same inputs per checkpoint as in
real time; gaps between commits shrink accordingly). The restart part builds stores of 0 and
`--inputs` floor inputs through a real Daemon and times Daemon.start() on each.

    python bench/store_growth.py [--minutes 10] [--rate 50] [--speed 20] [--inputs 100000]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from councild.config import parse  # noqa: E402
from councild.daemon import CHECKPOINT_INTERVAL, Daemon  # noqa: E402
from councild.errors import FloorError  # noqa: E402
from councild.model import Cancel, Grant, Next, Request, Revoke  # noqa: E402
from councild.store import Store  # noqa: E402
from tests.chamber import chamber_toml  # noqa: E402

MB = 1024 * 1024


def wal_growth(folder: Path, minutes: float, rate: float, speed: float) -> tuple[float, float]:
    """(largest WAL seen, WAL at the end) in MB."""
    store = Store(folder / "wal.db")
    session = store.open_session("k", "t", "2026-01-01", {}, 0.0).id
    wal = folder / "wal.db-wal"
    total = int(minutes * 60 * rate)
    gap = 1.0 / (rate * speed)
    interval = CHECKPOINT_INTERVAL / speed
    stop = threading.Event()
    largest = 0

    def checkpoints() -> None:
        nonlocal largest
        while not stop.wait(interval):
            largest = max(largest, wal.stat().st_size if wal.exists() else 0)
            store.checkpoint()

    worker = threading.Thread(target=checkpoints)
    worker.start()
    rng = random.Random(1)
    state = {"mode": "request"}
    try:
        for i in range(total):
            seat = str(rng.randint(1, 24))
            event = rng.choice([Request(seat=seat), Cancel(seat=seat), Grant(seat=seat),
                                Revoke(seat=seat), Next()])
            store.record(session, "api", event, wall=float(i))
            if i % int(rate * CHECKPOINT_INTERVAL) == 0:
                store.snapshot(session, "bench", state, wall=float(i))
            time.sleep(gap)
    finally:
        stop.set()
        worker.join()
    largest = max(largest, wal.stat().st_size)
    end = wal.stat().st_size
    store.close()
    return largest / MB, end / MB


def fill(daemon: Daemon, inputs: int) -> int:
    rng = random.Random(2)
    seats = [s.id for s in daemon.config.seats]
    applied = 0
    while applied < inputs:
        seat = rng.choice(seats)
        event = rng.choice([Request(seat=seat), Cancel(seat=seat), Grant(seat=seat),
                            Revoke(seat=seat), Next()])
        with contextlib.suppress(FloorError):
            daemon.submit(event, "bench")
            applied += 1
            if applied % 500 == 0:
                daemon._snapshot()  # what the checkpoint timer does every 10 s
    return applied


async def restart_time(folder: Path, inputs: int, rounds: int) -> tuple[float, int]:
    """Median seconds of Daemon.start() on a store with `inputs` floor inputs."""
    text = chamber_toml(members=24)
    db, sock = folder / f"r{inputs}.db", folder / f"r{inputs}.sock"
    first = Daemon(parse(text), store_path=db, socket_path=sock)
    await first.start()
    fill(first, inputs)
    first._snapshot()
    # Inputs after the last snapshot, as after a kill between two checkpoints.
    tail = fill(first, min(inputs, int(50 * CHECKPOINT_INTERVAL)))
    live = first.state
    await first.server.stop()
    assert first._store is not None
    first._store.close()  # no snapshot at stop: the worst case, a killed daemon
    first._store = None
    await first.stop()
    times = []
    for _ in range(rounds):
        d = Daemon(parse(text), store_path=db, socket_path=sock)
        t0 = time.perf_counter()
        await d.start()
        times.append(time.perf_counter() - t0)
        assert d.state == live, "the rebuilt floor differs from the live one"
        d._inputs_since_snapshot = 0  # leave the store as it was for the next round
        await d.stop()
    return statistics.median(times), tail


async def process_restart(folder: Path, inputs: int, rounds: int) -> float:
    """Median seconds from `councild run` starting to its first `ping` answered, on the
    store restart_time() left with `inputs` inputs (imports and start-up included)."""
    from tests.chamber import DaemonProcess

    config = folder / f"p{inputs}.toml"
    config.write_text(chamber_toml(members=24))
    times = []
    for n in range(rounds):
        proc = DaemonProcess(config, folder / f"r{inputs}.db", folder / f"p{inputs}-{n}.sock",
                             folder / f"p{inputs}.log")
        t0 = time.perf_counter()
        await proc.start()  # returns once the socket answers
        times.append(time.perf_counter() - t0)
        proc.kill(15)
    return statistics.median(times)


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--rate", type=float, default=50.0)
    parser.add_argument("--speed", type=float, default=20.0)
    parser.add_argument("--inputs", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="cd-bench-") as d:
        folder = Path(d)
        largest, end = wal_growth(folder, args.minutes, args.rate, args.speed)
        print(f"WAL after {args.minutes:g} min at {args.rate:g} inputs/s "
              f"(time x{args.speed:g}): largest {largest:.1f} MB, at the end {end:.1f} MB "
              f"(goal < 16 MB); store {os.path.getsize(folder / 'wal.db') / MB:.1f} MB")
        empty, _ = await restart_time(folder, 0, args.rounds)
        full, tail = await restart_time(folder, args.inputs, args.rounds)
        print(f"restart: empty store {empty * 1000:.0f} ms, after {args.inputs:,} inputs "
              f"{full * 1000:.0f} ms ({tail} replayed after the snapshot); difference "
              f"{(full - empty) * 1000:+.0f} ms (goal within 500 ms)")
        p_empty = await process_restart(folder, 0, args.rounds)
        p_full = await process_restart(folder, args.inputs, args.rounds)
        print(f"restart of the process (`councild run` to its socket answering, imports "
              f"included): empty store {p_empty * 1000:.0f} ms, after {args.inputs:,} inputs "
              f"{p_full * 1000:.0f} ms; difference {(p_full - p_empty) * 1000:+.0f} ms")
        print(f"RESULT wal_max_mb={largest:.1f} restart_empty_ms={empty * 1000:.0f} "
              f"restart_full_ms={full * 1000:.0f} restart_delta_ms={(full - empty) * 1000:.0f}")


if __name__ == "__main__":
    asyncio.run(main())
