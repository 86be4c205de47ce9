"""The speaker timeline of a session, rebuilt from its record: CSV, JSON and WebVTT chapters.

The timeline comes from replaying the session's accepted inputs through the floor, the same
way the daemon rebuilds its state, and watching the speakers list change: so it shows every
turn however it began or ended (grant, press, desk surface, time limit, priority).
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import asdict, dataclass
from typing import Any

from councild import floor
from councild.assembly import rules_from_roster
from councild.chapters import (
    MIN_CHAPTER,
    Chapter,
    Origin,
    agenda_chapters,
    description_lines,
    origins,
    pick_origin,
)
from councild.errors import FloorError
from councild.labels import agenda_label
from councild.model import Mode
from councild.store import SessionRow, Store


@dataclass(frozen=True, slots=True)
class Turn:
    seat: str
    councillor: str
    name: str
    party: str
    start: float  # wall-clock seconds
    end: float | None  # None: still speaking at the end of the record
    agenda_item: str | None


def timeline(store: Store, session: SessionRow) -> list[Turn]:
    roster = session.roster
    rules = rules_from_roster(roster)
    seats = {s["id"]: s for s in roster["seats"]}
    state = floor.initial_state(Mode(roster["mode"]), int(roster["max_open"]))
    open_turns: dict[str, Turn] = {}
    turns: list[Turn] = []

    for event, wall in store.inputs(session.id):
        before = {s.seat for s in state.speakers}
        try:
            state, _ = floor.step(rules, state, event, wall)
        except FloorError:
            continue
        after = {s.seat for s in state.speakers}
        for seat in before - after:
            turns.append(_close(open_turns.pop(seat), wall))
        for sp in state.speakers:
            if sp.seat in after - before:
                info = seats.get(sp.seat, {})
                current = 0 <= state.agenda < len(rules.agenda)
                item = rules.agenda[state.agenda].id if current else None
                open_turns[sp.seat] = Turn(sp.seat, info.get("councillor") or "",
                                           info.get("name", ""), info.get("party", ""),
                                           wall, None, item)
    turns.extend(open_turns.values())
    turns.sort(key=lambda t: t.start)
    return turns


def _close(turn: Turn, end: float) -> Turn:
    return Turn(turn.seat, turn.councillor, turn.name, turn.party, turn.start, end,
                turn.agenda_item)


def totals(turns: list[Turn], until: float) -> list[dict[str, Any]]:
    """Speaking time per councillor (or per seat where no councillor sits), longest first."""
    acc: dict[str, dict[str, Any]] = {}
    for t in turns:
        key = t.councillor or f"seat:{t.seat}"
        row = acc.setdefault(key, {"councillor": t.councillor, "name": t.name,
                                   "party": t.party, "turns": 0, "seconds": 0.0})
        row["turns"] += 1
        row["seconds"] += (t.end if t.end is not None else until) - t.start
    return sorted(acc.values(), key=lambda r: -r["seconds"])


def _iso(ts: float) -> str:
    import datetime as dt

    return dt.datetime.fromtimestamp(ts, dt.UTC).isoformat(timespec="milliseconds")


def to_json(session: SessionRow, turns: list[Turn], until: float) -> str:
    return json.dumps({
        "session": {"key": session.key, "title": session.title, "date": session.date},
        "turns": [{**asdict(t), "start_iso": _iso(t.start),
                   "end_iso": _iso(t.end) if t.end is not None else None} for t in turns],
        "totals": totals(turns, until),
    }, indent=2, ensure_ascii=False)


def to_csv(turns: list[Turn]) -> str:
    out = io.StringIO()
    w = csv.writer(out)
    w.writerow(["seat", "councillor", "name", "party", "from", "to", "seconds", "agenda_item"])
    for t in turns:
        seconds = f"{t.end - t.start:.1f}" if t.end is not None else ""
        w.writerow([t.seat, t.councillor, t.name, t.party, _iso(t.start),
                    _iso(t.end) if t.end is not None else "", seconds, t.agenda_item or ""])
    return out.getvalue()


def _vtt_time(seconds: float) -> str:
    ms = round(max(0.0, seconds) * 1000)
    h, rest = divmod(ms, 3_600_000)
    m, rest = divmod(rest, 60_000)
    s, ms = divmod(rest, 1000)
    return f"{h:02d}:{m:02d}:{s:02d}.{ms:03d}"


def to_vtt(session: SessionRow, turns: list[Turn], until: float,
           agenda_titles: dict[str, str], origin: Origin | None = None,
           agenda: list[Chapter] | None = None) -> str:
    """WebVTT chapters on the origin's clock (default: the start of the session's record):
    the agenda items (cue ids `agenda-N`) and the speaker turns (`turn-N`), in start order
    as WebVTT requires."""
    clock = origin or Origin("session", session.started)
    lines = ["WEBVTT", "", f"NOTE {session.title} ({session.date})"]
    if clock.kind == "record" and clock.path:
        lines.append(f"NOTE recording {clock.path}")
    lines.append("")
    video_end = clock.length if clock.length is not None else clock.to_media(until)
    cues: list[tuple[float, float, str, str]] = []
    for i, ch in enumerate(agenda or [], 1):
        end = ch.end if ch.end is not None else video_end
        cues.append((ch.start, max(ch.start, end or ch.start), f"agenda-{i}", ch.title))
    for i, t in enumerate(turns, 1):
        start = clock.to_media(t.start)
        if start is None:
            continue  # after this video ended
        end = clock.to_media(t.end if t.end is not None else until)
        end = end if end is not None else (video_end or start)
        if t.end is not None and t.end <= clock.start:
            continue  # over before this video began
        title = t.name or t.seat
        if t.party:
            title += f" ({t.party})"
        if t.agenda_item:
            title += f" – {agenda_titles.get(t.agenda_item, t.agenda_item)}"
        cues.append((start, end, f"turn-{i}", title))
    cues.sort(key=lambda c: c[0])  # stable: an agenda cue stays before a turn at its time
    for start, end, ident, title in cues:
        lines += [ident, f"{_vtt_time(start)} --> {_vtt_time(end)}",
                  title.replace("-->", "->"), ""]
    return "\n".join(lines)


def export(store: Store, fmt: str, session_key: str | None = None, *,
           origin: str | None = None, part: int = 1, minimum: float = MIN_CHAPTER) -> str:
    """`origin` (vtt, chapters): record | stream | session, None = the recording when there
    is one; `part`: which recording (or stream), from 1. chapters.NoOriginError when the
    session has no such recording or stream."""
    session = store.session(session_key)
    if session is None:
        raise LookupError(session_key or "no session recorded yet")
    turns = timeline(store, session)
    rows = list(store.rows(session.id))
    until = rows[-1].wall if rows else session.started
    until = max([until] + [t.end for t in turns if t.end is not None])
    if fmt == "json":
        return to_json(session, turns, until)
    if fmt == "csv":
        return to_csv(turns)
    if fmt in ("vtt", "chapters"):
        titles = {a["id"]: agenda_label(a.get("number", ""), a["title"])
                  for a in session.roster["agenda"]}
        clock = pick_origin(origins(rows, session.started), origin, part)
        agenda = agenda_chapters(rows, clock, titles, session.title)
        if fmt == "chapters":
            return "\n".join(description_lines(agenda, minimum)) + "\n"
        return to_vtt(session, turns, until, titles, clock, agenda)
    raise ValueError(fmt)
