"""The floor as a pure state machine: one test per rule, on an injected clock."""

from __future__ import annotations

import pytest

from councild.errors import FloorError
from councild.floor import AgendaEntry, FloorRules, FloorState, step
from councild.model import (
    AgendaChanged,
    Cancel,
    Clear,
    CloseMic,
    Grant,
    MicClosed,
    MicOpened,
    MicState,
    Mode,
    Next,
    OpenMic,
    Press,
    Priority,
    Request,
    RequestLamp,
    Revoke,
    RevokeAll,
    Role,
    SetAgenda,
    SetMaxOpen,
    SetMode,
    SpeakingTimeOver,
    SpeakingTimeWarning,
    Tick,
    Voice,
)

SEATS = {"C": Role.CHAIR, "1": Role.MEMBER, "2": Role.MEMBER, "3": Role.MEMBER,
         "4": Role.MEMBER, "G": Role.GUEST}
RULES = FloorRules(
    seats=SEATS,
    limits={Role.MEMBER: 120.0, Role.CHAIR: 0.0, Role.GUEST: 60.0},
    warning_before=30.0,
    agenda=(AgendaEntry("1", "Opening"), AgendaEntry("2", "Budget", {Role.MEMBER: 60.0})),
)


class Run:
    """Drives the machine and keeps the effects of the last step."""

    def __init__(self, mode: Mode = Mode.REQUEST, max_open: int = 2,
                 rules: FloorRules = RULES) -> None:
        self.rules = rules
        self.state = FloorState(mode=mode, max_open=max_open)
        self.effects: list = []
        self.now = 0.0

    def __call__(self, event, at: float | None = None):
        if at is not None:
            self.now = at
        self.state, self.effects = step(self.rules, self.state, event, self.now)
        return self.effects

    def speakers(self) -> list[str]:
        return [s.seat for s in self.state.speakers]

    def queue(self) -> list[str]:
        return [w.seat for w in self.state.queue]


def rejected(run: Run, event, code: str) -> None:
    before = run.state
    with pytest.raises(FloorError) as err:
        run(event)
    assert err.value.code == code
    assert run.state == before


def test_request_mode_queues_and_grant_opens():
    run = Run(Mode.REQUEST)
    assert run(Request(seat="1")) == [RequestLamp(seat="1", on=True)]
    run(Request(seat="2"))
    assert run.queue() == ["1", "2"]
    assert run.state.mic_state("1") is MicState.REQUESTING
    effects = run(Grant(seat="2"))
    assert OpenMic(seat="2") in effects and RequestLamp(seat="2", on=False) in effects
    assert run.speakers() == ["2"] and run.queue() == ["1"]


def test_open_mode_opens_directly_until_max_then_queues_and_moves_up():
    run = Run(Mode.OPEN, max_open=2)
    assert run(Press(seat="1")) == [OpenMic(seat="1")]
    run(Press(seat="2"))
    assert run(Press(seat="3")) == [RequestLamp(seat="3", on=True)]
    assert run.speakers() == ["1", "2"] and run.queue() == ["3"]
    effects = run(Press(seat="1"))  # speaker 1 switches off: 3 moves up by itself
    assert CloseMic(seat="1") in effects and OpenMic(seat="3") in effects
    assert run.speakers() == ["2", "3"] and run.queue() == []


def test_open_mode_does_not_let_a_press_jump_the_queue():
    run = Run(Mode.OPEN, max_open=1)
    run(Press(seat="1"))
    run(Press(seat="2"))  # queued
    run(Revoke(seat="1"))  # 2 moves up
    assert run.speakers() == ["2"]
    run(Press(seat="3"))
    run(Press(seat="4"))
    assert run.queue() == ["3", "4"]


def test_override_mode_closes_longest_open_delegate():
    run = Run(Mode.OVERRIDE, max_open=2)
    run(Press(seat="1"), at=0)
    run(Press(seat="2"), at=5)
    effects = run(Press(seat="3"), at=10)
    assert effects == [CloseMic(seat="1"), OpenMic(seat="3")]
    assert run.speakers() == ["2", "3"]


