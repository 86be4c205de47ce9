"""`councild oparl meetings|import` against the recorded Hürtgenwald server (SD.NET RIM,
OParl 1.0) on 127.0.0.1: every expected value is read from the recorded files here, not
through councild's parser."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import pytest

from councild.oparl.model import clean
from tests.oparl.server import RecordedOParl
from tests.oparl.support import (
    DAY_8,
    GEMEINDERAT,
    MEETING_8,
    MEETING_10,
    all_items,
    chamber_toml,
    cli,
    expected_members,
    local,
    read_toml,
    recorded_meeting,
)

pytestmark = pytest.mark.timeout(90)


def _chamber(tmp_path: Path, oparl: RecordedOParl) -> Path:
    path = tmp_path / "chamber.toml"
    path.write_text(chamber_toml(oparl), encoding="utf-8")
    return path


def _import(oparl: RecordedOParl, tmp_path: Path, meeting: str, *extra: str):
    return cli("oparl", "import", oparl.url("system"), "--meeting", meeting,
               "-c", str(_chamber(tmp_path, oparl)), "-o", str(tmp_path / "session.toml"),
               *extra)


def test_meetings_of_the_gemeinderat_newest_first(oparl: RecordedOParl) -> None:
    result = cli("oparl", "meetings", oparl.url("system"), "--organization", "Gemeinderat")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    recorded = [m for m in all_items(oparl, "body/1/meeting")
                if GEMEINDERAT in m.get("organization", [])]
    assert len(lines) == len(recorded) > 100
    assert f"{len(recorded)} meetings" in result.stderr
    starts = [line.split("\t")[1] for line in lines]
    assert starts == sorted(starts, reverse=True)  # newest first
    assert lines[0].startswith(f"{MEETING_10}\t2021-12-16 18:00\tGemeinderat (10. Sitzung)\t")
    assert f"{MEETING_8}\t2021-09-16 18:00\tGemeinderat (8. Sitzung)\t33 agenda items" in lines
    # The real defect: 21 meetings of this server have no `type`; none is lost for it.
    untyped = [m for m in recorded if "type" not in m]
    for m in untyped:
        assert any(line.startswith(m["id"].rsplit("/", 1)[-1] + "\t") for line in lines)
    # Paging through links.next: all 15 meeting pages were read, with councild's agent.
    assert sum("/meeting" in r for r in oparl.requests) == 15
    assert all(ua.startswith("councild/") for ua in oparl.user_agents)


def test_meetings_between_dates(oparl: RecordedOParl) -> None:
    result = cli("oparl", "meetings", oparl.url("body"), "--organization", "GR",
                 "--from", "2021-07-01", "--to", "2021-09-30")
    assert result.returncode == 0, result.stderr
    names = [line.split("\t")[2] for line in result.stdout.splitlines()]
    assert names == ["Gemeinderat (8. Sitzung)", "Gemeinderat (7. Sitzung)",
                     "Gemeinderat (6. Sitzung)", "Gemeinderat (5. Sitzung)"]


def test_unknown_organization_is_named(oparl: RecordedOParl) -> None:
    result = cli("oparl", "meetings", oparl.url("system"), "--organization", "Stadtrat")
    assert result.returncode == 1
    assert "no organization 'Stadtrat'" in result.stderr and "Gemeinderat" in result.stderr


def test_import_the_8th_meeting_of_the_gemeinderat(oparl: RecordedOParl, tmp_path: Path) -> None:
    result = _import(oparl, tmp_path, MEETING_8)
    assert result.returncode == 0, result.stderr
    session = read_toml(tmp_path / "session.toml")
    recorded = recorded_meeting(oparl, MEETING_8)

    assert session["session"]["title"] == "Gemeinderat (8. Sitzung)"
    assert session["session"]["date"].isoformat() == "2021-09-16"
    assert session["session"]["start"].isoformat() == "2021-09-16T18:00:00+02:00"
    assert session["session"]["oparl_id"] == local(oparl, recorded["id"])

    # 33 agenda items, in order, with number and cleaned name; B and after are non-public.
    agenda = session["agenda"]
    items = recorded["agendaItem"]
    assert len(agenda) == len(items) == 33
    for got, item in zip(agenda, items, strict=True):
        assert got["number"] == item["number"].rstrip(".")
        assert got["title"] == " ".join(item["name"].split())
        assert "\n" not in got["title"] and got["title"] == got["title"].strip()
        assert got["oparl_id"] == local(oparl, item["id"])
    b = next(i for i, a in enumerate(agenda) if a["number"] == "B")
    assert all(a["public"] for a in agenda[:b]) and not any(a["public"] for a in agenda[b:])
    assert "33 agenda items (29 public)" in result.stdout
    assert len({a["id"] for a in agenda}) == 33

    # 29 members whose Gemeinderat membership covers the date, each with their Fraktion.
    expected = expected_members(oparl, DAY_8)
    councillors = {local(oparl, pid): name for pid, name in expected.items()}
    got = {c["oparl_id"]: c for c in session["councillors"]}
    assert len(got) == len(expected) == 29
    assert {pid: c["party"] for pid, c in got.items()} == councillors
    for c in session["councillors"]:
        assert not c["name"].startswith(("Herr ", "Frau ")), c["name"]
    roles = {c["name"]: c["role"] for c in session["councillors"]}
    assert roles["Iris Hürtgen"] == "chair"  # "1. stellv. Bürgermeisterin", as configured
    assert roles["Patrick Kremer"] == "member"  # "2. stellv. Bürgermeister": not mapped
    assert sum(r == "member" for r in roles.values()) == 28

    # The seat plan: 23 placed (22 by name, 1 by person id); the rest listed; a vacated seat.
    ids = {c["name"]: c["id"] for c in session["councillors"]}
    seating = session["seating"]
    assert seating["1"] == ids["Iris Hürtgen"] and seating["24"] == ids["Julia Junges"]
    assert len(seating) == 23 and "2" not in seating
    unseated = re.search(r"without a seat \(add them to \[seat_plan\]\): (.*)", result.stdout)
    assert unseated is not None
    assert sorted(unseated.group(1).split(", ")) == sorted(
        n for n in ids if ids[n] not in seating.values())
    assert "seat 2: Axel Buch of the seat plan is no longer a member" in result.stdout

    # The session runs with the chamber: `councild check` accepts both.
    check = cli("check", "-c", str(tmp_path / "chamber.toml"),
                "--session", str(tmp_path / "session.toml"))
    assert check.returncode == 0, check.stderr
    assert "session: Gemeinderat (8. Sitzung) (2021-09-16)" in check.stdout
    assert "councillors: 29 (1 chair, 28 member)" in check.stdout
    assert "agenda: 33 items" in check.stdout


def test_future_meeting_without_agenda(oparl: RecordedOParl, tmp_path: Path) -> None:
    assert "agendaItem" not in recorded_meeting(oparl, MEETING_10)
    result = _import(oparl, tmp_path, MEETING_10)
    assert result.returncode == 0, result.stderr
    assert "the agenda is empty" in result.stdout
    session = read_toml(tmp_path / "session.toml")
    assert session["session"]["title"] == "Gemeinderat (10. Sitzung)"
    assert session.get("agenda", []) == []
    assert len(session["councillors"]) == len(expected_members(oparl, session["session"]["date"]))
    check = cli("check", "-c", str(tmp_path / "chamber.toml"),
                "--session", str(tmp_path / "session.toml"))
    assert check.returncode == 0, check.stderr


def _alter_agenda(name: str, data: Any) -> Any:
    """The council changed the agenda: item 5 renamed, item 17 withdrawn, an urgent item."""
    if not name.startswith("body/1/meeting"):
        return data
    for m in data["data"]:
        if m["id"].endswith(f"/meeting/{MEETING_8}"):
            items = m["agendaItem"]
            items[5] = {**items[5], "name": "Antrag der CDU-Fraktion: Brikettieranlage (neu)"}
            del items[17]  # "17." Befreiung von der Pflicht ...
            items.insert(19, {"id": items[0]["id"].rsplit("/", 1)[0] + "/99999",
                              "type": "https://schema.oparl.org/1.0/AgendaItem",
                              "number": "19.1", "name": "Dringlichkeitsantrag Hochwasser\n"})
    return data


def test_reimport_after_the_agenda_changed_shows_the_diff(oparl: RecordedOParl,
                                                          tmp_path: Path) -> None:
    assert _import(oparl, tmp_path, MEETING_8).returncode == 0
    out = tmp_path / "session.toml"
    # A hand edit: a speaking limit on item 14; it must survive the re-import.
    text = out.read_text(encoding="utf-8").replace(
        'id = "14"\n', 'id = "14"\nspeaking_limit = { member = 120 }\n', 1)
    out.write_text(text, encoding="utf-8")
    same = _import(oparl, tmp_path, MEETING_8)
    assert same.returncode == 0 and "unchanged" in same.stdout, same.stdout + same.stderr

    oparl.transforms.append(_alter_agenda)
    before = out.read_bytes()
    result = _import(oparl, tmp_path, MEETING_8)
    assert result.returncode == 1
    assert "not written: --write replaces" in result.stderr
    assert out.read_bytes() == before  # nothing overwritten without --write
    diff = [line.strip() for line in result.stdout.splitlines() if line.startswith("  ")]
    assert diff == [
        "- agenda: Item 17 — Befreiung von der Pflicht zur Aufstellung eines "
        "Gesamtabschlusses 2020",
        "~ agenda Item 5 — Antrag der CDU-Fraktion: Brikettieranlage (neu): title "
        "'Antrag der CDU-Fraktion vom 02.09.2021 hier: Grundsatzentscheidung "
        "Brikettieranlage' → 'Antrag der CDU-Fraktion: Brikettieranlage (neu)'",
        "+ agenda: Item 19.1 — Dringlichkeitsantrag Hochwasser",
    ]

    written = _import(oparl, tmp_path, MEETING_8, "--write")
    assert written.returncode == 0, written.stderr
    session = read_toml(out)
    numbers = [a["number"] for a in session["agenda"]]
    assert "17" not in numbers and numbers.index("19.1") == numbers.index("19") + 1
    assert next(a for a in session["agenda"] if a["id"] == "14")["speaking_limit"] == {
        "member": 120}


def test_oparl_1_1_and_external_lists(oparl: RecordedOParl, tmp_path: Path) -> None:
    """The same meeting from a server that speaks 1.1 type URIs, links the agenda items
    instead of embedding them, answers the System's `body` with the Body itself (not a list)
    and puts control characters into names."""
    body = oparl.load("body.json")["data"][0]
    oparl.extra["body/1.json"] = body
    meeting = copy.deepcopy(recorded_meeting(oparl, MEETING_8))
    for item in meeting["agendaItem"]:
        short = item["id"].rsplit("/", 1)[-1]
        oparl.extra[f"body/1/agendaitem/{short}.json"] = {
            **item, "name": item["name"].replace("Antrag", "Antrag\x0b\x01", 1)}
    meeting["agendaItem"] = [i["id"] for i in meeting["agendaItem"]]
    oparl.extra[f"body/1/meeting/{MEETING_8}.json"] = meeting

    def as_1_1(name: str, data: Any) -> Any:
        text = json.dumps(data).replace("schema.oparl.org/1.0/", "schema.oparl.org/1.1/")
        data = json.loads(text)
        if name == "system.json":
            data["body"] = data["body"] + "/1"
        return data

    oparl.transforms.append(as_1_1)
    result = cli("oparl", "import", oparl.url("system"), "--meeting",
                 oparl.url(f"body/1/meeting/{MEETING_8}"), "-o", str(tmp_path / "s.toml"))
    assert result.returncode == 0, result.stderr
    session = read_toml(tmp_path / "s.toml")
    assert len(session["agenda"]) == 33 and len(session["councillors"]) == 29
    titles = [a["title"] for a in session["agenda"]]
    assert "Antrag der CDU-Fraktion vom 02.09.2021 hier: Grundsatzentscheidung " \
           "Brikettieranlage" in titles
    assert not any(re.search(r"[\x00-\x1f]", t) for t in titles)
    assert session["seating"] == {}  # without a chamber config nobody is seated


def test_linked_objects_that_answer_404_are_skipped(oparl: RecordedOParl,
                                                    tmp_path: Path) -> None:
    """Memberships linked by URL, some of which the server has lost (as the real one has:
    missing_ids.json), and an empty organization list answered with 404."""
    missing = [k for k, v in oparl.load("missing_ids.json").items() if v]
    assert missing  # the recording's own list of objects that answered 404

    def link_memberships(name: str, data: Any) -> Any:
        if name.startswith("body/1/person"):
            for person in data["data"]:
                for m in person.get("membership", []):
                    short = m["id"].rsplit("/", 1)[-1]
                    oparl.extra[f"body/1/membership/{short}.json"] = m
                person["membership"] = [m["id"] for m in person.get("membership", [])] + [
                    missing[0]]
        return data

    oparl.transforms.append(link_memberships)
    # Fill the membership objects (the transform registers them on the first person page).
    result = cli("oparl", "import", oparl.url("system"), "--meeting", MEETING_8,
                 "-o", str(tmp_path / "s.toml"))
    assert result.returncode == 0, result.stderr
    session = read_toml(tmp_path / "s.toml")
    expected = expected_members(oparl, DAY_8)
    assert {c["oparl_id"]: c["party"] for c in session["councillors"]} == {
        local(oparl, k): v for k, v in expected.items()}


def test_names_are_cleaned_as_the_files_need() -> None:
    # The defects of the recording, as they appear in it.
    assert clean("Einführung und Verpflichtung des neuen Ratsmitgliedes Bernd Klug ") == \
        "Einführung und Verpflichtung des neuen Ratsmitgliedes Bernd Klug"
    assert clean("Antrag der CDU-Fraktion vom 02.09.2021\nhier: Grundsatzentscheidung") == \
        "Antrag der CDU-Fraktion vom 02.09.2021 hier: Grundsatzentscheidung"
    assert clean("Flur 6, Nr 275\n\n\n\n73") == "Flur 6, Nr 275 73"


async def test_a_list_answering_404_is_empty(oparl: RecordedOParl) -> None:
    """Lists the real server links but answers 404 for (missing_ids.json): read as empty."""
    from councild.oparl.client import NotFound, OParlClient

    missing = oparl.load("missing_ids.json")
    url = next(k for k in missing if k.endswith("/meeting"))
    async with OParlClient() as client:
        assert [o async for o in client.objects(local(oparl, url))] == []
        with pytest.raises(NotFound):
            await client.get(local(oparl, url))
    assert oparl.requests[-1].endswith("/meeting")
