"""Shot accuracy: councild's speaker follow against two common auto-switchers, same meters.

A desk where every microphone is live and only the meters tell who speaks. Sessions come
from seeded random scripts in two styles:

- debate: the chair calls a speaker, speeches of 8–25 s in phrases with breaths, short
  replies, interjections (0.3–1 s) over the speaker, someone talking over the speaker for a
  few seconds now and then, hand-overs after a pause of 0.5–3 s or overlapping by up to 1.5 s;
- question time: the chair calls, a question of 2–5 s, an answer of 2–5 s, a follow-up, in
  quick succession (pauses 0.5–1.5 s).

Both have coughs (0.15–0.4 s, louder than speech, from anyone, at any time). Every mic gets a
level every 50 ms (an X32 meter frame): speech as syllables (0.12–0.3 s) with dips between
them, each councillor at their own level; a per-channel noise floor (one seat beside a fan);
bleed of every talker into the neighbouring microphones 10–20 dB down (fixed per pair and
seed), 25 dB two seats away, 35 dB into the rest.

On the same meter stream, with the example config's [director] and [floor] values:

- councild, `open` mode with every mic live: the director fed by the level classifier
  (councild/voice_classifier.py) through the levels the X32 driver emits (0.5 dB deadband,
  0.1 dB rounding, at most one per 50 ms of arrival time with a few ms of jitter, so some
  frames are lost), as the daemon feeds it;
- councild, `voice` mode: the same, and the floor machine (councild/floor.py) opening a mic
  on the classifier's speech and closing it when neither the classifier nor the X32
  driver's voice detector (devices/vad.py, driver defaults) hears the seat, as the daemon
  does; a voice-opened mic is not a grant (no cut on grant);
- councild before issue 19, `voice` mode: the detector's on/off voice straight into the
  director and the floor, and a cut on grant for every mic the voice opened (comparison);
- poll: every 300 ms, cut to the loudest mic (mean dB over the 300 ms) if above -40 dBFS
  (the Advanced Scene Switcher style);
- smooth: levels smoothed (EMA, 0.25 s), the loudest above -40 dBFS takes the picture if the
  shot on program has been up 2 s; 3 s with nobody above the threshold → wide (Switchy style);
- two references that know the script: cut to each turn's speaker at its first word (or
  when min_hold allows), and the same 0.5 s later (the classifier's full confirmation,
  rule 5, which a voice louder than its person's speech or a seat that never spoke still
  waits): what the minimum hold alone costs, and what always waiting out a cough would
  cost on top of it.

Measured per run: the share of speech time on a right face (a true speaker's shot, or the
group shot while two or more speak; coughs are not speech), cuts, cuts shorter than the
minimum hold (a shot that lasted less than min_hold), cuts onto a cough (to a seat that was
coughing and not speaking in the second before), and per turn the onset delay (the turn's
first word → the program shows that speaker; turns never shown are counted apart).

    .venv/bin/python bench/shot_accuracy.py [--seeds 5] [--minutes 10]

The last line is exactly `RESULT accuracy=<a> poll_accuracy=<b> smooth_accuracy=<c> cuts=<n>
poll_cuts=<p> smooth_cuts=<m> short_cuts=<s> cough_cuts=<k> onset_p50_s=<o>` over all seeds
and styles, councild's figures in `voice` mode with the example's defaults (the line above it
gives `open` mode with the same keys).
"""

from __future__ import annotations

import argparse
import itertools
import math
import random
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from councild import floor  # noqa: E402
from councild.config import default_path, load  # noqa: E402
from councild.director import (  # noqa: E402
    Director,
    DirectorConfig,
    DirectorInput,
    FloorChanged,
    Granted,
    Shot,
    ShotKind,
    Tick,
    VoiceChanged,
)
from councild.model import CutTo, Mode, Role, Voice  # noqa: E402
from councild.voice_classifier import (  # noqa: E402
    ClassifierSettings,
    Decision,
    SpeechEnded,
    SpeechStarted,
    VoiceClassifier,
    VoiceIgnored,
)
from devices.vad import VoiceDetector, VoiceSettings  # noqa: E402
from devices.x32 import LEVEL_DEADBAND_DB, LEVEL_INTERVAL_S  # noqa: E402

