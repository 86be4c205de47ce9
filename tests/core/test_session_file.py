"""Chamber and session apart: a session file beside the chamber config, merged before
validation; problems name the file and key they are in; the example still works alone."""

from __future__ import annotations

from pathlib import Path

import pytest

from councild.assembly import roster_from_config
from councild.cli import main
from councild.config import default_path, load
from councild.errors import ConfigError
from councild.labels import agenda_label, party_short

SESSION = """
[session]
title = "Gemeinderat (8. Sitzung)"
date = 2021-09-16
start = 2021-09-16T18:00:00+02:00

[[agenda]]
id = "3"
number = "3"
title = "Bebauungsplan Nr. 47"

[[agenda]]
id = "B"
number = "B"
title = "Nichtöffentliche Sitzung"
public = false

[[councillors]]
id = "huertgen"
name = "Iris Hürtgen"
party = "Christlich Demokratische Union"
role = "chair"
oparl_id = "https://example.org/oparl/person/1"

[[councillors]]
id = "breuer"
name = "Ulf Breuer"
party = "Freie für Hürtgenwald"

[seating]
"1" = "huertgen"
"5" = "breuer"
"""


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_example_config_with_a_session_file(tmp_path: Path) -> None:
    session = _write(tmp_path, "session.toml", SESSION)
    config = load(default_path(), session)
    assert config.session.title == "Gemeinderat (8. Sitzung)"
    assert [c.id for c in config.councillors] == ["huertgen", "breuer"]
    assert config.seat("1").councillor == "huertgen"  # type: ignore[union-attr]
    assert config.seat("5").councillor == "breuer"  # type: ignore[union-attr]
    assert config.seat("2").councillor is None  # type: ignore[union-attr] # unseated
    assert len(config.seats) == 24 and config.devices  # the room is the chamber's
    roster = roster_from_config(config)
    assert roster["agenda"][0]["number"] == "3"
    seats = {s["id"]: s for s in roster["seats"]}
    assert seats["1"]["party"] == "CDU"  # the built-in abbreviation
    assert seats["5"]["party"] == "Freie für Hürtgenwald"  # none known: as given


def test_session_file_named_in_the_chamber(tmp_path: Path, capsys) -> None:
    _write(tmp_path, "session.toml", SESSION + '\n[parties]\n"Freie für Hürtgenwald" = "FFH"\n')
    text = default_path().read_text(encoding="utf-8").replace(
        '[session]\n', '[session]\nfile = "session.toml"\n', 1)
    chamber = _write(tmp_path, "chamber.toml", text)
    config = load(chamber)
    assert config.session.title == "Gemeinderat (8. Sitzung)"
    assert config.party_label("Freie für Hürtgenwald") == "FFH"
    assert main(["check", "-c", str(chamber)]) == 0
    out = capsys.readouterr().out
    assert "councillors: 2 (1 chair, 1 member)" in out and "agenda: 2 items" in out


def test_problems_name_the_file_they_are_in(tmp_path: Path, capsys) -> None:
    bad = SESSION.replace('title = "Bebauungsplan Nr. 47"', 'title = ""').replace(
        '"5" = "breuer"', '"5" = "ghost"\n"99" = "breuer"')
    session = _write(tmp_path, "session.toml", bad)
    with pytest.raises(ConfigError) as err:
        load(default_path(), session)
    assert err.value.problems == [("seating.99", f"no seat '99' in {default_path()}")]
    assert err.value.path == str(session)

    session.write_text(bad.replace('"99" = "breuer"\n', ""), encoding="utf-8")
    chamber_text = default_path().read_text(encoding="utf-8").replace(
        "max_open = 2", 'max_open = "two"')
    chamber = _write(tmp_path, "chamber.toml", chamber_text)
    assert main(["check", "-c", str(chamber), "--session", str(session)]) == 2
    err_text = capsys.readouterr().err
    assert f"{session}: agenda[0].title: String should have at least 1 character" in err_text
    assert f"{chamber}: floor.max_open: Input should be a valid integer" in err_text
    # A cross-check problem of a seating entry: named by its key in the session file.
    chamber.write_text(default_path().read_text(encoding="utf-8"), encoding="utf-8")
    session.write_text(bad.replace('"99" = "breuer"\n', "").replace('title = ""',
                                                                     'title = "x"'))
    assert main(["check", "-c", str(chamber), "--session", str(session)]) == 2
    err_text = capsys.readouterr().err
    assert f"{session}: seating.5: seat '5' names undefined councillor 'ghost'" in err_text


