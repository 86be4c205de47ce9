"""The daemon under abuse: each attack of the hostile-input suite (tests/hostile) against a
real `councild run` with an SQ desk and a conference unit attached (and the join page with
a real Janus when `janus` is installed), measured from outside: ping latency on the Unix
socket during the attack (percentiles), the daemon's CPU, devices lost, log and store
growth, memory before and after. Not pass/fail (the tests assert the contract); printed so
the next change can be compared.

    python bench/abuse.py [--rounds N]

The last line is `RESULT worst_ping_ms=<x> devices_lost=<n> log_growth_kb=<l>` over all
attacks (worst ping, devices lost in all, log growth in all).
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from devices.sim.janus_server import JanusServer  # noqa: E402
from tests.hostile.rig import Figures, Rig  # noqa: E402

ATTACKS: list[tuple[str, dict[str, object]]] = [
    ("flood", {"clients": 20}),
    ("nonreader", {"clients": 40}),
    ("idle", {"per_port": 400}),
    ("garbage", {}),
]


async def run(name: str, args: dict[str, object], janus_url: str | None) -> Figures:
    with tempfile.TemporaryDirectory(prefix="cd-abuse-") as folder:
        rig = Rig(Path(folder), janus_url)
        try:
            await rig.start()
            return await rig.attack(name, **args)
        finally:
            await rig.stop()


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=1)
    args = parser.parse_args()
    binary = shutil.which("janus")
    janus = None
    folder = tempfile.TemporaryDirectory(prefix="cd-abuse-janus-")
    attacks = list(ATTACKS)
    if binary is not None:
        janus = JanusServer(binary, Path(folder.name))
        janus.start()
        attacks.append(("pageflood", {}))
    else:
        print("janus not installed: the page flood is left out", file=sys.stderr)
    results: list[Figures] = []
    try:
        for _ in range(args.rounds):
            for name, extra in attacks:
                url = janus.url if janus is not None and name == "pageflood" else None
                figures = await run(name, extra, url)
                print(figures.line(), flush=True)
                results.append(figures)
    finally:
        if janus is not None:
            janus.stop()
        folder.cleanup()
    worst = max(f.worst for f in results)
    lost = sum(len(f.devices_lost) for f in results)
    log_kb = sum(f.log_growth for f in results) / 1024
    print(f"RESULT worst_ping_ms={worst:.1f} devices_lost={lost} log_growth_kb={log_kb:.1f}")


if __name__ == "__main__":
    asyncio.run(main())