FRAME = 0.05  # s: X32 meter period
THRESHOLD = -40.0  # dBFS: the baselines' threshold and the X32 driver's vad_threshold
VAD = VoiceSettings(threshold=THRESHOLD, attack=0.15, hold=0.8, hysteresis=6.0)  # driver defaults
POLL_PERIOD = 0.3
SMOOTH_TAU = 0.25
SMOOTH_HOLD = 2.0
SMOOTH_SILENCE = 3.0
# The classifier's full confirmation (rule 5) after the first word, and the frame to report it.
CONFIRMATION = ClassifierSettings().confirm + FRAME
COUGH_LOOKBACK = 1.0  # s: a cut to a seat that coughed, and did not speak, this long before
JITTER = 0.003  # s: spread of a meter datagram's arrival (loopback, a busy event loop)

CHAIR = "c"
DELEGATES = [str(i) for i in range(1, 9)]
SEATS = [CHAIR, *DELEGATES]  # in their order along the table: neighbours bleed most


@dataclass(frozen=True, slots=True)
class Utterance:
    seat: str
    start: float
    end: float
    kind: str  # speech | interjection | cough
    frames: tuple[float, ...]  # source level (dBFS at the own mic) per 50 ms from start


@dataclass
class Script:
    style: str
    seed: int
    utterances: list[Utterance] = field(default_factory=list)
    turns: list[tuple[str, float, float]] = field(default_factory=list)  # seat, start, end
    duration: float = 0.0

    def count(self, kind: str) -> int:
        return sum(1 for u in self.utterances if u.kind == kind)


# --- the sessions ------------------------------------------------------------------------------


class Writer:
    """Builds a script: turns of phrases of syllables, interjections, coughs."""

    def __init__(self, style: str, seed: int) -> None:
        self.rng = random.Random(f"{style}/{seed}")
        self.script = Script(style, seed)
        self.voice = {s: self.rng.uniform(-30.0, -20.0) for s in SEATS}  # own speech level

    def syllables(self, seat: str, length: float) -> tuple[float, ...]:
        rng, level, out = self.rng, self.voice[seat], []
        while len(out) * FRAME < length:
            syllable = level + rng.gauss(0.0, 2.0)
            out += [syllable + rng.gauss(0.0, 1.0) for _ in range(rng.randint(2, 6))]
            out += [level - rng.uniform(10.0, 25.0) for _ in range(rng.randint(1, 2))]
        return tuple(out[: max(1, round(length / FRAME))])

    def utter(self, seat: str, start: float, length: float, kind: str) -> Utterance:
        u = Utterance(seat, start, start + length, kind, self.syllables(seat, length))
        self.script.utterances.append(u)
        return u

    def turn(self, seat: str, start: float, length: float) -> float:
        """A turn of phrases with breaths; returns its end (the last word)."""
        rng, t, end = self.rng, start, start + length
        while True:
            phrase = min(rng.uniform(1.5, 7.0), end - t)
            self.utter(seat, t, max(phrase, 0.5), "speech")
            t += max(phrase, 0.5)
            if t >= end - 0.5:
                break
            t += rng.uniform(1.5, 3.0) if rng.random() < 0.05 else rng.uniform(0.2, 0.9)
        self.script.turns.append((seat, start, t))
        return t

    def interjections(self, speaker: str, start: float, end: float, every: float) -> None:
        rng = self.rng
        k = start + rng.expovariate(1 / every)
        while k < end - 1.0:
            who = rng.choice([s for s in DELEGATES if s != speaker])
            self.utter(who, k, rng.uniform(0.3, 1.0), "interjection")
            k += rng.expovariate(1 / every)

    def coughs(self, end: float, every: float) -> None:
        rng = self.rng
        c = rng.expovariate(1 / every)
        while c < end:
            length = rng.uniform(0.15, 0.4)
            level = rng.uniform(-14.0, -6.0)
            n = max(1, round(length / FRAME))
            frames = tuple([level + 3.0] + [level + rng.gauss(0, 1.5) for _ in range(n - 1)])
            self.script.utterances.append(
                Utterance(rng.choice(SEATS), c, c + n * FRAME, "cough", frames))
            c += rng.expovariate(1 / every)

    def handover(self, end: float) -> float:
        """When the next speaker starts: after a pause, or (debate) over the last words."""
        rng = self.rng
        if self.script.style == "debate" and rng.random() < 0.25:
            return end - rng.uniform(0.3, 1.5)
        high = 3.0 if self.script.style == "debate" else 1.5
        return end + rng.uniform(0.5, high)

    def finish(self, t: float) -> Script:
        self.coughs(t, 12.0)
        self.script.duration = t + 3.0
        self.script.utterances.sort(key=lambda u: u.start)
        return self.script


