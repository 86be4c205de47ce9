"""The control API's bounds, each a finding of issue 16 reproduced against a real daemon:
auth first on TCP, one guess per connection and no log line per guess, connection caps, the
first-request timeout, NaN/Infinity ids, lone surrogates and deep nesting answered (not a
closed connection), a forwarded op's extra argument kept out of the event log, a private
socket folder, token rules, and a clean stop with clients attached."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from councild import api
from councild.api import ApiClient
from councild.config import parse
from councild.daemon import Daemon
from councild.errors import ConfigError
from tests.chamber import chamber_toml
from tests.helpers import until

TOKEN = "s3cret-token-value"


def strict_json(line: bytes) -> dict:
    """JSON as other languages read it: NaN and Infinity are not JSON."""

    def refuse(name: str) -> None:
        raise AssertionError(f"{name} in a reply")

    return json.loads(line, parse_constant=refuse)


async def tcp_daemon(short_tmp: Path, monkeypatch: pytest.MonkeyPatch) -> Daemon:
    monkeypatch.setenv("COUNCILD_TEST_TOKEN", TOKEN)
    text = chamber_toml(extra='[api]\ntcp = "127.0.0.1:0"\ntoken_env = "COUNCILD_TEST_TOKEN"\n')
    d = Daemon(parse(text), store_path=short_tmp / "t.db", socket_path=short_tmp / "t.sock")
    await d.start()
    return d


async def read_all(reader: asyncio.StreamReader, timeout: float = 5.0) -> list[bytes]:
    """Every line until the daemon closes the connection (fails if it does not)."""
    lines = []
    async with asyncio.timeout(timeout):
        while line := await reader.readline():
            lines.append(line)
    return lines


async def test_tcp_answers_nothing_but_auth_before_it(short_tmp, monkeypatch):
    """Finding 1: 64 KiB of `{}` lines before auth were all answered, in one go."""
    d = await tcp_daemon(short_tmp, monkeypatch)
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", d.server.tcp_port)
        writer.write(b"{}\n" * (64 * 1024 // 3))
        lines = await read_all(reader)
        writer.close()
        assert len(lines) == 1
        assert strict_json(lines[0])["error"]["code"] in ("bad_request", "unauthenticated")
        reader, writer = await asyncio.open_connection("127.0.0.1", d.server.tcp_port)
        writer.write(b'{"id":1,"op":"grant","seat":"1"}\n{"id":2,"op":"ping"}\n')
        lines = await read_all(reader)
        writer.close()
        assert [strict_json(x)["error"]["code"] for x in lines] == ["unauthenticated"]
        assert d.state.speakers == ()
    finally:
        await d.stop()


async def test_token_guessing_is_limited_and_not_logged_per_guess(short_tmp, monkeypatch,
                                                                  caplog):
    """Finding 7: unlimited guesses on one connection, a log line per guess."""
    d = await tcp_daemon(short_tmp, monkeypatch)
    caplog.set_level(logging.WARNING, logger="councild.api")
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", d.server.tcp_port)
        writer.write(b"".join(json.dumps({"id": i, "op": "auth", "token": f"guess{i}"}).encode()
                              + b"\n" for i in range(200)))
        lines = await read_all(reader)
        writer.close()
        assert len(lines) == 1, "one guess per connection"
        assert strict_json(lines[0])["error"]["code"] == "unauthenticated"

        async def guess(i: int) -> None:
            r, w = await asyncio.open_connection("127.0.0.1", d.server.tcp_port)
            w.write(json.dumps({"id": i, "op": "auth", "token": "x" * 16}).encode() + b"\n")
            await read_all(r)
            w.close()

        await asyncio.gather(*(guess(i) for i in range(api.TCP_MAX_PER_ADDRESS)))
        wrong = [r for r in caplog.records if "wrong token" in r.getMessage()]
        assert 1 <= len(wrong) <= 2, [r.getMessage() for r in wrong]
        c = await ApiClient.connect_tcp("127.0.0.1", d.server.tcp_port, TOKEN)
        assert (await c.request("grant", seat="1"))["ok"]
        await c.close()
    finally:
        await d.stop()


async def test_connections_beyond_the_cap_are_refused_with_a_reply(short_tmp, monkeypatch):
    """Finding 2: no connection limit; idle connections held for ever."""
    monkeypatch.setattr(api, "TCP_MAX_PER_ADDRESS", 4)
    monkeypatch.setattr(api, "AUTH_TIMEOUT", 0.5)
    d = await tcp_daemon(short_tmp, monkeypatch)
    try:
        held = [await asyncio.open_connection("127.0.0.1", d.server.tcp_port) for _ in range(4)]
        await until(lambda: d.server.caps["tcp"].open == 4)
        reader, writer = await asyncio.open_connection("127.0.0.1", d.server.tcp_port)
        lines = await read_all(reader)
        writer.close()
        assert [strict_json(x)["error"]["code"] for x in lines] == ["busy"]
        # The idle ones are closed after the auth timeout, with a reason; the slots free up.
        for r, w in held:
            last = await read_all(r)
            assert strict_json(last[-1]) == {"event": "closing", "reason": "auth_timeout"}
            w.close()
        await until(lambda: d.server.caps["tcp"].open == 0)
        c = await ApiClient.connect_tcp("127.0.0.1", d.server.tcp_port, TOKEN)
        assert (await c.request("ping"))["ok"]
        await c.close()
    finally:
        await d.stop()


async def test_unix_connection_that_says_nothing_is_closed(daemon, monkeypatch):
    monkeypatch.setattr(api, "AUTH_TIMEOUT", 0.3)
    reader, writer = await asyncio.open_unix_connection(str(daemon.socket_path))
    lines = await read_all(reader)
    writer.close()
    assert strict_json(lines[-1]) == {"event": "closing", "reason": "first_request_timeout"}


async def exchange(daemon: Daemon, payload: bytes) -> list[dict]:
    """Send raw lines, then a ping; every reply up to the ping's (the connection must stay)."""
    reader, writer = await asyncio.open_unix_connection(str(daemon.socket_path),
                                                        limit=1 << 24)
    writer.write(payload + b'{"id":"last","op":"ping"}\n')
    replies = []
    async with asyncio.timeout(5):
        while True:
            line = await reader.readline()
            assert line, "the daemon closed the connection"
            replies.append(strict_json(line))
            if replies[-1].get("id") == "last":
                break
    writer.close()
    return replies