def test_voice_mode_follows_voice_and_has_no_queue():
    run = Run(Mode.VOICE, max_open=1)
    assert run(Voice(seat="1", active=True)) == [OpenMic(seat="1")]
    assert run(Voice(seat="2", active=True)) == []  # full
    assert run(Voice(seat="1", active=False)) == [CloseMic(seat="1")]
    rejected(run, Request(seat="3"), "no_queue")
    rejected(run, Next(), "no_queue")


def test_voice_outside_voice_mode_changes_nothing():
    run = Run(Mode.REQUEST)
    assert run(Voice(seat="1", active=True)) == []
    assert run.speakers() == []


def test_chair_never_counts_toward_max_open():
    run = Run(Mode.REQUEST, max_open=1)
    run(Grant(seat="1"))
    run(Grant(seat="C"))
    assert run.speakers() == ["1", "C"]
    rejected(run, Grant(seat="2"), "max_open")


def test_chair_request_opens_directly():
    run = Run(Mode.REQUEST)
    assert run(Request(seat="C")) == [OpenMic(seat="C")]


def test_priority_closes_delegates_keeps_them_closed_and_restores_chair():
    run = Run(Mode.OPEN, max_open=2)
    run(Press(seat="1"))
    run(Press(seat="2"))
    run(Press(seat="3"))  # queued
    effects = run(Priority(on=True))
    assert CloseMic(seat="1") in effects and CloseMic(seat="2") in effects
    assert OpenMic(seat="C") in effects
    assert run.speakers() == ["C"] and run.queue() == ["3"]
    rejected(run, Grant(seat="4"), "priority")
    rejected(run, Next(), "priority")
    assert run(MicOpened(seat="4")) == [CloseMic(seat="4")]  # the surface cannot beat priority
    assert run.speakers() == ["C"]
    effects = run(Priority(on=False))
    assert CloseMic(seat="C") in effects and OpenMic(seat="3") in effects  # open mode moves up


def test_priority_keeps_a_chair_mic_that_was_already_open():
    run = Run()
    run(Grant(seat="C"))
    run(Priority(on=True))
    run(Priority(on=False))
    assert run.speakers() == ["C"]


def test_priority_on_a_delegate_seat_is_refused():
    rejected(Run(), Priority(on=True, seat="1"), "not_chair")


def test_cancel_and_press_on_a_waiting_seat_withdraw():
    run = Run()
    run(Request(seat="1"))
    run(Request(seat="2"))
    assert run(Cancel(seat="1")) == [RequestLamp(seat="1", on=False)]
    run(Press(seat="2"))
    assert run.queue() == []
    rejected(run, Cancel(seat="2"), "not_queued")


def test_clear_empties_both_queues():
    run = Run()
    run(Request(seat="1"))
    run(Request(seat="2", reply=True))
    effects = run(Clear())
    assert set(effects) == {RequestLamp(seat="1", on=False), RequestLamp(seat="2", on=False)}
    assert run.queue() == [] and run.state.reply_queue == ()


def test_revoke_and_revoke_all():
    run = Run(max_open=3)
    run(Grant(seat="1"))
    run(Grant(seat="2"))
    run(Grant(seat="C"))
    assert run(Revoke(seat="1")) == [CloseMic(seat="1")]
    rejected(run, Revoke(seat="1"), "not_speaking")
    assert run(RevokeAll()) == [CloseMic(seat="2")]
    assert run.speakers() == ["C"]  # the chair's mic stays


def test_grant_out_of_order_and_of_a_seat_that_never_asked():
    run = Run()
    for s in ("1", "2", "3"):
        run(Request(seat=s))
    run(Grant(seat="3"))
    run(Grant(seat="4"))
    assert run.speakers() == ["3", "4"] and run.queue() == ["1", "2"]


def test_next_closes_longest_speaker_and_grants_head():
    run = Run(max_open=2)
    run(Grant(seat="1"), at=0)
    run(Grant(seat="2"), at=10)
    run(Request(seat="3"), at=11)
    effects = run(Next(), at=20)
    assert effects[0] == CloseMic(seat="1") and OpenMic(seat="3") in effects
    assert run.speakers() == ["2", "3"]


