"""X32Desk / XAirDesk against the simulator over real UDP on 127.0.0.1."""

from __future__ import annotations

import asyncio
import itertools
import time
from typing import ClassVar

import pytest
from hypothesis import given
from hypothesis import strategies as st

from councild.errors import ConnectionLostError
from councild.model import (
    ChannelLevel,
    ChannelSwitched,
    ChannelVoice,
    DeviceStatus,
    Link,
)
from devices import driver_class
from devices.sim.x32 import X32Simulator
from devices.x32 import X32Desk, X32LocalError, XAirDesk, channel_address, encode_message
from tests.devices_x32.conftest import RawClient, Recorder, connected
from tests.helpers import until

# The brief's budget for reporting a silent desk as lost.
LOSS_BUDGET_S = 3.0


def test_registry_maps_to_these_classes() -> None:
    assert driver_class("x32") is X32Desk
    assert driver_class("xair") is XAirDesk
    assert X32Desk.Options().port == 10023 and X32Desk.Options().channels == 32
    assert XAirDesk.Options().port == 10024 and XAirDesk.Options().channels == 16
    with pytest.raises(ValueError, match="channels"):
        XAirDesk.Options(channels=32)
    with pytest.raises(ValueError, match="driver"):
        X32Desk.Options(driver="xair")  # type: ignore[arg-type]


async def test_resync_reports_every_channel_once(recorder: Recorder) -> None:
    async with X32Simulator() as sim:
        sim.state.on[4] = True
        sim.state.names[2] = "Mayor"
        desk = X32Desk("desk", X32Desk.Options(port=sim.port), recorder)
        await desk.start()
        try:
            await connected(desk)
            switched = recorder.of(ChannelSwitched)
            assert sorted(e.channel for e in switched) == list(range(1, 33))
            assert {e.channel: e.on for e in switched} == sim.state.on
            assert desk.view.names == sim.state.names
            assert desk.view.faders == sim.state.faders
            status = recorder.of(DeviceStatus, link=Link.CONNECTED)[0]
            assert status.detail == "X32 4.06" and status.errors == 0
            # Subscribed before the resync, and probed with /info.
            received = sim.state.addresses_received()
            assert received.index("/xremote") < received.index("/ch/01/mix/on")
            assert received[0] == "/info"
            # Everything after CONNECTED is in the view: CONNECTED means "state is current".
            t_connected = recorder.first_time(DeviceStatus, link=Link.CONNECTED)
            assert t_connected is not None
            assert not recorder.of(ChannelSwitched, since=t_connected)
        finally:
            await desk.stop()


async def test_surface_mute_change_is_emitted(
    sim: X32Simulator, desk: X32Desk, recorder: Recorder
) -> None:
    # How fast (≤ 100 ms as a median): bench/desk_latency.py; here: each change, once, in order.
    for channel, on in ((5, True), (5, False), (17, True)):
        t0 = time.monotonic()
        sim.usecases.surface_switch(channel, on)
        await until(lambda c=channel, o=on, t=t0: recorder.of(ChannelSwitched, t, channel=c, on=o))
        assert len(recorder.of(ChannelSwitched, t0, channel=channel)) == 1
    sim.usecases.surface_rename(9, "Alderman")
    await until(lambda: desk.view.names.get(9) == "Alderman")


async def test_another_clients_set_is_seen_as_a_change(
    sim: X32Simulator, desk: X32Desk, recorder: Recorder, client: RawClient
) -> None:
    t0 = time.monotonic()
    client.send("/ch/21/mix/on", 1)
    await until(lambda: recorder.of(ChannelSwitched, t0, channel=21, on=True))
    assert desk.view.on[21] is True


