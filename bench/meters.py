"""CPU cost of the X32 driver ingesting a 32-channel /meters/1 stream at 20 Hz.

The simulator runs in a separate process (`python -m devices.sim.x32`, random delegate
activity), so only the driver's own process is measured: CPU seconds (time.process_time)
over wall seconds while it follows the desk, as a fraction of one core. Goal: <= 0.02.

A second, synthetic figure feeds the same driver 20 blobs/s in which all 32 levels move
(every channel emits levels and runs its voice detector) without any socket: the worst case
of the ingest path itself.

    .venv/bin/python bench/meters.py [--seconds 10]

The last line is exactly `RESULT cpu_fraction=<x>` (the measured, real-socket figure).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from councild.model import Event, Link  # noqa: E402
from devices.x32 import X32, X32Desk, encode_message, encode_meter_blob  # noqa: E402

# The simulator must print its port within this long, or the bench gives up.
SIM_START_TIMEOUT_S = 10.0
# Time for the driver to connect and the meter stream to settle before measuring.
WARMUP_TIMEOUT_S = 10.0
METER_RATE_HZ = 20.0


async def start_sim() -> tuple[asyncio.subprocess.Process, int]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "devices.sim.x32",
        "--port",
        "0",
        "--script",
        "random",
        "--seed",
        "7",
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert proc.stdout is not None
    try:
        line = await asyncio.wait_for(proc.stdout.readline(), SIM_START_TIMEOUT_S)
        return proc, int(line.decode().strip().rsplit(":", 1)[1])
    except BaseException:
        proc.terminate()
        await proc.wait()
        raise


async def measure_real(seconds: float) -> float:
    proc, port = await start_sim()
    events: list[Event] = []
    desk = X32Desk("bench", X32Desk.Options(port=port), events.append)
    try:
        await desk.start()
        deadline = time.monotonic() + WARMUP_TIMEOUT_S
        while desk.health.link != Link.CONNECTED or desk.datagrams < 40:
            if time.monotonic() > deadline:
                raise SystemExit("the driver did not connect / receive meters in time")
            await asyncio.sleep(0.05)
        events.clear()
        d0, c0, w0 = desk.datagrams, time.process_time(), time.monotonic()
        await asyncio.sleep(seconds)
        c1, w1, d1 = time.process_time(), time.monotonic(), desk.datagrams
    finally:
        await desk.stop()
        proc.terminate()
        await asyncio.wait_for(proc.wait(), SIM_START_TIMEOUT_S)
    cpu, wall, n = c1 - c0, w1 - w0, d1 - d0
    print(
        f"real UDP: {n} datagrams in {wall:.2f} s ({n / wall:.1f}/s), "
        f"{len(events)} events emitted, {cpu * 1000:.1f} ms CPU"
    )
    return cpu / wall


def measure_synthetic(seconds: float) -> float:
    """All 32 channels moving in every blob; datagrams handed to the driver directly."""
    rng = random.Random(1)
    blobs = [
        encode_message(
            "/meters/1", encode_meter_blob(X32, [rng.uniform(-60, -10) for _ in range(32)])
        )
        for _ in range(64)
    ]
    events: list[Event] = []
    desk = X32Desk("bench", X32Desk.Options(), events.append)
    peer = ("127.0.0.1", 10023)
    desk._peer = peer  # the receive path without a socket: what the protocol callback calls

    async def feed() -> tuple[float, int]:
        n = round(seconds * METER_RATE_HZ)
        c0 = time.process_time()
        for i in range(n):
            desk._on_datagram(blobs[i % len(blobs)], peer)
            await asyncio.sleep(1 / METER_RATE_HZ)
        return time.process_time() - c0, n

    # Subtract the cost of the pacing loop itself (sleeping, waking up), measured alone.
    async def idle() -> float:
        c0 = time.process_time()
        for _ in range(round(seconds * METER_RATE_HZ)):
            await asyncio.sleep(1 / METER_RATE_HZ)
        return time.process_time() - c0

    cpu, n = asyncio.run(feed())
    base = asyncio.run(idle())
    print(
        f"synthetic worst case: {n} blobs, {len(events)} events, "
        f"{(cpu - base) / n * 1e6:.0f} µs per blob -> {(cpu - base) / seconds:.4f} of a core"
    )
    return (cpu - base) / seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()
    measure_synthetic(min(args.seconds, 5.0))
    fraction = asyncio.run(measure_real(args.seconds))
    print(f"goal <= 0.02 of one core: {'met' if fraction <= 0.02 else 'NOT met'}")
    print(f"RESULT cpu_fraction={fraction:.4f}")


if __name__ == "__main__":
    main()
