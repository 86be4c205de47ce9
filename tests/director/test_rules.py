"""One test per director rule, on an injected clock: no sleeps, no event loop."""

from __future__ import annotations

import pytest

from councild.director import (
    CameraFailed,
    CameraMoving,
    CameraSettled,
    CameraStatus,
    Director,
    DirectorConfig,
    DirectorError,
    FloorChanged,
    Force,
    Granted,
    Lock,
    Mode,
    Release,
    Shot,
    Tick,
    VoiceChanged,
)
from councild.model import CutTo, HideLowerThird, RecallPreset, ShowLowerThird

from .support import (
    PTZ_SEATS,
    PTZ_SHOTS,
    STATIC_SEATS,
    STATIC_SHOTS,
    Run,
    ptz_config,
    static_config,
)


def on(seat: str) -> VoiceChanged:
    return VoiceChanged(seat=seat, active=True)


def off(seat: str) -> VoiceChanged:
    return VoiceChanged(seat=seat, active=False)


def fresh(config: DirectorConfig) -> Run:
    """A director that has been on the wide shot long enough for any hold to be over."""
    return Run(Director(config))


# --- rule 1: switch-in delay ---------------------------------------------------------------


def test_voice_shorter_than_switch_in_delay_never_cuts() -> None:
    run = fresh(static_config(switch_in_delay=1.0))
    run.at(10.0, on("1"))
    run.at(10.9, off("1"))  # a cough
    run.advance(60.0)
    assert run.cuts() == []
    assert run.d.program == "wide"


def test_sustained_voice_cuts_exactly_after_switch_in_delay() -> None:
    run = fresh(static_config(switch_in_delay=1.0))
    run.at(10.0, on("1"))
    assert run.d.next_deadline() == pytest.approx(11.0)
    run.advance(20.0)
    assert run.cuts() == [(11.0, "s1")]
    assert run.d.snapshot().program_seat == "1"


def test_a_breath_shorter_than_the_delay_does_not_end_the_speech() -> None:
    run = fresh(static_config(switch_in_delay=1.0, hysteresis=10.0, group_when=0))
    run.at(0.0, on("1"))
    run.at(15.0, on("2"))  # seat 2 talks over seat 1 ...
    run.at(20.0, off("1"))  # ... and a breath of seat 1 does not hand the picture over
    run.at(20.5, on("1"))
    run.advance(25.9)
    assert run.cuts() == [(1.0, "s1")]
    run.advance(26.0)  # seat 2's own takeover time (15 + 1 + 10) is not moved by the breath
    assert run.cuts() == [(1.0, "s1"), (26.0, "s2")]


def test_after_the_speaker_stops_the_next_needs_only_the_switch_in_delay() -> None:
    run = fresh(static_config(switch_in_delay=1.0, hysteresis=5.0, min_hold=0.5))
    run.at(0.0, on("1"))
    run.at(10.0, off("1"))
    run.at(12.0, on("2"))  # turn taking with a 2 s gap
    run.advance(30.0)
    assert run.cuts() == [(1.0, "s1"), (13.0, "s2")]


# --- rule 2: minimum hold ------------------------------------------------------------------


def test_min_hold_delays_the_next_automatic_cut() -> None:
    run = fresh(static_config(switch_in_delay=1.0, min_hold=6.0, hysteresis=0.0))
    run.at(0.0, on("1"))  # cut at 1.0
    run.at(1.5, off("1"))
    run.at(1.5, on("2"))  # established at 2.5, but the hold runs until 7.0
    run.advance(20.0)
    assert run.cuts() == [(1.0, "s1"), (7.0, "s2")]


# --- rule 3: hysteresis ---------------------------------------------------------------------


def test_interjection_over_a_live_speaker_stays_off_screen() -> None:
    run = fresh(static_config(switch_in_delay=1.0, hysteresis=2.0, min_hold=0.5, group_when=0))
    run.at(0.0, on("1"))
    run.at(10.0, on("2"))
    run.at(12.9, off("2"))  # 2.9 s over a live speaker: less than 1 + 2
    run.advance(30.0)
    assert run.cuts() == [(1.0, "s1")]


