"""device_sync.on_connect: what a (re)connected device gets, by its role (pure)."""

from __future__ import annotations

from councild.device_sync import Role, mirror, on_connect
from councild.floor import FloorRules, initial_state, step
from councild.model import Grant, MicClosed, MicOpened, Mirror, Mode, Request
from councild.model import Role as SeatRole
from devices.base import Snapshot
from devices.capabilities import SetChannel, SetRequest

SEATS = {1: "a", 2: "b", 3: "c"}
RULES = FloorRules(seats={"a": SeatRole.MEMBER, "b": SeatRole.MEMBER, "c": SeatRole.MEMBER,
                          "x": SeatRole.MEMBER}, limits={}, warning_before=0.0)


def floor(*events):
    state = initial_state(Mode.REQUEST, 3)
    for e in events:
        state, _ = step(RULES, state, e, 1.0)
    return state


def test_lead_pushes_every_channel_and_the_request_list() -> None:
    state = floor(Grant(seat="a"), Request(seat="c"))
    plan = on_connect(Role.LEAD, SEATS, Snapshot(frozenset({2}), requests=(2, 1)), state)
    assert plan.inputs == []
    assert plan.calls == [
        SetChannel(1, True), SetChannel(2, False), SetChannel(3, False),
        SetRequest(2, False), SetRequest(1, False), SetRequest(3, True),
    ]


def test_lead_without_a_request_list_only_switches_channels() -> None:
    plan = on_connect(Role.LEAD, SEATS, Snapshot(frozenset()), floor())
    assert [type(c) for c in plan.calls] == [SetChannel] * 3


def test_master_replaces_the_floor_of_its_seats() -> None:
    state = floor(Grant(seat="a"), Grant(seat="x"))
    plan = on_connect(Role.MASTER, SEATS, Snapshot(frozenset({3}), (2,), limit=4), state)
    assert plan.calls == []
    assert plan.inputs == [Mirror(seats=("a", "b", "c"), speakers=("c",), requests=("b",),
                                  max_open=4)]
    after, _effects = step(RULES, state, plan.inputs[0], 2.0)
    assert {s.seat for s in after.speakers} == {"c", "x"}  # x is not the unit's seat
    assert [w.seat for w in after.queue] == ["b"]


def test_mirror_opens_and_closes_what_differs() -> None:
    plan = on_connect(Role.MIRROR, SEATS, Snapshot(frozenset({2})), floor(Grant(seat="a")))
    assert plan.inputs == [MicClosed(seat="a"), MicOpened(seat="b")]
    assert on_connect(Role.MIRROR, SEATS, None, floor()).inputs == []


def test_mirror_of_one_channel() -> None:
    snap = Snapshot(frozenset({1, 2}), (3,), limit=None)
    assert mirror(SEATS, snap, only=(2,)) == Mirror(seats=("b",), speakers=("b",))
    assert mirror(SEATS, snap, only=(3, 9)) == Mirror(seats=("c",), requests=("c",))
