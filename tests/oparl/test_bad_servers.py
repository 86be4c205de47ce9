"""Servers that are not (good) OParl servers: each is a clear error within its bound, and
`import` writes nothing. The bounds are the contract here (timeouts, bytes, pages)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.oparl.server import BadServer
from tests.oparl.support import cli

pytestmark = pytest.mark.timeout(60)


def _import(server: BadServer, tmp_path: Path, *extra: str):
    out = tmp_path / "session.toml"
    started = time.monotonic()
    result = cli("oparl", "import", server.base + "system", "--meeting", "1", "-o", str(out),
                 *extra)
    return result, out, time.monotonic() - started


@pytest.mark.parametrize("bad_server", ["html"], indirect=True)
def test_an_html_page(bad_server: BadServer, tmp_path: Path) -> None:
    result, out, _ = _import(bad_server, tmp_path)
    assert result.returncode == 1
    assert "HTML page, not OParl JSON" in result.stderr
    assert "nothing written" in result.stderr and not out.exists()
    listing = cli("oparl", "meetings", bad_server.base + "system")
    assert listing.returncode == 1 and "HTML page" in listing.stderr


@pytest.mark.parametrize("bad_server", ["loop"], indirect=True)
def test_a_server_that_loops_next(bad_server: BadServer, tmp_path: Path) -> None:
    result, out, _ = _import(bad_server, tmp_path)
    assert result.returncode == 1
    assert "a page already read (a loop)" in result.stderr
    assert bad_server.base + "meeting" in result.stderr  # names the page
    assert not out.exists()
    listing = cli("oparl", "meetings", bad_server.base + "system")
    assert listing.returncode == 1 and "(a loop)" in listing.stderr


@pytest.mark.parametrize("bad_server", ["huge"], indirect=True)
def test_a_50_mb_answer(bad_server: BadServer, tmp_path: Path) -> None:
    result, out, _ = _import(bad_server, tmp_path)
    assert result.returncode == 1
    assert "the answer is larger than 16 MB" in result.stderr
    assert not out.exists()
    # A lower bound on the command line is honoured too.
    small, _, _ = _import(bad_server, tmp_path, "--max-mb", "1")
    assert "larger than 1 MB" in small.stderr


@pytest.mark.parametrize("bad_server", ["silent"], indirect=True)
def test_a_server_that_never_answers(bad_server: BadServer, tmp_path: Path) -> None:
    result, out, elapsed = _import(bad_server, tmp_path, "--timeout", "1", "--retries", "1")
    assert result.returncode == 1
    assert "no answer within 1 s" in result.stderr
    assert not out.exists()
    # Two attempts of 1 s and a 0.5 s backoff; the rest is Python starting up (loose: the
    # machine is shared), but far below what waiting for the server would take (30 s).
    assert 2.5 <= elapsed < 20, elapsed


def test_nothing_listening(tmp_path: Path) -> None:
    from tests.bridge.janus_server import free_port

    out = tmp_path / "s.toml"
    result = cli("oparl", "import", f"http://127.0.0.1:{free_port()}/oparl/system",
                 "--meeting", "1", "-o", str(out), "--retries", "0")
    assert result.returncode == 1 and "cannot reach the server" in result.stderr
    assert not out.exists()


def test_not_an_http_url(tmp_path: Path) -> None:
    result = cli("oparl", "meetings", "file:///etc/passwd")
    assert result.returncode == 1 and "not an http(s) URL" in result.stderr