async def test_set_channel_changes_the_desk_and_emits_nothing_for_it(
    sim: X32Simulator, desk: X32Desk, recorder: Recorder
) -> None:
    t0 = time.monotonic()
    await desk.set_channel(7, True)
    await until(lambda: sim.state.on[7] is True)
    assert desk.view.on[7] is True
    # The driver reads the value back; wait until the desk answered that GET...
    await until(lambda: sim.state.addresses_received()[-1] == channel_address(7, "mix/on"))
    # ...then a surface change queued behind that answer proves the answer was processed.
    sim.usecases.surface_unmute(8)
    await until(lambda: recorder.of(ChannelSwitched, t0, channel=8))
    assert recorder.of(ChannelSwitched, t0, channel=7) == []
    # What went on the wire: the SET with an int, never a bool.
    sets = [m for _, m in sim.state.received if m.address == "/ch/07/mix/on" and m.args]
    assert [m.args for m in sets] == [(1,)]
    await desk.set_channel(7, False)
    await until(lambda: sim.state.on[7] is False)


async def test_rapid_own_toggles_emit_nothing(
    sim: X32Simulator, desk: X32Desk, recorder: Recorder
) -> None:
    address = channel_address(7, "mix/on")

    def gets() -> int:
        return [m.args for _a, m in sim.state.received if m.address == address].count(())

    before = gets()  # the resync read it once
    t0 = time.monotonic()
    for on in (True, False, True, False, True):
        await desk.set_channel(7, on)  # no await between them reaches the desk
    await until(lambda: gets() == before + 5)
    sim.usecases.surface_unmute(8)  # queued behind the five read-back answers
    await until(lambda: recorder.of(ChannelSwitched, t0, channel=8))
    assert recorder.of(ChannelSwitched, t0, channel=7) == []
    assert sim.state.on[7] is True and desk.view.on[7] is True


async def test_set_channel_refuses_bad_channels_and_a_missing_desk(
    sim: X32Simulator, recorder: Recorder
) -> None:
    desk = X32Desk("desk", X32Desk.Options(port=sim.port, channels=8), recorder)
    with pytest.raises(ConnectionLostError):
        await desk.set_channel(1, True)  # never started
    await desk.start()
    try:
        await connected(desk)
        with pytest.raises(X32LocalError):
            await desk.set_channel(9, True)
        with pytest.raises(X32LocalError):
            await desk.set_channel(0, True)
        assert sorted(e.channel for e in recorder.of(ChannelSwitched)) == list(range(1, 9))
    finally:
        await desk.stop()
    assert recorder.links()[-1] == Link.CLOSED


async def test_lost_within_3_s_then_reconnects_and_resyncs(recorder: Recorder) -> None:
    sim = X32Simulator()
    await sim.start()
    port, state = sim.port, sim.state
    desk = X32Desk("desk", X32Desk.Options(port=port), recorder)
    await desk.start()
    try:
        await connected(desk)
        t_stop = time.monotonic()
        await sim.stop()
        # "Within 3 s" is the liveness deadline (checked against the budget, not a stopwatch):
        # a loaded machine may run the timer late, and a test must not fail on that.
        assert X32Desk.liveness_timeout_s < LOSS_BUDGET_S
        await until(lambda: recorder.of(DeviceStatus, t_stop, link=Link.LOST), timeout=10.0)
        # While the desk is down, someone changes it at the surface.
        state.on[9] = True
        state.names[9] = "Deputy"
        t_back = time.monotonic()
        sim = X32Simulator(port=port, state=state)
        await sim.start()
        await until(lambda: recorder.of(DeviceStatus, t_back, link=Link.CONNECTED), timeout=10.0)
        assert recorder.of(ChannelSwitched, t_back, channel=9, on=True)
        assert desk.view.names[9] == "Deputy"
        assert len(recorder.of(ChannelSwitched, t_back)) == 32  # a full resync
        assert Link.RECONNECTING in recorder.links()
        # Following again: pushes arrive on the new subscription.
        t1 = time.monotonic()
        sim.usecases.surface_mute(9)
        await until(lambda: recorder.of(ChannelSwitched, t1, channel=9, on=False))
    finally:
        await desk.stop()
        await sim.stop()


