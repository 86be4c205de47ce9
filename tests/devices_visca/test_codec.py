"""VISCA codec: golden vectors (protocols.md §4), three feed styles, pairs, garbage."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from councild.sansio import Malformed
from devices.visca import (
    NEED_DATA,
    Ack,
    Completion,
    ControlReply,
    ControlReset,
    Framing,
    IfClear,
    OtherCommand,
    PowerInquiry,
    RecallPreset,
    ReplyError,
    Role,
    StorePreset,
    ViscaCodec,
    ViscaEvent,
    ViscaLocalError,
)

H = bytes.fromhex

# (event, serial bytes) — from protocols.md §4; x = camera address, z = address + 8.
COMMANDS: list[tuple[ViscaEvent, bytes]] = [
    (RecallPreset(address=1, preset=5), H("81 01 04 3F 02 05 FF")),
    (RecallPreset(address=7, preset=0x7F), H("87 01 04 3F 02 7F FF")),
    (StorePreset(address=1, preset=5), H("81 01 04 3F 01 05 FF")),
    (IfClear(address=1), H("81 01 00 01 FF")),
    (PowerInquiry(address=2), H("82 09 04 00 FF")),
    (OtherCommand(address=1, body=H("01 06 04")), H("81 01 06 04 FF")),  # pan-tilt home
]
REPLIES: list[tuple[ViscaEvent, bytes]] = [
    (Ack(address=1, socket=1), H("90 41 FF")),
    (Ack(address=3, socket=2), H("B0 42 FF")),
    (Completion(address=1, socket=1), H("90 51 FF")),
    (Completion(address=1, socket=0), H("90 50 FF")),  # IF_Clear's answer
    (Completion(address=1, socket=0, data=H("02")), H("90 50 02 FF")),  # power: on
    (ReplyError(address=1, socket=0, code=0x01), H("90 60 01 FF")),
    (ReplyError(address=1, socket=0, code=0x02), H("90 60 02 FF")),
    (ReplyError(address=1, socket=0, code=0x03), H("90 60 03 FF")),
    (ReplyError(address=1, socket=1, code=0x04), H("90 61 04 FF")),
    (ReplyError(address=1, socket=1, code=0x05), H("90 61 05 FF")),
    (ReplyError(address=7, socket=2, code=0x41), H("F0 62 41 FF")),
]


def _drain(codec: ViscaCodec) -> list[ViscaEvent]:
    out: list[ViscaEvent] = []
    while (event := codec.next_event()) is not NEED_DATA:
        assert isinstance(event, ViscaEvent)
        out.append(event)
    return out


def _malformed(codec: ViscaCodec) -> Malformed:
    """The next output, which must be a Malformed."""
    event = codec.next_event()
    assert isinstance(event, Malformed), event
    return event


# --- golden vectors --------------------------------------------------------------------------


@pytest.mark.parametrize(("event", "wire"), COMMANDS)
def test_controller_encodes_commands(event: ViscaEvent, wire: bytes) -> None:
    assert ViscaCodec(Role.CONTROLLER, Framing.SERIAL).send(event) == wire


@pytest.mark.parametrize(("event", "wire"), REPLIES)
def test_camera_encodes_replies(event: ViscaEvent, wire: bytes) -> None:
    assert ViscaCodec(Role.CAMERA, Framing.SERIAL).send(event) == wire


def test_ip_header_golden_vectors() -> None:
    controller = ViscaCodec(Role.CONTROLLER, Framing.IP)
    # control reset: type 0200, length 1, seq 0, payload 01
    assert controller.send(ControlReset()) == H("02 00 00 01 00 00 00 00 01")
    # then a command: type 0100, length 7, seq 1
    assert controller.send(RecallPreset(address=1, preset=5)) == H(
        "01 00 00 07 00 00 00 01 81 01 04 3F 02 05 FF"
    )
    # an inquiry: type 0110
    assert controller.send(PowerInquiry(address=1)) == H("01 10 00 05 00 00 00 02 81 09 04 00 FF")
    camera = ViscaCodec(Role.CAMERA, Framing.IP)
    # a reply echoes the request's number: type 0111
    assert camera.send(Ack(address=1, socket=1, seq=0x01020304)) == H(
        "01 11 00 03 01 02 03 04 90 41 FF"
    )
    assert camera.send(ControlReply(seq=0)) == H("02 01 00 01 00 00 00 00 01")


def test_sequence_numbers_wrap_at_32_bits() -> None:
    controller = ViscaCodec(Role.CONTROLLER, Framing.IP)
    controller._next_seq = 0xFFFFFFFF
    assert controller.send(IfClear(address=1))[4:8] == H("FF FF FF FF")
    assert controller.send(IfClear(address=1))[4:8] == H("00 00 00 00")


# --- three feed styles, both framings, both directions -------------------------------------

CASES = [(Role.CAMERA, e, w) for e, w in COMMANDS] + [(Role.CONTROLLER, e, w) for e, w in REPLIES]


def _framed(role: Role, framing: Framing, event: ViscaEvent, wire: bytes) -> tuple[bytes, object]:
    """Bytes of `event` as the other end would send it, and the event the parser must give."""
    if framing is Framing.SERIAL:
        return wire, event
    peer = Role.CONTROLLER if role is Role.CAMERA else Role.CAMERA
    sender = ViscaCodec(peer, Framing.IP)
    seq = 41
    if peer is Role.CONTROLLER:
        sender._next_seq = seq
        data = sender.send(event)
    else:
        data = sender.send(_with_seq(event, seq))
    return data, _with_seq(event, seq)


def _with_seq(event: ViscaEvent, seq: int) -> ViscaEvent:
    fields = {k: getattr(event, k) for k in event.__dataclass_fields__}
    fields["seq"] = seq
    return type(event)(**fields)


@pytest.mark.parametrize("framing", list(Framing))
@pytest.mark.parametrize(("role", "event", "wire"), CASES)
def test_whole(role: Role, framing: Framing, event: ViscaEvent, wire: bytes) -> None:
    data, expected = _framed(role, framing, event, wire)
    codec = ViscaCodec(role, framing)
    codec.receive_data(data)
    assert _drain(codec) == [expected]


@pytest.mark.parametrize("framing", list(Framing))
@pytest.mark.parametrize(("role", "event", "wire"), CASES)
def test_byte_by_byte(role: Role, framing: Framing, event: ViscaEvent, wire: bytes) -> None:
    data, expected = _framed(role, framing, event, wire)
    codec = ViscaCodec(role, framing)
    for byte in data[:-1]:
        codec.receive_data(bytes([byte]))
        assert codec.next_event() is NEED_DATA
    codec.receive_data(data[-1:])
    assert _drain(codec) == [expected]


@pytest.mark.parametrize("framing", list(Framing))
@pytest.mark.parametrize(("role", "event", "wire"), CASES)
def test_trailing_bytes_stay_buffered(
    role: Role, framing: Framing, event: ViscaEvent, wire: bytes
) -> None:
    data, expected = _framed(role, framing, event, wire)
    codec = ViscaCodec(role, framing)
    codec.receive_data(data + data[:2])
    assert _drain(codec) == [expected]
    codec.receive_data(data[2:])
    assert _drain(codec) == [expected]


@pytest.mark.parametrize("framing", list(Framing))
def test_pair_round_trip(framing: Framing) -> None:
    controller = ViscaCodec(Role.CONTROLLER, framing)
    camera = ViscaCodec(Role.CAMERA, framing)
    for event, _wire in COMMANDS:
        camera.receive_data(controller.send(event))
        (got,) = _drain(camera)
        assert type(got) is type(event)
        assert {k: getattr(got, k) for k in ("address",)} == {"address": event.address}
        if framing is Framing.IP:
            assert got.seq is not None
            reply = Ack(address=got.address, socket=1, seq=got.seq)  # type: ignore[attr-defined]
            controller.receive_data(camera.send(reply))
            assert _drain(controller) == [reply]


# --- bad input: counted, skipped, never fatal ------------------------------------------------


def test_garbage_before_a_message_is_reported_once_and_the_message_survives() -> None:
    codec = ViscaCodec(Role.CONTROLLER, Framing.SERIAL)
    codec.receive_data(H("12 34 FF 90 41 FF"))
    _malformed(codec)
    assert _drain(codec) == [Ack(address=1, socket=1)]


def test_overlong_serial_message_is_dropped() -> None:
    codec = ViscaCodec(Role.CAMERA, Framing.SERIAL)
    codec.receive_data(bytes([0x81] + [0x01] * 20))
    assert "no terminator" in _malformed(codec).detail
    codec.receive_data(H("81 01 00 01 FF"))
    assert _drain(codec) == [IfClear(address=1)]


@pytest.mark.parametrize(
    "data",
    [
        H("01 00 00 00 00 00 00 01"),  # length 0
        H("01 00 00 40 00 00 00 01") + bytes(64),  # length 64 > 16
        H("03 00 00 03 00 00 00 01 90 41 FF"),  # unknown payload type
        H("01 11 00 03 00 00 00 01 90 41 FF"),  # a reply sent to a camera
        H("01 00 00 03 00 00 00 01 81 01 02"),  # payload without terminator
    ],
)
def test_bad_ip_frames_are_malformed(data: bytes) -> None:
    codec = ViscaCodec(Role.CAMERA, Framing.IP)
    codec.receive_data(data)
    codec.end_datagram()
    _malformed(codec)


def test_incomplete_datagram_is_an_error_and_the_buffer_is_emptied() -> None:
    codec = ViscaCodec(Role.CONTROLLER, Framing.IP)
    codec.receive_data(H("01 11 00 03 00 00"))
    codec.end_datagram()
    assert "incomplete" in _malformed(codec).detail
    codec.receive_data(H("01 11 00 03 00 00 00 09 90 51 FF"))
    assert _drain(codec) == [Completion(address=1, socket=1, seq=9)]


def test_data_after_end_of_stream_is_refused() -> None:
    codec = ViscaCodec(Role.CONTROLLER, Framing.SERIAL)
    codec.receive_data(None)
    codec.receive_data(H("90 41 FF"))
    _malformed(codec)
    assert codec.next_event() is NEED_DATA


@pytest.mark.parametrize(
    "make",
    [
        lambda: RecallPreset(address=0, preset=1),
        lambda: RecallPreset(address=8, preset=1),
        lambda: RecallPreset(address=1, preset=255),  # FF would end the message
        lambda: Ack(address=1, socket=16),
        lambda: OtherCommand(address=1, body=b"\xff"),
        lambda: ControlReply(payload=b""),
    ],
)
def test_invalid_events_cannot_be_built(make: object) -> None:
    with pytest.raises(ViscaLocalError):
        make()  # type: ignore[operator]


def test_a_controller_cannot_send_replies_and_serial_has_no_control() -> None:
    with pytest.raises(ViscaLocalError):
        ViscaCodec(Role.CONTROLLER, Framing.SERIAL).send(Ack(address=1, socket=1))
    with pytest.raises(ViscaLocalError):
        ViscaCodec(Role.CAMERA, Framing.SERIAL).send(RecallPreset(address=1, preset=1))
    with pytest.raises(ViscaLocalError):
        ViscaCodec(Role.CONTROLLER, Framing.SERIAL).send(ControlReset())


# --- arbitrary bytes ---------------------------------------------------------------------------


@settings(max_examples=400)
@given(
    role=st.sampled_from(list(Role)),
    framing=st.sampled_from(list(Framing)),
    chunks=st.lists(st.binary(max_size=64), max_size=20),
    datagrams=st.booleans(),
)
def test_arbitrary_bytes_give_only_events_and_malformed(
    role: Role, framing: Framing, chunks: list[bytes], datagrams: bool
) -> None:
    codec = ViscaCodec(role, framing)
    events = errors = 0
    for chunk in chunks:
        if not chunk:
            continue
        codec.receive_data(chunk)
        if datagrams:
            codec.end_datagram()
        for _ in range(1000):  # bounded: the codec must reach NEED_DATA
            event = codec.next_event()
            if isinstance(event, Malformed):
                errors += 1
                continue
            if event is NEED_DATA:
                break
            assert isinstance(event, ViscaEvent)
            events += 1
        else:
            pytest.fail("next_event() never returned NEED_DATA")
    assert len(codec._buffer) <= 1024
    assert events + errors <= sum(len(c) for c in chunks)  # nothing made up from nothing


@settings(max_examples=200)
@given(
    good=st.lists(st.sampled_from(REPLIES), min_size=1, max_size=5),
    junk=st.binary(max_size=20).filter(lambda b: 0xFF not in b),
)
def test_good_messages_after_junk_are_still_found(
    good: list[tuple[ViscaEvent, bytes]], junk: bytes
) -> None:
    codec = ViscaCodec(Role.CONTROLLER, Framing.SERIAL)
    codec.receive_data(junk + b"\xff" + b"".join(w for _, w in good))
    found = []
    while (event := codec.next_event()) is not NEED_DATA:
        if not isinstance(event, Malformed):
            found.append(event)
    assert found[-len(good) :] == [e for e, _ in good]
