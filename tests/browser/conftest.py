"""Fixtures of the browser scenarios (join_scenarios.py), which run inside the namespace.

A real Janus, the real daemon as a subprocess, a test-side Janus control participant, and
Chromium through Playwright with fake camera and a steady tone as microphone. Each browser
records every URL it asks for; a request to anywhere but the join page's own origin fails
the test. Teardown order: browsers, then the daemon, then Janus.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import os
import secrets
import signal
import struct
import subprocess
import sys
import tempfile
import wave
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from councild.api import ApiClient
from devices.janus_client import JanusClient
from devices.janus_protocol import JanusEvent, JanusMessage, RoomEvent, RoomEventKind
from tests.audio.capture import PcmCapture, open_capture, output_args
from tests.bridge.janus_server import JanusServer, free_port
from tests.browser import netns
from tests.chamber import DaemonProcess, chamber_toml
from tests.helpers import IN_CI, require_binary, until

ROOM = 1234
SECRET_ENV = "COUNCILD_BRIDGE_SECRET"
OBS_PASSWORD_ENV = "COUNCILD_TEST_OBS_PASSWORD"
CHROMIUM = "/usr/bin/chromium"
REMOTE = {"m7": "R7", "m8": "R8"}  # councillor → remote seat
# Flags from /work/shared/reference/browser.md; Playwright adds --headless and --no-sandbox.
CHROMIUM_FLAGS = [
    "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--no-first-run",
    "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream",
    "--autoplay-policy=no-user-gesture-required",
]
# The daemon opens its socket in well under a second; its Janus link follows.
DAEMON_READY = 15.0
# SIGTERM lets the daemon leave the room and stop its ffmpeg; it takes far less than this.
DAEMON_STOP = 10.0
CHAMBER_ID = 900_002  # the chamber feed's participant id: not the default, so it is read
CHAMBER_SIZE = (320, 180)  # the chamber programme's test card; the page must show this size
# Processes we stopped are gone within this; ffmpeg and Chromium take well under a second.
PROCESS_EXIT = 5.0
CHROMIUM_NAMES = {"chromium", "chrome", "chrome_crashpad", "chrome_crashpad_handler"}
TONE_SECONDS = 10
TONE_RATE = 48_000
# Hybrid audio scenarios: the AudioBridge room, and the chamber's send (the fake microphone
# is 440 Hz, so the chamber is told apart by its own tone).
AUDIO_ROOM = 2234
CHAMBER_TONE = 700.0


def _remote_seats(bridge_port: int, join_port: int, tokens: Path, obs_port: int | None,
                  audio_port: int | None = None) -> str:
    parts = []
    if audio_port is not None:  # hybrid audio: the chamber return decoded to our capture
        send = ["-re", "-f", "lavfi", "-i",
                f"sine=frequency={CHAMBER_TONE:g}:sample_rate=48000,volume=0.3"]
        parts.append(f'[bridge.audio]\nurl = "ws://127.0.0.1:{bridge_port}"\n'
                     f'room = {AUDIO_ROOM}\nsecret_env = "{SECRET_ENV}"\n'
                     f'send = {json.dumps(send)}\noutput = {json.dumps(output_args(audio_port))}\n')
    for councillor, seat in REMOTE.items():
        n = councillor[1:]
        parts.append(f'[[councillors]]\nid = "{councillor}"\nname = "Member {n}"\n'
                     f'party = "P{int(n) % 3}"\n')
        parts.append(f'[[seats]]\nid = "{seat}"\nlabel = "{seat}"\ncouncillor = "{councillor}"\n'
                     'remote = true\n')
    parts.append(f'[devices.bridge]\ndriver = "janus"\nurl = "ws://127.0.0.1:{bridge_port}"\n'
                 f'room = {ROOM}\nsecret_env = "{SECRET_ENV}"\ncreate_room = true\n'
                 'audio_active_packets = 10\n')
    slots = 'slots = ["Remote 1"]\n' if obs_port is not None else ""
    parts.append(f'[bridge]\ndevice = "bridge"\ntokens_file = "{tokens}"\n{slots}')
    parts.append(f'[join]\nenabled = true\nbind = "127.0.0.1:{join_port}"\n')
    if obs_port is not None:  # on air: the director cuts a granted remote councillor's slot
        parts.append('[scenes.Wide]\nlower_third = false\n[scenes."Remote 1"]\n'
                     '[shots.wide]\nscene = "Wide"\nkind = "wide"\n'
                     f'[obs]\nhost = "127.0.0.1"\nport = {obs_port}\n'
                     f'password_env = "{OBS_PASSWORD_ENV}"\n'
                     '[director]\nwide = "wide"\nswitch_in_delay = 0\nmin_hold = 0.01\n'
                     'hysteresis = 0\ncut_on_grant = true\n')
    width, height = CHAMBER_SIZE
    parts.append(f'[join.chamber]\nid = {CHAMBER_ID}\ninput = ["-re", "-f", "lavfi", "-i", '
                 f'"testsrc=size={width}x{height}:rate=15", "-f", "lavfi", "-i", '
                 '"sine=frequency=440"]\n')
    return "\n".join(parts)


def config_text(bridge_port: int, join_port: int, tokens: Path,
                obs_port: int | None = None, audio_port: int | None = None) -> str:
    """The test chamber with members 1-6 in the room and m7, m8 at home (remote seats);
    with `obs_port`, on air: a director, a wide shot and a "Remote 1" slot in that OBS;
    with `audio_port`, hybrid audio, the chamber return decoded to that UDP port."""
    return chamber_toml(members=6, extra=_remote_seats(bridge_port, join_port, tokens,
                                                       obs_port, audio_port))


class GroupDaemon(DaemonProcess):
    """DaemonProcess in its own process group, so its ffmpeg goes with it."""

    async def start(self) -> None:
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(  # noqa: ASYNC220 - returns at once
                [sys.executable, "-m", "councild.cli", "run", "-c", str(self.config),
                 "--db", str(self.db), "--socket", str(self.sock)],
                stdout=log, stderr=log, env={**os.environ, "PYTHONUNBUFFERED": "1"},
                start_new_session=True,
            )
        try:
            await until(self._answers, DAEMON_READY, interval=0.05)
        except AssertionError as exc:
            raise AssertionError(f"daemon not up: {exc}") from None

    async def _answers(self) -> bool:
        assert self.proc is not None
        if self.proc.poll() is not None:
            raise AssertionError(f"daemon exited with {self.proc.returncode} (log below)")
        if not self.sock.exists():
            return False
        try:
            client = await ApiClient.connect(self.sock)
        except OSError:
            return False
        await client.close()
        return True

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(DAEMON_STOP)
        except subprocess.TimeoutExpired:
            print(f"daemon ignored SIGTERM for {DAEMON_STOP} s; killed")
        with contextlib.suppress(ProcessLookupError):  # ffmpeg or anything else left over
            os.killpg(proc.pid, signal.SIGKILL)
        if proc.poll() is None:
            proc.wait(DAEMON_STOP)


@dataclass
class Chamber:
    """The running daemon, its join page and the API."""

    daemon: GroupDaemon
    api: ApiClient
    join_port: int
    tokens: dict[str, str]  # councillor → token

    @property
    def origin(self) -> str:
        return f"127.0.0.1:{self.join_port}"

    def url(self, token: str) -> str:
        return f"http://{self.origin}/join/{token}"

    async def state(self) -> dict[str, Any]:
        reply = await self.api.request("state")
        assert reply.get("ok"), reply
        state: dict[str, Any] = reply["state"]
        return state

    async def seat(self, seat: str) -> dict[str, Any]:
        return next(s for s in (await self.state())["seats"] if s["id"] == seat)

    async def op(self, op: str, **args: Any) -> None:
        reply = await self.api.request(op, **args)
        assert reply.get("ok"), reply


@dataclass
class Control:
    """A participant of the room that never publishes: it sees Janus's own events."""

    client: JanusClient
    events: list[RoomEvent] = field(default_factory=list)

    def moderation(self, participant: str) -> list[bool]:
        """The muted flags Janus announced for that participant, in order."""
        return [bool(e.muted) for e in self.events
                if e.kind is RoomEventKind.MODERATION and e.participant == participant]

    def arrivals(self) -> list[str]:
        """Participants that entered or published, but the chamber feed (which comes and
        goes with its ffmpeg, on its own time)."""
        ids: list[str] = []
        for e in self.events:
            if e.kind is RoomEventKind.JOINING and e.participant is not None:
                ids.append(e.participant)
            elif e.kind is RoomEventKind.PUBLISHERS:
                ids += [p.id for p in e.participants]
        return [i for i in ids if i != str(CHAMBER_ID)]


