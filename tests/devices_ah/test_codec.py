"""Allen & Heath codecs: golden vectors from protocols.md §2, feed styles, arbitrary bytes."""

from __future__ import annotations

import itertools

import mido
import pytest
from hypothesis import given
from hypothesis import strategies as st

from councild.errors import LocalProtocolError
from devices.allen_heath import (
    EOF,
    NEED_DATA,
    SQ_MUTE_PARAMS,
    AHEvent,
    Closed,
    CodecState,
    Malformed,
    MidiStream,
    MuteQuery,
    MuteState,
    QuCodec,
    SQCodec,
    Strip,
)


def drain(codec: SQCodec | QuCodec) -> list[AHEvent | Malformed]:
    out: list[AHEvent | Malformed] = []
    while (event := codec.next_event()) is not NEED_DATA and event is not EOF:
        assert isinstance(event, AHEvent | Malformed)
        out.append(event)
    return out


# (strip, index, MB, LB) straight from the SQ MIDI protocol table in protocols.md.
SQ_PARAMS = [
    (Strip.INPUT, 1, 0x00, 0x00),
    (Strip.INPUT, 48, 0x00, 0x2F),
    (Strip.LR, 1, 0x00, 0x44),
    (Strip.GROUP, 1, 0x00, 0x30),
    (Strip.GROUP, 12, 0x00, 0x3B),
    (Strip.FX_RETURN, 1, 0x00, 0x3C),
    (Strip.FX_RETURN, 8, 0x00, 0x43),
    (Strip.AUX, 1, 0x00, 0x45),
    (Strip.AUX, 12, 0x00, 0x50),
    (Strip.DCA, 1, 0x02, 0x00),
    (Strip.DCA, 8, 0x02, 0x07),
    (Strip.MUTE_GROUP, 1, 0x04, 0x00),
    (Strip.MUTE_GROUP, 8, 0x04, 0x07),
]


@pytest.mark.parametrize(("strip", "index", "mb", "lb"), SQ_PARAMS)
@pytest.mark.parametrize("midi_channel", [1, 16])
def test_sq_golden_bytes(strip: Strip, index: int, mb: int, lb: int, midi_channel: int) -> None:
    n = 0xB0 | (midi_channel - 1)
    codec = SQCodec(midi_channel)
    select = bytes([n, 0x63, mb, n, 0x62, lb])
    mute_on = select + bytes([n, 0x06, 0x00, n, 0x26, 0x01])
    mute_off = select + bytes([n, 0x06, 0x00, n, 0x26, 0x00])
    get = select + bytes([n, 0x60, 0x7F])
    assert codec.send(MuteState(strip=strip, index=index, muted=True)) == mute_on
    assert codec.send(MuteState(strip=strip, index=index, muted=False)) == mute_off
    assert codec.send(MuteQuery(strip=strip, index=index)) == get
    assert len(mute_on) == 12
    # …and the same bytes decode back (the simulator receives what the driver sends).
    codec.receive_data(mute_on + mute_off + get)
    assert drain(codec) == [
        MuteState(strip=strip, index=index, muted=True),
        MuteState(strip=strip, index=index, muted=False),
        MuteQuery(strip=strip, index=index),
    ]


SQ_INPUT6_ON = bytes.fromhex("B0 63 00 B0 62 05 B0 06 00 B0 26 01")


def test_sq_feed_whole() -> None:
    codec = SQCodec()
    codec.receive_data(SQ_INPUT6_ON)
    assert codec.next_event() == MuteState(index=6, muted=True)
    assert codec.next_event() is NEED_DATA


def test_sq_feed_byte_by_byte() -> None:
    codec = SQCodec()
    for byte in SQ_INPUT6_ON[:-1]:
        codec.receive_data(bytes([byte]))
        assert codec.next_event() is NEED_DATA
    codec.receive_data(SQ_INPUT6_ON[-1:])
    assert codec.next_event() == MuteState(index=6, muted=True)


