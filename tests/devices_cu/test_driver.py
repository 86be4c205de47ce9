"""ConferenceUnit driver against the CU simulator over real TCP and a real pty (serial)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import pytest

from councild.errors import ConnectionLostError, LocalProtocolError
from councild.model import ChannelRequested, ChannelSwitched, DeviceStatus, Event, Link
from devices import driver_class
from devices.base import Snapshot
from devices.conference import (
    LOST_AFTER,
    STATUS_CAP,
    ConferenceUnit,
    DcsOptions,
    DiscussionMode,
    MicOn,
    MicStatusQuery,
)
from devices.sim.cu import STATUS_FORMS, CUSimulator, CUState, CUUseCases, StatusForm
from tests.helpers import until


class Recorder:
    def __init__(self) -> None:
        self.events: list[Event] = []

    def __call__(self, event: Event) -> None:
        self.events.append(event)

    def since(self, n: int) -> list[Event]:
        return [e for e in self.events[n:] if not isinstance(e, DeviceStatus)]

    def links(self) -> list[Link]:
        return [e.link for e in self.events if isinstance(e, DeviceStatus)]

    def last_link(self) -> Link | None:
        links = self.links()
        return links[-1] if links else None


@dataclass
class Rig:
    """A simulator and a factory for another one at the same address (restart)."""

    transport: str
    sim: CUSimulator
    options: DcsOptions
    make_sim: Callable[[CUState], CUSimulator]


Master = Literal["cu", "councild"]


def _rig(transport: str, tmp_path: Path, state: CUState, master: Master = "cu") -> Rig:
    if transport == "tcp":
        sim = CUSimulator(port=0, state=state)

        def make(state: CUState) -> CUSimulator:
            return CUSimulator(port=sim.port, state=state)

        return Rig(
            transport, sim, DcsOptions(transport="tcp", host="127.0.0.1", master=master), make
        )
    link = str(tmp_path / "cu-serial")

    def make_pty(state: CUState) -> CUSimulator:
        # A restarted CU is a new pty; the link (like /dev/serial/by-id) keeps the path.
        return CUSimulator(port=None, pty=True, link=link, state=state)

    return Rig(
        transport,
        make_pty(state),
        DcsOptions(transport="serial", path=link, master=master),
        make_pty,
    )


async def _start(rig: Rig) -> None:
    await rig.sim.start()
    if rig.transport == "tcp":
        rig.options = rig.options.model_copy(update={"port": rig.sim.port})


TRANSPORTS = ["tcp", "serial"]


@pytest.fixture(params=TRANSPORTS)
async def rig(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Rig]:
    r = _rig(request.param, tmp_path, CUState(mode=DiscussionMode.AUTO, max_speakers=4))
    await _start(r)
    yield r
    await r.sim.stop()


@pytest.fixture
async def cu(rig: Rig) -> AsyncIterator[tuple[ConferenceUnit, Recorder]]:
    rec = Recorder()
    device = ConferenceUnit("cu", rig.options, rec)
    await device.start()
    await until(lambda: rec.last_link() == Link.CONNECTED)
    yield device, rec
    await device.stop()


def test_registry_and_options() -> None:
    assert driver_class("dcs") is ConferenceUnit
    opts = ConferenceUnit.Options.model_validate(
        {"driver": "dcs", "transport": "tcp", "host": "10.0.0.9", "master": "councild"}
    )
    assert isinstance(opts, DcsOptions)
    assert opts.port == 3142
    with pytest.raises(ValueError, match="needs 'path'"):
        DcsOptions(transport="serial")
    with pytest.raises(ValueError, match="needs 'host'"):
        DcsOptions(transport="tcp")


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_connect_resyncs_speakers_and_requests(transport: str, tmp_path: Path) -> None:
    state = CUState(mode=DiscussionMode.MANUAL, speakers=[3, 212], requests=[17, 5])
    r = _rig(transport, tmp_path, state)
    await _start(r)
    rec = Recorder()
    device = ConferenceUnit("cu", r.options, rec)
    await device.start()
    try:
        await until(lambda: rec.last_link() == Link.CONNECTED)
        assert set(rec.since(0)) == {
            ChannelSwitched(device="cu", channel=3, on=True),
            ChannelSwitched(device="cu", channel=212, on=True),
            ChannelRequested(device="cu", channel=17, requesting=True),
            ChannelRequested(device="cu", channel=5, requesting=True),
        }
        assert device.speakers == (3, 212)
        assert device.requests == (17, 5)
        assert device.mode == DiscussionMode.MANUAL
    finally:
        await device.stop()
        await r.sim.stop()


async def test_cu_side_changes_arrive_within_100ms(
    rig: Rig, cu: tuple[ConferenceUnit, Recorder]
) -> None:
    _, rec = cu
    use = CUUseCases(rig.sim)
    on3 = ChannelSwitched(device="cu", channel=3, on=True)
    req12 = ChannelRequested(device="cu", channel=12, requesting=True)
    off3 = ChannelSwitched(device="cu", channel=3, on=False)
    # Auto mode: when 3 switches off, the CU gives the free place to request 12 by itself.
    advance = [
        ChannelRequested(device="cu", channel=12, requesting=False),
        ChannelSwitched(device="cu", channel=12, on=True),
    ]
    for act, expected in [
        (lambda: use.delegate_mic_on(3), [on3]),
        (lambda: use.delegate_requests(12), [req12]),
        (lambda: use.delegate_mic_off(3), [off3, *advance]),
    ]:
        n, k = len(rec.events), len(expected)
        act()  # (how fast: bench/desk_latency.py)
        await until(lambda n=n, k=k: len(rec.since(n)) >= k, interval=0.001)
        assert rec.since(n) == expected


async def test_commands_switch_the_cu(rig: Rig, cu: tuple[ConferenceUnit, Recorder]) -> None:
    device, rec = cu
    state = rig.sim.state
    await device.set_channel(5, True)
    await until(lambda: state.speakers == [5])
    # The CU notifies every client, the sender included: the driver mirrors the result.
    await until(lambda: device.speakers == (5,))
    assert ChannelSwitched(device="cu", channel=5, on=True) in rec.events
    await device.set_request(9, True)
    await device.set_request(10, True)
    await until(lambda: state.requests == [9, 10] and device.requests == (9, 10))
    await device.next_speaker()
    await until(lambda: state.speakers == [9] and state.requests == [10])
    await until(lambda: device.speakers == (9,) and device.requests == (10,))
    await device.clear_requests()
    await until(lambda: state.requests == [] and device.requests == ())
    await device.set_max_speakers(2)
    await until(lambda: state.max_speakers == 2 and device.max_speakers == 2)
    await device.set_channel(9, False)
    await until(lambda: state.speakers == [] and device.speakers == ())
    with pytest.raises(LocalProtocolError):
        await device.set_max_speakers(9)


async def test_killed_is_lost_then_back_resynced(rig: Rig) -> None:
    rec = Recorder()
    device = ConferenceUnit("cu", rig.options, rec)
    await device.start()
    CUUseCases(rig.sim).delegate_mic_on(4)
    try:
        await until(lambda: rec.last_link() == Link.CONNECTED and device.speakers == (4,))
        await rig.sim.stop()
        await until(lambda: Link.LOST in rec.links(), timeout=10.0)
        with pytest.raises(ConnectionLostError):
            await device.set_channel(1, True)
        # Back with a different floor: seat 4 went off meanwhile, 8 speaks, 2 waits.
        rig.sim = rig.make_sim(CUState(speakers=[8], requests=[2]))
        n = len(rec.events)
        await rig.sim.start()
        await until(lambda: rec.last_link() == Link.CONNECTED, timeout=10.0)
        assert set(rec.since(n)) == {
            ChannelSwitched(device="cu", channel=4, on=False),
            ChannelSwitched(device="cu", channel=8, on=True),
            ChannelRequested(device="cu", channel=2, requesting=True),
        }
        assert device.speakers == (8,)
    finally:
        await device.stop()


async def test_hung_cu_is_lost_within_3s(rig: Rig, cu: tuple[ConferenceUnit, Recorder]) -> None:
    # "Within 3 s" is the driver's deadline, not a stopwatch here: lost after LOST_AFTER
    # without an answer, and the loss says so (a closed connection would say something else).
    assert LOST_AFTER < 3.0
    _, rec = cu
    CUUseCases(rig.sim).hang()
    await until(lambda: rec.last_link() in (Link.LOST, Link.RECONNECTING), timeout=10.0)
    lost = [e for e in rec.events if isinstance(e, DeviceStatus) and e.link == Link.LOST]
    assert "no answer" in lost[-1].detail
    CUUseCases(rig.sim).hang(False)
    await until(lambda: rec.last_link() == Link.CONNECTED, timeout=10.0)


async def test_malformed_lines_are_counted_not_raised(
    rig: Rig, cu: tuple[ConferenceUnit, Recorder]
) -> None:
    device, rec = cu
    rig.sim.send_raw(b"garbage here\r\nmic_on 99999\r\n\xff\xfe\r\nmic_on 6\r\n")
    await until(lambda: device.health.errors >= 3)
    assert device.health.errors == 3
    await until(lambda: device.speakers == (6,))
    statuses = [e for e in rec.events if isinstance(e, DeviceStatus)]
    assert statuses[-1].errors == 3
    assert device.health.link == Link.CONNECTED


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_councild_as_master_puts_the_cu_in_manual(transport: str, tmp_path: Path) -> None:
    r = _rig(transport, tmp_path, CUState(mode=DiscussionMode.AUTO), master="councild")
    await _start(r)
    rec = Recorder()
    device = ConferenceUnit("cu", r.options, rec)
    await device.start()
    try:
        await until(lambda: r.sim.state.mode == DiscussionMode.MANUAL)
        await until(lambda: device.mode == DiscussionMode.MANUAL)
        # A delegate press is now only a request; councild decides.
        CUUseCases(r.sim).press(14)
        await until(lambda: device.requests == (14,))
        assert r.sim.state.speakers == []
        await device.set_channel(14, True)
        await until(lambda: device.speakers == (14,) and device.requests == ())
    finally:
        await device.stop()
        await r.sim.stop()


async def test_two_tcp_clients_see_each_others_commands(tmp_path: Path) -> None:
    r = _rig("tcp", tmp_path, CUState())
    await _start(r)
    recs = [Recorder(), Recorder()]
    devices = [ConferenceUnit(f"cu{i}", r.options, recs[i]) for i in (0, 1)]
    for d in devices:
        await d.start()
    try:
        await until(lambda: all(x.last_link() == Link.CONNECTED for x in recs))
        await devices[0].set_channel(21, True)
        await until(lambda: ChannelSwitched(device="cu1", channel=21, on=True) in recs[1].events)
        assert devices[1].speakers == (21,)
    finally:
        for d in devices:
            await d.stop()
        await r.sim.stop()


# --- the forms of the answer to mic_status (the one guess; see devices/conference.py) -------


@pytest.mark.parametrize("form", STATUS_FORMS)
@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_connected_with_every_status_form(
    transport: str, form: StatusForm, tmp_path: Path
) -> None:
    state = CUState(mode=DiscussionMode.AUTO, max_speakers=3, speakers=[3, 212],
                    requests=[17, 5], status_form=form)
    r = _rig(transport, tmp_path, state)
    await _start(r)
    rec = Recorder()
    device = ConferenceUnit("cu", r.options, rec)
    await device.start()
    try:
        # "Within 2 s" is the driver's bound, not a stopwatch here: complete at the latest
        # STATUS_CAP after the answer started.
        assert STATUS_CAP < 2.0
        await until(lambda: rec.last_link() == Link.CONNECTED, timeout=10.0)
        assert device.speakers == (3, 212)
        assert device.requests == (17, 5)
        if form != "bare":  # the bare form has no settings lines
            assert (device.max_speakers, device.mode) == (3, DiscussionMode.AUTO)
        assert device.snapshot() == Snapshot(frozenset({3, 212}), (17, 5),
                                             3 if form != "bare" else None)
    finally:
        await device.stop()
        await r.sim.stop()


@pytest.mark.parametrize("form", ["notify", "headed", "line"])
async def test_a_lost_notification_is_repaired_by_the_next_ping(
    form: StatusForm, tmp_path: Path
) -> None:
    """An answer that ends itself lists every speaker: one missing from it is gone."""
    r = _rig("tcp", tmp_path, CUState(speakers=[3, 4], status_form=form))
    await _start(r)
    rec = Recorder()
    device = ConferenceUnit("cu", r.options, rec)
    await device.start()
    try:
        await until(lambda: rec.last_link() == Link.CONNECTED and device.speakers == (3, 4))
        r.sim.state.speakers.remove(3)  # switched off, and the notification was lost
        r.sim.state.requests.append(9)
        n = len(rec.events)
        await until(lambda: device.speakers == (4,), timeout=3.0)
        await until(lambda: device.requests == (9,), timeout=1.0)
        assert ChannelSwitched(device="cu", channel=3, on=False) in rec.since(n)
        assert rec.last_link() == Link.CONNECTED
    finally:
        await device.stop()
        await r.sim.stop()


@pytest.mark.parametrize("mode", [DiscussionMode.FIFO, DiscussionMode.AUTO])
async def test_councild_master_follows_a_unit_that_keeps_its_mode(
    mode: DiscussionMode, tmp_path: Path
) -> None:
    """The unit ignores `mic_mode manual`: the driver says so and reports what it does."""
    state = CUState(mode=mode, max_speakers=1, speakers=[2], requests=[6],
                    mode_locked=True)
    r = _rig("tcp", tmp_path, state, master="councild")
    await _start(r)
    rec = Recorder()
    device = ConferenceUnit("cu", r.options, rec)
    await device.start()
    try:
        await until(lambda: rec.last_link() == Link.CONNECTED, timeout=10.0)
        assert device.mode_refused and device.mode is mode
        status = [e for e in rec.events if isinstance(e, DeviceStatus)][-1]
        assert "follows" in status.detail
        n = len(rec.events)
        CUUseCases(r.sim).delegate_mic_off(2)  # the unit moves request 6 up by itself
        await until(lambda: device.speakers == (6,))
        assert rec.since(n) == [
            ChannelSwitched(device="cu", channel=2, on=False),
            ChannelRequested(device="cu", channel=6, requesting=False),
            ChannelSwitched(device="cu", channel=6, on=True),
        ]
    finally:
        await device.stop()
        await r.sim.stop()


async def test_councild_master_verifies_manual_mode(tmp_path: Path) -> None:
    r = _rig("tcp", tmp_path, CUState(mode=DiscussionMode.FIFO), master="councild")
    await _start(r)
    rec = Recorder()
    device = ConferenceUnit("cu", r.options, rec)
    await device.start()
    try:
        await until(lambda: rec.last_link() == Link.CONNECTED, timeout=10.0)
        # CONNECTED comes only after the unit confirmed the mode.
        assert r.sim.state.mode is DiscussionMode.MANUAL
        assert device.mode is DiscussionMode.MANUAL and not device.mode_refused
    finally:
        await device.stop()
        await r.sim.stop()


class _BusyUnit(CUState):
    """A delegate switches on just after the unit finished its first answer (same write)."""

    def status_answer(self) -> list:  # type: ignore[override]
        answer = super().status_answer()
        if not getattr(self, "_done", False):
            self._done = True
            self.speakers.append(9)
            return [*answer, MicOn(seat=9)]
        return answer


@pytest.mark.parametrize("form", ["notify", "line"])
async def test_a_change_right_after_the_answer_is_not_lost(form: StatusForm,
                                                           tmp_path: Path) -> None:
    r = _rig("tcp", tmp_path, _BusyUnit(speakers=[3], status_form=form))
    await _start(r)
    rec = Recorder()
    device = ConferenceUnit("cu", r.options, rec)
    await device.start()
    try:
        await until(lambda: rec.last_link() == Link.CONNECTED)
        # Already in the snapshot the daemon takes at CONNECTED, not a second later.
        assert device.speakers == (3, 9)
    finally:
        await device.stop()
        await r.sim.stop()


@pytest.mark.timeout(30)
async def test_a_long_answer_at_9600_baud_loses_nobody(tmp_path: Path) -> None:
    """4 speakers and 90 requests in notification lines take ~1.8 s at 9600 baud: longer
    than the wait at connect and than the ping interval. CONNECTED still comes after the
    connect wait, the rest follows, and no answer cut short ever removes a seat."""
    requests = list(range(101, 191))
    state = CUState(mode=DiscussionMode.MANUAL, speakers=[1, 2, 3, 4], requests=requests,
                    status_form="notify")
    link = str(tmp_path / "cu-slow")
    sim = CUSimulator(port=None, pty=True, link=link, state=state, baud=9600)
    await sim.start()
    rec = Recorder()
    device = ConferenceUnit("cu", DcsOptions(transport="serial", path=link), rec)
    await device.start()
    try:
        # CONNECTED from the first part of the answer (cut at STATUS_CAP), the rest follows.
        await until(lambda: rec.last_link() == Link.CONNECTED, timeout=10.0)
        assert device.speakers == (1, 2, 3, 4)
        await until(lambda: device.requests == tuple(requests), timeout=5.0)
        n = len(rec.events)
        await until(lambda: sum(isinstance(e, MicStatusQuery) for e in sim.state.received) >= 3,
                    timeout=10.0)
        # A full answer was read while following (at least one more query answered).
        removed = [e for e in rec.since(n) if getattr(e, "on", True) is False
                   or getattr(e, "requesting", True) is False]
        assert removed == []
        assert device.requests == tuple(requests)
        assert rec.last_link() == Link.CONNECTED
    finally:
        await device.stop()
        await sim.stop()
