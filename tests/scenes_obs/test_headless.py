"""The headless OBS launcher: what it starts, with which environment, and that it cleans up."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
from pathlib import Path

import pytest

from scenes.headless import DEAD_PROXY, HeadlessObs, add_arguments, free_tcp_port, run
from scenes.obs_connection import ObsConnection
from tests.helpers import until

from .conftest import require_obs

ALLOWED_ENV = {
    "PATH",
    "HOME",
    "XDG_CONFIG_HOME",
    "XDG_DATA_HOME",
    "XDG_CACHE_HOME",
    "XDG_RUNTIME_DIR",
    "DISPLAY",
    "QT_QPA_PLATFORM",
    "LIBGL_ALWAYS_SOFTWARE",
    "LANG",
    "DBUS_SESSION_BUS_ADDRESS",
    "http_proxy",
    "https_proxy",
    "HTTP_PROXY",
    "HTTPS_PROXY",
}


def proc_environ(pid: int) -> dict[str, str]:
    raw = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    return dict(item.decode().split("=", 1) for item in raw if b"=" in item)


async def test_obs_runs_clean_and_keeps_the_password_off_the_command_line(
    obs: HeadlessObs,
) -> None:
    pid = obs.obs_pid
    assert pid is not None
    assert obs.obs_running
    argv = Path(f"/proc/{pid}/cmdline").read_bytes().decode().split("\0")
    assert obs.password not in " ".join(argv)
    assert argv[argv.index("--websocket_port") + 1] == str(obs.port)
    env = proc_environ(pid)
    assert set(env) <= ALLOWED_ENV, set(env) - ALLOWED_ENV
    assert env["QT_QPA_PLATFORM"] == "xcb"
    assert env["LIBGL_ALWAYS_SOFTWARE"] == "1"
    assert all(env[v] == DEAD_PROXY for v in ("http_proxy", "https_proxy", "HTTPS_PROXY"))
    assert env["DISPLAY"] == f":{obs.display}"
    assert env["HOME"] == str(obs.home)
    global_ini = obs.home / ".config/obs-studio/global.ini"
    assert f"ServerPassword={obs.password}" in global_ini.read_text()
    # OBS rewrites global.ini with its own umask, so the 0700 tree is what guards it.
    assert obs.workdir.stat().st_mode & 0o077 == 0
    assert obs.start_seconds is not None
    assert obs.start_seconds > 0


async def test_everything_is_gone_after_exit() -> None:
    require_obs()
    async with HeadlessObs() as obs:
        obs_pid, workdir = obs.obs_pid, obs.workdir
        assert obs_pid is not None
        xvfb = obs._xvfb
        assert xvfb is not None
        xvfb_pid = xvfb.pid
        assert Path(f"/proc/{obs_pid}").exists()
    for pid in (obs_pid, xvfb_pid):
        assert not Path(f"/proc/{pid}").exists(), f"pid {pid} survived"
        try:
            os.killpg(pid, 0)
        except ProcessLookupError:
            pass
        else:
            raise AssertionError(f"process group {pid} still has members")
    assert not workdir.exists()


async def test_run_serves_until_cancelled(capsys: pytest.CaptureFixture[str]) -> None:
    require_obs()
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    args = parser.parse_args(["--port", str(free_tcp_port())])
    task = asyncio.create_task(run(args))
    output: list[str] = []

    def printed() -> bool:
        output.append(capsys.readouterr().out)
        return "headless OBS on ws://127.0.0.1:" in "".join(output)

    try:
        await until(printed, timeout=30)
        line = "".join(output)
        secret = Path(line.rsplit("password in ", 1)[1].strip())
        assert secret.stat().st_mode & 0o077 == 0
        conn = ObsConnection("127.0.0.1", args.port, secret.read_text().strip())
        hello = await conn.open()
        assert hello.auth_required
        await conn.close()
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    assert not secret.exists()  # the whole throwaway tree went with it
