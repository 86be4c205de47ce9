"""Latency from a desk datagram to OBS's program change, through councild and without it.

A real headless OBS, the X32 simulator and `councild run` as its own process. Each round:

- through councild: the simulated desk unmutes a seat's channel (the datagram leaves the
  simulator), the daemon's driver sees it, the floor opens the mic, the director (all delays
  at their minimum) cuts, and OBS announces `CurrentProgramSceneChanged`;
- direct: a client calls `SetCurrentProgramScene` on the same OBS and waits for the same event.

Both are timed with CLOCK_MONOTONIC (shared by all processes) and observed by the same
independent OBS connection. OBS announces a program change on its next rendered frame, so
each latency holds a wait for that frame (0–33 ms at 30 fps). To compare like with like,
both paths of a round start at the same random phase after a frame (anchored on the
previous program event, which OBS sends right after a frame): the difference of their
percentiles is what councild adds. (Fixed spacing instead locks each path to its own
phase and shows a bias of up to a frame either way.)

The broadcast health poll (GetStreamStatus, GetRecordStatus, GetStats once a second on the
same OBS connection) must not delay a cut: the bench runs the daemon twice, with the poll
off and on, and prints both; RESULT's added_* keys are with the poll on (the default).

    python bench/e2e_latency.py [--switches 300] [--poll both|on|off]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from councild.api import ApiClient  # noqa: E402
from councild.config import parse  # noqa: E402
from councild.obs_setup import collection_for  # noqa: E402
from devices.sim.x32 import X32Simulator  # noqa: E402
from scenes.headless import HeadlessObs  # noqa: E402
from scenes.obs_client import ObsClient, ObsOptions  # noqa: E402
from scenes.shots import EXECUTION, LowerThirdSources, picture_change  # noqa: E402
from tests.system.conftest import PASSWORD_ENV, chamber  # noqa: E402

# The director's minimum hold must be > 0; 1 ms never delays a switch spaced as below.
FAST = "switch_in_delay = 0\nmin_hold = 0.001\nhysteresis = 0\ncut_on_grant = true\n"
FRAME = 1 / 30
SETTLE_FRAMES = 3  # frames between switches, so no switch waits for another
TIMEOUT = 5.0
LOWER = LowerThirdSources("Lower third name", "Lower third detail")


class Watch:
    """Records OBS's own program-change events with their arrival time."""

    def __init__(self) -> None:
        self.waiters: dict[str, asyncio.Future[float]] = {}

    async def on_program(self, event: object) -> None:
        t = time.monotonic()
        scene = event.data["sceneName"]  # type: ignore[attr-defined]
        fut = self.waiters.pop(scene, None)
        if fut is not None and not fut.done():
            fut.set_result(t)

    def expect(self, scene: str) -> asyncio.Future[float]:
        fut: asyncio.Future[float] = asyncio.get_running_loop().create_future()
        self.waiters[scene] = fut
        return fut


def pct(values: list[float], q: int) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


async def main(switches: int, polls: list[bool]) -> None:
    seats = 8
    results: dict[bool, tuple[float, float]] = {}
    async with X32Simulator() as desk:
        text = chamber(desk.port, 4455, FAST).replace("max_open = 2", "max_open = 1")
        config = parse(text)
        collection = collection_for(config, canvas=(640, 360))
        async with HeadlessObs(collection=collection, canvas=(640, 360)) as obs:
            for poll in polls:
                with tempfile.TemporaryDirectory(prefix="cd-bench-") as tmp:
                    cfg_path = Path(tmp) / "config.toml"
                    cfg_path.write_text(chamber(desk.port, obs.port, FAST)
                                        .replace("max_open = 2", "max_open = 1")
                                        + f"\n[broadcast]\npoll = {str(poll).lower()}\n")
                    sock = Path(tmp) / "api.sock"
                    env = {**os.environ, PASSWORD_ENV: obs.password}
                    daemon = subprocess.Popen(  # noqa: ASYNC220 - returns at once
                        [sys.executable, "-m", "councild.cli", "run", "-c", str(cfg_path),
                         "--db", str(Path(tmp) / "s.db"), "--socket", str(sock)],
                        env=env, stderr=subprocess.DEVNULL, cwd=ROOT)
                    try:
                        print(f"--- broadcast health poll {'on' if poll else 'off'}")
                        results[poll] = await run_rounds(desk, obs, sock, seats, switches)
                    finally:
                        daemon.terminate()
                        daemon.wait(10)
    fields = []
    if True in results:
        fields.append("added_p50_ms={:.2f} added_p99_ms={:.2f}".format(*results[True]))
    if False in results:
        fields.append("poll_off_added_p50_ms={:.2f} poll_off_added_p99_ms={:.2f}".format(
            *results[False]))
    if True in results and False in results:
        moved50 = results[True][0] - results[False][0]
        moved99 = results[True][1] - results[False][1]
        fields.append(f"poll_moved_p50_ms={moved50:.2f} poll_moved_p99_ms={moved99:.2f}")
    print("RESULT " + " ".join(fields))


