"""The director: which shot is on program, and when it changes.

A pure state machine: `Director.step(event, now)` takes one input and the current time and
returns the effects to carry out (`CutTo`, `RecallPreset`, `ShowLowerThird`,
`HideLowerThird`). It never reads a clock and never waits; `next_deadline()` tells the daemon
when to send the next `Tick` so that the timers below fire on time.

The rules, as a technician would explain them
---------------------------------------------

Who is talking. The desk or the conference system reports voice on a seat (`VoiceChanged`).
Voice from a seat whose microphone is closed is ignored once the floor has reported which
mics are open (`FloorChanged`): a closed mic is not heard in the stream, so it is not shown.

1. Switch-in delay (debounce). A seat counts as *speaking* only after its voice has been on
   without a break for `switch_in_delay` seconds. Coughs, "yes", a chair creaking — anything
   shorter — never moves the picture. The same delay applies on the way out: a speaker still
   counts as speaking until they have been silent for `switch_in_delay` seconds, so a breath
   between two sentences does not count as the end of the speech.
2. Minimum hold. After any automatic cut the picture stays at least `min_hold` seconds, so
   the stream never looks jumpy. Only the technician (Force) cuts sooner.
3. Hysteresis. While the person on screen is still speaking, a newcomer — someone who
   started talking after the current picture went on air — takes the picture only after
   talking for `switch_in_delay + hysteresis` seconds without a break. Interjections and
   short remarks over a speech therefore stay off screen; someone who really takes over gets
   the picture. Whoever was already talking when the picture changed does not take it back
   while the person on screen still speaks, so two people talking at once never make the
   picture ping-pong. (We measure time, not loudness: voice reports are on/off, and
   time-over-a-live-speaker is what an editor judges by.) When the person on screen has
   stopped, the next speaker needs only the switch-in delay.
4. Group shot. When `group_when` or more seats speak at once (counted with the rules
   above; over a live speaker a newcomer first has to pass the hysteresis), the group shot
   goes on program — or the wide shot if no group shot is configured.
   `group_when = 0` turns this off; then the longest-talking newcomer wins.
5. Idle to wide. When nobody at all has voice for `idle_to_wide` seconds, the wide shot goes
   on program.
6. Chair bias. Voice at a chair seat counts `chair_bias` seconds longer than it is, so the
   chair gets the picture a little sooner and wins a tie.
7. Cut on grant. With `cut_on_grant`, when the floor is given to a seat (`Granted`) its shot
   is prepared at once and goes on program as soon as the minimum hold allows — before the
   delegate has said a word. It then stays for `idle_to_wide` seconds so they can start, even
   if the chair is still finishing a sentence.
8. Free camera. A PTZ camera moves visibly, so a preset is never recalled on the camera that
   is on program. To show a PTZ shot, the director picks one of the shot's (camera, preset)
   options on a camera that is not on program — one already there if possible — recalls the
   preset, and cuts once the camera reports it has arrived (`CameraSettled`) or `settle_time`
   has passed, whichever is first. If every option needs the camera on program, it first cuts
   to the wide shot, which frees the camera. A camera whose move failed (`CameraFailed`) is
   left alone for `settle_time`, then asked again; another free camera is used meanwhile.
9. Classified speech. Voice reported as speech by the level classifier
   (councild/voice_classifier.py: duration, syllable rhythm, bleed, noise floor) has been
   confirmed already, so it counts as speaking as soon as it is reported, from its onset:
   the classifier's confirmation replaces the switch-in delay (rule 1); a newcomer over a
   live speaker still needs `switch_in_delay + hysteresis` from its onset (rule 3). Such a
   speaker's speech ends when they have been silent for `turn_pause` after their last
   word, not the switch-in delay: a turn that follows a pause is not an interjection, and
   the next speaker takes the picture as soon as their speech is confirmed (and the
   minimum hold allows).
   A voice the classifier ignored (a cough, bleed, a fan) never reaches the director.

The technician
--------------

- Force(shot): put a shot on program now and keep it there; the automatic rules stop. It
  ignores the minimum hold (it is a person's decision) but still obeys the free-camera rule.
  Force again to pick another shot.
- Release(): back to automatic; the minimum hold counts from the last cut.
- Lock(on=True): freeze the program. Nothing changes while locked — no cut, no lower third,
  no preset recall, and Force is refused (unlock first): a lock is a promise that the picture
  will not move, for instance during a vote display. Lock(on=False) returns to automatic.
  Illegal commands raise `DirectorError` and change nothing.

Seats are opaque strings (remote councillors will be seats too). A seat without a shot of its
own is shown on the wide shot.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType
from typing import Any, TypeAlias

from councild.errors import FloorError
from councild.model import CutTo, Effect, HideLowerThird, RecallPreset, SeatId, ShowLowerThird

__all__ = [
    "TRANSITIONS",
    "CameraFailed",
    "CameraMoving",
    "CameraSettled",
    "CameraStatus",
    "CameraView",
    "Director",
    "DirectorConfig",
    "DirectorError",
    "DirectorInput",
    "DirectorSnapshot",
    "FloorChanged",
    "Force",
    "Granted",
    "Lock",
    "LowerThird",
    "Mode",
    "Position",
    "Release",
    "Shot",
    "ShotKind",
    "Tick",
    "VoiceChanged",
]


class DirectorError(FloorError):
    """A technician command is not allowed now, or the configuration is inconsistent.

    The state is unchanged. `code` is stable for API replies: locked, not_locked,
    already_locked, not_forced, unknown_shot, invalid_config.
    """


# ---------------------------------------------------------------------------------------------
# Configuration


class ShotKind(StrEnum):
    SEAT = "seat"  # one speaker (or a few seats framed together)
    WIDE = "wide"  # the whole chamber: the safe fallback
    GROUP = "group"  # several speakers at once


@dataclass(frozen=True, slots=True, kw_only=True)
class Position:
    """One way to realise a shot on a PTZ camera: recall `preset` on `camera`."""

    camera: str
    preset: int

    def __post_init__(self) -> None:
        if not self.camera:
            raise DirectorError("invalid_config", "position: camera name is empty")
        if not 0 <= self.preset <= 255:
            raise DirectorError("invalid_config", f"position: preset {self.preset} not 0..255")


@dataclass(frozen=True, slots=True, kw_only=True)
class LowerThird:
    name: str
    detail: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class Shot:
    """A program picture: an OBS scene, optionally fed by a PTZ camera at a preset.

    `positions` empty = a static shot (fixed camera, crop, remote feed): always ready.
    """

    scene: str
    kind: ShotKind = ShotKind.SEAT
    positions: tuple[Position, ...] = ()
    lower_third: LowerThird | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class DirectorConfig:
    """Shots, which seat is shown on which shot, and the rule parameters (seconds).

    The defaults are sensible for a council chamber, not tuned to one recording: see the
    module docstring and bench/shot_accuracy.py.
    """

    shots: Mapping[str, Shot]
    seats: Mapping[SeatId, str]  # seat → shot name
    wide: str
    group: str | None = None
    # Above a cough or an interjection (≤ 1 s), well below a council turn (tens of seconds).
    switch_in_delay: float = 1.2
    # A shot shorter than 2 s looks nervous (the cut a viewer notices as jumpy); a council's
    # quick exchanges (2–5 s answers) need a cut every few seconds, and a longer hold only
    # keeps the last speaker's face on the next one's words (bench/shot_accuracy.py: 4 s
    # costs 0.07 of the speech time on the right face, 2.5 s 0.005, against 2 s).
    min_hold: float = 2.0
    # A newcomer over a live speaker must talk 2 s more than a plain switch-in: longer than
    # an interjection, short enough that a real takeover is shown within ~3 s.
    hysteresis: float = 2.0
    group_when: int = 2  # 0 = never a group shot
    # Pauses of 2–4 s are normal within a speech (papers, thinking); longer means nobody holds
    # the floor and the audience should see the room.
    idle_to_wide: float = 5.0
    chair_bias: float = 0.5
    cut_on_grant: bool = True
    # Typical PTZ preset moves take 1–3 s; used only when the camera reports no completion.
    settle_time: float = 3.0
    # Rule 9: silence after a classified speaker's last word that ends their turn. The
    # classifier reports the end 0.25 s after the last word, and the next sentence of the
    # same speech resumes without a new confirmation, so this only has to outlast a
    # breath; every 0.1 s more keeps the last face on the next speaker's words when they
    # start over the end of a speech (0.8 s measured 0.003–0.005 worse).
    turn_pause: float = 0.5

    def __post_init__(self) -> None:
        problems: list[str] = []
        if self.wide not in self.shots:
            problems.append(f"wide shot {self.wide!r} is not a configured shot")
        if self.group is not None and self.group not in self.shots:
            problems.append(f"group shot {self.group!r} is not a configured shot")
        for seat, shot in self.seats.items():
            if shot not in self.shots:
                problems.append(f"seat {seat!r}: shot {shot!r} is not a configured shot")
        for name in ("switch_in_delay", "hysteresis", "idle_to_wide", "chair_bias",
                     "turn_pause"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0):
                problems.append(f"{name} must be a finite number ≥ 0, not {value!r}")
        # Both must be > 0: a shot of no length is never wanted (and two cuts in the same
        # instant would be the result), and a camera cannot be "settled" the instant it was
        # told to move.
        for name in ("min_hold", "settle_time"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                problems.append(f"{name} must be a finite number > 0, not {value!r}")
        if self.group_when < 0 or self.group_when == 1:
            problems.append("group_when must be 0 (off) or ≥ 2")
        if problems:
            raise DirectorError("invalid_config", "; ".join(problems))

    def seat_shot(self, seat: SeatId) -> str:
        return self.seats.get(seat, self.wide)

    @property
    def cameras(self) -> tuple[str, ...]:
        names = {p.camera for shot in self.shots.values() for p in shot.positions}
        return tuple(sorted(names))


# ---------------------------------------------------------------------------------------------
# Inputs


@dataclass(frozen=True, slots=True, kw_only=True)
class DirectorInput:
    """Something the director reacts to."""


@dataclass(frozen=True, slots=True, kw_only=True)
class FloorChanged(DirectorInput):
    """The open microphones, in order of granting, and which of them belong to the chair."""

    open_seats: tuple[SeatId, ...]
    chair_seats: frozenset[SeatId] = frozenset()


@dataclass(frozen=True, slots=True, kw_only=True)
class VoiceChanged(DirectorInput):
    """Voice on a seat began or ended. `speech`: reported by the level classifier (rule 9),
    with `since` the onset (active) or the last word (not active); a `since` later than the
    step's time counts as the step's time."""

    seat: SeatId
    active: bool
    speech: bool = False
    since: float | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Granted(DirectorInput):
    """The floor was given to a seat (cut on grant)."""

    seat: SeatId


@dataclass(frozen=True, slots=True, kw_only=True)
class Lock(DirectorInput):
    on: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class Force(DirectorInput):
    shot: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Release(DirectorInput):
    pass


@dataclass(frozen=True, slots=True, kw_only=True)
class CameraMoving(DirectorInput):
    camera: str


@dataclass(frozen=True, slots=True, kw_only=True)
class CameraSettled(DirectorInput):
    """A camera reports it arrived. With `preset`, a report for another preset than the one
    the director is waiting for (an older move finishing) is ignored."""

    camera: str
    preset: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class CameraFailed(DirectorInput):
    """A preset move failed (error reply, timeout, link lost): position unknown."""

    camera: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Tick(DirectorInput):
    """Time passed; sent at `next_deadline()`."""


# ---------------------------------------------------------------------------------------------
# State


class Mode(StrEnum):
    AUTO = "auto"  # the rules choose the shot
    FORCED = "forced"  # the technician chose a shot; rules paused
    LOCKED = "locked"  # program frozen; nothing changes


class CameraStatus(StrEnum):
    IDLE = "idle"  # still, off program, at `preset` (None = unknown position)
    MOVING = "moving"  # travelling to `preset` (None = moved by someone else)
    PROGRAM = "program"  # on air: must not move
    FAULT = "fault"  # a move failed; rested for settle_time before it is asked again


@dataclass(frozen=True, slots=True)
class CameraView:
    status: CameraStatus
    preset: int | None
    since: float  # when this status began


@dataclass(frozen=True, slots=True)
class DirectorSnapshot:
    """Read-only view for the TUI and the API."""

    mode: Mode
    program: str
    program_seat: SeatId | None
    program_camera: str | None
    forced: str | None
    preparing: str | None  # shot waiting for its camera
    last_cut: float
    speaking: tuple[SeatId, ...]
    cameras: Mapping[str, CameraView]


# The technician's commands, as a table: (mode, command) → new mode. Anything missing is
# illegal in that mode and raises with the code given in _REFUSALS.
_Command: TypeAlias = str
_TRANSITIONS: dict[tuple[Mode, _Command], Mode] = {
    (Mode.AUTO, "force"): Mode.FORCED,
    (Mode.AUTO, "lock"): Mode.LOCKED,
    (Mode.FORCED, "force"): Mode.FORCED,
    (Mode.FORCED, "release"): Mode.AUTO,
    (Mode.FORCED, "lock"): Mode.LOCKED,
    (Mode.LOCKED, "unlock"): Mode.AUTO,
}
_REFUSALS: dict[_Command, str] = {
    "force": "locked",
    "release": "not_forced",
    "lock": "already_locked",
    "unlock": "not_locked",
}


# Read-only view of the technician's table for the docs and the TUI's help.
TRANSITIONS: Mapping[tuple[Mode, str], Mode] = MappingProxyType(_TRANSITIONS)


def _command(event: DirectorInput) -> _Command | None:
    if isinstance(event, Force):
        return "force"
    if isinstance(event, Release):
        return "release"
    if isinstance(event, Lock):
        return "lock" if event.on else "unlock"
    return None


@dataclass(slots=True)
class _Pending:
    """A shot waiting for a camera to reach its preset."""

    shot: str
    camera: str
    preset: int


@dataclass(slots=True)
class _Target:
    shot: str
    seat: SeatId | None


@dataclass(slots=True)
class _Voice:
    """What the director knows of one seat's voice, counted only while its mic is open."""

    since: float | None = None  # start of the current uninterrupted run; None = silent
    off_at: float = -math.inf  # when the last run ended
    was_speaking: bool = False  # the last run lasted long enough to count (rule 1)
    run_start: float = -math.inf  # start of the last run, resumed after a short break
    speech: bool = False  # reported by the level classifier (rule 9)


