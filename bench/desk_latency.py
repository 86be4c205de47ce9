"""A change at the desk or conference unit → the daemon's floor, per driver.

The README promises that a microphone switched at the device is in councild's state within
100 ms (as a median of ten). The tests check that every change arrives; this benchmark
measures how fast, with the same rigs as tests/system/test_desks.py: each simulator over its
real transport (X32 over UDP, SQ over TCP, the conference unit over TCP), the real daemon in
this process, N changes each, timed from the simulator's send to the seat speaking in the
daemon's state (polled every millisecond, so up to 1 ms of each figure is the poll).

    python bench/desk_latency.py [--changes 30]

Last line: RESULT x32_p50_ms=… sq_p50_ms=… dcs_p50_ms=… worst_p50_ms=… worst_p95_ms=…
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from councild.config import parse  # noqa: E402
from councild.daemon import Daemon  # noqa: E402
from councild.model import Revoke  # noqa: E402
from tests.helpers import until  # noqa: E402
from tests.system.test_desks import RIGS, config_for, settled  # noqa: E402

GOAL_MS = 100.0


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def measure(name: str, changes: int) -> list[float]:
    rig = await RIGS[name]()
    with tempfile.TemporaryDirectory(prefix="cd-bench-") as tmp:
        daemon = Daemon(parse(config_for(rig.table)), store_path=Path(tmp) / "s.db",
                        socket_path=Path(tmp) / "a.sock")
        await daemon.start()
        try:
            await until(lambda: daemon.device_views["dev"].link.value == "connected", 10)
            await settled(daemon, rig)
            latencies = []
            for _ in range(changes):
                t0 = time.perf_counter()
                rig.device_opens(3)
                await until(lambda: daemon.state.speaking("3"), 5, interval=0.001)
                latencies.append((time.perf_counter() - t0) * 1000)
                daemon.submit(Revoke(seat="3"), "bench")
                await until(lambda: not rig.is_open(3), 5)
                await asyncio.sleep(0.02)  # a pause, as between two real presses
            return latencies
        finally:
            await daemon.stop()
            await rig.sim.stop()


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--changes", type=int, default=30)
    args = parser.parse_args()
    results: dict[str, tuple[float, float, float]] = {}
    print(f"{'driver':8} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8}  (goal: median ≤ {GOAL_MS:g})")
    for name in sorted(RIGS):
        lat = await measure(name, args.changes)
        results[name] = (statistics.median(lat), percentile(lat, 0.95), max(lat))
        p50, p95, worst = results[name]
        print(f"{name:8} {p50:8.2f} {p95:8.2f} {worst:8.2f}", flush=True)
    worst_p50 = max(r[0] for r in results.values())
    worst_p95 = max(r[1] for r in results.values())
    print(f"worst median / goal = {worst_p50 / GOAL_MS:.3f}")
    print("RESULT " + " ".join(f"{n}_p50_ms={r[0]:.2f}" for n, r in sorted(results.items()))
          + f" worst_p50_ms={worst_p50:.2f} worst_p95_ms={worst_p95:.2f}")


if __name__ == "__main__":
    asyncio.run(main())