def test_a_real_takeover_gets_the_picture_after_delay_plus_hysteresis() -> None:
    run = fresh(static_config(switch_in_delay=1.0, hysteresis=2.0, min_hold=0.5, group_when=0))
    run.at(0.0, on("1"))
    run.at(10.0, on("2"))
    run.advance(30.0)
    assert run.cuts() == [(1.0, "s1"), (13.0, "s2")]


def test_someone_already_talking_when_the_picture_changed_does_not_take_it_back() -> None:
    run = fresh(static_config(switch_in_delay=1.0, hysteresis=2.0, min_hold=0.5, group_when=0))
    run.at(0.0, on("2"))
    run.at(5.0, Granted(seat="1"))
    run.at(5.0, on("1"))  # both talk on; seat 2 started before seat 1 got the picture
    run.at(20.0, off("1"))
    run.advance(30.0)
    assert run.cuts() == [(1.0, "s2"), (5.0, "s1"), (21.0, "s2")]


def test_two_people_talking_at_once_without_group_shot_do_not_ping_pong() -> None:
    run = fresh(static_config(switch_in_delay=1.0, hysteresis=2.0, min_hold=0.5, group_when=0))
    run.at(0.0, on("1"))
    run.at(10.0, on("2"))
    run.advance(100.0)
    assert run.cuts() == [(1.0, "s1"), (13.0, "s2")]


# --- rule 4: group shot ---------------------------------------------------------------------


def test_two_speakers_at_once_show_the_group_shot() -> None:
    run = fresh(static_config(switch_in_delay=1.0, hysteresis=2.0, min_hold=0.5, group_when=2))
    run.at(0.0, on("1"))
    run.at(10.0, on("2"))
    run.at(20.0, off("2"))
    run.advance(40.0)
    # group when seat 2 passes delay + hysteresis over live seat 1; back to seat 1 once seat
    # 2 has been silent for the switch-in delay.
    assert run.cuts() == [(1.0, "s1"), (13.0, "group"), (21.0, "s1")]


def test_without_a_group_shot_the_wide_shot_stands_in() -> None:
    config = DirectorConfig(shots=STATIC_SHOTS, seats=STATIC_SEATS, wide="wide", group=None)
    run = fresh(config)
    run.at(0.0, on("1"))
    run.at(0.0, on("2"))
    run.advance(3.0)
    assert run.d.program == "wide"
    assert run.cuts() == []  # already on wide: nothing to cut


def test_group_when_three_needs_three_speakers() -> None:
    run = fresh(static_config(switch_in_delay=1.0, min_hold=0.5, group_when=3, hysteresis=0.0))
    run.at(0.0, on("1"))
    run.at(0.0, on("2"))
    run.advance(2.0)
    assert run.d.program in {"s1", "s2"}
    run.at(2.0, on("3"))
    run.advance(5.0)
    assert run.d.program == "group"


# --- rule 5: idle to wide -------------------------------------------------------------------


def test_silence_goes_to_wide_after_idle_to_wide() -> None:
    run = fresh(static_config(switch_in_delay=1.0, idle_to_wide=5.0, min_hold=0.5))
    run.at(0.0, on("1"))
    run.at(10.0, off("1"))
    run.advance(30.0)
    assert run.cuts() == [(1.0, "s1"), (15.0, "wide")]


def test_a_cough_restarts_the_idle_timer_but_does_not_cut() -> None:
    run = fresh(static_config(switch_in_delay=1.0, idle_to_wide=5.0, min_hold=0.5))
    run.at(0.0, on("1"))
    run.at(10.0, off("1"))
    run.at(13.0, on("3"))
    run.at(13.3, off("3"))
    run.advance(30.0)
    assert run.cuts() == [(1.0, "s1"), (18.3, "wide")]


# --- rule 6: chair bias ---------------------------------------------------------------------


