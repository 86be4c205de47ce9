"""`councild demo`, as the README runs it (without the TUI): the simulated chamber comes up
and the scripted councillors use the floor; with --remote, remote councillors are in the
room and the printed join link opens the join page."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from councild.api import ApiClient
from tests.bridge.janus_server import free_port
from tests.helpers import require_binary, until

pytestmark = pytest.mark.timeout(90)
REPO = Path(__file__).resolve().parents[2]


class Demo:
    def __init__(self, folder: Path, *extra: str) -> None:
        self.sock = folder / "demo.sock"
        self.err = folder / "demo.err"
        with self.err.open("wb") as err:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "councild.cli", "demo", "--no-tui", "--seconds", "60",
                 "-c", str(REPO / "config.toml"), "--socket", str(self.sock), *extra],
                stdout=subprocess.DEVNULL, stderr=err, stdin=subprocess.DEVNULL,
                start_new_session=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})

    def stderr(self) -> str:
        return self.err.read_text(errors="replace")

    async def state(self) -> dict:
        client = await ApiClient.connect(self.sock)
        try:
            reply = await client.request("state")
        finally:
            await client.close()
        return reply["state"]

    def stop(self) -> int:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGINT)  # Ctrl-C, as a user ends it
        try:
            return self.proc.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
            raise AssertionError(f"the demo did not stop on Ctrl-C: {self.stderr()}") from None


async def test_demo_runs_the_floor(short_tmp: Path) -> None:
    demo = Demo(short_tmp)
    try:
        await until(lambda: demo.sock.exists() or demo.proc.poll() is not None, 30)
        assert demo.proc.poll() is None, demo.stderr()
        await until(lambda: _desk_connected(demo), 10, interval=0.2)
        # The scripted councillors ask for the floor and the chair calls them.
        await until(lambda: _floor_used(demo), 30, interval=0.5)
    finally:
        assert demo.stop() == 0, demo.stderr()


async def test_demo_with_remote_councillors_and_the_join_page(short_tmp: Path) -> None:
    require_binary("janus", "janus")
    require_binary("ffmpeg", "ffmpeg")
    port = free_port()
    demo = Demo(short_tmp, "--remote", "--join-port", str(port))
    try:
        await until(lambda: "join page for" in demo.stderr() or demo.proc.poll() is not None, 30)
        assert demo.proc.poll() is None, demo.stderr()
        link = re.search(r"join page for Mara Jung: (\S+)", demo.stderr())
        assert link is not None, demo.stderr()
        assert link.group(1).startswith(f"http://127.0.0.1:{port}/join/")

        async def remote_present() -> bool:
            seats = {s["id"]: s for s in (await demo.state())["seats"]}
            return all(seats[f"R{i}"]["bridge"]["present"] for i in (1, 2))

        # What the remote councillors need, in order, each with its own bound. The bridge
        # device first: the daemon may have tried Janus before it listened and then waits out
        # its reconnect backoff (capped at 5 s); on a cold machine Janus's first start, with
        # its plugins loaded from disk, has taken several seconds more.
        await _until_or_explain(demo, lambda: _linked(demo, "bridge"), 30,
                                "the bridge device never connected to the demo's Janus")
        # Then the simulated councillors, already in the room, are seen at their seats: one
        # participant list from Janus after the (re)connect, a few seconds at most.
        await _until_or_explain(demo, remote_present, 15,
                                "the simulated remote councillors are not at R1/R2")
        state = await demo.state()
        assert state["guests"] == []  # the simulated councillors are known by their tokens
        await until(lambda: _linked(demo, "chamber"), 15, interval=0.2)
        # hybrid audio: the room, the chamber's send and return, the tone councillors at
        # their seats (muted unless they have the floor)
        for device in ("audiobridge", "chamber-send", "chamber-return"):
            await until(lambda d=device: _linked(demo, d), 15, interval=0.2)

        async def voices_at_seats() -> bool:
            audio = (await demo.state())["audio"]
            return {p["seat"] for p in audio["participants"]} == {"R1", "R2"}

        await until(voices_at_seats, 15, interval=0.2)
        async with aiohttp.ClientSession() as http, http.get(link.group(1)) as page:
            assert page.status == 200
            assert "Mara Jung" in await page.text()
    finally:
        assert demo.stop() == 0, demo.stderr()
    for pattern in ("councild-remote-", "sine=frequency=330", "testsrc=size=320x180",
                    "sine=frequency=600", "sine=frequency=440:sample_rate=48000,volume"):
        # the demo's Janus, its chamber feed's ffmpeg, its remote councillors' encoders
        assert _running(pattern) == "", f"left running after the demo: {pattern}"


async def _until_or_explain(demo: Demo, predicate: Any, timeout: float, what: str) -> None:
    """`until`, failing with what the demo's state and log said, not only "not met"."""
    try:
        await until(predicate, timeout, interval=0.2)
    except AssertionError:
        try:
            state = await demo.state()
            detail = f"devices {state['devices']}"
        except (OSError, ConnectionError) as exc:
            detail = f"no state: {exc}"
        raise AssertionError(f"{what} within {timeout} s; {detail}\n{demo.stderr()}") from None


def _running(pattern: str) -> str:
    return subprocess.run(["pgrep", "-f", pattern], capture_output=True, text=True).stdout


async def _desk_connected(demo: Demo) -> bool:
    return await _linked(demo, "desk")


async def _linked(demo: Demo, device: str) -> bool:
    return (await demo.state())["devices"][device]["link"] == "connected"


async def _floor_used(demo: Demo) -> bool:
    state = await demo.state()
    return bool(state["speakers"]) and bool(state["waiting"])