def test_next_with_nothing_to_do_is_refused():
    rejected(Run(), Next(), "nothing_to_do")


def test_reply_queue_goes_first_once():
    run = Run(max_open=1)
    run(Grant(seat="1"))
    run(Request(seat="2"))
    run(Request(seat="3", reply=True))
    run(Next())
    assert run.speakers() == ["3"]
    run(Next())
    assert run.speakers() == ["2"]


def test_guests_are_never_given_the_floor_automatically():
    run = Run(Mode.OPEN, max_open=2)
    assert run(Press(seat="G")) == [RequestLamp(seat="G", on=True)]
    assert run.speakers() == []
    run(Press(seat="1"))
    run(Press(seat="1"))  # closes; the guest still waits
    assert run.speakers() == [] and run.queue() == ["G"]
    run(Grant(seat="G"))  # an explicit grant works
    assert run.speakers() == ["G"]
    run2 = Run(Mode.VOICE)
    assert run2(Voice(seat="G", active=True)) == []


def test_speaking_time_warning_then_flag():
    run = Run()
    run(Grant(seat="1"), at=0)
    assert run(Tick(), at=89) == []
    assert run(Tick(), at=90) == [SpeakingTimeWarning(seat="1", remaining=30.0)]
    assert run(Tick(), at=100) == []  # warned once
    assert run(Tick(), at=120) == [SpeakingTimeOver(seat="1", closed=False)]
    assert run.speakers() == ["1"] and run.state.speakers[0].over
    assert run(Tick(), at=200) == []


def test_speaking_time_limit_closes_when_configured():
    rules = FloorRules(seats=SEATS, limits={Role.MEMBER: 120.0}, over_limit="close")
    run = Run(Mode.OPEN, max_open=1, rules=rules)
    run(Press(seat="1"), at=0)
    run(Press(seat="2"), at=1)
    effects = run(Tick(), at=130)  # one late tick: warning and limit together
    assert SpeakingTimeWarning(seat="1", remaining=0.0) in effects
    assert SpeakingTimeOver(seat="1", closed=True) in effects
    assert CloseMic(seat="1") in effects and OpenMic(seat="2") in effects


def test_agenda_item_overrides_limit_and_advances():
    run = Run()
    assert run(SetAgenda()) == [AgendaChanged(item="1")]
    assert run(SetAgenda(item="2")) == [AgendaChanged(item="2")]
    run(Grant(seat="1"), at=0)
    assert run(Tick(), at=30) == [SpeakingTimeWarning(seat="1", remaining=30.0)]
    rejected(run, SetAgenda(), "agenda_end")
    rejected(run, SetAgenda(item="99"), "unknown_item")


def test_device_opened_mic_is_honoured_within_max_open():
    run = Run(max_open=1)
    run(Grant(seat="1"), at=0)
    run(Request(seat="2"))
    effects = run(MicOpened(seat="2"), at=5)
    assert effects == [CloseMic(seat="1"), RequestLamp(seat="2", on=False)]
    assert run.speakers() == ["2"]
    assert run(MicOpened(seat="2")) == []  # the device confirming our own state
    assert run(MicClosed(seat="2")) == []
    assert run.speakers() == []


def test_lowering_max_open_closes_longest_open():
    run = Run(max_open=3)
    run(Grant(seat="1"), at=0)
    run(Grant(seat="2"), at=1)
    run(Grant(seat="3"), at=2)
    assert run(SetMaxOpen(value=1)) == [CloseMic(seat="1"), CloseMic(seat="2")]
    rejected(run, SetMaxOpen(value=0), "bad_value")


def test_switching_to_voice_mode_clears_the_queue():
    run = Run()
    run(Request(seat="1"))
    run(SetMode(mode=Mode.VOICE))
    assert run.queue() == [] and run.state.mode is Mode.VOICE


def test_unknown_seat_and_double_requests_are_refused():
    run = Run()
    rejected(run, Grant(seat="99"), "unknown_seat")
    run(Request(seat="1"))
    rejected(run, Request(seat="1"), "already_queued")
    run(Grant(seat="1"))
    rejected(run, Grant(seat="1"), "already_speaking")
    rejected(run, Request(seat="1"), "already_speaking")
