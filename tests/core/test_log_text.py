"""The event log in sentences (councild/log_text.py), in English and German."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from councild import i18n
from councild.log_text import sentence

SEATS = {
    "17": {"id": "17", "label": "17", "name": "Heike Krüger"},
    "5": {"id": "5", "label": "05", "name": "Petra Wagner"},
    "C": {"id": "C", "label": "Chair", "name": "Dr. Ursula Brandt"},
}


def entry(event: dict[str, Any], *effects: dict[str, Any]) -> dict[str, Any]:
    return {"time": 0.0, "source": "api", "event": event, "effects": list(effects)}


CASES: list[tuple[dict[str, Any], str, str]] = [
    (entry({"type": "Request", "seat": "17", "reply": False}),
     "17 Heike Krüger asks to speak", "17 Heike Krüger bittet ums Wort"),
    (entry({"type": "Request", "seat": "17", "reply": True}),
     "17 Heike Krüger asks to reply", "17 Heike Krüger bittet um eine Erwiderung"),
    (entry({"type": "Next"}, {"type": "CloseMic", "seat": "17"}, {"type": "OpenMic", "seat": "5"}),
     "Floor to 05 Petra Wagner (next)", "Wort an 05 Petra Wagner (nächste)"),
    (entry({"type": "Grant", "seat": "5"}, {"type": "OpenMic", "seat": "5"}),
     "Floor to 05 Petra Wagner", "Wort an 05 Petra Wagner"),
    (entry({"type": "Revoke", "seat": "5"}, {"type": "CloseMic", "seat": "5"}),
     "Mic closed: 05 Petra Wagner", "Mikrofon geschlossen: 05 Petra Wagner"),
    (entry({"type": "Priority", "on": True, "seat": None}),
     "Chair priority on", "Vorrang des Vorsitzes an"),
    (entry({"type": "DeviceStatus", "device": "obs", "link": "lost", "detail": "timeout"}),
     "obs lost: timeout", "obs verloren: timeout"),
    (entry({"type": "BroadcastAlarm", "alarm": "stream_reconnecting", "raised": True,
            "attempts": 3}),
     "⚠ Stream reconnecting: 3 attempts", "⚠ Stream verbindet neu: 3 Versuche"),
    (entry({"type": "RecordStateChanged", "state": "stopped", "active": False,
            "path": "/rec/a.mkv"}),
     "Recording stopped: /rec/a.mkv", "Aufnahme beendet: /rec/a.mkv"),
    (entry({"type": "Tick"}, {"type": "SpeakingTimeWarning", "seat": "17", "remaining": 30.0}),
     "17 Heike Krüger: 30 s of speaking time left",
     "17 Heike Krüger: noch 30 s Redezeit"),
]


@pytest.fixture
def german() -> Iterator[None]:
    i18n.set_language("de")
    yield
    i18n.set_language("en")


@pytest.mark.parametrize(("item", "english", "_german"), CASES)
def test_english(item: dict[str, Any], english: str, _german: str) -> None:
    assert sentence(item, SEATS) == english


@pytest.mark.parametrize(("item", "_english", "german_text"), CASES)
def test_german(german: None, item: dict[str, Any], _english: str, german_text: str) -> None:
    assert sentence(item, SEATS) == german_text


def test_agenda_title_where_known() -> None:
    item = entry({"type": "SetAgenda", "item": "2"}, {"type": "AgendaChanged", "item": "2"})
    assert sentence(item, SEATS, {"2": "Budget 2027"}) == "Agenda item 2 Budget 2027"
    assert sentence(item, SEATS) == "Agenda item 2"


def test_unknown_kinds_keep_their_fields() -> None:
    item = entry({"type": "SomethingNew", "x": 1}, {"type": "Effect9", "y": 2})
    assert sentence(item, SEATS) == "SomethingNew x=1 → Effect9 y=2"
    assert sentence({"event": None}, SEATS) == "–"
    # An unknown seat is named by its id.
    assert sentence(entry({"type": "Grant", "seat": "99"}), SEATS) == "Floor to 99"