def debate(seed: int, minutes: float) -> Script:
    w = Writer("debate", seed)
    rng = w.rng
    t = w.turn(CHAIR, 0.5, rng.uniform(3.0, 8.0))
    last = None
    while t < minutes * 60.0:
        speaker = rng.choice([d for d in DELEGATES if d != last])
        last = speaker
        start = w.handover(t)
        t = w.turn(speaker, start, rng.uniform(8.0, 25.0))
        w.interjections(speaker, start, t, 12.0)
        if rng.random() < 0.2:  # someone talks over the speaker for a while
            who = rng.choice([d for d in DELEGATES if d != speaker])
            at = rng.uniform(start + 3.0, max(start + 4.0, t - 6.0))
            w.turn(who, at, rng.uniform(2.0, 5.0))
        if rng.random() < 0.3:  # a short reply from the floor
            replier = rng.choice([d for d in DELEGATES if d != speaker])
            t = w.turn(replier, w.handover(t), rng.uniform(4.0, 8.0))
        t = w.turn(CHAIR, w.handover(t), rng.uniform(2.0, 5.0))
    return w.finish(t)


def question_time(seed: int, minutes: float) -> Script:
    w = Writer("question", seed)
    rng = w.rng
    t = w.turn(CHAIR, 0.5, rng.uniform(2.0, 4.0))
    answerers = DELEGATES[:2]  # the mayor's team answers
    while t < minutes * 60.0:
        asker = rng.choice(DELEGATES[2:])
        t = w.turn(CHAIR, w.handover(t), rng.uniform(1.5, 3.0))
        for _round in range(rng.choice([1, 1, 2])):
            t = w.turn(asker, w.handover(t), rng.uniform(2.0, 5.0))
            answerer = rng.choice(answerers)
            start = w.handover(t)
            t = w.turn(answerer, start, rng.uniform(2.0, 5.0))
            w.interjections(answerer, start, t, 30.0)
    return w.finish(t)


STYLES: dict[str, Callable[[int, float], Script]] = {
    "debate": debate, "question time": question_time}


# --- what the mics hear ------------------------------------------------------------------------


def meters(script: Script) -> list[list[float]]:
    """dBFS per seat (in SEATS order) for every 50 ms frame."""
    rng = random.Random(f"room/{script.style}/{script.seed}")
    n_seats = len(SEATS)
    noise = [rng.uniform(-68.0, -58.0) for _ in SEATS]
    noise[rng.randrange(n_seats)] = -48.0  # the seat beside the projector's fan
    gain = [[0.0] * n_seats for _ in SEATS]
    for a in range(n_seats):
        for b in range(a + 1, n_seats):
            d = b - a
            g = rng.uniform(-20.0, -10.0) if d == 1 else -25.0 if d == 2 else -35.0
            gain[a][b] = gain[b][a] = g
    index = {s: i for i, s in enumerate(SEATS)}
    frames = int(script.duration / FRAME)
    power = [[10 ** ((noise[i] + rng.gauss(0, 1.5)) / 10) for i in range(n_seats)]
             for _ in range(frames)]
    for u in script.utterances:
        src = index[u.seat]
        first = round(u.start / FRAME)
        for k, level in enumerate(u.frames):
            n = first + k
            if n >= frames:
                break
            row = power[n]
            for i in range(n_seats):
                row[i] += 10 ** ((level + gain[src][i]) / 10)
    return [[10 * math.log10(p) for p in row] for row in power]


