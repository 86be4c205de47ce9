"""Speech or not: the level classifier between the desk meters and the director.

A voice detector (devices/vad.py) says "above the threshold"; the director needs to know
"someone is speaking". A cough, a chair, a neighbour heard through this microphone and a fan
are all above a threshold. This module decides from the level envelope alone — the desk's
input meters, about 20 readings a second per channel — and reports only speech to the
director, with the reason for every voice it ignored.

Pure: `VoiceClassifier.update(seat, dbfs, now)` takes one reading with the time it was
taken and returns what it decided; it never reads a clock. The same readings in the same
order give the same decisions, always.

The rules, as a sound engineer would explain them
-------------------------------------------------

Readings of a channel may come at any pace (a driver drops repeats); between two readings
the level is taken to be the older one, so a voiced reading lasts until the next reading.

1. Noise floor. Every channel learns its own floor: it drops at once to a quieter reading
   and climbs back slowly (`floor_rise` dB/s, `floor_rise_quiet` while the reading is near
   the floor). A fan beside one seat raises that seat's floor and nobody else's.
2. Voiced. A reading is voiced when it is at least `snr` dB above the channel's floor and
   at least `min_level` dBFS.
3. Bleed. A talker is heard 10–20 dB down on the neighbouring microphones. A voiced reading
   `bleed_margin` dB or more below another channel's loudest reading of the last
   `peak_window` seconds is that talker's bleed: it does not start a voice and does not
   count toward its confirmation (a dip of it still counts as a dip). Inside a voice it does
   not end it either, for up to `mask_max` seconds: a speaker drowned for a moment by a
   louder neighbour (a cough next to them) is still speaking.
4. A voice begins at a voiced reading and goes on while voiced readings follow each other
   with gaps shorter than `release`; it ends at its last voiced reading.
5. Speech. A voice becomes speech once it has lasted `confirm` seconds — longer than any
   cough (`cough_limit`) — and shows a syllable rhythm: at least `min_dips` dips of `dip_db`
   below the peak before them, each followed by a rise of `dip_db` (speech has 3–6
   syllables a second; a cough, a hum or a fan has none). The time of a loud burst —
   `burst_db` above the channel's usual speech level (or the room's, before this channel
   has spoken) — does not count toward `confirm`: a cough followed by a breath is a cough.
   5a. Early speech. A voice at a seat that has spoken before, whose readings all stay at
   that person's usual speech level — none more than `early_db` above it — is speech once
   it has lasted `early` seconds (three readings), without waiting for `confirm` or a dip:
   a cough is loud (it peaks 10 dB and more above the level its person speaks at), a
   sentence starts at the speaker's own level. Anything louder, and any seat that has not
   spoken yet, waits the full rule 5. (So a voice shorter than the cough limit can be
   speech only at a seat that has spoken at that level before: a cough never is.)
6. Resume. A channel whose speech ended less than `resume` seconds ago is speech again at
   its first voiced reading that is not a burst: the next sentence of the same speech needs
   no new confirmation.
7. Reports. `SpeechStarted` (with the onset, the first voiced reading), `SpeechEnded` (with
   the last voiced reading), and for a voice that ended without becoming speech,
   `VoiceIgnored` with the reason: `short` (shorter than `confirm`: a cough, a click, a
   "yes"), `no_rhythm` (a steady noise), or `bleed` (the level of another seat's talker,
   or a voice heard mostly under a louder seat).
   Voices shorter than `report_min` are not reported (a detector would not have seen them);
   bleed is reported at most once per seat in `report_interval` seconds, since every phrase
   of a speaker shows on their neighbours.

`silence(seat, now)` ends a channel's voice at once (its level source went away);
`tick(now)` at `next_deadline()` ends a voice whose channel fell quiet and sent no more
readings.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field
from typing import Literal, TypeAlias

from councild.model import SeatId

__all__ = [
    "ClassifierSettings",
    "Decision",
    "IgnoreReason",
    "SpeechEnded",
    "SpeechStarted",
    "VoiceClassifier",
    "VoiceIgnored",
]

IgnoreReason: TypeAlias = Literal["short", "no_rhythm", "bleed"]


@dataclass(frozen=True, slots=True, kw_only=True)
class ClassifierSettings:
    """The rules' parameters (dB, dBFS, seconds); defaults for a council chamber."""

    # A floor that follows a fan switched on within a minute, but not a speech of minutes.
    floor_rise: float = 0.5
    floor_rise_quiet: float = 3.0
    # 12 dB over the floor: above room noise, below the quietest councillor close to a mic.
    snr: float = 12.0
    min_level: float = -50.0
    # Bleed is 10–20 dB down; 8 dB leaves room for the level's jitter, and two people
    # talking at once at levels a few dB apart both stay voiced.
    bleed_margin: float = 8.0
    peak_window: float = 0.2
    mask_max: float = 0.5
    # Syllable gaps are 50–150 ms; a gap of 0.25 s ends a voice (0.3 s measured 1 % worse
    # in the debates of bench/shot_accuracy.py, 0.2 s is too close to a long syllable gap).
    release: float = 0.25
    # Coughs last up to 0.4 s; speech is confirmed just after that.
    cough_limit: float = 0.4
    confirm: float = 0.45
    dip_db: float = 6.0
    min_dips: int = 1
    burst_db: float = 10.0
    # Rule 5a: a voice at the speaker's own level is speech after three readings (0.1 s);
    # a cough peaks 10 dB or more above the level its person speaks at.
    early: float = 0.1
    early_db: float = 5.0
    # A sentence pause is 0.2–1.2 s.
    resume: float = 1.2
    report_min: float = 0.15
    report_interval: float = 30.0
    # Readings closer than this are one meter frame (one datagram, one loop iteration).
    frame_gap: float = 0.01

    def __post_init__(self) -> None:
        for name in ("floor_rise", "floor_rise_quiet", "snr", "bleed_margin", "peak_window",
                     "mask_max", "release", "cough_limit", "confirm", "dip_db", "burst_db",
                     "early", "early_db", "resume", "report_min", "report_interval", "frame_gap"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0):
                raise ValueError(f"{name} must be a finite number ≥ 0, not {value!r}")
        if not math.isfinite(self.min_level):
            raise ValueError(f"min_level must be finite, not {self.min_level!r}")
        if self.confirm < self.cough_limit:
            raise ValueError("confirm must not be shorter than cough_limit")
        if self.early > self.confirm:
            raise ValueError("early must not be longer than confirm")
        if self.min_dips < 0:
            raise ValueError("min_dips must be ≥ 0")