def test_a_session_file_holds_only_the_session(tmp_path: Path) -> None:
    session = _write(tmp_path, "session.toml", SESSION + '\n[devices.desk]\ndriver = "x32"\n')
    with pytest.raises(ConfigError) as err:
        load(default_path(), session)
    assert err.value.problems[0][0] == "devices"
    assert "does not belong in a session file" in err.value.problems[0][1]


def test_missing_session_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as err:
        load(default_path(), tmp_path / "nope.toml")
    assert err.value.path == str(tmp_path / "nope.toml")
    assert err.value.problems[0][0] == "(file)"


def test_seat_plan_names_existing_seats(tmp_path: Path) -> None:
    text = default_path().read_text(encoding="utf-8") + '\n[seat_plan]\n"Ulf Breuer" = "77"\n'
    with pytest.raises(ConfigError) as err:
        load(_write(tmp_path, "c.toml", text))
    assert err.value.problems == [("seat_plan.Ulf Breuer", "undefined seat '77'")]


def test_labels() -> None:
    assert agenda_label("3", "Bebauungsplan Nr. 47") == "Item 3 — Bebauungsplan Nr. 47"
    assert agenda_label("", "Pause") == "Pause"
    assert party_short("Sozialdemokratische Partei Deutschlands") == "SPD"
    assert party_short("Freie für Hürtgenwald", {"Freie für Hürtgenwald": "FFH"}) == "FFH"
    assert party_short("CDU") == "CDU"


def test_labels_in_german() -> None:
    from councild.i18n import set_language

    set_language("de")
    try:
        assert agenda_label("3", "Bebauungsplan Nr. 47") == "TOP 3 — Bebauungsplan Nr. 47"
    finally:
        set_language(None)


async def test_chapters_and_state_carry_the_item_number(short_tmp: Path, capsys) -> None:
    """`export --session-file` finds the session of that file; the chapter, the state the
    TUI and lower third read, and the agenda line all say "Item 3 — title"."""
    from councild.daemon import Daemon
    from councild.model import Grant, Revoke, SetAgenda
    from tui.view import agenda_text

    session = _write(short_tmp, "session.toml", SESSION)
    chamber = _write(short_tmp, "chamber.toml", default_path().read_text(encoding="utf-8")
                     .replace('[obs]\n', '[obs]\nenabled = false\n', 1))
    config = load(chamber, session)
    t = [1_764_000_000.0]
    d = Daemon(config, store_path=short_tmp / "s.db", socket_path=short_tmp / "a.sock",
               clock=lambda: t[0])
    await d.start()
    try:
        d.submit(SetAgenda(item="3"), "test")
        t[0] += 5
        d.submit(Grant(seat="5"), "test")
        state = d.state_dict()
        assert state["agenda"]["label"] == "Item 3 — Bebauungsplan Nr. 47"
        assert agenda_text(state["agenda"]) == "Item 3 — Bebauungsplan Nr. 47"
        assert d.agenda_title() == "Item 3 — Bebauungsplan Nr. 47"  # the lower third's line
        t[0] += 30
        d.submit(Revoke(seat="5"), "test")
    finally:
        await d.stop()
    assert main(["export", "--format", "vtt", "-c", str(chamber), "--session-file",
                 str(session), "--db", str(short_tmp / "s.db")]) == 0
    vtt = capsys.readouterr().out
    assert "Ulf Breuer (Freie für Hürtgenwald) – Item 3 — Bebauungsplan Nr. 47" in vtt
    assert "NOTE Gemeinderat (8. Sitzung) (2021-09-16)" in vtt
