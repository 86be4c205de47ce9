"""The conference unit inside the daemon, against the simulator over real TCP and a pty:
connected with every form of the mic_status answer, a delegate's switch-off followed in both
master modes, the floor back after a restart, the unit's limits mirrored, and a unit that
moves requests up by itself never leaving a live mic shown as off."""

from __future__ import annotations

import statistics
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from councild.config import parse
from councild.daemon import Daemon
from councild.model import Grant, Request
from devices.conference import STATUS_CAP, DiscussionMode
from devices.sim.cu import STATUS_FORMS, CUSimulator, CUState
from tests.helpers import until
from tests.system.test_desks import config_for

pytestmark = pytest.mark.timeout(60)


def table(sim: CUSimulator, master: str) -> str:
    if sim.pty_path is not None:
        return (f'[devices.dev]\ndriver = "dcs"\ntransport = "serial"\npath = "{sim.link}"\n'
                f'master = "{master}"\n')
    return (f'[devices.dev]\ndriver = "dcs"\ntransport = "tcp"\nhost = "127.0.0.1"\n'
            f'port = {sim.port}\nmaster = "{master}"\n')


@asynccontextmanager
async def running(tmp: Path, sim: CUSimulator, master: str) -> AsyncIterator[Daemon]:
    daemon = Daemon(parse(config_for(table(sim, master))), store_path=tmp / "s.db",
                    socket_path=tmp / "a.sock")
    await daemon.start()
    try:
        yield daemon
    finally:
        await daemon.stop()


def connected(daemon: Daemon) -> bool:
    return daemon.device_views["dev"].link.value == "connected"


def floor_of(daemon: Daemon) -> tuple[set[str], list[str]]:
    return {s.seat for s in daemon.state.speakers}, [w.seat for w in daemon.state.queue]


def unit_of(sim: CUSimulator) -> tuple[set[str], list[str]]:
    return {str(s) for s in sim.state.speakers}, [str(s) for s in sim.state.requests]


@pytest.mark.parametrize("master", ["cu", "councild"])
@pytest.mark.parametrize("form", STATUS_FORMS)
async def test_connected_with_every_status_form(form, master, short_tmp):
    assert STATUS_CAP < 2.0
    state = CUState(mode=DiscussionMode.MANUAL, status_form=form, speakers=[1])
    async with (
        CUSimulator("127.0.0.1", 0, state=state) as sim,
        running(short_tmp, sim, master) as daemon,
    ):
        # "Within 2 s" is the driver's bound (an answer that started is complete after
        # STATUS_CAP at the latest), not a stopwatch here.
        await until(lambda: connected(daemon), 10)
        if master == "cu":
            await until(lambda: floor_of(daemon) == ({"1"}, []), 3)
        else:  # councild leads: its (empty) floor is pushed to the unit
            await until(lambda: sim.state.speakers == [], 3)


async def test_connected_over_a_pty_with_notification_lines(short_tmp):
    state = CUState(status_form="notify", speakers=[2], requests=[3])
    async with (
        CUSimulator(port=None, pty=True, link=str(short_tmp / "cu"), state=state) as sim,
        running(short_tmp, sim, "cu") as daemon,
    ):
        await until(lambda: connected(daemon), 5)
        await until(lambda: floor_of(daemon) == ({"2"}, ["3"]), 3)


def unit(transport: str, tmp: Path, state: CUState) -> CUSimulator:
    if transport == "serial":
        return CUSimulator(port=None, pty=True, link=str(tmp / "cu"), state=state)
    return CUSimulator("127.0.0.1", 0, state=state)


@pytest.mark.parametrize("transport", ["tcp", "serial"])
@pytest.mark.parametrize("master", ["cu", "councild"])
async def test_delegate_switching_off_closes_the_seat_within_100_ms(master, transport,
                                                                    short_tmp):
    async with (
        unit(transport, short_tmp, CUState(mode=DiscussionMode.MANUAL)) as sim,
        running(short_tmp, sim, master) as daemon,
    ):
        await until(lambda: connected(daemon), 5)
        await until(lambda: daemon.device_idle("dev"), 5)
        latencies = []
        for _ in range(10):
            sim.usecases.delegate_mic_on(3)
            await until(lambda: daemon.state.speaking("3"), 3)
            t0 = time.monotonic()
            sim.usecases.delegate_mic_off(3)  # the delegate presses at the unit
            await until(lambda: not daemon.state.speaking("3"), 5, interval=0.001)
            latencies.append(time.monotonic() - t0)
            seats = {s["id"]: s for s in daemon.state_dict()["seats"]}
            assert seats["3"]["mic"] == "off"
        assert statistics.median(latencies) < 0.1


