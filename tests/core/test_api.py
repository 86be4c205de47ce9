"""The control API over a real Unix socket (and loopback TCP) against a running daemon."""

from __future__ import annotations

import asyncio
import json
import os
import stat
import sys
from pathlib import Path

import pytest

from councild.api import MAX_LINE, ApiClient
from councild.config import parse
from councild.daemon import Daemon
from councild.sansio import LineFramer, TooLong
from tests.chamber import chamber_toml
from tests.helpers import until


async def test_grant_and_state_reply_shape(client):
    await client.request("request", seat="3")
    reply = await client.request("grant", seat="3")
    assert reply["ok"] is True
    state = (await client.request("state"))["state"]
    assert state["mode"] == "request"
    assert state["speakers"] == ["3"]
    assert state["queue"] == []
    seat3 = next(s for s in state["seats"] if s["id"] == "3")
    assert seat3 == {**seat3, "label": "03", "name": "Member 3", "mic": "on"}


async def test_every_floor_op(client):
    async def ok(op, **args):
        reply = await client.request(op, **args)
        assert reply["ok"], reply
        return reply["state"]

    await ok("request", seat="1")
    await ok("request", seat=2)  # a number is taken as the seat id
    state = await ok("request", seat="4", reply=True)
    assert state["queue"] == ["1", "2"] and state["reply_queue"] == ["4"]
    await ok("cancel", seat="2")
    state = await ok("next")
    assert state["speakers"] == ["4"]
    state = await ok("priority", on=True)
    assert state["priority"] and state["speakers"] == ["C"]
    state = await ok("priority", on=False)
    assert state["speakers"] == []
    state = await ok("mode", mode="open")
    assert state["mode"] == "open" and state["speakers"] == ["1"]  # the queue moved up
    await ok("max_open", value=3)
    await ok("press", seat="5")
    state = await ok("revoke", seat="5")
    assert state["speakers"] == ["1"]
    await ok("revoke_all")
    await ok("request", seat="6")
    await ok("mode", mode="request")
    await ok("request", seat="7")
    state = await ok("clear")
    assert state["queue"] == []
    state = await ok("agenda")
    assert state["agenda"]["id"] == "1"
    state = await ok("agenda", item="2")
    assert state["agenda"]["title"] == "Budget"


async def test_refusals_carry_a_code_and_keep_the_connection(client):
    reply = await client.request("revoke", seat="3")
    assert reply["ok"] is False
    assert reply["error"]["code"] == "not_speaking"
    reply = await client.request("grant")
    assert reply["error"]["code"] == "bad_request"
    reply = await client.request("mode", mode="chaos")
    assert reply["error"]["code"] == "bad_request"
    reply = await client.request("explode")
    assert reply["error"]["code"] == "unknown_op"
    assert (await client.request("state"))["ok"]


async def test_malformed_lines_get_an_error_reply_and_the_connection_stays(daemon):
    reader, writer = await asyncio.open_unix_connection(str(daemon.socket_path))
    writer.write(b"not json\n\xff\xfe\n[1,2]\n{\"id\": 7}\n" + b"x" * 70_000 + b"\n")
    writer.write(b'{"id": 8, "op": "state"}\n')
    replies = [json.loads(await reader.readline()) for _ in range(6)]
    codes = [r.get("error", {}).get("code") for r in replies]
    assert codes == ["bad_json", "bad_json", "bad_request", "bad_request", "line_too_long", None]
    assert replies[3]["id"] == 7
    assert replies[5]["id"] == 8 and replies[5]["ok"]
    writer.close()


async def test_subscribe_streams_changes_to_every_subscriber(daemon, client):
    other = await ApiClient.connect(Path(daemon.socket_path))
    try:
        stream = other.subscribe()
        first = await stream.__anext__()
        assert first["state"]["speakers"] == []
        await client.request("grant", seat="2")
        seen = []
        async def next_state():
            while True:
                m = await stream.__anext__()
                seen.append(m["event"])
                if m["event"] == "state":
                    return m["state"]
        state = await asyncio.wait_for(next_state(), 2)
        assert state["speakers"] == ["2"]
        assert "log" in seen  # the event log entry for the grant
    finally:
        await other.close()