async def test_nan_and_infinity_ids_are_not_echoed(daemon):
    """Finding 7: replies echoed NaN/Infinity ids, which is not JSON."""
    replies = await exchange(daemon, b'{"id":NaN,"op":"ping"}\n{"id":-Infinity,"op":"ping"}\n'
                                     b'{"id":1,"op":"ping","x":Infinity}\n')
    assert [r["error"]["code"] for r in replies[:3]] == ["bad_json"] * 3
    assert [r["id"] for r in replies[:3]] == [None, None, None]


async def test_lone_surrogates_are_refused_before_the_op_is_applied(daemon):
    """Finding 7: the op was applied, then the reply could not be encoded and the
    connection closed (the reply lost)."""
    replies = await exchange(daemon, b'{"id":1,"op":"grant","seat":"1","note":"\\ud800"}\n'
                                     b'{"id":"\\udc00","op":"ping"}\n')
    assert replies[0]["id"] == 1 and replies[0]["error"]["code"] == "bad_request"
    assert replies[1]["id"] is None and replies[1]["error"]["code"] == "bad_request"
    assert daemon.state.speakers == ()


async def test_deep_nesting_is_answered(daemon):
    deep = b'{"id":1,"op":"grant","seat":"1","x":' + b"[" * 20000 + b"]" * 20000 + b"}\n"
    middling = b'{"id":2,"op":"grant","seat":"1","x":' + b"[" * 100 + b"]" * 100 + b"}\n"
    replies = await exchange(daemon, deep + middling)
    assert replies[0]["error"]["code"] == "bad_json"
    assert replies[1]["id"] == 2 and replies[1]["error"]["code"] == "bad_request"
    assert daemon.state.speakers == ()


async def test_the_event_log_stays_encodable_for_later_subscribers(daemon):
    """Finding 7: an entry that cannot be encoded made every later `subscribe` fail."""
    daemon.note("api", {"type": "odd", "text": "\ud800"})
    c = await ApiClient.connect(Path(daemon.socket_path))
    try:
        reply = await c.request("subscribe")
        assert reply["ok"] is False and reply["error"]["code"] == "internal"
        assert (await c.request("ping"))["ok"]
    finally:
        await c.close()


async def test_socket_folder_open_to_others_is_refused(short_tmp):
    """Finding 5: a folder made 0777 by another user was used; that user could replace the
    socket and capture requests."""
    folder = short_tmp / "shared"
    folder.mkdir()
    folder.chmod(0o777)
    d = Daemon(parse(chamber_toml()), store_path=short_tmp / "s.db",
               socket_path=folder / "councild.sock")
    with pytest.raises(OSError, match="writable by others"):
        await d.start()
    await d.stop()
    assert not (folder / "councild.sock").exists()


@pytest.mark.skipif(os.getuid() != 0, reason="making a folder owned by another user needs root")
async def test_socket_folder_owned_by_another_user_is_refused(short_tmp):
    folder = short_tmp / "theirs"
    folder.mkdir(mode=0o700)
    os.chown(folder, 65534, 65534)
    d = Daemon(parse(chamber_toml()), store_path=short_tmp / "s.db",
               socket_path=folder / "councild.sock")
    with pytest.raises(OSError, match="not by us"):
        await d.start()
    await d.stop()


