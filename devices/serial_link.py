"""Byte-stream plumbing shared by the stream drivers (MIDI over TCP, CU over serial or TCP).

Two things every stream driver needs and nothing protocol-specific: opening a stream
(TCP with Nagle off and short keepalives, or a serial port through pyserial-asyncio-fast) and
a read loop that pings the peer and declares it lost when it goes silent. Codecs stay
sans-IO; this module is the only place that knows about sockets and ttys.

`asyncio.timeout()` everywhere, never `asyncio.wait_for()`: on Python 3.11, wait_for returns
the inner result (or raises its error) when a cancellation races with completion, and the
cancellation is lost — the device's stop() then waits forever on a reconnect loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from collections.abc import Awaitable, Callable

import serial_asyncio_fast

from councild.errors import ConnectionLostError, OperationTimeoutError
from councild.i18n import _

# A desk or CU on a LAN answers a TCP SYN in milliseconds; 3 s also covers a CU rebooting its
# network stack, and is short enough that the reconnect loop keeps trying often.
CONNECT_TIMEOUT = 3.0
# Kernel keepalive for peers we cannot ping at the protocol level (Qu): probes after 1 s of
# silence, 1 s apart, 2 misses = dead, i.e. a half-open link is noticed in about 3 s.
KEEPALIVE_IDLE = 1
KEEPALIVE_INTERVAL = 1
KEEPALIVE_COUNT = 2
# A clean close of a healthy stream takes a loop iteration; a dead one is not worth waiting for.
CLOSE_TIMEOUT = 1.0
# Bytes asked of the transport per read; a MIDI or CU burst is far smaller.
READ_SIZE = 4096

Clock = Callable[[], float]


async def open_tcp(host: str, port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """Connect with TCP_NODELAY (each command leaves in one segment at once) and keepalive."""
    async with asyncio.timeout(CONNECT_TIMEOUT):
        reader, writer = await asyncio.open_connection(host, port)
    sock: socket.socket | None = writer.get_extra_info("socket")
    if sock is not None:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
        # Not every platform has the fine-grained knobs; the default keepalive still helps.
        with contextlib.suppress(AttributeError, OSError):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE, KEEPALIVE_IDLE)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL, KEEPALIVE_INTERVAL)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPCNT, KEEPALIVE_COUNT)
    return reader, writer


async def open_serial(path: str, baud: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """Open a serial port (or pty) 8N1 and drop whatever the peer sent while nobody listened."""
    async with asyncio.timeout(CONNECT_TIMEOUT):
        reader, writer = await serial_asyncio_fast.open_serial_connection(url=path, baudrate=baud)
    port = getattr(writer.transport, "serial", None)
    if port is not None:
        # Stale notifications queued in the tty would be replayed as if they were new.
        with contextlib.suppress(Exception):
            port.reset_input_buffer()
    return reader, writer


async def close_writer(writer: asyncio.StreamWriter | None) -> None:
    """Close a stream without letting a dead peer's errors escape the cleanup path."""
    if writer is None:
        return
    writer.close()
    with contextlib.suppress(Exception):
        async with asyncio.timeout(CLOSE_TIMEOUT):
            await writer.wait_closed()


async def follow(
    reader: asyncio.StreamReader,
    feed: Callable[[bytes], bool],
    ping: Callable[[], Awaitable[None]] | None,
    *,
    ping_interval: float,
    lost_after: float,
    clock: Clock = time.monotonic,
) -> None:
    """Read until the peer is gone; returns never, raises when the link is lost.

    `feed(data)` returns True when the data held at least one valid message: only that
    counts as a sign of life, so a peer spewing garbage is still declared lost. `ping` is
    sent every `ping_interval`; `lost_after` seconds without a valid message raise
    OperationTimeoutError. EOF raises ConnectionLostError.
    """
    now = clock()
    last_valid = now
    last_ping = now
    while True:
        deadline = last_valid + lost_after
        next_ping = last_ping + ping_interval if ping is not None else deadline
        timeout = max(0.0, min(deadline, next_ping) - clock())
        data: bytes | None
        data = None
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                data = await reader.read(READ_SIZE)
        if data == b"":
            raise ConnectionLostError(_("peer closed the connection"))
        now = clock()
        if data and feed(data):
            last_valid = now
        if now - last_valid >= lost_after:
            raise OperationTimeoutError(
                _("no answer for {seconds:.1f} s").format(seconds=now - last_valid)
            )
        if ping is not None and now - last_ping >= ping_interval:
            last_ping = now
            await ping()
