"""devices.janus_protocol: Janus messages as Janus 1.1.2 sends them (captured on loopback).

Bad input comes out of next_event() as a Malformed (councild.sansio), never as a raise."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from councild.sansio import NEED_DATA, Malformed
from devices.janus_protocol import (
    Ack,
    JanusError,
    JanusEvent,
    JanusLocalError,
    JanusProtocol,
    JanusTimeout,
    RoomEventKind,
    Success,
)

SID, HID = 1444239060948415, 8518173052711299


def plugin_msg(kind: str, data: dict, tx: str | None = None) -> str:
    msg = {"janus": kind, "session_id": SID, "sender": HID,
           "plugindata": {"plugin": "janus.plugin.videoroom", "data": data}}
    if tx:
        msg["transaction"] = tx
    return json.dumps(msg)


def one(text: str):
    codec = JanusProtocol()
    codec.receive_data(text)
    event = codec.next_event()
    assert codec.next_event() is NEED_DATA
    return event


def test_requests_are_janus_json_with_transactions() -> None:
    codec = JanusProtocol()
    tx1, create = codec.create()
    tx2, attach = codec.attach(SID)
    assert tx1 != tx2
    assert json.loads(create) == {"janus": "create", "transaction": tx1}
    assert json.loads(attach) == {"janus": "attach", "transaction": tx2, "session_id": SID,
                                  "plugin": "janus.plugin.videoroom"}
    tx3, msg = codec.message(SID, HID, {"request": "listparticipants", "room": 7})
    assert json.loads(msg) == {"janus": "message", "transaction": tx3, "session_id": SID,
                               "handle_id": HID,
                               "body": {"request": "listparticipants", "room": 7}}
    _, keep = codec.keepalive(SID)
    assert json.loads(keep)["janus"] == "keepalive"
    with pytest.raises(JanusLocalError):
        codec.message(SID, HID, {"room": 7})


def test_session_success_and_ack() -> None:
    ok = one('{"janus":"success","transaction":"a","data":{"id":1444239060948415}}')
    assert isinstance(ok, Success) and ok.data["id"] == SID and ok.transaction == "a"
    ack = one('{"janus":"ack","session_id":1,"transaction":"e"}')
    assert isinstance(ack, Ack) and ack.transaction == "e"


def test_joined_with_publishers() -> None:
    ev = one(plugin_msg("event", {
        "videoroom": "joined", "room": 42, "description": "Room 42", "id": 1270386536426676,
        "private_id": 4203780664, "publishers": [
            {"id": 8371909598503020, "display": "Anna", "audio_codec": "opus",
             "streams": [{"type": "audio", "mindex": 0, "mid": "0", "codec": "opus"}]}]}, "e"))
    assert isinstance(ev, JanusEvent) and ev.room is not None
    assert ev.room.kind is RoomEventKind.JOINED
    assert ev.room.participant == "1270386536426676"
    (anna,) = ev.room.participants
    assert (anna.id, anna.display, anna.audio_mids) == ("8371909598503020", "Anna", ("0",))


@pytest.mark.parametrize(("data", "kind", "participant"), [
    ({"videoroom": "event", "room": 42, "leaving": 8371909598503020},
     RoomEventKind.LEAVING, "8371909598503020"),
    ({"videoroom": "event", "room": 42, "unpublished": 55}, RoomEventKind.UNPUBLISHED, "55"),
    ({"videoroom": "event", "room": 42, "kicked": 56}, RoomEventKind.KICKED, "56"),
    ({"videoroom": "event", "room": 42, "leaving": "ok"}, RoomEventKind.LEAVING, None),
    ({"videoroom": "talking", "room": 7, "id": 19277, "mindex": 0, "mid": "0",
      "audio-level-dBov-avg": 20.0}, RoomEventKind.TALKING, "19277"),
    ({"videoroom": "stopped-talking", "room": 7, "id": 19277, "mindex": 0, "mid": "0",
      "audio-level-dBov-avg": 73.5}, RoomEventKind.STOPPED_TALKING, "19277"),
    ({"videoroom": "event", "room": 7, "joining": {"id": 9, "display": "Bea"}},
     RoomEventKind.JOINING, "9"),
    ({"videoroom": "event", "room": 7, "id": 9, "display": "Bea ✋"}, RoomEventKind.DISPLAY, "9"),
])
def test_room_events(data: dict, kind: RoomEventKind, participant: str | None) -> None:
    ev = one(plugin_msg("event", data))
    assert isinstance(ev, JanusEvent) and ev.room is not None
    assert ev.room.kind is kind
    assert ev.room.participant == participant


def test_moderation_event() -> None:
    ev = one(plugin_msg("event", {"videoroom": "event", "room": 7, "id": 7815893197053303,
                                  "mid": "0", "moderation": "muted"}))
    assert isinstance(ev, JanusEvent) and ev.room is not None
    assert (ev.room.kind, ev.room.mid, ev.room.muted) == (RoomEventKind.MODERATION, "0", True)


def test_participants_list() -> None:
    ev = one(plugin_msg("success", {"videoroom": "participants", "room": 42, "participants": [
        {"id": 8371909598503020, "display": "Anna", "remote": True, "publisher": True,
         "talking": True},
        {"id": 1270386536426676, "display": "councild", "publisher": False}]}, "h"))
    assert isinstance(ev, Success) and ev.room is not None
    anna, ctl = ev.room.participants
    assert anna.publisher and anna.talking and not ctl.publisher


def test_plugin_error_carries_code() -> None:
    ev = one(plugin_msg("success", {"videoroom": "event", "error_code": 433,
                                    "error": "Unauthorized (wrong secret)"}, "g"))
    assert isinstance(ev, Success) and ev.error is not None
    assert ev.error.code == 433 and ev.error.unauthorized
    assert "wrong secret" in str(ev.error)


def test_core_error_and_timeout() -> None:
    err = one('{"janus":"error","transaction":"x","error":{"code":458,"reason":"No such session"}}')
    assert isinstance(err, JanusError) and (err.code, err.reason) == (458, "No such session")
    assert isinstance(one('{"janus":"timeout","session_id":5}'), JanusTimeout)


@pytest.mark.parametrize("text", ["", "[1]", "{", '{"janus": 5}', '{"janus":"error"}',
                                  '{"janus":"event","plugindata":{"data":3}}',
                                  plugin_msg("event", {"videoroom": "joined", "id": 1}),
                                  plugin_msg("event", {"videoroom": "talking", "id": [1]}),
                                  "x" * 300_000])
def test_garbage_is_one_malformed_event(text: str) -> None:
    codec = JanusProtocol()
    codec.receive_data(text)
    assert isinstance(codec.next_event(), Malformed)
    assert codec.next_event() is NEED_DATA
    codec.receive_data('{"janus":"ack","transaction":"t"}')  # still usable
    assert isinstance(codec.next_event(), Ack)


def test_close_then_data_is_an_error() -> None:
    codec = JanusProtocol()
    codec.receive_data(None)
    codec.receive_data('{"janus":"ack"}')
    assert isinstance(codec.next_event(), Malformed)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8)
    | st.sampled_from(["event", "joined", "talking", "stopped-talking", "participants",
                       "muted", "ok", "audio", "video", "janus.plugin.videoroom"]),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
        st.sampled_from(["janus", "videoroom", "id", "publishers", "participants", "display",
                         "plugindata", "data", "leaving", "moderation", "error_code",
                         "streams", "mid", "type", "room", "transaction", "error"]),
        inner, max_size=5),
    max_leaves=20)


@given(st.text(max_size=200) | st.binary(max_size=200))
def test_arbitrary_text_never_raises(data: str | bytes) -> None:
    codec = JanusProtocol()
    codec.receive_data(data)
    # one event, a message or a Malformed: nothing half-parsed is queued beside it
    assert codec.next_event() is not NEED_DATA
    assert codec.next_event() is NEED_DATA


@given(json_values, st.sampled_from(["event", "success", "ack", "error", "timeout", "x"]))
def test_arbitrary_janus_shaped_json_never_raises(body: object, kind: str) -> None:
    codec = JanusProtocol()
    for msg in ({"janus": kind, "plugindata": {"plugin": "janus.plugin.videoroom",
                                                 "data": body}},
                {"janus": kind, "data": body}, body):
        codec.receive_data(json.dumps(msg))
    # every message either parsed or a Malformed, one event each
    assert len(list(iter(codec.next_event, NEED_DATA))) == 3
