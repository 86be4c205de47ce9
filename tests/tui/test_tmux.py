"""Smoke test of the real command: `python -m tui` in a detached tmux session, attached to a
`councild run` subprocess; what the technician would see is read back with capture-pane."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from councild.api import ApiClient
from tests.chamber import DaemonProcess, chamber_toml
from tests.helpers import require_binary, until

pytestmark = pytest.mark.timeout(60)

REPO = Path(__file__).resolve().parents[2]
WIDTH, HEIGHT = 100, 30
# Starting Python and Textual in a fresh process on a busy 2-core machine takes a few seconds.
START_S = 20.0


class Tmux:
    """A private tmux server (-L) so that the test never touches the user's sessions."""

    def __init__(self, binary: str) -> None:
        self.binary = binary
        self.server = f"councild-tui-test-{os.getpid()}"

    async def run(self, *args: str) -> str:
        proc = await asyncio.create_subprocess_exec(
            self.binary, "-L", self.server, *args,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        out, err = await proc.communicate()
        if proc.returncode != 0:
            raise AssertionError(f"tmux {args[0]} failed: {err.decode()}")
        return out.decode()

    async def capture(self) -> str:
        return await self.run("capture-pane", "-p", "-t", "tui")

    async def keys(self, *keys: str) -> None:
        await self.run("send-keys", "-t", "tui", *keys)


@pytest.fixture
async def tmux() -> AsyncIterator[Tmux]:
    t = Tmux(require_binary("tmux", "tmux"))
    try:
        yield t
    finally:
        proc = await asyncio.create_subprocess_exec(
            t.binary, "-L", t.server, "kill-server",
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)
        await proc.wait()


async def test_tui_in_tmux_grants_a_seat(tmp_dir: Path, tmux: Tmux) -> None:
    config = tmp_dir / "config.toml"
    config.write_text(chamber_toml())
    sock = tmp_dir / "api.sock"
    daemon = DaemonProcess(config, tmp_dir / "s.db", sock, tmp_dir / "daemon.log")
    await daemon.start()
    client = await ApiClient.connect(sock)
    try:
        command = f"cd {REPO} && TZ=UTC exec {sys.executable} -m tui --socket {sock}"
        await tmux.run("new-session", "-d", "-s", "tui", "-x", str(WIDTH), "-y", str(HEIGHT),
                       command)
        screen = ""

        async def shows(*texts: str) -> bool:
            nonlocal screen
            screen = await tmux.capture()
            return all(t in screen for t in texts)

        # Seat labels and names from the config, and the live marker.
        await until(lambda: shows("Chair", "Member 1", "Member 5", "● live"), START_S)
        assert (await client.request("request", seat="3"))["ok"]
        await until(lambda: shows("? REQ"), 5.0)
        # The roster has focus with its cursor on the chair: down three rows is seat 03.
        await tmux.keys("Home", "Down", "Down", "Down", "g")

        async def speaking() -> bool:
            state = (await client.request("state"))["state"]
            return state["speakers"] == ["3"]

        await until(speaking, 5.0)

        def row_03() -> str:
            # the roster row (the only one with the party column), not the speakers row
            lines = [ln for ln in screen.splitlines() if "Member 3" in ln and " P0 " in ln]
            return lines[0] if lines else ""

        async def seat_3_on() -> bool:
            return await shows("Member 3") and "● ON" in row_03()

        try:
            await until(seat_3_on, 5.0)
        except AssertionError:
            raise AssertionError(f"seat 03 not shown as ON:\n{screen}") from None
        assert "? REQ" not in screen  # the queue is empty again
    finally:
        await client.close()
        daemon.stop()