# --- decisions ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class SpeechStarted:
    seat: SeatId
    since: float  # the first voiced reading of this voice
    at: float  # when it was confirmed


@dataclass(frozen=True, slots=True, kw_only=True)
class SpeechEnded:
    seat: SeatId
    last: float  # the last voiced reading
    at: float


@dataclass(frozen=True, slots=True, kw_only=True)
class VoiceIgnored:
    seat: SeatId
    reason: IgnoreReason
    since: float
    duration: float
    peak: float  # loudest reading, dBFS
    source: SeatId | None = None  # bleed: the seat that was louder
    at: float


Decision: TypeAlias = SpeechStarted | SpeechEnded | VoiceIgnored


# --- state ----------------------------------------------------------------------------------


@dataclass(slots=True)
class _Run:
    """One voice on a channel (rule 4)."""

    since: float
    last_voiced: float
    peak: float
    speech: bool = False
    counted: float = 0.0  # voiced time outside bursts, toward `confirm`
    dips: int = 0
    shape_peak: float = -math.inf  # loudest since the last dip
    trough: float | None = None  # lowest in the current dip, None = not in a dip
    masked_since: float | None = None
    masker: SeatId | None = None  # the louder seat of the newest bleed reading inside it


@dataclass(slots=True)
class _Bleed:
    since: float
    last: float
    peak: float
    source: SeatId


