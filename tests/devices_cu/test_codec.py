"""DCS 6000-style ASCII codec: protocols.md §3 lines, feed styles, arbitrary bytes."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from councild.errors import LocalProtocolError
from devices.conference import (
    EOF,
    MAX_LINE,
    NEED_DATA,
    Closed,
    CodecState,
    CUEvent,
    DcsCodec,
    DiscussionMode,
    Malformed,
    MaxRequests,
    MaxSpeakers,
    MaxTotalSpeakers,
    MicAllRequestsOff,
    MicInterrupt,
    MicMode,
    MicNextOn,
    MicOff,
    MicOn,
    MicReplyOff,
    MicReplyOn,
    MicRequestOff,
    MicRequestOn,
    MicStatus,
    MicStatusQuery,
)


def drain(codec: DcsCodec) -> list[CUEvent | Malformed]:
    out: list[CUEvent | Malformed] = []
    while (event := codec.next_event()) is not NEED_DATA and event is not EOF:
        assert isinstance(event, CUEvent | Malformed)
        out.append(event)
    return out


# Every command word of protocols.md §3 with the bytes we send for it.
GOLDEN = [
    (MicOn(seat=212), b"mic_on 212\r\n"),
    (MicOff(seat=212), b"mic_off 212\r\n"),
    (MicRequestOn(seat=17), b"mic_request_on 17\r\n"),
    (MicRequestOff(seat=17), b"mic_request_off 17\r\n"),
    (MicAllRequestsOff(), b"mic_all_requests_off\r\n"),
    (MicNextOn(), b"mic_next_on\r\n"),
    (MaxSpeakers(value=8), b"max_speakers 8\r\n"),
    (MaxTotalSpeakers(value=1), b"max_total_speakers 1\r\n"),
    (MaxRequests(value=0), b"max_requests 0\r\n"),
    (MaxRequests(value=250), b"max_requests 250\r\n"),
    (MicMode(mode=DiscussionMode.FIFO), b"mic_mode fifo\r\n"),
    (MicMode(mode=DiscussionMode.VOX), b"mic_mode vox\r\n"),
    (MicInterrupt(on=True), b"mic_interrupt on\r\n"),
    (MicInterrupt(on=False), b"mic_interrupt off\r\n"),
    (MicStatusQuery(), b"mic_status\r\n"),
    (MicReplyOn(seat=1), b"mic_reply_on 1\r\n"),
    (MicReplyOff(seat=65535), b"mic_reply_off 65535\r\n"),
    (
        MicStatus(speakers=(3, 212), requests=(17, 5), max_speakers=2, mode=DiscussionMode.FIFO),
        b"mic_status speakers=3,212 requests=17,5 max_speakers=2 mic_mode=fifo\r\n",
    ),
    (MicStatus(), b"mic_status speakers= requests=\r\n"),
]


@pytest.mark.parametrize(("event", "wire"), GOLDEN)
def test_golden_lines_both_ways(event: CUEvent, wire: bytes) -> None:
    codec = DcsCodec()
    assert codec.send(event) == wire
    codec.receive_data(wire)
    assert drain(codec) == [event]


@pytest.mark.parametrize("ending", [b"\r", b"\n", b"\r\n"])
def test_any_line_ending_and_any_case(ending: bytes) -> None:
    codec = DcsCodec()
    codec.receive_data(b"MIC_ON 212" + ending + b"Mic_Mode AUTO" + ending + b"mic_request_off 17")
    assert drain(codec) == [MicOn(seat=212), MicMode(mode=DiscussionMode.AUTO)]
    codec.receive_data(ending)
    assert drain(codec) == [MicRequestOff(seat=17)]


def test_feed_byte_by_byte() -> None:
    codec = DcsCodec()
    wire = b"mic_request_on 12\r\n"
    for byte in wire[:-2]:
        codec.receive_data(bytes([byte]))
        assert codec.next_event() is NEED_DATA
    codec.receive_data(b"\r")
    assert codec.next_event() == MicRequestOn(seat=12)
    codec.receive_data(b"\n")
    assert codec.next_event() is NEED_DATA


def test_trailing_bytes_stay_buffered() -> None:
    codec = DcsCodec()
    codec.receive_data(b"mic_on 3\r\nmic_of")
    assert drain(codec) == [MicOn(seat=3)]
    codec.receive_data(b"f 3\r\n")
    assert drain(codec) == [MicOff(seat=3)]


@pytest.mark.parametrize(
    "line",
    [
        b"mic_on 0",
        b"mic_on 65536",
        b"mic_on",
        b"mic_on 1 2",
        b"mic_on +5",
        b"mic_on 1_0",
        b"mic_on \xd9\xa3",  # Arabic-Indic digit three: int() would take it
        b"max_speakers 9",
        b"max_requests 251",
        b"mic_mode loud",
        b"mic_interrupt maybe",
        b"mic_next_on 3",
        b"mic_status speakers",
        b"hello world",
    ],
)
def test_bad_lines_are_malformed_events(line: bytes) -> None:
    codec = DcsCodec()
    codec.receive_data(line + b"\r\nmic_on 4\r\n")
    events = drain(codec)
    assert len(events) == 2
    assert isinstance(events[0], Malformed)
    assert events[1] == MicOn(seat=4)


def test_overlong_line_is_reported_once_then_skipped() -> None:
    codec = DcsCodec()
    codec.receive_data(b"x" * (MAX_LINE + 1))
    codec.receive_data(b"y" * MAX_LINE)
    codec.receive_data(b"zz\r\nmic_on 9\r\n")
    events = drain(codec)
    assert [type(e) for e in events] == [Malformed, MicOn]
    assert isinstance(events[0], Malformed)
    assert events[0].detail == "line too long"


def test_status_keys_in_any_order_and_unknown_keys_ignored() -> None:
    codec = DcsCodec()
    codec.receive_data(b"MIC_STATUS mic_mode=MANUAL future=1 requests=4 speakers=\r\n")
    assert drain(codec) == [MicStatus(requests=(4,), mode=DiscussionMode.MANUAL)]


def test_eof_flushes_last_line_then_closed() -> None:
    codec = DcsCodec()
    codec.receive_data(b"mic_on 1\r\nmic_off 1")
    codec.receive_data(b"")
    assert codec.next_event() == MicOn(seat=1)
    assert codec.next_event() == MicOff(seat=1)
    assert isinstance(codec.next_event(), Closed)
    assert codec.state == CodecState.CLOSED
    with pytest.raises(LocalProtocolError):
        codec.receive_data(b"mic_on 2\r\n")


def test_invalid_events_cannot_exist_or_be_sent() -> None:
    with pytest.raises(LocalProtocolError):
        MicOn(seat=0)
    with pytest.raises(LocalProtocolError):
        MaxSpeakers(value=9)
    with pytest.raises(LocalProtocolError):
        DcsCodec().send(Malformed.of("line", "y", b"x"))  # type: ignore[arg-type]


# --- properties ---------------------------------------------------------------------------------


@given(st.binary(max_size=600))
def test_arbitrary_bytes_never_raise(data: bytes) -> None:
    codec = DcsCodec()
    codec.receive_data(data)
    codec.receive_data(b"")
    assert all(isinstance(e, CUEvent | Malformed) for e in drain(codec))
    assert isinstance(codec.next_event(), Closed)


@given(st.lists(st.text(max_size=40), max_size=10))
def test_arbitrary_lines_never_raise(lines: list[str]) -> None:
    codec = DcsCodec()
    codec.receive_data("\r\n".join(lines).encode("utf-8"))
    assert all(isinstance(e, CUEvent | Malformed) for e in drain(codec))


@given(st.binary(max_size=300), st.lists(st.integers(0, 300), max_size=8))
def test_chunking_does_not_change_events(data: bytes, cuts: list[int]) -> None:
    whole = DcsCodec()
    whole.receive_data(data)
    split = DcsCodec()
    bounds = sorted({0, len(data), *(c for c in cuts if c < len(data))})
    for a, b in itertools.pairwise(bounds):
        split.receive_data(data[a:b])
    assert drain(split) == drain(whole)


seats = st.integers(1, 65535)
events = st.one_of(
    st.builds(MicOn, seat=seats),
    st.builds(MicOff, seat=seats),
    st.builds(MicRequestOn, seat=seats),
    st.builds(MicRequestOff, seat=seats),
    st.builds(MaxSpeakers, value=st.integers(1, 8)),
    st.builds(MaxRequests, value=st.integers(0, 250)),
    st.builds(MicMode, mode=st.sampled_from(DiscussionMode)),
    st.builds(
        MicStatus,
        speakers=st.lists(seats, max_size=8).map(tuple),
        requests=st.lists(seats, max_size=30).map(tuple),
        max_speakers=st.none() | st.integers(1, 8),
        mode=st.none() | st.sampled_from(DiscussionMode),
    ),
)


@given(st.lists(events, max_size=20), st.sampled_from([b"\r", b"\n", b"\r\n"]))
def test_round_trip(sent: list[CUEvent], ending: bytes) -> None:
    tx, rx = DcsCodec(line_ending=ending), DcsCodec()
    rx.receive_data(b"".join(tx.send(e) for e in sent))
    assert drain(rx) == sent