async def run_rounds(desk: X32Simulator, obs: HeadlessObs, sock: Path, seats: int,
                     switches: int) -> tuple[float, float]:
    watch = Watch()
    observer = ObsClient(ObsOptions(host="127.0.0.1", port=obs.port), lambda e: None,
                         password=obs.password, name="observer")
    observer.subscribe("CurrentProgramSceneChanged", watch.on_program)
    await observer.start()
    await observer.wait_ready()
    direct = ObsClient(ObsOptions(host="127.0.0.1", port=obs.port), lambda e: None,
                       password=obs.password, name="direct")
    await direct.start()
    await direct.wait_ready()

    for _ in range(200):
        try:
            client = await ApiClient.connect(sock)
            break
        except OSError:
            await asyncio.sleep(0.05)
    else:
        raise SystemExit("councild did not start")
    while True:
        state = (await client.request("state"))["state"]
        if all(d["link"] == "connected" for d in state["devices"].values()):
            break
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.5)  # councild mutes every seat channel on connect

    async def at_phase(anchor: float, phase: float) -> None:
        await asyncio.sleep(max(0.0, anchor + SETTLE_FRAMES * FRAME + phase - time.monotonic()))

    rng = random.Random(1)
    via: list[float] = []
    plain: list[float] = []
    fut = watch.expect("Group")  # OBS starts on Wide: a change it will announce
    await direct.set_program_scene("Group")
    anchor = await asyncio.wait_for(fut, TIMEOUT)
    for i in range(switches):
        seat = i % seats + 1
        phase = rng.uniform(0.0, FRAME)
        # Through councild: the desk opens seat N's channel.
        await at_phase(anchor, phase)
        fut = watch.expect(f"Seat {seat}")
        t0 = time.monotonic()
        desk.usecases.surface_unmute(seat)
        anchor = await asyncio.wait_for(fut, TIMEOUT)
        via.append((anchor - t0) * 1000)
        await at_phase(anchor, phase)
        # Direct: the same OBS work councild does for a cut (the lower-third texts and the
        # scene, one batch), to a seat scene councild is not showing.
        other = (seat + seats // 2 - 1) % seats + 1
        scene = f"Seat {other}"
        fut = watch.expect(scene)
        t0 = time.monotonic()
        for batch in picture_change(scene, (f"Member {other}", f"P{other % 3}"), LOWER):
            await direct.batch(batch, execution=EXECUTION)
        anchor = await asyncio.wait_for(fut, TIMEOUT)
        plain.append((anchor - t0) * 1000)
        desk.usecases.surface_mute(seat)  # no cut follows: nobody speaks, idle_to_wide is 5 s

    await client.close()
    await direct.stop()
    await observer.stop()

    print(f"{switches} switches each, OBS 640x360 at 30 fps, Cut transition")
    print(f"{'path':<26} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'max ms':>8}")
    for name, values in (("desk → councild → OBS", via), ("direct, same requests", plain)):
        print(f"{name:<26} {pct(values, 50):>8.2f} {pct(values, 95):>8.2f} "
              f"{pct(values, 99):>8.2f} {max(values):>8.2f}")
    added50 = pct(via, 50) - pct(plain, 50)
    added95 = pct(via, 95) - pct(plain, 95)
    added99 = pct(via, 99) - pct(plain, 99)
    print(f"{'councild adds':<26} {added50:>8.2f} {added95:>8.2f} {added99:>8.2f}")
    paired = [a - b for a, b in zip(via, plain, strict=True)]
    print(f"{'paired difference':<26} {pct(paired, 50):>8.2f} {pct(paired, 95):>8.2f} "
          f"{pct(paired, 99):>8.2f} {max(paired):>8.2f}   (same phase, per round)")
    return added50, added99


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--switches", type=int, default=300)
    parser.add_argument("--poll", choices=["both", "on", "off"], default="both",
                        help="the daemon's broadcast health poll (default: both, off first)")
    args = parser.parse_args()
    modes = {"both": [False, True], "on": [True], "off": [False]}[args.poll]
    asyncio.run(main(args.switches, modes))
