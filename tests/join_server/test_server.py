"""The join server over real HTTP and WebSockets, with the real daemon and a real Janus.

No browser here (tests/browser does that, in a network namespace): this client speaks the
page's protocols itself — HTTP for the page, Janus's JSON through the proxy, the control
socket — which is enough for everything but media: joining the room needs no WebRTC.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import socket
import ssl
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from councild.config import parse
from councild.daemon import Daemon
from councild.join.server import CLOSE_REPLACED
from devices.janus_client import JanusClient
from devices.janus_protocol import JanusMessage
from tests.chamber import BASE
from tests.helpers import require_binary, until

pytestmark = pytest.mark.timeout(60)

ROOM = 6161
SECRET = "join-room-secret"
SECRET_ENV = "COUNCILD_TEST_JOIN_SECRET"
TOKEN_A = "A" * 8 + secrets.token_urlsafe(24)
TOKEN_B = "B" * 8 + secrets.token_urlsafe(24)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def join_chamber(janus_url: str, port: int, tokens: Path, extra: str = "") -> str:
    parts = [BASE, '[[seats]]\nid = "C"\nlabel = "Chair"\ncouncillor = "chair"\n']
    for i, name in enumerate(["Anna Müller", "Bernd Schulz"], 1):
        parts.append(f'[[councillors]]\nid = "r{i}"\nname = "{name}"\n')
        parts.append(f'[[seats]]\nid = "R{i}"\nlabel = "R{i}"\ncouncillor = "r{i}"\n'
                     'remote = true\n')
    parts.append(f'[devices.bridge]\ndriver = "janus"\nurl = "{janus_url}"\nroom = {ROOM}\n'
                 f'secret_env = "{SECRET_ENV}"\ncreate_room = true\n')
    parts.append(f'[bridge]\ndevice = "bridge"\ntokens_file = "{tokens}"\n')
    parts.append(f'[join]\nenabled = true\nbind = "127.0.0.1:{port}"\n{extra}')
    return "\n".join(parts)


@pytest.fixture
async def chamber(short_tmp: Path, janus, monkeypatch) -> AsyncIterator[Daemon]:
    monkeypatch.setenv(SECRET_ENV, SECRET)
    tokens = short_tmp / "tokens.toml"
    tokens.write_text(f'r1 = "{TOKEN_A}"\nr2 = "{TOKEN_B}"\n')
    tokens.chmod(0o600)
    daemon = Daemon(parse(join_chamber(janus.url, free_port(), tokens)),
                    store_path=short_tmp / "s.db", socket_path=short_tmp / "a.sock")
    await daemon.start()
    try:
        await until(lambda: daemon.device_views["bridge"].link.value == "connected", 10)
        yield daemon
    finally:
        await daemon.stop()


def base(daemon: Daemon) -> str:
    assert daemon.join is not None
    return daemon.join.base_url


class JanusThroughProxy:
    """A page's Janus conversation, spoken by hand through councild's proxy."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self.events: list[dict[str, Any]] = []
        self._n = 0

    async def call(self, msg: dict[str, Any], *, event: bool = False) -> dict[str, Any]:
        self._n += 1
        tx = f"t{self._n}"
        await self.ws.send_str(json.dumps({**msg, "transaction": tx}))
        while True:
            reply = json.loads((await self.ws.receive(timeout=10)).data)
            if reply.get("transaction") != tx:
                self.events.append(reply)
                continue
            if reply.get("janus") == "ack" and event:
                continue
            return reply

    async def join(self, display: str = "Mallory #forged") -> tuple[int, int, dict[str, Any]]:
        session = (await self.call({"janus": "create"}))["data"]["id"]
        handle = (await self.call({"janus": "attach", "session_id": session,
                                   "plugin": "janus.plugin.videoroom"}))["data"]["id"]
        joined = await self.call({"janus": "message", "session_id": session,
                                  "handle_id": handle,
                                  "body": {"request": "join", "ptype": "publisher",
                                           "room": ROOM, "display": display}}, event=True)
        return session, handle, joined


async def statuses(ws: aiohttp.ClientWebSocketResponse, into: list[dict[str, Any]]) -> None:
    async for msg in ws:
        if msg.type is aiohttp.WSMsgType.TEXT:
            into.append(json.loads(msg.data))


def origin(daemon: Daemon) -> dict[str, str]:
    return {"Origin": base(daemon)}


