"""`councild sim cu` entry points: add_arguments/run serve a CU on TCP or a pty until cancelled."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import re
from pathlib import Path

import pytest

from councild.model import Link
from devices.conference import ConferenceUnit, DcsOptions
from devices.sim import cu
from tests.helpers import until


async def _serve(
    argv: list[str], capsys: pytest.CaptureFixture[str], pattern: str
) -> tuple[asyncio.Task[None], str]:
    parser = argparse.ArgumentParser()
    cu.add_arguments(parser)
    task = asyncio.create_task(cu.run(parser.parse_args(argv)))
    out = ""

    def printed() -> bool:
        nonlocal out
        out += capsys.readouterr().out
        return re.search(pattern, out) is not None

    await until(printed)
    match = re.search(pattern, out)
    assert match is not None
    return task, match.group(1)


async def _check_driver(options: DcsOptions) -> None:
    device = ConferenceUnit("cu", options, lambda e: None)
    await device.start()
    try:
        await until(lambda: device.health.link == Link.CONNECTED)
        await device.set_channel(7, True)
        await until(lambda: device.speakers == (7,))
    finally:
        await device.stop()


async def _cancel(task: asyncio.Task[None]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def test_run_tcp(capsys: pytest.CaptureFixture[str]) -> None:
    task, port = await _serve(
        ["--port", "0", "--script", "random", "--seed", "3"],
        capsys,
        r"listening on 127\.0\.0\.1:(\d+)",
    )
    try:
        await _check_driver(DcsOptions(transport="tcp", host="127.0.0.1", port=int(port)))
    finally:
        await _cancel(task)


async def test_run_pty_with_link(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    link = tmp_path / "cu"
    task, path = await _serve(
        ["--pty", "--link", str(link), "--mode", "manual"], capsys, r"serial pty (\S+)"
    )
    try:
        assert os.path.realpath(link) == path
        await _check_driver(DcsOptions(transport="serial", path=str(link)))
    finally:
        await _cancel(task)
    assert not link.exists()  # the simulator removes its link when it stops
