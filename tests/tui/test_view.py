"""The TUI's pure helpers: formatting and tolerance of missing fields."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.tui.fixture_app import T0, fixture_state
from tui import view

pytestmark = pytest.mark.timeout(30)


@pytest.mark.parametrize(("mic", "talking", "expected"), [
    ("off", False, "○ off"),
    ("requesting", False, "? REQ"),
    ("on", False, "● ON"),
    ("on", True, "● ON ♪"),
    ("muted", False, "· muted"),  # a state from a newer daemon still shows its name
    (None, False, "· –"),
])
def test_mic_text_has_symbol_and_word(mic: str | None, talking: bool, expected: str) -> None:
    assert view.mic_text(mic, talking) == expected


@pytest.mark.parametrize(("dbfs", "expected"), [
    (None, "········    "),
    (-90.0, "▯▯▯▯▯▯▯▯ -90"),
    (-60.0, "▯▯▯▯▯▯▯▯ -60"),
    (-30.0, "▮▮▮▮▯▯▯▯ -30"),
    (0.0, "▮▮▮▮▮▮▮▮   0"),
    (6.0, "▮▮▮▮▮▮▮▮   6"),
    (-200.0, "▯▯▯▯▯▯▯▯ -99"),
])
def test_level_bar(dbfs: float | None, expected: str) -> None:
    assert view.level_bar(dbfs) == expected


@given(st.one_of(st.none(), st.floats(allow_nan=False, allow_infinity=False,
                                      min_value=-1e6, max_value=1e6)),
       st.integers(min_value=1, max_value=20))
def test_level_bar_has_constant_width(dbfs: float | None, width: int) -> None:
    # A jumping column would make the roster flicker at 20 Hz.
    assert len(view.level_bar(dbfs, width)) == width + 4


@pytest.mark.parametrize(("seconds", "expected"), [
    (0, "0:00"), (59.9, "0:59"), (61, "1:01"), (3725, "1:02:05"), (-5, "0:00"),
])
def test_duration(seconds: float, expected: str) -> None:
    assert view.duration(seconds) == expected


def test_speaker_status_warns_then_goes_over() -> None:
    assert view.speaker_status(100, None, False, False) == ("no limit", "ok")
    assert view.speaker_status(100, 300, False, False) == ("3:20 left", "ok")
    assert view.speaker_status(275, 300, True, False) == ("⚠ 0:25 left", "warn")
    assert view.speaker_status(312, 300, True, True) == ("✖ OVER +0:12", "over")
    # The local clock may pass the limit before the daemon's flag arrives.
    assert view.speaker_status(301, 300, True, False)[1] == "over"


def test_ago() -> None:
    assert view.ago(None) == "–"
    assert view.ago(0.24) == "0.2s ago"
    assert view.ago(95) == "95s ago"
    assert view.ago(600) == "10min ago"
    assert view.ago(3 * 3600) == "3h ago"


def test_link_text_and_kind() -> None:
    assert view.link_text("connected") == "● connected"
    assert view.link_text("lost") == "✖ LOST"
    assert view.link_text(None) == "? –"
    assert view.device_kind("lost", 0) == "bad"
    assert view.device_kind("connected", 2) == "warn"
    assert view.device_kind("connected", 0) == "ok"
    assert view.device_kind("connected", 0, warning=True) == "warn"


def test_a_device_warning_leads_its_detail() -> None:
    unit = {"link": "connected", "detail": "DCS 6000, manual mode",
            "warning": "the unit allows 4 open mics, the configuration says 2"}
    assert view.device_detail(unit) == ("⚠ the unit allows 4 open mics, the configuration "
                                        "says 2 · DCS 6000, manual mode")
    assert view.device_detail({**unit, "warning": ""}) == "DCS 6000, manual mode"
    assert view.device_detail({"warning": "w"}) == "⚠ w"


def test_get_tolerates_missing_and_mistyped() -> None:
    state = {"program": {"lower_third": None}, "seats": "garbage"}
    assert view.get(state, "program", "shot") is None
    assert view.get(state, "program", "lower_third", "name", default="x") == "x"
    assert view.get(state, "seats", 3, "id") is None
    assert view.get(None, "a") is None


def test_on_air_texts_without_fields() -> None:
    assert view.lock_text({}) == "–"
    assert view.lock_text({"locked": True}) == "🔒 LOCKED"
    assert view.lock_text({"locked": False, "mode": "auto"}) == "follows speaker"
    assert view.lock_text({"locked": False, "mode": "forced", "forced": "seat-3"}) == (
        "⚑ FORCED seat-3")
    assert view.lock_text({"locked": False, "dry_run": True}) == (
        "follows speaker · dry run (OBS offline)")
    assert view.lower_third_text(None) == "–"
    assert view.lower_third_text({"name": "A", "detail": ""}) == "A"
    assert view.camera_text("cam1", {"state": "on_air", "preset": 3}) == "◉ cam1 ON AIR #3"
    assert view.camera_text("cam2", {}) == "? cam2 –"


def test_log_line_and_filter() -> None:
    entry = {"time": T0, "source": "api", "event": {"type": "Grant", "seat": "12"},
             "effects": [{"type": "OpenMic", "seat": "12"}]}
    line = view.log_line(entry)
    assert line == "12:00:00 api    Floor to 12"  # TZ=UTC (conftest); no roster: the id
    seats = {"12": {"id": "12", "label": "12", "name": "Heike Krüger"}}
    line = view.log_line(entry, seats)
    assert line == "12:00:00 api    Floor to 12 Heike Krüger"
    assert view.matches(line, "floor 12")
    assert view.matches(line, "")
    assert not view.matches(line, "revoke")
    assert view.log_line({}) == "– –      –"


def test_find_seats_by_name_label_party() -> None:
    state = fixture_state()
    assert [s["id"] for s in view.find_seats(state, "yilmaz")] == ["2"]  # councillor id
    assert [s["id"] for s in view.find_seats(state, "Yılmaz")] == ["2"]
    assert [s["id"] for s in view.find_seats(state, "grüne")] == ["3", "9"]
    assert [s["id"] for s in view.find_seats(state, "09")] == ["9"]
    assert len(view.find_seats(state, "")) == len(state["seats"])


def test_remote_seat_shows_whether_the_councillor_is_in_the_room() -> None:
    from tui.widgets.tables import SeatTable

    table = SeatTable()
    seat = {"id": "R1", "label": "R1", "name": "Anna", "remote": True, "mic": "off"}
    assert table._row({**seat, "bridge": {"present": True}})[1][0] == "R1 ⇄"
    assert table._row({**seat, "bridge": {"present": False}})[1][0] == "R1 ⇄✕"
    assert table._row(seat)[1][0] == "R1 ⇄"  # an older daemon without the bridge view