async def test_garbage_and_foreign_datagrams_are_counted_not_raised(
    sim: X32Simulator, desk: X32Desk, recorder: Recorder
) -> None:
    target = desk.local_address
    assert target is not None
    stranger = await RawClient.open(target)
    try:
        sim.send_raw(b"\x00garbage!", target)  # from the desk's own address
        sim.send_raw(encode_message("/ch/01/mix/on", 7), target)  # valid OSC, bad value
        stranger.send("/ch/01/mix/on", 1)  # a valid change, from the wrong address
        await until(lambda: desk.health.errors == 3)
        # The count is published rate-limited (at most every 0.5 s), never lost.
        await until(lambda: recorder.of(DeviceStatus)[-1].errors == 3, 2)
        assert recorder.of(ChannelSwitched, channel=1, on=True) == []
        assert desk.health.link == Link.CONNECTED
        # and the driver still follows the desk afterwards
        sim.usecases.surface_unmute(1)
        await until(lambda: recorder.of(ChannelSwitched, channel=1, on=True))
    finally:
        stranger.close()


class FastRenewDesk(X32Desk):
    xremote_renew_s: ClassVar[float] = 0.15
    meters_renew_s: ClassVar[float] = 0.15


async def test_subscriptions_are_renewed_before_they_expire(recorder: Recorder) -> None:
    async with X32Simulator(subscription_s=0.4, meter_stream_s=0.4) as sim:
        desk = FastRenewDesk("desk", FastRenewDesk.Options(port=sim.port), recorder)
        await desk.start()
        try:
            await connected(desk)
            t_connected = time.monotonic()
            # Wait until well past the first subscription's lifetime.
            await until(lambda: sim.state.addresses_received().count("/xremote") >= 6)
            assert time.monotonic() - t_connected > 0.4
            t0 = time.monotonic()
            sim.usecases.surface_unmute(3)
            await until(lambda: recorder.of(ChannelSwitched, t0, channel=3, on=True))
            sim.usecases.talk(4, -18.0)
            await until(lambda: recorder.of(ChannelLevel, t0, channel=4, dbfs=-18.0))
            assert sim.state.addresses_received().count("/meters") >= 3
        finally:
            await desk.stop()


async def test_meters_give_rate_limited_levels_and_voice_transitions(recorder: Recorder) -> None:
    async with X32Simulator() as sim:
        options = X32Desk.Options(port=sim.port, vad_attack=0.1, vad_hold=0.2)
        desk = X32Desk("desk", options, recorder)
        await desk.start()
        try:
            await connected(desk)
            t0 = time.monotonic()
            sim.usecases.talk(3, -20.0)
            await until(lambda: recorder.of(ChannelVoice, t0, channel=3, active=True))
            assert desk.view.voice[3] is True
            # A level that keeps moving, so the deadband never hides an update.
            mover = asyncio.create_task(_wobble(sim, 3))
            await until(lambda: len(recorder.of(ChannelLevel, t0, channel=3)) >= 8)
            mover.cancel()
            await asyncio.gather(mover, return_exceptions=True)
            sim.usecases.silence(3)
            t1 = time.monotonic()
            await until(lambda: recorder.of(ChannelVoice, t1, channel=3, active=False))
            off_at = recorder.first_time(ChannelVoice, t1, channel=3, active=False)
            assert off_at is not None and off_at - t1 >= 0.2  # the hold
            stamps = [
                t for t, e in recorder.stamped if isinstance(e, ChannelLevel) and e.channel == 3
            ]
            gaps = [b - a for a, b in itertools.pairwise(stamps)]
            # emitted at most every 50 ms (1 ms allowance for where the stamp is taken)
            assert min(gaps) >= 0.049
            # silent channels cost nothing after their first report
            assert len(recorder.of(ChannelLevel, channel=20)) == 1
            assert [e.active for e in recorder.of(ChannelVoice)] == [True, False]
        finally:
            await desk.stop()


async def _wobble(sim: X32Simulator, channel: int) -> None:
    level = -20.0
    while True:
        level = -14.0 if level < -17.0 else -20.0
        sim.usecases.talk(channel, level)
        await asyncio.sleep(0.01)


