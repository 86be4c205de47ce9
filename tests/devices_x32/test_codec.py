"""The sans-IO X32/X-Air codec: golden vectors, feed styles, and arbitrary bytes."""

from __future__ import annotations

import math
import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pythonosc.osc_message import OscMessage as PyOscMessage
from pythonosc.osc_message_builder import OscMessageBuilder

from councild.sansio import Malformed
from devices.x32 import (
    MAX_DATAGRAM,
    MAX_PENDING_EVENTS,
    METER_FLOOR_DBFS,
    NEED_DATA,
    X32,
    XAIR,
    FaderReport,
    GetMute,
    GetName,
    InfoReply,
    MainMuteReport,
    MeterReport,
    MuteReport,
    NameReport,
    OscMessage,
    OtherMessage,
    Probe,
    SetMute,
    StatusReply,
    SubscribeMeters,
    X32Codec,
    X32Event,
    X32LocalError,
    X32RemoteError,
    XInfoReply,
    db_to_fader,
    decode_message,
    encode_message,
    encode_meter_blob,
    fader_to_db,
)


def events_of(codec: X32Codec) -> list[object]:
    out = []
    while (event := codec.next_event()) is not NEED_DATA:
        out.append(event)
    return out


def feed(datagram: bytes, codec: X32Codec | None = None) -> list[object]:
    codec = codec or X32Codec()
    codec.receive_data(datagram)
    return events_of(codec)


def malformed(datagram: bytes, codec: X32Codec | None = None) -> bool:
    """The datagram came out as one Malformed and nothing else (nothing half-decoded)."""
    events = feed(datagram, codec)
    return len(events) == 1 and isinstance(events[0], Malformed)


# --- golden vectors (protocols.md §1) ----------------------------------------------------------


@pytest.mark.parametrize(
    ("position", "db"),
    [
        (1.0, 10.0),
        (0.75, 0.0),
        (0.5, -10.0),
        (0.25, -30.0),
        (0.0625, -60.0),
        (0.0, -90.0),
        (0.875, 5.0),  # 40f-30
        (0.375, -20.0),  # 80f-50
        (0.125, -50.0),  # 160f-70
        (0.03125, -75.0),  # 480f-90
    ],
)
def test_fader_db_mapping_matches_the_protocol_table(position: float, db: float) -> None:
    assert fader_to_db(position) == pytest.approx(db)
    assert db_to_fader(db) == pytest.approx(position)


@given(st.floats(min_value=0.0, max_value=1.0))
def test_fader_db_mapping_is_monotonic_and_invertible(position: float) -> None:
    db = fader_to_db(position)
    assert -90.0 <= db <= 10.0
    assert db_to_fader(db) == pytest.approx(position, abs=1e-9)
    assert fader_to_db(min(position + 0.01, 1.0)) >= db


def test_set_mute_is_an_int_never_a_bool_on_the_wire() -> None:
    codec = X32Codec()
    # "/ch/01/mix/on" (13 chars + 3 NUL), ",i" + 2 NUL, int32 big-endian
    assert codec.send(SetMute(channel=1, on=True)) == b"/ch/01/mix/on\0\0\0,i\0\0\0\0\0\x01"
    assert codec.send(SetMute(channel=1, on=False)) == b"/ch/01/mix/on\0\0\0,i\0\0\0\0\0\x00"
    with pytest.raises(X32LocalError):
        encode_message("/ch/01/mix/on", True)


def test_get_is_the_bare_address() -> None:
    codec = X32Codec()
    assert codec.send(GetMute(channel=12)) == b"/ch/12/mix/on\0\0\0"
    assert codec.send(Probe()) == b"/info\0\0\0"
    assert X32Codec(XAIR).send(Probe()) == b"/xinfo\0\0"
    assert codec.send(GetName(channel=32)) == b"/ch/32/config/name\0\0"


def test_meter_subscription_request() -> None:
    assert X32Codec().send(SubscribeMeters(time_factor=1)) == (
        b"/meters\0,si\0/meters/1\0\0\0\0\0\0\x01")
    with pytest.raises(X32LocalError):
        X32Codec().send(SubscribeMeters(time_factor=0))


