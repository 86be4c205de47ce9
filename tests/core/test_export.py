"""`councild export`: the speaker timeline from the session record, in CSV, JSON and WebVTT."""

from __future__ import annotations

import csv
import io
import json

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
    cues = [line for line in vtt.splitlines() if "-->" in line]
    assert cues == ["00:00:05.000 --> 00:01:10.000", "00:01:10.000 --> 00:02:10.000",
                    "00:01:50.000 --> 00:02:20.000", "00:02:30.000 --> 00:02:30.000"]
    assert "Member 2 (P2) – Opening" in vtt
    assert "Member 1 (P1) – Budget" in vtt


async def test_export_of_a_missing_session_is_a_clear_error(short_tmp, capsys):
    clock = Clock(1_764_000_000.0)
    await record_session(short_tmp, clock)
    assert main(["export", "--db", str(short_tmp / "s.db"), "--session", "nope"]) == 1
    assert "no such session: nope" in capsys.readouterr().err
