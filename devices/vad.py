"""Voice-activity detection on a stream of level readings, one detector per channel.

Pure: the caller passes every reading with the time it was taken (a monotonic clock the
caller owns), so the detector never reads a clock and tests need no sleeps. A desk delivers
levels in steps (every 50 ms for an X32), so "above the threshold for `attack` seconds" means
"every reading since the first one above the threshold was above it, and the newest is at
least `attack` seconds after that first one".
"""

from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = ["VoiceDetector", "VoiceSettings"]

# Readings taken at a nominal step (0.2 - 0.05 ...) differ from it by float rounding; one
# nanosecond of tolerance keeps "0.15 s after" from being 0.1499999 s, far below any period.
TIME_EPSILON = 1e-9


@dataclass(frozen=True, slots=True, kw_only=True)
class VoiceSettings:
    """Tuning of one detector; validated here so that an invalid detector cannot exist."""

    threshold: float  # dBFS: a reading at or above this counts as voice
    attack: float  # s above the threshold before the channel becomes active
    hold: float  # s below the release threshold before it becomes inactive again
    hysteresis: float  # dB: release threshold = threshold - hysteresis

    def __post_init__(self) -> None:
        for name in ("threshold", "attack", "hold", "hysteresis"):
            value = getattr(self, name)
            if not math.isfinite(value):
                raise ValueError(f"{name} must be a finite number, not {value!r}")
        for name in ("attack", "hold", "hysteresis"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must not be negative")

    @property
    def release(self) -> float:
        return self.threshold - self.hysteresis


class VoiceDetector:
    """Threshold + attack + hold + hysteresis; `update()` reports transitions only."""

    __slots__ = ("_above_since", "_active", "_below_since", "_last_now", "settings")

    def __init__(self, settings: VoiceSettings) -> None:
        self.settings = settings
        self._active = False
        self._above_since: float | None = None  # start of the current run >= threshold
        self._below_since: float | None = None  # start of the current run < release
        self._last_now: float | None = None

    @property
    def active(self) -> bool:
        return self._active

    def reset(self) -> bool:
        """Forget everything (the level source went away); True if it was active."""
        was = self._active
        self._active = False
        self._above_since = self._below_since = self._last_now = None
        return was

    def update(self, level: float, now: float) -> bool | None:
        """Feed one reading; returns the new state if it changed, else None."""
        if math.isnan(level):
            raise ValueError("level is NaN")
        if self._last_now is not None and now < self._last_now:
            raise ValueError(f"time went backwards: {now} < {self._last_now}")
        self._last_now = now
        s = self.settings
        if not self._active:
            if level < s.threshold:
                self._above_since = None
                return None
            if self._above_since is None:
                self._above_since = now
            if now - self._above_since >= s.attack - TIME_EPSILON:
                self._active = True
                self._below_since = None
                return True
            return None
        if level >= s.release:
            self._below_since = None
            return None
        if self._below_since is None:
            self._below_since = now
        if now - self._below_since >= s.hold - TIME_EPSILON:
            self._active = False
            self._above_since = None
            return False
        return None