def hand_built_meters_1(levels: list[float]) -> bytes:
    """A /meters/1 datagram built with struct only, following protocols.md byte by byte."""
    assert len(levels) == 96
    blob = struct.pack("<i", 96) + struct.pack("<96f", *levels)  # little-endian inside
    return (
        b"/meters/1\0\0\0"  # address, padded to 12
        + b",b\0\0"  # type tags
        + struct.pack(">i", len(blob))  # OSC blob size: big-endian as usual
        + blob  # 388 bytes, already a multiple of 4
    )


def test_hand_built_408_byte_meters_datagram_decodes_to_dbfs() -> None:
    levels = [0.0] * 96
    levels[0] = 1.0  # 0 dBFS
    levels[1] = 0.1  # -20 dBFS
    levels[2] = 0.01  # -40 dBFS
    levels[31] = 0.5  # -6.02 dBFS
    levels[40] = 0.9  # a gate meter: not an input level
    datagram = hand_built_meters_1(levels)
    assert len(datagram) == 408
    [event] = feed(datagram)
    assert isinstance(event, MeterReport)
    assert len(event.inputs) == 32
    assert event.inputs[0] == pytest.approx(0.0, abs=1e-5)
    assert event.inputs[1] == pytest.approx(-20.0, abs=1e-4)
    assert event.inputs[2] == pytest.approx(-40.0, abs=1e-4)
    assert event.inputs[31] == pytest.approx(-6.0206, abs=1e-3)
    assert event.inputs[3] == METER_FLOOR_DBFS  # digital silence, not -inf


def test_our_meter_encoder_produces_the_hand_built_bytes() -> None:
    dbfs = [0.0, -20.0] + [METER_FLOOR_DBFS] * 94
    ours = encode_message("/meters/1", encode_meter_blob(X32, dbfs))
    levels = [1.0, 10 ** (-1.0)] + [0.0] * 94
    assert ours == hand_built_meters_1(levels)


def test_xair_meters_are_int16_in_256ths_of_a_db() -> None:
    raw = [-20 * 256, -90 * 256, 0] + [-32768] * 37
    blob = struct.pack("<i", 40) + struct.pack("<40h", *raw)
    datagram = b"/meters/1\0\0\0,b\0\0" + struct.pack(">i", len(blob)) + blob
    [event] = feed(datagram, X32Codec(XAIR))
    assert isinstance(event, MeterReport)
    assert len(event.inputs) == 16
    assert event.inputs[:3] == (-20.0, -90.0, 0.0)
    assert event.inputs[3] == METER_FLOOR_DBFS  # -128 dB clamped to the common floor


@pytest.mark.parametrize(
    ("datagram", "expected"),
    [
        (encode_message("/ch/05/mix/on", 0), MuteReport(channel=5, on=False)),
        (encode_message("/ch/32/mix/on", 1), MuteReport(channel=32, on=True)),
        (encode_message("/ch/07/mix/fader", 0.75), FaderReport(channel=7, position=0.75)),
        (encode_message("/ch/02/config/name", "Mayor"), NameReport(channel=2, name="Mayor")),
        (encode_message("/main/st/mix/on", 1), MainMuteReport(on=True)),
        (
            encode_message("/info", "V2.07", "osc-server", "X32", "4.06"),
            InfoReply(version="V2.07", server="osc-server", model="X32", firmware="4.06"),
        ),
        (
            encode_message("/xinfo", "10.0.0.5", "X32-01", "X32C", "4.06"),
            XInfoReply(ip="10.0.0.5", name="X32-01", model="X32C", firmware="4.06"),
        ),
        (
            encode_message("/status", "active", "10.0.0.5", "X32-01"),
            StatusReply(state="active", ip="10.0.0.5", name="X32-01"),
        ),
    ],
)
def test_replies_decode_to_typed_events(datagram: bytes, expected: object) -> None:
    assert feed(datagram) == [expected]


def test_unknown_and_out_of_range_channel_addresses_are_other_messages_not_errors() -> None:
    codec = X32Codec(channels=8)
    [ev1] = feed(encode_message("/ch/20/mix/on", 1), codec)  # beyond the configured 8
    [ev2] = feed(encode_message("/bus/01/mix/fader", 0.5), codec)
    assert ev1 == OtherMessage(message=OscMessage("/ch/20/mix/on", (1,)))
    assert isinstance(ev2, OtherMessage)


