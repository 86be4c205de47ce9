"""The one reconnect loop, driven by firing its timers: the sleep is a test double that
records the wait asked for and returns when the test lets it, so nothing here sleeps."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

import pytest

from councild.errors import AuthenticationError, ConnectionLostError
from councild.model import Link
from councild.supervisor import Backoff, FatalLinkError, Supervisor, describe, describe_typed


class Timers:
    """An injected sleep: each wait is recorded and parked until `fire()`."""

    def __init__(self) -> None:
        self.waits: list[float] = []
        self._parked: asyncio.Future[None] | None = None

    async def sleep(self, seconds: float) -> None:
        self.waits.append(seconds)
        self._parked = asyncio.get_running_loop().create_future()
        await self._parked

    async def until_parked(self, n: int) -> None:
        """Let the loop run until the supervisor waits for the n-th time."""
        for _ in range(1000):
            if len(self.waits) >= n and self._parked is not None and not self._parked.done():
                return
            await asyncio.sleep(0)
        raise AssertionError(f"the supervisor did not wait {n} times")

    def fire(self) -> None:
        assert self._parked is not None
        self._parked.set_result(None)


def scripted(steps: list[Callable[[Supervisor], object]]) -> Callable[[], object]:
    """A session that plays one step per attempt: a step raises, or returns a reason."""
    holder: dict[str, Supervisor] = {}

    async def session() -> object:
        step = steps.pop(0)
        return step(holder["sup"])

    session.holder = holder  # type: ignore[attr-defined]
    return session


def fail(exc: Exception) -> Callable[[Supervisor], object]:
    def step(_sup: Supervisor) -> object:
        raise exc
    return step


def came_up(sup: Supervisor) -> object:
    sup.up()
    return "peer closed"


async def start(steps: list[Callable[[Supervisor], object]], backoff: Backoff,
                states: list[tuple[Link, str]], timers: Timers) -> tuple[Supervisor, asyncio.Task]:
    session = scripted(steps)
    sup = Supervisor("peer", session, lambda link, detail: states.append((link, detail)),
                     backoff=backoff, sleep=timers.sleep)
    session.holder["sup"] = sup  # type: ignore[attr-defined]
    return sup, asyncio.create_task(sup.run())


async def stop(task: asyncio.Task) -> None:
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_backoff_grows_to_its_cap_and_starts_afresh_after_a_session_that_came_up() -> None:
    timers = Timers()
    states: list[tuple[Link, str]] = []
    lost = ConnectionLostError("refused")
    backoff = Backoff(first=1.0, factor=2.0, cap=5.0)
    sup, task = await start([fail(lost)] * 4 + [came_up, fail(lost)], backoff, states, timers)
    for n in range(1, 7):
        await timers.until_parked(n)
        if n < 6:
            timers.fire()
    assert timers.waits == [1.0, 2.0, 4.0, 5.0, 1.0, 2.0]  # afresh after the up
    assert sup.attempts == 6 and sup.ups == 1 and sup.reconnects == 0
    await stop(task)
    assert states[0] == (Link.CONNECTING, "")
    assert states[1] == (Link.LOST, "refused")
    assert states[2] == (Link.RECONNECTING, "refused")
    assert (Link.LOST, "peer closed") in states
    assert states[-1] == (Link.CLOSED, "stopped")


async def test_a_refused_credential_is_logged_once_kept_and_retried_slowly(caplog) -> None:
    caplog.set_level(logging.DEBUG, logger="councild.link.peer")
    timers = Timers()
    states: list[tuple[Link, str]] = []
    refused = AuthenticationError("password refused")
    backoff = Backoff(first=0.5, fatal_retry_s=30.0)
    sup, task = await start([fail(refused), fail(refused), came_up], backoff, states, timers)
    await timers.until_parked(1)
    assert sup.fatal is refused
    timers.fire()
    await timers.until_parked(2)
    timers.fire()
    await timers.until_parked(3)
    assert timers.waits == [30.0, 30.0, 0.5]
    assert sup.fatal is None  # the link came up: the credential was fixed
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert [r.getMessage() for r in errors] == ["peer: password refused"]
    await stop(task)


async def test_a_fatal_error_is_reported_like_a_refused_credential() -> None:
    timers = Timers()
    states: list[tuple[Link, str]] = []
    missing = FatalLinkError("ffmpeg not found")
    sup, task = await start([fail(missing)], Backoff(fatal_retry_s=12.0), states, timers)
    await timers.until_parked(1)
    assert sup.fatal is missing and timers.waits == [12.0]
    assert (Link.LOST, "ffmpeg not found") in states
    await stop(task)


async def test_repeated_failures_warn_once_then_debug(caplog) -> None:
    caplog.set_level(logging.DEBUG, logger="councild.link.peer")
    timers = Timers()
    lost = OSError("connection refused")
    _sup, task = await start([fail(lost)] * 3, Backoff(), [], timers)
    for n in (1, 2):
        await timers.until_parked(n)
        timers.fire()
    await timers.until_parked(3)
    levels = [r.levelno for r in caplog.records]
    assert levels == [logging.WARNING, logging.DEBUG, logging.DEBUG]
    assert "OSError: connection refused" in caplog.records[0].getMessage()
    await stop(task)


async def test_cancelling_stops_even_when_the_session_turned_it_into_an_error() -> None:
    """asyncio.wait_for (3.11) can replace our cancellation with the error it raced."""
    states: list[tuple[Link, str]] = []
    entered = asyncio.Event()

    async def session() -> None:
        entered.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            raise TimeoutError from None  # what a racing wait_for can do

    sup = Supervisor("peer", session, lambda link, d: states.append((link, d)))
    task = asyncio.create_task(sup.run())
    await entered.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert states[-1] == (Link.CLOSED, "stopped")


def test_backoff_never_overflows() -> None:
    assert Backoff(first=0.25, factor=1.8, cap=5.0).delay(10_000) == 5.0


def test_describe_typed_names_the_type_except_of_what_a_technician_must_fix() -> None:
    lost = ConnectionLostError("no reply")
    assert describe(lost) == "no reply"
    assert describe_typed(lost) == "ConnectionLostError: no reply"
    assert describe_typed(TimeoutError()) == "TimeoutError"
    assert describe_typed(AuthenticationError("password refused")) == "password refused"
    assert describe_typed(FatalLinkError("ffmpeg not found")) == "ffmpeg not found"


async def test_the_describer_is_injectable() -> None:
    timers = Timers()
    states: list[tuple[Link, str]] = []
    session = scripted([fail(ConnectionLostError("no reply"))])
    sup = Supervisor("peer", session, lambda link, d: states.append((link, d)),
                     sleep=timers.sleep, describe=describe_typed)
    session.holder["sup"] = sup  # type: ignore[attr-defined]
    task = asyncio.create_task(sup.run())
    await timers.until_parked(1)
    assert (Link.LOST, "ConnectionLostError: no reply") in states
    assert sup.reason == "ConnectionLostError: no reply"
    await stop(task)


async def test_start_runs_one_task_and_stop_waits_for_it() -> None:
    states: list[tuple[Link, str]] = []
    sessions = 0

    async def session() -> None:
        nonlocal sessions
        sessions += 1
        await asyncio.Event().wait()

    sup = Supervisor("peer", session, lambda link, d: states.append((link, d)))
    sup.start("link:peer")
    sup.start("link:peer")  # already running: no second loop
    for _ in range(5):
        await asyncio.sleep(0)
    assert sup.running and sessions == 1
    await sup.stop()
    await sup.stop()  # safe twice
    assert not sup.running
    assert states[-1] == (Link.CLOSED, "stopped")
