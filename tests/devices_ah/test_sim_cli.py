"""`councild sim sq` entry points: add_arguments/run serve a real desk until cancelled."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import re

import pytest

from councild.model import ChannelSwitched, Event, Link
from devices.allen_heath import QuDesk, QuOptions, SQDesk, SQOptions
from devices.sim import sq
from tests.helpers import until


@pytest.mark.parametrize("variant", ["sq", "qu"])
async def test_run_prints_its_port_and_serves(
    variant: str, capsys: pytest.CaptureFixture[str]
) -> None:
    parser = argparse.ArgumentParser()
    sq.add_arguments(parser)
    args = parser.parse_args(["--port", "0", "--variant", variant, "--script", "random"])
    task = asyncio.create_task(sq.run(args))
    out = ""

    def listening() -> bool:
        nonlocal out
        out += capsys.readouterr().out
        return "listening on" in out

    events: list[Event] = []
    try:
        await until(listening)
        match = re.search(r"listening on 127\.0\.0\.1:(\d+)", out)
        assert match is not None
        port = int(match.group(1))
        device = (
            SQDesk("d", SQOptions(port=port, channels=(1, 2)), events.append)
            if variant == "sq"
            else QuDesk("d", QuOptions(port=port, channels=(1, 2)), events.append)
        )
        await device.start()
        try:
            await until(lambda: device.health.link == Link.CONNECTED)
            if variant == "sq":  # resync by GET: the desk answered both channels
                await until(lambda: len([e for e in events if isinstance(e, ChannelSwitched)]) == 2)
            await device.set_channel(1, False)
            await until(lambda: device.muted.get(1) is True)
        finally:
            await device.stop()
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    assert task.cancelled()