_NEVER = -math.inf


@dataclass(slots=True)
class _State:
    mode: Mode
    program: str
    program_seat: SeatId | None
    program_camera: str | None
    forced: str | None = None
    pending: _Pending | None = None
    last_cut: float = _NEVER
    lower_third: bool = False
    voice_raw: set[SeatId] = field(default_factory=set)
    voice_time: dict[SeatId, float] = field(default_factory=dict)  # rule 9: onset / last word
    voice_speech: set[SeatId] = field(default_factory=set)
    voices: dict[SeatId, _Voice] = field(default_factory=dict)
    floor_known: bool = False
    open_seats: tuple[SeatId, ...] = ()
    chair_seats: frozenset[SeatId] = frozenset()
    grant: SeatId | None = None  # granted, not yet on program
    grant_hold: tuple[SeatId, float] | None = None  # granted seat on program, held until
    detour: _Target | None = None  # on wide only to free the camera this target needs
    cameras: dict[str, CameraView] = field(default_factory=dict)


class Director:
    """Speaker-follow director. See the module docstring for the rules."""

    def __init__(self, config: DirectorConfig) -> None:
        self.config = config
        wide = config.shots[config.wide]
        program_camera = wide.positions[0].camera if wide.positions else None
        cameras = {c: CameraView(CameraStatus.IDLE, None, _NEVER) for c in config.cameras}
        if program_camera is not None:
            cameras[program_camera] = CameraView(
                CameraStatus.PROGRAM, wide.positions[0].preset, _NEVER
            )
        self._s = _State(
            mode=Mode.AUTO,
            program=config.wide,
            program_seat=None,
            program_camera=program_camera,
            cameras=cameras,
        )
        self._now = _NEVER
        self._handlers: dict[type[DirectorInput], Callable[[Any, float], None]] = {
            FloorChanged: self._on_floor,
            VoiceChanged: self._on_voice,
            Granted: self._on_granted,
            CameraMoving: self._on_camera_moving,
            CameraSettled: self._on_camera_settled,
            CameraFailed: self._on_camera_failed,
            Tick: lambda _e, _now: None,
            Force: self._on_force,
            Release: lambda _e, _now: None,
            Lock: self._on_lock,
        }

    # --- public ---------------------------------------------------------------------------

    @property
    def program(self) -> str:
        return self._s.program

    @property
    def mode(self) -> Mode:
        return self._s.mode

    def initial_effects(self) -> list[Effect]:
        """What to send at start-up, before anything is on air: the wide shot."""
        effects: list[Effect] = []
        wide = self.config.shots[self.config.wide]
        if wide.positions:
            p = wide.positions[0]
            effects.append(RecallPreset(camera=p.camera, preset=p.preset))
        effects.append(CutTo(shot=self._s.program))
        self._lower_third_effects(self._s.program, effects, force=True)
        return effects

    def step(self, event: DirectorInput, now: float) -> list[Effect]:
        """Apply one input at time `now` (seconds, any monotonic origin)."""
        handler = self._handlers.get(type(event))
        if handler is None:
            raise DirectorError("unknown_event", f"director cannot handle {type(event).__name__}")
        # Time never runs backwards for the rules, whatever the caller's clock did.
        now = max(now, self._now)
        command = _command(event)
        if command is not None:
            new_mode = _TRANSITIONS.get((self._s.mode, command))
            if new_mode is None:
                raise DirectorError(
                    _REFUSALS[command],
                    f"{type(event).__name__} not allowed while {self._s.mode.value}",
                )
            if isinstance(event, Force) and event.shot not in self.config.shots:
                raise DirectorError("unknown_shot", f"no shot named {event.shot!r}")
        self._now = now
        self._expire_cameras(now)
        handler(event, now)
        if command is not None:
            self._s.mode = _TRANSITIONS[(self._s.mode, command)]
            if self._s.mode is not Mode.FORCED:
                self._s.forced = None
            self._s.grant = None  # a technician decision supersedes an older grant
        return self._settle(now)

    def next_deadline(self) -> float | None:
        """The earliest future time at which a timer may change something, or None."""
        s, cfg, now = self._s, self.config, self._now
        times: list[float] = []
        for camera in s.cameras.values():
            if camera.status in (CameraStatus.MOVING, CameraStatus.FAULT):
                times.append(camera.since + cfg.settle_time)
        if s.mode is not Mode.LOCKED:
            times.append(s.last_cut + cfg.min_hold)
            for seat, v in s.voices.items():
                if v.since is not None:
                    times.append(self._established_at(seat, v.since))
                    times.append(self._contender_at(seat, v.since))
                else:
                    times.append(v.off_at + self._grace(v))
            if not self._any_voice():
                times.append(self._quiet_since() + cfg.idle_to_wide)
            if s.grant_hold is not None:
                times.append(s.grant_hold[1])
        future = [t for t in times if t > now and math.isfinite(t)]
        return min(future) if future else None

    def snapshot(self) -> DirectorSnapshot:
        s = self._s
        return DirectorSnapshot(
            mode=s.mode,
            program=s.program,
            program_seat=s.program_seat,
            program_camera=s.program_camera,
            forced=s.forced,
            preparing=s.pending.shot if s.pending else None,
            last_cut=s.last_cut,
            speaking=tuple(sorted(self._speaking(self._now))),
            cameras=dict(s.cameras),
        )

    # --- input handlers: update facts only; decisions are made in _settle -----------------

    def _on_floor(self, event: FloorChanged, now: float) -> None:
        s = self._s
        s.floor_known = True
        s.open_seats = tuple(event.open_seats)
        s.chair_seats = frozenset(event.chair_seats) & frozenset(event.open_seats)
        if s.grant is not None and s.grant not in s.open_seats:
            s.grant = None
        self._refresh_voices(now)

    def _on_voice(self, event: VoiceChanged, now: float) -> None:
        s = self._s
        if event.active:
            s.voice_raw.add(event.seat)
        else:
            s.voice_raw.discard(event.seat)
        if event.speech:
            s.voice_speech.add(event.seat)
        else:
            s.voice_speech.discard(event.seat)
        if event.since is not None and math.isfinite(event.since):
            s.voice_time[event.seat] = min(event.since, now)
        self._refresh_voices(now)
        s.voice_time.pop(event.seat, None)

    def _on_granted(self, event: Granted, now: float) -> None:
        s = self._s
        if not self.config.cut_on_grant or s.mode is not Mode.AUTO:
            return
        if s.floor_known and event.seat not in s.open_seats:
            return  # the floor does not (yet) show that mic open: nothing would be heard
        s.grant = event.seat

    def _on_camera_moving(self, event: CameraMoving, now: float) -> None:
        s = self._s
        cam = s.cameras.get(event.camera)
        if cam is None:
            return  # a camera no shot uses: nothing to decide
        if cam.status is CameraStatus.PROGRAM:
            # Someone moves the camera on air; we cannot cut away on our own, but its
            # position is unknown from now on.
            s.cameras[event.camera] = CameraView(CameraStatus.PROGRAM, None, cam.since)
        elif cam.status is CameraStatus.IDLE:
            s.cameras[event.camera] = CameraView(CameraStatus.MOVING, None, now)
        # Already moving: our own recall being confirmed; keep its target and start time.

    def _on_camera_settled(self, event: CameraSettled, now: float) -> None:
        cam = self._s.cameras.get(event.camera)
        if cam is None or cam.status is not CameraStatus.MOVING:
            return
        if event.preset is not None and cam.preset is not None and event.preset != cam.preset:
            return  # an older move ended; the camera goes on to the preset we asked for
        self._s.cameras[event.camera] = CameraView(CameraStatus.IDLE, cam.preset, now)

    def _on_camera_failed(self, event: CameraFailed, now: float) -> None:
        cam = self._s.cameras.get(event.camera)
        if cam is None:
            return
        if cam.status is CameraStatus.PROGRAM:
            self._s.cameras[event.camera] = CameraView(CameraStatus.PROGRAM, None, cam.since)
        else:
            self._s.cameras[event.camera] = CameraView(CameraStatus.FAULT, None, now)

    def _on_force(self, event: Force, now: float) -> None:
        self._s.forced = event.shot

    def _on_lock(self, event: Lock, now: float) -> None:
        pass  # the mode table does it all

    # --- facts derived from the inputs ----------------------------------------------------

    def _audible(self, seat: SeatId) -> bool:
        return not self._s.floor_known or seat in self._s.open_seats

    def _bias(self, seat: SeatId) -> float:
        return self.config.chair_bias if seat in self._s.chair_seats else 0.0

    def _refresh_voices(self, now: float) -> None:
        s = self._s
        for seat in s.voice_raw | set(s.voices):
            on = seat in s.voice_raw and self._audible(seat)
            v = s.voices.setdefault(seat, _Voice())
            at = s.voice_time.get(seat, now)  # rule 9: the classifier's onset / last word
            if on and v.since is None:
                # Back within the after-speech grace: the same speech goes on (rule 1).
                resumed = v.was_speaking and at < v.off_at + self._grace(v)
                v.speech = seat in s.voice_speech
                v.since = v.run_start if resumed else at
            elif not on and v.since is not None:
                at = max(at, v.since)
                v.was_speaking = now >= self._established_at(seat, v.since)
                v.run_start = v.since
                v.off_at = at
                v.since = None

    def _any_voice(self) -> bool:
        return any(v.since is not None for v in self._s.voices.values())

    def _quiet_since(self) -> float:
        ends = [v.off_at for v in self._s.voices.values()]
        return max([self._s.last_cut, *ends])

    # Every timed condition is written as "now >= the time it becomes true", computed by the
    # same expression next_deadline() returns, so a Tick sent at the deadline always fires it
    # (now - since >= delay can be false at that instant by one rounding error).

    def _delay(self, seat: SeatId) -> float:
        """Rule 1's switch-in delay; none for classified speech (rule 9)."""
        v = self._s.voices.get(seat)
        return 0.0 if v is not None and v.speech else self.config.switch_in_delay

    def _grace(self, v: _Voice) -> float:
        """Silence after which a speech has ended: rule 1, or rule 9's turn pause."""
        return self.config.turn_pause if v.speech else self.config.switch_in_delay

    def _established_at(self, seat: SeatId, since: float) -> float:
        return since + self._delay(seat) - self._bias(seat)

    def _contender_at(self, seat: SeatId, since: float) -> float:
        cfg = self.config
        if since < self._s.last_cut:
            return math.inf  # was already talking when the picture changed: no ping-pong
        return since + cfg.switch_in_delay + cfg.hysteresis - self._bias(seat)

    def _start(self, seat: SeatId, since_cut: bool) -> float:
        """Effective start of a seat's current run (earlier = longer), chair bias included."""
        since = self._s.voices[seat].since
        assert since is not None
        start = max(since, self._s.last_cut) if since_cut else since
        return start - self._bias(seat)

    def _speaking(self, now: float) -> set[SeatId]:
        """Seats speaking by rule 1: established, and not yet silent for the delay."""
        out: set[SeatId] = set()
        for seat, v in self._s.voices.items():
            if v.since is not None:
                if now >= self._established_at(seat, v.since):
                    out.add(seat)
            elif v.was_speaking and now < v.off_at + self._grace(v):
                out.add(seat)
        return out

    def _holding(self, seat: SeatId, now: float) -> bool:
        gh = self._s.grant_hold
        if gh is not None and gh[0] == seat and now < gh[1]:
            return True
        return seat in self._speaking(now)

    def _best(self, seats: set[SeatId], since_cut: bool) -> SeatId:
        # Longest-talking wins; equal runs go to the seat granted last, then by name so that
        # replays are deterministic.
        order = {seat: i for i, seat in enumerate(self._s.open_seats)}
        return max(seats, key=lambda x: (-self._start(x, since_cut), order.get(x, -1), x))

    def _group_target(self, count: int) -> _Target | None:
        cfg = self.config
        if cfg.group_when and count >= cfg.group_when:
            return _Target(cfg.group or cfg.wide, None)
        return None

    def _desired(self, now: float) -> _Target:
        """What the rules want on program right now, ignoring hold and cameras."""
        s, cfg = self._s, self.config
        if s.mode is Mode.FORCED and s.forced is not None:
            return _Target(s.forced, None)
        if s.grant is not None:
            return _Target(cfg.seat_shot(s.grant), s.grant)
        current = _Target(s.program, s.program_seat)
        speaking = self._speaking(now)
        detour = s.detour
        if detour is not None and s.program == cfg.wide:
            # Rule 8's detour: the wide shot only freed the camera; carry on to the speaker.
            if detour.seat is None or detour.seat in speaking:
                return detour
            s.detour = None
        talking = {seat for seat in speaking if self._s.voices[seat].since is not None}
        p = s.program_seat
        if p is not None and self._holding(p, now):
            voices = s.voices
            contenders = {
                c
                for c in talking
                if c != p and now >= self._contender_at(c, voices[c].since)  # type: ignore[arg-type]
            }
            if not contenders:
                return current
            group = self._group_target(len(speaking | {p}))
            if group is not None:
                return group
            best = self._best(contenders, since_cut=True)
            return _Target(cfg.seat_shot(best), best)
        if not speaking:
            if self._any_voice() or now < self._quiet_since() + cfg.idle_to_wide:
                return current
            return _Target(cfg.wide, None)
        group = self._group_target(len(speaking))
        if group is not None:
            return group
        if not talking:
            return current  # only speakers in their after-speech grace: wait
        best = self._best(talking, since_cut=False)
        return _Target(cfg.seat_shot(best), best)

    # --- decisions: the one place where the program changes ------------------------------

    def _settle(self, now: float) -> list[Effect]:
        effects: list[Effect] = []
        if self._s.mode is Mode.LOCKED:
            return effects
        # A cut frees a camera and may make another step possible; a few rounds at most
        # because every cut but a forced one is followed by the minimum hold.
        for _ in range(4):
            if not self._advance(now, effects):
                break
        return effects

    def _advance(self, now: float, effects: list[Effect]) -> bool:
        s, cfg = self._s, self.config
        target = self._desired(now)
        if target.shot == s.program:
            s.pending = None
            if s.grant is not None and target.seat == s.grant:
                self._grant_realised(target.seat, now)
            changed = s.program_seat != target.seat
            s.program_seat = target.seat
            return changed
        forced = s.mode is Mode.FORCED
        hold_over = forced or now >= s.last_cut + cfg.min_hold
        shot = cfg.shots[target.shot]
        if not shot.positions:
            if hold_over:
                self._cut(target, None, now, effects)
                return True
            return False
        ready, preparing, free = self._camera_options(shot)
        if ready is not None:
            s.pending = None
            if hold_over:
                self._cut(target, ready, now, effects)
                return True
            return False
        if preparing is not None:
            return False  # wait for the camera (event or settle_time)
        if free is not None:
            s.pending = _Pending(target.shot, free.camera, free.preset)
            s.cameras[free.camera] = CameraView(CameraStatus.MOVING, free.preset, now)
            effects.append(RecallPreset(camera=free.camera, preset=free.preset))
            return True
        # Every option needs the camera on program: show the room first to free it.
        if s.program != cfg.wide and not cfg.shots[cfg.wide].positions and hold_over:
            self._cut(_Target(cfg.wide, None), None, now, effects)
            s.detour = target
            return True
        return False

    def _camera_options(
        self, shot: Shot
    ) -> tuple[Position | None, Position | None, Position | None]:
        """(an option ready now, one already moving there, one free to be recalled)."""
        ready = preparing = free = None
        for option in shot.positions:
            cam = self._s.cameras[option.camera]
            if cam.status is CameraStatus.PROGRAM:
                continue
            at_preset = cam.preset == option.preset
            if cam.status is CameraStatus.IDLE and at_preset:
                ready = ready or option
            elif cam.status is CameraStatus.MOVING and at_preset:
                preparing = preparing or option
            elif cam.status is CameraStatus.IDLE:
                free = free or option
        if free is None and ready is None and preparing is None:
            # Only cameras busy with another move remain; re-aiming them is allowed.
            for option in shot.positions:
                if self._s.cameras[option.camera].status is CameraStatus.MOVING:
                    free = option
                    break
        return ready, preparing, free

    def _cut(
        self, target: _Target, position: Position | None, now: float, effects: list[Effect]
    ) -> None:
        s = self._s
        if s.program_camera is not None:
            old = s.cameras[s.program_camera]
            s.cameras[s.program_camera] = CameraView(CameraStatus.IDLE, old.preset, now)
        s.program = target.shot
        s.program_seat = target.seat
        s.program_camera = position.camera if position else None
        if position is not None:
            s.cameras[position.camera] = CameraView(CameraStatus.PROGRAM, position.preset, now)
        s.pending = None
        s.last_cut = now
        s.detour = None
        if s.grant_hold is not None and s.grant_hold[0] != target.seat:
            s.grant_hold = None
        if s.grant is not None and target.seat == s.grant:
            self._grant_realised(target.seat, now)
        effects.append(CutTo(shot=target.shot))
        self._lower_third_effects(target.shot, effects)

    def _grant_realised(self, seat: SeatId, now: float) -> None:
        s = self._s
        s.grant = None
        v = s.voices.get(seat)
        if v is None or v.since is None:
            s.grant_hold = (seat, now + self.config.idle_to_wide)

    def _lower_third_effects(self, shot: str, effects: list[Effect], force: bool = False) -> None:
        lt = self.config.shots[shot].lower_third
        if lt is not None:
            effects.append(ShowLowerThird(name=lt.name, detail=lt.detail))
            self._s.lower_third = True
        elif self._s.lower_third or force:
            effects.append(HideLowerThird())
            self._s.lower_third = False

    def _expire_cameras(self, now: float) -> None:
        """Rule 8: a camera that never reported arrival counts as settled after settle_time."""
        s = self._s
        for name, cam in s.cameras.items():
            if cam.status is CameraStatus.MOVING and now >= cam.since + self.config.settle_time:
                s.cameras[name] = CameraView(CameraStatus.IDLE, cam.preset, now)
            elif cam.status is CameraStatus.FAULT and now >= cam.since + self.config.settle_time:
                # Rested: try it again rather than lose a camera for the whole session.
                s.cameras[name] = CameraView(CameraStatus.IDLE, None, now)
        if s.grant_hold is not None and now >= s.grant_hold[1]:
            s.grant_hold = None
