"""A real daemon (in-process) for the TUI to attach to, optionally with an X32 simulator."""

from __future__ import annotations

import os
import re
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from councild.config import parse
from councild.daemon import Daemon
from tests.chamber import chamber_toml
from tui.app import CouncilApp
from tui.widgets.tables import KeyedTable

SIZE = (100, 36)  # roomy enough that every panel shows its rows in the pilot tests


def desk_toml(port: int, members: int = 8) -> str:
    """The test chamber with every member's mic on an X32 channel (seat i → channel i)."""
    text = chamber_toml(members, extra=f"""
[devices.desk]
driver = "x32"
host = "127.0.0.1"
port = {port}
""")
    def with_mic(m: re.Match[str]) -> str:
        return f'{m[0]}mic = {{ device = "desk", channel = {m[1]} }}\n'

    return re.sub(r'councillor = "m(\d+)"\n', with_mic, text)


@pytest.fixture
def tmp_dir() -> Iterator[Path]:
    # Unix socket paths are limited to ~107 bytes: keep it short.
    with tempfile.TemporaryDirectory(prefix="cdt-") as d:
        yield Path(d)


@pytest.fixture(autouse=True)
def utc() -> Iterator[None]:
    """Log times in UTC, so that what a test reads does not depend on the machine's zone."""
    old = os.environ.get("TZ")
    os.environ["TZ"] = "UTC"
    time.tzset()
    yield
    if old is None:
        del os.environ["TZ"]
    else:
        os.environ["TZ"] = old
    time.tzset()


@pytest.fixture
async def daemon(tmp_dir: Path) -> AsyncIterator[Daemon]:
    d = Daemon(parse(chamber_toml()), store_path=tmp_dir / "s.db",
               socket_path=tmp_dir / "api.sock")
    await d.start()
    try:
        yield d
    finally:
        await d.stop()


def rows(table: KeyedTable) -> dict[str, list[str]]:
    """What a table shows, as plain text per row key."""
    out = {}
    for key in table._order:
        out[key] = [str(getattr(c, "plain", c)) for c in table.get_row(key)]
    return out


def make_app(daemon: Daemon) -> CouncilApp:
    return CouncilApp(Path(daemon.socket_path))
