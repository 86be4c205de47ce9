"""OBS dies mid-request and comes back: requests fail at once, the client reconnects.

This module kills its OBS, so it has its own instance (the `obs` fixture is per module).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from councild.errors import ConnectionLostError
from councild.model import DeviceStatus, Event, Link
from scenes.headless import HeadlessObs
from scenes.obs_client import ObsClient, ObsInventory, ObsOptions
from scenes.obs_protocol import BatchExecution, ObsEvent, Request
from tests.helpers import until

from .conftest import SCENES

# Long enough that only the kill can end the request: OBS answers after this.
SLEEP_MS = 10_000


@pytest_asyncio.fixture
async def setup(obs: HeadlessObs) -> AsyncIterator[tuple[ObsClient, list[Event], list[float]]]:
    emitted: list[Event] = []
    ready_at: list[float] = []

    def on_ready(inventory: ObsInventory) -> None:
        assert inventory.complete
        ready_at.append(time.monotonic())

    client = ObsClient(
        ObsOptions(port=obs.port),
        emitted.append,
        password=obs.password,
        required_scenes=[s.name for s in SCENES],
        on_ready=on_ready,
    )
    await client.start()
    await client.wait_ready()
    yield client, emitted, ready_at
    await client.stop()


async def test_kill_mid_request_fails_at_once_then_reconnects(
    obs: HeadlessObs, setup: tuple[ObsClient, list[Event], list[float]]
) -> None:
    client, emitted, ready_at = setup
    assert len(ready_at) == 1
    # A batch whose Sleep keeps OBS from answering for SLEEP_MS: in flight for sure.
    request = Request(request_type="Sleep", data={"sleepMillis": SLEEP_MS})
    task = asyncio.create_task(
        client.batch([request], execution=BatchExecution.SERIAL_REALTIME, timeout=30)
    )
    await until(lambda: client.pending_requests == 1)
    killed = time.monotonic()
    await obs.kill_obs()
    with pytest.raises(ConnectionLostError):
        await task
    failed_after = time.monotonic() - killed
    # Loose for shared CI cores, yet far below the 10 s Sleep and simpleobsws' 15 s.
    assert failed_after < 2.5, f"in-flight request failed only after {failed_after:.2f} s"

    await until(lambda: client.health.link in (Link.LOST, Link.RECONNECTING), timeout=2)
    lost = [e for e in emitted if isinstance(e, DeviceStatus) and e.link is Link.LOST]
    assert lost, "no LOST status published"
    assert not client.connected
    with pytest.raises(ConnectionLostError):
        await client.set_program_scene("Wide")

    restarted = time.monotonic()
    await obs.start_obs()
    port_up = time.monotonic()
    await until(lambda: len(ready_at) == 2, timeout=20)
    print(
        f"\nin-flight request failed {failed_after * 1000:.1f} ms after the kill; "
        f"OBS restart {port_up - restarted:.2f} s; ready again "
        f"{ready_at[1] - port_up:.2f} s after its port opened"
    )
    assert client.health.link is Link.CONNECTED
    assert client.health.reconnects >= 1

    seen: list[str] = []
    client.subscribe("CurrentProgramSceneChanged", lambda e: seen.append(e.data["sceneName"]))
    target = "Seat 1" if client.program_scene != "Seat 1" else "Wide"
    await client.set_program_scene(target)
    await until(lambda: target in seen)
    assert await client.get_program_scene() == target


async def test_events_flow_after_reconnect_to_existing_subscribers(
    obs: HeadlessObs, setup: tuple[ObsClient, list[Event], list[float]]
) -> None:
    client, _emitted, ready_at = setup
    seen: list[ObsEvent] = []
    client.subscribe("CurrentProgramSceneChanged", seen.append)
    await obs.restart_obs()
    await until(lambda: len(ready_at) == 2, timeout=20)
    target = "Chair" if client.program_scene != "Chair" else "Wide"
    await client.set_program_scene(target)
    await until(lambda: any(e.data["sceneName"] == target for e in seen))


async def test_a_local_obs_is_back_within_a_second_of_accepting_again(
    obs: HeadlessObs, setup: tuple[ObsClient, list[Event], list[float]]
) -> None:
    """Issue 16, finding 8: after an OBS restart the program came back 0.5-4.4 s after OBS
    accepted connections (the 5 s-capped backoff decided it). For a local OBS the client
    probes often enough; the issue lets a real-OBS test assert 2 s (1 s is the goal)."""
    client, _emitted, ready_at = setup
    await obs.kill_obs()
    await until(lambda: not client.connected, timeout=5)
    await asyncio.sleep(6.0)  # a long outage: the common backoff would be at its cap by now
    await obs.start_obs()
    port_up = time.monotonic()
    await until(lambda: len(ready_at) == 2, timeout=20)
    took = ready_at[1] - port_up
    print(f"\nready {took:.2f} s after OBS accepted connections again "
          f"(retry delay {client.retry_delay:.2f} s)")
    assert client.retry_delay <= 0.5
    assert took <= 2.0