def test_sq_trailing_bytes_stay_buffered() -> None:
    codec = SQCodec()
    off = bytes.fromhex("B0 63 00 B0 62 05 B0 06 00 B0 26 00")
    codec.receive_data(SQ_INPUT6_ON + off[:7])
    assert drain(codec) == [MuteState(index=6, muted=True)]
    codec.receive_data(off[7:])
    assert drain(codec) == [MuteState(index=6, muted=False)]


def test_sq_running_status_form_decodes() -> None:
    # The same NRPN with running status, as a desk may send it.
    codec = SQCodec()
    codec.receive_data(bytes.fromhex("B0 63 00 62 05 06 00 26 01"))
    assert drain(codec) == [MuteState(index=6, muted=True)]


def test_sq_ignores_other_channels_and_parameters() -> None:
    codec = SQCodec(1)
    fader = bytes.fromhex("B0 63 40 B0 62 00 B0 06 62 B0 26 00")  # input 1 fader level
    other_channel = bytes.fromhex("B1 63 00 B1 62 05 B1 06 00 B1 26 01")
    codec.receive_data(fader + other_channel + bytes.fromhex("C0 05"))
    assert drain(codec) == []
    assert codec.ignored >= 3


def test_sq_bad_mute_value_is_malformed_not_raised() -> None:
    codec = SQCodec()
    codec.receive_data(bytes.fromhex("B0 63 00 B0 62 05 B0 06 00 B0 26 05"))
    events = drain(codec)
    assert len(events) == 1
    assert isinstance(events[0], Malformed)


def test_eof_is_an_event_after_pending_ones() -> None:
    codec = SQCodec()
    codec.receive_data(SQ_INPUT6_ON)
    codec.receive_data(b"")
    assert codec.next_event() == MuteState(index=6, muted=True)
    assert isinstance(codec.next_event(), Closed)
    assert codec.state == CodecState.CLOSED
    with pytest.raises(LocalProtocolError):
        codec.receive_data(b"\xb0")


def test_mido_does_not_expand_running_status_but_we_do() -> None:
    avantis = bytes.fromhex("9B 00 7F 01 7F 02 7F")
    parser = mido.Parser()
    parser.feed(avantis)
    assert [m.note for m in parser] == [0]  # mido 1.3: the two running-status notes are lost
    got = MidiStream().feed(avantis)
    assert got == [mido.Message("note_on", channel=11, note=n, velocity=127) for n in (0, 1, 2)]


def test_realtime_bytes_inside_a_message_do_not_break_it() -> None:
    got = MidiStream().feed(bytes.fromhex("B0 F8 63 FE 00"))
    assert got == [
        mido.Message("clock"),
        mido.Message("active_sensing"),
        mido.Message("control_change", channel=0, control=0x63, value=0),
    ]


def test_sysex_passes_and_oversized_sysex_is_malformed() -> None:
    stream = MidiStream()
    assert stream.feed(bytes.fromhex("F0 00 00 1A 50 F7")) == [
        mido.Message("sysex", data=[0x00, 0x00, 0x1A, 0x50])
    ]
    got = stream.feed(b"\xf0" + b"\x01" * 5000 + b"\xf7" + bytes.fromhex("90 01 7F"))
    assert isinstance(got[0], Malformed)
    assert got[1] == mido.Message("note_on", note=1, velocity=127)


def test_stray_data_is_reported_once_per_run() -> None:
    got = MidiStream().feed(b"\x01\x02\x03\x90\x01\x7f")
    assert [type(m) for m in got] == [Malformed, mido.Message]


# --- Qu / dLive note-on form -----------------------------------------------------------------


def test_qu_golden_bytes() -> None:
    codec = QuCodec(midi_channel=1, first_note=0x20)
    assert codec.send(MuteState(index=1, muted=True)) == bytes.fromhex("90 20 7F 90 20 00")
    assert codec.send(MuteState(index=1, muted=False)) == bytes.fromhex("90 20 3F 90 20 00")
    dlive = QuCodec(midi_channel=12, first_note=0)
    assert dlive.send(MuteState(index=3, muted=True)) == bytes.fromhex("9B 02 7F 9B 02 00")


