"""The one UDP adapter of councild: an asyncio socket that hands each datagram to a callback.

Every datagram device (the X32/X-Air desks, VISCA-over-IP cameras, the OSC control input)
speaks a sans-IO codec (councild/sansio.py) and needs the same thin piece of asyncio around
it: open a UDP socket, give each datagram and its sender to the driver as it arrives, tell
the driver about socket errors (an ICMP port unreachable) and about the socket's loss, and
send. That piece is `DatagramLink`.

It holds no queue: each datagram goes to the callback in the event loop's own turn, so the
memory a peer can make us hold is one datagram (asyncio's read size), whatever it sends.
Whether a datagram is welcome (its sender, its size) is the driver's and its codec's call.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, cast

__all__ = ["Address", "DatagramLink", "open_datagram"]

# What asyncio gives as a sender: (host, port) for IPv4, (host, port, flow, scope) for IPv6.
Address = tuple[Any, ...]
OnDatagram = Callable[[bytes, Address], None]
OnError = Callable[[Exception], None]
OnLost = Callable[[Exception | None], None]


class DatagramLink(asyncio.DatagramProtocol):
    """One UDP socket. `on_datagram(data, sender)` gets every datagram; `on_error(exc)` a
    socket error (none given: ignored, as an ICMP error from a peer that is off is for the
    driver's liveness to notice); `on_lost(exc)` the socket's end (None: closed by us)."""

    def __init__(
        self, on_datagram: OnDatagram, on_error: OnError | None = None,
        on_lost: OnLost | None = None,
    ) -> None:
        self._on_datagram = on_datagram
        self._on_error = on_error
        self._on_lost = on_lost
        self._transport: asyncio.DatagramTransport | None = None

    # --- what the driver calls ---------------------------------------------------------------

    @property
    def open(self) -> bool:
        return self._transport is not None and not self._transport.is_closing()

    @property
    def local_address(self) -> tuple[str, int] | None:
        """Where the socket listens (the peer replies here); None once closed."""
        if self._transport is None:
            return None
        host, port = self._transport.get_extra_info("sockname")[:2]
        return str(host), int(port)

    def sendto(self, data: bytes, addr: Address | None = None) -> None:
        """Send one datagram (to the connected peer when `addr` is None). Nothing happens
        once the socket is closed: a driver shutting down may still have one to send."""
        if self._transport is not None:
            self._transport.sendto(data, addr)

    def close(self) -> None:
        transport, self._transport = self._transport, None
        if transport is not None:
            transport.close()

    # --- asyncio's side ----------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # asyncio's selector transport is not a DatagramTransport subclass, only one in kind.
        self._transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: Address) -> None:
        self._on_datagram(data, addr)

    def error_received(self, exc: Exception) -> None:
        if self._on_error is not None:
            self._on_error(exc)

    def connection_lost(self, exc: Exception | None) -> None:
        self._transport = None
        if self._on_lost is not None:
            self._on_lost(exc)


async def open_datagram(
    on_datagram: OnDatagram, *, local_addr: tuple[str, int] | None = None,
    remote_addr: tuple[str, int] | None = None, family: int = 0,
    on_error: OnError | None = None, on_lost: OnLost | None = None,
) -> DatagramLink:
    """A DatagramLink on a new UDP socket: bound to `local_addr`, or connected to
    `remote_addr` (the kernel then drops datagrams from anyone else)."""
    loop = asyncio.get_running_loop()
    _transport, link = await loop.create_datagram_endpoint(
        lambda: DatagramLink(on_datagram, on_error, on_lost),
        local_addr=local_addr, remote_addr=remote_addr, family=family,
    )
    return link
