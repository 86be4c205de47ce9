"""ObsConnection / ObsClient edge cases a healthy OBS never produces: garbage, silence,
refused connections. A small scripted obs-websocket server on 127.0.0.1 plays OBS."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
import pytest_asyncio
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed

from councild.errors import AuthenticationError, ConnectionLostError, OperationTimeoutError
from councild.model import DeviceStatus, Event, Link
from scenes.headless import free_tcp_port
from scenes.obs_client import ObsClient, ObsOptions
from scenes.obs_connection import ObsConnection
from tests.helpers import until

Script = Callable[[ServerConnection, dict[str, Any]], Any]


def reply(request: dict[str, Any], data: dict[str, Any] | None = None) -> str:
    return json.dumps(
        {
            "op": 7,
            "d": {
                "requestType": request["requestType"],
                "requestId": request["requestId"],
                "requestStatus": {"result": True, "code": 100},
                "responseData": data or {},
            },
        }
    )


class ScriptedObs:
    """Hello (no auth) → Identified, then each request goes to `script[requestType]`."""

    def __init__(self) -> None:
        self.script: dict[str, Script] = {}
        self.hello = True
        self.close_after_identify: int | None = None
        self.server: Server | None = None
        self.port = 0
        self.held: list[dict[str, Any]] = []

    async def handler(self, ws: ServerConnection) -> None:
        with contextlib.suppress(ConnectionClosed):
            await self._play(ws)

    async def _play(self, ws: ServerConnection) -> None:
        if not self.hello:
            await ws.wait_closed()
            return
        await ws.send('{"op":0,"d":{"obsWebSocketVersion":"5.1.0","rpcVersion":1}}')
        identify = json.loads(await ws.recv())
        assert identify["op"] == 1
        if self.close_after_identify is not None:
            await ws.close(self.close_after_identify, "Authentication failed.")
            return
        await ws.send('{"op":2,"d":{"negotiatedRpcVersion":1}}')
        async for raw in ws:
            message = json.loads(raw)
            request = message["d"]
            if message["op"] == 8:  # the client's inventory batch
                results = [
                    {
                        "requestType": r["requestType"],
                        "requestStatus": {"result": True, "code": 100},
                        "responseData": _inventory(r["requestType"]),
                    }
                    for r in request["requests"]
                ]
                await ws.send(
                    json.dumps(
                        {"op": 9, "d": {"requestId": request["requestId"], "results": results}}
                    )
                )
                continue
            action = self.script.get(request["requestType"])
            if action is None:
                await ws.send(reply(request))
            else:
                await action(ws, request)


def _inventory(request_type: str) -> dict[str, Any]:
    return {
        "GetVersion": {"obsVersion": "29.0.2"},
        "GetSceneList": {
            "scenes": [{"sceneName": "Wide", "sceneIndex": 0}],
            "currentProgramSceneName": "Wide",
            "currentPreviewSceneName": None,
        },
        "GetInputList": {"inputs": []},
        "GetStudioModeEnabled": {"studioModeEnabled": False},
    }[request_type]


@pytest_asyncio.fixture
async def fake() -> AsyncIterator[ScriptedObs]:
    obs = ScriptedObs()
    async with serve(obs.handler, "127.0.0.1", 0) as server:
        obs.server = server
        obs.port = next(iter(server.sockets)).getsockname()[1]
        yield obs


async def test_garbage_is_counted_and_the_connection_survives(fake: ScriptedObs) -> None:
    async def garbage_then_answer(ws: ServerConnection, request: dict[str, Any]) -> None:
        await ws.send("this is not json")
        await ws.send('{"op":99,"d":{}}')
        await ws.send('{"op":5,"d":{"eventType":42}}')
        await ws.send(reply(request, {"sceneName": "Wide"}))

    fake.script["GetCurrentProgramScene"] = garbage_then_answer
    emitted: list[Event] = []
    client = ObsClient(ObsOptions(port=fake.port), emitted.append)
    await client.start()
    try:
        await client.wait_ready()
        assert await client.get_program_scene() == "Wide"
        assert client.health.errors == 3
        assert client.connected
        # The count is published rate-limited (at most every 0.5 s), never lost.
        await until(lambda: [(e.link, e.errors) for e in emitted
                             if isinstance(e, DeviceStatus)][-1] == (Link.CONNECTED, 3), 2)
    finally:
        await client.stop()


async def test_unanswered_request_times_out_and_late_answer_is_dropped(
    fake: ScriptedObs,
) -> None:
    async def hold(ws: ServerConnection, request: dict[str, Any]) -> None:
        fake.held.append(request)

    async def release(ws: ServerConnection, request: dict[str, Any]) -> None:
        for held in fake.held:
            await ws.send(reply(held))
        await ws.send(reply(request))

    fake.script["GetStats"] = hold
    fake.script["GetVersion"] = release
    conn = ObsConnection("127.0.0.1", fake.port, None)
    await conn.open()
    try:
        started = time.monotonic()
        with pytest.raises(OperationTimeoutError, match="GetStats"):
            await conn.request("GetStats", timeout=0.2)
        assert 0.2 <= time.monotonic() - started < 2.0  # not the 3 s default
        assert conn.pending_requests == 0
        await conn.request("GetVersion")  # the late GetStats answer arrives first
        assert conn.late_responses == 1
        assert not conn.closed
    finally:
        await conn.close()


async def test_close_4009_is_an_authentication_error(fake: ScriptedObs) -> None:
    fake.close_after_identify = 4009
    conn = ObsConnection("127.0.0.1", fake.port, None)
    with pytest.raises(AuthenticationError, match="4009"):
        await conn.open()
    assert conn.closed


async def test_other_close_codes_are_connection_lost(fake: ScriptedObs) -> None:
    fake.close_after_identify = 4010
    conn = ObsConnection("127.0.0.1", fake.port, None)
    with pytest.raises(ConnectionLostError, match="4010"):
        await conn.open()


async def test_silent_server_times_out_the_handshake(fake: ScriptedObs) -> None:
    fake.hello = False
    conn = ObsConnection("127.0.0.1", fake.port, None, identify_timeout=0.3)
    with pytest.raises(OperationTimeoutError):
        await conn.open()
    assert conn.closed


async def test_nobody_listening_is_connection_lost_quickly() -> None:
    conn = ObsConnection("127.0.0.1", free_tcp_port(), None)
    started = time.monotonic()
    with pytest.raises(ConnectionLostError, match="cannot reach"):
        await conn.open()
    assert time.monotonic() - started < 2.0  # refused at once, not the 5 s connect timeout


async def test_server_drop_fails_waiting_requests_at_once(fake: ScriptedObs) -> None:
    async def drop(ws: ServerConnection, request: dict[str, Any]) -> None:
        ws.transport.abort()  # no close frame, like a killed OBS

    fake.script["GetStats"] = drop
    conn = ObsConnection("127.0.0.1", fake.port, None)
    await conn.open()
    started = time.monotonic()
    with pytest.raises(ConnectionLostError, match="went away"):
        await conn.request("GetStats", timeout=10)
    assert time.monotonic() - started < 2.0  # at once, not after the 10 s timeout
    assert isinstance(await conn.wait_closed(), ConnectionLostError)
    with pytest.raises(ConnectionLostError):
        await conn.request("GetVersion")


async def test_client_reconnects_after_drop_and_calls_on_ready_again(fake: ScriptedObs) -> None:
    ready: list[object] = []

    async def drop(ws: ServerConnection, request: dict[str, Any]) -> None:
        ws.transport.abort()

    fake.script["GetStats"] = drop
    client = ObsClient(ObsOptions(port=fake.port), lambda e: None, on_ready=ready.append)
    await client.start()
    try:
        await client.wait_ready()
        with pytest.raises(ConnectionLostError):
            await client.request("GetStats")
        await until(lambda: len(ready) == 2, timeout=5)
        assert client.health.reconnects == 1
        assert client.connect_attempts == 2
    finally:
        await client.stop()
    assert client.health.link is Link.CLOSED
    with pytest.raises(ConnectionLostError):
        await client.get_program_scene()


async def test_stop_while_connecting_is_clean() -> None:
    client = ObsClient(ObsOptions(port=free_tcp_port()), lambda e: None)
    await client.start()
    await until(lambda: client.health.link is Link.LOST, timeout=3)
    await client.stop()
    await client.stop()  # twice is fine
    assert client.health.link is Link.CLOSED
    await asyncio.sleep(0)  # nothing left running that could publish again
    assert client.health.link is Link.CLOSED
