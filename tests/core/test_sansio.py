"""The shared sans-IO pieces: the NEED_DATA sentinel, Malformed, and the line framer."""

from __future__ import annotations

import pickle

from hypothesis import given
from hypothesis import strategies as st

from councild.sansio import EXCERPT, NEED_DATA, TOO_LONG, LineFramer, Malformed, NeedData


def test_need_data_is_one_value() -> None:
    assert NeedData() is NEED_DATA
    assert repr(NEED_DATA) == "NEED_DATA"
    assert pickle.loads(pickle.dumps(NEED_DATA)) is NEED_DATA


def test_malformed_keeps_a_bounded_excerpt() -> None:
    bad = Malformed.of("line", ValueError("no"), b"x" * 1000)
    assert bad.detail == "no" and len(bad.data) == EXCERPT


def test_lines_across_chunks() -> None:
    framer = LineFramer(limit=10)
    assert framer.feed(b"ab") == []
    assert framer.feed(b"c\nde\n\nf") == [b"abc", b"de", b""]
    assert framer.buffered == 1
    assert framer.feed(b"\n") == [b"f"]


def test_an_overlong_line_is_dropped_whole_and_reported_once() -> None:
    framer = LineFramer(limit=4)
    assert framer.feed(b"123") == []
    assert framer.feed(b"456") == [TOO_LONG]  # past the limit without a newline
    assert framer.feed(b"789" * 100) == []  # still the same line: not reported again
    assert framer.buffered == 0  # and not buffered
    assert framer.feed(b"0\nok\n") == [b"ok"]
    assert framer.feed(b"toolong\nok\n") == [TOO_LONG, b"ok"]


def test_lines_not_taken_stay_buffered() -> None:
    framer = LineFramer(limit=10)
    lines = framer.iter_feed(b"a\nb\nc\n")
    assert next(lines) == b"a"
    lines.close()
    assert framer.feed(b"") == [b"b", b"c"]


@given(st.lists(st.binary(max_size=40), max_size=20), st.integers(min_value=1, max_value=30))
def test_chunking_never_changes_the_lines(chunks: list[bytes], limit: int) -> None:
    """However the bytes arrive, the framer yields the lines of the whole stream, with each
    overlong line replaced by one TOO_LONG."""
    whole = b"".join(chunks)
    expected: list[bytes | object] = []
    *complete, rest = whole.split(b"\n")
    for line in complete:
        expected.append(TOO_LONG if len(line) > limit else line)
    if len(rest) > limit:  # an unfinished line is reported as soon as it outgrows the limit
        expected.append(TOO_LONG)
    framer = LineFramer(limit)
    got = [line for chunk in chunks for line in framer.feed(chunk)]
    assert got == expected
    assert framer.buffered <= limit


def test_end_gives_the_unfinished_last_line() -> None:
    framer = LineFramer(limit=4)
    framer.feed(b"a\nbc")
    assert framer.end() == b"bc"
    assert framer.end() is None  # and resets
    framer.feed(b"toolong")
    assert framer.end() is None  # an overlong last line is not a line
    assert framer.feed(b"ok\n") == [b"ok"]
