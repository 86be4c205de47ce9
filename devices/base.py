"""What every device driver is to the daemon, the reconnect loop they all share, and the one
connect rule of every device councild leads or mirrors (`StatefulDevice`).

A driver owns one connection to one peer. It turns wire input into `councild.model` events
through `emit`, and turns the daemon's requests (switch a channel) into wire output. The
daemon never sees bytes; the codec never sees sockets.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar

from pydantic import BaseModel, ConfigDict

from councild.errors import AuthenticationError, NotSupportedError
from councild.model import DeviceStatus, Event, Link

# Backoff between reconnect attempts: min(BASE * FACTOR**tries, CAP). The cap is short on
# purpose: in a live session a desk that comes back must be followed again within seconds.
BACKOFF_BASE = 0.25
BACKOFF_FACTOR = 1.8
BACKOFF_CAP = 5.0
BACKOFF_MAX_TRIES = 10


def backoff_delay(tries: int, first: float = BACKOFF_BASE, factor: float = BACKOFF_FACTOR,
                  cap: float = BACKOFF_CAP) -> float:
    """Seconds before retry number `tries` (0-based): first × factor^tries, at most cap."""
    return min(first * factor ** min(tries, BACKOFF_MAX_TRIES), cap)


class DeviceOptions(BaseModel):
    """Options common to every device table in the configuration."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    driver: str
    # councild switches this device's channels when the floor opens or closes a mic.
    follow_floor: bool = True


@dataclass(frozen=True, slots=True)
class Health:
    link: Link
    last_seen: float | None  # wall time of the last valid input from the peer
    errors: int  # malformed or unexpected input since start
    reconnects: int  # successful connections after the first
    detail: str


Emit = Callable[[Event], None]


class LinkReporter:
    """The health of one link to a peer, published as DeviceStatus events: shared by the
    device drivers and the OBS client, so every peer looks the same in the daemon's state."""

    def __init__(self, name: str, emit: Emit) -> None:
        self.name = name
        self._emit = emit
        self.log = logging.getLogger(f"councild.device.{name}")
        self._link = Link.CLOSED
        self._last_seen: float | None = None
        self._errors = 0
        self._reconnects = 0
        self._detail = ""

    @property
    def health(self) -> Health:
        return Health(self._link, self._last_seen, self._errors, self._reconnects, self._detail)

    def _seen(self) -> None:
        self._last_seen = time.time()

    def _malformed(self, what: str, exc: Exception | None = None) -> None:
        """Count and log bad input; never raise it into the loop."""
        self._errors += 1
        level = logging.WARNING if self._errors <= 10 else logging.DEBUG
        self.log.log(level, "%s: malformed input (%s): %s", self.name, what, exc)
        self._publish()

    def _set_link(self, link: Link, detail: str = "") -> None:
        if link == self._link and detail == self._detail:
            return
        self._link = link
        self._detail = detail
        self._publish()

    def _publish(self) -> None:
        status = DeviceStatus(
            device=self.name, link=self._link, detail=self._detail, errors=self._errors
        )
        self._emit(status)


@dataclass(frozen=True, slots=True)
class Snapshot:
    """A device's state, read in full: what the daemon pushes against (councild leads the
    device) or takes over (the device runs the floor, or councild only mirrors it)."""

    on: frozenset[int]  # channels open at the device
    # The device's own request list, first first; None: the device has no request list.
    requests: tuple[int, ...] | None = None
    # The device's own limit of open mics (a CU's max_speakers); None: it has none.
    limit: int | None = None