@dataclass(slots=True)
class _Channel:
    floor: float
    last_time: float
    last_level: float
    recent: deque[tuple[float, float]] = field(default_factory=deque)
    recent_peak: float = -math.inf  # the loudest of `recent`
    run: _Run | None = None
    bleed: _Bleed | None = None
    speech_end: float = -math.inf
    speech_level: float | None = None
    last_bleed_report: float = -math.inf
    held: bool = False  # the newest reading was voiced: it holds until the next one


class VoiceClassifier:
    """Rules 1–7 of the module docstring, for any number of channels (seats)."""

    def __init__(self, settings: ClassifierSettings | None = None) -> None:
        self.settings = settings or ClassifierSettings()
        self._ch: dict[SeatId, _Channel] = {}
        self._room_level: float | None = None
        self._pending: list[tuple[SeatId, float]] = []  # the meter frame being received
        self._pending_at = -math.inf

    def knows(self, seat: SeatId) -> bool:
        """True once the seat has given a reading: its voice is decided here."""
        return seat in self._ch or any(s == seat for s, _ in self._pending)

    def speaking(self) -> frozenset[SeatId]:
        return frozenset(s for s, c in self._ch.items() if c.run is not None and c.run.speech)


    def last_reading(self, seat: SeatId) -> float:
        """When the seat's newest reading was taken (-inf: never)."""
        c = self._ch.get(seat)
        return c.last_time if c else -math.inf

    def floor(self, seat: SeatId) -> float | None:
        c = self._ch.get(seat)
        return c.floor if c else None

    def silence(self, seat: SeatId, now: float) -> list[Decision]:
        """The seat's level source went away: end its voice now."""
        out = self._flush() if self._pending else []
        c = self._ch.get(seat)
        if c is None:
            return out
        self._end_run(seat, c, now, out)
        c.bleed = None
        c.recent.clear()
        c.recent_peak = -math.inf
        return out

    def next_deadline(self) -> float | None:
        """When a voice ends if no reading comes (a driver does not repeat a steady level)."""
        times = [c.run.last_voiced + self.settings.release for c in self._ch.values()
                 if c.run is not None and not c.held]
        if self._pending:
            times.append(self._pending_at + self.settings.frame_gap)
        return min(times) if times else None

    def tick(self, now: float) -> list[Decision]:
        """Time passed without readings: a held level below the gate ends a voice (rule 4)."""
        out: list[Decision] = []
        if self._pending and now >= self._pending_at + self.settings.frame_gap:
            out += self._flush()
        for seat, c in self._ch.items():
            run = c.run
            if run is not None and not c.held \
                    and now >= run.last_voiced + self.settings.release:
                self._end_run(seat, c, run.last_voiced, out, at=now)
        return out

    def update(self, seat: SeatId, dbfs: float, now: float) -> list[Decision]:
        """One reading of `seat` at `now`; returns the decisions it caused, in order.

        Readings less than `frame_gap` apart are one meter frame (a desk sends all channels
        in one datagram): they are judged together once the frame is complete — at the
        next frame's first reading, a second reading of a seat, or `tick()` — so that the
        bleed rule compares each channel with the others' readings of the same instant.
        """
        if math.isnan(dbfs):
            raise ValueError("level is NaN")
        out: list[Decision] = []
        pending = self._pending
        if pending and (now - self._pending_at >= self.settings.frame_gap
                        or any(s == seat for s, _ in pending)):
            out += self._flush()
        if not self._pending:
            self._pending_at = now
        self._pending.append((seat, dbfs))
        return out

    def _flush(self) -> list[Decision]:
        frame, self._pending = self._pending, []
        now = self._pending_at
        st = self.settings
        for seat, dbfs in frame:  # first every channel's reading joins the recent peaks
            c = self._ch.get(seat)
            if c is None:
                c = self._ch[seat] = _Channel(floor=dbfs, last_time=now, last_level=dbfs)
            c.recent.append((max(now, c.last_time), dbfs))
            while c.recent[0][0] < now - st.peak_window:
                c.recent.popleft()
            c.recent_peak = max(level for _t, level in c.recent)
        out: list[Decision] = []
        for seat, dbfs in frame:
            out += self._judge(seat, dbfs, now)
        return out

    def _judge(self, seat: SeatId, dbfs: float, now: float) -> list[Decision]:
        st = self.settings
        out: list[Decision] = []
        c = self._ch[seat]
        now = max(now, c.last_time)  # time never runs backwards for the rules
        dt = min(now - c.last_time, 1.0)
        c.last_time, c.last_level = now, dbfs

        # Rule 1: the floor.
        if dbfs < c.floor:
            c.floor = dbfs
        else:
            rise = st.floor_rise_quiet if dbfs < c.floor + st.snr else st.floor_rise
            c.floor = min(dbfs, c.floor + rise * dt)

        voiced = dbfs >= c.floor + st.snr and dbfs >= st.min_level
        source = self._louder(seat, dbfs, now) if voiced else None
        run = c.run

        # Rule 4: a gap of `release` ends a voice (checked before this reading joins it).
        if run is not None and not c.held and now - run.last_voiced >= st.release and not (
            source is not None and run.masked_since is not None
            and now - run.masked_since < st.mask_max
        ):
            self._end_run(seat, c, run.last_voiced, out, at=now)
            run = None

        if source is not None:
            c.held = False
            self._on_bleed(seat, c, dbfs, now, source, out)
            if run is not None:
                if run.masked_since is None:
                    run.masked_since = now
                run.masker = source
                if now - run.masked_since < st.mask_max:
                    run.last_voiced = now  # drowned, not silent
                self._shape(run, dbfs, voiced=False)  # a dip under a louder talker is a dip
            return out
        if c.bleed is not None:
            self._end_bleed(seat, c, now, out)
        if run is not None:
            run.masked_since = None

        if not voiced:
            if run is not None:
                if c.held:  # the voiced level held until this reading
                    run.counted += now - run.last_voiced
                    run.last_voiced = now
                self._shape(run, dbfs, voiced=False)
            c.held = False
            return out
        c.held = True

        burst = self._burst(c, dbfs)
        if run is None:
            run = c.run = _Run(since=now, last_voiced=now, peak=dbfs, shape_peak=dbfs)
            if not burst and now - c.speech_end < st.resume:  # rule 6
                run.speech = True
                out.append(SpeechStarted(seat=seat, since=now, at=now))
            return out
        if not burst:
            run.counted += now - run.last_voiced
        run.last_voiced = now
        run.peak = max(run.peak, dbfs)
        syllable = self._shape(run, dbfs, voiced=True)
        if syllable is not None and run.speech and not burst:
            # The usual speech level (rule 5's bursts): the peaks of this speaker's syllables.
            c.speech_level = _ema(c.speech_level, syllable, 0.1)
            self._room_level = _ema(self._room_level, syllable, 0.02)
        if not run.speech and (self._early(c, run, now) or (
                run.dips >= st.min_dips and run.counted >= st.confirm - 1e-9
                and now - run.since >= st.confirm - 1e-9)):
            run.speech = True  # rule 5a or 5
            out.append(SpeechStarted(seat=seat, since=run.since, at=now))
        return out

    # --- the rules' pieces --------------------------------------------------------------

    def _louder(self, seat: SeatId, dbfs: float, now: float) -> SeatId | None:
        """Rule 3: the seat whose recent peak makes this reading bleed, if any."""
        st = self.settings
        best: SeatId | None = None
        best_peak = dbfs + st.bleed_margin
        for other, oc in self._ch.items():
            # A channel that stopped reporting is not heard any more.
            if oc.recent_peak >= best_peak and other != seat and oc.recent \
                    and oc.recent[-1][0] >= now - st.peak_window:
                best, best_peak = other, oc.recent_peak
        return best

    def _early(self, c: _Channel, run: _Run, now: float) -> bool:
        """Rule 5a: at the seat's own speaking level, never louder, for `early` seconds."""
        st = self.settings
        return c.speech_level is not None and run.peak <= c.speech_level + st.early_db \
            and run.counted >= st.early - 1e-9 and now - run.since >= st.early - 1e-9

    def _burst(self, c: _Channel, dbfs: float) -> bool:
        usual = c.speech_level if c.speech_level is not None else self._room_level
        return usual is not None and dbfs >= usual + self.settings.burst_db

    def _shape(self, run: _Run, dbfs: float, voiced: bool) -> float | None:
        """Rule 5's syllable rhythm: a fall of dip_db from a peak, then a rise of dip_db.
        Returns the peak of the syllable that a dip just ended, if one did."""
        dip = self.settings.dip_db
        if run.trough is None:
            if dbfs <= run.shape_peak - dip:
                run.trough = dbfs
            else:
                run.shape_peak = max(run.shape_peak, dbfs)
        elif voiced and dbfs >= run.trough + dip:
            run.dips += 1
            syllable, run.trough, run.shape_peak = run.shape_peak, None, dbfs
            return syllable
        else:
            run.trough = min(run.trough, dbfs)
        return None

    def _end_run(self, seat: SeatId, c: _Channel, last: float, out: list[Decision],
                 at: float | None = None) -> None:
        run, c.run = c.run, None
        if run is None:
            return
        at = last if at is None else at
        st = self.settings
        if run.speech:
            c.speech_end = run.last_voiced
            out.append(SpeechEnded(seat=seat, last=run.last_voiced, at=at))
            return
        duration = run.last_voiced - run.since
        if duration < st.report_min:
            return
        source = None
        if duration < st.confirm:
            reason: IgnoreReason = "short"
        elif run.counted < st.confirm and run.masker is not None:
            # Long, but mostly under a louder seat: that seat's bleed (reported like rule 3's).
            if at - c.last_bleed_report < st.report_interval:
                return
            c.last_bleed_report = at
            reason, source = "bleed", run.masker
        else:
            reason = "short" if run.counted < st.confirm else "no_rhythm"
        out.append(VoiceIgnored(seat=seat, reason=reason, since=run.since, duration=duration,
                                peak=run.peak, source=source, at=at))

    def _on_bleed(self, seat: SeatId, c: _Channel, dbfs: float, now: float, source: SeatId,
                  out: list[Decision]) -> None:
        b = c.bleed
        if b is not None and now - b.last >= self.settings.release:
            self._end_bleed(seat, c, now, out)
            b = None
        if b is None:
            c.bleed = _Bleed(since=now, last=now, peak=dbfs, source=source)
        else:
            b.last, b.peak = now, max(b.peak, dbfs)

    def _end_bleed(self, seat: SeatId, c: _Channel, now: float, out: list[Decision]) -> None:
        b, c.bleed = c.bleed, None
        if b is None or now - b.last < self.settings.release:
            if b is not None:
                c.bleed = b  # a gap shorter than release: the same episode goes on
            return
        st = self.settings
        duration = b.last - b.since
        if duration < st.confirm or now - c.last_bleed_report < st.report_interval:
            return
        c.last_bleed_report = now
        out.append(VoiceIgnored(seat=seat, reason="bleed", since=b.since, duration=duration,
                                peak=b.peak, source=b.source, at=now))


def _ema(old: float | None, new: float, alpha: float) -> float:
    return new if old is None else old + alpha * (new - old)
