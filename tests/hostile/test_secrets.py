"""`-v` must not log the Janus room secret (issue 16, finding 7): the websockets library
logs every frame at DEBUG, and councild's frames to Janus carry the secret."""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
from pathlib import Path

import aiohttp
import pytest

from councild.api import ApiClient
from tests.hostile.rig import JANUS_SECRET_ENV, TOKEN, TOKEN_ENV, Rig

pytestmark = pytest.mark.timeout(60)


async def test_verbose_run_keeps_the_room_secret_out_of_the_log(janus) -> None:
    secret = "Zq7-rs-x9"  # short: websockets' frame log shows a frame's head and tail
    with tempfile.TemporaryDirectory(prefix="cd-v-") as d:
        folder = Path(d)
        rig = Rig(folder, janus.url)
        await rig.sq.start()
        await rig.cu.start()
        config = folder / "config.toml"
        config.write_text(rig.config())
        env = {**os.environ, TOKEN_ENV: TOKEN, JANUS_SECRET_ENV: secret}
        log = folder / "log"
        with log.open("wb") as out:
            proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "councild.cli", "-v", "run", "-c", str(config),
                "--db", str(folder / "s.db"), "--socket", str(folder / "a.sock"),
                env=env, stdout=out, stderr=out)
        try:
            client = None
            for _ in range(500):
                try:
                    client = await ApiClient.connect(folder / "a.sock")
                    break
                except OSError:
                    await asyncio.sleep(0.02)
            assert client is not None, log.read_text()
            for _ in range(500):  # the bridge connected: the room was created with the secret
                state = (await client.request("state"))["state"]
                if state["devices"]["bridge"]["link"] == "connected":
                    break
                await asyncio.sleep(0.02)
            else:
                raise AssertionError(log.read_text())
            await client.close()
            async with aiohttp.ClientSession() as http, http.get(
                    f"http://127.0.0.1:{rig.join_port}/static/join.css") as r:
                assert r.status == 200  # an access-log line at DEBUG: -v is on
            await asyncio.sleep(0.2)
        finally:
            proc.terminate()
            await asyncio.wait_for(proc.wait(), 10)
            await rig.sq.stop()
            await rig.cu.stop()
        text = log.read_text()
        assert "DEBUG councild.join.access" in text  # -v was on
        assert secret not in text
