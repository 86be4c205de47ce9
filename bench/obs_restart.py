"""After an OBS restart, how soon is the right program back? A real headless OBS is killed
and started again `--rounds` times; councild's OBS client (as the daemon holds it) puts its
shot back on program from its ready hook, as the director does after every (re)connect. The
time is measured from the moment OBS accepts connections again (the harness polls its port)
to the moment an independent observer reads the shot back from OBS.

    python bench/obs_restart.py [--rounds 10] [--outage 3]

Goal (issue 16): within 1 s in 10 of 10 rounds.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from scenes.headless import HeadlessObs  # noqa: E402
from scenes.obs_client import ObsClient, ObsInventory, ObsOptions  # noqa: E402
from tests.scenes_obs.conftest import CANVAS, LOWER_THIRD, SCENES  # noqa: E402

SHOT = "Seat 1"


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--outage", type=float, default=3.0, help="seconds OBS stays down")
    args = parser.parse_args()
    from scenes.collection import build_collection

    collection = build_collection("councild-bench", SCENES, LOWER_THIRD, canvas=CANVAS)
    async with HeadlessObs(collection=collection, canvas=CANVAS) as obs:
        client: ObsClient

        async def on_ready(_inventory: ObsInventory) -> None:
            await client.set_program_scene(SHOT)  # what the director re-applies

        client = ObsClient(ObsOptions(host="127.0.0.1", port=obs.port), lambda e: None,
                           password=obs.password, on_ready=on_ready)
        await client.start()
        await client.wait_ready()
        await asyncio.sleep(0.5)  # the ready hook's first cut has landed
        times = []
        for n in range(args.rounds):
            await obs.kill_obs()
            await asyncio.sleep(args.outage)
            await obs.start_obs()
            accepting = time.monotonic()
            watch = ObsClient(ObsOptions(host="127.0.0.1", port=obs.port), lambda e: None,
                              password=obs.password, name="observer")
            await watch.start()
            await watch.wait_ready()
            while await watch.get_program_scene() != SHOT:
                await asyncio.sleep(0.01)
            took = time.monotonic() - accepting
            await watch.stop()
            times.append(took)
            print(f"round {n + 1}: program back {took * 1000:.0f} ms after OBS accepted "
                  "connections", flush=True)
        await client.stop()
    within = sum(t <= 1.0 for t in times)
    print(f"p50 {statistics.median(times) * 1000:.0f} ms, max {max(times) * 1000:.0f} ms; "
          f"{within} of {len(times)} within 1 s")
    print(f"RESULT obs_back_p50_ms={statistics.median(times) * 1000:.0f} "
          f"obs_back_max_ms={max(times) * 1000:.0f} within_1s={within}/{len(times)}")


if __name__ == "__main__":
    asyncio.run(main())
