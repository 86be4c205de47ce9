"""Desks that behave unlike councild's old simulator: /meters/1 streamed to one client only
(another client asking takes the stream), no push of a SET that changes nothing, and unset
channel names as empty strings. The driver notices a stopped meter stream within a second,
renews it at once, and shows "meters stale" when it does not come back."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from councild.model import ChannelVoice, DeviceStatus, Link
from devices.sim.x32 import X32Simulator
from devices.x32 import FOLLOW_TICK_S, X32Desk, channel_address
from tests.devices_x32.conftest import RawClient, Recorder, connected
from tests.helpers import until


@pytest.fixture
async def one_client_sim() -> AsyncIterator[X32Simulator]:
    async with X32Simulator(meters_one_client=True) as s:
        yield s



async def test_meter_stream_taken_by_another_client_is_renewed_within_1s(
    one_client_sim: X32Simulator, recorder: Recorder
) -> None:
    sim = one_client_sim
    desk = X32Desk("desk", X32Desk.Options(port=sim.port), recorder)
    await desk.start()
    other = await RawClient.open(sim.address)
    try:
        await connected(desk)
        ours = desk.local_address
        await until(lambda: ours in sim._meters)
        # "Within a second" is the driver's bound, not a stopwatch here: a stream silent for
        # meters_stall_s is renewed at the next follow tick.
        assert X32Desk.meters_stall_s + FOLLOW_TICK_S < 1.0
        for _trial in range(3):
            renewals = desk.meter_renewals
            other.send("/meters", "/meters/1", 1)  # a second console asks for meters ...
            await until(lambda: ours not in sim._meters, 5)  # ... and takes the stream
            # Noticed and renewed: the stream is ours again, by one renewal.
            await until(lambda: ours in sim._meters, 5, interval=0.005)
            assert desk.meter_renewals == renewals + 1
        assert desk.health.link == Link.CONNECTED
    finally:
        other.close()
        await desk.stop()


async def test_meters_that_do_not_come_back_are_shown_stale(
    sim: X32Simulator, recorder: Recorder
) -> None:
    desk = X32Desk("desk", X32Desk.Options(port=sim.port, vad_attack=0.0), recorder)
    await desk.start()
    try:
        await connected(desk)
        sim.usecases.talk(4, -10.0)
        await until(lambda: recorder.of(ChannelVoice, channel=4, active=True))
        sim.usecases.halt_meters()
        await until(lambda: desk.meters_stale, 10.0)
        assert "meters stale" in desk.health.detail
        assert desk.health.link == Link.CONNECTED  # the desk still answers everything else
        statuses = [e for e in recorder.events if isinstance(e, DeviceStatus)]
        assert "meters stale" in statuses[-1].detail
        # The voice detector is blind: voice is reported stopped, not left stuck.
        assert recorder.of(ChannelVoice, channel=4, active=False)
        renewals = desk.meter_renewals
        await until(lambda: desk.meter_renewals > renewals, 10.0)  # it keeps asking
        sim.usecases.halt_meters(False)
        await until(lambda: not desk.meters_stale, 10.0)
        assert "meters stale" not in desk.health.detail
    finally:
        await desk.stop()


async def test_an_unchanged_set_is_not_pushed(sim: X32Simulator, client: RawClient) -> None:
    other = await RawClient.open(sim.address)
    try:
        other.send("/xremote")
        await other.barrier()
        address = channel_address(7, "mix/on")
        client.send(address, 0)  # already off: nothing changes, nothing is pushed
        await client.barrier()
        assert await other.barrier() == []
        client.send(address, 1)
        await client.barrier()
        pushed = await other.barrier()
        assert [(m.address, m.args) for m in pushed] == [(address, (1,))]
    finally:
        other.close()


async def test_unset_names_are_empty_strings(sim: X32Simulator, client: RawClient) -> None:
    client.send(channel_address(9, "config/name"))
    msg = await client.recv()
    assert msg.args == ("",)


async def test_driver_does_not_rely_on_pushes_or_names(
    sim: X32Simulator, recorder: Recorder
) -> None:
    """Names read as empty are fine; a SET of ours is read back, not waited for as a push;
    another console's SET that changes nothing produces no event."""
    desk = X32Desk("desk", X32Desk.Options(port=sim.port, channels=8), recorder)
    await desk.start()
    other = await RawClient.open(sim.address)
    try:
        await connected(desk)
        assert desk.view.names == {ch: "" for ch in range(1, 9)}
        await desk.set_channel(3, True)
        await until(lambda: sim.state.on[3])
        n = len(recorder.events)
        other.send(channel_address(3, "mix/on"), 1)  # the same value again
        sim.usecases.surface_unmute(3)  # pressing "on" on an open channel: no change
        await other.barrier()
        await until(lambda: desk.health.link == Link.CONNECTED)
        assert desk.view.on[3] is True
        assert [e for e in recorder.events[n:] if not isinstance(e, DeviceStatus)
                and getattr(e, "channel", None) == 3 and not hasattr(e, "dbfs")] == []
    finally:
        other.close()
        await desk.stop()