def test_chair_bias_lets_the_chair_in_sooner() -> None:
    run = fresh(static_config(switch_in_delay=1.0, chair_bias=0.5))
    run.at(0.0, FloorChanged(open_seats=("c", "1"), chair_seats=frozenset({"c"})))
    run.at(10.0, on("c"))
    run.advance(20.0)
    assert run.cuts() == [(10.5, "chair")]


def test_chair_wins_a_tie() -> None:
    run = fresh(static_config(switch_in_delay=1.0, chair_bias=0.5, group_when=0))
    run.at(0.0, FloorChanged(open_seats=("c", "1"), chair_seats=frozenset({"c"})))
    run.at(10.0, on("1"))
    run.at(10.0, on("c"))
    run.advance(20.0)
    assert run.cuts()[0] == (10.5, "chair")


# --- rule 7: cut on grant -------------------------------------------------------------------


def test_grant_cuts_before_the_delegate_speaks_and_holds_while_the_chair_finishes() -> None:
    run = fresh(static_config(switch_in_delay=1.0, min_hold=2.0, idle_to_wide=5.0))
    run.at(0.0, FloorChanged(open_seats=("c",), chair_seats=frozenset({"c"})))
    run.at(0.0, on("c"))
    run.advance(10.0)
    run.at(10.0, FloorChanged(open_seats=("c", "2"), chair_seats=frozenset({"c"})))
    assert run.at(10.0, Granted(seat="2")) == [
        CutTo(shot="s2"),
        ShowLowerThird(name="Bob Jones", detail="Liberals"),
    ]
    run.at(13.0, off("c"))  # the chair talks on for 3 s: the picture stays on seat 2
    run.at(14.0, on("2"))
    run.advance(40.0)
    assert run.cuts() == [(0.5, "chair"), (10.0, "s2")]


def test_grant_respects_min_hold() -> None:
    run = fresh(static_config(switch_in_delay=1.0, min_hold=4.0))
    run.at(0.0, on("1"))  # cut at 1.0
    run.at(2.0, Granted(seat="2"))
    run.advance(10.0)
    assert run.cuts()[:2] == [(1.0, "s1"), (5.0, "s2")]


def test_without_cut_on_grant_a_grant_changes_nothing() -> None:
    run = fresh(static_config(cut_on_grant=False))
    assert run.at(1.0, Granted(seat="2")) == []
    run.advance(30.0)
    assert run.cuts() == []


def test_grant_of_a_closed_mic_is_ignored() -> None:
    run = fresh(static_config())
    run.at(0.0, FloorChanged(open_seats=("c",), chair_seats=frozenset({"c"})))
    assert run.at(1.0, Granted(seat="2")) == []


# --- seats and the floor ---------------------------------------------------------------------


def test_voice_at_a_closed_mic_is_ignored_once_the_floor_is_known() -> None:
    run = fresh(static_config(switch_in_delay=1.0))
    run.at(0.0, FloorChanged(open_seats=("1",)))
    run.at(1.0, on("2"))
    run.advance(10.0)
    assert run.cuts() == []
    # ... and counts from the moment the mic opens.
    run.at(10.0, FloorChanged(open_seats=("1", "2")))
    run.advance(20.0)
    assert run.cuts() == [(11.0, "s2")]


def test_closing_the_speakers_mic_ends_the_speech() -> None:
    run = fresh(static_config(switch_in_delay=1.0, idle_to_wide=5.0, min_hold=0.5))
    run.at(0.0, FloorChanged(open_seats=("1",)))
    run.at(0.0, on("1"))
    run.at(10.0, FloorChanged(open_seats=()))
    run.advance(30.0)
    assert run.cuts() == [(1.0, "s1"), (15.0, "wide")]


def test_a_seat_without_a_shot_is_shown_on_the_wide_shot() -> None:
    run = fresh(static_config(switch_in_delay=1.0, min_hold=0.5))
    run.at(0.0, on("1"))
    run.at(5.0, off("1"))
    run.at(5.0, on("remote-7"))
    run.advance(8.0)
    assert run.cuts() == [(1.0, "s1"), (6.0, "wide")]
    assert run.d.snapshot().program_seat == "remote-7"