def test_qu_running_status_avantis_style() -> None:
    codec = QuCodec(midi_channel=12, first_note=0)
    codec.receive_data(bytes.fromhex("9B 00 7F 01 7F 02 7F"))
    assert drain(codec) == [MuteState(index=i, muted=True) for i in (1, 2, 3)]


def test_qu_release_half_is_not_an_event() -> None:
    codec = QuCodec()
    codec.receive_data(bytes.fromhex("90 21 3F 90 21 00"))
    assert drain(codec) == [MuteState(index=2, muted=False)]


def test_qu_cannot_send_non_inputs() -> None:
    with pytest.raises(LocalProtocolError):
        QuCodec().send(MuteState(strip=Strip.LR, index=1, muted=True))


def test_invalid_events_cannot_exist() -> None:
    with pytest.raises(LocalProtocolError):
        MuteState(index=129, muted=True)
    with pytest.raises(LocalProtocolError):
        SQCodec().send(MuteState(index=49, muted=True))  # the SQ has 48 inputs
    with pytest.raises(LocalProtocolError):
        MuteQuery(strip=Strip.DCA, index=9)
    with pytest.raises(LocalProtocolError):
        SQCodec(17)


# --- properties ---------------------------------------------------------------------------------


@given(st.binary(max_size=512))
def test_arbitrary_bytes_never_raise(data: bytes) -> None:
    for codec in (SQCodec(), QuCodec()):
        codec.receive_data(data)
        assert all(isinstance(e, AHEvent | Malformed) for e in drain(codec))


@given(st.binary(max_size=256), st.lists(st.integers(0, 256), max_size=8))
def test_chunking_does_not_change_events(data: bytes, cuts: list[int]) -> None:
    whole = SQCodec()
    whole.receive_data(data)
    split = SQCodec()
    bounds = sorted({0, len(data), *(c for c in cuts if c < len(data))})
    for a, b in itertools.pairwise(bounds):
        split.receive_data(data[a:b])
    assert drain(split) == drain(whole)


mute_events = st.sampled_from(list(SQ_MUTE_PARAMS)).flatmap(
    lambda strip: st.builds(
        MuteState,
        strip=st.just(strip),
        index=st.integers(1, SQ_MUTE_PARAMS[strip][1]),
        muted=st.booleans(),
    )
)


@given(st.lists(mute_events, max_size=20), st.integers(1, 16), st.binary(max_size=16))
def test_sq_round_trip_after_garbage(events: list[MuteState], channel: int, noise: bytes) -> None:
    tx, rx = SQCodec(channel), SQCodec(channel)
    # Noise then a status byte resynchronises the stream; what follows decodes exactly.
    rx.receive_data(noise + b"\xf8")
    drain(rx)
    rx.receive_data(b"".join(tx.send(e) for e in events))
    assert [e for e in drain(rx) if not isinstance(e, Malformed)] == events


@given(mute_events, st.integers(1, 16))
def test_sq_bytes_match_mido_as_second_opinion(event: MuteState, channel: int) -> None:
    """mido builds the same NRPN from the protocol's CC numbers (99, 98, 6, 38, 96)."""
    first = SQ_MUTE_PARAMS[event.strip][0]
    param = first + event.index - 1

    def cc(control: int, value: int) -> bytes:
        msg = mido.Message("control_change", channel=channel - 1, control=control, value=value)
        return bytes(msg.bytes())

    select = cc(99, param >> 7) + cc(98, param & 0x7F)
    codec = SQCodec(channel)
    assert codec.send(event) == select + cc(6, 0) + cc(38, int(event.muted))
    query = MuteQuery(strip=event.strip, index=event.index)
    assert codec.send(query) == select + cc(96, 127)
