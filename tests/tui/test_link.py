"""The daemon link on its own (no UI): real Unix sockets, a real daemon or a scripted peer."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from councild.daemon import Daemon
from councild.errors import ConnectionLostError, OperationTimeoutError
from councild.model import Request
from tests.helpers import until
from tui.link import RETRY_FIRST_S, RETRY_MAX_S, DaemonLink, LinkState, retry_delay
from tui.messages import Attached, Disconnected, LevelsChanged, StateChanged

pytestmark = pytest.mark.timeout(30)


class Inbox:
    """What a link posted, in order (stands in for the app's message queue)."""

    def __init__(self) -> None:
        self.messages: list[Any] = []

    def __call__(self, message: Any) -> None:
        self.messages.append(message)

    def of(self, cls: type) -> list[Any]:
        return [m for m in self.messages if isinstance(m, cls)]


@contextlib.asynccontextmanager
async def running(link: DaemonLink) -> AsyncIterator[asyncio.Task[None]]:
    task = asyncio.create_task(link.run(), name="test:link")
    try:
        yield task
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def test_retry_delay_grows_and_is_capped() -> None:
    delays = [retry_delay(n) for n in range(20)]
    assert delays[0] == RETRY_FIRST_S
    assert all(a <= b for a, b in itertools.pairwise(delays))
    assert max(delays) == RETRY_MAX_S


async def test_several_links_attach_to_one_daemon(daemon: Daemon) -> None:
    inboxes = [Inbox(), Inbox(), Inbox()]
    links = [DaemonLink(Path(daemon.socket_path), box) for box in inboxes]
    async with contextlib.AsyncExitStack() as stack:
        for link in links:
            await stack.enter_async_context(running(link))
        await until(lambda: all(link.state is LinkState.ATTACHED for link in links))
        daemon.submit(Request(seat="4"), "test")
        for box in inboxes:
            await until(lambda box=box: any(m.state["queue"] == ["4"]
                                            for m in box.of(StateChanged)))
        # Each link can send on its own connection, and gets its own reply.
        replies = await asyncio.gather(*(link.request("ping") for link in links))
        assert [r["ok"] for r in replies] == [True, True, True]


async def test_request_while_detached_raises(tmp_dir: Path) -> None:
    link = DaemonLink(tmp_dir / "nobody.sock", Inbox())
    with pytest.raises(ConnectionLostError):
        await link.request("ping")


async def test_no_daemon_posts_disconnected_with_growing_delay(tmp_dir: Path) -> None:
    box = Inbox()
    async with running(DaemonLink(tmp_dir / "nobody.sock", box)):
        await until(lambda: len(box.of(Disconnected)) >= 3, 5.0)
    first, second, third = box.of(Disconnected)[:3]
    assert (first.attempt, second.attempt, third.attempt) == (1, 2, 3)
    assert first.retry_in < second.retry_in < third.retry_in
    assert "cannot reach councild" in first.reason


Script = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Any]


@contextlib.asynccontextmanager
async def peer(path: Path, script: Script) -> AsyncIterator[None]:
    """A scripted peer on a real Unix socket: answers `subscribe`, then runs `script`."""

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        line = await reader.readline()
        request = json.loads(line)
        assert request["op"] == "subscribe"
        writer.write(json.dumps({"id": request["id"], "ok": True,
                                 "state": {"mode": "request"}, "log": []}).encode() + b"\n")
        await script(reader, writer)
        with contextlib.suppress(Exception):
            await writer.drain()
            await asyncio.Event().wait()  # keep the connection until the test ends

    server = await asyncio.start_unix_server(serve, path=str(path))
    try:
        yield
    finally:
        server.close()


async def test_malformed_lines_are_counted_not_fatal(tmp_dir: Path) -> None:
    async def garbage(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"not json\n\xff\xfe\n[1,2]\n")
        writer.write(b'{"event":"future-thing","x":1}\n')  # an event from a newer daemon
        writer.write(b'{"event":"state","state":{"mode":"open"}}\n')

    box = Inbox()
    async with peer(tmp_dir / "p.sock", garbage), running(DaemonLink(tmp_dir / "p.sock", box)) as t:
        await until(lambda: box.of(StateChanged))
        assert not t.done()
    assert box.of(Attached)[0].state == {"mode": "request"}
    assert box.of(StateChanged)[0].state == {"mode": "open"}


async def test_malformed_count(tmp_dir: Path) -> None:
    async def garbage(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"not json\n\xff\xfe\n[1,2]\n")

    link = DaemonLink(tmp_dir / "p.sock", Inbox())
    async with peer(tmp_dir / "p.sock", garbage), running(link):
        await until(lambda: link.malformed == 3)
        assert link.state is LinkState.ATTACHED


async def test_level_bursts_are_coalesced(tmp_dir: Path) -> None:
    burst = 500

    async def levels(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        for i in range(burst):
            writer.write(json.dumps({"event": "levels", "levels": {"1": -float(i)}}).encode()
                         + b"\n")
        writer.write(b'{"event":"state","state":{"mode":"voice"}}\n')  # marks the end

    box = Inbox()
    link = DaemonLink(tmp_dir / "p.sock", box)
    async with peer(tmp_dir / "p.sock", levels), running(link):
        await until(lambda: box.of(StateChanged))
        # 500 level messages, one notification: the app takes the newest when it gets to it.
        assert len(box.of(LevelsChanged)) == 1
        assert link.take_levels() == {"1": -float(burst - 1)}
        assert link.take_levels() is None


async def test_unanswered_request_times_out(tmp_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("tui.link.REQUEST_TIMEOUT_S", 0.2)

    async def silent(_reader: asyncio.StreamReader, _writer: asyncio.StreamWriter) -> None:
        return None  # reads nothing more, answers nothing

    link = DaemonLink(tmp_dir / "p.sock", Inbox())
    async with peer(tmp_dir / "p.sock", silent), running(link):
        await until(lambda: link.state is LinkState.ATTACHED)
        with pytest.raises(OperationTimeoutError):
            await link.request("ping")


async def test_pending_request_fails_when_the_daemon_goes(tmp_dir: Path) -> None:
    async def hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readline()  # the request arrives; the daemon dies before answering
        writer.close()

    box = Inbox()
    link = DaemonLink(tmp_dir / "p.sock", box)
    async with peer(tmp_dir / "p.sock", hang_up), running(link):
        await until(lambda: link.state is LinkState.ATTACHED)
        with pytest.raises(ConnectionLostError):
            await link.request("ping")
        await until(lambda: bool(box.of(Disconnected)))


async def test_a_clean_stop_shows_the_daemon_gone_and_the_link_reattaches(short_tmp: Path) -> None:
    """Issue 15: a clean stop of the daemon tells the link so (a `closing` message); the TUI
    shows it as gone and attaches again when a daemon is back on the socket."""
    from councild.config import parse
    from tests.chamber import chamber_toml

    def make() -> Daemon:
        return Daemon(parse(chamber_toml()), store_path=short_tmp / "s.db",
                      socket_path=short_tmp / "a.sock")

    first = make()
    await first.start()
    box = Inbox()
    link = DaemonLink(short_tmp / "a.sock", box)
    async with running(link):
        await until(lambda: link.state is LinkState.ATTACHED)
        await first.stop()
        await until(lambda: bool(box.of(Disconnected)))
        assert box.of(Disconnected)[0].reason == "councild stopped"
        second = make()
        await second.start()
        try:
            await until(lambda: link.attaches == 2 and link.state is LinkState.ATTACHED, 10)
            assert (await link.request("ping"))["ok"]
        finally:
            await second.stop()
