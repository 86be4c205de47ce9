"""ObsClient against a real headless OBS: auth, events, requests, checks, pictures."""

from __future__ import annotations

import statistics
import time
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from councild.errors import AuthenticationError
from councild.model import DeviceStatus, Event, Link
from scenes.collection import obs_color
from scenes.headless import HeadlessObs
from scenes.obs_client import AUTH_RETRY_DELAY, ObsClient, ObsOptions
from scenes.obs_connection import ObsConnection
from scenes.obs_protocol import (
    STATUS_RESOURCE_NOT_FOUND,
    MediaSource,
    ObsEvent,
    ObsRequestError,
)
from tests.helpers import until

from .conftest import LOWER_THIRD, REQUIRED_INPUTS, SCENES, SEAT1_COLOR
from .png import decode_png

SCENE_NAMES = tuple(scene.name for scene in SCENES)


async def set_text(client: ObsClient, input_name: str, text: str) -> None:
    """The text of a text_ft2_source_v2 input (a lower-third line), its font kept."""
    await client.request(
        "SetInputSettings",
        {"inputName": input_name, "inputSettings": {"text": text}, "overlay": True},
    )


def statuses(events: list[Event]) -> list[DeviceStatus]:
    return [e for e in events if isinstance(e, DeviceStatus)]


@pytest_asyncio.fixture
async def emitted() -> list[Event]:
    return []


@pytest_asyncio.fixture
async def client(obs: HeadlessObs, emitted: list[Event]) -> AsyncIterator[ObsClient]:
    client = ObsClient(
        ObsOptions(port=obs.port),
        emitted.append,
        password=obs.password,
        required_scenes=SCENE_NAMES,
        required_inputs=REQUIRED_INPUTS,
    )
    await client.start()
    await client.wait_ready()
    yield client
    await client.stop()


async def test_connects_with_password_and_finds_everything(
    client: ObsClient, emitted: list[Event]
) -> None:
    inventory = client.inventory
    assert inventory is not None
    assert inventory.complete
    assert inventory.scenes == SCENE_NAMES  # in the collection's scene_order
    assert set(REQUIRED_INPUTS) <= set(inventory.inputs)
    assert inventory.websocket_version.startswith("5.")
    assert inventory.obs_version.startswith("29.")
    links = [s.link for s in statuses(emitted)]
    assert links[:2] == [Link.CONNECTING, Link.CONNECTED]
    assert all(s.device == "obs" for s in statuses(emitted))
    assert client.health.link is Link.CONNECTED
    await client.stop()
    assert statuses(emitted)[-1].link is Link.CLOSED


async def test_wrong_password_fails_fast_with_authentication_error(obs: HeadlessObs) -> None:
    conn = ObsConnection("127.0.0.1", obs.port, obs.password + "-wrong")
    started = time.monotonic()
    with pytest.raises(AuthenticationError, match="4009"):
        await conn.open()
    elapsed = time.monotonic() - started
    # Limits here are loose (shared CI cores) but far below the 5 s identify timeout and
    # simpleobsws' 10 s wait: only reading the 4009 close code gets under them.
    assert elapsed < 2.5, f"took {elapsed:.2f} s"
    assert conn.closed


async def test_missing_password_is_reported_not_sent(obs: HeadlessObs) -> None:
    conn = ObsConnection("127.0.0.1", obs.port, None)
    with pytest.raises(AuthenticationError, match="none is configured"):
        await conn.open()


async def test_client_with_wrong_password_backs_off_and_reports(obs: HeadlessObs) -> None:
    emitted: list[Event] = []
    client = ObsClient(ObsOptions(port=obs.port), emitted.append, password="nope")
    await client.start()
    try:
        await until(lambda: client.health.link is Link.LOST, timeout=5)
        assert "4009" in client.health.detail
        assert client.retry_delay == AUTH_RETRY_DELAY  # no fast retry loop on a bad password
        assert client.connect_attempts == 1
        assert not client.connected
    finally:
        await client.stop()


async def test_program_scene_change_is_observed_through_events(client: ObsClient) -> None:
    seen: list[ObsEvent] = []
    client.subscribe("CurrentProgramSceneChanged", seen.append)
    await client.set_program_scene("Seat 1")
    await until(lambda: any(e.data.get("sceneName") == "Seat 1" for e in seen))
    assert client.program_scene == "Seat 1"
    assert await client.get_program_scene() == "Seat 1"
    await client.set_program_scene("Wide")
    await until(lambda: client.program_scene == "Wide")
    assert [e.data["sceneName"] for e in seen] == ["Seat 1", "Wide"]


