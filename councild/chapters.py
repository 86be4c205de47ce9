"""Chapters that match the video: agenda items and speaker turns on the recording's clock.

The session record holds wall times: when the agenda moved (AgendaChanged effects), who
spoke when (councild/export.py's timeline) and what OBS said about its outputs
(RecordStateChanged / StreamStateChanged, recorded by councild/broadcast_control.py). A
video's clock starts with the recording (or the stream), stands still while a recording is
paused, and starts again in each file of a split recording. `Origin` maps a wall time onto
that clock; the writers turn chapters into WebVTT and into the lines video platforms read
from a description (`00:00:00 Title`, the first at zero, none shorter than the platform's
minimum: YouTube wants 10 s).

Pure: rows in, text out.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from councild.store import LogRow

__all__ = [
    "Chapter",
    "NoOriginError",
    "Origin",
    "agenda_chapters",
    "description_lines",
    "origins",
    "pick_origin",
]

MIN_CHAPTER = 10.0  # seconds; YouTube's minimum (and the strictest of the large platforms)


class NoOriginError(LookupError):
    """The asked origin does not exist in this session (no recording, no stream)."""


@dataclass(slots=True)
class Origin:
    """One video's clock: `start` wall time, pauses (wall from, wall to), `end` or None."""

    kind: str  # record | stream | session
    start: float
    end: float | None = None
    path: str | None = None
    pauses: list[tuple[float, float | None]] = field(default_factory=list)

    def to_media(self, wall: float) -> float | None:
        """Seconds into the video at this wall time; None after the video ended. A time
        before the start is 0 (what was current when the video began); a time within a
        pause is where the pause began."""
        if self.end is not None and wall > self.end:
            return None
        t = max(wall, self.start)
        paused = 0.0
        for a, b in self.pauses:
            if a >= t:
                break
            paused += (min(b, t) if b is not None else t) - a
        return max(0.0, t - self.start - paused)

    @property
    def length(self) -> float | None:
        if self.end is None:
            return None
        media = self.to_media(self.end)
        return media


def origins(rows: Iterable[LogRow], session_start: float) -> dict[str, list[Origin]]:
    """Every recording part and every stream of a session, from its broadcast rows."""
    parts: list[Origin] = []
    streams: list[Origin] = []
    record: Origin | None = None
    stream: Origin | None = None
    for row in rows:
        if row.kind != "broadcast":
            continue
        state = str(row.body.get("state", ""))
        path = row.body.get("path")
        if row.type == "RecordStateChanged":
            if state == "started":
                record = Origin("record", row.wall, path=path)
                parts.append(record)
            elif record is not None and state == "paused":
                record.pauses.append((row.wall, None))
            elif record is not None and state == "resumed" and record.pauses:
                record.pauses[-1] = (record.pauses[-1][0], row.wall)
            elif record is not None and state == "stopped":
                record.end = row.wall
                record.path = path or record.path
                if record.pauses and record.pauses[-1][1] is None:
                    record.pauses[-1] = (record.pauses[-1][0], row.wall)
                record = None
        elif row.type == "RecordFileChanged" and record is not None:
            # obs-websocket 5.5 (OBS 30.2+): a split recording went on in a new file.
            record.end = row.wall
            record = Origin("record", row.wall, path=row.body.get("path"))
            parts.append(record)
        elif row.type == "StreamStateChanged":
            if state == "started" and stream is None:
                stream = Origin("stream", row.wall)
                streams.append(stream)
            elif state == "stopped" and stream is not None:
                stream.end = row.wall
                stream = None
    return {"record": parts, "stream": streams,
            "session": [Origin("session", session_start)]}


def pick_origin(found: dict[str, list[Origin]], kind: str | None, part: int = 1) -> Origin:
    """`kind` None: the recording when there is one, else the stream, else the session.
    `part` counts recordings (and streams) from 1 in the order they began."""
    if kind is None:
        kind = next(k for k in ("record", "stream", "session") if found[k])
    candidates = found.get(kind) or []
    if not candidates:
        raise NoOriginError(kind)
    if not 1 <= part <= len(candidates):
        raise NoOriginError(f"{kind} {part}")
    return candidates[part - 1]


@dataclass(frozen=True, slots=True)
class Chapter:
    start: float  # seconds into the video
    end: float | None
    title: str


def agenda_chapters(rows: Sequence[LogRow], origin: Origin, titles: dict[str, str],
                    before: str) -> list[Chapter]:
    """One chapter per agenda item, on the origin's clock. `before` titles the part before
    the first item (the session's title)."""
    changes: list[tuple[float, str]] = []
    current = before
    for row in rows:
        if row.kind != "effect" or row.type != "AgendaChanged":
            continue
        item = str(row.body.get("item", ""))
        title = titles.get(item, item)
        if row.wall <= origin.start:
            current = title
            continue
        at = origin.to_media(row.wall)
        if at is not None:
            changes.append((at, title))
    out = [(0.0, current), *changes]
    chapters = []
    for i, (at, title) in enumerate(out):
        end = out[i + 1][0] if i + 1 < len(out) else origin.length
        chapters.append(Chapter(at, end, title))
    return chapters


def description_lines(chapters: Sequence[Chapter], minimum: float = MIN_CHAPTER) -> list[str]:
    """`HH:MM:SS Title` lines: first at zero, each at least `minimum` long. A chapter too
    short gives way to the one after it (the item that stuck after a quick correction
    keeps the earlier start); a last one too short is dropped."""
    kept: list[Chapter] = []
    for ch in chapters:
        if kept and ch.start - kept[-1].start < minimum:
            kept[-1] = Chapter(kept[-1].start, ch.end, ch.title)
        else:
            kept.append(ch)
    if len(kept) > 1 and kept[-1].end is not None and kept[-1].end - kept[-1].start < minimum:
        last = kept.pop()
        kept[-1] = Chapter(kept[-1].start, last.end, kept[-1].title)
    if kept:
        kept[0] = Chapter(0.0, kept[0].end, kept[0].title)
    return [f"{_hms(ch.start)} {ch.title}" for ch in kept]


def _hms(seconds: float) -> str:
    s = int(seconds)  # down: a chapter never starts after what it names
    return f"{s // 3600:02d}:{s % 3600 // 60:02d}:{s % 60:02d}"