def truth(script: Script) -> list[set[str]]:
    """Who truly speaks (not coughs) in every frame."""
    out: list[set[str]] = [set() for _ in range(int(script.duration / FRAME))]
    for u in script.utterances:
        if u.kind == "cough":
            continue
        for n in range(round(u.start / FRAME), min(round(u.end / FRAME), len(out))):
            out[n].add(u.seat)
    return out


def coughing(script: Script) -> list[set[str]]:
    out: list[set[str]] = [set() for _ in range(int(script.duration / FRAME))]
    for u in script.utterances:
        if u.kind == "cough":
            for n in range(round(u.start / FRAME), min(round(u.end / FRAME), len(out))):
                out[n].add(u.seat)
    return out


# --- the switchers -----------------------------------------------------------------------------


def director_config() -> tuple[DirectorConfig, int]:
    """Shots per seat, wide, group, and the example config's [director] rules; max_open."""
    example = load(default_path())
    shots = {f"seat {s}": Shot(scene=f"Seat {s}") for s in SEATS}
    shots["wide"] = Shot(scene="Wide", kind=ShotKind.WIDE)
    shots["group"] = Shot(scene="Group", kind=ShotKind.GROUP)
    config = DirectorConfig(shots=shots, seats={s: f"seat {s}" for s in SEATS}, wide="wide",
                            group="group", **example.director.rule_parameters())
    return config, example.floor.max_open


@dataclass
class Run:
    name: str
    program: list[tuple[float, str]]  # (time, shot) of every change, starting with wide


class Driven:
    """A director stepped like the daemon steps it: inputs at their times, Ticks between."""

    def __init__(self, name: str, config: DirectorConfig) -> None:
        self.d = Director(config)
        self.run = Run(name, [(0.0, self.d.program)])

    def at(self, t: float, event: DirectorInput) -> None:
        self.until(t)
        self._step(event, t)

    def until(self, t: float) -> None:
        while (deadline := self.d.next_deadline()) is not None and deadline < t:
            self._step(Tick(), deadline)

    def _step(self, event: DirectorInput, t: float) -> None:
        for effect in self.d.step(event, t):
            if isinstance(effect, CutTo):
                self.run.program.append((t, effect.shot))


def readings(levels: list[list[float]]) -> list[list[tuple[int, float]]]:
    """Per frame, the (seat index, level) the X32 driver emits as ChannelLevel: only a
    change of LEVEL_DEADBAND_DB, at most every LEVEL_INTERVAL_S by the arrival time, and the
    datagrams arrive with a few ms of network and loop jitter (so some frames are lost)."""
    rng = random.Random(len(levels))
    sent = [math.inf] * len(SEATS)
    sent_at = [-math.inf] * len(SEATS)
    out = []
    for n, row in enumerate(levels):
        arrival = n * FRAME + abs(rng.gauss(0.0, JITTER))
        frame = []
        for i, level in enumerate(row):
            if arrival - sent_at[i] >= LEVEL_INTERVAL_S and abs(level - sent[i]) >= \
                    LEVEL_DEADBAND_DB:
                sent[i], sent_at[i] = level, arrival
                frame.append((i, round(level, 1)))
        out.append(frame)
    return out


def classify(levels: list[list[float]]) -> tuple[list[tuple[float, Decision]], float]:
    """The classifier's decisions with their times; and its CPU seconds."""
    c = VoiceClassifier()
    out: list[tuple[float, Decision]] = []
    started = time.process_time()
    for n, frame in enumerate(readings(levels)):
        t = n * FRAME
        while (due := c.next_deadline()) is not None and due <= t:
            out += [(due, dec) for dec in c.tick(due)]
        for i, level in frame:
            out += [(t, dec) for dec in c.update(SEATS[i], level, t)]
    return out, time.process_time() - started


