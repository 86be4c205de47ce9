"""A real Janus for each bridge test, on a free loopback port, killed afterwards."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.bridge.janus_server import JanusServer
from tests.helpers import require_binary


@pytest.fixture
def janus() -> Iterator[JanusServer]:
    binary = require_binary("janus", "janus")
    with tempfile.TemporaryDirectory(prefix="janus-") as folder:
        server = JanusServer(binary, Path(folder))
        server.start()
        try:
            yield server
        finally:
            server.stop()
            assert server.leftovers() == [], "janus processes left behind"
