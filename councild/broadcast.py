"""The broadcast, pure: the stream and the recording as OBS reports them, and the alarms.

The poller (councild/broadcast_control.py) asks OBS once a second for GetStreamStatus,
GetRecordStatus and GetStats and hands the answers to `BroadcastHealth.poll(now, ...)`;
OBS's StreamStateChanged / RecordStateChanged go to `output_event`, the technician's
commands to `commanded`, a lost OBS link to `obs_lost`. Each returns the alarms it raised or
cleared. No I/O and no clock in here: `now` is passed in, so the tests run without sleeps.

What is derived rather than read:
- the bitrate, from `outputBytes` deltas over `bitrate_window` seconds (OBS reports bytes,
  not a rate);
- the dropped-frame share over the last `dropped_window` seconds, from the stream output's
  skipped/total frame counters (OBS's counters run from the start of the stream, so a
  share over the whole stream would hide a bad minute after a good hour);
- the recording minutes left: GetStats' availableDiskSpace (the disk OBS records to, in
  MB) divided by the recording's own byte rate.

A stream that was live and stops without a stop command from councild is an alarm, and so
is one that gave up reconnecting. A stop the technician gives in OBS's own window is, to
councild, a stop without a command: that is the point (someone should know).
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

__all__ = [
    "Alarm",
    "AlarmChange",
    "BroadcastHealth",
    "Thresholds",
    "parse_timecode",
]

MB = 1024 * 1024  # obs-websocket's availableDiskSpace is in MB (MiB: OBS divides by 1024²)


class Alarm(StrEnum):
    STREAM_STOPPED = "stream_stopped"  # live, then stopped without a stop command
    STREAM_RECONNECTING = "stream_reconnecting"
    DROPPED_FRAMES = "dropped_frames"  # above the threshold over the window
    DISK_LOW = "disk_low"  # recording minutes left below the threshold
    RECORD_STOPPED = "record_stopped"  # recording, then stopped without a stop command
    OBS_GONE = "obs_gone"  # OBS lost while the stream or the recording ran


@dataclass(frozen=True, slots=True)
class Thresholds:
    dropped_percent: float = 1.0
    dropped_window: float = 10.0
    disk_low_minutes: float = 30.0
    bitrate_window: float = 5.0


@dataclass(frozen=True, slots=True)
class AlarmChange:
    alarm: Alarm
    raised: bool  # False: cleared
    detail: Mapping[str, Any] = field(default_factory=dict)


def parse_timecode(value: Any) -> float | None:
    """obs-websocket's "HH:MM:SS.mmm" → seconds; None for anything else."""
    if not isinstance(value, str):
        return None
    try:
        h, m, s = value.split(":")
        seconds = int(h) * 3600 + int(m) * 60 + float(s)
    except ValueError:
        return None
    return seconds if seconds >= 0 else None


def _num(data: Mapping[str, Any] | None, key: str) -> float | None:
    value = data.get(key) if data is not None else None
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def _duration(data: Mapping[str, Any]) -> float | None:
    ms = _num(data, "outputDuration")
    return ms / 1000.0 if ms is not None else parse_timecode(data.get("outputTimecode"))


class _Rate:
    """A counter's rate per second over a sliding window; restarts when the counter does."""

    def __init__(self, window: float) -> None:
        self.window = window
        self._samples: deque[tuple[float, float]] = deque()

    def add(self, now: float, value: float) -> None:
        if self._samples and value < self._samples[-1][1]:
            self._samples.clear()  # a new output: its counters start again at zero
        self._samples.append((now, value))
        # Keep one sample at or before the window's start as the base of the delta.
        while len(self._samples) > 2 and self._samples[1][0] <= now - self.window:
            self._samples.popleft()

    def clear(self) -> None:
        self._samples.clear()

    def rate(self) -> float | None:
        if len(self._samples) < 2:
            return None
        (t0, v0), (t1, v1) = self._samples[0], self._samples[-1]
        return (v1 - v0) / (t1 - t0) if t1 > t0 else None


