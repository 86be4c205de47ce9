"""Under abuse the session goes on (issue 16): each attack against a real `councild run`
with a desk and a conference unit attached, measured from outside. The wall-clock bounds
here (ping p50 ≤ 100 ms, max ≤ 500 ms) are the issue's contract, the only ones allowed; the
attacks are sized so that a slow, loaded machine still holds them."""

from __future__ import annotations

import asyncio
import os
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.helpers import require_binary
from tests.hostile.rig import Rig

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
async def rig() -> AsyncIterator[Rig]:
    with tempfile.TemporaryDirectory(prefix="cd-h-") as folder:
        r = Rig(Path(folder))
        try:
            await r.start()
            yield r
        finally:
            await r.stop()


@pytest.fixture
async def join_rig(janus) -> AsyncIterator[Rig]:
    with tempfile.TemporaryDirectory(prefix="cd-h-") as folder:
        r = Rig(Path(folder), janus.url)
        try:
            await r.start()
            yield r
        finally:
            await r.stop()


def check(figures) -> None:
    print(figures.line())
    assert figures.problems() == [], figures.line()


async def test_flood_of_the_tcp_api(rig: Rig) -> None:
    """Finding 1: 64 KiB of `{}` before auth froze the loop ~1 s; 50 clients that never read
    took it to 100 % CPU, wrote 73 MB of log and lost every device."""
    figures = await rig.attack("flood", clients=20)
    check(figures)
    assert figures.attacker["writes"] > 20


async def test_clients_that_never_read(rig: Rig) -> None:
    """Finding 1: 100 Unix-socket clients pipelining `state` without reading: pings up to
    878 ms, devices lost. A TUI frozen by Ctrl-Z is such a client."""
    figures = await rig.attack("nonreader", clients=40)
    check(figures)


async def test_idle_connections(rig: Rig) -> None:
    """Finding 2: idle connections exhausted the descriptors (no cap, no timeout)."""
    figures = await rig.attack("idle", per_port=400)
    check(figures)
    assert figures.attacker["opened"] + figures.attacker["refused"] == 400


async def test_garbage_from_one_device(rig: Rig) -> None:
    """Finding 6: random bytes on the SQ link (each error counted, logged and broadcast)
    blocked the loop 3.8 s and the CU was declared lost."""
    figures = await rig.attack("garbage")
    check(figures)
    assert rig.probe is not None
    desk = (await rig.probe.request("state"))["state"]["devices"]["desk"]
    assert desk["errors"] > 1000  # every malformed unit is still counted


async def test_page_flood_and_token_guessing(join_rig: Rig) -> None:
    """Finding 3: 20,000 refused page ops blocked the loop 7.4 s and grew the store by
    261 MB; finding 7: guesses from rotating addresses."""
    figures = await join_rig.attack("pageflood")
    check(figures)
    assert figures.attacker["messages"] > 2000


async def test_descriptors_running_out(rig: Rig) -> None:
    """Finding 2: with the descriptors used up, `ping` got no answer, accept errors were
    logged as 128,507 tracebacks in 30 s and the store's checkpoint failed. Here the
    daemon's limit is cut to just above what it uses, so the idle attack's connections hit
    it; the session goes on (the record needs no new descriptor) and the log stays small."""
    prlimit = require_binary("prlimit", "util-linux")
    pid = rig._proc()
    limit = len(os.listdir(f"/proc/{pid}/fd")) + 8
    proc = await asyncio.create_subprocess_exec(prlimit, f"--pid={pid}",
                                                f"--nofile={limit}:{limit}")
    assert await proc.wait() == 0
    figures = await rig.attack("idle", per_port=400)
    assert rig.probe is not None
    reply = await rig.probe.request("agenda")  # a floor input, recorded in the store
    assert reply["ok"], reply
    check(figures)
    assert rig.daemon is not None
    assert rig.daemon.log.read_text().count("Traceback") <= 2