@dataclass
class Browser:
    """One Chromium with its own empty profile, one page, and what it asked for."""

    context: Any  # playwright.async_api.BrowserContext
    page: Any  # playwright.async_api.Page
    origin: str
    urls: list[str] = field(default_factory=list)
    console: list[str] = field(default_factory=list)

    def foreign(self) -> list[str]:
        """Every URL of this browser that went anywhere but the join page's origin."""
        out = []
        for url in self.urls:
            parts = urlsplit(url)
            if parts.scheme in ("data", "blob", "about"):
                continue  # never leaves the browser
            if parts.netloc != self.origin:
                out.append(url)
        return out

    async def config(self) -> dict[str, Any]:
        text = await self.page.locator("#join-config").text_content()
        data: dict[str, Any] = json.loads(text or "{}")
        return data


async def _all_gone(names: set[str], who: str) -> None:
    try:
        await until(lambda: not netns.processes(names), PROCESS_EXIT)
    except AssertionError:
        raise AssertionError(f"left running after {who}: {netns.processes(names)}") from None


def _missing(reason: str) -> None:
    if IN_CI:
        pytest.fail(f"CI=true: {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def namespace() -> None:
    if not netns.inside():
        pytest.fail("join_scenarios.py runs only inside the namespace test_join_page.py "
                    f"makes (${netns.MARKER}=1)")
    netns.setup()


@pytest.fixture(scope="session")
def tone(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A steady 440 Hz sine: the fake microphone then talks all the time, never flapping."""
    path = tmp_path_factory.mktemp("tone") / "tone.wav"
    frames = bytearray()
    for i in range(TONE_SECONDS * TONE_RATE):
        frames += struct.pack("<h", int(12_000 * math.sin(2 * math.pi * 440 * i / TONE_RATE)))
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(TONE_RATE)
        out.writeframes(bytes(frames))
    return path


@pytest.fixture
def janus_ns(namespace: None) -> Iterator[JanusServer]:
    binary = require_binary("janus", "janus")
    with tempfile.TemporaryDirectory(prefix="janus-") as folder:
        server = JanusServer(binary, Path(folder), ice_enforce_list=netns.ICE_INTERFACE)
        server.start()
        try:
            yield server
        finally:
            server.stop()
            # the plugins we disabled on purpose are a page of noise at every start
            log = "\n".join(line for line in server.log_tail(200).splitlines()
                            if "has been disabled" not in line)
            print(f"--- janus log ---\n{log}")
            assert server.leftovers() == [], "janus processes left behind"


@dataclass
class OnAir:
    """The headless OBS of an `on_air` scenario and an independent client watching it."""

    obs: Any  # scenes.headless.HeadlessObs
    watch: Any  # scenes.obs_client.ObsClient


@pytest.fixture
async def chamber(janus_ns: JanusServer, short_tmp: Path, monkeypatch: pytest.MonkeyPatch,
                  request: pytest.FixtureRequest) -> AsyncIterator[Chamber]:
    """The daemon; for a scenario marked `on_air`, with a real headless OBS (fixture on_air)."""
    require_binary("ffmpeg", "ffmpeg")
    monkeypatch.setenv(SECRET_ENV, secrets.token_urlsafe(16))
    tokens = {c: secrets.token_urlsafe(24) for c in REMOTE}  # 32 URL-safe characters
    tokens_file = short_tmp / "tokens.toml"
    tokens_file.write_text("".join(f'{c} = "{t}"\n' for c, t in tokens.items()))
    tokens_file.chmod(0o600)
    join_port = free_port()
    async with contextlib.AsyncExitStack() as stack:
        obs_port = None
        if request.node.get_closest_marker("on_air") is not None:
            on_air = await stack.enter_async_context(_on_air(janus_ns, join_port, tokens_file))
            request.node.on_air = on_air
            monkeypatch.setenv(OBS_PASSWORD_ENV, on_air.obs.password)
            obs_port = on_air.obs.port
        audio_port = None
        if request.node.get_closest_marker("hybrid_audio") is not None:
            capture = await open_capture()
            stack.callback(capture.close)
            request.node.capture = capture
            audio_port = capture.port
        config = short_tmp / "config.toml"
        config.write_text(config_text(janus_ns.port, join_port, tokens_file, obs_port,
                                      audio_port))
        daemon = GroupDaemon(config, short_tmp / "s.db", short_tmp / "api.sock",
                             short_tmp / "log")
        api: ApiClient | None = None
        try:
            await daemon.start()
            api = await ApiClient.connect(daemon.sock)
            room = Chamber(daemon, api, join_port, tokens)

            async def bridge_up() -> bool:
                return bool((await room.state())["devices"]["bridge"]["link"] == "connected")

            await until(bridge_up, DAEMON_READY, interval=0.05)
            if audio_port is not None:
                async def audio_up() -> bool:
                    devices = (await room.state())["devices"]
                    return bool(devices["audiobridge"]["link"] == "connected")

                await until(audio_up, DAEMON_READY, interval=0.05)
            yield room
        finally:
            if api is not None:
                await api.close()
            daemon.stop()
            print(f"--- daemon log ---\n{daemon.log.read_text(errors='replace')}")
            await _all_gone({"ffmpeg"}, "the daemon")


@contextlib.asynccontextmanager
async def _on_air(janus_ns: JanusServer, join_port: int,
                  tokens_file: Path) -> AsyncIterator[OnAir]:
    from councild.config import parse
    from councild.obs_setup import collection_for
    from scenes.headless import HeadlessObs
    from scenes.obs_client import ObsClient, ObsOptions
    from tests.scenes_obs.conftest import require_obs

    require_obs()
    # the scene collection follows the config; OBS's port is not known yet, and not needed
    layout = parse(config_text(janus_ns.port, join_port, tokens_file, 4455))
    async with HeadlessObs(collection=collection_for(layout, canvas=(640, 360)),
                           canvas=(640, 360)) as obs:
        watch = ObsClient(ObsOptions(host="127.0.0.1", port=obs.port), lambda e: None,
                          password=obs.password, name="observer")
        await watch.start()
        try:
            await watch.wait_ready()
            yield OnAir(obs, watch)
        finally:
            await watch.stop()


@pytest.fixture
def return_capture(chamber: Chamber, request: pytest.FixtureRequest) -> PcmCapture:
    """What the chamber return decodes, in a scenario marked `hybrid_audio`."""
    found: PcmCapture | None = getattr(request.node, "capture", None)
    assert found is not None, "mark the scenario @pytest.mark.hybrid_audio"
    return found


@pytest.fixture
def on_air(chamber: Chamber, request: pytest.FixtureRequest) -> OnAir:
    """The OBS of a scenario marked `on_air` (the chamber fixture starts it)."""
    found: OnAir | None = getattr(request.node, "on_air", None)
    assert found is not None, "mark the scenario @pytest.mark.on_air"
    return found


@pytest.fixture
async def control(chamber: Chamber, janus_ns: JanusServer) -> AsyncIterator[Control]:
    """Joined before any page, so it sees the mute the daemon gives each councillor on join."""
    events: list[RoomEvent] = []

    def on_message(msg: JanusMessage) -> None:
        if isinstance(msg, JanusEvent) and msg.room is not None:
            events.append(msg.room)

    spy = Control(await JanusClient.connect(janus_ns.url, on_message), events)
    try:
        await spy.client.plugin({"request": "join", "ptype": "publisher", "room": ROOM,
                                 "display": "test control"}, until_event=True)
        yield spy
    finally:
        await spy.client.close()


@pytest.fixture
async def playwright() -> AsyncIterator[Any]:
    if not os.access(CHROMIUM, os.X_OK):
        _missing(f"{CHROMIUM} not found (Debian package chromium)")
    try:
        from playwright.async_api import async_playwright
    except ImportError:  # pragma: no cover - a dev dependency
        _missing("the Python package playwright is not installed (pip install -e .[dev])")
    async with async_playwright() as p:
        yield p


OpenBrowser = Callable[[], Awaitable[Browser]]


@pytest.fixture
async def browsers(playwright: Any, chamber: Chamber, tone: Path,
                   tmp_path: Path) -> AsyncIterator[OpenBrowser]:
    """A factory of browsers; each checked for foreign requests and closed at teardown."""
    opened: list[Browser] = []

    async def open_browser() -> Browser:
        profile = tmp_path / f"profile-{len(opened)}"
        profile.mkdir()  # a new empty user-data-dir for each browser
        context = await playwright.chromium.launch_persistent_context(
            str(profile), executable_path=CHROMIUM, headless=True,
            args=[*CHROMIUM_FLAGS, f"--use-file-for-fake-audio-capture={tone}"],
        )
        page = context.pages[0] if context.pages else await context.new_page()
        browser = Browser(context, page, chamber.origin)
        context.on("request", lambda request: browser.urls.append(request.url))
        page.on("websocket", lambda ws: browser.urls.append(ws.url))
        page.on("console", lambda msg: browser.console.append(f"{msg.type}: {msg.text}"))
        page.on("pageerror", lambda exc: browser.console.append(f"pageerror: {exc}"))
        opened.append(browser)
        return browser

    try:
        yield open_browser
    finally:
        foreign: list[str] = []
        errors: list[str] = []
        for i, browser in enumerate(opened):
            console = "\n".join(browser.console)
            requests = "\n".join(browser.urls)
            print(f"--- browser {i} console ---\n{console}\n--- browser {i} requests ---\n"
                  f"{requests}")
            foreign += browser.foreign()
            errors += [line for line in browser.console if line.startswith("pageerror:")]
            with contextlib.suppress(Exception):  # closing must go on for the rest
                await asyncio.wait_for(browser.context.close(), 10)
        await _all_gone(CHROMIUM_NAMES, "Playwright's close")
        assert foreign == [], f"requests beyond the page's origin {chamber.origin}: {foreign}"
        assert errors == [], f"uncaught errors in the page: {errors}"
