"""The TUI on fixed data, for snapshots: no daemon, no clock (T0 never moves), UTC times."""

from __future__ import annotations

from typing import Any

from tui.app import CouncilApp

T0 = 1764072000.0  # 2026-11-25 12:00:00 UTC

NAMES = [
    ("C", "Chair", "mayor", "Dr. Ursula Brandt", "CDU", "chair"),
    ("1", "01", "schmidt", "Jonas Schmidt", "CDU", "member"),
    ("2", "02", "yilmaz", "Aylin Yılmaz", "SPD", "member"),
    ("3", "03", "weber", "Katrin Weber", "Grüne", "member"),
    ("4", "04", "fischer", "Thomas Fischer", "CDU", "member"),
    ("5", "05", "nowak", "Ewa Nowak-Schimmelpfennig", "FDP", "member"),
    ("6", "06", "klein", "Peter Klein", "SPD", "member"),
    ("7", "07", "braun", "Sabine Braun", "Linke", "member"),
    ("8", "08", "hoffmann", "Jürgen Hoffmann", "AfD", "member"),
    ("9", "09", "wolf", "Miriam Wolf", "Grüne", "member"),
    ("10", "10", "schulz", "Lena Schulz", "SPD", "member"),
    ("11", "11", "koch", "Stefan Koch", "CDU", "member"),
]
MICS = {"C": "on", "2": "on", "4": "on", "3": "requesting", "7": "requesting",
        "9": "requesting"}
TALKING = {"2", "C"}
LEVELS = {"C": -31.0, "2": -18.4, "4": -52.0}
REMOTE = {"9"}


def fixture_state() -> dict[str, Any]:
    seats = [
        {"id": sid, "label": label, "councillor": cid, "name": name, "party": party,
         "role": role, "mic": MICS.get(sid, "off"), "talking": sid in TALKING,
         "level": LEVELS.get(sid), "source": {"device": "desk", "channel": i + 1},
         "remote": sid in REMOTE}
        for i, (sid, label, cid, name, party, role) in enumerate(NAMES)
    ]
    return {
        "session": {"key": "2026-11-25-stadtrat", "title": "Stadtrat Musterstadt – 12. Sitzung",
                    "date": "2026-11-25"},
        "now": T0,
        "mode": "request",
        "max_open": 2,
        "priority": False,
        "agenda": {"index": 1, "id": "2", "title": "Haushaltssatzung 2027"},
        "speakers": ["C", "2", "4"],
        "speaking": [
            {"seat": "C", "since": T0 - 3725, "elapsed": 3725.0, "limit": None,
             "warned": False, "over": False},
            {"seat": "2", "since": T0 - 275, "elapsed": 275.0, "limit": 300.0,
             "warned": True, "over": False},
            {"seat": "4", "since": T0 - 312, "elapsed": 312.0, "limit": 300.0,
             "warned": True, "over": True},
        ],
        "queue": ["3", "7"],
        "reply_queue": ["9"],
        "waiting": [
            {"seat": "9", "since": T0 - 12, "reply": True},
            {"seat": "3", "since": T0 - 95, "reply": False},
            {"seat": "7", "since": T0 - 40, "reply": False},
        ],
        "seats": seats,
        "devices": {
            "desk": {"driver": "x32", "link": "connected", "detail": "X32 4.06", "errors": 0,
                     "last_seen": T0 - 0.2, "since": T0 - 3600},
            "obs": {"driver": "obs", "link": "connected", "detail": "OBS 31.0", "errors": 0,
                    "last_seen": T0 - 1.5, "since": T0 - 3600},
            "cam1": {"driver": "visca", "link": "lost", "detail": "no reply", "errors": 3,
                     "last_seen": T0 - 95, "since": T0 - 95},
            "bridge": {"driver": "bridge", "link": "reconnecting", "detail": "", "errors": 0,
                       "last_seen": None, "since": T0 - 5},
        },
        "program": {
            "shot": "seat-2", "scene": "Seat 2", "seat": "2", "preview": "wide", "locked": False,
            "lower_third": {"name": "Aylin Yılmaz", "detail": "SPD"},
            "cameras": {"cam1": {"state": "on_air", "preset": 2},
                        "cam2": {"state": "moving", "preset": 7}},
        },
    }


def fixture_log() -> list[dict[str, Any]]:
    return [
        {"time": T0 - 400, "source": "api", "event": {"type": "SetAgenda", "item": "2"},
         "effects": [{"type": "AgendaChanged", "item": "2"}]},
        {"time": T0 - 312, "source": "api", "event": {"type": "Grant", "seat": "4"},
         "effects": [{"type": "OpenMic", "seat": "4"}]},
        {"time": T0 - 275, "source": "desk", "event": {"type": "Grant", "seat": "2"},
         "effects": [{"type": "OpenMic", "seat": "2"}]},
        {"time": T0 - 95, "source": "cam1", "event": {"type": "DeviceStatus", "device": "cam1",
                                                       "link": "lost"}, "effects": []},
        {"time": T0 - 12, "source": "api", "event": {"type": "Request", "seat": "9",
                                                      "reply": True}, "effects": []},
    ]


def make_fixture_app() -> CouncilApp:
    return CouncilApp(None, clock=lambda: T0, fixture=(fixture_state(), fixture_log()))



def fixture_broadcast() -> dict[str, Any]:
    """Live for 1:23:45 at 3.2 Mbit/s dropping frames, recording 1:20:11 with 4 h 10 min
    of disk left, one alarm raised."""
    return {
        "connected": True,
        "stream": {"state": "live", "timecode": 5025.0, "bitrate": 3_200_000,
                   "dropped_percent": 1.8, "skipped_frames": 812, "total_frames": 150750,
                   "congestion": 0.21, "bytes": 2_010_000_000, "reconnects": 0},
        "record": {"state": "recording", "timecode": 4811.0, "bytes": 2_100_000_000,
                   "path": "/srv/rec/2026-11-25 18-00-00.mkv", "minutes_left": 250.0},
        "obs": {"cpu": 7.1, "render_skipped_frames": 0, "render_total_frames": 150750,
                "disk_free": 250 * 60 * 437_000},
        "alarms": [{"alarm": "dropped_frames", "since": T0 - 8, "percent": 1.8}],
        "chapters_supported": False,
    }


def make_broadcast_fixture_app() -> CouncilApp:
    state = fixture_state() | {"broadcast": fixture_broadcast()}
    return CouncilApp(None, clock=lambda: T0, fixture=(state, fixture_log()))
