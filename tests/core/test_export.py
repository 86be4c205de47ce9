"""`councild export`: the speaker timeline from the session record, in CSV, JSON and WebVTT."""

from __future__ import annotations

import csv
import io
import itertools
import json

from hypothesis import given
from hypothesis import strategies as st

from councild.cli import main
from councild.config import parse
from councild.daemon import Daemon
from councild.model import Grant, Next, Request, Revoke, SetAgenda
from tests.chamber import chamber_toml


class Clock:
    def __init__(self, t: float) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


async def record_session(tmp, clock: Clock) -> Daemon:
    d = Daemon(parse(chamber_toml()), store_path=tmp / "s.db", socket_path=tmp / "a.sock",
               clock=clock)
    await d.start()
    start = clock.t
    script = [
        (0, SetAgenda()), (5, Grant(seat="1")), (65, Request(seat="2")),
        (70, Next()), (100, SetAgenda(item="2")), (110, Grant(seat="1")),
        (130, Revoke(seat="2")), (140, Revoke(seat="1")), (150, Grant(seat="3")),
    ]
    for at, event in script:
        clock.t = start + at
        d.submit(event, "test")
    await d.stop()
    return d


async def test_timeline_json_csv_vtt(short_tmp, capsys):
    clock = Clock(1_764_000_000.0)
    await record_session(short_tmp, clock)
    db = str(short_tmp / "s.db")

    assert main(["export", "--db", db, "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    turns = [(t["seat"], t["start"] - 1_764_000_000.0,
              None if t["end"] is None else t["end"] - 1_764_000_000.0, t["agenda_item"])
             for t in data["turns"]]
    assert turns == [("1", 5, 70, "1"), ("2", 70, 130, "1"), ("1", 110, 140, "2"),
                     ("3", 150, None, "2")]
    totals = {t["councillor"]: (t["turns"], round(t["seconds"])) for t in data["totals"]}
    assert totals == {"m1": (2, 95), "m2": (1, 60), "m3": (1, 0)}

    assert main(["export", "--db", db, "--format", "csv"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert [r["name"] for r in rows] == ["Member 1", "Member 2", "Member 1", "Member 3"]
    assert rows[0]["seconds"] == "65.0" and rows[3]["to"] == ""

    assert main(["export", "--db", db, "--format", "vtt", "-o", str(short_tmp / "c.vtt")]) == 0
    vtt = (short_tmp / "c.vtt").read_text()
    assert vtt.startswith("WEBVTT\n")
    lines = vtt.splitlines()
    cues = [(lines[i - 1].split("-")[0], line) for i, line in enumerate(lines) if "-->" in line]
    # Without a recording or stream the session's start is time 0; agenda items and turns
    # in start order, as WebVTT wants.
    assert cues == [("agenda", "00:00:00.000 --> 00:01:40.000"),
                    ("turn", "00:00:05.000 --> 00:01:10.000"),
                    ("turn", "00:01:10.000 --> 00:02:10.000"),
                    ("agenda", "00:01:40.000 --> 00:02:30.000"),
                    ("turn", "00:01:50.000 --> 00:02:20.000"),
                    ("turn", "00:02:30.000 --> 00:02:30.000")]
    assert "Member 2 (P2) – Opening" in vtt
    assert "Member 1 (P1) – Budget" in vtt


async def test_export_of_a_missing_session_is_a_clear_error(short_tmp, capsys):
    clock = Clock(1_764_000_000.0)
    await record_session(short_tmp, clock)
    assert main(["export", "--db", str(short_tmp / "s.db"), "--session", "nope"]) == 1
    assert "no such session: nope" in capsys.readouterr().err


async def record_with_recording(tmp, clock: Clock) -> None:
    """A session whose recording starts 60 s in, pauses from 120 to 150 s, stops at 400 s;
    the agenda moves at 20 s (before the recording), 100, 104 (a quick correction), 200 s."""
    d = Daemon(parse(chamber_toml(extra="""
[[agenda]]
id = "3"
title = "Schools"

[[agenda]]
id = "4"
title = "Any other business"
""")), store_path=tmp / "s.db", socket_path=tmp / "a.sock", clock=clock)
    await d.start()
    start = clock.t
    script: list[tuple[float, object]] = [
        (20, SetAgenda()), (60, ("RecordStateChanged", {"state": "started", "active": True})),
        (70, Grant(seat="1")), (100, SetAgenda(item="2")), (104, SetAgenda(item="3")),
        (120, ("RecordStateChanged", {"state": "paused", "active": True})),
        (150, ("RecordStateChanged", {"state": "resumed", "active": True})),
        (200, SetAgenda(item="4")), (210, Revoke(seat="1")),
        (400, ("RecordStateChanged", {"state": "stopped", "active": False,
                                      "path": "/rec/2026-11-25.mkv"})),
    ]
    for at, what in script:
        clock.t = start + at
        if isinstance(what, tuple):
            d._broadcast_record("obs", what[0], what[1])
        else:
            d.submit(what, "test")  # type: ignore[arg-type]
    await d.stop()


async def test_chapters_on_the_recordings_clock(short_tmp, capsys):
    clock = Clock(1_764_000_000.0)
    await record_with_recording(short_tmp, clock)
    db = str(short_tmp / "s.db")
    # Default origin: the recording. 100 s wall is 40 s in; the pause (30 s) is skipped, so
    # the change at 200 s wall is 200 - 60 - 30 = 110 s in. The item that was current when
    # the recording began starts at zero; "Budget", corrected after 4 s, gives way to
    # "Schools" at the earlier start.
    assert main(["export", "--db", db, "--format", "chapters"]) == 0
    assert capsys.readouterr().out.splitlines() == [
        "00:00:00 Opening", "00:00:40 Schools", "00:01:50 Any other business"]
    assert main(["export", "--db", db, "--format", "chapters", "--origin", "session"]) == 0
    assert capsys.readouterr().out.splitlines() == [
        "00:00:00 Test session", "00:00:20 Opening", "00:01:40 Schools",
        "00:03:20 Any other business"]
    assert main(["export", "--db", db, "--format", "vtt"]) == 0
    vtt = capsys.readouterr().out
    assert "NOTE recording /rec/2026-11-25.mkv" in vtt
    lines = vtt.splitlines()
    turn = lines.index("turn-1")
    # Member 1 from 70 s (10 s in) to 210 s (210 - 60 - 30 = 120 s in).
    assert lines[turn + 1] == "00:00:10.000 --> 00:02:00.000"
    agenda = lines.index("agenda-4")
    assert lines[agenda + 1] == "00:01:50.000 --> 00:05:10.000"  # to the file's end (310 s)
    assert main(["export", "--db", db, "--format", "vtt", "--origin", "stream"]) == 1
    assert "no stream" in capsys.readouterr().err


def test_description_lines_rules():
    from councild.chapters import Chapter, description_lines

    chapters = [Chapter(3.0, 5.0, "Welcome"), Chapter(5.0, 80.0, "Minutes"),
                Chapter(80.0, 85.0, "Close")]
    # First at zero; a too-short first gives way; a too-short last is dropped.
    assert description_lines(chapters) == ["00:00:00 Minutes"]
    assert description_lines([Chapter(0, 4000, "A"), Chapter(4000, None, "B")]) == [
        "00:00:00 A", "01:06:40 B"]
    assert description_lines([]) == []


@given(st.lists(st.floats(0, 20_000, allow_nan=False), max_size=30),
       st.floats(1, 120, allow_nan=False))
def test_description_lines_invariants(starts: list[float], minimum: float) -> None:
    from councild.chapters import Chapter, description_lines

    times = sorted(starts)
    chapters = [Chapter(t, times[i + 1] if i + 1 < len(times) else None, f"item {i}")
                for i, t in enumerate(times)]
    lines = description_lines(chapters, minimum)
    if not chapters:
        assert lines == []
        return
    assert lines[0].startswith("00:00:00 ")
    seconds = [int(h) * 3600 + int(m) * 60 + int(s)
               for h, m, s in (line.split(" ", 1)[0].split(":") for line in lines)]
    assert seconds == sorted(seconds)
    for a, b in itertools.pairwise(seconds):
        assert b - a >= int(minimum) - 1  # HH:MM:SS rounds each start down
