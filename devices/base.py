"""What every device driver is to the daemon, how its link runs (under the one reconnect loop,
`councild.supervisor.Supervisor`), and the one connect rule of every device councild leads or
mirrors (`StatefulDevice`).

A driver owns one connection to one peer. It turns wire input into `councild.model` events
through `emit`, and turns the daemon's requests (switch a channel) into wire output. The
daemon never sees bytes; the codec never sees sockets.
"""

from __future__ import annotations

import asyncio
import logging
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar

from pydantic import BaseModel, ConfigDict, Field

from councild.errors import NotSupportedError
from councild.model import DeviceStatus, Event, Link
from councild.supervisor import Backoff, Supervisor, describe_typed

# Backoff between reconnect attempts: min(BASE * FACTOR**tries, CAP). The cap is short on
# purpose: in a live session a desk that comes back must be followed again within seconds.
BACKOFF_BASE = 0.25
BACKOFF_FACTOR = 1.8
BACKOFF_CAP = 5.0
BACKOFF_MAX_TRIES = 10
# A refused password is retried at the cap: retrying fast will not fix it, and a technician
# who fixes it on the device mid-session must not wait long.
BACKOFF = Backoff(first=BACKOFF_BASE, factor=BACKOFF_FACTOR, cap=BACKOFF_CAP,
                  fatal_retry_s=BACKOFF_CAP, max_exponent=BACKOFF_MAX_TRIES)


# Malformed input: the first few are logged one by one, then a summary at most this often;
# the error count reaches the daemon's state at most this often.
MALFORMED_LOGGED = 10
MALFORMED_SUMMARY_S = 10.0
MALFORMED_PUBLISH_S = 0.5


class DeviceOptions(BaseModel):
    """Options common to every device table in the configuration."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    driver: str
    # councild switches this device's channels when the floor opens or closes a mic.
    follow_floor: bool = True


class KeyedOptions(DeviceOptions):
    """Options of a button surface whose own keys map to floor actions (`keys`): the daemon
    finds such devices by this type, not by looking for an attribute."""

    keys: dict[str, str] = Field(default_factory=dict)


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
        self._malformed_logged_at = float("-inf")
        self._malformed_published_at = float("-inf")
        self._malformed_publish: asyncio.TimerHandle | None = None
        self._reconnects = 0
        self._detail = ""

    @property
    def health(self) -> Health:
        return Health(self._link, self._last_seen, self._errors, self._reconnects, self._detail)

    def _seen(self) -> None:
        self._last_seen = time.time()

    def _malformed(self, what: str, exc: Exception | None = None) -> None:
        """Count bad input; never raise it into the loop. A device that sends garbage may
        send thousands of bad units a second: every one is counted, but the log gets the
        first few and then one summary per MALFORMED_SUMMARY_S, and the count is published
        at most every MALFORMED_PUBLISH_S (one status per unit stalled the other devices)."""
        self._errors += 1
        now = time.monotonic()
        if self._errors <= MALFORMED_LOGGED:
            self.log.warning("%s: malformed input (%s): %s", self.name, what, exc)
            self._malformed_logged_at = now
        elif now - self._malformed_logged_at >= MALFORMED_SUMMARY_S:
            self.log.warning("%s: %d malformed inputs so far (latest: %s)", self.name,
                             self._errors, what)
            self._malformed_logged_at = now
        if self._malformed_publish is not None:
            return  # a publish is scheduled; it will carry this count
        wait = self._malformed_published_at + MALFORMED_PUBLISH_S - now
        if wait <= 0:
            self._malformed_published_at = now
            self._publish()
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # no loop (a codec test): publish at once
            self._publish()
            return
        self._malformed_publish = loop.call_later(wait, self._publish_malformed)

    def _publish_malformed(self) -> None:
        self._malformed_publish = None
        self._malformed_published_at = time.monotonic()
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
        self._supervisor = Supervisor(name, self._session, self._on_link,
                                      backoff=BACKOFF, log=self.log, describe=describe_typed)

    # --- what the daemon calls ------------------------------------------------------------

    async def start(self) -> None:
        """Start the connection loop in the background; returns at once."""
        self._supervisor.start(f"device:{self.name}")

    async def stop(self) -> None:
        """Stop for good; safe to call twice."""
        await self._supervisor.stop()
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
        self._supervisor.up()  # the next loss is retried soon
        self._reconnects = self._supervisor.reconnects
        self._seen()
        self._set_link(Link.CONNECTED, detail)

    # --- internals ------------------------------------------------------------------------

    def _on_link(self, link: Link, detail: str) -> None:
        """The supervisor's link changes; a device shows why only for LOST and CLOSED (an
        attempt under way says nothing yet)."""
        if link in (Link.CONNECTING, Link.RECONNECTING):
            detail = ""
        self._set_link(link, detail)


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
