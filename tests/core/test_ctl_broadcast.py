"""`councild ctl stream start|stop`, `ctl record ...`, and the broadcast in `ctl state`."""

from __future__ import annotations

import pytest

from councild.broadcast_text import broadcast_lines
from councild.cli import _ctl_op, _ctl_request, main
from tests.tui.fixture_app import fixture_broadcast


@pytest.mark.parametrize(("words", "op"), [
    (["stream", "start"], "stream_start"), (["stream", "stop"], "stream_stop"),
    (["record", "start"], "record_start"), (["record", "pause"], "record_pause"),
    (["record", "resume"], "record_resume"), (["record", "stop"], "record_stop"),
    (["stream_start"], "stream_start"),
])
def test_words_become_api_ops(words: list[str], op: str) -> None:
    name, rest = _ctl_op(words[0], words[1:])
    assert name == op
    assert _ctl_request(name, rest, False) == {}


def test_wrong_words_are_a_usage_error() -> None:
    with pytest.raises(ValueError, match=r"start\|stop"):
        _ctl_op("stream", ["pause"])
    with pytest.raises(ValueError, match="usage"):
        _ctl_op("record", [])


def test_ctl_without_a_daemon_fails_cleanly(short_tmp, capsys) -> None:
    assert main(["ctl", "--socket", str(short_tmp / "none.sock"), "stream", "start"]) == 1
    assert "cannot reach councild" in capsys.readouterr().err


def test_state_lines() -> None:
    lines = broadcast_lines(fixture_broadcast())
    assert lines == [
        "● LIVE 01:23:45 · 3.2 Mbit/s · 1.8 % dropped · congestion 21 %",
        "● REC 01:20:11 · 2.1 GB · 4 h 10 min left",
        "⚠ Stream dropping frames: 1.8 % over the last seconds",
    ]
    assert broadcast_lines({"connected": False})[0] == "? stream: OBS not connected"
    off = {"connected": True, "stream": {"state": "stopped"}, "record": {"state": "stopped"},
           "alarms": []}
    assert broadcast_lines(off) == ["○ stream off", "○ not recording"]