class Device(LinkReporter, ABC):
    """One physical device. Subclasses implement `_session` and what they can switch."""

    Options: ClassVar[type[DeviceOptions]] = DeviceOptions

    def __init__(self, name: str, options: DeviceOptions, emit: Emit) -> None:
        super().__init__(name, emit)
        self.options = options
        self._task: asyncio.Task[None] | None = None
        self._tries = 0
        self._was_connected = False

    # --- what the daemon calls ------------------------------------------------------------

    async def start(self) -> None:
        """Start the connection loop in the background; returns at once."""
        if self._task is None:
            self._task = asyncio.create_task(self._supervise(), name=f"device:{self.name}")

    async def stop(self) -> None:
        """Stop for good; safe to call twice."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._set_link(Link.CLOSED, "stopped")

    async def set_channel(self, channel: int, on: bool) -> None:
        """Open (on) or close a channel/mic at the device."""
        raise NotSupportedError(f"{self.name}: cannot switch channels")

    async def set_request(self, channel: int, on: bool) -> None:
        """Add or remove a channel from the device's own request list."""
        raise NotSupportedError(f"{self.name}: has no request list")

    def snapshot(self) -> Snapshot | None:
        """The device's state as the driver now holds it (read in full before CONNECTED, then
        kept by the device's reports); None: the driver cannot read the device's state."""
        return None

    # --- what subclasses implement and call ---------------------------------------------

    @abstractmethod
    async def _session(self) -> None:
        """Connect, resync the full state, then follow the peer until the link is lost.

        Return or raise when the link is lost; the loop reconnects with backoff. Call
        `_connected()` once the peer has answered.
        """

    def _connected(self, detail: str = "") -> None:
        if self._was_connected:
            self._reconnects += 1
        self._was_connected = True
        self._tries = 0
        self._seen()
        self._set_link(Link.CONNECTED, detail)

    # --- internals ------------------------------------------------------------------------

    async def _supervise(self) -> None:
        first = True
        while True:
            self._set_link(Link.CONNECTING if first else Link.RECONNECTING)
            try:
                await self._session()
                reason = "connection closed"
            except asyncio.CancelledError:
                raise
            except AuthenticationError as exc:
                reason = str(exc)
                self._tries = BACKOFF_MAX_TRIES  # retrying fast will not fix a password
            except Exception as exc:  # any failure of the link means retry
                task = asyncio.current_task()
                if task is not None and task.cancelling():
                    # asyncio.wait_for (3.11) can turn our cancellation into the error it
                    # raced with; stopping must still stop.
                    raise asyncio.CancelledError from exc
                reason = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
                if first or self._link == Link.CONNECTED:
                    self.log.warning("%s: link lost: %s", self.name, reason)
                else:
                    self.log.debug("%s: retry failed: %s", self.name, reason)
            first = False
            self._set_link(Link.LOST, reason)
            await asyncio.sleep(backoff_delay(self._tries))
            self._tries += 1


class StatefulDevice(Device):
    """A device whose state councild leads or mirrors (desks, conference units).

    One rule for every such driver, in this one place:

        connect → full state read → CONNECTED → push (councild leads) or mirror replace

    `_session` opens the link, reads the device's whole state (`_read_state` returns only once
    every value is in), and only then reports CONNECTED: the daemon takes `snapshot()` at that
    moment and either pushes the floor to the device or lets the device's state replace its
    own (see councild/device_sync.py). Channel events a driver emits while reading are ignored
    by the daemon: the snapshot is the read's result, not a stream of surface changes racing
    the push. Subclasses implement the four steps; none of them declares CONNECTED itself.
    """

    @abstractmethod
    async def _open_link(self) -> None:
        """Open the transport (TCP, serial, UDP socket)."""

    @abstractmethod
    async def _read_state(self) -> str:
        """Read the whole state the driver reports; return the link's detail for the status.
        Raise (timeout, link error) when the device does not answer in full."""

    @abstractmethod
    async def _follow_link(self) -> None:
        """Follow the device's reports until the link is lost (raise or return)."""

    @abstractmethod
    async def _close_link(self) -> None:
        """Close the transport; never raises."""

    async def _session(self) -> None:
        await self._open_link()
        try:
            detail = await self._read_state()
            self._connected(detail)
            await self._follow_link()
        finally:
            await self._close_link()