def vad(levels: list[list[float]]) -> list[tuple[float, str, bool]]:
    detectors = [VoiceDetector(VAD) for _ in SEATS]
    out = []
    for n, row in enumerate(levels):
        t = n * FRAME
        for i, level in enumerate(row):
            change = detectors[i].update(level, t)
            if change is not None:
                out.append((t, SEATS[i], change))
    return out


def councild(name: str, config: DirectorConfig, decisions: list[tuple[float, Decision]],
             voice_floor: list[tuple[float, str, bool]] | None, max_open: int) -> Run:
    """`voice_floor` None: open mode, every mic live. Else voice mode, as the daemon runs it:
    the detector's edges and the classifier's speech drive the floor machine (a mic opens
    on speech, closes when neither hears the seat), the floor's open mics the director."""
    drv = Driven(name, config)
    chairs = frozenset({CHAIR})
    inputs: list[tuple[float, int, object]] = [(t, 1, dec) for t, dec in decisions]
    if voice_floor is None:
        drv.at(0.0, FloorChanged(open_seats=tuple(SEATS), chair_seats=chairs))
    else:
        inputs += [(t, 0, (seat, on)) for t, seat, on in voice_floor]
        inputs.sort(key=lambda x: (x[0], x[1]))
        drv.at(0.0, FloorChanged(open_seats=(), chair_seats=chairs))
    rules = floor.FloorRules(seats={s: Role.CHAIR if s == CHAIR else Role.MEMBER for s in SEATS})
    state = floor.initial_state(Mode.VOICE, max_open)
    talking: set[str] = set()  # the detector's view (daemon.talking)
    speaking: set[str] = set()  # the classifier's

    def to_floor(t: float, seat: str, on: bool) -> None:
        nonlocal state
        if voice_floor is None:
            return
        before = state.speakers
        state, _ = floor.step(rules, state, Voice(seat=seat, active=on), t)
        if state.speakers != before:
            drv.at(t, FloorChanged(open_seats=tuple(s.seat for s in state.speakers),
                                   chair_seats=chairs))

    for t, _kind, item in inputs:
        if isinstance(item, SpeechStarted):
            speaking.add(item.seat)
            to_floor(t, item.seat, True)
            drv.at(t, VoiceChanged(seat=item.seat, active=True, speech=True, since=item.since))
        elif isinstance(item, SpeechEnded):
            speaking.discard(item.seat)
            drv.at(t, VoiceChanged(seat=item.seat, active=False, speech=True, since=item.last))
            if item.seat not in talking:
                to_floor(t, item.seat, False)
        elif isinstance(item, tuple):
            seat, on = item
            (talking.add if on else talking.discard)(seat)
            if not on and seat not in speaking:
                to_floor(t, seat, False)
    drv.until(math.inf)
    return drv.run


def councild_before(config: DirectorConfig, voice: list[tuple[float, str, bool]],
                    max_open: int) -> Run:
    """Voice mode as it was: on/off voice to the director, a grant for every opened mic."""
    drv = Driven("before", config)
    chairs = frozenset({CHAIR})
    drv.at(0.0, FloorChanged(open_seats=(), chair_seats=chairs))
    rules = floor.FloorRules(seats={s: Role.CHAIR if s == CHAIR else Role.MEMBER for s in SEATS})
    state = floor.initial_state(Mode.VOICE, max_open)
    for t, seat, on in voice:
        before = state.speakers
        state, _ = floor.step(rules, state, Voice(seat=seat, active=on), t)
        if state.speakers != before:
            opened = [s.seat for s in state.speakers if s not in before]
            drv.at(t, FloorChanged(open_seats=tuple(s.seat for s in state.speakers),
                                   chair_seats=chairs))
            for s in opened:
                drv.at(t, Granted(seat=s))
        drv.at(t, VoiceChanged(seat=seat, active=on))
    drv.until(math.inf)
    return drv.run