async def test_async_subscriber_runs_and_unsubscribe_stops_it(client: ObsClient) -> None:
    seen: list[str] = []

    async def on_change(event: ObsEvent) -> None:
        seen.append(event.data["sceneName"])

    unsubscribe = client.subscribe(None, on_change)
    await client.set_program_scene("Chair")
    await until(lambda: "Chair" in seen)
    unsubscribe()
    await client.set_program_scene("Seat 2")
    await until(lambda: client.program_scene == "Seat 2")
    assert "Seat 2" not in seen


async def test_set_text_reads_back(client: ObsClient) -> None:
    text = "Šárka Nováková – Grüne"
    await set_text(client, LOWER_THIRD.name_source, text)
    await set_text(client, LOWER_THIRD.detail_source, "Item 4: budget")
    settings = await client.get_input_settings(LOWER_THIRD.name_source)
    assert settings["text"] == text
    assert settings["font"]["face"] == LOWER_THIRD.font_face  # overlay kept the font
    detail = await client.get_input_settings(LOWER_THIRD.detail_source)
    assert detail["text"] == "Item 4: budget"


async def test_media_source_settings_read_back(client: ObsClient) -> None:
    media = MediaSource(
        local_file="/tmp/remote-1.sdp",
        input_format="sdp",
        ffmpeg_options="protocol_whitelist=file,udp,rtp",
    )
    await client.set_media_source("Remote 1", media)
    settings = await client.get_input_settings("Remote 1")
    assert settings["local_file"] == "/tmp/remote-1.sdp"
    assert settings["is_local_file"] is True
    assert settings["input_format"] == "sdp"
    assert settings["ffmpeg_options"] == "protocol_whitelist=file,udp,rtp"


async def test_scene_item_can_be_hidden_and_shown(client: ObsClient) -> None:
    item = await client.request(
        "GetSceneItemId", {"sceneName": "Seat 1", "sourceName": LOWER_THIRD.name_source}
    )
    where = {"sceneName": "Seat 1", "sceneItemId": item["sceneItemId"]}

    async def enabled() -> bool:
        data = await client.request("GetSceneItemEnabled", where)
        return bool(data["sceneItemEnabled"])

    await client.request("SetSceneItemEnabled", {**where, "sceneItemEnabled": False})
    assert await enabled() is False
    await client.request("SetSceneItemEnabled", {**where, "sceneItemEnabled": True})
    assert await enabled() is True


async def test_studio_mode_preview_and_transition(client: ObsClient) -> None:
    previews: list[str] = []
    client.subscribe("CurrentPreviewSceneChanged", lambda e: previews.append(e.data["sceneName"]))
    await client.set_program_scene("Wide")
    await client.set_studio_mode(True)
    try:
        await until(lambda: client.studio_mode)
        await client.set_preview_scene("Seat 2")
        await until(lambda: "Seat 2" in previews)
        await client.request("TriggerStudioModeTransition")
        await until(lambda: client.program_scene == "Seat 2", timeout=5)
    finally:
        await client.set_studio_mode(False)
    await until(lambda: not client.studio_mode)
    with pytest.raises(ObsRequestError) as info:
        await client.set_preview_scene("Chair")
    assert info.value.code == 506  # StudioModeNotActive, carried from OBS


async def test_refused_request_carries_obs_code_and_comment(client: ObsClient) -> None:
    with pytest.raises(ObsRequestError) as info:
        await client.set_program_scene("No such scene")
    assert info.value.code == STATUS_RESOURCE_NOT_FOUND
    assert info.value.comment
    assert info.value.request_type == "SetCurrentProgramScene"
    assert client.connected  # a refusal is not a broken link


async def test_missing_scene_and_input_are_reported_by_name(obs: HeadlessObs) -> None:
    emitted: list[Event] = []
    ready: list[object] = []
    client = ObsClient(
        ObsOptions(port=obs.port),
        emitted.append,
        password=obs.password,
        required_scenes=("Wide", "Seat 99"),
        required_inputs=("Ghost input",),
        on_ready=ready.append,
    )
    await client.start()
    try:
        inventory = await client.wait_ready()
        assert inventory.missing_scenes == ("Seat 99",)
        assert inventory.missing_inputs == ("Ghost input",)
        assert ready == [inventory]
        status = statuses(emitted)[-1]
        assert status.link is Link.CONNECTED
        assert "Seat 99" in status.detail
        assert "Ghost input" in status.detail
    finally:
        await client.stop()