async def test_a_restarted_unit_gets_the_floor_back(short_tmp):
    """master = "councild": the unit comes back with other mics on; the floor wins."""
    sim = CUSimulator("127.0.0.1", 0, state=CUState(mode=DiscussionMode.MANUAL))
    await sim.start()
    port = sim.port
    try:
        async with running(short_tmp, sim, "councild") as daemon:
            await until(lambda: connected(daemon), 5)
            daemon.submit(Grant(seat="1"), "api")
            daemon.submit(Request(seat="4"), "api")
            await until(lambda: sim.state.speakers == [1] and sim.state.requests == [4], 3)
            await sim.stop()
            await until(lambda: not connected(daemon), 4)
            daemon.submit(Grant(seat="2"), "api")  # the session goes on meanwhile
            # Back after a power cycle, in its own default mode with its own mics open.
            sim = CUSimulator("127.0.0.1", port, state=CUState(
                mode=DiscussionMode.AUTO, speakers=[3], requests=[1]))
            await sim.start()
            await until(lambda: connected(daemon), 10)
            await until(lambda: unit_of(sim) == ({"1", "2"}, ["4"]), 5)
            assert sim.state.mode is DiscussionMode.MANUAL
            assert floor_of(daemon) == ({"1", "2"}, ["4"])
    finally:
        await sim.stop()


async def test_master_cu_restart_replaces_the_floor(short_tmp):
    """master = "cu": after a restart councild's floor is the unit's, stale speakers gone."""
    sim = CUSimulator("127.0.0.1", 0, state=CUState(speakers=[1, 2], requests=[4]))
    await sim.start()
    port = sim.port
    try:
        async with running(short_tmp, sim, "cu") as daemon:
            await until(lambda: connected(daemon), 5)
            await until(lambda: floor_of(daemon) == ({"1", "2"}, ["4"]), 3)
            await sim.stop()
            await until(lambda: not connected(daemon), 4)
            sim = CUSimulator("127.0.0.1", port, state=CUState(speakers=[3], requests=[2]))
            await sim.start()
            await until(lambda: connected(daemon), 10)
            await until(lambda: floor_of(daemon) == unit_of(sim), 3)
            assert floor_of(daemon) == ({"3"}, ["2"])
    finally:
        await sim.stop()


async def test_master_cu_limit_above_max_open_shows_every_live_mic(short_tmp):
    # The unit allows four; the config's max_open is two.
    async with (
        CUSimulator("127.0.0.1", 0, state=CUState(max_speakers=4)) as sim,
        running(short_tmp, sim, "cu") as daemon,
    ):
        await until(lambda: connected(daemon), 5)
        for seat in (1, 2, 3):
            sim.usecases.delegate_mic_on(seat)
        await until(lambda: floor_of(daemon)[0] == {"1", "2", "3"}, 3)
        state = daemon.state_dict()
        assert state["max_open"] == 4
        assert "4" in state["devices"]["dev"]["warning"]
        assert {s["id"] for s in state["seats"] if s["mic"] == "on"} == {"1", "2", "3"}
        # The unit's limit changes: mirrored at once, and a match clears the warning.
        sim.notify(sim.state.set_max_speakers(2))
        await until(lambda: daemon.state.max_open == 2, 3)
        assert daemon.state_dict()["devices"]["dev"]["warning"] == ""
        assert floor_of(daemon)[0] == {"1", "2", "3"}  # the unit keeps them talking


@pytest.mark.parametrize("mode", [DiscussionMode.FIFO, DiscussionMode.AUTO])
async def test_unit_that_moves_requests_up_never_leaves_a_live_mic_shown_off(mode, short_tmp):
    """master = "councild", a unit that keeps its own mode: councild follows it."""
    state = CUState(mode=mode, max_speakers=2, mode_locked=True)
    async with (
        CUSimulator("127.0.0.1", 0, state=state) as sim,
        running(short_tmp, sim, "councild") as daemon,
    ):
        await until(lambda: connected(daemon), 5)
        assert "follows" in daemon.device_views["dev"].detail
        daemon.submit(Grant(seat="1"), "api")
        daemon.submit(Request(seat="2"), "api")
        await until(lambda: sim.state.speakers == [1] and sim.state.requests == [2], 3)
        sim.usecases.delegate_mic_off(1)  # the unit gives the place to request 2
        await until(lambda: sim.state.speakers == [2], 3)
        await until(lambda: floor_of(daemon) == ({"2"}, []), 3)
        await until(lambda: daemon.device_idle("dev"), 3)
        assert unit_of(sim) == floor_of(daemon)


