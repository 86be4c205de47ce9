"""The broadcast state (councild/broadcast.py's state_dict) in the technician's words.

Shared by `councild ctl state`, the TUI's broadcast panel and its alarm banner. Pure: a
state dict in, catalog sentences out; every value may be missing (an older daemon, OBS not
answered yet) and is then shown as "–".
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from councild.i18n import _, ngettext

__all__ = ["alarm_text", "alarm_texts", "broadcast_lines", "record_line", "stream_line"]


def _hms(seconds: Any) -> str:
    if not isinstance(seconds, int | float) or seconds < 0:
        return "–"
    s = int(seconds)
    return f"{s // 3600:02d}:{s % 3600 // 60:02d}:{s % 60:02d}"


def _bitrate(bps: Any) -> str:
    if not isinstance(bps, int | float):
        return "–"
    if bps >= 1_000_000:
        return _("{n:.1f} Mbit/s").format(n=bps / 1_000_000)
    return _("{n:.0f} kbit/s").format(n=bps / 1000)


def _size(size: Any) -> str:
    if not isinstance(size, int | float):
        return "–"
    if size >= 1_000_000_000:
        return _("{n:.1f} GB").format(n=size / 1_000_000_000)
    return _("{n:.0f} MB").format(n=size / 1_000_000)


def _left(minutes: Any) -> str:
    if not isinstance(minutes, int | float):
        return ""
    total = int(minutes)
    if total >= 60:
        return _("{h} h {m} min left").format(h=total // 60, m=total % 60)
    return _("{m} min left").format(m=total)


def stream_line(broadcast: Mapping[str, Any]) -> str:
    stream = broadcast.get("stream") or {}
    state = stream.get("state")
    if not broadcast.get("connected"):
        return "? " + _("stream: OBS not connected")
    if state in ("live", "reconnecting"):
        head = ("● " + _("LIVE") if state == "live"
                else "↻ " + ngettext("RECONNECTING ({n} attempt)", "RECONNECTING ({n} attempts)",
                                     int(stream.get("reconnects") or 1)).format(
                                         n=int(stream.get("reconnects") or 1)))
        parts = [f"{head} {_hms(stream.get('timecode'))}", _bitrate(stream.get("bitrate"))]
        dropped = stream.get("dropped_percent")
        if isinstance(dropped, int | float):
            parts.append(_("{p:.1f} % dropped").format(p=dropped))
        congestion = stream.get("congestion")
        if isinstance(congestion, int | float) and congestion >= 0.05:
            parts.append(_("congestion {p:.0f} %").format(p=congestion * 100))
        return " · ".join(parts)
    if state == "starting":
        return "… " + _("stream starting")
    if state == "stopping":
        return "… " + _("stream stopping")
    return "○ " + _("stream off")


def record_line(broadcast: Mapping[str, Any]) -> str:
    record = broadcast.get("record") or {}
    state = record.get("state")
    if not broadcast.get("connected"):
        return "? " + _("recording: OBS not connected")
    if state in ("recording", "paused"):
        head = "● " + _("REC") if state == "recording" else "❚❚ " + _("REC paused")
        parts = [f"{head} {_hms(record.get('timecode'))}", _size(record.get("bytes"))]
        left = _left(record.get("minutes_left"))
        if left:
            parts.append(left)
        return " · ".join(parts)
    if state == "starting":
        return "… " + _("recording starting")
    if state == "stopping":
        return "… " + _("recording stopping")
    return "○ " + _("not recording")


def alarm_text(alarm: Mapping[str, Any]) -> str:
    """One alarm as a sentence."""
    name = alarm.get("alarm")
    if name == "stream_reconnecting":
        n = int(alarm.get("attempts") or 1)
        return ngettext("Stream reconnecting: {n} attempt", "Stream reconnecting: {n} attempts",
                        n).format(n=n)
    if name == "stream_stopped":
        return _("The stream stopped without a stop command")
    if name == "dropped_frames":
        return _("Stream dropping frames: {p:.1f} % over the last seconds").format(
            p=float(alarm.get("percent") or 0))
    if name == "disk_low":
        return _("Recording disk running out: {m:.0f} min left").format(
            m=float(alarm.get("minutes") or 0))
    if name == "record_stopped":
        return _("The recording stopped without a stop command")
    if name == "obs_gone":
        return _("OBS is gone while the broadcast was running")
    return str(name)


def alarm_texts(broadcast: Mapping[str, Any] | None) -> list[str]:
    if not broadcast:
        return []
    return [alarm_text(a) for a in broadcast.get("alarms") or [] if isinstance(a, dict)]


def broadcast_lines(broadcast: Mapping[str, Any]) -> list[str]:
    lines = [stream_line(broadcast), record_line(broadcast)]
    lines += ["⚠ " + text for text in alarm_texts(broadcast)]
    return lines
