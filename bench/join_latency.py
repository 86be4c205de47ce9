"""The join page's paths, timed: what a remote councillor waits for, and what the proxy adds.

A real Janus and the real daemon (in-process) with the join page; a client speaking the page's
protocols over real WebSockets (no browser: media is not on these paths).

- request: the page sends {"op": "request"} → the page receives status "waiting";
  then {"op": "withdraw"} → "muted" (both timed).
- grant: the technician's API grant → the page receives status "speaking".
- proxy: a Janus keepalive round trip through councild's gated proxy vs straight to Janus
  (the ratio is the proxy's cost on every message the page sends).

    python bench/join_latency.py [--rounds 300]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import aiohttp  # noqa: E402
import websockets  # noqa: E402

from councild.api import ApiRequest  # noqa: E402
from councild.config import parse  # noqa: E402
from councild.daemon import Daemon  # noqa: E402
from devices.sim.janus_server import JanusServer, free_port  # noqa: E402

ROOM = 7373
SECRET_ENV = "COUNCILD_BENCH_JOIN_SECRET"


def config_text(janus_url: str, port: int, tokens: Path) -> str:
    return f"""
[session]
title = "Join bench"
date = 2026-11-25
[floor]
mode = "request"
max_open = 2
[[councillors]]
id = "chair"
name = "Chair"
role = "chair"
[[councillors]]
id = "r1"
name = "Anna Remote"
[[seats]]
id = "C"
label = "C"
councillor = "chair"
[[seats]]
id = "R1"
label = "R1"
councillor = "r1"
remote = true
[devices.bridge]
driver = "janus"
url = "{janus_url}"
room = {ROOM}
secret_env = "{SECRET_ENV}"
create_room = true
[bridge]
device = "bridge"
tokens_file = "{tokens}"
[join]
enabled = true
bind = "127.0.0.1:{port}"
"""


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def line(name: str, ms: list[float]) -> str:
    return (f"{name:<28} n={len(ms):4d}  p50 {statistics.median(ms):6.2f} ms  "
            f"p95 {pct(ms, 0.95):6.2f} ms  p99 {pct(ms, 0.99):6.2f} ms")


async def until_status(ws: aiohttp.ClientWebSocketResponse, status: str) -> None:
    while True:
        msg = json.loads((await ws.receive(timeout=5)).data)
        if msg.get("type") == "status" and msg["status"] == status:
            return


async def keepalive_rtt(send: Any, receive: Any, session: int, rounds: int) -> list[float]:
    out = []
    for i in range(rounds):
        tx = f"k{i}"
        t0 = time.perf_counter()
        await send(json.dumps({"janus": "keepalive", "session_id": session, "transaction": tx}))
        while json.loads(await receive()).get("transaction") != tx:
            pass
        out.append((time.perf_counter() - t0) * 1000)
    return out


async def main(rounds: int) -> None:
    binary = shutil.which("janus")
    if binary is None:
        sys.exit("janus not found (Debian package janus)")
    folder = Path(tempfile.mkdtemp(prefix="bench-join-"))
    janus = JanusServer(binary, folder)
    janus.start()
    os.environ[SECRET_ENV] = secrets.token_urlsafe(12)
    token = secrets.token_urlsafe(24)
    tokens = folder / "tokens.toml"
    tokens.write_text(f'r1 = "{token}"\n')
    tokens.chmod(0o600)
    port = free_port()
    daemon = Daemon(parse(config_text(janus.url, port, tokens)), store_path=folder / "s.db",
                    socket_path=folder / "a.sock")
    await daemon.start()
    base = f"http://127.0.0.1:{port}"
    origin = {"Origin": base}
    try:
        while daemon.device_views["bridge"].link.value != "connected":
            await asyncio.sleep(0.05)
        async with aiohttp.ClientSession() as http:
            control = await http.ws_connect(f"{base}/control/{token}?i=benchpage", headers=origin)
            proxy = await http.ws_connect(f"{base}/janus/{token}?i=benchpage", headers=origin,
                                          protocols=("janus-protocol",))

            async def psend(text: str) -> None:
                await proxy.send_str(text)

            async def precv() -> str:
                return str((await proxy.receive(timeout=5)).data)

            await psend(json.dumps({"janus": "create", "transaction": "c"}))
            session = json.loads(await precv())["data"]["id"]
            await psend(json.dumps({"janus": "attach", "transaction": "a", "session_id": session,
                                    "plugin": "janus.plugin.videoroom"}))
            handle = json.loads(await precv())["data"]["id"]
            await psend(json.dumps({"janus": "message", "transaction": "j", "session_id": session,
                                    "handle_id": handle, "body": {"request": "join",
                                    "ptype": "publisher", "room": ROOM, "display": "x"}}))
            await until_status(control, "muted")

            request, withdraw, grant = [], [], []
            for _ in range(rounds):
                t0 = time.perf_counter()
                await control.send_json({"op": "request"})
                await until_status(control, "waiting")
                request.append((time.perf_counter() - t0) * 1000)
                t0 = time.perf_counter()
                await control.send_json({"op": "withdraw"})
                await until_status(control, "muted")
                withdraw.append((time.perf_counter() - t0) * 1000)
            for _ in range(rounds // 3):
                t0 = time.perf_counter()
                assert daemon.apply_op(ApiRequest(None, "grant", {"seat": "R1"}), "api")["ok"]
                await until_status(control, "speaking")
                grant.append((time.perf_counter() - t0) * 1000)
                daemon.apply_op(ApiRequest(None, "revoke", {"seat": "R1"}), "api")
                await until_status(control, "muted")

            through = await keepalive_rtt(psend, precv, session, rounds)
            async with websockets.connect(janus.url, subprotocols=["janus-protocol"]) as direct:
                await direct.send(json.dumps({"janus": "create", "transaction": "c"}))
                own = json.loads(await direct.recv())["data"]["id"]
                straight = await keepalive_rtt(direct.send, direct.recv, own, rounds)
            await proxy.close()
            await control.close()
        print(line("request → waiting", request))
        print(line("withdraw → muted", withdraw))
        print(line("API grant → speaking", grant))
        print(line("keepalive via proxy", through))
        print(line("keepalive direct", straight))
        via, direct_p50 = statistics.median(through), statistics.median(straight)
        print(f"proxy/direct keepalive p50 ratio {via / direct_p50:.2f}, "
              f"added p50 {via - direct_p50:.2f} ms")
    finally:
        await daemon.stop()
        janus.stop()
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=300)
    asyncio.run(main(parser.parse_args().rounds))
