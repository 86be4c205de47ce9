"""ViscaCamera against the simulator over real UDP on 127.0.0.1 and a real pty."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest

from councild.errors import ConnectionLostError
from councild.model import DeviceStatus, Event, Link
from devices import driver_class
from devices.sim.visca import ViscaSimulator
from devices.visca import (
    ERR_NOT_EXECUTABLE,
    CameraMotion,
    ControlReset,
    IfClear,
    RecallPreset,
    StorePreset,
    ViscaCamera,
    ViscaCommandError,
    ViscaOptions,
)
from tests.helpers import until

MOVE_TIME = 0.3


class Recorder:
    """The driver's `emit`, stamping each event with the monotonic time it arrived."""

    def __init__(self) -> None:
        self.stamped: list[tuple[float, Event]] = []

    def __call__(self, event: Event) -> None:
        self.stamped.append((time.monotonic(), event))

    def motions(self) -> list[tuple[float, CameraMotion]]:
        return [(t, e) for t, e in self.stamped if isinstance(e, CameraMotion)]

    def link(self) -> Link | None:
        links = [e.link for _, e in self.stamped if isinstance(e, DeviceStatus)]
        return links[-1] if links else None

    def errors(self) -> int:
        counts = [e.errors for _, e in self.stamped if isinstance(e, DeviceStatus)]
        return counts[-1] if counts else 0


@pytest.fixture
async def sim() -> AsyncIterator[ViscaSimulator]:
    async with ViscaSimulator(move_time=MOVE_TIME) as camera:
        yield camera


def _camera(sim: ViscaSimulator, recorder: Recorder, **options: Any) -> ViscaCamera:
    opts = ViscaOptions(host="127.0.0.1", port=sim.port, **options)
    return ViscaCamera("cam1", opts, recorder)


@pytest.fixture
async def connected(sim: ViscaSimulator) -> AsyncIterator[tuple[ViscaCamera, Recorder]]:
    recorder = Recorder()
    camera = _camera(sim, recorder)
    await camera.start()
    try:
        await until(lambda: recorder.link() == Link.CONNECTED)
        yield camera, recorder
    finally:
        await camera.stop()


def test_registered_as_a_driver() -> None:
    # The daemon finds drivers by name: a camera missing from the registry is a failure.
    assert driver_class("visca") is ViscaCamera


def test_options_validate() -> None:
    with pytest.raises(ValueError, match="path"):
        ViscaOptions(transport="serial")
    with pytest.raises(ValueError, match="less than or equal to 7"):
        ViscaOptions(address=8)
    assert ViscaOptions().port == 52381


async def test_connects_with_reset_and_if_clear(
    sim: ViscaSimulator, connected: tuple[ViscaCamera, Recorder]
) -> None:
    kinds = [type(e) for e in sim.state.received]
    assert kinds[:2] == [ControlReset, IfClear]
    recorder = connected[1]
    assert recorder.link() == Link.CONNECTED


async def test_recall_waits_for_ack_then_completion_after_the_move_time(
    sim: ViscaSimulator, connected: tuple[ViscaCamera, Recorder]
) -> None:
    camera, recorder = connected
    started = time.monotonic()
    await camera.recall(5)
    elapsed = time.monotonic() - started
    # Not before the camera arrived (a lower bound no slow machine can break); how long after
    # is the scheduler's business, not this test's.
    assert elapsed >= MOVE_TIME
    assert sim.state.recalls == [5]
    assert sim.state.preset == 5
    assert camera.preset == 5
    (t_moving, moving), (t_settled, settled) = recorder.motions()
    assert (moving.moving, moving.preset, settled.moving, settled.ok) == (True, 5, False, True)
    assert t_settled - t_moving >= MOVE_TIME * 0.9
    recalls = [e for e in sim.state.received if isinstance(e, RecallPreset)]
    assert [(e.address, e.preset) for e in recalls] == [(1, 5)]
    assert recalls[0].seq is not None  # sequence numbers over IP


async def test_a_busy_camera_refuses_with_error_41(
    sim: ViscaSimulator, connected: tuple[ViscaCamera, Recorder]
) -> None:
    camera, recorder = connected
    sim.state.move_time = 5.0
    sim.usecases.operator_recall(9)  # someone else is moving the camera
    with pytest.raises(ViscaCommandError) as err:
        await camera.recall(3)
    assert err.value.code == ERR_NOT_EXECUTABLE
    assert recorder.motions() == []  # never started: nothing to report
    assert sim.state.refused == 1


async def test_a_newer_recall_supersedes_one_still_waiting(
    sim: ViscaSimulator, connected: tuple[ViscaCamera, Recorder]
) -> None:
    camera, recorder = connected
    first = asyncio.create_task(camera.recall(1))
    await until(lambda: len(recorder.motions()) == 1)  # preset 1 under way
    second = asyncio.create_task(camera.recall(2))
    third = asyncio.create_task(camera.recall(3))
    await asyncio.gather(first, second, third)
    assert sim.state.recalls == [1, 3]
    assert [(e.moving, e.preset) for _, e in recorder.motions()] == [
        (True, 1),
        (False, 1),
        (True, 3),
        (False, 3),
    ]


