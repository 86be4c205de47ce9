"""Invariants of the director under arbitrary sequences of inputs (hypothesis).

The model below is kept independently of the director's own bookkeeping: which camera is
moving follows from the effects the director emitted and the camera events the test sent.
"""

from __future__ import annotations

import math

from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)

from councild.director import (
    CameraFailed,
    CameraMoving,
    CameraSettled,
    Director,
    DirectorConfig,
    DirectorError,
    DirectorInput,
    FloorChanged,
    Force,
    Granted,
    Lock,
    Mode,
    Release,
    Tick,
    VoiceChanged,
)
from councild.model import CutTo, Effect, RecallPreset

from .support import PTZ_SEATS, PTZ_SHOTS

SEATS = ("c", "1", "2", "3", "guest")  # "guest" has no shot of its own
CAMERAS = ("A", "B")

rule_params = st.fixed_dictionaries(
    {
        "switch_in_delay": st.sampled_from([0.0, 0.5, 1.2]),
        "min_hold": st.sampled_from([0.1, 2.0, 4.0]),
        "hysteresis": st.sampled_from([0.0, 2.0]),
        "group_when": st.sampled_from([0, 2, 3]),
        "idle_to_wide": st.sampled_from([0.0, 3.0, 5.0]),
        "chair_bias": st.sampled_from([0.0, 0.5, 2.0]),
        "cut_on_grant": st.booleans(),
        "settle_time": st.sampled_from([0.5, 3.0]),
        "turn_pause": st.sampled_from([0.0, 0.8, 2.0]),
    }
)


class DirectorMachine(RuleBasedStateMachine):
    @initialize(params=rule_params, group=st.sampled_from(["group", None]))
    def setup(self, params: dict[str, float], group: str | None) -> None:
        self.config = DirectorConfig(
            shots=PTZ_SHOTS, seats=PTZ_SEATS, wide="wide", group=group, **params
        )
        self.d = Director(self.config)
        self.now = 0.0
        self.last_cut = -math.inf
        self.program_camera: str | None = None
        self.moving: dict[str, float] = {}  # camera → moving since (model's own view)

    # --- the model of the cameras ---------------------------------------------------------

    def _camera_moving(self, camera: str, now: float) -> bool:
        since = self.moving.get(camera)
        return since is not None and now < since + self.config.settle_time

    def _feed(self, event: DirectorInput) -> None:
        before = self.d.snapshot()
        try:
            effects = self.d.step(event, self.now)
        except DirectorError:
            assert self.d.snapshot() == before, "a refused command changed the state"
            return
        if isinstance(event, CameraMoving) and not self._camera_moving(event.camera, self.now):
            self.moving[event.camera] = self.now
        if isinstance(event, CameraSettled | CameraFailed):
            self.moving.pop(event.camera, None)
        self._check(event, before.mode, effects)

    def _check(self, event: DirectorInput, mode_before: Mode, effects: list[Effect]) -> None:
        after = self.d.snapshot()
        if mode_before is Mode.LOCKED and after.mode is Mode.LOCKED:
            assert effects == [], "the program changed while locked"
        for effect in effects:
            if isinstance(effect, CutTo):
                assert effect.shot in self.config.shots
                if after.mode is not Mode.FORCED:
                    assert self.now >= self.last_cut + self.config.min_hold - 1e-9, (
                        f"cut at {self.now} only {self.now - self.last_cut} s after the last"
                    )
                self.last_cut = self.now
                shot = self.config.shots[effect.shot]
                if shot.positions:
                    camera = after.program_camera
                    assert camera in {p.camera for p in shot.positions}
                    assert not self._camera_moving(camera, self.now), (
                        f"cut to {effect.shot} while camera {camera} moves"
                    )
                    self.program_camera = camera
                else:
                    self.program_camera = None
            elif isinstance(effect, RecallPreset):
                assert effect.camera != self.program_camera, "preset recalled on air"
                self.moving[effect.camera] = self.now

    # --- inputs -------------------------------------------------------------------------

    @rule(seat=st.sampled_from(SEATS), active=st.booleans())
    def voice(self, seat: str, active: bool) -> None:
        self._feed(VoiceChanged(seat=seat, active=active))

    @rule(seat=st.sampled_from(SEATS), active=st.booleans(),
          back=st.floats(min_value=0.0, max_value=3.0))
    def speech(self, seat: str, active: bool, back: float) -> None:
        """Rule 9: classified speech, with an onset / last word up to 3 s back."""
        self._feed(VoiceChanged(seat=seat, active=active, speech=True, since=self.now - back))

    @rule(
        open_seats=st.lists(st.sampled_from(SEATS), unique=True, max_size=5),
        chair=st.booleans(),
    )
    def floor(self, open_seats: list[str], chair: bool) -> None:
        chairs = frozenset({"c"}) if chair else frozenset()
        self._feed(FloorChanged(open_seats=tuple(open_seats), chair_seats=chairs))

    @rule(seat=st.sampled_from(SEATS))
    def granted(self, seat: str) -> None:
        self._feed(Granted(seat=seat))

    @rule(on=st.booleans())
    def lock(self, on: bool) -> None:
        self._feed(Lock(on=on))

    @rule(shot=st.sampled_from([*PTZ_SHOTS, "missing"]))
    def force(self, shot: str) -> None:
        self._feed(Force(shot=shot))

    @rule()
    def release(self) -> None:
        self._feed(Release())

    @rule(camera=st.sampled_from(CAMERAS))
    def camera_moving(self, camera: str) -> None:
        self._feed(CameraMoving(camera=camera))

    @rule(camera=st.sampled_from(CAMERAS), preset=st.none() | st.integers(1, 3))
    def camera_settled(self, camera: str, preset: int | None) -> None:
        self._feed(CameraSettled(camera=camera, preset=preset))

    @rule(camera=st.sampled_from(CAMERAS))
    def camera_failed(self, camera: str) -> None:
        self._feed(CameraFailed(camera=camera))

    @rule(dt=st.floats(min_value=0.0, max_value=8.0))
    def wait(self, dt: float) -> None:
        self.now += dt
        self._feed(Tick())

    @precondition(lambda self: hasattr(self, "d") and self.d.next_deadline() is not None)
    @rule()
    def tick_at_deadline(self) -> None:
        deadline = self.d.next_deadline()
        assert deadline is not None
        self.now = deadline
        self._feed(Tick())

    # --- invariants that hold between any two inputs --------------------------------------

    @invariant()
    def program_exists(self) -> None:
        assert self.d.program in self.config.shots

    @invariant()
    def deadline_is_in_the_future(self) -> None:
        deadline = self.d.next_deadline()
        assert deadline is None or deadline > self.now

    @invariant()
    def program_camera_is_marked_on_air(self) -> None:
        snap = self.d.snapshot()
        if snap.program_camera is not None:
            assert snap.cameras[snap.program_camera].status == "program"
        assert sum(1 for c in snap.cameras.values() if c.status == "program") <= 1