def oracle(script: Script, min_hold: float, delay: float = 0.0) -> Run:
    """A reference, not a switcher: knows each turn's speaker and cuts `delay` after its
    first word, or as soon as `min_hold` allows. delay 0: what the hold alone costs;
    delay = the classifier's confirmation: the best any switcher can do that waits out a
    cough before it cuts."""
    program = [(0.0, "wide")]
    for seat, start, end in sorted(script.turns, key=lambda x: x[1]):
        at = max(start + delay, program[-1][0] + min_hold)
        if at < end and program[-1][1] != f"seat {seat}":
            program.append((at, f"seat {seat}"))
    return Run("oracle", program)


def poll(levels: list[list[float]]) -> Run:
    program = [(0.0, "wide")]
    per = round(POLL_PERIOD / FRAME)
    for n in range(per, len(levels) + 1, per):
        window = levels[n - per:n]
        mean = [sum(f[i] for f in window) / per for i in range(len(SEATS))]
        loudest = max(range(len(SEATS)), key=lambda i: mean[i])
        shot = f"seat {SEATS[loudest]}"
        if mean[loudest] >= THRESHOLD and shot != program[-1][1]:
            program.append(((n - 1) * FRAME, shot))
    return Run("poll", program)


def smooth(levels: list[list[float]]) -> Run:
    program = [(0.0, "wide")]
    alpha = 1 - math.exp(-FRAME / SMOOTH_TAU)
    ema = list(levels[0])
    quiet_since = 0.0
    for n, row in enumerate(levels):
        t = n * FRAME
        ema = [e + alpha * (x - e) for e, x in zip(ema, row, strict=True)]
        loudest = max(range(len(SEATS)), key=lambda i: ema[i])
        held = t - program[-1][0] >= SMOOTH_HOLD
        if ema[loudest] >= THRESHOLD:
            quiet_since = t
            shot = f"seat {SEATS[loudest]}"
            if shot != program[-1][1] and held:
                program.append((t, shot))
        elif t - quiet_since >= SMOOTH_SILENCE and program[-1][1] != "wide" and held:
            program.append((t, "wide"))
    return Run("smooth", program)


# --- scoring -----------------------------------------------------------------------------------


@dataclass
class Score:
    good: int = 0
    total: int = 0
    cuts: int = 0
    short: int = 0
    cough: int = 0
    onsets: list[float] = field(default_factory=list)
    missed: int = 0

    def add(self, other: Score) -> None:
        self.good += other.good
        self.total += other.total
        self.cuts += other.cuts
        self.short += other.short
        self.cough += other.cough
        self.onsets += other.onsets
        self.missed += other.missed

    @property
    def accuracy(self) -> float:
        return self.good / self.total if self.total else 0.0

    def onset(self, q: float) -> float:
        if not self.onsets:
            return math.nan
        ordered = sorted(self.onsets)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def score(run: Run, script: Script, speakers: list[set[str]], coughs: list[set[str]],
          min_hold: float) -> Score:
    s = Score()
    frames = len(speakers)
    shot_per_frame = []
    j, shot = 0, run.program[0][1]
    for n in range(frames):
        t = n * FRAME + FRAME / 2
        while j + 1 < len(run.program) and run.program[j + 1][0] <= t:
            j += 1
            shot = run.program[j][1]
        shot_per_frame.append(shot)
        who = speakers[n]
        if who:
            s.total += 1
            s.good += shot in {f"seat {x}" for x in who} or (len(who) >= 2 and shot == "group")
    times = [t for t, _ in run.program]
    s.cuts = len(run.program) - 1
    s.short = sum(1 for a, b in itertools.pairwise(times[1:]) if b - a < min_hold - 1e-9)
    look = round(COUGH_LOOKBACK / FRAME)
    for t, name in run.program[1:]:
        seat = name.removeprefix("seat ")
        n = min(int(t / FRAME), frames - 1)
        span = range(max(0, n - look), min(n + 2, frames))
        if any(seat in coughs[k] for k in span) and not any(seat in speakers[k] for k in span):
            s.cough += 1
    for seat, start, end in script.turns:
        want = f"seat {seat}"
        first = round(start / FRAME)
        shown = next((n for n in range(first, min(round(end / FRAME), frames))
                      if shot_per_frame[n] == want), None)
        if shown is None:
            s.missed += 1
        else:
            s.onsets.append(max(0.0, (shown - first) * FRAME))
    return s