def test_store_files_are_private(short_tmp):
    """Finding 5: the store and its WAL/SHM were created 0644."""
    from councild.store import Store

    store = Store(short_tmp / "s.db")
    store.note(1, "test", "note", "x", {}, wall=0.0)
    for name in ("s.db", "s.db-wal", "s.db-shm"):
        assert (short_tmp / name).stat().st_mode & 0o077 == 0, name
    store.close()


@pytest.mark.parametrize("token", ["", "x", "fifteen-chars-x"])
def test_a_missing_or_short_token_is_a_config_error(monkeypatch, token):
    """Finding 7: a 1-character token was accepted; an empty one gave a traceback."""
    from councild.api_token import api_token_check

    monkeypatch.setenv("COUNCILD_TEST_TOKEN", token)
    with pytest.raises(ConfigError, match="COUNCILD_TEST_TOKEN"):
        api_token_check("COUNCILD_TEST_TOKEN")


@pytest.mark.timeout(60)
async def test_run_with_an_empty_token_says_so_without_a_traceback(short_tmp):
    config = short_tmp / "c.toml"
    config.write_text(chamber_toml(
        extra='[api]\ntcp = "127.0.0.1:0"\ntoken_env = "COUNCILD_TEST_TOKEN"\n'))
    env = {**os.environ, "COUNCILD_TEST_TOKEN": ""}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "councild.cli", "run", "-c", str(config), "--db",
        str(short_tmp / "s.db"), "--socket", str(short_tmp / "a.sock"), env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    _out, err = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 2, err
    assert b"Traceback" not in err and b"COUNCILD_TEST_TOKEN" in err


@pytest.mark.timeout(60)
async def test_sigterm_with_clients_attached_is_clean(daemon_process):
    """Issue 15: SIGTERM with API clients attached logged ERROR tracebacks and made
    `ctl --follow` exit 1. A clean stop says so to every client; both sides exit 0."""
    await daemon_process.start()
    follow = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "councild.cli", "ctl", "--socket", str(daemon_process.sock),
        "--follow", stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    plain = await ApiClient.connect(daemon_process.sock)
    subscriber = await ApiClient.connect(daemon_process.sock)
    assert (await subscriber.request("subscribe"))["ok"]
    assert (await plain.request("ping"))["ok"]
    assert follow.stdout is not None
    first = await asyncio.wait_for(follow.stdout.readline(), 30)  # subscribed: state printed
    assert first.startswith(b"mode ")
    assert daemon_process.kill(signal.SIGTERM) == 0
    _out, err = await asyncio.wait_for(follow.communicate(), 10)
    assert follow.returncode == 0, err
    assert b"daemon_stopping" in err
    last = await subscriber.receive()
    while last.get("event") != "closing":
        last = await subscriber.receive()
    assert last == {"event": "closing", "reason": "daemon_stopping"}
    await plain.close()
    await subscriber.close()
    log = daemon_process.log.read_text()
    assert "Traceback" not in log and "ERROR" not in log, log


@pytest.mark.timeout(60)
async def test_sigterm_with_a_tui_attached_shows_it_gone_and_reattaches(daemon_process):
    """Issue 15: the TUI's link sees a clean stop as the daemon gone (not an error) and
    attaches again to the daemon that comes back on the socket."""
    from tui.link import DaemonLink, LinkState
    from tui.messages import Disconnected

    await daemon_process.start()
    posted: list = []
    link = DaemonLink(daemon_process.sock, posted.append)
    task = asyncio.create_task(link.run())
    try:
        await until(lambda: link.state is LinkState.ATTACHED, 10)
        assert daemon_process.kill(signal.SIGTERM) == 0
        await until(lambda: any(isinstance(m, Disconnected) for m in posted), 5)
        gone = next(m for m in posted if isinstance(m, Disconnected))
        assert gone.reason == "councild stopped"
        await daemon_process.start()
        await until(lambda: link.attaches == 2 and link.state is LinkState.ATTACHED, 15)
        assert (await link.request("ping"))["ok"]
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    log = daemon_process.log.read_text()
    assert "Traceback" not in log and "ERROR" not in log, log