TestDirectorMachine = DirectorMachine.TestCase
TestDirectorMachine.settings = settings(max_examples=300, stateful_step_count=60)


# --- ticks only at deadlines are enough -------------------------------------------------------

timed_inputs = st.lists(
    st.tuples(
        st.floats(min_value=0.0, max_value=5.0),
        st.one_of(
            st.builds(VoiceChanged, seat=st.sampled_from(SEATS), active=st.booleans()),
            st.builds(VoiceChanged, seat=st.sampled_from(SEATS), active=st.booleans(),
                      speech=st.just(True), since=st.floats(min_value=-5.0, max_value=200.0)),
            st.builds(Granted, seat=st.sampled_from(SEATS)),
            st.builds(CameraSettled, camera=st.sampled_from(CAMERAS)),
            st.builds(CameraMoving, camera=st.sampled_from(CAMERAS)),
            st.builds(CameraFailed, camera=st.sampled_from(CAMERAS)),
        ),
    ),
    max_size=40,
)


def _replay(
    config: DirectorConfig, inputs: list[tuple[float, DirectorInput]], extra: list[float]
) -> list[tuple[float, Effect]]:
    """Feed the inputs, ticking at every deadline and at the `extra` gaps' midpoints."""
    d = Director(config)
    now, out = 0.0, []
    extra_iter = iter(extra)
    for gap, event in [*inputs, (30.0, Tick())]:
        target = now + gap
        stray = now + next(extra_iter, 0.0) * gap  # a Tick at an arbitrary moment, or none
        while True:
            deadline = d.next_deadline()
            candidates = [t for t in (deadline, stray) if t is not None and now < t < target]
            if not candidates:
                break
            now = min(candidates)
            out += [(round(now, 9), e) for e in d.step(Tick(), now)]
        now = target
        out += [(round(now, 9), e) for e in d.step(event, now)]
    return out


@settings(max_examples=300)
@given(
    params=rule_params,
    inputs=timed_inputs,
    extra=st.lists(st.floats(min_value=0.01, max_value=0.99), max_size=40),
)
def test_extra_ticks_change_nothing(
    params: dict[str, float],
    inputs: list[tuple[float, DirectorInput]],
    extra: list[float],
) -> None:
    """The daemon needs to tick only at next_deadline(): more ticks give the same output."""
    config = DirectorConfig(shots=PTZ_SHOTS, seats=PTZ_SEATS, wide="wide", group="group", **params)
    assert _replay(config, inputs, extra) == _replay(config, inputs, [])
