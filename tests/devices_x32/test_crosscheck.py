"""The simulator judged by code we did not write: PyPI `behringer-mixer` (0.4.x).

The library binds its own UDP socket, validates with /xinfo, subscribes with /xremote, reads
every channel's fader, mute, name and colour with bare-address GETs, and applies pushes to
its state. If our simulator's semantics were off (replies to the wrong port, echoes of a
SET, wrong types), its state would disagree with the simulator's.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import Any

import pytest
from behringer_mixer import mixer_api

from councild.model import ChannelSwitched
from devices.sim.x32 import X32Simulator
from devices.x32 import X32Desk, fader_to_db
from tests.devices_x32.conftest import Recorder, connected
from tests.helpers import until


@pytest.fixture
async def library(sim: X32Simulator) -> AsyncIterator[tuple[Any, list[dict[str, Any]]]]:
    sim.state.names[2] = "Mayor"
    sim.state.on[4] = True
    sim.state.faders[3] = 0.5
    mixer = mixer_api.create(
        "X32",
        ip="127.0.0.1",
        port=sim.port,
        include=["channels"],  # channel addresses only: 192 GETs instead of thousands
        delay=0.001,
        logLevel=logging.WARNING,
    )
    assert await mixer.start() is True  # it got an answer to /xinfo
    updates: list[dict[str, Any]] = []
    task = asyncio.create_task(mixer.subscribe(updates.append), name="behringer-mixer")
    await mixer.reload()
    try:
        yield mixer, updates
    finally:
        await mixer.unsubscribe()
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await mixer.stop()


async def test_library_reads_the_simulated_desk(
    sim: X32Simulator, library: tuple[Any, list[dict[str, Any]]]
) -> None:
    mixer, _ = library
    await until(lambda: mixer.state("/ch/32/config_color") is not None)
    for ch in range(1, 33):
        assert mixer.state(f"/ch/{ch}/mix_on") is sim.state.on[ch]
        assert mixer.state(f"/ch/{ch}/config_name") == sim.state.names[ch]
        # The library's own fader law agrees with ours (protocols.md §1).
        assert mixer.state(f"/ch/{ch}/mix_fader_db") == pytest.approx(
            fader_to_db(sim.state.faders[ch]), abs=0.05
        )
    assert mixer.state("/ch/3/mix_fader_db") == -10.0
    assert mixer.name() == "X32-SIM" and mixer.firmware() == "4.06"


async def test_library_and_driver_see_each_others_changes(
    sim: X32Simulator, library: tuple[Any, list[dict[str, Any]]], recorder: Recorder
) -> None:
    mixer, updates = library
    desk = X32Desk("desk", X32Desk.Options(port=sim.port), recorder)
    await desk.start()
    try:
        await connected(desk)
        await until(lambda: mixer.state("/ch/32/config_color") is not None)

        # Our driver's SET reaches the library as an /xremote push.
        await desk.set_channel(5, True)
        await until(lambda: {"property": "/ch/5/mix_on", "value": True} in updates)
        assert mixer.state("/ch/5/mix_on") is True

        # The library's SET (ints 0/1, then a GET) reaches our driver as a change.
        await mixer.set_value("/ch/6/mix_on", True)
        await until(lambda: recorder.of(ChannelSwitched, channel=6, on=True))
        assert sim.state.on[6] is True
        await until(lambda: mixer.state("/ch/6/mix_on") is True)

        # A change on the surface reaches both.
        sim.usecases.surface_rename(3, "Treasurer")
        sim.usecases.surface_mute(4)
        await until(lambda: mixer.state("/ch/3/config_name") == "Treasurer")
        await until(lambda: mixer.state("/ch/4/mix_on") is False)
        await until(lambda: recorder.of(ChannelSwitched, channel=4, on=False))
        assert desk.view.names[3] == "Treasurer"
    finally:
        await desk.stop()
