"""The page's AudioBridge connection through councild's proxy, with the daemon and a real
Janus: the page joins as its own councillor (name, group remote, muted), the floor unmutes
it, and what it may not do never reaches Janus."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from councild.config import parse
from councild.daemon import Daemon
from councild.model import Grant, Revoke
from tests.helpers import require_binary, until
from tests.join_server.test_server import (
    SECRET,
    SECRET_ENV,
    TOKEN_A,
    TOKEN_B,
    JanusThroughProxy,
    base,
    free_port,
    join_chamber,
    origin,
)

pytestmark = pytest.mark.timeout(60)

AB_ROOM = 6262


@pytest.fixture
async def chamber(short_tmp: Path, janus, monkeypatch) -> AsyncIterator[Daemon]:
    require_binary("ffmpeg", "ffmpeg")
    monkeypatch.setenv(SECRET_ENV, SECRET)
    tokens = short_tmp / "tokens.toml"
    tokens.write_text(f'r1 = "{TOKEN_A}"\nr2 = "{TOKEN_B}"\n')
    tokens.chmod(0o600)
    text = join_chamber(janus.url, free_port(), tokens)
    text += (f'\n[bridge.audio]\nurl = "{janus.url}"\nroom = {AB_ROOM}\n'
             f'secret_env = "{SECRET_ENV}"\n'
             'send = ["-re", "-f", "lavfi", "-i", "anullsrc=r=48000:cl=mono"]\n')
    daemon = Daemon(parse(text), store_path=short_tmp / "s.db", socket_path=short_tmp / "a.sock")
    await daemon.start()
    try:
        await until(lambda: daemon.device_views["audiobridge"].link.value == "connected", 10)
        yield daemon
    finally:
        await daemon.stop()


async def test_page_joins_the_audiobridge_as_itself_muted_and_the_floor_unmutes(
        chamber: Daemon) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{base(chamber)}/join/{TOKEN_A}") as page:
            assert f'"audio": {{"room": {AB_ROOM}}}' in await page.text()
        ws = await http.ws_connect(f"{base(chamber)}/janus-audio/{TOKEN_A}?i=page0001",
                                   headers=origin(chamber), protocols=("janus-protocol",))
        page = JanusThroughProxy(ws)
        session = (await page.call({"janus": "create"}))["data"]["id"]
        refused = await page.call({"janus": "attach", "session_id": session,
                                   "plugin": "janus.plugin.videoroom"})
        assert refused["janus"] == "error" and refused["error"]["code"] == 403
        handle = (await page.call({"janus": "attach", "session_id": session,
                                   "plugin": "janus.plugin.audiobridge"}))["data"]["id"]

        def msg(body: dict) -> dict:
            return {"janus": "message", "session_id": session, "handle_id": handle,
                    "body": body}

        as_chamber = await page.call(msg({"request": "join", "room": AB_ROOM,
                                          "group": "chamber"}))
        assert as_chamber["janus"] == "error" and as_chamber["error"]["code"] == 403
        joined = await page.call(msg({"request": "join", "room": AB_ROOM, "display": "Chamber",
                                      "id": 1, "muted": False}), event=True)
        data = joined["plugindata"]["data"]
        assert data["audiobridge"] == "joined"
        me = str(data["id"])
        audio = chamber.audio

        def mine() -> dict | None:
            return next((p for p in chamber.state_dict()["audio"]["participants"]
                         if p["participant"] == me), None)

        # the councillor, by the proxy's claim; named by councild; muted without the floor
        await until(lambda: (p := mine()) is not None and p["seat"] == "R1", 5)
        assert audio.bridge.roster[me].display == "Anna Müller"
        assert audio.bridge.roster[me].muted
        # the page may not unmute itself, nor touch anyone else
        for body in ({"request": "configure", "muted": False},
                     {"request": "unmute", "room": AB_ROOM, "id": int(me)},
                     {"request": "mute", "room": AB_ROOM, "id": chamber.config.bridge.audio
                      .chamber_id},
                     {"request": "kick", "room": AB_ROOM, "id": 1},
                     {"request": "rtp_forward", "room": AB_ROOM, "host": "127.0.0.1",
                      "port": 9},
                     {"request": "listparticipants", "room": AB_ROOM, "secret": SECRET},
                     {"request": "changeroom", "room": 1},
                     {"request": "play_file", "room": AB_ROOM, "filename": "/etc/passwd"},
                     {"request": "destroy", "room": AB_ROOM}):
            reply = await page.call(msg(body))
            assert reply["janus"] == "error" and reply["error"]["code"] == 403, body
        assert audio.bridge.roster[me].muted
        assert chamber.join is not None and chamber.join.refused_messages == 11
        # the floor unmutes and mutes again
        chamber.submit(Grant(seat="R1"), "api")
        await until(lambda: not audio.bridge.roster[me].muted, 5)
        chamber.submit(Revoke(seat="R1"), "api")
        await until(lambda: audio.bridge.roster[me].muted, 5)
        await ws.close()
        await until(lambda: me not in audio.bridge.roster, 5)