async def test_socket_is_private(daemon):
    mode = stat.S_IMODE(os.stat(daemon.socket_path).st_mode)
    assert mode == 0o600


async def test_a_second_daemon_on_the_same_socket_refuses(daemon, short_tmp):
    second = Daemon(parse(chamber_toml()), store_path=short_tmp / "other.db",
                    socket_path=Path(daemon.socket_path))
    with pytest.raises(OSError, match="another councild"):
        await second.start()
    await second.stop()


async def test_tcp_needs_the_token(short_tmp, monkeypatch):
    monkeypatch.setenv("COUNCILD_TEST_TOKEN", "s3cret-token-value")
    text = chamber_toml(extra='[api]\ntcp = "127.0.0.1:0"\ntoken_env = "COUNCILD_TEST_TOKEN"\n')
    d = Daemon(parse(text), store_path=short_tmp / "t.db", socket_path=short_tmp / "t.sock")
    await d.start()
    try:
        port = d.server.tcp_port
        # Auth first: a request before it is answered once, then the connection closes.
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b'{"id":1,"op":"grant","seat":"1"}\n')
        assert json.loads(await reader.readline())["error"]["code"] == "unauthenticated"
        assert await reader.readline() == b""
        writer.close()
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b'{"id":2,"op":"auth","token":"nope"}\n')
        assert json.loads(await reader.readline())["error"]["code"] == "unauthenticated"
        writer.close()
        assert d.state.speakers == ()
        c = await ApiClient.connect_tcp("127.0.0.1", port, "s3cret-token-value")
        assert (await c.request("grant", seat="1"))["ok"]
        await c.close()
    finally:
        await d.stop()


async def test_ctl_command_against_the_daemon(daemon):
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "councild.cli", "ctl", "--socket", str(daemon.socket_path),
        "grant", "5", stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 0, err
    assert "speaking: 05 Member 5" in out.decode()
    await until(lambda: daemon.state.speaking("5"))
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "councild.cli", "ctl", "--socket", str(daemon.socket_path),
        "--json", "revoke", "6", stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, _ = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 1
    assert json.loads(out)["error"]["code"] == "not_speaking"


def test_line_splitter_feed_styles():
    whole = LineFramer(limit=MAX_LINE).feed(b'{"a":1}\n{"b":2}\n')
    assert whole == [b'{"a":1}', b'{"b":2}']
    s = LineFramer(limit=MAX_LINE)
    pieces = [x for byte in b'{"a":1}\n{"b":2}\n' for x in s.feed(bytes([byte]))]
    assert pieces == whole
    s = LineFramer(limit=MAX_LINE)
    assert s.feed(b'{"a":1}\n{"b"') == [b'{"a":1}']
    assert s.feed(b":2}\n") == [b'{"b":2}']
    s = LineFramer(limit=10)
    out = s.feed(b"x" * 25) + s.feed(b"yyy\nok\n")
    assert len(out) == 2 and isinstance(out[0], TooLong) and out[1] == b"ok"


def test_line_splitter_iter_feed_gives_what_feed_gives():
    import random

    rng = random.Random(3)
    for _ in range(200):
        data = bytes(rng.choice(b'ab{}\n') for _ in range(rng.randrange(0, 60)))
        cuts = sorted(rng.sample(range(len(data) + 1), min(3, len(data) + 1)))
        a, b = LineFramer(limit=8), LineFramer(limit=8)
        got_a, got_b = [], []
        for lo, hi in zip([0, *cuts], [*cuts, len(data)], strict=True):
            got_a += a.feed(data[lo:hi])
            got_b += list(b.iter_feed(data[lo:hi]))
        assert [x if isinstance(x, bytes) else "too long" for x in got_a] == \
            [x if isinstance(x, bytes) else "too long" for x in got_b], data