async def test_program_screenshot_is_a_real_picture(client: ObsClient) -> None:
    await set_text(client, LOWER_THIRD.name_source, "Councillor Weber")
    await set_text(client, LOWER_THIRD.detail_source, "Greens – item 3")
    await client.set_program_scene("Seat 1")
    await until(lambda: client.program_scene == "Seat 1")
    png = await client.get_screenshot("Seat 1")
    width, height, pixels = decode_png(png)
    assert (width, height) == (640, 360)
    colours = {p[:3] for p in pixels}
    assert len(colours) > 20, f"only {len(colours)} colours: blank picture"
    # The top-left corner shows the scene's own background colour.
    red, green, blue = (SEAT1_COLOR >> 16) & 0xFF, (SEAT1_COLOR >> 8) & 0xFF, SEAT1_COLOR & 0xFF
    corner = pixels[0][:3]
    assert all(abs(a - b) <= 2 for a, b in zip(corner, (red, green, blue), strict=True)), corner
    # Bright text pixels exist in the lower third region only.
    bright = [i for i, p in enumerate(pixels) if min(p[:3]) > 200]
    assert bright, "no text rendered"
    assert min(i // width for i in bright) > height // 2
    background = await client.get_input_settings("Seat 1 background")
    assert background["color"] == obs_color(SEAT1_COLOR)


async def test_measure_round_trip_and_event_latency(client: ObsClient, obs: HeadlessObs) -> None:
    rtts = []
    for _ in range(100):
        started = time.perf_counter()
        await client.get_program_scene()
        rtts.append(time.perf_counter() - started)
    await client.set_program_scene("Wide")  # switching to the current scene sends no event
    await until(lambda: client.program_scene == "Wide")
    arrivals: list[tuple[str, float]] = []
    client.subscribe(
        "CurrentProgramSceneChanged",
        lambda e: arrivals.append((e.data["sceneName"], time.perf_counter())),
    )
    latencies = []
    set_rtts = []
    for i in range(20):
        scene = ("Seat 1", "Seat 2")[i % 2]
        count = len(arrivals)
        started = time.perf_counter()
        await client.set_program_scene(scene)
        set_rtts.append(time.perf_counter() - started)
        await until(lambda count=count: len(arrivals) > count, interval=0.001)
        name, arrived = arrivals[count]
        assert name == scene
        latencies.append(arrived - started)
    rtt_p50 = statistics.median(rtts) * 1000
    event_p50 = statistics.median(latencies) * 1000
    print(
        f"\nOBS start {obs.start_seconds:.2f} s; GetCurrentProgramScene RTT p50 {rtt_p50:.2f} ms "
        f"(p95 {sorted(rtts)[94] * 1000:.2f} ms); SetCurrentProgramScene RTT p50 "
        f"{statistics.median(set_rtts) * 1000:.2f} ms; program-change event p50 "
        f"{event_p50:.1f} ms (max {max(latencies) * 1000:.1f} ms)"
    )
    assert len(latencies) == 20
    assert all(lat > 0 for lat in latencies)
    # The event comes after the response: one rendered frame later.
    assert event_p50 >= rtt_p50


async def test_required_scene_created_and_removed_while_connected(obs: HeadlessObs) -> None:
    emitted: list[Event] = []
    client = ObsClient(
        ObsOptions(port=obs.port),
        emitted.append,
        password=obs.password,
        required_scenes=("Wide", "Late scene"),
    )
    await client.start()
    try:
        inventory = await client.wait_ready()
        assert inventory.missing_scenes == ("Late scene",)
        await client.request("CreateScene", {"sceneName": "Late scene"})
        await until(lambda: client.inventory is not None and client.inventory.complete)
        assert "Late scene" not in client.health.detail
        await client.request("RemoveScene", {"sceneName": "Late scene"})
        await until(lambda: "Late scene" in client.health.detail)
        assert client.inventory is not None
        assert client.inventory.missing_scenes == ("Late scene",)
        assert client.health.link is Link.CONNECTED
        assert statuses(emitted)[-1].detail == client.health.detail
    finally:
        await client.stop()
