"""The sans-IO obs-websocket codec: golden vectors, the state table, arbitrary input.

Bad input comes out of next_event() as a Malformed (councild.sansio), never as a raise."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from councild.sansio import NEED_DATA, Malformed
from scenes.obs_protocol import (
    BatchExecution,
    Closed,
    Hello,
    Identified,
    Identify,
    ObsEvent,
    ObsLocalProtocolError,
    ObsProtocol,
    ObsProtocolState,
    Request,
    RequestBatch,
    RequestBatchResponse,
    RequestResponse,
    authentication_string,
)

# The worked example of obs-websocket's protocol document ("Creating an authentication
# string"); the expected string is the one obs-websocket-js's own tests pin.
DOC_PASSWORD = "supersecretpassword"
DOC_SALT = "lM1GncleQOaCu9lT1yeUZhFYnqhsLLP1G5lAGo3ixaI="
DOC_CHALLENGE = "+IxH4CnCiqpX1rM9scsNynZzbOe4KhDeYcTNS3PDaeY="
DOC_AUTH = "1Ct943GAT+6YQUUX47Ia/ncufilbe6+oD6lY+5kaCu4="

HELLO_AUTH = json.dumps(
    {
        "op": 0,
        "d": {
            "obsWebSocketVersion": "5.1.0",
            "rpcVersion": 1,
            "authentication": {"challenge": DOC_CHALLENGE, "salt": DOC_SALT},
        },
    }
)
HELLO_OPEN = '{"op":0,"d":{"obsWebSocketVersion":"5.1.0","rpcVersion":1}}'
IDENTIFIED = '{"op":2,"d":{"negotiatedRpcVersion":1}}'
EVENT = json.dumps(
    {
        "op": 5,
        "d": {
            "eventType": "CurrentProgramSceneChanged",
            "eventIntent": 4,
            "eventData": {"sceneName": "Seat 1"},
        },
    }
)
RESPONSE = json.dumps(
    {
        "op": 7,
        "d": {
            "requestType": "SetCurrentProgramScene",
            "requestId": "c1",
            "requestStatus": {"result": False, "code": 600, "comment": "No source was found"},
        },
    }
)
BATCH_RESPONSE = json.dumps(
    {
        "op": 9,
        "d": {
            "requestId": "c2",
            "results": [
                {
                    "requestType": "GetVersion",
                    "requestStatus": {"result": True, "code": 100},
                    "responseData": {"obsVersion": "29.0.2"},
                },
            ],
        },
    }
)


def identified(password: str | None = DOC_PASSWORD) -> ObsProtocol:
    codec = ObsProtocol(password)
    codec.receive_data(HELLO_AUTH)
    codec.send(Identify())
    codec.receive_data(IDENTIFIED)
    while codec.next_event() is not NEED_DATA:
        pass
    return codec


def test_authentication_golden_vector() -> None:
    assert authentication_string(DOC_PASSWORD, DOC_SALT, DOC_CHALLENGE) == DOC_AUTH


def test_handshake_with_auth_produces_exact_identify() -> None:
    codec = ObsProtocol(DOC_PASSWORD)
    assert codec.state is ObsProtocolState.AWAIT_HELLO
    assert codec.next_event() is NEED_DATA
    codec.receive_data(HELLO_AUTH.encode())  # binary frames decode the same
    hello = codec.next_event()
    assert hello == Hello(
        obs_websocket_version="5.1.0", rpc_version=1, challenge=DOC_CHALLENGE, salt=DOC_SALT
    )
    assert codec.state is ObsProtocolState.HELLO
    wire = codec.send(Identify())
    assert json.loads(wire) == {
        "op": 1,
        "d": {"rpcVersion": 1, "eventSubscriptions": 2047, "authentication": DOC_AUTH},
    }
    assert codec.state is ObsProtocolState.IDENTIFYING
    codec.receive_data(IDENTIFIED)
    assert codec.next_event() == Identified(rpc_version=1)
    assert codec.state is ObsProtocolState.IDENTIFIED


def test_identify_without_auth_carries_no_authentication() -> None:
    codec = ObsProtocol(None)
    codec.receive_data(HELLO_OPEN)
    assert isinstance(codec.next_event(), Hello)
    wire = json.loads(codec.send(Identify(event_subscriptions=4)))
    assert wire == {"op": 1, "d": {"rpcVersion": 1, "eventSubscriptions": 4}}


def test_identify_needs_password_when_obs_asks() -> None:
    codec = ObsProtocol(None)
    codec.receive_data(HELLO_AUTH)
    with pytest.raises(ObsLocalProtocolError, match="password"):
        codec.send(Identify())
    assert codec.state is ObsProtocolState.HELLO


def test_request_and_batch_wire_format() -> None:
    codec = identified()
    request = Request(
        request_type="SetCurrentProgramScene",
        request_id=codec.new_request_id(),
        data={"sceneName": "Seat 1"},
    )
    assert json.loads(codec.send(request)) == {
        "op": 6,
        "d": {
            "requestType": "SetCurrentProgramScene",
            "requestId": "c1",
            "requestData": {"sceneName": "Seat 1"},
        },
    }
    batch = RequestBatch(
        request_id=codec.new_request_id(),
        requests=(
            Request(request_type="GetVersion"),
            Request(request_type="Sleep", data={"sleepFrames": 1}),
        ),
        execution=BatchExecution.SERIAL_FRAME,
    )
    assert json.loads(codec.send(batch)) == {
        "op": 8,
        "d": {
            "requestId": "c2",
            "haltOnFailure": False,
            "executionType": 1,
            "requests": [
                {"requestType": "GetVersion"},
                {"requestType": "Sleep", "requestData": {"sleepFrames": 1}},
            ],
        },
    }


def test_responses_and_events_parse() -> None:
    codec = identified()
    for message in (EVENT, RESPONSE, BATCH_RESPONSE):
        codec.receive_data(message)
    assert codec.next_event() == ObsEvent(
        event_type="CurrentProgramSceneChanged", intent=4, data={"sceneName": "Seat 1"}
    )
    response = codec.next_event()
    assert response == RequestResponse(
        request_type="SetCurrentProgramScene",
        request_id="c1",
        ok=False,
        code=600,
        comment="No source was found",
    )
    assert isinstance(response, RequestResponse)
    error = response.error()
    assert (error.code, error.comment) == (600, "No source was found")
    batch = codec.next_event()
    assert isinstance(batch, RequestBatchResponse)
    assert batch.request_id == "c2"
    assert batch.results[0].data == {"obsVersion": "29.0.2"}
    assert codec.next_event() is NEED_DATA


@pytest.mark.parametrize(
    ("message", "state"),
    [
        (EVENT, ObsProtocolState.AWAIT_HELLO),  # events only after Identified
        (RESPONSE, ObsProtocolState.AWAIT_HELLO),
        (IDENTIFIED, ObsProtocolState.AWAIT_HELLO),  # Identified before Hello
        ('{"op":6,"d":{}}', ObsProtocolState.AWAIT_HELLO),  # a client op from the server
        ('{"op":0,"d":{"rpcVersion":1}}', ObsProtocolState.AWAIT_HELLO),  # field missing
        ('{"op":true,"d":{}}', ObsProtocolState.AWAIT_HELLO),  # a bool is not an op code
        ("[1,2]", ObsProtocolState.AWAIT_HELLO),
        ("", ObsProtocolState.AWAIT_HELLO),
    ],
)
def test_unexpected_input_is_malformed_and_keeps_state(
    message: str, state: ObsProtocolState
) -> None:
    codec = ObsProtocol(DOC_PASSWORD)
    codec.receive_data(message)
    assert isinstance(codec.next_event(), Malformed)
    assert codec.state is state
    assert codec.next_event() is NEED_DATA
    codec.receive_data(HELLO_AUTH)  # still usable afterwards
    assert isinstance(codec.next_event(), Hello)


def test_hello_twice_is_an_error() -> None:
    codec = identified()
    codec.receive_data(HELLO_AUTH)
    event = codec.next_event()
    assert isinstance(event, Malformed) and "HELLO" in event.detail
    assert codec.state is ObsProtocolState.IDENTIFIED


@pytest.mark.parametrize(
    "message", [Request(request_type="GetVersion", request_id="x"), Identify()]
)
def test_send_out_of_order_is_a_local_error(message: Any) -> None:
    codec = ObsProtocol(DOC_PASSWORD)
    with pytest.raises(ObsLocalProtocolError):
        codec.send(message)
    assert codec.state is ObsProtocolState.AWAIT_HELLO


def test_unserialisable_request_data_is_a_local_error() -> None:
    codec = identified()
    with pytest.raises(ObsLocalProtocolError):
        codec.send(Request(request_type="X", request_id="1", data={"v": float("nan")}))
    with pytest.raises(ObsLocalProtocolError):
        Request(request_type="", request_id="1")
    assert codec.state is ObsProtocolState.IDENTIFIED


def test_close_is_an_explicit_input() -> None:
    codec = identified()
    codec.receive_close(4009, "Authentication failed.")
    codec.receive_close(None)  # a second close changes nothing
    assert codec.next_event() == Closed(code=4009, reason="Authentication failed.")
    assert codec.next_event() is NEED_DATA
    assert codec.state is ObsProtocolState.CLOSED
    codec.receive_data(EVENT)
    assert isinstance(codec.next_event(), Malformed)
    with pytest.raises(ObsLocalProtocolError):
        codec.send(Request(request_type="GetVersion", request_id="c9"))


def test_end_of_stream_is_a_close_without_a_code() -> None:
    codec = identified()
    codec.receive_data(None)
    assert codec.next_event() == Closed(code=None)
    assert codec.state is ObsProtocolState.CLOSED


def test_message_size_is_capped() -> None:
    codec = ObsProtocol(DOC_PASSWORD, max_message_bytes=100)
    codec.receive_data('{"op":0,"d":{"pad":"' + "x" * 200 + '"}}')
    event = codec.next_event()
    assert isinstance(event, Malformed) and "exceeds" in event.detail


def test_repr_never_shows_the_password() -> None:
    assert DOC_PASSWORD not in repr(ObsProtocol(DOC_PASSWORD))


def _codec_in(state: int) -> ObsProtocol:
    if state == 0:
        return ObsProtocol(DOC_PASSWORD)
    return identified()


@given(data=st.binary(max_size=300), state=st.sampled_from([0, 1]))
def test_arbitrary_bytes_never_raise(data: bytes, state: int) -> None:
    codec = _codec_in(state)
    codec.receive_data(data)
    assert codec.next_event() is not NEED_DATA  # a message or a Malformed, exactly one
    assert codec.next_event() is NEED_DATA


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=20,
)
FIELDS = st.sampled_from(
    [
        "obsWebSocketVersion",
        "rpcVersion",
        "authentication",
        "challenge",
        "salt",
        "negotiatedRpcVersion",
        "eventType",
        "eventIntent",
        "eventData",
        "requestType",
        "requestId",
        "requestStatus",
        "result",
        "code",
        "comment",
        "responseData",
        "results",
    ]
)
OBS_LIKE = st.recursive(
    st.none() | st.booleans() | st.integers(-2, 700) | st.text(max_size=6),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(FIELDS, children, max_size=5),
    max_leaves=25,
)


@given(op=st.integers(-1, 10) | JSON, d=OBS_LIKE | JSON, state=st.sampled_from([0, 1]))
def test_arbitrary_json_messages_never_raise(op: Any, d: Any, state: int) -> None:
    codec = _codec_in(state)
    codec.receive_data(json.dumps({"op": op, "d": d}))
    event = codec.next_event()
    assert event is not NEED_DATA  # any input yields exactly one event (maybe Malformed)
    assert codec.next_event() is NEED_DATA
