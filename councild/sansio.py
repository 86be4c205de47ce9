"""The one sans-IO dialect every wire codec in councild speaks.

A codec never sees a socket. It is fed what arrived and asked for what it made of it:

    codec.receive_data(data)     # bytes that arrived; None: the peer closed (end of stream)
    event = codec.next_event()   # an event, a `Malformed`, or NEED_DATA when nothing is left
    data = codec.send(command)   # a command as the bytes to write

Bad input is never raised from the receive path: it comes out of `next_event()` as a
`Malformed` event, which the driver counts (devices.base.LinkReporter) and which never stops
the events after it. `send` raises `LocalProtocolError` for a command that cannot be encoded:
that is our bug, not the peer's.

Framing shared by several codecs lives here too: `LineFramer` for newline-delimited text
(the control API, the conference units, the serial keypad). The datagram transport is in
councild/datagram.py, because it is asyncio and this module is not.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Final, Protocol, TypeVar

__all__ = [
    "NEED_DATA",
    "TOO_LONG",
    "Codec",
    "LineFramer",
    "Malformed",
    "NeedData",
    "TooLong",
]

EXCERPT = 64  # bytes of the offending input a Malformed keeps (for the log, bounded)


class NeedData:
    """`next_event()`: no complete unit is waiting; feed more with `receive_data`."""

    _instance: NeedData | None = None

    def __new__(cls) -> NeedData:  # one value, compared with `is`
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "NEED_DATA"

    def __reduce__(self) -> str:
        return "NEED_DATA"


NEED_DATA: Final = NeedData()


@dataclass(frozen=True, slots=True)
class Malformed:
    """One unit of input the codec could not read: counted by the driver, never raised."""

    what: str  # which kind of unit or check ("line", "OSC message", "JSON", ...)
    detail: str  # why, for the log
    data: bytes = b""  # the start of the offending unit (at most EXCERPT bytes)

    @classmethod
    def of(cls, what: str, detail: object, data: bytes = b"") -> Malformed:
        return cls(what, str(detail), bytes(data[:EXCERPT]))


EventT = TypeVar("EventT", covariant=True)
CommandT = TypeVar("CommandT", contravariant=True)


class Codec(Protocol[EventT, CommandT]):
    """What every codec offers (see the module's text)."""

    def receive_data(self, data: bytes | None) -> None: ...

    def next_event(self) -> EventT | Malformed | NeedData: ...

    def send(self, command: CommandT) -> bytes: ...


class TooLong:
    """Marker from LineFramer: a line was longer than the limit and was dropped whole."""

    def __repr__(self) -> str:
        return "TOO_LONG"


TOO_LONG: Final = TooLong()


class LineFramer:
    """Bytes in, complete lines out (without the newline; a trailing CR is kept for the codec
    to judge). A line longer than `limit` is dropped up to its newline and reported once as
    TOO_LONG, and never buffered past the limit: memory per peer is bounded by `limit`."""

    def __init__(self, limit: int) -> None:
        self._buf = bytearray()
        self.limit = limit
        self._discarding = False

    @property
    def buffered(self) -> int:
        """Bytes of an incomplete line held."""
        return len(self._buf)

    def feed(self, data: bytes) -> list[bytes | TooLong]:
        """Every complete line in `data` (with what was buffered before)."""
        return list(self.iter_feed(data))

    def iter_feed(self, data: bytes) -> Iterator[bytes | TooLong]:
        """Like `feed`, one line at a time: a chunk of thousands of short lines never becomes
        a list of them all (a server handles one line per turn of the loop). Lines not taken
        when the iterator is dropped stay buffered for the next call."""
        self._buf += data
        pos = 0
        try:
            while True:
                nl = self._buf.find(b"\n", pos)
                if nl < 0:
                    break
                start, pos = pos, nl + 1
                if self._discarding:
                    self._discarding = False
                    continue
                if nl - start > self.limit:
                    yield TOO_LONG
                    continue
                yield bytes(self._buf[start:nl])
        finally:
            del self._buf[:pos]
        if len(self._buf) > self.limit:
            self._buf.clear()
            if not self._discarding:  # once per overlong line, however it arrives
                self._discarding = True
                yield TOO_LONG

    def end(self) -> bytes | None:
        """End of stream: the unfinished last line, which a peer may send without its newline
        (None if nothing is buffered, or the last line was too long). Resets the framer."""
        rest = bytes(self._buf) if self._buf and not self._discarding else None
        self._buf.clear()
        self._discarding = False
        return rest