# --- rule 9: classified speech -------------------------------------------------------------


def speech(seat: str, since: float) -> VoiceChanged:
    """The level classifier confirmed speech that began at `since`."""
    return VoiceChanged(seat=seat, active=True, speech=True, since=since)


def speech_end(seat: str, last: float) -> VoiceChanged:
    return VoiceChanged(seat=seat, active=False, speech=True, since=last)


def test_classified_speech_takes_the_picture_when_reported_without_the_switch_in_delay() -> None:
    run = fresh(static_config(switch_in_delay=1.2, chair_bias=0.0))
    run.at(10.45, speech("1", since=10.0))  # confirmed 0.45 s after the first word
    assert run.cuts() == [(10.45, "s1")]


def test_a_turn_after_a_pause_is_taken_once_the_last_speaker_is_silent_for_turn_pause() -> None:
    run = fresh(static_config(switch_in_delay=1.2, hysteresis=2.0, min_hold=4.0,
                              turn_pause=0.8, group_when=0))
    run.at(0.45, speech("1", since=0.0))
    run.at(10.3, speech_end("1", last=10.0))
    run.at(10.6, speech("2", since=10.15))  # started 0.15 s after the last word
    run.advance(30.0)
    # Not at 10.6 (seat 1 silent only 0.6 s), not after the hysteresis: at 10.8.
    assert run.cuts() == [(0.45, "s1"), (10.8, "s2")]


def test_a_classified_interjection_over_a_live_speaker_stays_off_screen() -> None:
    run = fresh(static_config(hysteresis=2.0, min_hold=0.5, group_when=0))
    run.at(0.45, speech("1", since=0.0))
    run.at(10.45, speech("2", since=10.0))
    run.at(11.2, speech_end("2", last=10.9))  # 0.9 s over seat 1, who goes on speaking
    run.advance(30.0)
    assert run.cuts() == [(0.45, "s1")]


def test_a_classified_takeover_needs_delay_plus_hysteresis_from_its_onset() -> None:
    run = fresh(static_config(switch_in_delay=1.2, hysteresis=2.0, min_hold=0.5, group_when=0))
    run.at(0.45, speech("1", since=0.0))
    run.at(10.45, speech("2", since=10.0))
    run.advance(30.0)
    assert run.cuts() == [(0.45, "s1"), (13.2, "s2")]


def test_a_breath_shorter_than_turn_pause_keeps_a_classified_speech_going() -> None:
    run = fresh(static_config(turn_pause=0.8, min_hold=0.5, group_when=0, hysteresis=5.0))
    run.at(0.45, speech("1", since=0.0))
    run.at(5.3, speech_end("1", last=5.0))
    run.at(5.3, speech("2", since=4.0))  # talking over seat 1 since before the breath
    run.at(5.6, speech("1", since=5.6))  # the next sentence, 0.6 s after the last word
    run.advance(8.0)
    assert run.cuts() == [(0.45, "s1")]


def test_a_classified_onset_later_than_the_report_counts_as_the_report() -> None:
    run = fresh(static_config())
    run.at(5.0, speech("1", since=99.0))
    assert run.cuts() == [(5.0, "s1")]


# --- rule 8: free camera --------------------------------------------------------------------


def test_ptz_shot_recalls_on_a_free_camera_and_cuts_when_it_settles() -> None:
    run = fresh(ptz_config(switch_in_delay=1.0, settle_time=3.0))
    run.at(0.0, on("2"))
    assert run.at(1.0, Tick()) == [RecallPreset(camera="A", preset=2)]
    assert run.d.snapshot().cameras["A"].status is CameraStatus.MOVING
    assert run.d.snapshot().preparing == "p2"
    assert run.at(1.05, CameraMoving(camera="A")) == []  # the driver's own confirmation
    assert run.at(2.2, CameraSettled(camera="A")) == [CutTo(shot="p2")]
    snap = run.d.snapshot()
    assert snap.program_camera == "A"
    assert snap.cameras["A"].status is CameraStatus.PROGRAM


