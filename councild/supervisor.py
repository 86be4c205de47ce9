"""The one reconnect loop: every link councild keeps to a peer runs under a `Supervisor`.

Device drivers, the OBS client, the chamber feed and the TUI's link to the daemon all do the
same thing: run a session until the link is lost, say so, wait, try again. The rules live here
once, so every peer behaves the same and reports the same way:

- the wait grows as `Backoff` says (first × factor^tries, capped), and starts afresh after a
  session that came up (`Supervisor.up()`), so a peer that worked for a while is retried soon;
- a refused credential (`AuthenticationError`) or an error that retrying cannot fix
  (`FatalLinkError`: a missing program, a wrong secret file) is logged once at ERROR, kept as
  `fatal` for whoever shows the link, and retried at `Backoff.fatal_retry_s`: someone may fix
  the password or install the program while the session goes on;
- any other failure is a lost link: a warning the first time, then debug lines per retry;
- cancelling the supervisor stops it, even when asyncio.wait_for (3.11) turned the
  cancellation into the error it raced with.

The waits go through an injected `sleep`, so the tests fire the timers instead of sleeping.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from councild.errors import AuthenticationError, CouncildError
from councild.model import Link

__all__ = ["Backoff", "FatalLinkError", "Supervisor", "describe", "describe_typed"]


class FatalLinkError(CouncildError):
    """The link cannot work until somebody changes something (a program is missing, a secret
    is wrong): retried slowly, reported loudly once."""


@dataclass(frozen=True, slots=True)
class Backoff:
    """Seconds between attempts: min(first × factor^tries, cap)."""

    first: float = 0.25
    factor: float = 1.8
    cap: float = 5.0
    # A refused credential or a fatal error: retried this often (someone may fix it live).
    fatal_retry_s: float = 30.0
    max_exponent: int = 10  # factor^tries stops growing here (no float overflow after days)

    def delay(self, tries: int) -> float:
        return min(self.first * self.factor ** min(tries, self.max_exponent), self.cap)


def describe(exc: BaseException) -> str:
    """A failure as one line for a link's detail: the message, else the exception's name."""
    text = str(exc)
    if isinstance(exc, CouncildError) and text:
        return text
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def describe_typed(exc: BaseException) -> str:
    """A failure as one line that names the exception's type (what device drivers and the
    chamber feed have always shown: "OperationTimeoutError: no reply ..."), except for a
    refused credential or a fatal error, whose message is the whole story for a technician."""
    text = str(exc)
    if isinstance(exc, (AuthenticationError, FatalLinkError)) and text:
        return text
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


Session = Callable[[], Awaitable[object]]
StateSink = Callable[[Link, str], None]
Sleep = Callable[[float], Awaitable[object]]
Describe = Callable[[BaseException], str]


class Supervisor:
    """Runs `session()` until cancelled, again after every end, with backoff.

    `session` returns (or raises) when the link is lost; a returned string is the reason shown
    (else "connection closed"). It calls `up()` once the peer has answered. `on_state`
    receives every link change: CONNECTING (first attempt), RECONNECTING, LOST with the reason,
    CLOSED when stopped; CONNECTED is the session's own to report (it knows the detail).
    `describe` turns a failure into the reason shown and logged.
    """

    def __init__(
        self,
        name: str,
        session: Session,
        on_state: StateSink,
        *,
        backoff: Backoff | None = None,
        log: logging.Logger | None = None,
        sleep: Sleep = asyncio.sleep,
        describe: Describe = describe,
    ) -> None:
        self.name = name
        self._session = session
        self._on_state = on_state
        self.backoff = backoff or Backoff()
        self.log = log or logging.getLogger(f"councild.link.{name}")
        self._sleep = sleep
        self._describe = describe
        self.tries = 0  # failed attempts since the link was last up
        self.attempts = 0  # sessions started
        self.ups = 0  # sessions that came up
        self.fatal: CouncildError | None = None  # the first fatal error since the link was up
        self.reason = ""  # why the last session ended
        self.retry_delay = 0.0  # the wait before the current attempt
        self._task: asyncio.Task[None] | None = None

    # --- running in a task of its own ---------------------------------------------------------

    def start(self, task_name: str) -> None:
        """Run the loop in a task of its own; returns at once, does nothing while it runs."""
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self.run(), name=task_name)

    @property
    def running(self) -> bool:
        return self._task is not None

    async def stop(self) -> None:
        """Cancel the loop and wait until it has ended; safe to call twice. asyncio.wait, not
        `await task`: a cancellation of stop() itself still propagates to its caller."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.wait([task])

    @property
    def reconnects(self) -> int:
        """Sessions that came up after the first."""
        return max(self.ups - 1, 0)

    def up(self) -> None:
        """The session reached its peer: the next loss starts the backoff afresh."""
        self.ups += 1
        self.tries = 0
        self.fatal = None

    async def run(self) -> None:
        """The loop; cancel the task running it to stop."""
        first = True
        try:
            while True:
                self._on_state(Link.CONNECTING if first else Link.RECONNECTING, self.reason)
                self.attempts += 1
                ups = self.ups
                fatal = False
                try:
                    result = await self._session()
                    self.reason = result if isinstance(result, str) and result else (
                        "connection closed")
                except asyncio.CancelledError:
                    raise
                except (AuthenticationError, FatalLinkError) as exc:
                    fatal = True
                    self.reason = self._describe(exc)
                    if self.fatal is None:
                        self.fatal = exc
                        self.log.error("%s: %s", self.name, self.reason)
                    else:
                        self.log.debug("%s: %s", self.name, self.reason)
                except Exception as exc:  # any other failure of the link means retry
                    task = asyncio.current_task()
                    if task is not None and task.cancelling():
                        raise asyncio.CancelledError from exc
                    self.reason = self._describe(exc)
                    if first or self.ups != ups or self.tries == 0:
                        self.log.warning("%s: link lost: %s", self.name, self.reason)
                    else:
                        self.log.debug("%s: retry failed: %s", self.name, self.reason)
                else:
                    if self.ups != ups:
                        self.log.warning("%s: link lost: %s", self.name, self.reason)
                first = False
                self._on_state(Link.LOST, self.reason)
                self.retry_delay = (self.backoff.fatal_retry_s if fatal
                                    else self.backoff.delay(self.tries))
                self.tries += 1
                await self._sleep(self.retry_delay)
        finally:
            self._on_state(Link.CLOSED, "stopped")
