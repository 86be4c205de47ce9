"""Director configurations shared by the rule tests and the property tests."""

from __future__ import annotations

from typing import Any

from councild.director import (
    Director,
    DirectorConfig,
    DirectorInput,
    LowerThird,
    Position,
    Shot,
    ShotKind,
    Tick,
)
from councild.model import CutTo, Effect

# Static shots (fixed cameras) keep the timing rules free of camera waits.
STATIC_SHOTS = {
    "wide": Shot(scene="Wide", kind=ShotKind.WIDE),
    "group": Shot(scene="Group", kind=ShotKind.GROUP),
    "chair": Shot(scene="Chair", lower_third=LowerThird(name="Chair", detail="Mayor")),
    "s1": Shot(scene="Seat 1", lower_third=LowerThird(name="Ann Smith", detail="Greens")),
    "s2": Shot(scene="Seat 2", lower_third=LowerThird(name="Bob Jones", detail="Liberals")),
    "s3": Shot(scene="Seat 3"),
}
STATIC_SEATS = {"c": "chair", "1": "s1", "2": "s2", "3": "s3"}


def static_config(**rules: Any) -> DirectorConfig:
    return DirectorConfig(
        shots=STATIC_SHOTS, seats=STATIC_SEATS, wide="wide", group="group", **rules
    )


# Two PTZ cameras: seat 1 can be framed from either, seat 2 and the chair only from camera A.
PTZ_SHOTS = {
    "wide": Shot(scene="Wide", kind=ShotKind.WIDE),
    "group": Shot(scene="Group", kind=ShotKind.GROUP),
    "p1": Shot(
        scene="PTZ seat 1",
        positions=(Position(camera="A", preset=1), Position(camera="B", preset=1)),
        lower_third=LowerThird(name="Ann Smith", detail="Greens"),
    ),
    "p2": Shot(scene="PTZ A seat 2", positions=(Position(camera="A", preset=2),)),
    "pc": Shot(scene="PTZ A chair", positions=(Position(camera="A", preset=3),)),
    "fixed3": Shot(scene="Seat 3"),
}
PTZ_SEATS = {"1": "p1", "2": "p2", "c": "pc", "3": "fixed3"}


def ptz_config(**rules: Any) -> DirectorConfig:
    return DirectorConfig(shots=PTZ_SHOTS, seats=PTZ_SEATS, wide="wide", group="group", **rules)


class Run:
    """Drives a director like the daemon does: events at given times, Ticks at deadlines."""

    def __init__(self, director: Director) -> None:
        self.d = director
        self.now = 0.0
        self.log: list[tuple[float, Effect]] = []

    def at(self, t: float, event: DirectorInput) -> list[Effect]:
        """Step `event` at `t`, after the Ticks due before `t` (the step itself covers `t`)."""
        while (deadline := self.d.next_deadline()) is not None and deadline < t:
            self.now = deadline
            self.log += [(deadline, e) for e in self.d.step(Tick(), deadline)]
        self.now = t
        effects = self.d.step(event, t)
        self.log += [(t, e) for e in effects]
        return effects

    def advance(self, t: float) -> None:
        """Let time pass up to `t`, ticking at every deadline on the way."""
        while (deadline := self.d.next_deadline()) is not None and deadline <= t:
            self.now = deadline
            self.log += [(deadline, e) for e in self.d.step(Tick(), deadline)]
        self.now = t

    def cuts(self) -> list[tuple[float, str]]:
        return [(round(t, 6), e.shot) for t, e in self.log if isinstance(e, CutTo)]

    def effects(self, kind: type[Effect]) -> list[tuple[float, Effect]]:
        return [(round(t, 6), e) for t, e in self.log if isinstance(e, kind)]