class _Share:
    """skipped/total over a window of (time, skipped, total) samples."""

    def __init__(self, window: float) -> None:
        self.window = window
        self._samples: deque[tuple[float, float, float]] = deque()

    def add(self, now: float, skipped: float, total: float) -> None:
        if self._samples and total < self._samples[-1][2]:
            self._samples.clear()
        self._samples.append((now, skipped, total))
        while len(self._samples) > 2 and self._samples[1][0] <= now - self.window:
            self._samples.popleft()

    def clear(self) -> None:
        self._samples.clear()

    def percent(self) -> float | None:
        """The share in percent; None until two samples with frames between them."""
        if len(self._samples) < 2:
            return None
        (_t0, s0, n0), (_t1, s1, n1) = self._samples[0], self._samples[-1]
        return 100.0 * (s1 - s0) / (n1 - n0) if n1 > n0 else None

    def full(self) -> bool:
        """The samples span the whole window: a verdict 'over 10 s' may be given."""
        return (len(self._samples) >= 2
                and self._samples[-1][0] - self._samples[0][0] >= self.window)


class BroadcastHealth:
    """The state the TUI, the API and the metrics show; alarms raised and cleared."""

    def __init__(self, thresholds: Thresholds = Thresholds()) -> None:
        self.t = thresholds
        self.connected = False
        # unknown | stopped | starting | live | reconnecting | stopping
        self.stream_state = "unknown"
        self.stream_timecode: float | None = None
        self.stream_bytes: int | None = None
        self.skipped: int | None = None
        self.total: int | None = None
        self.congestion: float | None = None
        self.reconnects = 0  # reconnect attempts in the current episode
        # unknown | stopped | starting | recording | paused | stopping
        self.record_state = "unknown"
        self.record_timecode: float | None = None
        self.record_bytes: int | None = None
        self.record_path: str | None = None
        self.cpu: float | None = None
        self.render_skipped: int | None = None
        self.render_total: int | None = None
        self.disk_free: int | None = None  # bytes
        self.alarms: dict[Alarm, tuple[float, dict[str, Any]]] = {}
        self._bitrate = _Rate(thresholds.bitrate_window)
        self._record_rate = _Rate(thresholds.bitrate_window)
        self._dropped = _Share(thresholds.dropped_window)
        self._stream_stop_expected = False
        self._record_stop_expected = False
        self._was_live = False
        self._was_recording = False

    # --- derived values ------------------------------------------------------------------

    @property
    def bitrate(self) -> float | None:
        """Bits per second over the bitrate window."""
        rate = self._bitrate.rate() if self.stream_state in ("live", "reconnecting") else None
        return rate * 8 if rate is not None else None

    @property
    def dropped_percent(self) -> float | None:
        return self._dropped.percent()

    @property
    def record_rate(self) -> float | None:
        """Bytes per second the recording grows by."""
        return self._record_rate.rate() if self.record_state == "recording" else None

    @property
    def minutes_left(self) -> float | None:
        rate = self.record_rate
        if self.disk_free is None or rate is None or rate <= 0:
            return None
        return self.disk_free / rate / 60.0

    # --- inputs ----------------------------------------------------------------------------

    def commanded(self, op: str) -> list[AlarmChange]:
        """The technician (API, TUI, keypad) asked OBS for this; before the request goes out,
        so the stop it causes is expected."""
        changes: list[AlarmChange] = []
        if op in ("stream_start", "stream_stop"):
            self._stream_stop_expected = op == "stream_stop"
            changes += self._clear(Alarm.STREAM_STOPPED)
            if op == "stream_start" and self.stream_state in ("stopped", "unknown"):
                self.stream_state = "starting"
                self._was_live = False  # a new stream: the last one's end is acknowledged
        elif op in ("record_start", "record_stop"):
            self._record_stop_expected = op == "record_stop"
            changes += self._clear(Alarm.RECORD_STOPPED)
            if op == "record_start" and self.record_state in ("stopped", "unknown"):
                self.record_state = "starting"
                self._was_recording = False
        return changes

    def command_failed(self, op: str) -> None:
        """The request was refused: what `commanded` expected will not happen."""
        if op == "stream_stop":
            self._stream_stop_expected = False
        elif op == "record_stop":
            self._record_stop_expected = False
        elif op == "stream_start" and self.stream_state == "starting":
            self.stream_state = "stopped"
        elif op == "record_start" and self.record_state == "starting":
            self.record_state = "stopped"

    def obs_lost(self, now: float) -> list[AlarmChange]:
        self.connected = False
        changes: list[AlarmChange] = []
        if self._was_live or self._was_recording:
            changes += self._raise(Alarm.OBS_GONE, now, {})
        self.stream_state = self.record_state = "unknown"
        self._bitrate.clear()
        self._record_rate.clear()
        self._dropped.clear()
        return changes

    def output_event(self, now: float, output: str, state: str, active: bool,
                     path: str | None = None) -> list[AlarmChange]:
        """StreamStateChanged / RecordStateChanged (state without the OBS prefix)."""
        if output == "stream":
            if state == "reconnecting":
                self.reconnects += 1
                return self._stream(now, active=True, reconnecting=True)
            if state in ("started", "reconnected"):
                return self._stream(now, active=True, reconnecting=False)
            if state == "stopped":
                return self._stream(now, active=False, reconnecting=False)
            if state in ("starting", "stopping"):
                self.stream_state = state
            return []
        if path is not None:
            self.record_path = path
        if state in ("started", "resumed"):
            return self._record(now, active=True, paused=False)
        if state == "paused":
            return self._record(now, active=True, paused=True)
        if state == "stopped":
            return self._record(now, active=False, paused=False)
        if state in ("starting", "stopping"):
            self.record_state = state
        return []

    def poll(self, now: float, stream: Mapping[str, Any] | None,
             record: Mapping[str, Any] | None,
             stats: Mapping[str, Any] | None) -> list[AlarmChange]:
        """One round of answers (None where a request failed)."""
        self.connected = True
        changes = self._clear(Alarm.OBS_GONE)
        if stats is not None:
            self.cpu = _num(stats, "cpuUsage")
            self.render_skipped = _int(stats, "renderSkippedFrames")
            self.render_total = _int(stats, "renderTotalFrames")
            disk = _num(stats, "availableDiskSpace")
            # An exabyte is no disk OBS records to: anything beyond is garbage, not a size.
            self.disk_free = int(disk * MB) if disk is not None and 0 <= disk < 1e12 else None
        if stream is not None:
            self.stream_timecode = _duration(stream)
            self.congestion = _num(stream, "outputCongestion")
            self.stream_bytes = _int(stream, "outputBytes")
            self.skipped = _int(stream, "outputSkippedFrames")
            self.total = _int(stream, "outputTotalFrames")
            active = bool(stream.get("outputActive"))
            if active and self.stream_bytes is not None:
                self._bitrate.add(now, self.stream_bytes)
            if active and self.skipped is not None and self.total is not None:
                self._dropped.add(now, self.skipped, self.total)
            changes += self._stream(now, active=active,
                                    reconnecting=bool(stream.get("outputReconnecting")))
            changes += self._dropped_alarm(now)
        if record is not None:
            self.record_timecode = _duration(record)
            self.record_bytes = _int(record, "outputBytes")
            active = bool(record.get("outputActive"))
            paused = bool(record.get("outputPaused"))
            if active and not paused and self.record_bytes is not None:
                self._record_rate.add(now, self.record_bytes)
            changes += self._record(now, active=active, paused=paused)
        changes += self._disk_alarm(now)
        return changes

    # --- transitions ---------------------------------------------------------------------

    def _stream(self, now: float, *, active: bool, reconnecting: bool) -> list[AlarmChange]:
        changes: list[AlarmChange] = []
        if active:
            if self.stream_state in ("stopped", "unknown", "starting"):
                self._stream_stop_expected = False
                changes += self._clear(Alarm.STREAM_STOPPED)
            self.stream_state = "reconnecting" if reconnecting else "live"
            self._was_live = True
            if reconnecting:
                changes += self._raise(Alarm.STREAM_RECONNECTING, now,
                                       {"attempts": max(1, self.reconnects)})
            else:
                self.reconnects = 0
                changes += self._clear(Alarm.STREAM_RECONNECTING)
            return changes
        if self.stream_state == "starting" and not self._was_live:
            return changes  # asked to start, not active yet
        was_live = self._was_live
        self.stream_state = "stopped"
        self._was_live = False
        self.reconnects = 0
        self._bitrate.clear()
        self._dropped.clear()
        changes += self._clear(Alarm.STREAM_RECONNECTING)
        changes += self._clear(Alarm.DROPPED_FRAMES)
        if was_live and not self._stream_stop_expected:
            changes += self._raise(Alarm.STREAM_STOPPED, now, {})
        self._stream_stop_expected = False
        return changes

    def _record(self, now: float, *, active: bool, paused: bool) -> list[AlarmChange]:
        changes: list[AlarmChange] = []
        if active:
            if self.record_state in ("stopped", "unknown", "starting"):
                self._record_stop_expected = False
                changes += self._clear(Alarm.RECORD_STOPPED)
            self.record_state = "paused" if paused else "recording"
            self._was_recording = True
            return changes
        if self.record_state == "starting" and not self._was_recording:
            return changes
        was = self._was_recording
        self.record_state = "stopped"
        self._was_recording = False
        self._record_rate.clear()
        if was and not self._record_stop_expected:
            changes += self._raise(Alarm.RECORD_STOPPED, now, {})
        self._record_stop_expected = False
        return changes

    def _dropped_alarm(self, now: float) -> list[AlarmChange]:
        percent = self._dropped.percent()
        if percent is None or not self._dropped.full():
            return []
        if percent > self.t.dropped_percent:
            return self._raise(Alarm.DROPPED_FRAMES, now, {"percent": round(percent, 2)})
        return self._clear(Alarm.DROPPED_FRAMES)

    def _disk_alarm(self, now: float) -> list[AlarmChange]:
        if self.record_state not in ("recording", "paused"):
            return self._clear(Alarm.DISK_LOW)
        left = self.minutes_left
        if left is None:
            return []
        if left < self.t.disk_low_minutes:
            return self._raise(Alarm.DISK_LOW, now, {"minutes": round(left, 1)})
        return self._clear(Alarm.DISK_LOW)

    def _raise(self, alarm: Alarm, now: float, detail: dict[str, Any]) -> list[AlarmChange]:
        current = self.alarms.get(alarm)
        if current is not None:
            # Still raised; the detail (attempts, percent) follows without a new entry,
            # except a new reconnect attempt, which the technician wants to see counted.
            self.alarms[alarm] = (current[0], detail)
            if alarm is Alarm.STREAM_RECONNECTING and detail != current[1]:
                return [AlarmChange(alarm, True, detail)]
            return []
        self.alarms[alarm] = (now, detail)
        return [AlarmChange(alarm, True, detail)]

    def _clear(self, alarm: Alarm) -> list[AlarmChange]:
        if self.alarms.pop(alarm, None) is None:
            return []
        return [AlarmChange(alarm, False)]

    # --- what clients see ----------------------------------------------------------------

    def state_dict(self) -> dict[str, Any]:
        bitrate = self.bitrate
        dropped = self.dropped_percent
        left = self.minutes_left
        return {
            "connected": self.connected,
            "stream": {
                "state": self.stream_state,
                "timecode": self.stream_timecode,
                "bitrate": round(bitrate) if bitrate is not None else None,
                "dropped_percent": round(dropped, 3) if dropped is not None else None,
                "skipped_frames": self.skipped,
                "total_frames": self.total,
                "congestion": self.congestion,
                "bytes": self.stream_bytes,
                "reconnects": self.reconnects,
            },
            "record": {
                "state": self.record_state,
                "timecode": self.record_timecode,
                "bytes": self.record_bytes,
                "path": self.record_path,
                "minutes_left": round(left, 1) if left is not None else None,
            },
            "obs": {
                "cpu": self.cpu,
                "render_skipped_frames": self.render_skipped,
                "render_total_frames": self.render_total,
                "disk_free": self.disk_free,
            },
            "alarms": [{"alarm": a.value, "since": since, **detail}
                       for a, (since, detail) in self.alarms.items()],
        }


def _int(data: Mapping[str, Any] | None, key: str) -> int | None:
    value = _num(data, key)
    return int(value) if value is not None else None
