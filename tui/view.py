"""Turning the daemon's state dict into text for the screen: pure functions, no Textual.

The TUI holds no session state of its own; these helpers read whatever the daemon sent and
must survive fields that other issues add later (or that an older daemon lacks): a missing
key is shown as DASH, never raised.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from councild.i18n import _
from councild.log_text import sentence

DASH = "–"
# dBFS span of the level bar: below -60 a council mic is room noise; 0 is digital full scale.
LEVEL_FLOOR_DB = -60.0
LEVEL_BAR_WIDTH = 8
# Speaking times shown with hours past this; a council speech is minutes, a session hours.
HOUR_S = 3600


def get(data: Any, *path: str | int, default: Any = None) -> Any:
    """data[path[0]][path[1]]… or `default` when anything on the way is missing or mistyped."""
    for key in path:
        try:
            data = data[key]
        except (KeyError, IndexError, TypeError):
            return default
    return default if data is None else data


def text(value: Any) -> str:
    """A value for a cell: DASH for None/empty."""
    if value is None or value == "":
        return DASH
    return str(value)


def seats_by_id(state: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    return {str(s.get("id")): s for s in get(state, "seats", default=[]) if isinstance(s, dict)}


def who(seats: Mapping[str, Mapping[str, Any]], seat_id: str) -> str:
    """"05 Aylin Yılmaz" for a seat id; the bare id for a seat the roster does not know."""
    seat = seats.get(seat_id)
    if seat is None:
        return seat_id
    name = seat.get("name") or ""
    return f"{seat.get('label', seat_id)} {name}".strip()


# --- microphones --------------------------------------------------------------------------


def mic_text(mic: str | None, talking: bool = False) -> str:
    """Mic state in symbol + word, never by colour alone."""
    labels = {
        "off": "○ " + _("off"),
        "requesting": "? " + _("REQ"),
        "on": "● " + _("ON"),
    }
    base = labels.get(mic or "", "· " + (mic or DASH))
    return base + (" ♪" if talking else "")


def level_bar(dbfs: float | None, width: int = LEVEL_BAR_WIDTH) -> str:
    """A meter as blocks plus the number: '▮▮▮▮▯▯▯▯ -21'. No level → dots."""
    if dbfs is None or not isinstance(dbfs, int | float):
        return "·" * width + "    "
    frac = (max(LEVEL_FLOOR_DB, min(0.0, float(dbfs))) - LEVEL_FLOOR_DB) / -LEVEL_FLOOR_DB
    filled = round(frac * width)
    shown = max(-99, min(99, round(dbfs)))  # keep the column width whatever comes in
    return "▮" * filled + "▯" * (width - filled) + f"{shown:>4d}"


# --- times ---------------------------------------------------------------------------------


def duration(seconds: float) -> str:
    """m:ss, or h:mm:ss past an hour; negative durations are shown as 0:00."""
    total = max(0, int(seconds))
    hours, rest = divmod(total, HOUR_S)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}:{minutes:02d}:{secs:02d}"
    return f"{minutes}:{secs:02d}"


def ago(seconds: float | None) -> str:
    """How long since a device was last heard from, short enough for a narrow column."""
    if seconds is None:
        return DASH
    if seconds < 10:
        return _("{n:.1f}s ago").format(n=max(0.0, seconds))
    if seconds < 120:
        return _("{n}s ago").format(n=int(seconds))
    if seconds < 2 * HOUR_S:
        return _("{n}min ago").format(n=int(seconds // 60))
    return _("{n}h ago").format(n=int(seconds // HOUR_S))


def clock_time(wall: float | None) -> str:
    """HH:MM:SS in the local zone (the chamber's), DASH if unknown."""
    if not isinstance(wall, int | float):
        return DASH
    return time.strftime("%H:%M:%S", time.localtime(wall))


def speaker_status(
    elapsed: float, limit: float | None, warned: bool, over: bool
) -> tuple[str, str]:
    """(text, kind) for a speaker's time: kind is "ok", "warn" or "over" for styling; the text
    says the same in words so that nothing depends on colour."""
    if not limit:
        return _("no limit"), "ok"
    left = limit - elapsed
    if over or left <= 0:
        return "✖ " + _("OVER +{t}").format(t=duration(-left)), "over"
    if warned:
        return "⚠ " + _("{t} left").format(t=duration(left)), "warn"
    return _("{t} left").format(t=duration(left)), "ok"


# --- devices and the header ---------------------------------------------------------------


LINK_SYMBOLS = {
    "connected": "●",
    "connecting": "◌",
    "reconnecting": "↻",
    "lost": "✖",
    "closed": "○",
}


def link_text(link: str | None) -> str:
    words = {
        "connected": _("connected"),
        "connecting": _("connecting"),
        "reconnecting": _("reconnecting"),
        "lost": _("LOST"),
        "closed": _("closed"),
    }
    return f"{LINK_SYMBOLS.get(link or '', '?')} {words.get(link or '', text(link))}"


def device_kind(link: str | None, errors: int, warning: bool = False) -> str:
    """Styling class for a device row: "bad", "warn" or "ok"."""
    if link in ("lost", "closed"):
        return "bad"
    if link in ("connecting", "reconnecting") or errors or warning:
        return "warn"
    return "ok"


def device_detail(device: Mapping[str, Any]) -> str:
    """A device's detail, its warning first (e.g. a conference unit whose own limit differs
    from the configuration): the technician must not have to find it in the event log."""
    detail, warning = device.get("detail"), device.get("warning")
    if isinstance(warning, str) and warning:
        return f"⚠ {warning}" + (f" · {detail}" if isinstance(detail, str) and detail else "")
    return text(detail)


def mode_text(mode: str | None) -> str:
    words = {
        "open": _("open"),
        "request": _("request"),
        "override": _("override"),
        "voice": _("voice"),
    }
    return words.get(mode or "", text(mode))


def agenda_text(agenda: Any) -> str:
    if not isinstance(agenda, dict):
        return DASH
    if agenda.get("number") and agenda.get("label"):  # "TOP 3 — title", as on air
        return str(agenda["label"])
    return f"{agenda.get('id', '')} {agenda.get('title', '')}".strip() or DASH


def priority_text(on: Any) -> str:
    return "⚑ " + _("CHAIR PRIORITY") if on else _("priority off")


# --- on air (fields from later issues: render when present) -------------------------------


CAMERA_SYMBOLS = {"on_air": "◉", "moving": "↔", "idle": "○"}


def camera_text(name: str, cam: Any) -> str:
    state = get(cam, "state")
    words = {"on_air": _("ON AIR"), "moving": _("moving"), "idle": _("idle")}
    preset = get(cam, "preset")
    where = f" #{preset}" if preset is not None else ""
    symbol = CAMERA_SYMBOLS.get(state or "", "?")
    return f"{symbol} {name} {words.get(state or '', text(state))}{where}"


def lower_third_text(lt: Any) -> str:
    if not isinstance(lt, dict):
        return DASH
    parts = [p for p in (lt.get("name"), lt.get("detail")) if p]
    return " · ".join(parts) or DASH


def lock_text(program: Any) -> str:
    """Who drives the picture: the director following speakers, a forced shot, or a lock."""
    if not isinstance(program, dict) or "locked" not in program:
        return DASH
    if program.get("locked"):
        text_ = "🔒 " + _("LOCKED")
    elif program.get("mode") == "forced" or program.get("forced"):
        forced = program.get("forced")
        text_ = "⚑ " + _("FORCED") + (f" {forced}" if isinstance(forced, str) else "")
    else:
        text_ = _("follows speaker")
    if program.get("dry_run"):
        text_ += " · " + _("dry run (OBS offline)")
    return text_


# --- the event log --------------------------------------------------------------------------


def log_line(entry: Mapping[str, Any], seats: Mapping[str, Mapping[str, Any]] | None = None,
             agenda: Mapping[str, str] | None = None) -> str:
    """One event-log entry as a line: time, source, and what happened in words
    (councild/log_text.py), with the seats' labels and councillors where known."""
    line = f"{clock_time(entry.get('time'))} {text(entry.get('source')):<6} "
    return line + sentence(entry, seats or {}, agenda)


def matches(line: str, needle: str) -> bool:
    """Case-insensitive filter for the event log; every word must occur."""
    low = line.casefold()
    return all(word in low for word in needle.casefold().split())


SEARCH_FIELDS = ("label", "name", "councillor", "party", "id")


def find_seats(state: Mapping[str, Any], query: str) -> list[dict[str, Any]]:
    """Seats whose label, councillor name, id or party contains every word of the query."""
    out = []
    for seat in get(state, "seats", default=[]):
        if not isinstance(seat, dict):
            continue
        hay = " ".join(str(seat.get(k) or "") for k in SEARCH_FIELDS)
        if matches(hay, query):
            out.append(seat)
    return out
