"""devices.rtp: packets built by hand with struct are the golden vectors."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from devices.rtp import (
    AUDIO_LEVEL_EXT_ID,
    LEVEL_SILENT,
    LEVEL_TALKING,
    OPUS_PT,
    OPUS_SILENCE,
    RtpError,
    RtpLocalError,
    RtpPacket,
    RtpStream,
    audio_level_element,
    build_packet,
    parse_packet,
)


def hand_built(seq: int, ts: int, ssrc: int, level_byte: int, marker: bool) -> bytes:
    # V=2, X=1, CC=0 | M, PT=111 | seq | ts | ssrc | 0xBEDE, 1 word | id=1 len=0, level, pad, pad
    header = struct.pack("!BBHII", 0x90, (0x80 if marker else 0) | 111, seq, ts, ssrc)
    ext = struct.pack("!HHBBBB", 0xBEDE, 1, 0x10, level_byte, 0, 0)
    return header + ext + b"\xf8\xff\xfe"


def test_golden_talking_packet() -> None:
    stream = RtpStream(1000, sequence=7, timestamp=48_000)
    assert stream.next_packet(LEVEL_TALKING) == hand_built(7, 48_000, 1000, 0x80 | 20, True)
    # the second packet: +1 sequence, +960 samples (20 ms at 48 kHz), no marker
    assert stream.next_packet(LEVEL_SILENT) == hand_built(8, 48_960, 1000, 127, False)


def test_audio_level_byte_carries_voice_flag() -> None:
    assert audio_level_element(20, True) == b"\x94"
    assert audio_level_element(127, False) == b"\x7f"
    with pytest.raises(RtpLocalError):
        audio_level_element(128, False)


def test_sequence_and_timestamp_wrap() -> None:
    stream = RtpStream(1010, sequence=0xFFFF, timestamp=0xFFFFFFFF - 100)
    first = parse_packet(stream.next_packet(30))
    second = parse_packet(stream.next_packet(30))
    assert (first.sequence, second.sequence) == (0xFFFF, 0)
    assert second.timestamp == (0xFFFFFFFF - 100 + 960) & 0xFFFFFFFF
    assert second.ssrc == 1010


def test_parse_round_trip_and_audio_level() -> None:
    packet = parse_packet(hand_built(1, 2, 3, 0x80 | 20, True))
    assert packet.payload_type == OPUS_PT
    assert packet.payload == OPUS_SILENCE
    assert packet.marker
    assert packet.audio_level == (True, 20)
    assert packet.extensions == {AUDIO_LEVEL_EXT_ID: b"\x94"}


def test_parse_skips_csrcs_and_padding() -> None:
    header = struct.pack("!BBHII", 0xA1, 0, 5, 6, 7) + b"\0\0\0\x09"  # P=1, CC=1
    packet = parse_packet(header + b"abc" + b"\0\x02")  # 2 padding bytes
    assert packet.payload == b"abc"
    assert packet.extensions == {}


@pytest.mark.parametrize("data", [b"", b"\x80" * 11, b"\x40" + b"\0" * 20,
                                  struct.pack("!BBHII", 0x90, 111, 0, 0, 0) + b"\xbe\xde\0\x05"])
def test_parse_rejects_garbage(data: bytes) -> None:
    with pytest.raises(RtpError):
        parse_packet(data)


def test_packet_fields_are_validated() -> None:
    with pytest.raises(RtpLocalError):
        RtpPacket(payload_type=128, sequence=0, timestamp=0, ssrc=0, payload=b"")
    with pytest.raises(RtpLocalError):
        RtpPacket(payload_type=1, sequence=0, timestamp=0, ssrc=0, payload=b"",
                  extensions={15: b"x"})
    with pytest.raises(RtpLocalError):
        build_packet(RtpPacket(payload_type=1, sequence=0, timestamp=0, ssrc=0,
                               payload=b"x" * 2000))


@given(st.binary(max_size=200))
def test_parse_arbitrary_bytes_raises_only_rtp_error(data: bytes) -> None:
    try:
        packet = parse_packet(data)
    except RtpError:
        return
    assert len(packet.payload) <= len(data) - 12  # the payload lies within the datagram


@given(seq=st.integers(0, 0xFFFF), ts=st.integers(0, 0xFFFFFFFF),
       ssrc=st.integers(0, 0xFFFFFFFF), pt=st.integers(0, 127), marker=st.booleans(),
       payload=st.binary(max_size=100),
       ext=st.dictionaries(st.integers(1, 14), st.binary(min_size=1, max_size=16), max_size=4))
def test_build_parse_round_trip(seq: int, ts: int, ssrc: int, pt: int, marker: bool,
                                payload: bytes, ext: dict[int, bytes]) -> None:
    packet = RtpPacket(payload_type=pt, sequence=seq, timestamp=ts, ssrc=ssrc,
                       payload=payload, marker=marker, extensions=ext)
    parsed = parse_packet(build_packet(packet))
    assert parsed.payload == payload
    assert (parsed.sequence, parsed.timestamp, parsed.ssrc) == (seq, ts, ssrc)
    assert set(parsed.extensions) == set(ext)
    for key, value in ext.items():
        assert parsed.extensions[key] == value