def test_fader_to_db_on_the_event() -> None:
    assert FaderReport(channel=1, position=0.5).db == pytest.approx(-10.0)


def test_xair_main_bus_is_lr() -> None:
    codec = X32Codec(XAIR)
    assert feed(encode_message("/lr/mix/on", 0), codec) == [MainMuteReport(on=False)]
    assert isinstance(feed(encode_message("/main/st/mix/on", 0), codec)[0], OtherMessage)


@pytest.mark.parametrize(
    "datagram",
    [
        encode_message("/ch/01/mix/on", 2),  # not 0/1
        encode_message("/ch/01/mix/on", 1.0),  # wrong type
        encode_message("/ch/01/mix/on"),  # a GET has no value: never sent by the desk
        encode_message("/ch/01/mix/fader", 1.5),
        encode_message("/ch/01/mix/fader", math.nan),
        encode_message("/ch/01/config/name", 3),
        encode_message("/info", "V2.07", "osc-server"),  # too few strings
        encode_message("/meters/1", b"\x00" * 12),  # wrong blob size
        encode_message("/meters/1", struct.pack("<i", 95) + b"\0" * 384),  # wrong count
        encode_message("/meters/1", struct.pack("<i", 96) + struct.pack("<f", -1.0) * 96),
        encode_message("/meters/1", struct.pack("<i", 96) + struct.pack("<f", math.inf) * 96),
    ],
)
def test_semantically_wrong_messages_are_malformed(datagram: bytes) -> None:
    assert malformed(datagram)  # and nothing half-decoded was queued


# --- feed styles -------------------------------------------------------------------------------
# UDP keeps message boundaries: one datagram is one whole OSC message. "Whole" is the only
# valid feed; a message split over datagrams or followed by more bytes is malformed (it must
# be rejected, not buffered, or one bad datagram would corrupt the next).


def test_feed_whole_datagram() -> None:
    assert feed(encode_message("/ch/03/mix/on", 1)) == [MuteReport(channel=3, on=True)]


def test_feed_in_pieces_every_piece_is_rejected_and_nothing_is_buffered() -> None:
    datagram = encode_message("/ch/03/config/name", "Clerk")
    codec = X32Codec()
    for cut in range(1, len(datagram)):
        for piece in (datagram[:cut], datagram[cut:]):
            assert malformed(piece, codec)
    assert codec.next_event() is NEED_DATA
    codec.receive_data(datagram)  # a later whole datagram is unaffected
    assert events_of(codec) == [NameReport(channel=3, name="Clerk")]


def test_feed_one_byte_at_a_time_yields_no_event() -> None:
    codec = X32Codec()
    for byte in encode_message("/ch/03/mix/on", 1):
        assert malformed(bytes([byte]), codec)
    assert codec.next_event() is NEED_DATA


@pytest.mark.parametrize("trailer", [b"\0\0\0\0", b"/ch/", encode_message("/ch/04/mix/on", 1)])
def test_feed_with_trailing_bytes_is_rejected(trailer: bytes) -> None:
    codec = X32Codec()
    assert malformed(encode_message("/ch/03/mix/on", 1) + trailer, codec)
    assert codec.next_event() is NEED_DATA


def test_bundles_and_oversized_datagrams_are_rejected() -> None:
    with pytest.raises(X32RemoteError, match="bundle"):
        decode_message(b"#bundle\0" + b"\0" * 8)
    with pytest.raises(X32RemoteError):
        decode_message(b"/" + b"a" * MAX_DATAGRAM + b"\0\0\0")


def test_event_queue_is_capped() -> None:
    codec = X32Codec()
    datagram = encode_message("/ch/01/mix/on", 1)
    for _ in range(MAX_PENDING_EVENTS):
        codec.receive_data(datagram)
    with pytest.raises(X32LocalError, match="queue full"):
        codec.receive_data(datagram)
    assert len(events_of(codec)) == MAX_PENDING_EVENTS


