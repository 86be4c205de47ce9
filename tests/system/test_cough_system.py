"""A cough on an idle channel during a speech never reaches the program: the X32 simulator's
meters, the daemon with the example config's [director] defaults, a real headless OBS whose
own program-change events are recorded; in `voice` and in `open` mode (issue 19)."""

from __future__ import annotations

import asyncio
import logging

import pytest

from councild.config import default_path, load, parse
from councild.daemon import Daemon
from devices.sim.x32 import SILENCE_DBFS, X32Simulator
from tests.helpers import until
from tests.system.conftest import chamber, desk_pushed
from tests.system.test_obs_system import observer

pytestmark = pytest.mark.timeout(120)

SPEAKER, COUGHER = 2, 5


def example_director() -> str:
    """The example config's [director] rules, as TOML lines."""
    params = load(default_path()).director.rule_parameters()
    return "".join(f"{k} = {str(v).lower() if isinstance(v, bool) else v}\n"
                   for k, v in params.items())


async def speak(desk: X32Simulator, channel: int, seconds: float, level: float = -24.0) -> None:
    """Speech on the input meter: four frames of syllable, one frame of dip, at 20 Hz."""
    pattern = [level, level + 1.5, level - 1.0, level + 0.5, level - 15.0]
    loop = asyncio.get_running_loop()
    end, k = loop.time() + seconds, 0
    while loop.time() < end:
        desk.state.levels[channel] = pattern[k % len(pattern)]
        k += 1
        await asyncio.sleep(0.05)
    desk.state.levels[channel] = SILENCE_DBFS


async def cough(desk: X32Simulator, channel: int, after: float) -> None:
    await asyncio.sleep(after)
    desk.state.levels[channel] = -10.0  # louder than the speech, 0.3 s
    await asyncio.sleep(0.3)
    desk.state.levels[channel] = SILENCE_DBFS


async def start(tmp, desk: X32Simulator, obs, mode: str) -> Daemon:
    text = chamber(desk.port, obs.port if obs else 9, example_director(),
                   obs_enabled=obs is not None)
    assert 'mode = "request"' in text
    config = parse(text.replace('mode = "request"', f'mode = "{mode}"', 1))
    daemon = Daemon(config, store_path=tmp / "s.db", socket_path=tmp / "api.sock")
    await daemon.start()
    if obs is not None:
        await until(lambda: daemon.device_views["obs"].link.value == "connected", 10)
    await until(lambda: daemon.device_views["desk"].link.value == "connected", 5)
    await desk_pushed(daemon, desk, "desk", [*range(1, 9), 20])
    return daemon


async def speech_with_a_cough(daemon: Daemon, desk: X32Simulator, obs) -> list[str]:
    """Seat 2 speaks for 10 s; seat 5 coughs 6 s in (after the minimum hold has passed).
    Returns the scenes OBS put on program meanwhile, as OBS reported them."""
    events: list[tuple[float, str]] = []
    watch = await observer(obs, events)
    try:
        await asyncio.gather(speak(desk, SPEAKER, 10.0), cough(desk, COUGHER, 6.0))
        await asyncio.sleep(1.5)  # what a late decision would still put on program
    finally:
        await watch.stop()
    return [scene for _t, scene in events]


def ignored(daemon: Daemon, seat: str) -> list[dict]:
    return [e["event"] for e in daemon.events
            if isinstance(e.get("event"), dict) and e["event"].get("type") == "voice ignored"
            and e["event"].get("seat") == seat]


def assert_logged_as_short(daemon: Daemon) -> None:
    """The event log says why: a voice too short for speech. (The daemon stamps readings on
    arrival; on a loaded machine two datagrams can arrive together and the cough then looks
    shorter than the log's 0.15 s minimum — never longer.)"""
    reasons = [e["reason"] for e in ignored(daemon, str(COUGHER))]
    assert reasons in (["short"], []), reasons


async def test_voice_mode_never_shows_a_cough(short_tmp, desk, real_obs, caplog):
    caplog.set_level(logging.WARNING)
    daemon = await start(short_tmp, desk, real_obs, "voice")
    try:
        assert daemon.state_dict()["program"]["obs_program"] in ("Wide", None)
        desk.state.received.clear()  # from here on: what councild switches at the desk
        program = await speech_with_a_cough(daemon, desk, real_obs)
        assert f"Seat {COUGHER}" not in program, program
        # The floor follows speech: the cough never opened seat 5's mic (councild leads
        # the desk, so an open mic would have been switched on there), seat 2's it did.
        switched_on = {msg.address for _sender, msg in desk.state.received
                       if msg.address.endswith("/mix/on") and list(msg.args) == [1]}
        assert f"/ch/{COUGHER:02d}/mix/on" not in switched_on, switched_on
        assert f"/ch/{SPEAKER:02d}/mix/on" in switched_on, switched_on
        assert program[:1] == [f"Seat {SPEAKER}"], program
        assert_logged_as_short(daemon)
    finally:
        await daemon.stop()
    assert [r for r in caplog.records if r.exc_info] == []


async def test_open_mode_with_every_mic_live_never_shows_a_cough(short_tmp, desk, real_obs,
                                                                 caplog):
    caplog.set_level(logging.WARNING)
    daemon = await start(short_tmp, desk, real_obs, "open")
    try:
        for ch in (COUGHER, SPEAKER):  # the mics are switched on before the session
            desk.usecases.surface_unmute(ch)
            await until(lambda ch=ch: daemon.state.speaking(str(ch)), 2)
        # Opening a mic is a grant (cut on grant: seat 5, then seat 2 after the minimum
        # hold); with nobody talking the room follows after idle_to_wide.
        await until(lambda: daemon.state_dict()["program"]["obs_program"] == "Seat 2", 10)
        await until(lambda: daemon.state_dict()["program"]["obs_program"] == "Wide", 10)
        program = await speech_with_a_cough(daemon, desk, real_obs)
        assert f"Seat {COUGHER}" not in program, program
        assert program[:1] == [f"Seat {SPEAKER}"], program
        assert_logged_as_short(daemon)
    finally:
        await daemon.stop()
    assert [r for r in caplog.records if r.exc_info] == []


async def test_voice_mode_floor_follows_speech_not_a_cough_without_obs(short_tmp, desk):
    """The same chamber in a dry run (no OBS needed): the daemon's own record of the floor,
    the program and the event log."""
    daemon = await start(short_tmp, desk, None, "voice")
    opened: list[str] = []
    try:
        def watch() -> None:
            opened.extend(s.seat for s in daemon.state.speakers if s.seat not in opened)

        async def sample() -> None:
            while True:
                watch()
                await asyncio.sleep(0.02)

        sampler = asyncio.create_task(sample())
        try:
            await asyncio.gather(speak(desk, SPEAKER, 8.0), cough(desk, COUGHER, 5.0))
            await asyncio.sleep(1.0)
        finally:
            sampler.cancel()
            await asyncio.gather(sampler, return_exceptions=True)
        assert opened == [str(SPEAKER)]  # the cough never took a mic on the floor
        cuts = [e["event"]["shot"] for e in daemon.events
                if isinstance(e.get("event"), dict) and e["event"].get("type") == "Cut"]
        assert cuts == ["wide", f"seat-{SPEAKER}"]
        assert_logged_as_short(daemon)
    finally:
        await daemon.stop()
