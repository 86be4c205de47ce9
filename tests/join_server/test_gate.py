"""The Janus proxy's policy: what a page may send, and what it becomes."""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st

from councild.join.gate import Forward, JanusGate, Refuse, from_janus
from tests.join_server.gate_helpers import body_msg, forwarded, send

ROOM = 1234


def gate() -> JanusGate:
    return JanusGate(ROOM, "Anna Müller", 4242)


def test_session_setup_passes_and_a_chosen_session_id_is_dropped() -> None:
    g = gate()
    assert forwarded(g, {"janus": "create", "transaction": "a", "id": 99}) == \
        {"janus": "create", "transaction": "a"}
    assert forwarded(g, {"janus": "attach", "transaction": "b", "session_id": 1,
                         "plugin": "janus.plugin.videoroom"})["plugin"] == "janus.plugin.videoroom"
    for verb in ("keepalive", "trickle", "detach", "hangup", "destroy"):
        assert forwarded(g, {"janus": verb, "transaction": "c", "session_id": 1})["janus"] == verb


def test_publisher_join_gets_the_configured_name_and_the_chosen_id() -> None:
    out = forwarded(gate(), body_msg({"request": "join", "ptype": "publisher", "room": ROOM,
                                      "display": "Boss #hack ✋", "id": 1}))
    assert out["body"]["display"] == "Anna Müller"
    assert out["body"]["id"] == 4242


def test_one_publisher_join_per_page() -> None:
    g = gate()
    join = body_msg({"request": "join", "ptype": "publisher", "room": ROOM})
    assert isinstance(send(g, join), Forward)
    verdict = send(g, join)
    assert isinstance(verdict, Refuse)
    assert json.loads(verdict.text) == {"janus": "error", "transaction": "t1",
                                        "error": {"code": 403, "reason": "not allowed"}}


def test_subscriber_join_passes_in_the_room_only() -> None:
    g = gate()
    sub = {"request": "join", "ptype": "subscriber", "room": ROOM, "streams": [{"feed": 7}]}
    assert forwarded(g, body_msg(sub))["body"]["streams"] == [{"feed": 7}]
    assert isinstance(send(g, body_msg({**sub, "room": ROOM + 1})), Refuse)
    assert isinstance(send(g, body_msg({**sub, "ptype": "admin"})), Refuse)


def test_configure_cannot_rename_or_record() -> None:
    out = forwarded(gate(), body_msg({"request": "configure", "audio": True, "display": "X",
                                      "record": True, "filename": "/tmp/x", "secret": "s",
                                      "descriptions": [{"mid": "0", "description": "x"}]}))
    assert out["body"] == {"request": "configure", "audio": True}


def test_administration_and_moderation_never_pass() -> None:
    g = gate()
    for request in ("moderate", "kick", "rtp_forward", "stop_rtp_forward", "create", "destroy",
                    "edit", "listparticipants", "list", "exists", "allowed", "enable_recording",
                    "add_remote_publisher", "listforwarders", None, 5):
        verdict = send(g, body_msg({"request": request, "room": ROOM, "secret": "x"}))
        assert isinstance(verdict, Refuse), request
    for verb in ("info", "claim", "ping", "attach_admin", None):
        assert isinstance(send(g, {"janus": verb, "transaction": "x"}), Refuse)
    assert isinstance(send(g, {"janus": "attach", "transaction": "x",
                               "plugin": "janus.plugin.streaming"}), Refuse)
    assert g.refused == 22


def test_credentials_are_stripped() -> None:
    out = forwarded(gate(), {"janus": "keepalive", "session_id": 1, "transaction": "k",
                             "apisecret": "a", "token": "t", "admin_secret": "s"})
    assert out == {"janus": "keepalive", "session_id": 1, "transaction": "k"}


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
       st.dictionaries(st.sampled_from(["request", "room", "ptype", "display", "secret", "id",
                                        "record"]), json_values, max_size=6))
def test_arbitrary_messages_never_carry_a_secret_or_foreign_display(top: dict, body: dict) -> None:
    msg = {**top, "body": body} if top.get("janus") == "message" else top
    verdict = gate().from_browser(json.dumps(msg))
    if isinstance(verdict, Forward):
        out = json.loads(verdict.text)
        assert out["janus"] in {"create", "attach", "message", "trickle", "keepalive", "detach",
                                "hangup", "destroy"}
        inner = out.get("body") if out["janus"] == "message" else {}
        assert "secret" not in inner and "record" not in inner
        if inner.get("request") in ("join", "joinandconfigure"):
            assert inner["room"] == ROOM
            if inner["ptype"] == "publisher":
                assert inner["display"] == "Anna Müller"


# --- what Janus says about others (issue 16, finding 4) -----------------------------------


_json = st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=8),
                     lambda inner: st.lists(inner, max_size=4)
                     | st.dictionaries(st.sampled_from(["id", "display", "feed_id",
                                                        "feed_display", "description",
                                                        "x", "publishers"]), inner,
                                       max_size=5), max_leaves=30)


@given(_json)
def test_from_janus_leaves_no_raw_display_and_no_free_text(value) -> None:
    out = from_janus(json.dumps(value), lambda pid: f"known:{pid}")
    assert out is not None
    stack = [json.loads(out)]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            assert "description" not in item
            for key in ("display", "feed_display"):
                if key in item:
                    assert isinstance(item[key], str) and item[key].startswith("known:")
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


def test_from_janus_drops_what_is_not_json() -> None:
    assert from_janus("not json", str) is None
    assert from_janus("[" * 100 + "]" * 100, str) is None
    joined = {"janus": "event", "plugindata": {"data": {
        "videoroom": "joined", "id": 7, "display": "Anna",
        "publishers": [{"id": 9, "display": "Bernd #secret-token-x", "streams": [
            {"mid": "0", "description": "#secret-token-x"}]}]}}}
    out = from_janus(json.dumps(joined), lambda pid: {"7": "Anna Müller"}.get(pid, "Guest"))
    assert out is not None and "secret" not in out
    data = json.loads(out)["plugindata"]["data"]
    assert data["display"] == "Anna Müller" and data["publishers"][0]["display"] == "Guest"
