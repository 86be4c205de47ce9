"""The floor mirroring a device that runs it (a conference unit with master = "cu"): the
device's speakers, requests and limit taken as they are, with no effects on its mics."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from councild.errors import FloorError
from councild.floor import FloorRules, initial_state, step
from councild.model import (
    CloseMic,
    Event,
    Grant,
    MicClosed,
    Mirror,
    Mode,
    OpenMic,
    Priority,
    Request,
    RequestLamp,
    Role,
    Tick,
)
from councild.store import Store

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


# --- random sessions of a mirrored unit mixed with councild's own inputs ---------------------

unit_seats = st.lists(st.sampled_from(ALL), unique=True, max_size=6)


@st.composite
def mirrors(draw: st.DrawFn) -> Mirror:
    seats = draw(unit_seats)
    speakers = draw(st.lists(st.sampled_from(seats), unique=True)) if seats else []
    rest = [s for s in seats if s not in speakers]
    requests = draw(st.lists(st.sampled_from(rest), unique=True)) if rest else []
    limit = draw(st.none() | st.integers(1, 8))
    return Mirror(seats=tuple(seats), speakers=tuple(speakers), requests=tuple(requests),
                  max_open=limit)


inputs = st.one_of(
    mirrors(),
    st.builds(MicClosed, seat=st.sampled_from(ALL)),
    st.builds(Request, seat=st.sampled_from(ALL)),
    st.builds(Grant, seat=st.sampled_from((*ALL, "C"))),
    st.builds(Priority, on=st.booleans()),
    st.just(Tick()),
)


@settings(max_examples=50, deadline=None)
@given(st.lists(inputs, max_size=25))
def test_mirrored_sessions_are_consistent_and_replay_exactly(events: list[Event]) -> None:
    rules = FloorRules(seats=SEATS, limits={Role.MEMBER: 30.0}, warning_before=5.0,
                       over_limit="close")
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(Path(tmp) / "s.db")
        session = store.open_session("k", "t", "2026-01-01", {}, 0.0).id
        state = initial_state(Mode.OPEN, 2)
        now = 1000.0
        for event in events:
            now += 7.0
            try:
                state, effects = step(rules, state, event, now)
            except FloorError:
                continue
            store.record(session, "test", event, effects, wall=now)
            if isinstance(event, Mirror):
                # The unit's seats are exactly what it said, except where councild's own
                # rules switched a mic in the same step (a time limit closes a speaker, and
                # open mode moves a request up): those are effects, which the daemon sends
                # to the unit.
                switched = {e.seat for e in effects if isinstance(e, CloseMic | OpenMic)}
                for seat in set(event.seats) - switched:
                    assert state.speaking(seat) == (seat in event.speakers)
                    assert state.queued(seat) == (seat in event.requests)
                for seat in switched & set(event.seats):
                    last = [e for e in effects if isinstance(e, CloseMic | OpenMic)
                            and e.seat == seat][-1]
                    assert state.speaking(seat) == isinstance(last, OpenMic)
                if event.max_open is not None:
                    assert state.max_open == event.max_open
            speaking = [s.seat for s in state.speakers]
            assert len(speaking) == len(set(speaking))
            assert not set(speaking) & {w.seat for w in (*state.queue, *state.reply_queue)}
        replayed = initial_state(Mode.OPEN, 2)
        for event, wall in store.inputs(session):  # the store holds Mirror as JSON lists
            replayed, _ = step(rules, replayed, event, wall)
        store.close()
    assert replayed == state
