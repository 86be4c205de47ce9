"""A chair keypad press → the floor → the desk channel opens at the X32 simulator.

Everything is real except the person: the serial button box simulator on a pty, the serial
keypad driver, the pure Keypad, the control API of an in-process daemon whose config has an
x32 desk pointed at the X32 simulator on 127.0.0.1, and the X32 driver speaking OSC to it.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from councild.api import ApiClient
from councild.config import parse
from councild.daemon import Daemon
from councild.keypad import Keypad
from councild.model import Event, Link
from devices.keypad_serial import SerialKeypad
from devices.sim.keypad import ButtonBoxSimulator
from devices.sim.x32 import X32Simulator
from tests.chamber import BASE
from tests.helpers import until
from tests.keypad.conftest import ApiKeypadAdapter

MEMBERS = 6


def chamber_with_desk(port: int) -> str:
    parts = [BASE]
    for i in range(1, MEMBERS + 1):
        parts.append(f'[[councillors]]\nid = "m{i}"\nname = "Member {i}"\n')
    parts.append('[[seats]]\nid = "C"\nlabel = "Chair"\ncouncillor = "chair"\n'
                 'mic = { device = "desk", channel = 16 }\n')
    for i in range(1, MEMBERS + 1):
        parts.append(f'[[seats]]\nid = "{i}"\nlabel = "{i:02d}"\ncouncillor = "m{i}"\n'
                     f'mic = {{ device = "desk", channel = {i} }}\n')
    parts.append(f'[devices.desk]\ndriver = "x32"\nhost = "127.0.0.1"\nport = {port}\n'
                 'meters = false\n')
    return "\n".join(parts)


@pytest.fixture
async def desk() -> AsyncIterator[X32Simulator]:
    sim = X32Simulator(host="127.0.0.1", port=0)
    await sim.start()
    try:
        yield sim
    finally:
        await sim.stop()


@pytest.fixture
async def chamber(desk: X32Simulator, short_tmp: Path) -> AsyncIterator[Daemon]:
    daemon = Daemon(parse(chamber_with_desk(desk.address[1])), store_path=short_tmp / "s.db",
                    socket_path=short_tmp / "api.sock")
    await daemon.start()
    try:
        await until(lambda: daemon.device_views["desk"].link is Link.CONNECTED, timeout=10)
        yield daemon
    finally:
        await daemon.stop()


async def test_typing_a_seat_at_the_box_opens_its_desk_channel(
    chamber: Daemon, desk: X32Simulator, tmp_path: Path
) -> None:
    client = await ApiClient.connect(Path(chamber.socket_path))
    adapter = ApiKeypadAdapter(client)
    pad = Keypad.from_config({}, entry_timeout=4.0)
    started: dict[str, float] = {}

    def emit(event: Event) -> None:
        adapter.key(pad, event, time.monotonic())

    try:
        async with ButtonBoxSimulator(link=str(tmp_path / "ttyBOX")) as box:
            keypad = SerialKeypad("chairbox", SerialKeypad.Options(path=box.path), emit)
            await keypad.start()
            try:
                await until(lambda: keypad.health.link is Link.CONNECTED)
                assert desk.state.on[4] is False
                started["t"] = time.monotonic()
                box.usecases.type_seat("4")
                await until(lambda: desk.state.on[4])
                latency = time.monotonic() - started["t"]
                assert chamber.state.speaking("4")
                box.usecases.type_seat("2")
                await until(lambda: desk.state.on[2])
                # NEXT closes the longest-speaking delegate (4); nobody waits, so none opens.
                box.usecases.tap("NEXT")
                await until(lambda: not desk.state.on[4])
                assert desk.state.on[2]
                # Priority held at the box closes every delegate at the desk.
                box.usecases.press("PRIORITY")
                await until(lambda: not desk.state.on[2])
                assert chamber.state.priority
                box.usecases.release("PRIORITY")
                await until(lambda: not chamber.state.priority)
            finally:
                await keypad.stop()
        assert adapter.refused == []
        # A measurement, not a pass/fail criterion: shared CI machines are slow.
        print(f"box key → X32 simulator channel on: {latency * 1000:.1f} ms")
    finally:
        await adapter.close()
        await client.close()
