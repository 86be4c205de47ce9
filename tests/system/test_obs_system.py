"""The chamber against a real headless OBS: a desk channel opens → OBS cuts to that seat with
the councillor's name in the lower third; OBS dies and comes back → the program is restored."""

from __future__ import annotations

import asyncio
import logging
import time

import pytest

from councild.model import Grant
from scenes.obs_client import ObsClient, ObsOptions
from tests.helpers import until
from tests.system.conftest import desk_pushed, start_chamber

pytestmark = pytest.mark.timeout(90)


async def observer(obs, events: list[tuple[float, str]]) -> ObsClient:
    """An independent connection to OBS that records OBS's own program-change events."""
    client = ObsClient(ObsOptions(host="127.0.0.1", port=obs.port), lambda e: None,
                       password=obs.password, name="observer")

    async def on_program(event) -> None:
        events.append((time.monotonic(), event.data["sceneName"]))

    client.subscribe("CurrentProgramSceneChanged", on_program)
    await client.start()
    await client.wait_ready()
    return client


async def text_is(client: ObsClient, source: str, text: str) -> bool:
    return (await client.get_input_settings(source)).get("text") == text


async def test_desk_channel_opens_and_obs_shows_the_seat(short_tmp, desk, real_obs, caplog):
    caplog.set_level(logging.WARNING)
    chamber = await start_chamber(short_tmp, desk, real_obs)
    events: list[tuple[float, str]] = []
    watch = await observer(real_obs, events)
    try:
        daemon = chamber.daemon
        await until(lambda: daemon.device_views["obs"].link.value == "connected", 10)
        await until(lambda: daemon.device_views["desk"].link.value == "connected", 5)
        # councild leads the desk: on connect it mutes every seat channel nobody speaks on.
        await desk_pushed(daemon, desk, "desk", [*range(1, 9), 20])

        desk.usecases.surface_unmute(5)  # the technician opens seat 5's channel on the desk
        await until(lambda: daemon.state.speaking("5"), 2)
        await until(lambda: events and events[-1][1] == "Seat 5", 5)
        # The lower third follows its cut (one request behind it): read it back from OBS.
        await until(lambda: text_is(watch, "Lower third name", "Member 5"), 2)
        await until(lambda: text_is(watch, "Lower third detail", "P2"), 2)
        assert daemon.state_dict()["program"]["scene"] == "Seat 5"

        # The chair grants seat 3 through the API: the desk channel opens and OBS follows.
        daemon.submit(Grant(seat="3"), "api")
        await until(lambda: desk.state.on[3], 2)
        await until(lambda: events[-1][1] == "Seat 3", 5)
        await until(lambda: text_is(watch, "Lower third name", "Member 3"), 2)
    finally:
        await watch.stop()
        await chamber.daemon.stop()
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]
    assert errors == []


async def test_obs_restart_restores_the_program_within_two_seconds(short_tmp, desk, real_obs,
                                                                    caplog):
    caplog.set_level(logging.WARNING)
    chamber = await start_chamber(short_tmp, desk, real_obs)
    daemon = chamber.daemon
    try:
        await until(lambda: daemon.device_views["obs"].link.value == "connected", 10)
        await until(lambda: daemon.device_views["desk"].link.value == "connected", 5)
        await desk_pushed(daemon, desk, "desk", [*range(1, 9), 20])
        desk.usecases.surface_unmute(2)
        await until(lambda: daemon.state_dict()["program"]["obs_program"] == "Seat 2", 5)

        await real_obs.kill_obs()
        await until(lambda: daemon.device_views["obs"].link.value != "connected", 5)
        await real_obs.restart_obs()  # returns once OBS accepts connections again
        accepting = time.monotonic()
        # OBS comes back on the collection's first scene (Wide); councild must put seat 2
        # back. Read it from OBS itself, through a fresh connection.
        watch = ObsClient(ObsOptions(host="127.0.0.1", port=real_obs.port), lambda e: None,
                          password=real_obs.password, name="observer")
        await watch.start()
        await watch.wait_ready()
        while await watch.get_program_scene() != "Seat 2":
            assert time.monotonic() - accepting < 2.0, "program not restored within 2 s"
            await asyncio.sleep(0.02)
        restored = time.monotonic() - accepting
        await watch.stop()
        assert restored < 2.0
        assert await _lower_third(real_obs) == "Member 2"
    finally:
        await daemon.stop()
    unhandled = [r for r in caplog.records if r.exc_info]
    assert unhandled == []


async def _lower_third(obs) -> str:
    client = ObsClient(ObsOptions(host="127.0.0.1", port=obs.port), lambda e: None,
                       password=obs.password, name="observer")
    await client.start()
    await client.wait_ready()
    try:
        return str((await client.get_input_settings("Lower third name"))["text"])
    finally:
        await client.stop()


async def test_studio_mode_prepares_on_preview_then_transitions(short_tmp, desk, real_obs,
                                                                caplog):
    caplog.set_level(logging.WARNING)
    chamber = await start_chamber(short_tmp, desk, real_obs, studio_mode=True)
    daemon = chamber.daemon
    events: list[tuple[float, str]] = []
    watch = await observer(real_obs, events)
    previews: list[str] = []

    async def on_preview(event) -> None:
        previews.append(event.data["sceneName"])

    watch.subscribe("CurrentPreviewSceneChanged", on_preview)
    try:
        await until(lambda: daemon.device_views["obs"].link.value == "connected", 10)
        await until(watch.get_studio_mode, 3)  # councild switched studio mode on
        await desk_pushed(daemon, desk, "desk", [*range(1, 9), 20])
        desk.usecases.surface_unmute(6)
        await until(lambda: events and events[-1][1] == "Seat 6", 5)
        assert "Seat 6" in previews  # it went through preview, then the transition
        await until(lambda: text_is(watch, "Lower third name", "Member 6"), 2)
    finally:
        await watch.stop()
        await daemon.stop()
    assert [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info] == []
