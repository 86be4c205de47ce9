"""The voice-activity detector on an injected clock: no sleeps anywhere."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from devices.vad import VoiceDetector, VoiceSettings

# The detector tolerates 1 ns of float rounding in "at least attack/hold seconds".
SLACK = 1e-6
SETTINGS = VoiceSettings(threshold=-40.0, attack=0.15, hold=0.8, hysteresis=6.0)


def run(detector: VoiceDetector, readings: list[tuple[float, float]]) -> list[tuple[float, bool]]:
    """Feed (time, level) readings; return the (time, new state) transitions."""
    out = []
    for now, level in readings:
        change = detector.update(level, now)
        if change is not None:
            out.append((now, change))
    return out


def steady(level: float, start: float, end: float, step: float = 0.05) -> list[tuple[float, float]]:
    n = round((end - start) / step)
    return [(round(start + i * step, 6), level) for i in range(n + 1)]


def test_attack_needs_the_level_above_threshold_for_the_whole_attack_time() -> None:
    vad = VoiceDetector(SETTINGS)
    assert run(vad, steady(-30.0, 0.0, 0.10)) == []  # 0.10 s < attack
    assert not vad.active
    assert run(vad, [(0.15, -30.0)]) == [(0.15, True)]  # 0.15 s since the first reading
    assert vad.active


def test_a_dip_below_threshold_restarts_the_attack() -> None:
    vad = VoiceDetector(SETTINGS)
    readings = [(0.0, -30.0), (0.1, -30.0), (0.12, -45.0), (0.2, -30.0), (0.3, -30.0)]
    assert run(vad, readings) == []
    assert run(vad, [(0.35, -30.0)]) == [(0.35, True)]  # 0.15 s after the restart at 0.2


def test_hold_keeps_it_active_after_the_level_drops() -> None:
    vad = VoiceDetector(SETTINGS)
    run(vad, steady(-20.0, 0.0, 0.2))
    assert vad.active
    assert run(vad, steady(-80.0, 0.25, 1.0)) == []  # 0.75 s below: still within hold
    assert run(vad, [(1.05, -80.0)]) == [(1.05, False)]  # 0.8 s after the first low reading


def test_hysteresis_level_between_release_and_threshold_keeps_it_active() -> None:
    vad = VoiceDetector(SETTINGS)
    run(vad, steady(-20.0, 0.0, 0.2))
    # -43 dBFS: below the threshold (-40) but above the release (-46) for a long time.
    assert run(vad, steady(-43.0, 0.25, 10.0)) == []
    assert vad.active


def test_the_same_level_does_not_activate_an_inactive_detector() -> None:
    vad = VoiceDetector(SETTINGS)
    assert run(vad, steady(-43.0, 0.0, 10.0)) == []
    assert not vad.active


def test_talking_again_during_hold_cancels_the_release() -> None:
    vad = VoiceDetector(SETTINGS)
    run(vad, steady(-20.0, 0.0, 0.2))
    assert run(vad, steady(-80.0, 0.25, 0.9)) == []
    assert run(vad, [(0.95, -20.0)]) == []
    assert run(vad, steady(-80.0, 1.0, 1.75)) == []  # the hold started again at 1.0
    assert run(vad, [(1.8, -80.0)]) == [(1.8, False)]


def test_zero_attack_and_hold_switch_on_the_reading() -> None:
    vad = VoiceDetector(VoiceSettings(threshold=-40.0, attack=0.0, hold=0.0, hysteresis=0.0))
    assert run(vad, [(0.0, -40.0), (0.01, -40.1), (0.02, -39.0)]) == [
        (0.0, True),
        (0.01, False),
        (0.02, True),
    ]


def test_reset_reports_whether_it_was_active() -> None:
    vad = VoiceDetector(SETTINGS)
    run(vad, steady(-20.0, 0.0, 0.2))
    assert vad.reset() is True
    assert not vad.active
    assert vad.reset() is False
    assert run(vad, [(0.0, -20.0)]) == []  # time may start over after a reset


def test_time_going_backwards_and_nan_are_refused_and_change_nothing() -> None:
    vad = VoiceDetector(SETTINGS)
    run(vad, steady(-20.0, 0.0, 0.2))
    with pytest.raises(ValueError, match="backwards"):
        vad.update(-80.0, 0.1)
    with pytest.raises(ValueError, match="NaN"):
        vad.update(math.nan, 0.3)
    assert vad.active


@pytest.mark.parametrize(
    "kwargs",
    [
        {"attack": -0.1},
        {"hold": -1.0},
        {"hysteresis": -3.0},
        {"threshold": math.inf},
        {"attack": math.nan},
    ],
)
def test_invalid_settings_cannot_exist(kwargs: dict[str, float]) -> None:
    base = {"threshold": -40.0, "attack": 0.1, "hold": 0.5, "hysteresis": 6.0}
    with pytest.raises(ValueError, match="must"):
        VoiceSettings(**(base | kwargs))


# --- invariants ---------------------------------------------------------------------------------

settings_st = st.builds(
    VoiceSettings,
    threshold=st.floats(min_value=-80.0, max_value=0.0),
    attack=st.floats(min_value=0.0, max_value=1.0),
    hold=st.floats(min_value=0.0, max_value=2.0),
    hysteresis=st.floats(min_value=0.0, max_value=20.0),
)
readings_st = st.lists(
    st.tuples(
        st.floats(min_value=0.0, max_value=0.5),  # time step
        st.floats(min_value=-120.0, max_value=10.0),  # level
    ),
    max_size=200,
)


@given(settings_st, readings_st)
def test_invariants_against_a_brute_force_model(
    settings: VoiceSettings, steps: list[tuple[float, float]]
) -> None:
    vad = VoiceDetector(settings)
    now = 0.0
    history: list[tuple[float, float]] = []
    active = False
    for dt, level in steps:
        now += dt
        history.append((now, level))
        change = vad.update(level, now)
        if change is not None:
            assert change != active  # transitions alternate
            active = change
        assert vad.active == active
        if change is True:
            # every reading of the run ending now is >= threshold, spanning >= attack
            run_start = now
            for t, lv in reversed(history):
                if lv < settings.threshold:
                    break
                run_start = t
            assert now - run_start >= settings.attack - SLACK
        if change is False:
            assert level < settings.release
            run_start = now
            for t, lv in reversed(history):
                if lv >= settings.release:
                    break
                run_start = t
            assert now - run_start >= settings.hold - SLACK
        if active and change is None:
            assert level >= settings.release or not _low_for(
                history, settings.release, settings.hold
            )
        if not active and change is None:
            assert level < settings.threshold or not _high_for(
                history, settings.threshold, settings.attack
            )


def _run_start(history: list[tuple[float, float]], keep: object) -> float:
    start = history[-1][0]
    for t, lv in reversed(history):
        if not keep(lv):  # type: ignore[operator]
            break
        start = t
    return start


def _low_for(history: list[tuple[float, float]], release: float, hold: float) -> bool:
    """The newest run below `release` lasts at least `hold` (so it must have switched off)."""
    return history[-1][0] - _run_start(history, lambda lv: lv < release) >= hold + SLACK


def _high_for(history: list[tuple[float, float]], threshold: float, attack: float) -> bool:
    return history[-1][0] - _run_start(history, lambda lv: lv >= threshold) >= attack + SLACK
