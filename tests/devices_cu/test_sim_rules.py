"""The simulated CU's discussion rules, driven directly (pure state, no I/O, no clock)."""

from __future__ import annotations

from devices.conference import (
    DiscussionMode,
    MaxSpeakers,
    MicMode,
    MicOff,
    MicOn,
    MicRequestOff,
    MicRequestOn,
    MicStatusQuery,
)
from devices.sim.cu import CUState


def test_auto_opens_while_room_then_queues_and_advances() -> None:
    s = CUState(mode=DiscussionMode.AUTO, max_speakers=2)
    assert s.press(1) == [MicOn(seat=1)]
    assert s.press(2) == [MicOn(seat=2)]
    assert s.press(3) == [MicRequestOn(seat=3)]
    # Speaker 1 switches off: the free place goes to the first request.
    assert s.press(1) == [MicOff(seat=1), MicRequestOff(seat=3), MicOn(seat=3)]
    assert s.speakers == [2, 3]
    assert s.requests == []


def test_fifo_switches_off_the_longest_speaker() -> None:
    s = CUState(mode=DiscussionMode.FIFO, max_speakers=2)
    s.press(1)
    s.press(2)
    assert s.press(3) == [MicOff(seat=1), MicOn(seat=3)]
    assert s.speakers == [2, 3]


def test_manual_queues_and_press_again_withdraws() -> None:
    s = CUState(mode=DiscussionMode.MANUAL)
    assert s.press(12) == [MicRequestOn(seat=12)]
    assert s.press(12) == [MicRequestOff(seat=12)]
    assert s.requests == []
    assert s.speakers == []


def test_external_mic_on_refused_when_full_except_fifo() -> None:
    s = CUState(mode=DiscussionMode.MANUAL, max_speakers=1)
    assert s.mic_on(1) == [MicOn(seat=1)]
    assert s.mic_on(2) == []
    assert s.speakers == [1]
    assert s.mic_on(1) == []  # already on: no change, no notification


def test_grant_takes_the_seat_out_of_the_request_list() -> None:
    s = CUState(mode=DiscussionMode.MANUAL)
    s.request_on(7)
    assert s.mic_on(7) == [MicRequestOff(seat=7), MicOn(seat=7)]


def test_next_on_and_all_requests_off() -> None:
    s = CUState(mode=DiscussionMode.MANUAL, max_speakers=2)
    s.mic_on(1)
    for seat in (5, 6, 7):
        s.request_on(seat)
    assert s.next_on() == [MicOff(seat=1), MicRequestOff(seat=5), MicOn(seat=5)]
    assert s.all_requests_off() == [MicRequestOff(seat=6), MicRequestOff(seat=7)]
    assert s.next_on() == [MicOff(seat=5)]


def test_request_list_limit_and_max_speakers_notification() -> None:
    s = CUState(max_requests=1, max_speakers=1)
    s.mic_on(1)
    assert s.request_on(2) == [MicRequestOn(seat=2)]
    assert s.request_on(3) == []
    assert s.set_max_speakers(3) == [MaxSpeakers(value=3)]
    assert s.status().max_speakers == 3
    assert s.status().speakers == (1,)
    assert s.status().requests == (2,)


def test_fifo_moves_the_first_request_up_when_a_speaker_stops() -> None:
    s = CUState(mode=DiscussionMode.FIFO, max_speakers=2, speakers=[1, 2], requests=[7])
    assert s.mic_off(1) == [MicOff(seat=1), MicRequestOff(seat=7), MicOn(seat=7)]
    assert s.speakers == [2, 7]


def test_a_locked_mode_ignores_external_control() -> None:
    s = CUState(mode=DiscussionMode.FIFO, mode_locked=True)
    assert s.set_mode(DiscussionMode.MANUAL) == []
    assert s.mode is DiscussionMode.FIFO
    assert s.set_mode(DiscussionMode.MANUAL, external=False) == [
        MicMode(mode=DiscussionMode.MANUAL)]


def test_status_answer_forms() -> None:
    s = CUState(mode=DiscussionMode.AUTO, max_speakers=3, speakers=[4], requests=[5, 6])
    lists = [MicOn(seat=4), MicRequestOn(seat=5), MicRequestOn(seat=6)]
    s.status_form = "notify"
    assert s.status_answer() == [*lists, MicMode(mode=DiscussionMode.AUTO),
                                 MaxSpeakers(value=3)]
    s.status_form = "headed"
    assert s.status_answer() == [MicStatusQuery(), *lists, MaxSpeakers(value=3),
                                 MicMode(mode=DiscussionMode.AUTO)]
    s.status_form = "bare"
    assert s.status_answer() == lists
    s.status_form = "line"
    assert s.status_answer() == [s.status()]