async def test_voice_is_reported_stopped_when_the_desk_is_lost(recorder: Recorder) -> None:
    sim = X32Simulator()
    await sim.start()
    desk = X32Desk("desk", X32Desk.Options(port=sim.port, vad_attack=0.0), recorder)
    await desk.start()
    try:
        await connected(desk)
        sim.usecases.talk(6, -10.0)
        await until(lambda: recorder.of(ChannelVoice, channel=6, active=True))
        await sim.stop()
        await until(lambda: recorder.of(ChannelVoice, channel=6, active=False), timeout=6.0)
        # Stopped no later than the link is lost (earlier, as soon as the meters are stale).
        await until(lambda: recorder.of(DeviceStatus, link=Link.LOST), timeout=6.0)
        t_off = recorder.first_time(ChannelVoice, channel=6, active=False)
        t_lost = recorder.first_time(DeviceStatus, link=Link.LOST)
        assert t_off is not None and t_lost is not None and t_off <= t_lost
    finally:
        await desk.stop()
        await sim.stop()


async def test_meters_off_means_no_meter_subscription(recorder: Recorder) -> None:
    async with X32Simulator() as sim:
        desk = X32Desk("desk", X32Desk.Options(port=sim.port, meters=False), recorder)
        await desk.start()
        try:
            await connected(desk)
            await until(lambda: sim.state.addresses_received().count("/status") >= 1)
            assert "/meters" not in sim.state.addresses_received()
            assert recorder.of(ChannelLevel) == []
        finally:
            await desk.stop()


async def test_xair_desk_against_the_xair_simulator(recorder: Recorder) -> None:
    async with X32Simulator(xair=True) as sim:
        desk = XAirDesk("xr18", XAirDesk.Options(port=sim.port, vad_attack=0.0), recorder)
        await desk.start()
        try:
            await connected(desk)
            assert sim.state.addresses_received()[0] == "/xinfo"
            assert sorted(e.channel for e in recorder.of(ChannelSwitched)) == list(range(1, 17))
            assert recorder.of(DeviceStatus, link=Link.CONNECTED)[0].detail == "XR18 1.17"
            sim.usecases.talk(16, -15.0)
            await until(lambda: recorder.of(ChannelVoice, channel=16, active=True))
            await until(lambda: recorder.of(ChannelLevel, channel=16, dbfs=-15.0))
            await desk.set_channel(16, True)
            await until(lambda: sim.state.on[16] is True)
        finally:
            await desk.stop()


async def test_no_desk_at_all_is_retried_not_raised(recorder: Recorder) -> None:
    probe = await RawClient.open(("127.0.0.1", 9))
    port = probe.address[1]  # a port with a socket that never answers
    desk = X32Desk("desk", X32Desk.Options(port=port), recorder)
    await desk.start()
    try:
        await until(lambda: Link.LOST in recorder.links(), timeout=5.0)
        assert "OperationTimeoutError" in recorder.of(DeviceStatus, link=Link.LOST)[0].detail
        assert desk.health.link in (Link.LOST, Link.RECONNECTING)
        assert not probe.inbox.empty()  # it did probe: /info arrived at the silent socket
    finally:
        await desk.stop()
        probe.close()


@given(
    st.lists(
        st.one_of(
            st.binary(max_size=80),
            st.builds(
                lambda ch, leaf, arg: encode_message(channel_address(ch, leaf), arg),
                st.integers(min_value=1, max_value=40),
                st.sampled_from(["mix/on", "mix/fader", "config/name"]),
                st.one_of(
                    st.integers(-5, 5),
                    st.floats(width=32),
                    # UTF-8 on the wire: no lone surrogates (the encoder cannot send them)
                    st.text(st.characters(blacklist_characters="\0",
                                          blacklist_categories=("Cs",)), max_size=14),
                ),
            ),
        ),
        max_size=30,
    )
)
async def test_arbitrary_datagrams_from_the_desk_are_counted_never_raised(
    datagrams: list[bytes],
) -> None:
    recorder = Recorder()
    desk = X32Desk("desk", X32Desk.Options(), recorder)
    peer = ("127.0.0.1", 10023)
    desk._peer = peer  # the receive path exactly as the socket callback calls it
    accepted = 0
    for data in datagrams:
        before = desk.health.errors
        desk._on_datagram(data, peer)
        accepted += desk.health.errors == before
    assert desk.datagrams == accepted
    assert desk.health.errors == len(datagrams) - accepted
    assert all(isinstance(e.on, bool) for e in recorder.of(ChannelSwitched))
