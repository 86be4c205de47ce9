"""SQ / Qu drivers against the desk simulator over real TCP on 127.0.0.1."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator

import pytest

from councild.errors import ConnectionLostError
from councild.model import ChannelSwitched, DeviceStatus, Event, Link
from devices import driver_class
from devices.allen_heath import LOST_AFTER, MuteQuery, QuDesk, QuOptions, SQDesk, SQOptions
from devices.sim.sq import SQSimulator, SQUseCases
from tests.helpers import until

CHANNELS = (1, 2, 3, 4)


class Recorder:
    def __init__(self) -> None:
        self.events: list[Event] = []

    def __call__(self, event: Event) -> None:
        self.events.append(event)

    def switched(self) -> list[ChannelSwitched]:
        return [e for e in self.events if isinstance(e, ChannelSwitched)]

    def links(self) -> list[Link]:
        return [e.link for e in self.events if isinstance(e, DeviceStatus)]

    def last_link(self) -> Link | None:
        links = self.links()
        return links[-1] if links else None


@pytest.fixture
async def sim() -> AsyncIterator[SQSimulator]:
    async with SQSimulator() as s:
        yield s


@pytest.fixture
async def desk(sim: SQSimulator) -> AsyncIterator[tuple[SQDesk, Recorder]]:
    rec = Recorder()
    options = SQOptions(host="127.0.0.1", port=sim.port, channels=CHANNELS)
    device = SQDesk("desk", options, rec)
    await device.start()
    await until(lambda: rec.last_link() == Link.CONNECTED and len(rec.switched()) == 4)
    yield device, rec
    await device.stop()


def test_registry_names_these_classes() -> None:
    assert driver_class("sq") is SQDesk
    assert driver_class("qu") is QuDesk
    opts = SQDesk.Options.model_validate({"driver": "sq", "host": "10.0.0.5", "channels": [3, 1]})
    assert isinstance(opts, SQOptions)
    assert opts.channels == (1, 3)
    with pytest.raises(ValueError, match="outside"):
        SQOptions(channels=(49,))
    assert QuOptions(first_note=0, channels=(128,)).channels == (128,)  # dLive
    with pytest.raises(ValueError, match="past MIDI note"):
        QuOptions(channels=(97,))  # Qu: input 97 would be note 0x80


async def test_connect_resyncs_every_channel() -> None:
    async with SQSimulator() as sim:
        SQUseCases(sim).surface_mute(2)
        rec = Recorder()
        device = SQDesk("desk", SQOptions(port=sim.port, channels=CHANNELS), rec)
        await device.start()
        try:
            await until(lambda: len(rec.switched()) == len(CHANNELS))
            states = {e.channel: e.on for e in rec.switched()}
            assert states == {1: True, 2: False, 3: True, 4: True}
            await until(lambda: rec.last_link() == Link.CONNECTED)
            assert rec.links()[0] == Link.CONNECTING
        finally:
            await device.stop()


async def test_surface_change_reaches_driver(
    sim: SQSimulator, desk: tuple[SQDesk, Recorder]
) -> None:
    # How fast is bench/desk_latency.py's question; here: that it arrives, and as what.
    _, rec = desk
    before = len(rec.switched())
    SQUseCases(sim).surface_mute(3)
    await until(lambda: len(rec.switched()) > before, interval=0.001)
    assert rec.switched()[-1] == ChannelSwitched(device="desk", channel=3, on=False)
    # A channel councild does not follow produces no event.
    SQUseCases(sim).surface_mute(20)
    SQUseCases(sim).surface_unmute(3)
    await until(lambda: rec.switched()[-1].on)
    assert [e.channel for e in rec.switched()[before:]] == [3, 3]


async def test_set_channel_unmutes_at_the_desk(
    sim: SQSimulator, desk: tuple[SQDesk, Recorder]
) -> None:
    device, _ = desk
    SQUseCases(sim).surface_mute(2)
    await until(lambda: sim.state.is_muted(2) and device.muted[2])
    await device.set_channel(2, True)
    await until(lambda: not sim.state.is_muted(2))
    await device.set_channel(4, False)
    await until(lambda: sim.state.is_muted(4))
    assert device.muted[2] is False
    assert device.muted[4] is True
    writer = device._writer
    assert writer is not None
    sock = writer.get_extra_info("socket")
    assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0


async def test_each_nrpn_arrives_as_one_segment() -> None:
    """A bare TCP peer records what arrives per read: the 12-byte NRPN is never split."""
    chunks: list[bytes] = []
    got_get = asyncio.Event()

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while data := await reader.read(4096):
            chunks.append(data)
            got_get.set()
            if len(data) == 9:  # a GET: answer as the desk would, unmuted
                writer.write(bytes.fromhex("B0 63 00 B0 62 00 B0 06 00 B0 26 00"))

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    rec = Recorder()
    device = SQDesk("desk", SQOptions(port=port, channels=(1,)), rec)
    await device.start()
    try:
        await until(lambda: rec.last_link() == Link.CONNECTED)
        chunks.clear()
        await device.set_channel(1, False)
        await until(lambda: any(len(c) >= 12 for c in chunks))
        mute_on = bytes.fromhex("B0 63 00 B0 62 00 B0 06 00 B0 26 01")
        # Whole at the start of a read (the read-back GET written after it may share it).
        assert any(c.startswith(mute_on) for c in chunks)
    finally:
        await device.stop()
        server.close()
        await server.wait_closed()


async def test_desk_killed_is_lost_then_back_resynced() -> None:
    sim = SQSimulator()
    await sim.start()
    port = sim.port
    rec = Recorder()
    device = SQDesk("desk", SQOptions(port=port, channels=CHANNELS), rec)
    await device.start()
    try:
        await until(lambda: rec.last_link() == Link.CONNECTED)
        await sim.stop()
        await until(lambda: Link.LOST in rec.links(), timeout=10.0)
        with pytest.raises(ConnectionLostError):
            await device.set_channel(1, False)
        # The desk comes back on the same port with a different state: a full resync follows.
        sim2 = SQSimulator(port=port)
        SQUseCases(sim2).surface_mute(1)
        SQUseCases(sim2).surface_mute(4)
        await sim2.start()
        try:
            n = len(rec.events)
            await until(lambda: rec.last_link() == Link.CONNECTED, timeout=10.0)
            await until(
                lambda: len([e for e in rec.events[n:] if isinstance(e, ChannelSwitched)]) == 4
            )
            after = {e.channel: e.on for e in rec.events[n:] if isinstance(e, ChannelSwitched)}
            assert after == {1: False, 2: True, 3: True, 4: False}
        finally:
            await sim2.stop()
    finally:
        await device.stop()
    assert rec.last_link() == Link.CLOSED


async def test_hung_desk_is_lost_within_3s(sim: SQSimulator, desk: tuple[SQDesk, Recorder]) -> None:
    # "Within 3 s" is the driver's deadline, not a stopwatch here: lost after LOST_AFTER
    # without an answer, and the loss says so (a closed connection would say something else).
    assert LOST_AFTER < 3.0
    _, rec = desk
    SQUseCases(sim).hang()
    await until(lambda: rec.last_link() in (Link.LOST, Link.RECONNECTING), timeout=10.0)
    lost = [e for e in rec.events if isinstance(e, DeviceStatus) and e.link == Link.LOST]
    assert "no answer" in lost[-1].detail
    # It answers again: the driver reconnects by itself.
    SQUseCases(sim).hang(False)
    await until(lambda: rec.last_link() == Link.CONNECTED, timeout=10.0)


async def test_malformed_input_is_counted_not_raised(
    sim: SQSimulator, desk: tuple[SQDesk, Recorder]
) -> None:
    device, rec = desk
    sim.send_raw(bytes.fromhex("01 02 03 B0 63 00 B0 62 01 B0 06 00 B0 26 09 F4"))
    await until(lambda: device.health.errors >= 3)
    statuses = [e for e in rec.events if isinstance(e, DeviceStatus)]
    assert statuses[-1].errors == device.health.errors
    # Still following: the next surface change arrives.
    SQUseCases(sim).surface_mute(1)
    await until(lambda: rec.switched()[-1] == ChannelSwitched(device="desk", channel=1, on=False))
    assert device.health.link == Link.CONNECTED


async def test_two_clients_see_each_others_changes(sim: SQSimulator) -> None:
    recs = [Recorder(), Recorder()]
    devices = [
        SQDesk(f"d{i}", SQOptions(port=sim.port, channels=CHANNELS), recs[i]) for i in (0, 1)
    ]
    for d in devices:
        await d.start()
    try:
        await until(lambda: all(r.last_link() == Link.CONNECTED for r in recs) and sim.clients == 2)
        await until(lambda: all(len(r.switched()) == 4 for r in recs))
        await devices[0].set_channel(3, False)
        await until(
            lambda: recs[1].switched()[-1] == ChannelSwitched(device="d1", channel=3, on=False)
        )
        assert len(recs[0].switched()) == 4  # our own SET is not reported back as a desk change
    finally:
        for d in devices:
            await d.stop()


# --- Qu / dLive ---------------------------------------------------------------------------------


async def test_qu_follow_and_switch() -> None:
    async with SQSimulator(variant="qu") as sim:
        rec = Recorder()
        device = QuDesk("qu", QuOptions(port=sim.port, channels=CHANNELS), rec)
        await device.start()
        try:
            await until(lambda: rec.last_link() == Link.CONNECTED and sim.clients == 1)
            SQUseCases(sim).surface_mute(2)
            await until(lambda: bool(rec.switched()), interval=0.001)
            assert rec.switched() == [ChannelSwitched(device="qu", channel=2, on=False)]
            await device.set_channel(2, True)
            await until(lambda: not sim.state.is_muted(2))
            await device.set_channel(1, False)
            await until(lambda: sim.state.is_muted(1))
            await sim.stop()
            await until(lambda: Link.LOST in rec.links(), timeout=3.0)
        finally:
            await device.stop()


async def test_connected_only_once_every_channel_answered() -> None:
    """A desk that takes its time per message: CONNECTED (and so the daemon's push) comes
    only after the last answer, never between them."""
    async with SQSimulator(process_delay=0.01) as sim:
        for ch in (2, 4):
            SQUseCases(sim).surface_mute(ch)
        seen: dict[int, bool] = {}

        def record(event: Event) -> None:
            rec(event)
            if isinstance(event, DeviceStatus) and event.link == Link.CONNECTED:
                seen.update(device.muted)

        rec = Recorder()
        device = SQDesk("desk", SQOptions(port=sim.port, channels=CHANNELS), record)
        await device.start()
        try:
            await until(lambda: rec.last_link() == Link.CONNECTED)
            assert seen == {1: False, 2: True, 3: False, 4: True}
            assert device.snapshot().on == frozenset({1, 3})
        finally:
            await device.stop()


async def test_an_answer_older_than_our_set_is_not_a_surface_change() -> None:
    """GET in flight, then our SET: the GET's answer (the old state) arrives after the SET
    and must not be reported; the read-back after the SET has the last word."""
    async with SQSimulator(process_delay=0.005) as sim:
        rec = Recorder()
        device = SQDesk("desk", SQOptions(port=sim.port, channels=CHANNELS), rec)
        await device.start()
        try:
            await until(lambda: rec.last_link() == Link.CONNECTED)
            n = len(rec.switched())
            await device._query(3)  # what a ping does
            await device.set_channel(3, False)
            await until(lambda: sim.state.is_muted(3))
            await until(lambda: device._outstanding.get(3) == 0)
            assert rec.switched()[n:] == []
            assert device.muted[3] is True
        finally:
            await device.stop()


async def test_a_surface_change_our_set_overrode_is_corrected_by_the_read_back() -> None:
    async with SQSimulator(process_delay=0.01) as sim:
        SQUseCases(sim).surface_mute(2)
        rec = Recorder()
        device = SQDesk("desk", SQOptions(port=sim.port, channels=CHANNELS), rec)
        await device.start()
        try:
            await until(lambda: rec.last_link() == Link.CONNECTED)
            n = len(rec.switched())
            await device.set_channel(2, False)  # the desk applies it 10 ms later ...
            SQUseCases(sim).surface_mute(2, False)  # ... after the engineer's unmute
            await until(lambda: sum(isinstance(e, MuteQuery) for e in sim.state.received) == 5)
            assert sim.state.is_muted(2)  # our SET came last at the desk
            await until(lambda: device.muted[2] is True)  # and the read-back told the driver
            assert rec.switched()[n:] == [ChannelSwitched(device="desk", channel=2, on=True),
                                          ChannelSwitched(device="desk", channel=2, on=False)]
        finally:
            await device.stop()