async def test_unit_in_fifo_is_put_in_manual_and_moves_nothing_up(short_tmp):
    state = CUState(mode=DiscussionMode.FIFO, max_speakers=2)
    async with (
        CUSimulator("127.0.0.1", 0, state=state) as sim,
        running(short_tmp, sim, "councild") as daemon,
    ):
        await until(lambda: connected(daemon), 5)
        assert sim.state.mode is DiscussionMode.MANUAL
        daemon.submit(Grant(seat="1"), "api")
        daemon.submit(Request(seat="2"), "api")
        await until(lambda: sim.state.speakers == [1] and sim.state.requests == [2], 3)
        sim.usecases.delegate_mic_off(1)
        await until(lambda: not daemon.state.speaking("1"), 3)
        await until(lambda: daemon.device_idle("dev"), 3)
        assert unit_of(sim) == floor_of(daemon) == (set(), ["2"])


async def test_a_switch_the_unit_refuses_is_not_shown_on(short_tmp):
    """master = "councild" and a unit whose own limit is lower than max_open: the unit
    refuses the second mic; councild follows it rather than show a mic the unit has not."""
    state = CUState(mode=DiscussionMode.MANUAL, max_speakers=1)
    async with (
        CUSimulator("127.0.0.1", 0, state=state) as sim,
        running(short_tmp, sim, "councild") as daemon,
    ):
        await until(lambda: connected(daemon), 5)
        daemon.submit(Grant(seat="1"), "api")
        await until(lambda: sim.state.speakers == [1], 3)
        daemon.submit(Grant(seat="2"), "api")  # the unit is full: it says nothing
        await until(lambda: not daemon.state.speaking("2"), 3)
        assert floor_of(daemon) == unit_of(sim) == ({"1"}, [])


async def test_max_open_is_forwarded_to_a_master_unit(short_tmp):
    from councild.api import ApiRequest

    async with (
        CUSimulator("127.0.0.1", 0, state=CUState(max_speakers=4)) as sim,
        running(short_tmp, sim, "cu") as daemon,
    ):
        await until(lambda: connected(daemon), 5)
        await until(lambda: daemon.state.max_open == 4, 3)
        reply = daemon.apply_op(ApiRequest(None, "max_open", {"value": 3}), "api")
        assert reply["ok"] and reply["forwarded"] == "dev"
        await until(lambda: sim.state.max_speakers == 3, 3)
        await until(lambda: daemon.state.max_open == 3, 3)


async def test_master_cu_mic_closed_by_councilds_rules_is_switched_off_at_the_unit(short_tmp):
    """Chair priority closes every delegate mic in councild's floor: with master = "cu" the
    unit is told, so no mic stays live that councild shows as off."""
    from councild.api import ApiRequest

    async with (
        CUSimulator("127.0.0.1", 0, state=CUState(speakers=[1, 2])) as sim,
        running(short_tmp, sim, "cu") as daemon,
    ):
        await until(lambda: connected(daemon), 5)
        await until(lambda: floor_of(daemon)[0] == {"1", "2"}, 3)
        reply = daemon.apply_op(ApiRequest(None, "priority", {"on": True}), "api")
        assert reply["ok"]
        # Delegates off, the chair's mic (channel 5) on: at the unit as in councild.
        await until(lambda: sim.state.speakers == [5], 3)
        await until(lambda: daemon.device_idle("dev"), 3)
        assert floor_of(daemon)[0] == {"C"}


async def test_master_cu_daemon_restart_resumes_then_takes_the_units_state(short_tmp):
    """The store replays the mirrored floor; on connect the unit's state replaces it."""
    state = CUState(mode=DiscussionMode.MANUAL, speakers=[1], requests=[3])
    async with CUSimulator("127.0.0.1", 0, state=state) as sim:
        async with running(short_tmp, sim, "cu") as daemon:
            await until(lambda: connected(daemon), 5)
            await until(lambda: floor_of(daemon) == ({"1"}, ["3"]), 3)
        # While councild is down the session goes on at the unit.
        sim.usecases.delegate_mic_off(1)
        sim.usecases.delegate_mic_on(2)
        sim.usecases.delegate_requests(4)
        sim.state.requests.remove(3)  # withdrawn (nobody listening to the notification)
        daemon = Daemon(parse(config_for(table(sim, "cu"))), store_path=short_tmp / "s.db",
                        socket_path=short_tmp / "a.sock")
        await daemon.start()
        try:
            assert floor_of(daemon) == ({"1"}, ["3"])  # replayed from the store
            await until(lambda: connected(daemon), 5)
            await until(lambda: floor_of(daemon) == ({"2"}, ["4"]), 3)
        finally:
            await daemon.stop()
