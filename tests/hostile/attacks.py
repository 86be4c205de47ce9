"""Hostile clients, run as their own process (`python -m tests.hostile.attacks NAME JSON`), so
their work never competes with the measuring side's event loop. Each attack runs for
`seconds` and then closes everything it opened. Loopback only.

    flood       TCP API clients writing 64 KiB of `{}` lines before auth, reconnecting as fast
                as they are closed, and one authenticated client pipelining `ping` flat out
    nonreader   Unix-socket clients pipelining `state` and subscribers, none of them reading,
                while one client makes the floor change 10 times a second
    idle        connections to the TCP API and the join page (if any) that send nothing,
                far more than the caps allow
    pageflood   a councillor's page sending control messages flat out, and page loads with
                unknown tokens from rotating addresses of 127.0.0.0/8
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import sys
import time
from typing import Any

import aiohttp


async def _until(deadline: float) -> None:
    await asyncio.sleep(max(0.0, deadline - time.monotonic()))


async def flood(args: dict[str, Any], deadline: float) -> dict[str, int]:
    blob = b"{}\n" * (64 * 1024 // 3)
    sent = 0

    async def preauth() -> None:
        nonlocal sent
        while time.monotonic() < deadline:
            try:
                _r, w = await asyncio.open_connection("127.0.0.1", args["tcp_port"])
            except OSError:
                await asyncio.sleep(0.05)
                continue
            try:
                w.write(blob)
                sent += 1
                await asyncio.wait_for(w.drain(), 1.0)
                await asyncio.sleep(0.01)
            except (OSError, TimeoutError):
                pass
            finally:
                w.close()

    async def authed() -> None:
        nonlocal sent
        r, w = await asyncio.open_connection("127.0.0.1", args["tcp_port"])
        w.write(json.dumps({"id": 0, "op": "auth", "token": args["token"]}).encode() + b"\n")
        await r.readline()
        lines = b"".join(b'{"id":%d,"op":"ping"}\n' % i for i in range(2000))

        async def drain_replies() -> None:
            with contextlib.suppress(Exception):
                while await r.read(65536):
                    pass

        reader = asyncio.create_task(drain_replies())
        try:
            while time.monotonic() < deadline:
                w.write(lines)
                sent += 1
                await w.drain()
        except OSError:
            pass
        finally:
            reader.cancel()
            w.close()

    await asyncio.gather(*(preauth() for _ in range(args.get("clients", 20))), authed())
    return {"writes": sent}


async def nonreader(args: dict[str, Any], deadline: float) -> dict[str, int]:
    writers = []
    for i in range(args.get("clients", 40)):
        _r, w = await asyncio.open_unix_connection(args["socket"])
        if i % 2:
            w.write(b'{"id":1,"op":"subscribe"}\n')  # then never reads a byte
        else:
            w.write(b'{"id":1,"op":"state"}\n' * 2000)  # pipelined, never read
        writers.append(w)
    r, w = await asyncio.open_unix_connection(args["socket"], limit=1 << 24)
    changes = 0
    seats = ["1", "2", "3", "4"]
    while time.monotonic() < deadline:
        seat = seats[changes % 4]
        op = "grant" if (changes // 4) % 2 == 0 else "revoke"
        w.write(json.dumps({"id": changes, "op": op, "seat": seat}).encode() + b"\n")
        await r.readline()
        changes += 1
        await asyncio.sleep(0.1)  # floor changes (each a store commit) for the subscribers
    w.close()
    for x in writers:
        x.transport.abort()
    return {"changes": changes, "clients": len(writers)}


async def idle(args: dict[str, Any], deadline: float) -> dict[str, int]:
    held: list[asyncio.StreamWriter] = []
    targets = [args["tcp_port"]] + ([args["join_port"]] if args.get("join_port") else [])
    refused = 0

    async def one(port: int) -> None:
        nonlocal refused
        try:  # a daemon out of descriptors leaves a connect hanging in the backlog
            _r, w = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), 1.0)
            held.append(w)
        except (OSError, TimeoutError):
            refused += 1

    for port in targets:
        await asyncio.gather(*(one(port) for _ in range(args.get("per_port", 400))))
    await _until(deadline)
    for w in held:
        w.transport.abort()
    return {"opened": len(held), "refused": refused}


async def pageflood(args: dict[str, Any], deadline: float) -> dict[str, int]:
    base = f"http://127.0.0.1:{args['join_port']}"
    sent = guesses = 0
    rng = random.Random(1)

    async def control(http: aiohttp.ClientSession) -> None:
        nonlocal sent
        ws = await http.ws_connect(f"{base}/control/{args['page_token']}?i=hostile0001",
                                   headers={"Origin": base})

        async def swallow() -> None:
            with contextlib.suppress(Exception):
                async for _msg in ws:
                    pass

        reader = asyncio.create_task(swallow())
        try:
            while time.monotonic() < deadline:
                for _ in range(200):
                    await ws.send_str('{"op":"withdraw"}')
                    sent += 1
                await asyncio.sleep(0)
        finally:
            reader.cancel()
            await ws.close()

    async def guess() -> None:
        nonlocal guesses
        while time.monotonic() < deadline:
            source = f"127.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}"
            connector = aiohttp.TCPConnector(local_addr=(source, 0), force_close=True)
            try:
                async with aiohttp.ClientSession(connector=connector) as s, s.get(
                        f"{base}/join/{rng.getrandbits(128):032x}") as resp:
                    await resp.read()
                    guesses += 1
            except (OSError, aiohttp.ClientError):
                await asyncio.sleep(0.01)

    async with aiohttp.ClientSession() as http:
        await asyncio.gather(control(http), *(guess() for _ in range(4)))
    return {"messages": sent, "guesses": guesses}


ATTACKS = {"flood": flood, "nonreader": nonreader, "idle": idle, "pageflood": pageflood}


async def main(name: str, args: dict[str, Any]) -> None:
    deadline = time.monotonic() + float(args["seconds"])
    result = await ATTACKS[name](args, deadline)
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], json.loads(sys.argv[2])))