async def test_a_subscriber_that_does_not_read_is_dropped_with_a_reason(daemon, monkeypatch,
                                                                        caplog):
    """Finding 1: a subscriber that stops reading (a TUI frozen by Ctrl-Z) must not make
    the daemon buffer without bound, nor log per message."""
    monkeypatch.setattr(api, "SUBSCRIBER_HIGH_WATER", 64 * 1024)
    caplog.set_level(logging.WARNING, logger="councild.api")
    reader, writer = await asyncio.open_unix_connection(str(daemon.socket_path))
    writer.transport.pause_reading()  # the client reads nothing from here on
    writer.write(b'{"id":1,"op":"subscribe"}\n')
    await until(lambda: any(c.subscribed for c in daemon.server.connections))
    for i in range(3000):  # floor changes, each a state message to every subscriber
        seat = str(1 + i % 8)
        op = "cancel" if daemon.state.queued(seat) else "request"
        daemon.apply_op(api.ApiRequest(None, op, {"seat": seat}), "test")
        await asyncio.sleep(0)
        if daemon.server.logs.dropped.total:
            break
    assert daemon.server.logs.dropped.total == 1
    dropped = [r for r in caplog.records if "does not read" in r.getMessage()]
    assert len(dropped) == 1
    writer.transport.resume_reading()
    data = b""
    with contextlib.suppress(ConnectionError):
        async with asyncio.timeout(5):
            while chunk := await reader.read(1 << 20):
                data += chunk
    writer.close()
    assert data.rstrip().endswith(b'{"event":"closing","reason":"not_reading"}') or not data


async def test_ctl_refuses_a_squatted_default_socket(short_tmp, monkeypatch):
    """Finding 5: with XDG_RUNTIME_DIR unset, a /tmp/councild-<uid>/ made 0777 by another
    user was used: that user could replace the socket and capture `ctl` requests."""
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(short_tmp))
    folder = short_tmp / "councild"
    folder.mkdir(mode=0o777)
    folder.chmod(0o777)
    squatter = await asyncio.start_unix_server(lambda r, w: w.close(),
                                               path=str(folder / "councild.sock"))
    try:
        with pytest.raises(OSError, match="writable by others"):
            await ApiClient.connect()
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "councild.cli", "ctl", "grant", "3",
            env={**os.environ, "XDG_RUNTIME_DIR": str(short_tmp)},
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        out, err = await asyncio.wait_for(proc.communicate(), 30)
        assert proc.returncode != 0 and b"writable by others" in err and b"ok" not in out
    finally:
        squatter.close()


async def test_a_forwarded_ops_extra_arguments_stay_out_of_the_event_log(short_tmp):
    """Finding 7: an extra argument on a forwarded CU op went into the event log as it
    came, and an entry that could not be encoded made every later `subscribe` fail."""
    from devices.sim.cu import CUSimulator

    sim = CUSimulator("127.0.0.1", 0)
    await sim.start()
    extra = (f'[devices.dev]\ndriver = "dcs"\ntransport = "tcp"\nhost = "127.0.0.1"\n'
             f'port = {sim.port}\nmaster = "cu"\n')
    text = chamber_toml(members=4, extra=extra).replace(
        'councillor = "m2"\n', 'councillor = "m2"\nmic = { device = "dev", channel = 2 }\n')
    d = Daemon(parse(text), store_path=short_tmp / "s.db", socket_path=short_tmp / "a.sock")
    await d.start()
    try:
        await until(lambda: d.device_views["dev"].link.value == "connected", 5)
        replies = await exchange(d, b'{"id":1,"op":"grant","seat":"2","junk":{"deep":[[1]]},'
                                    b'"more":"x"}\n')
        assert replies[0]["ok"] and replies[0]["forwarded"] == "dev"
        forwarded = [e for e in d.events if "forwarded" in str(e["event"].get("type"))]
        assert forwarded and forwarded[-1]["event"] == {"type": "forwarded to dev",
                                                        "op": "grant", "seat": "2"}
        c = await ApiClient.connect(Path(d.socket_path))
        assert (await c.request("subscribe"))["ok"]
        await c.close()
    finally:
        await d.stop()
        await sim.stop()


_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=6),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner,
                                                                 max_size=3),
    max_leaves=12)


@given(st.binary(max_size=300))
def test_parse_request_on_arbitrary_bytes_raises_only_api_errors(line: bytes) -> None:
    try:
        request = api.parse_request(line)
    except api.ApiError as exc:
        rid = getattr(exc, "request_id", None)
        strict_json(api.encode(api.error_reply(rid, exc.code, exc.message)))
        return
    strict_json(api.encode({"id": request.id, "ok": True, "args": request.args}))


@given(st.dictionaries(st.sampled_from(["id", "op", "seat", "x"]), _values, max_size=4))
def test_every_accepted_request_can_be_answered_in_plain_json(value: dict) -> None:
    line = json.dumps(value, allow_nan=True).encode("utf-8", "surrogatepass")
    try:
        request = api.parse_request(line)
    except api.ApiError as exc:
        rid = getattr(exc, "request_id", None)
        strict_json(api.encode(api.error_reply(rid, exc.code, exc.message)))
        return
    strict_json(api.encode({"id": request.id, "ok": True, "echo": request.args}))
