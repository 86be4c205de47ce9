from __future__ import annotations

import os

# The tests read English text (and the TUI snapshots are English) whatever the developer's
# locale is; the catalog tests ask for German explicitly. Set before councild is imported:
# labels are translated at import.
os.environ["LANGUAGE"] = "en"

import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

from councild.api import ApiClient
from councild.config import parse
from councild.daemon import Daemon
from tests.bridge.janus_server import JanusServer
from tests.chamber import DaemonProcess, chamber_toml
from tests.helpers import require_binary

# Hypothesis' own deadline is a wall-clock assertion; CI machines are shared and slow, and
# tests must never fail on speed.
settings.register_profile(
    "councild", deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile("councild")


@pytest.fixture
def short_tmp() -> Iterator[Path]:
    """A short temporary directory: Unix socket paths are limited to ~107 bytes."""
    with tempfile.TemporaryDirectory(prefix="cd-") as d:
        yield Path(d)


@pytest.fixture
async def daemon(short_tmp: Path) -> AsyncIterator[Daemon]:
    d = Daemon(parse(chamber_toml()), store_path=short_tmp / "s.db",
               socket_path=short_tmp / "api.sock")
    await d.start()
    try:
        yield d
    finally:
        await d.stop()


@pytest.fixture
async def client(daemon: Daemon) -> AsyncIterator[ApiClient]:
    c = await ApiClient.connect(Path(daemon.socket_path))
    try:
        yield c
    finally:
        await c.close()


@pytest.fixture
def daemon_process(short_tmp: Path) -> Iterator[DaemonProcess]:
    config = short_tmp / "config.toml"
    config.write_text(chamber_toml())
    p = DaemonProcess(config, short_tmp / "s.db", short_tmp / "api.sock", short_tmp / "log")
    try:
        yield p
    finally:
        p.stop()


@pytest.fixture
def janus() -> Iterator[JanusServer]:
    """A real Janus on a free loopback port, killed afterwards."""
    binary = require_binary("janus", "janus")
    with tempfile.TemporaryDirectory(prefix="janus-") as folder:
        server = JanusServer(binary, Path(folder))
        server.start()
        try:
            yield server
        finally:
            server.stop()
            assert server.leftovers() == [], "janus processes left behind"
