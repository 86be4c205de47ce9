"""StatusReader: every accepted form of the answer to `mic_status`, fed line by line with an
injected clock (no sleeps): when it is complete, what it holds, and changes folded in."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from devices.conference import (
    STATUS_CAP,
    STATUS_QUIET,
    CUEvent,
    DcsCodec,
    DiscussionMode,
    MaxSpeakers,
    MaxTotalSpeakers,
    MicAllRequestsOff,
    MicMode,
    MicOff,
    MicOn,
    MicRequestOff,
    MicRequestOn,
    MicStatus,
    MicStatusQuery,
    StatusReader,
    StatusResult,
)
from devices.sim.cu import STATUS_FORMS, CUState

FIFO = DiscussionMode.FIFO


def feed_all(reader: StatusReader, events: list[CUEvent], t: float = 0.0,
             step: float = 0.001) -> tuple[StatusResult | None, float]:
    result = None
    for event in events:
        t += step
        got = reader.feed(event, t)
        if got is not None:
            assert result is None, "one answer, one result"
            result = got
    return result, t


@pytest.mark.parametrize("form", STATUS_FORMS)
def test_every_simulated_form_gives_the_units_state(form: str) -> None:
    state = CUState(mode=FIFO, max_speakers=3, speakers=[3, 212], requests=[17, 5],
                    status_form=form)  # type: ignore[arg-type]
    # Through the codec, as bytes: what a driver reads.
    tx, rx = DcsCodec(), DcsCodec()
    rx.receive_data(b"".join(tx.send(e) for e in state.status_answer()))
    lines = []
    while isinstance(e := rx.next_event(), CUEvent):
        lines.append(e)
    reader = StatusReader()
    reader.ask(0.0)
    result, t = feed_all(reader, lines)
    if form == "bare":  # no closing settings: complete after the quiet period
        assert result is None
        assert reader.poll(t + STATUS_QUIET / 2) is None
        result = reader.poll(t + STATUS_QUIET)
        assert result is not None and not result.explicit
        assert (result.max_speakers, result.mode) == (None, None)
    else:
        assert result is not None and result.explicit
        assert (result.max_speakers, result.mode) == (3, FIFO)
    assert result.speakers == (3, 212)
    assert result.requests == (17, 5)
    assert not reader.active


def test_issue_form_ends_at_max_speakers_line() -> None:
    reader = StatusReader()
    reader.ask(10.0)
    assert reader.feed(MicOn(seat=4), 10.01) is None
    assert reader.feed(MicRequestOn(seat=9), 10.02) is None
    assert reader.feed(MicMode(mode=DiscussionMode.AUTO), 10.03) is None
    result = reader.feed(MaxSpeakers(value=4), 10.04)
    assert result == StatusResult((4,), (9,), 4, DiscussionMode.AUTO, explicit=True)


def test_one_setting_alone_does_not_end_the_answer() -> None:
    # A max_speakers notification (somebody changed it) may arrive at any time: it ends an
    # answer only together with mic_mode, else the quiet period does.
    reader = StatusReader()
    reader.ask(0.0)
    assert reader.feed(MaxSpeakers(value=2), 0.01) is None
    assert reader.feed(MicOn(seat=1), 0.02) is None
    assert reader.poll(0.02 + STATUS_QUIET) == StatusResult((1,), (), 2, None, explicit=False)


def test_nothing_before_the_answer_starts() -> None:
    reader = StatusReader()
    assert reader.feed(MicOn(seat=1), 0.0) is None  # not asked: not an answer
    reader.ask(1.0)
    assert reader.poll(100.0) is None  # no line yet: only a line can start it
    assert reader.unanswered_for(3.0) == 2.0
    reader.feed(MicStatusQuery(), 3.1)  # a bare head line starts it
    assert reader.unanswered_for(4.0) == 0.0
    assert reader.deadline() == pytest.approx(3.1 + STATUS_QUIET)


def test_a_busy_line_is_cut_off_at_the_cap() -> None:
    reader = StatusReader()
    reader.ask(0.0)
    t = 0.0
    result = None
    while result is None:
        t += STATUS_QUIET / 2
        reader.feed(MicRequestOn(seat=int(t * 100) % 60000 + 1), t)
        result = reader.poll(t)
    assert t == pytest.approx(STATUS_CAP, abs=STATUS_QUIET)
    assert not result.explicit


def test_changes_during_the_answer_are_folded_in() -> None:
    reader = StatusReader()
    reader.ask(0.0)
    events: list[CUEvent] = [
        MicOn(seat=1), MicOn(seat=2), MicRequestOn(seat=7), MicRequestOn(seat=8),
        MicOff(seat=1),  # a delegate switched off while the CU answered
        MicRequestOff(seat=7), MicOn(seat=8),  # a request granted: it leaves the list
        MicRequestOn(seat=2),  # a speaker cannot also wait
        MaxTotalSpeakers(value=8), MicMode(mode=FIFO), MaxSpeakers(value=4),
    ]
    result, _t = feed_all(reader, events)
    assert result == StatusResult((2, 8), (), 4, FIFO, explicit=True)


def test_one_line_form_replaces_everything_seen_before() -> None:
    reader = StatusReader()
    reader.ask(0.0)
    reader.feed(MicOn(seat=5), 0.01)
    reader.feed(MicAllRequestsOff(), 0.02)
    result = reader.feed(MicStatus(speakers=(3,), requests=(4,)), 0.03)
    assert result == StatusResult((3,), (4,), None, None, explicit=True)


seats = st.integers(1, 40)
any_event = st.one_of(
    st.builds(MicOn, seat=seats), st.builds(MicOff, seat=seats),
    st.builds(MicRequestOn, seat=seats), st.builds(MicRequestOff, seat=seats),
    st.builds(MaxSpeakers, value=st.integers(1, 8)),
    st.builds(MicMode, mode=st.sampled_from(DiscussionMode)),
    st.just(MicAllRequestsOff()), st.just(MicStatusQuery()),
    st.lists(seats, max_size=10, unique=True).map(
        lambda s: MicStatus(speakers=tuple(s[:4]), requests=tuple(s[4:]))),
)


@given(st.lists(st.tuples(any_event, st.floats(0.0, 0.5)), max_size=40))
def test_any_sequence_ends_with_a_consistent_state(steps: list[tuple[CUEvent, float]]) -> None:
    reader = StatusReader()
    reader.ask(0.0)
    t = 0.0
    for event, gap in steps:
        t += gap
        result = reader.poll(t) or reader.feed(event, t)
        if result is not None:
            # A seat never both speaks and waits, and appears at most once.
            assert not set(result.speakers) & set(result.requests)
            assert len(set(result.speakers)) == len(result.speakers)
            assert len(set(result.requests)) == len(result.requests)
            reader.ask(t)
    # A started answer always ends once the cap has passed.
    started = reader.unanswered_for(t) == 0.0 and reader.deadline() is not None
    assert (reader.poll(t + STATUS_CAP + 1) is not None) == started