async def test_page_refusal_and_static_files(chamber: Daemon) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{base(chamber)}/join/{TOKEN_A}") as page:
            assert page.status == 200
            text = await page.text()
            assert "default-src 'self'" in page.headers["Content-Security-Policy"]
            assert page.headers["Referrer-Policy"] == "no-referrer"
        assert "Anna Müller" in text and f'"room": {ROOM}' in text
        assert SECRET not in text and TOKEN_B not in text
        # one character off (not "x" always: a random token ending in "x" stayed valid, 1 in 64)
        wrong = TOKEN_A[:-1] + ("y" if TOKEN_A.endswith("x") else "x")
        async with http.get(f"{base(chamber)}/join/{wrong}") as refused:
            assert refused.status == 403
            body = await refused.text()
        assert "not valid" in body and "Anna" not in body
        async with http.get(f"{base(chamber)}/join/{TOKEN_A}",
                            headers={"Accept-Language": "de-DE,de;q=0.9,en;q=0.5"}) as german:
            assert '<html lang="de"' in await german.text()
        for name, path in (("janus.js", chamber.config.join.janus_js),
                           ("adapter.js", chamber.config.join.adapter_js)):
            async with http.get(f"{base(chamber)}/static/{name}") as js:
                assert js.status == 200
                assert await js.read() == path.read_bytes()
        for name in ("join.js", "join.css"):
            async with http.get(f"{base(chamber)}/static/{name}") as own:
                assert own.status == 200
        async with http.get(f"{base(chamber)}/static/tokens.toml") as nothing:
            assert nothing.status == 404


async def test_unknown_tokens_lock_the_address_out(chamber: Daemon) -> None:
    limit = chamber.config.join.max_failures
    async with aiohttp.ClientSession() as http:
        for i in range(limit):
            async with http.get(f"{base(chamber)}/join/guess{i:030d}") as r:
                assert r.status == 403
        async with http.get(f"{base(chamber)}/join/{TOKEN_A}") as locked:
            assert locked.status == 429  # even the right token, from this address, for now
        with pytest.raises(aiohttp.WSServerHandshakeError) as err:
            await http.ws_connect(f"{base(chamber)}/control/{TOKEN_A}?i=abcdef123456",
                                  headers=origin(chamber))
        assert err.value.status == 429


async def test_websockets_accept_only_the_page_origin(chamber: Daemon) -> None:
    async with aiohttp.ClientSession() as http:
        for headers in ({"Origin": "https://evil.example"}, {}):
            for path in ("control", "janus"):
                with pytest.raises(aiohttp.WSServerHandshakeError) as err:
                    await http.ws_connect(f"{base(chamber)}/{path}/{TOKEN_A}?i=abcdef123456",
                                          headers=headers)
                assert err.value.status == 403
        with pytest.raises(aiohttp.WSServerHandshakeError) as err:
            await http.ws_connect(f"{base(chamber)}/control/{TOKEN_A}", headers=origin(chamber))
        assert err.value.status == 400  # no page instance


async def test_join_request_grant_revoke_through_the_page_protocols(chamber: Daemon,
                                                                    janus) -> None:
    seen: list[JanusMessage] = []
    spy = await JanusClient.connect(janus.url, seen.append)
    await spy.plugin({"request": "join", "ptype": "publisher", "room": ROOM, "display": "spy"},
                     until_event=True)
    got: list[dict[str, Any]] = []
    async with aiohttp.ClientSession() as http:
        control = await http.ws_connect(f"{base(chamber)}/control/{TOKEN_A}?i=page0001&lang=en",
                                        headers=origin(chamber))
        reader = asyncio.create_task(statuses(control, got))
        await until(lambda: bool(got), 5)
        assert got[-1]["status"] == "connecting"
        janus_ws = await http.ws_connect(f"{base(chamber)}/janus/{TOKEN_A}?i=page0001",
                                         headers=origin(chamber), protocols=("janus-protocol",))
        page = JanusThroughProxy(janus_ws)
        session, handle, joined = await page.join()
        assert joined["plugindata"]["data"]["videoroom"] == "joined"
        participant = str(joined["plugindata"]["data"]["id"])

        def seat() -> dict[str, Any]:
            return next(s for s in chamber.state_dict()["seats"] if s["id"] == "R1")

        # The councillor, by the proxy's binding: the forged display changed nothing.
        await until(lambda: seat()["bridge"]["participant"] == participant, 5)
        assert chamber.devices["bridge"].roster[participant].display == "Anna Müller"
        assert chamber.state_dict()["guests"] == [{"participant": spy_id(chamber, participant),
                                                   "name": "spy", "talking": False}]
        await until(lambda: got[-1]["status"] == "muted" and got[-1]["in_room"], 5)

        # Administration through the proxy is answered by the proxy, never by Janus.
        refused = await page.call({"janus": "message", "session_id": session,
                                   "handle_id": handle,
                                   "body": {"request": "kick", "room": ROOM, "id": 1,
                                            "secret": SECRET}})
        assert refused["janus"] == "error" and refused["error"]["code"] == 403
        assert chamber.join is not None and chamber.join.refused_messages == 1

        await control.send_json({"op": "request"})
        await until(lambda: got[-1]["status"] == "waiting", 5)
        assert got[-1]["position"] == 1
        assert chamber.state_dict()["queue"] == ["R1"]
        await control.send_json({"op": "withdraw"})
        await until(lambda: got[-1]["status"] == "muted", 5)
        assert chamber.state_dict()["queue"] == []

        await control.send_json({"op": "request"})
        await until(lambda: got[-1]["status"] == "waiting", 5)
        reply = chamber.apply_op(_api("grant", "R1"), "api")
        assert reply["ok"], reply
        await until(lambda: got[-1]["status"] == "speaking", 5)
        assert got[-1]["limit"] is None  # the test chamber has no speaking limit
        await control.send_json({"op": "finish"})
        await until(lambda: got[-1]["status"] == "muted", 5)
        assert not chamber.state.speaking("R1")

        # A page asking for something the floor cannot do is told why.
        await control.send_json({"op": "finish"})
        await until(lambda: got[-1]["type"] == "refused", 5)
        assert got[-1] == {"type": "refused", "code": "not_speaking",
                           "message": "you do not have the floor"}

        # The page goes away: the participant leaves the room and the seat is empty.
        await janus_ws.close()
        await until(lambda: not seat()["bridge"]["present"], 10)
        await control.close()
        reader.cancel()
    await spy.close()