def line(name: str, s: Score) -> str:
    return (f"  {name:<22} accuracy {s.accuracy:.3f}  cuts {s.cuts:4d}  < min_hold {s.short:3d}"
            f"  onto a cough {s.cough:3d}  onset p50 {s.onset(0.5):.2f} s p95 "
            f"{s.onset(0.95):.2f} s  turns never shown {s.missed}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--min-hold", type=float, help="instead of the example's min_hold")
    args = parser.parse_args()

    config, max_open = director_config()
    if args.min_hold is not None:
        config = replace(config, min_hold=args.min_hold)
    print("director (the example config's [director]): "
          f"switch_in_delay={config.switch_in_delay} min_hold={config.min_hold} "
          f"hysteresis={config.hysteresis} idle_to_wide={config.idle_to_wide} "
          f"chair_bias={config.chair_bias} cut_on_grant={config.cut_on_grant} "
          f"turn_pause={config.turn_pause}; floor max_open={max_open}")
    names = ["open", "voice", "before", "poll", "smooth", "oracle", "confirmed"]
    labels = {"open": "councild open", "voice": "councild voice", "before": "before #19 voice",
              "poll": "poll 300 ms", "smooth": "smooth EMA + 2 s hold",
              "oracle": "oracle, min_hold only", "confirmed": "oracle, + confirmation"}
    overall = {n: Score() for n in names}
    cpu = frames_total = 0.0
    for style, make in STYLES.items():
        per_style = {n: Score() for n in names}
        for seed in range(1, args.seeds + 1):
            script = make(seed, args.minutes)
            levels = meters(script)
            speakers, coughs = truth(script), coughing(script)
            decisions, spent = classify(levels)
            cpu += spent
            frames_total += len(levels)
            detector = vad(levels)
            runs = {
                "open": councild("open", config, decisions, None, max_open),
                "voice": councild("voice", config, decisions, detector, max_open),
                "before": councild_before(config, detector, max_open),
                "poll": poll(levels),
                "smooth": smooth(levels),
                "oracle": oracle(script, config.min_hold),
                "confirmed": oracle(script, config.min_hold, CONFIRMATION),
            }
            ignored = sum(1 for _t, d in decisions if isinstance(d, VoiceIgnored))
            print(f"{style}, seed {seed}: {script.duration / 60:.1f} min, "
                  f"{len(script.turns)} turns, {script.count('interjection')} interjections, "
                  f"{script.count('cough')} coughs; classifier: {ignored} voices ignored")
            for n in names:
                sc = score(runs[n], script, speakers, coughs, config.min_hold)
                per_style[n].add(sc)
                print(line(labels[n], sc))
        print(f"{style}, all seeds:")
        for n in names:
            print(line(labels[n], per_style[n]))
            overall[n].add(per_style[n])
    print("overall:")
    for n in names:
        print(line(labels[n], overall[n]))
    print(f"classifier CPU: {1e6 * cpu / (frames_total * len(SEATS)):.1f} µs per channel and frame "
          f"({len(SEATS)} seats)")

    def result(key: str) -> str:
        s, p, m = overall[key], overall["poll"], overall["smooth"]
        return (f"accuracy={s.accuracy:.3f} poll_accuracy={p.accuracy:.3f} "
                f"smooth_accuracy={m.accuracy:.3f} cuts={s.cuts} poll_cuts={p.cuts} "
                f"smooth_cuts={m.cuts} short_cuts={s.short} cough_cuts={s.cough} "
                f"onset_p50_s={s.onset(0.5):.2f}")

    print(f"open mode: {result('open')}")
    print(f"RESULT {result('voice')}")


if __name__ == "__main__":
    main()
