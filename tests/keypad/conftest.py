from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from councild.api import ApiClient
from councild.daemon import Daemon
from councild.keypad import Action, Keypad, NothingToDo, RevokeCurrent, action_to_api
from councild.model import DeviceStatus, Event, KeyPressed, Link


class Recorder:
    """Collects what a driver emits."""

    def __init__(self) -> None:
        self.events: list[Event] = []

    def __call__(self, event: Event) -> None:
        self.events.append(event)

    def keys(self) -> list[tuple[str, bool]]:
        return [(e.key, e.pressed) for e in self.events if isinstance(e, KeyPressed)]

    def links(self) -> list[Link]:
        return [e.link for e in self.events if isinstance(e, DeviceStatus)]

    def connected_count(self) -> int:
        links = self.links()
        return sum(1 for a, b in zip([None, *links], links, strict=False)
                   if b is Link.CONNECTED and a is not Link.CONNECTED)


class ApiKeypadAdapter:
    """What the daemon will do with keypad actions, done from outside through the real API:
    each action becomes `action_to_api(action)` sent with an ApiClient, one at a time and in
    order (a client answers one request at a time)."""

    def __init__(self, client: ApiClient) -> None:
        self.client = client
        self.replies: list[dict[str, Any]] = []
        self.refused: list[str] = []
        self._queue: asyncio.Queue[Action] = asyncio.Queue()
        self._task = asyncio.get_running_loop().create_task(self._run(), name="keypad-adapter")

    def __call__(self, action: Action) -> None:
        self._queue.put_nowait(action)

    def key(self, pad: Keypad, event: Event, now: float) -> None:
        """Feed a KeyPressed through a pure Keypad, as the daemon's keypad hook would."""
        if isinstance(event, KeyPressed):
            for action in pad.press(event.key, event.pressed, now):
                self(action)

    async def _run(self) -> None:
        while True:
            action = await self._queue.get()
            state = None
            if isinstance(action, RevokeCurrent):
                state = (await self.client.request("state"))["state"]
            try:
                request = action_to_api(action, state)
            except NothingToDo as exc:
                self.refused.append(str(exc))
                continue
            reply = await self.client.request(**request)
            self.replies.append(reply)
            if not reply.get("ok"):
                self.refused.append(reply["error"]["code"])

    async def close(self) -> None:
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task


@pytest.fixture
async def adapter(daemon: Daemon) -> AsyncIterator[ApiKeypadAdapter]:
    client = await ApiClient.connect(Path(daemon.socket_path))
    a = ApiKeypadAdapter(client)
    try:
        yield a
    finally:
        await a.close()
        await client.close()