def test_edge_values_python_osc_refuses_are_still_valid_osc() -> None:
    for arg in (-(2**31), b""):
        assert decode_message(encode_message("/x", arg)).args == (arg,)


def test_local_errors_for_bad_commands() -> None:
    codec = X32Codec(channels=16)
    for bad in (0, 17, True):
        with pytest.raises(X32LocalError):
            codec.send(SetMute(channel=bad, on=True))
    with pytest.raises(X32LocalError):
        X32Codec(XAIR, channels=32)
    with pytest.raises(X32LocalError):
        encode_message("no-slash")
    with pytest.raises(X32LocalError):
        encode_message("/x", 2**31)
    with pytest.raises(X32LocalError):
        encode_message("/x", "a\0b")


# --- against an independent implementation: python-osc ----------------------------------------

osc_args = st.lists(
    st.one_of(
        # python-osc (1.9) writes -2**31 as an int64 and refuses empty blobs, so the values
        # compared against it stay inside what both implementations accept.
        st.integers(min_value=-(2**31) + 1, max_value=2**31 - 1),
        st.floats(width=32, allow_nan=False),
        st.text(st.characters(blacklist_characters="\0", codec="utf-8"), max_size=20),
        st.binary(min_size=1, max_size=40),
    ),
    max_size=6,
)
osc_address = st.from_regex(r"\A/[a-z0-9]{1,8}(/[a-z0-9]{1,8}){0,3}\Z")


@given(osc_address, osc_args)
def test_encoding_equals_python_osc_and_round_trips(address: str, args: list[object]) -> None:
    ours = encode_message(address, *args)  # type: ignore[arg-type]
    builder = OscMessageBuilder(address)
    for arg in args:
        builder.add_arg(arg)
    if args:  # python-osc always writes the type tag string; a bare GET omits it
        assert ours == builder.build().dgram
    assert decode_message(ours) == OscMessage(address, tuple(args))  # type: ignore[arg-type]
    parsed = PyOscMessage(ours)
    assert parsed.address == address
    assert list(parsed.params) == args


# --- arbitrary bytes ---------------------------------------------------------------------------


@given(st.binary(max_size=600))
def test_arbitrary_bytes_give_one_event_or_one_malformed(data: bytes) -> None:
    for codec in (X32Codec(), X32Codec(XAIR)):
        codec.receive_data(data)
        [event] = events_of(codec)
        assert isinstance(event, X32Event | Malformed)


@given(
    st.sampled_from(
        [
            "/ch/01/mix/on",
            "/ch/16/mix/fader",
            "/ch/09/config/name",
            "/info",
            "/xinfo",
            "/status",
            "/meters/1",
            "/main/st/mix/on",
            "/lr/mix/on",
        ]
    ),
    osc_args,
)
def test_known_addresses_with_arbitrary_arguments_give_one_event_or_one_malformed(
    address: str, args: list[object]
) -> None:
    datagram = encode_message(address, *args)  # type: ignore[arg-type]
    for codec in (X32Codec(), X32Codec(XAIR)):
        codec.receive_data(datagram)
        [event] = events_of(codec)
        assert isinstance(event, X32Event | Malformed)


@given(st.data())
def test_corrupted_valid_datagrams_give_one_event_or_one_malformed(data: st.DataObject) -> None:
    original = data.draw(
        st.sampled_from(
            [
                hand_built_meters_1([0.25] * 96),
                encode_message("/ch/02/config/name", "Mayor"),
                encode_message("/info", "V2.07", "osc-server", "X32", "4.06"),
                encode_message("/ch/01/mix/fader", 0.5),
            ]
        )
    )
    mutated = bytearray(original)
    for _ in range(data.draw(st.integers(min_value=1, max_value=4))):
        i = data.draw(st.integers(min_value=0, max_value=len(mutated) - 1))
        mutated[i] = data.draw(st.integers(min_value=0, max_value=255))
    cut = data.draw(st.integers(min_value=0, max_value=len(mutated)))
    codec = X32Codec()
    codec.receive_data(bytes(mutated[:cut]))
    [event] = events_of(codec)
    assert isinstance(event, X32Event | Malformed)
