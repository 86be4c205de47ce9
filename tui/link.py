"""The TUI's link to councild: one Unix-socket connection that subscribes and sends ops.

One connection carries both directions (docs/api.md: replies come in order and subscription
messages are interleaved), so a reader task sorts each line: a reply (it has an `id`) wakes
the request waiting for it; a subscription message becomes a Textual message for the app.

`run()` never returns on its own: when the daemon goes away it tells the app, waits with a
capped exponential backoff and attaches again with a fresh `subscribe` (the loop is the one
every link of councild's runs under, `councild.supervisor.Supervisor`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable
from enum import StrEnum
from pathlib import Path
from typing import Any

from textual.message import Message

from councild.api import READ_CHUNK, encode
from councild.errors import ConnectionLostError, OperationTimeoutError
from councild.i18n import _
from councild.model import Link
from councild.sansio import LineFramer, TooLong
from councild.supervisor import Backoff, Supervisor
from tui.messages import Attached, Disconnected, LevelsChanged, LogAppended, StateChanged

log = logging.getLogger("councild.tui")

# Backoff after a lost or refused connection: the first retry comes quickly because a daemon
# restarted by systemd is back within a second; the cap keeps the technician from waiting
# long once it is back. Factor and try cap as in the style guide (aioesphomeapi).
RETRY_FIRST_S = 0.25
RETRY_FACTOR = 1.8
RETRY_MAX_S = 5.0
RETRY_TRIES_CAP = 10
# Nothing the daemon says is fatal to the link; were it, it would be retried at the cap.
BACKOFF = Backoff(first=RETRY_FIRST_S, factor=RETRY_FACTOR, cap=RETRY_MAX_S,
                  fatal_retry_s=RETRY_MAX_S, max_exponent=RETRY_TRIES_CAP)
# Connecting to a local Unix socket is instant when the daemon lives; longer means it hangs.
CONNECT_TIMEOUT_S = 3.0
# A floor op is one synchronous step in the daemon: no reply within this means it is stuck.
REQUEST_TIMEOUT_S = 5.0
# A state of a few hundred seats is well under 1 MiB; a line beyond this is not from councild.
MAX_MESSAGE = 16 * 1024 * 1024

Post = Callable[[Message], object]


def retry_delay(tries: int) -> float:
    """Seconds to wait before attempt `tries` + 1 (tries counts failures since the last success)."""
    return BACKOFF.delay(tries)


class LinkState(StrEnum):
    IDLE = "idle"  # run() not started yet
    CONNECTING = "connecting"  # opening the socket and subscribing
    ATTACHED = "attached"  # subscribed: state flows, ops can be sent
    WAITING = "waiting"  # the daemon is away; a retry is scheduled
    CLOSED = "closed"  # run() was cancelled


class DaemonLink:
    """Attach to councild at `socket_path` and post what it says through `post`."""

    def __init__(self, socket_path: Path, post: Post) -> None:
        self.socket_path = socket_path
        self._post = post
        self.state = LinkState.IDLE
        self.malformed = 0  # lines from the daemon that were not JSON objects
        self.attaches = 0  # successful subscriptions, for the UI and the tests
        self._writer: asyncio.StreamWriter | None = None
        self._pending: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._next_id = 0
        self._levels: dict[str, float] | None = None
        self._levels_posted = False
        self.closing_reason: str | None = None  # from the daemon's last "closing" message
        self._supervisor: Supervisor | None = None

    # --- what the app calls ------------------------------------------------------------------

    async def request(self, op: str, **args: Any) -> dict[str, Any]:
        """Send one op; the daemon's reply (ok or not). ConnectionLostError when detached,
        OperationTimeoutError when the daemon does not answer."""
        if self.state is not LinkState.ATTACHED:
            raise ConnectionLostError(_("not connected to councild"))
        return await self._call(op, args)

    async def _call(self, op: str, args: dict[str, Any]) -> dict[str, Any]:
        writer = self._writer
        if writer is None:
            raise ConnectionLostError(_("not connected to councild"))
        self._next_id += 1
        rid = self._next_id
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[rid] = future
        try:
            writer.write(encode({"id": rid, "op": op, **args}))
            async with asyncio.timeout(REQUEST_TIMEOUT_S):
                return await future
        except TimeoutError:
            raise OperationTimeoutError(
                _("councild did not answer {op} within {s:.0f} s").format(
                    op=op, s=REQUEST_TIMEOUT_S)
            ) from None
        finally:
            self._pending.pop(rid, None)

    def take_levels(self) -> dict[str, float] | None:
        """The newest seat levels since the last call (None if none came)."""
        levels, self._levels = self._levels, None
        self._levels_posted = False
        return levels

    # --- the worker ---------------------------------------------------------------------------

    async def run(self) -> None:
        """Attach, follow, and reattach after every loss, until cancelled."""
        self._supervisor = Supervisor("tui", self._attach, self._on_link, backoff=BACKOFF,
                                      log=log, sleep=self._wait)
        await self._supervisor.run()

    def _on_link(self, link: Link, detail: str) -> None:
        if link in (Link.CONNECTING, Link.RECONNECTING):
            self.state = LinkState.CONNECTING
        elif link == Link.LOST:
            self.state = LinkState.WAITING
        elif link == Link.CLOSED:
            self.state = LinkState.CLOSED

    async def _wait(self, delay: float) -> None:
        """The supervisor's backoff wait: the app hears why and for how long first."""
        supervisor = self._supervisor
        assert supervisor is not None
        self._post(Disconnected(supervisor.reason, delay, supervisor.tries))
        await asyncio.sleep(delay)

    async def _attach(self) -> str:
        try:
            return await self._session()
        except ConnectionLostError:
            raise
        except Exception:  # a bug here must not end the retries; the supervisor retries
            log.exception("tui: the daemon link failed")
            raise

    async def _session(self) -> str:
        """One connection: why it ended after it was attached; raises ConnectionLostError
        with the reason when it could not attach."""
        try:
            async with asyncio.timeout(CONNECT_TIMEOUT_S):
                reader, writer = await asyncio.open_unix_connection(str(self.socket_path))
        except (OSError, TimeoutError) as exc:
            raise ConnectionLostError(_("cannot reach councild at {sock}: {err}").format(
                sock=self.socket_path, err=getattr(exc, "strerror", None) or exc or "timeout")
            ) from exc
        self._writer = writer
        attached = False
        failure: str | None = None
        reader_task = asyncio.create_task(self._read(reader), name="tui:link-reader")
        try:
            reply = await self._call("subscribe", {})
            if not reply.get("ok"):
                failure = str(get_error(reply))
            else:
                attached = True
                self.state = LinkState.ATTACHED
                self.attaches += 1
                assert self._supervisor is not None
                self._supervisor.up()  # the next loss starts the backoff afresh
                self._post(Attached(reply.get("state") or {}, list(reply.get("log") or [])))
                await reader_task
        except (ConnectionLostError, OperationTimeoutError, ConnectionError, OSError) as exc:
            if not attached:
                failure = str(exc)
        finally:
            self._writer = None
            self.state = LinkState.WAITING
            reader_task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await reader_task
            self._fail_pending()
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()
        closing, self.closing_reason = self.closing_reason, None
        if failure is not None:
            raise ConnectionLostError(failure)
        return (_("councild stopped") if closing == "daemon_stopping"
                else _("councild closed the connection"))

    async def _read(self, reader: asyncio.StreamReader) -> None:
        splitter = LineFramer(limit=MAX_MESSAGE)
        while True:
            data = await reader.read(READ_CHUNK)
            if not data:
                self._fail_pending()
                return
            for line in splitter.feed(data):
                self._dispatch(line)

    def _dispatch(self, line: bytes | TooLong) -> None:
        try:
            if isinstance(line, TooLong):
                raise ValueError("line too long")
            message = json.loads(line)
            if not isinstance(message, dict):
                raise ValueError("not an object")
        except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
            self.malformed += 1
            log.warning("tui: unreadable line from councild (%s)", exc)
            return
        if "id" in message and "event" not in message:
            future = self._pending.get(message["id"]) if isinstance(message["id"], int) else None
            if future is not None and not future.done():
                future.set_result(message)
            return
        event = message.get("event")
        if event == "state" and isinstance(message.get("state"), dict):
            self._post(StateChanged(message["state"]))
        elif event == "log" and isinstance(message.get("entry"), dict):
            self._post(LogAppended(message["entry"]))
        elif event == "levels" and isinstance(message.get("levels"), dict):
            self._levels = message["levels"]
            if not self._levels_posted:
                self._levels_posted = True
                self._post(LevelsChanged())
        elif event == "closing":  # the daemon stops (or drops us): say why when it is gone
            self.closing_reason = str(message.get("reason"))
        # other events come with later daemon versions: ignoring them is the contract

    def _fail_pending(self) -> None:
        for future in self._pending.values():
            if not future.done():
                future.set_exception(ConnectionLostError(_("councild went away")))
        self._pending.clear()


def get_error(reply: dict[str, Any]) -> str:
    """The human part of an error reply."""
    error = reply.get("error")
    if isinstance(error, dict):
        return str(error.get("message") or error.get("code") or error)
    return _("councild refused the request")
