"""devices.audiobridge codec: AudioBridge payloads as Janus 1.1.2 sends them (captured on
loopback), requests as its documentation asks, and arbitrary input never crashing it."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from devices.audiobridge import (
    AbEventKind,
    AbParticipant,
    AudioBridgeError,
    create_request,
    join_request,
    mute_request,
    parse_event,
)
from devices.janus_protocol import JanusProtocol, JanusRequestError, Success
from devices.rtp_audio import decoder_args, encoder_args, rms_dbfs, sdp_for

# Captured from Debian's janus 1.1.2 (tests/audio/test_hybrid_audio.py's setup).
OUR_JOIN = {"audiobridge": "joined", "room": 77, "id": 900,
            "participants": [{"id": 1117356387056119, "display": "A", "setup": False,
                              "muted": True}],
            "rtp": {"ip": "127.0.0.1", "port": 40000, "payload_type": 111}}
THEIR_JOIN = {"audiobridge": "joined", "room": 77,
              "participants": [{"id": 1117356387056119, "display": "A", "setup": False,
                                "muted": True}]}
MUTE_CHANGE = {"audiobridge": "event", "room": 77,
               "participants": [{"id": 1117356387056119, "display": "A", "setup": False,
                                 "muted": False}]}
LIST = {"audiobridge": "participants", "room": 77,
        "participants": [{"id": 900, "display": "Chamber", "setup": False, "muted": False},
                         {"id": 1117356387056119, "display": "A", "setup": True,
                          "muted": True, "talking": False}]}
LEAVING = {"audiobridge": "event", "room": 77, "leaving": 7917936894183294}
TALKING = {"audiobridge": "talking", "room": 77, "id": 5, "audio_level_dBov_avg": 30.5}
WRONG_SECRET = {"janus": "success", "session_id": 1, "sender": 2, "transaction": "t",
                "plugindata": {"plugin": "janus.plugin.audiobridge",
                               "data": {"audiobridge": "event", "error_code": 489,
                                        "error": "Unauthorized (wrong secret)"}}}


def test_our_join_carries_our_id_and_where_to_send() -> None:
    event = parse_event(OUR_JOIN)
    assert event.kind is AbEventKind.JOINED
    assert event.participant == "900"
    assert event.rtp == ("127.0.0.1", 40000)
    assert event.participants == (AbParticipant("1117356387056119", "A", muted=True),)


def test_someone_elses_join_and_changes_are_participant_updates() -> None:
    assert parse_event(THEIR_JOIN).kind is AbEventKind.PARTICIPANTS
    change = parse_event(MUTE_CHANGE)
    assert change.kind is AbEventKind.PARTICIPANTS
    assert change.participants[0].muted is False


def test_list_leaving_talking() -> None:
    listed = parse_event(LIST)
    assert listed.kind is AbEventKind.LIST
    assert [p.id for p in listed.participants] == ["900", "1117356387056119"]
    assert listed.participants[1].setup and listed.participants[1].muted
    leaving = parse_event(LEAVING)
    assert (leaving.kind, leaving.participant) == (AbEventKind.LEAVING, "7917936894183294")
    talking = parse_event(TALKING)
    assert (talking.kind, talking.participant) == (AbEventKind.TALKING, "5")
    stopped = parse_event({**TALKING, "audiobridge": "stopped-talking"})
    assert stopped.kind is AbEventKind.STOPPED_TALKING
    assert parse_event({"audiobridge": "created", "room": 7}).kind is AbEventKind.OTHER
    assert parse_event({"audiobridge": "destroyed", "room": 7}).kind is AbEventKind.DESTROYED
    assert parse_event({"audiobridge": "event", "room": 7, "kicked": 3}).participant == "3"


def test_wrong_secret_is_489_and_unauthorized() -> None:
    codec = JanusProtocol()
    codec.receive_data(json.dumps(WRONG_SECRET))
    message = codec.next_event()
    assert isinstance(message, Success) and isinstance(message.error, JanusRequestError)
    assert message.error.code == 489 and message.error.unauthorized


@pytest.mark.parametrize("bad", [
    {"audiobridge": "joined", "id": True, "participants": []},
    {"audiobridge": "joined", "id": 1, "participants": {}},
    {"audiobridge": "joined", "id": 1, "rtp": {"ip": "127.0.0.1", "port": 70000}},
    {"audiobridge": "event", "participants": [{"id": 1, "muted": "yes"}]},
    {"audiobridge": "event", "participants": [{"id": 1, "display": 5}]},
    {"audiobridge": "talking"},
    {"audiobridge": 3},
    {"room": 1},
])
def test_odd_payloads_are_remote_errors(bad: dict) -> None:
    with pytest.raises(AudioBridgeError):
        parse_event(bad)


def test_a_missing_display_or_flag_is_accepted() -> None:
    event = parse_event({"audiobridge": "event", "participants": [{"id": "abc"}]})
    assert event.participants == (AbParticipant("abc", ""),)
    assert parse_event({"audiobridge": "event", "participants": [
        {"id": 1, "display": None}]}).participants[0].display == ""


def test_requests_match_the_plugin_documentation() -> None:
    create = create_request(7, "s", sampling_rate=16000, prebuffer=2)
    assert create["audiolevel_event"] is True and create["allow_rtp_participants"] is True
    assert create["groups"] == ["chamber", "remote"] and create["secret"] == "s"
    assert create["default_prebuffering"] == 2 and create["sampling_rate"] == 16000
    assert "secret" not in create_request(7, None)
    join = join_request(7, display="Chamber", group="chamber", muted=False, participant_id=9,
                        rtp=("127.0.0.1", 5000))
    assert join == {"request": "join", "room": 7, "display": "Chamber", "group": "chamber",
                    "muted": False, "id": 9,
                    "rtp": {"ip": "127.0.0.1", "port": 5000, "payload_type": 111}}
    assert mute_request(7, "s", "12", True) == {"request": "mute", "room": 7, "secret": "s",
                                                "id": 12}
    assert mute_request(7, "s", "ab", False)["request"] == "unmute"


def test_ffmpeg_command_lines_and_sdp() -> None:
    enc = encoder_args("ffmpeg", ["-f", "alsa", "-i", "hw:1"], 5000, bitrate=24000,
                       frame_ms=20, ssrc=7)
    assert enc[-1] == "rtp://127.0.0.1:5000?pkt_size=1200" and "libopus" in enc
    assert enc[enc.index("-b:a") + 1] == "24000"
    dec = decoder_args("ffmpeg", "/tmp/r.sdp", ["-f", "alsa", "hw:1"])
    assert dec[dec.index("-i") + 1] == "/tmp/r.sdp" and dec[-1] == "pipe:1"
    assert "m=audio 6000 RTP/AVP 111" in sdp_for(6000)


def test_rms_dbfs() -> None:
    assert rms_dbfs(b"") == -120.0
    assert rms_dbfs(b"\x00\x00" * 10) == -120.0
    full = (b"\xff\x7f" + b"\x01\x80") * 100  # ±32767: a full-scale square wave
    assert abs(rms_dbfs(full)) < 0.01
    assert rms_dbfs(b"\x01") == -120.0  # half a sample: ignored


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(), children,
                                                                       max_size=4),
    max_leaves=20)


@given(st.dictionaries(st.sampled_from(["audiobridge", "room", "id", "participants", "rtp",
                                        "leaving", "kicked", "display"]) | st.text(),
                       json_values, max_size=6))
def test_arbitrary_payloads_parse_or_raise_our_error(data: dict) -> None:
    try:
        event = parse_event(data)
    except AudioBridgeError:
        return
    assert isinstance(event.kind, AbEventKind)


@given(st.binary(max_size=300))
def test_arbitrary_bytes_never_crash_rms(data: bytes) -> None:
    assert -120.0 <= rms_dbfs(data) <= 0.01