async def test_store_preset(sim: ViscaSimulator, connected: tuple[ViscaCamera, Recorder]) -> None:
    camera, _recorder = connected
    await camera.store(12)
    assert sim.state.stored == {12}
    assert any(isinstance(e, StorePreset) and e.preset == 12 for e in sim.state.received)


async def test_completion_timeout_reports_a_failed_move(sim: ViscaSimulator) -> None:
    class Impatient(ViscaCamera):
        completion_timeout_s = 0.2

    recorder = Recorder()
    camera = Impatient("cam1", ViscaOptions(port=sim.port), recorder)
    sim.state.move_time = 2.0
    await camera.start()
    try:
        await until(lambda: recorder.link() == Link.CONNECTED)
        with pytest.raises(ViscaCommandError, match="no completion"):
            await camera.recall(4)
        motions = [e for _, e in recorder.motions()]
        assert [(m.moving, m.ok) for m in motions] == [(True, True), (False, False)]
        assert camera.preset is None
    finally:
        await camera.stop()


async def test_malformed_replies_are_counted_not_fatal(
    sim: ViscaSimulator, connected: tuple[ViscaCamera, Recorder]
) -> None:
    camera, recorder = connected
    assert camera.local_address is not None
    sim.send_raw(b"\x01\x11\x00\x40garbage", camera.local_address)
    sim.send_raw(b"\x01\x11\x00\x03\x00\x00\x00\x00\x90\x41", camera.local_address)
    await until(lambda: recorder.errors() >= 2)
    await camera.recall(2)  # still working
    assert recorder.link() == Link.CONNECTED


async def test_not_connected_raises(sim: ViscaSimulator) -> None:
    camera = _camera(sim, Recorder())
    with pytest.raises(ConnectionLostError):
        await camera.recall(1)


async def test_lost_within_3_s_when_the_camera_goes_away_and_back_when_it_returns() -> None:
    recorder = Recorder()
    sim = ViscaSimulator(move_time=MOVE_TIME)
    await sim.start()
    port = sim.port
    camera = _camera(sim, recorder)
    await camera.start()
    try:
        await until(lambda: recorder.link() == Link.CONNECTED)
        await sim.stop()
        await until(lambda: recorder.link() in (Link.LOST, Link.RECONNECTING), timeout=10.0)
        sim = ViscaSimulator(port=port, move_time=MOVE_TIME)
        await sim.start()
        await until(lambda: recorder.link() == Link.CONNECTED, timeout=8.0)
        await camera.recall(6)
        assert sim.state.recalls == [6]
    finally:
        await camera.stop()
        await sim.stop()


async def test_a_dark_camera_is_lost_within_3_s(
    sim: ViscaSimulator, connected: tuple[ViscaCamera, Recorder]
) -> None:
    # "Within 3 s" is the driver's liveness deadline, not a stopwatch (tests do not fail on a
    # loaded machine's late timers).
    assert ViscaCamera.liveness_timeout_s < 3.0
    recorder = connected[1]
    sim.usecases.power_off()  # the socket stays, nothing answers
    await until(lambda: recorder.link() in (Link.LOST, Link.RECONNECTING), timeout=10.0)
    sim.usecases.power_on()
    await until(lambda: recorder.link() == Link.CONNECTED, timeout=8.0)


async def test_serial_over_a_pty() -> None:
    async with ViscaSimulator(transport="pty", move_time=MOVE_TIME) as sim:
        assert sim.tty_path is not None
        recorder = Recorder()
        camera = ViscaCamera("cam1", ViscaOptions(transport="serial", path=sim.tty_path), recorder)
        await camera.start()
        try:
            await until(lambda: recorder.link() == Link.CONNECTED)
            started = time.monotonic()
            await camera.recall(7)
            assert time.monotonic() - started >= MOVE_TIME
            assert sim.state.recalls == [7]
            assert all(e.seq is None for e in sim.state.received)  # no IP header on serial
        finally:
            await camera.stop()


async def test_stop_during_a_move_reports_it_failed(
    sim: ViscaSimulator, connected: tuple[ViscaCamera, Recorder]
) -> None:
    camera, recorder = connected
    sim.state.move_time = 5.0
    task = asyncio.create_task(camera.recall(8))
    await until(lambda: len(recorder.motions()) == 1)
    await camera.stop()
    with pytest.raises((ConnectionLostError, asyncio.CancelledError)):
        await task
    assert [(e.moving, e.ok) for _, e in recorder.motions()] == [(True, True), (False, False)]