def test_without_a_completion_the_cut_waits_for_settle_time() -> None:
    run = fresh(ptz_config(switch_in_delay=1.0, settle_time=3.0))
    run.at(0.0, on("2"))
    run.advance(10.0)
    assert run.cuts() == [(4.0, "p2")]


def test_a_camera_already_at_the_preset_is_cut_to_without_a_recall() -> None:
    run = fresh(ptz_config(switch_in_delay=1.0, min_hold=0.5, idle_to_wide=3.0))
    run.at(0.0, on("1"))
    run.advance(1.0)
    run.at(1.5, CameraSettled(camera="A"))  # p1 on camera A
    run.at(5.0, off("1"))
    run.advance(9.0)  # wide at 9.0: camera A is free again and still at preset 1
    assert run.d.program == "wide"
    run.at(10.0, on("1"))
    run.advance(12.0)
    assert [e for _, e in run.effects(RecallPreset)] == [RecallPreset(camera="A", preset=1)]
    assert run.cuts()[-1] == (11.0, "p1")


def test_the_other_camera_is_used_when_the_first_option_is_on_program() -> None:
    run = fresh(ptz_config(switch_in_delay=1.0, min_hold=0.5, hysteresis=0.0, group_when=0))
    run.at(0.0, on("c"))
    run.advance(1.0)
    run.at(1.5, CameraSettled(camera="A"))  # chair on camera A, on program
    run.at(2.0, off("c"))
    run.at(2.0, on("1"))  # seat 1 can be shot from A (busy) or B
    run.advance(3.2)
    assert run.effects(RecallPreset)[-1][1] == RecallPreset(camera="B", preset=1)


def test_when_only_the_program_camera_can_serve_cut_to_wide_first() -> None:
    run = fresh(ptz_config(switch_in_delay=1.0, min_hold=2.0, hysteresis=0.0, group_when=0))
    run.at(0.0, on("c"))
    run.advance(1.0)
    run.at(1.5, CameraSettled(camera="A"))  # chair (A/3) on program
    run.at(10.0, off("c"))
    run.at(10.0, on("2"))  # seat 2 exists only on camera A
    effects = run.at(11.0, Tick())
    assert effects == [CutTo(shot="wide"), RecallPreset(camera="A", preset=2)]
    run.at(12.0, CameraSettled(camera="A"))
    run.advance(20.0)
    assert run.cuts()[-1] == (13.0, "p2")  # after the hold that started with the wide cut


def test_after_the_detour_through_wide_the_newcomer_gets_the_picture() -> None:
    run = fresh(ptz_config(switch_in_delay=1.0, min_hold=2.0, hysteresis=2.0, group_when=0))
    run.at(0.0, on("2"))
    run.advance(1.0)
    run.at(1.5, CameraSettled(camera="A"))  # seat 2 (A/2) on program
    run.at(10.0, on("c"))  # the chair takes over; its shot also needs camera A
    run.advance(13.0)
    assert run.cuts()[-1] == (13.0, "wide")
    assert run.effects(RecallPreset)[-1] == (13.0, RecallPreset(camera="A", preset=3))
    run.at(14.0, CameraSettled(camera="A"))
    run.advance(60.0)  # seat 2 talks on, but was talking before: no way back, no ping-pong
    assert run.cuts()[-2:] == [(13.0, "wide"), (15.0, "pc")]


def test_a_camera_moved_by_someone_else_is_not_cut_to_until_it_settles() -> None:
    run = fresh(ptz_config(switch_in_delay=1.0, min_hold=0.5, idle_to_wide=2.0))
    run.at(0.0, on("1"))
    run.advance(1.0)
    run.at(1.2, CameraSettled(camera="A"))
    run.at(3.0, off("1"))
    run.advance(6.0)  # wide; A idle at preset 1
    run.at(6.0, CameraMoving(camera="A"))  # a joystick
    run.at(7.0, on("1"))
    run.advance(8.0)
    assert run.d.program == "wide"  # A moving to somewhere unknown, B needs a recall
    assert RecallPreset(camera="B", preset=1) in [e for _, e in run.effects(RecallPreset)]


