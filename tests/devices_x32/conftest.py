"""Fixtures for the X32/X-Air tests: a simulator on 127.0.0.1 and a driver recording events."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, TypeVar, cast

import pytest

from councild.model import DeviceStatus, Event, Link
from devices.sim.x32 import X32Simulator
from devices.x32 import OscMessage, X32Desk, decode_message, encode_message
from tests.helpers import until

E = TypeVar("E", bound=Event)


@dataclass
class Recorder:
    """The driver's `emit`: keeps every event with the monotonic time it was emitted."""

    stamped: list[tuple[float, Event]] = field(default_factory=list)

    def __call__(self, event: Event) -> None:
        self.stamped.append((time.monotonic(), event))

    @property
    def events(self) -> list[Event]:
        return [e for _, e in self.stamped]

    def of(self, cls: type[E], since: float = 0.0, **match: Any) -> list[E]:
        return [
            e
            for t, e in self.stamped
            if t >= since
            and isinstance(e, cls)
            and all(getattr(e, k) == v for k, v in match.items())
        ]

    def first_time(self, cls: type[Event], since: float = 0.0, **match: Any) -> float | None:
        for t, e in self.stamped:
            if (
                t >= since
                and isinstance(e, cls)
                and all(getattr(e, k) == v for k, v in match.items())
            ):
                return t
        return None

    def links(self) -> list[Link]:
        return [e.link for e in self.of(DeviceStatus)]


@pytest.fixture
async def sim() -> AsyncIterator[X32Simulator]:
    async with X32Simulator() as s:
        yield s


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


async def connected(desk: X32Desk, timeout: float = 5.0) -> None:
    await until(lambda: desk.health.link == Link.CONNECTED, timeout)


@pytest.fixture
async def desk(sim: X32Simulator, recorder: Recorder) -> AsyncIterator[X32Desk]:
    d = X32Desk("desk", X32Desk.Options(port=sim.port), recorder)
    await d.start()
    try:
        await connected(d)
        yield d
    finally:
        await d.stop()


class RawClient(asyncio.DatagramProtocol):
    """A bare OSC client on 127.0.0.1 built on our codec helpers, for simulator tests."""

    def __init__(self) -> None:
        self.inbox: asyncio.Queue[tuple[OscMessage, tuple[str, int]]] = asyncio.Queue()
        self.transport: asyncio.DatagramTransport | None = None
        self.target: tuple[str, int] = ("127.0.0.1", 0)

    @classmethod
    async def open(cls, target: tuple[str, int]) -> RawClient:
        loop = asyncio.get_running_loop()
        _, proto = await loop.create_datagram_endpoint(cls, local_addr=("127.0.0.1", 0))
        proto.target = target
        return proto

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[Any, ...]) -> None:
        self.inbox.put_nowait((decode_message(data), (addr[0], addr[1])))

    @property
    def address(self) -> tuple[str, int]:
        assert self.transport is not None
        host, port = self.transport.get_extra_info("sockname")[:2]
        return host, port

    def send(self, address: str, *args: Any) -> None:
        assert self.transport is not None
        self.transport.sendto(encode_message(address, *args), self.target)

    def send_raw(self, data: bytes, target: tuple[str, int] | None = None) -> None:
        assert self.transport is not None
        self.transport.sendto(data, target or self.target)

    async def recv(self, timeout: float = 2.0) -> OscMessage:
        msg, _ = await asyncio.wait_for(self.inbox.get(), timeout)
        return msg

    async def barrier(self) -> list[OscMessage]:
        """Everything the peer sent us before it answered a /status sent now.

        The simulator handles one sender's datagrams in order, and loopback keeps that
        order, so whatever it sent in answer to earlier messages arrives before this reply:
        an absence can be asserted without sleeping.
        """
        self.send("/status")
        before: list[OscMessage] = []
        while True:
            msg = await self.recv()
            if msg.address == "/status":
                return before
            before.append(msg)

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


@pytest.fixture
async def client(sim: X32Simulator) -> AsyncIterator[RawClient]:
    c = await RawClient.open(sim.address)
    yield c
    c.close()
