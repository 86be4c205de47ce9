"""The Janus proxy's AudioBridge policy: a page joins only as its own councillor, muted."""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st

from councild.join.audio_gate import AudioBridgeGate
from councild.join.gate import Forward, Refuse
from tests.join_server.gate_helpers import body_msg, forwarded, send

ROOM = 2234


def gate() -> AudioBridgeGate:
    return AudioBridgeGate(ROOM, "Anna Müller", 4242)


def test_only_the_audiobridge_may_be_attached() -> None:
    g = gate()
    assert forwarded(g, {"janus": "attach", "transaction": "a", "session_id": 1,
                         "plugin": "janus.plugin.audiobridge"})["plugin"] == \
        "janus.plugin.audiobridge"
    for plugin in ("janus.plugin.videoroom", "janus.plugin.streaming", None):
        assert isinstance(send(g, {"janus": "attach", "transaction": "b", "session_id": 1,
                                   "plugin": plugin}), Refuse)


def test_join_is_as_the_own_councillor_in_group_remote_and_muted() -> None:
    assert isinstance(send(gate(), body_msg({"request": "join", "room": ROOM,
                                             "group": "chamber"})), Refuse)
    out = forwarded(gate(), body_msg({
        "request": "join", "room": ROOM, "display": "Chamber", "id": 900002,
        "group": "remote", "muted": False, "secret": "s", "pin": "p", "token": "t",
        "record": True, "filename": "/tmp/x", "volume": 400, "audio_level_average": 127,
        "bitrate": 32000}))
    assert out["body"] == {"request": "join", "room": ROOM, "display": "Anna Müller",
                           "id": 4242, "group": "remote", "muted": True, "bitrate": 32000}


def test_one_join_per_page_in_the_configured_room_and_never_plain_rtp() -> None:
    g = gate()
    assert isinstance(send(g, body_msg({"request": "join", "room": ROOM + 1})), Refuse)
    assert isinstance(send(g, body_msg({"request": "join", "room": ROOM,
                                        "rtp": {"ip": "203.0.113.9", "port": 5000}})), Refuse)
    assert isinstance(send(g, body_msg({"request": "join", "room": ROOM})), Forward)
    verdict = send(g, body_msg({"request": "join", "room": ROOM}))
    assert isinstance(verdict, Refuse)
    assert json.loads(verdict.text) == {"janus": "error", "transaction": "t1",
                                        "error": {"code": 403, "reason": "not allowed"}}


def test_configure_cannot_unmute_rename_or_regroup() -> None:
    g = gate()
    assert isinstance(send(g, body_msg({"request": "configure", "muted": False})), Refuse)
    out = forwarded(g, {**body_msg({"request": "configure", "muted": True, "display": "X",
                                    "group": "chamber", "record": True, "quality": 5}),
                        "jsep": {"type": "offer", "sdp": "v=0"}})
    assert out["body"] == {"request": "configure", "quality": 5}
    assert out["jsep"] == {"type": "offer", "sdp": "v=0"}
    assert forwarded(g, body_msg({"request": "leave", "secret": "x"}))["body"] == \
        {"request": "leave"}


def test_administration_and_foreign_requests_never_pass() -> None:
    g = gate()
    requests = ("mute", "unmute", "mute_room", "unmute_room", "kick", "kick_all",
                "rtp_forward", "stop_rtp_forward", "listforwarders", "create", "edit",
                "destroy", "exists", "allowed", "list", "listparticipants", "changeroom",
                "play_file", "is_playing", "stop_file", "enable_recording", "enable_mjrs",
                "resetdecoder", None, 5)
    for request in requests:
        verdict = send(g, body_msg({"request": request, "room": ROOM, "secret": "x",
                                    "id": 77}))
        assert isinstance(verdict, Refuse), request
    for verb in ("info", "claim", "ping", None):
        assert isinstance(send(g, {"janus": verb, "transaction": "x"}), Refuse)
    assert g.refused == len(requests) + 4


@given(st.binary(max_size=300))
def test_any_bytes_give_a_verdict(data: bytes) -> None:
    verdict = gate().from_browser(data)
    assert isinstance(verdict, Forward | Refuse)
    json.loads(verdict.text)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=10),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner,
                                                                max_size=4),
    max_leaves=12)


@given(st.dictionaries(st.sampled_from(["janus", "transaction", "body", "plugin", "session_id",
                                        "secret", "id"]), json_values, max_size=6),
       st.dictionaries(st.sampled_from(["request", "room", "display", "secret", "id", "group",
                                        "muted", "rtp", "record"]), json_values, max_size=8))
def test_arbitrary_messages_never_join_as_anyone_else_or_unmuted(top: dict, body: dict) -> None:
    msg = {**top, "body": body} if top.get("janus") == "message" else top
    verdict = gate().from_browser(json.dumps(msg))
    if isinstance(verdict, Forward):
        out = json.loads(verdict.text)
        inner = out.get("body") if out["janus"] == "message" else {}
        assert "secret" not in inner and "record" not in inner and "rtp" not in inner
        assert inner.get("request") in (None, "join", "configure", "leave")
        assert inner.get("muted") in (None, True)
        if inner.get("request") == "join":
            assert (inner["room"], inner["display"], inner["id"], inner["group"]) == \
                (ROOM, "Anna Müller", 4242, "remote")