def test_a_preset_is_never_recalled_on_the_camera_on_program() -> None:
    run = fresh(ptz_config(switch_in_delay=1.0, min_hold=0.5, hysteresis=0.0, group_when=0))
    run.at(0.0, on("2"))
    run.advance(1.0)
    run.at(1.5, CameraSettled(camera="A"))  # p2 on A
    run.at(2.0, Force(shot="pc"))  # the chair shot also lives on A only
    effects = run.at(2.0, Tick())
    assert RecallPreset(camera="A", preset=3) not in effects
    assert run.d.program == "wide"  # forced: wide at once to free camera A
    assert run.effects(RecallPreset)[-1][1] == RecallPreset(camera="A", preset=3)


def test_a_completion_for_an_older_preset_is_not_taken_for_arrival() -> None:
    run = fresh(ptz_config(switch_in_delay=1.0, settle_time=3.0))
    run.at(0.0, on("2"))
    assert run.at(1.0, Tick()) == [RecallPreset(camera="A", preset=2)]
    assert run.at(1.5, CameraSettled(camera="A", preset=7)) == []  # somebody else's move
    assert run.d.snapshot().cameras["A"].status is CameraStatus.MOVING
    assert run.at(2.0, CameraSettled(camera="A", preset=2)) == [CutTo(shot="p2")]


def test_a_failed_move_rests_the_camera_and_uses_another() -> None:
    run = fresh(ptz_config(switch_in_delay=1.0, settle_time=3.0))
    run.at(0.0, on("1"))
    assert run.at(1.0, Tick()) == [RecallPreset(camera="A", preset=1)]
    assert run.at(1.1, CameraFailed(camera="A")) == [RecallPreset(camera="B", preset=1)]
    assert run.d.snapshot().cameras["A"].status is CameraStatus.FAULT
    run.at(1.5, CameraSettled(camera="B"))
    assert run.cuts() == [(1.5, "p1")]
    assert run.d.snapshot().program_camera == "B"
    run.advance(4.1)
    assert run.d.snapshot().cameras["A"].status is CameraStatus.IDLE  # rested, usable again


# --- lower thirds ---------------------------------------------------------------------------


def test_lower_third_shown_with_its_shot_and_hidden_after() -> None:
    run = fresh(static_config(switch_in_delay=1.0, min_hold=0.5, idle_to_wide=2.0))
    run.at(0.0, on("1"))
    run.at(5.0, off("1"))
    run.advance(10.0)
    assert [e for _, e in run.log] == [
        CutTo(shot="s1"),
        ShowLowerThird(name="Ann Smith", detail="Greens"),
        CutTo(shot="wide"),
        HideLowerThird(),
    ]


def test_initial_effects_put_the_wide_shot_on_program() -> None:
    assert Director(static_config()).initial_effects() == [CutTo(shot="wide"), HideLowerThird()]


# --- technician -----------------------------------------------------------------------------


def test_lock_freezes_everything_and_force_is_refused() -> None:
    run = fresh(static_config(switch_in_delay=1.0))
    run.at(0.0, Lock(on=True))
    run.at(1.0, on("1"))
    run.at(1.0, Granted(seat="2"))
    run.advance(30.0)
    assert run.log == []
    with pytest.raises(DirectorError) as err:
        run.d.step(Force(shot="s2"), 30.0)
    assert err.value.code == "locked"
    assert run.d.mode is Mode.LOCKED
    assert run.d.program == "wide"
    # Unlocking hands back to the rules, which see seat 1 still talking.
    assert run.at(31.0, Lock(on=False))[0] == CutTo(shot="s1")