def spy_id(daemon: Daemon, other: str) -> str:
    return next(pid for pid in daemon.devices["bridge"].roster if pid != other)


def _api(op: str, seat: str) -> Any:
    from councild.api import ApiRequest
    return ApiRequest(None, op, {"seat": seat})


async def test_a_second_page_replaces_the_first(chamber: Daemon) -> None:
    first: list[dict[str, Any]] = []
    async with aiohttp.ClientSession() as http:
        url = f"{base(chamber)}/control/{TOKEN_B}"
        old = await http.ws_connect(f"{url}?i=firstpage1", headers=origin(chamber))
        old_janus = await http.ws_connect(f"{base(chamber)}/janus/{TOKEN_B}?i=firstpage1",
                                          headers=origin(chamber), protocols=("janus-protocol",))
        _s, _h, joined = await JanusThroughProxy(old_janus).join()
        old_id = str(joined["plugindata"]["data"]["id"])
        reader = asyncio.create_task(statuses(old, first))
        await until(lambda: any(m.get("in_room") for m in first), 5)

        new = await http.ws_connect(f"{url}?i=secondpage", headers=origin(chamber))
        await until(lambda: reader.done(), 5)
        assert first[-1] == {"type": "replaced"}
        assert old.close_code == CLOSE_REPLACED
        while (await old_janus.receive(timeout=5)).type is aiohttp.WSMsgType.TEXT:
            pass  # Janus events still on their way, then the close
        assert old_janus.close_code == CLOSE_REPLACED
        # Its Janus session ended with the proxy connection: the old participant left.
        await until(lambda: old_id not in chamber.devices["bridge"].roster, 10)

        # The replaced page may not take the place back.
        again = await http.ws_connect(f"{url}?i=firstpage1", headers=origin(chamber))
        assert json.loads((await again.receive(timeout=5)).data) == {"type": "replaced"}
        await again.receive(timeout=5)
        assert again.close_code == CLOSE_REPLACED
        status = json.loads((await new.receive(timeout=5)).data)
        assert status["type"] == "status"
        await new.close()


def self_signed(folder: Path) -> tuple[Path, Path]:
    openssl = require_binary("openssl", "openssl")
    cert, key = folder / "join.crt", folder / "join.key"
    subprocess.run([openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                    "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True, timeout=30)
    return cert, key


async def test_tls_page_and_sockets(short_tmp: Path, janus, monkeypatch) -> None:
    cert, key = self_signed(short_tmp)
    monkeypatch.setenv(SECRET_ENV, SECRET)
    tokens = short_tmp / "tokens.toml"
    tokens.write_text(f'r1 = "{TOKEN_A}"\nr2 = "{TOKEN_B}"\n')
    tokens.chmod(0o600)
    extra = f'tls_cert = "{cert}"\ntls_key = "{key}"\n'
    daemon = Daemon(parse(join_chamber(janus.url, free_port(), tokens, extra)),
                    store_path=short_tmp / "s.db", socket_path=short_tmp / "a.sock")
    await daemon.start()
    try:
        url = base(daemon)
        assert url.startswith("https://127.0.0.1:")
        trust = ssl.create_default_context(cafile=str(cert))
        async with aiohttp.ClientSession() as http:
            async with http.get(f"{url}/join/{TOKEN_A}", ssl=trust) as page:
                assert page.status == 200
            with pytest.raises(aiohttp.ClientConnectorCertificateError):
                await http.get(f"{url}/join/{TOKEN_A}")  # not trusted by default: really TLS
            control = await http.ws_connect(f"{url.replace('https', 'wss')}/control/{TOKEN_A}"
                                            "?i=tlspage01", headers={"Origin": url}, ssl=trust)
            status = json.loads((await control.receive(timeout=5)).data)
            assert status["type"] == "status"
            await control.close()
            with pytest.raises(aiohttp.WSServerHandshakeError):  # http origin for an https page
                await http.ws_connect(f"{url}/control/{TOKEN_A}?i=tlspage02", ssl=trust,
                                      headers={"Origin": url.replace("https", "http")})
    finally:
        await daemon.stop()
