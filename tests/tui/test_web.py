"""`--web`: the TUI through textual-serve, over real HTTP and WebSocket on 127.0.0.1."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from councild.daemon import Daemon
from tests.helpers import until
from tui.web import COOKIE, WebError, check_binding, make_server, tui_command

pytest.importorskip("textual_serve", reason="textual-serve not installed (--web is optional)")
from aiohttp.test_utils import TestClient, TestServer

pytestmark = pytest.mark.timeout(60)

TOKEN = "s3cret-token"
# A browser tab starts a fresh Python + Textual process: a few seconds on a busy machine.
SPAWN_S = 20.0


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "::1", "[::1]", "127.0.0.2"])
def test_loopback_needs_no_token(host: str) -> None:
    check_binding(host, None)


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.20", "::", "tui.example.org"])
def test_other_addresses_need_a_token(host: str) -> None:
    with pytest.raises(WebError, match="token"):
        check_binding(host, None)
    check_binding(host, TOKEN)


def test_command_is_quoted() -> None:
    assert "'/tmp/a b/api.sock'" in tui_command(Path("/tmp/a b/api.sock"))


async def _client(socket: Path, token: str | None) -> TestClient[Any, Any]:
    server = make_server(socket, "127.0.0.1", 0, token)
    app = await server._make_app()  # type: ignore[attr-defined]
    client: TestClient[Any, Any] = TestClient(TestServer(app, host="127.0.0.1"))
    await client.start_server()
    return client


async def test_token_is_required_then_kept_in_a_cookie(tmp_dir: Path) -> None:
    client = await _client(tmp_dir / "api.sock", TOKEN)
    try:
        assert (await client.get("/")).status == 403
        assert (await client.get("/?token=wrong")).status == 403
        assert (await client.get("/static/css/xterm.css")).status == 403
        page = await client.get(f"/?token={TOKEN}")
        assert page.status == 200
        cookie = page.cookies[COOKIE]
        assert cookie.value == TOKEN and cookie["httponly"] and cookie["samesite"] == "Strict"
        # The cookie jar now carries the token: the page's other requests pass.
        assert (await client.get("/")).status == 200
    finally:
        await client.close()


async def test_browser_tab_runs_a_tui_attached_to_the_daemon(daemon: Daemon) -> None:
    def subscribers() -> int:
        return sum(1 for c in daemon.server.connections if c.subscribed and not c.closed)

    client = await _client(Path(daemon.socket_path), None)
    try:
        assert (await client.get("/")).status == 200
        ws = await client.ws_connect("/ws?width=100&height=30")
        try:
            await until(lambda: subscribers() == 1, SPAWN_S)
            assert processes_using(Path(daemon.socket_path))  # a real TUI process
            # The TUI draws into the websocket as it would into a terminal.
            message = await ws.receive(timeout=SPAWN_S)
            assert message.data
        finally:
            await ws.close()
        # Closing the tab stops its TUI process, which leaves the daemon and exits.
        await until(lambda: subscribers() == 0, 10.0)
        await until(lambda: not processes_using(Path(daemon.socket_path)), 10.0)
    finally:
        await client.close()


def processes_using(socket: Path) -> list[int]:
    """Pids whose command line names this (unique, temporary) socket path."""
    pids = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes()
        except OSError:
            continue  # exited meanwhile
        if str(socket).encode() in cmdline and b"tui" in cmdline:
            pids.append(int(proc.name))
    return pids