@pytest.mark.parametrize(
    ("setup", "command", "code"),
    [
        ([], Release(), "not_forced"),
        ([], Lock(on=False), "not_locked"),
        ([Lock(on=True)], Lock(on=True), "already_locked"),
        ([Lock(on=True)], Release(), "not_forced"),
        ([], Force(shot="no-such-shot"), "unknown_shot"),
    ],
)
def test_illegal_commands_raise_and_change_nothing(
    setup: list[Lock], command: Lock | Release | Force, code: str
) -> None:
    director = Director(static_config())
    for event in setup:
        director.step(event, 0.0)
    before = director.snapshot()
    with pytest.raises(DirectorError) as err:
        director.step(command, 1.0)
    assert err.value.code == code
    assert director.snapshot() == before


def test_the_technician_table_is_complete_for_every_mode() -> None:
    from councild.director import TRANSITIONS

    # Every mode has a way back to automatic, and nothing leads out of the table.
    for mode in Mode:
        reachable = {new for (old, _cmd), new in TRANSITIONS.items() if old is mode}
        assert reachable, mode
    assert TRANSITIONS[(Mode.LOCKED, "unlock")] is Mode.AUTO
    assert TRANSITIONS[(Mode.FORCED, "release")] is Mode.AUTO
    assert (Mode.LOCKED, "force") not in TRANSITIONS


def test_force_cuts_at_once_ignoring_hold_and_release_returns_to_auto() -> None:
    run = fresh(static_config(switch_in_delay=1.0, min_hold=10.0, hysteresis=0.0))
    run.at(0.0, on("1"))
    run.advance(1.0)  # s1 at 1.0
    assert run.at(2.0, Force(shot="s3"))[0] == CutTo(shot="s3")
    run.at(3.0, on("2"))
    run.advance(20.0)
    assert run.d.program == "s3"  # forced: the rules are paused
    run.at(20.0, Release())
    run.advance(21.0)
    assert run.d.mode is Mode.AUTO
    assert run.cuts() == [(1.0, "s1"), (2.0, "s3"), (20.0, "group")]


def test_release_honours_min_hold_from_the_forced_cut() -> None:
    run = fresh(static_config(switch_in_delay=1.0, min_hold=10.0))
    run.at(0.0, Force(shot="s3"))
    run.at(1.0, Release())
    run.at(1.0, on("1"))
    run.advance(20.0)
    assert run.cuts() == [(0.0, "s3"), (10.0, "s1")]


# --- deadlines and configuration ------------------------------------------------------------


def test_next_deadline_is_none_when_nothing_can_happen() -> None:
    director = Director(static_config())
    assert director.next_deadline() is None
    director.step(on("1"), 100.0)
    assert director.next_deadline() == pytest.approx(101.2)


def test_time_going_backwards_is_treated_as_no_time_passing() -> None:
    run = fresh(static_config(switch_in_delay=1.0))
    run.at(10.0, on("1"))
    assert run.d.step(Tick(), 5.0) == []
    assert run.d.step(Tick(), 11.0) == [
        CutTo(shot="s1"),
        ShowLowerThird(name="Ann Smith", detail="Greens"),
    ]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"wide": "nope"}, "wide shot 'nope'"),
        ({"group": "nope"}, "group shot 'nope'"),
        ({"seats": {"9": "nope"}}, "seat '9'"),
        ({"min_hold": -1.0}, "min_hold"),
        ({"min_hold": 0.0}, "min_hold"),
        ({"settle_time": 0.0}, "settle_time"),
        ({"group_when": 1}, "group_when"),
    ],
)
def test_invalid_configuration_is_refused(kwargs: dict[str, object], message: str) -> None:
    args: dict[str, object] = {
        "shots": PTZ_SHOTS,
        "seats": PTZ_SEATS,
        "wide": "wide",
        "group": "group",
    }
    args.update(kwargs)
    with pytest.raises(DirectorError, match=message) as err:
        DirectorConfig(**args)  # type: ignore[arg-type]
    assert err.value.code == "invalid_config"


def test_config_lists_its_cameras() -> None:
    assert ptz_config().cameras == ("A", "B")
    assert static_config().cameras == ()
    assert ptz_config().seat_shot("unknown") == "wide"
    assert isinstance(PTZ_SHOTS["fixed3"], Shot)
