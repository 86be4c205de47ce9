"""Fixtures: the recorded Hürtgenwald OParl server on 127.0.0.1, and bad servers."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.oparl.server import BadServer, RecordedOParl, read_recording, tarball_path


@pytest.fixture(scope="session")
def recording() -> dict[str, bytes]:
    return read_recording(tarball_path())


@pytest.fixture
def oparl(recording: dict[str, bytes]) -> Iterator[RecordedOParl]:
    server = RecordedOParl(recording).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def bad_server(request: pytest.FixtureRequest) -> Iterator[BadServer]:
    server = BadServer(request.param)
    try:
        yield server
    finally:
        server.stop()
