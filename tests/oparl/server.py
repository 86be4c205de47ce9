"""HTTP servers on 127.0.0.1 for the OParl tests: the recorded Hürtgenwald server, and bad
servers (an HTML page, a loop in `next`, a 50 MB answer, one that never answers).

The recording is read from the tarball in ../shared/oparl (never unpacked into the
repository); each request path is mapped back to its file, as the tarball's README says,
and the real server's prefix is rewritten to this server's address at serve time.
"""

from __future__ import annotations

import contextlib
import json
import tarfile
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.helpers import IN_CI

REAL_PREFIX = "https://sdnetrim.kdvz-frechen.de/rim4220/webservice/oparl/v1.0/"
LOCAL_PATH = "/rim4220/webservice/oparl/v1.0/"
REPO = Path(__file__).resolve().parents[2]
TARBALL = "huertgenwald-2021.tar.gz"


def tarball_path() -> Path:
    """../shared/oparl beside the repository (the CI clone's layout); a worktree may sit a
    level deeper, so the ancestors are looked in too."""
    for base in [REPO.parent, *REPO.parent.parents]:
        candidate = base / "shared" / "oparl" / TARBALL
        if candidate.is_file():
            return candidate
    message = f"the recorded OParl server ../shared/oparl/{TARBALL} is not there"
    if IN_CI:
        pytest.fail(f"CI=true: {message}")
    pytest.skip(message)


def read_recording(path: Path) -> dict[str, bytes]:
    files: dict[str, bytes] = {}
    with tarfile.open(path, "r:gz") as tar:
        for member in tar.getmembers():
            if not member.isfile():
                continue
            f = tar.extractfile(member)
            assert f is not None
            files[member.name.removeprefix("./")] = f.read()
    return files


Transform = Callable[[str, Any], Any]  # (file name, parsed JSON) → JSON to serve


class RecordedOParl:
    """The recording served at http://127.0.0.1:PORT/rim4220/webservice/oparl/v1.0/."""

    def __init__(self, files: dict[str, bytes]) -> None:
        self.files = files
        self.transforms: list[Transform] = []  # tests alter responses with these
        self.extra: dict[str, Any] = {}  # file name → JSON served although not recorded
        self.requests: list[str] = []
        self.user_agents: set[str] = set()
        self._server = _Server(("127.0.0.1", 0), self._handle)
        self.port = self._server.server_address[1]
        self.base = f"http://127.0.0.1:{self.port}{LOCAL_PATH}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def start(self) -> RecordedOParl:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)

    def url(self, name: str) -> str:
        return self.base + name

    def load(self, name: str) -> Any:
        """A recorded file as the real server sent it (the tests' independent view)."""
        return json.loads(self.files[name])

    def _handle(self, handler: BaseHTTPRequestHandler) -> None:
        self.requests.append(handler.path)
        self.user_agents.add(handler.headers.get("User-Agent", ""))
        parts = urlsplit(handler.path)
        if not parts.path.startswith(LOCAL_PATH):
            return _send(handler, 404, b"not found", "text/plain")
        name = parts.path[len(LOCAL_PATH):] + (f"?{parts.query}" if parts.query else "")
        name += ".json"
        if name in self.extra:
            data = self.extra[name]
        elif name in self.files:
            data = json.loads(self.files[name])
        else:
            return _send(handler, 404, b'{"error": "not found"}', "application/json")
        for transform in self.transforms:
            data = transform(name, data)
        text = json.dumps(data, ensure_ascii=False).replace(REAL_PREFIX, self.base)
        _send(handler, 200, text.encode(), "application/json; charset=utf-8")


class BadServer:
    """One misbehaviour for every request: "html", "loop", "huge" or "silent"."""

    HUGE = 50 * 1024 * 1024

    def __init__(self, mode: str) -> None:
        self.mode = mode
        self.release = threading.Event()
        self._server = _Server(("127.0.0.1", 0), self._handle)
        self.port = self._server.server_address[1]
        self.base = f"http://127.0.0.1:{self.port}/oparl/"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self.release.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)

    def _handle(self, handler: BaseHTTPRequestHandler) -> None:
        path = urlsplit(handler.path).path
        if self.mode == "html":
            page = b"<!DOCTYPE html><html><body><h1>Ratsinformation</h1></body></html>"
            return _send(handler, 200, page, "text/html; charset=utf-8")
        if self.mode == "silent":
            self.release.wait(30)  # holds the connection open, says nothing
            return None
        if self.mode == "huge":
            handler.send_response(200)
            handler.send_header("Content-Type", "application/json")
            handler.end_headers()  # no Content-Length: the client must count
            chunk = b" " * (1024 * 1024)
            try:
                handler.wfile.write(b'{"id": "x", "data": [')
                for _ in range(self.HUGE // len(chunk)):
                    handler.wfile.write(chunk)
                handler.wfile.write(b"]}")
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client stopped reading: what it should do
            handler.close_connection = True
            return None
        # loop: a System, a Body, and a meeting list whose page 2 leads back to page 1
        base = self.base
        docs: dict[str, Any] = {
            "/oparl/system": {"id": base + "system", "type": "https://schema.oparl.org/1.1/System",
                              "oparlVersion": "https://schema.oparl.org/1.1/",
                              "body": base + "body"},
            "/oparl/body": {"data": [{"id": base + "body/1",
                                      "type": "https://schema.oparl.org/1.1/Body",
                                      "name": "Loop", "meeting": base + "meeting",
                                      "organization": base + "organization",
                                      "person": base + "person"}], "links": {}},
            "/oparl/meeting": {"data": [], "links": {"next": base + "meeting2"}},
            "/oparl/meeting2": {"data": [], "links": {"next": base + "meeting"}},
            "/oparl/organization": {"data": [], "links": {}},
            "/oparl/person": {"data": [], "links": {}},
        }
        doc = docs.get(path)
        if doc is None:
            return _send(handler, 404, b"{}", "application/json")
        return _send(handler, 200, json.dumps(doc).encode(), "application/json")


def _send(handler: BaseHTTPRequestHandler, status: int, body: bytes, ctype: str) -> None:
    handler.send_response(status)
    handler.send_header("Content-Type", ctype)
    handler.send_header("Content-Length", str(len(body)))
    handler.end_headers()
    with contextlib.suppress(BrokenPipeError, ConnectionResetError):
        handler.wfile.write(body)


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int],
                 handle: Callable[[BaseHTTPRequestHandler], None]) -> None:
        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                handle(self)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        super().__init__(address, Handler)
