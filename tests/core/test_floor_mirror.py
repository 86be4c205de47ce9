"""The floor mirroring a device that runs it (a conference unit with master = "cu"): the
device's speakers, requests and limit taken as they are, with no effects on its mics."""

from __future__ import annotations

import pytest

from councild.errors import FloorError
from councild.floor import FloorRules, initial_state, step
from councild.model import CloseMic, MicClosed, Mirror, Mode, OpenMic, RequestLamp, Role

SEATS = {"C": Role.CHAIR, **{str(i): Role.MEMBER for i in range(1, 7)}}
RULES = FloorRules(seats=SEATS, limits={}, warning_before=0.0)
ALL = tuple(str(i) for i in range(1, 7))


def test_the_units_limit_is_the_floors_and_every_live_mic_shows() -> None:
    state = initial_state(Mode.OPEN, 2)  # councild's config says two
    state, effects = step(RULES, state, Mirror(seats=ALL, speakers=("1", "2", "3"),
                                               max_open=4), 1.0)
    assert [s.seat for s in state.speakers] == ["1", "2", "3"]
    assert state.max_open == 4
    assert not [e for e in effects if isinstance(e, OpenMic | CloseMic)]


def test_over_the_limit_is_still_mirrored() -> None:
    # The unit may briefly hold more than its limit (fifo: the new mic before the old is off).
    state = initial_state(Mode.OPEN, 1)
    state, effects = step(RULES, state, Mirror(seats=("1", "2"), speakers=("1", "2")), 1.0)
    assert [s.seat for s in state.speakers] == ["1", "2"]
    assert effects == []


def test_replace_removes_stale_speakers_and_requests_and_moves_nothing_up() -> None:
    state = initial_state(Mode.OPEN, 4)
    state, _ = step(RULES, state, Mirror(seats=ALL, speakers=("1", "2"), requests=("5", "6")),
                    1.0)
    assert [w.seat for w in state.queue] == ["5", "6"]
    # The unit restarted: 2 still speaks, 6 waits; 1 and 5 are gone. Nothing moves up in
    # councild, even in open mode with room: the unit reports what it moves up.
    state, effects = step(RULES, state, Mirror(seats=ALL, speakers=("2",), requests=("6",)),
                          2.0)
    assert [s.seat for s in state.speakers] == ["2"]
    assert [w.seat for w in state.queue] == ["6"]
    assert effects == [RequestLamp(seat="5", on=False)]


def test_a_granted_request_leaves_the_queue() -> None:
    state = initial_state(Mode.REQUEST, 2)
    state, _ = step(RULES, state, Mirror(seats=("3",), requests=("3",)), 1.0)
    state, _ = step(RULES, state, Mirror(seats=("3",), speakers=("3",)), 2.0)
    assert state.speaking("3") and not state.queued("3")


def test_seats_outside_the_mirror_are_untouched() -> None:
    state = initial_state(Mode.OPEN, 3)
    state, _ = step(RULES, state, Mirror(seats=("1", "2"), speakers=("1", "2")), 1.0)
    state, _ = step(RULES, state, Mirror(seats=("2",)), 2.0)
    assert [s.seat for s in state.speakers] == ["1"]
    state, _ = step(RULES, state, MicClosed(seat="1"), 3.0)
    assert state.speakers == ()


def test_unknown_seat_and_bad_limit_are_refused() -> None:
    state = initial_state(Mode.OPEN, 2)
    with pytest.raises(FloorError):
        step(RULES, state, Mirror(seats=("99",), speakers=("99",)), 1.0)
    with pytest.raises(FloorError):
        step(RULES, state, Mirror(seats=(), max_open=0), 1.0)
