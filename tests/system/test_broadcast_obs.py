"""The broadcast with a real headless OBS streaming to a real RTMP receiver (ffmpeg -listen).

Start from councild → the receiver gets video and councild shows live with a bitrate;
the receiver dies → reconnecting within 3 s and the alarm; it comes back → live, alarm gone;
stop from councild → stopped, no alarm. The recording: start, two agenda changes, stop, and
chapters that land within 1 s of the file's own clock. Bad input: no server, no key, a
recording folder that cannot be written.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import socket
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from pythonosc.osc_message import OscMessage

from councild.config import parse
from councild.daemon import Daemon
from councild.export import export
from councild.model import SetAgenda
from councild.obs_setup import collection_for
from councild.store import Store
from devices.sim.x32 import X32Simulator
from scenes.headless import HeadlessObs, free_tcp_port
from tests.helpers import require_binary, until
from tests.scenes_obs.conftest import require_obs
from tests.system.conftest import IMMEDIATE, PASSWORD_ENV, chamber
from tests.system.test_metrics_prometheus import METRICS, scrape
from tests.tui.conftest import SIZE, make_app
from tui.dialogs import ConfirmScreen

pytestmark = pytest.mark.timeout(150)

# The machine is small and shared: a tiny canvas, the cheapest x264, a low bitrate.
CHEAP_OUTPUT = {
    "SimpleOutput": {"StreamEncoder": "x264", "RecEncoder": "x264", "RecQuality": "Stream",
                     "Preset": "ultrafast", "VBitrate": "300", "ABitrate": "64",
                     "RecFormat": "mkv"},
    "Output": {"Reconnect": "true", "RetryDelay": "1", "MaxRetries": "30"},
}
CANVAS = (320, 180)


class Receiver:
    """ffmpeg as a one-shot RTMP server writing what it gets to a file."""

    def __init__(self, port: int, folder: Path) -> None:
        self.port = port
        self.folder = folder
        self.proc: subprocess.Popen[bytes] | None = None
        self.files: list[Path] = []

    def start(self) -> None:
        out = self.folder / f"received-{len(self.files)}.flv"
        self.files.append(out)
        self.proc = subprocess.Popen(
            ["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-listen", "1",
             "-i", f"rtmp://127.0.0.1:{self.port}/live/councild", "-c", "copy", "-f", "flv",
             str(out)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(5)
        self.proc = None

    def wait(self, timeout: float) -> None:
        if self.proc is not None:
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()


def probe(path: Path, entries: str = "stream=codec_type") -> dict[str, Any]:
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-show_entries", entries, "-of", "json", str(path)],
        capture_output=True, timeout=30, check=False)
    return json.loads(out.stdout or b"{}")


def duration(path: Path) -> float:
    return float(probe(path, "format=duration")["format"]["duration"])


@pytest.fixture
def receiver(short_tmp: Path) -> Iterator[Receiver]:
    require_binary("ffmpeg", "ffmpeg")
    r = Receiver(free_tcp_port(), short_tmp)
    try:
        yield r
    finally:
        r.kill()


async def broadcasting_obs(tmp: Path, server: str, key: str,
                           record_dir: Path) -> HeadlessObs:
    require_obs()
    config = parse(chamber(1, 4455))
    return HeadlessObs(
        collection=collection_for(config, canvas=CANVAS), canvas=CANVAS, fps=15,
        profile={**CHEAP_OUTPUT, "SimpleOutput": {**CHEAP_OUTPUT["SimpleOutput"],
                                                  "FilePath": str(record_dir)}},
        stream_service={"type": "rtmp_custom", "settings": {"server": server, "key": key}})


@pytest.fixture
async def desk() -> AsyncIterator[X32Simulator]:
    async with X32Simulator() as sim:
        yield sim


async def start_daemon(tmp: Path, desk: X32Simulator, obs: HeadlessObs,
                       monkeypatch: pytest.MonkeyPatch, extra: str = "") -> Daemon:
    monkeypatch.setenv(PASSWORD_ENV, obs.password)
    config = parse(chamber(desk.port, obs.port, IMMEDIATE) + extra)
    daemon = Daemon(config, store_path=tmp / "s.db", socket_path=tmp / "api.sock")
    await daemon.start()
    await until(lambda: daemon.device_views["obs"].link.value == "connected", 15)
    await until(lambda: daemon.broadcast is not None and daemon.broadcast.health.connected, 5)
    return daemon


async def op(daemon: Daemon, name: str) -> dict[str, Any]:
    from councild.api import ApiRequest

    return await daemon.handle(ApiRequest(1, name, {}), None)  # type: ignore[arg-type]


def bstate(daemon: Daemon) -> dict[str, Any]:
    state = daemon.state_dict()["broadcast"]
    assert state is not None
    return state


def alarm_names(daemon: Daemon) -> set[str]:
    return {a["alarm"] for a in bstate(daemon)["alarms"]}


def broadcast_rows(tmp: Path) -> list[tuple[str, dict[str, Any]]]:
    store = Store(tmp / "s.db")
    try:
        session = store.session()
        assert session is not None
        return [(r.type, r.body) for r in store.rows(session.id, ("broadcast",))]
    finally:
        store.close()


async def test_stream_live_reconnecting_and_back(short_tmp, desk, receiver, monkeypatch,
                                                 caplog) -> None:
    """Driven from the technician's TUI (a real app on the daemon's socket): `s` starts,
    the broadcast panel and the alarm banner follow, `s` + confirmation stops."""
    caplog.set_level(logging.INFO)
    obs = await broadcasting_obs(short_tmp, f"rtmp://127.0.0.1:{receiver.port}/live",
                                 "councild", short_tmp)
    async with obs:
        receiver.start()
        daemon = await start_daemon(short_tmp, desk, obs, monkeypatch, METRICS)
        app = make_app(daemon)
        try:
            async with app.run_test(size=SIZE) as pilot:
                await until(lambda: app.attached, 5)
                panel, banner = app.main.broadcast, app.main.alarms
                await until(lambda: "stream off" in panel.plain, 5)
                await pilot.press("s")
                await until(lambda: bstate(daemon)["stream"]["state"] == "live", 15)
                await until(lambda: (bstate(daemon)["stream"]["bitrate"] or 0) > 0, 10)
                await until(lambda: "● LIVE" in panel.plain and "kbit/s" in panel.plain, 3)
                assert alarm_names(daemon) == set() and not banner.display
                await until(lambda: receiver.files[0].exists()
                            and receiver.files[0].stat().st_size > 20_000, 15)
                kinds = [s["codec_type"] for s in probe(receiver.files[0]).get("streams", [])]
                assert "video" in kinds
                families = await scrape(daemon.metrics.port)
                live = {s.labels["state"]: s.value for s in families["councild_stream_state"]}
                assert live["live"] == 1.0
                bitrate = families["councild_stream_bitrate_bits_per_second"][0].value
                assert bitrate > 0

                receiver.kill()
                killed = time.monotonic()
                await until(lambda: bstate(daemon)["stream"]["state"] == "reconnecting", 3)
                assert time.monotonic() - killed <= 3
                assert "stream_reconnecting" in alarm_names(daemon)
                await until(lambda: banner.display and "Stream reconnecting" in banner.plain, 2)
                assert "RECONNECTING" in panel.plain
                families = await scrape(daemon.metrics.port)
                alarm = {s.labels["alarm"]: s.value
                         for s in families["councild_broadcast_alarm"]}
                assert alarm["stream_reconnecting"] == 1.0

                receiver.start()
                await until(lambda: bstate(daemon)["stream"]["state"] == "live", 20)
                await until(lambda: alarm_names(daemon) == set(), 3)
                await until(lambda: not banner.display, 2)
                await until(lambda: receiver.files[1].exists()
                            and receiver.files[1].stat().st_size > 5_000, 15)

                await pilot.press("s")  # stop asks first; "no" leaves the stream alone
                assert isinstance(app.screen, ConfirmScreen)
                await pilot.press("n")
                await asyncio.sleep(1.2)
                assert bstate(daemon)["stream"]["state"] == "live"
                await pilot.press("s")
                await pilot.press("y")
                await until(lambda: bstate(daemon)["stream"]["state"] == "stopped", 10)
                await asyncio.sleep(1.5)  # a poll or two after the stop: still no alarm
                assert alarm_names(daemon) == set()
                await until(lambda: "stream off" in panel.plain and not banner.display, 2)
            receiver.wait(10)
            assert "video" in [s["codec_type"] for s in
                               probe(receiver.files[1]).get("streams", [])]
        finally:
            await daemon.stop()
    types = [t for t, _b in broadcast_rows(short_tmp)]
    assert types[0] == "stream_start" and "stream_stop" in types
    states = [b["state"] for t, b in broadcast_rows(short_tmp) if t == "StreamStateChanged"]
    assert "started" in states and "reconnecting" in states and states[-1] == "stopped"
    alarms = [(b["alarm"], b["raised"]) for t, b in broadcast_rows(short_tmp)
              if t == "BroadcastAlarm"]
    assert ("stream_reconnecting", True) in alarms and ("stream_reconnecting", False) in alarms


async def test_recording_chapters_match_the_file(short_tmp, desk, monkeypatch) -> None:
    require_binary("ffprobe", "ffmpeg")
    folder = short_tmp / "rec"
    folder.mkdir()
    obs = await broadcasting_obs(short_tmp, "rtmp://127.0.0.1:9/live", "k", folder)
    async with obs:
        daemon = await start_daemon(short_tmp, desk, obs, monkeypatch)
        try:
            daemon.submit(SetAgenda(item="1"), "test")
            reply = await op(daemon, "record_start")
            assert reply["ok"], reply
            await until(lambda: bstate(daemon)["record"]["state"] == "recording", 10)
            await asyncio.sleep(3)
            daemon.submit(SetAgenda(item="2"), "test")  # two changes at known times
            changes = [time.time()]
            await asyncio.sleep(3)
            daemon.submit(SetAgenda(item="1"), "test")
            changes.append(time.time())
            await asyncio.sleep(2)
            reply = await op(daemon, "record_stop")
            assert reply["ok"], reply
            stopped = time.time()
            await until(lambda: bstate(daemon)["record"]["state"] == "stopped", 10)
            path = bstate(daemon)["record"]["path"] or reply.get("path")
        finally:
            await daemon.stop()
    files = list(folder.iterdir())
    assert len(files) == 1 and path is not None and Path(path) == files[0]
    # The file's own clock: it ends `length` seconds in, at (about) the stop; so a change
    # `stopped - t` seconds before the stop is at `length - (stopped - t)` in the file.
    length = duration(files[0])
    expected = [length - (stopped - t) for t in changes]
    store = Store(short_tmp / "s.db")
    try:
        vtt = export(store, "vtt")  # default origin: the recording
        lines_text = export(store, "chapters", minimum=1.0)
    finally:
        store.close()
    lines = vtt.splitlines()
    starts = [_seconds(lines[lines.index(f"agenda-{i}") + 1].split(" --> ")[0])
              for i in (1, 2, 3)]
    assert starts[0] == 0.0
    for got, want in zip(starts[1:], expected, strict=True):
        assert abs(got - want) <= 1.0, (starts, expected, length)
    assert [line.split(" ", 1)[1] for line in lines_text.splitlines()] == [
        "Opening", "Budget", "Opening"]
    assert f"NOTE recording {path}" in vtt


def _seconds(stamp: str) -> float:
    h, m, s = stamp.split(":")
    return int(h) * 3600 + int(m) * 60 + float(s)


async def test_bad_input_is_refused_in_words(short_tmp, desk, monkeypatch) -> None:
    # A folder nobody may write to; root may write anywhere, so there a file stands in for it.
    locked = short_tmp / "locked"
    if os.geteuid() == 0:
        locked.write_text("not a folder")
    else:
        locked.mkdir()
        locked.chmod(0o500)
    obs = await broadcasting_obs(short_tmp, "rtmp://127.0.0.1:9/live", "", locked)
    async with obs:
        daemon = await start_daemon(short_tmp, desk, obs, monkeypatch)
        try:
            assert daemon.vision is not None and daemon.vision.obs is not None
            # The technician presses `s` in the TUI: the refusal is a notification in words.
            app = make_app(daemon)
            async with app.run_test(size=SIZE) as pilot:
                await until(lambda: app.attached, 5)
                await pilot.press("s")
                await until(lambda: any("stream key is missing" in n.message
                                        for n in app._notifications), 5)
            reply = await op(daemon, "stream_start")
            assert not reply["ok"] and reply["error"]["code"] == "no_stream_key"
            assert "stream key" in reply["error"]["message"]
            await daemon.vision.obs.request("SetStreamServiceSettings", {
                "streamServiceType": "rtmp_custom",
                "streamServiceSettings": {"server": "", "key": "x"}})
            reply = await op(daemon, "stream_start")
            assert not reply["ok"] and reply["error"]["code"] == "no_output"
            reply = await op(daemon, "record_start")
            assert not reply["ok"] and reply["error"]["code"] == "record_path"
            assert str(locked) in reply["error"]["message"]
            # Nothing else disturbed: OBS still connected, nothing running, no alarm.
            state = bstate(daemon)
            # Debian 12's OBS 29 (obs-websocket 5.1) has no CreateRecordChapter.
            assert state["chapters_supported"] is False
            assert state["stream"]["state"] == "stopped" and state["record"]["state"] == "stopped"
            assert state["alarms"] == []
            assert daemon.device_views["obs"].link.value == "connected"
            log = [e["event"] for e in daemon.events if e["event"].get("type") == "refused"]
            assert [e["code"] for e in log] == ["no_stream_key", "no_stream_key", "no_output",
                                                "record_path"]

            # An OBS on another machine: its folders are not ours to check. OBS's own failure
            # to start is then said in words, once, and nothing stays "starting".
            assert daemon.broadcast is not None
            daemon.broadcast._local = False
            reply = await op(daemon, "record_start")
            failed = [e["event"] for e in daemon.events
                      if e["event"].get("type") == "BroadcastStartFailed"]
            if reply["ok"]:
                await until(lambda: any(e["event"].get("type") == "BroadcastStartFailed"
                                        for e in daemon.events), 20)
                failed = [e["event"] for e in daemon.events
                          if e["event"].get("type") == "BroadcastStartFailed"]
                assert failed[0]["output"] == "record"
            assert bstate(daemon)["record"]["state"] == "stopped"
            assert daemon.device_views["obs"].link.value == "connected"
        finally:
            await daemon.stop()
            if locked.is_dir():
                locked.chmod(0o700)


async def test_obs_gone_while_recording(short_tmp, desk, monkeypatch) -> None:
    """OBS dies mid-recording: the alarm at once, on Companion's lamp too; OBS back: that
    alarm over, and the recording it lost is said (it stopped without a stop command)."""
    folder = short_tmp / "rec"
    folder.mkdir()
    lamps = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    lamps.bind(("127.0.0.1", 0))
    lamps.setblocking(False)
    companion = (f'\n[devices.companion]\ndriver = "osc_control"\nport = 0\n'
                 f'feedback = "127.0.0.1:{lamps.getsockname()[1]}"\n')
    seen: dict[str, int] = {}

    def lamp(name: str) -> int | None:
        while True:
            try:
                msg = OscMessage(lamps.recv(1024))
            except BlockingIOError:
                break
            if msg.address.startswith("/councild/broadcast/"):
                seen[msg.address.rsplit("/", 1)[1]] = int(msg.params[0])
        return seen.get(name)

    obs = await broadcasting_obs(short_tmp, "rtmp://127.0.0.1:9/live", "k", folder)
    async with obs:
        daemon = await start_daemon(short_tmp, desk, obs, monkeypatch, companion)
        try:
            assert (await op(daemon, "record_start"))["ok"]
            await until(lambda: bstate(daemon)["record"]["state"] == "recording", 10)
            await until(lambda: lamp("recording") == 1 and lamp("alarm") == 0, 3)
            await obs.kill_obs()
            await until(lambda: "obs_gone" in alarm_names(daemon), 5)
            await until(lambda: lamp("alarm") == 1, 3)
            assert bstate(daemon)["record"]["state"] == "unknown"
            await obs.restart_obs()
            await until(lambda: daemon.device_views["obs"].link.value == "connected", 15)
            await until(lambda: alarm_names(daemon) == {"record_stopped"}, 5)
            # Starting again is the technician's answer; it clears the alarm.
            assert (await op(daemon, "record_start"))["ok"]
            await until(lambda: bstate(daemon)["record"]["state"] == "recording", 10)
            assert alarm_names(daemon) == set()
            await until(lambda: lamp("alarm") == 0 and lamp("recording") == 1, 3)
            assert (await op(daemon, "record_stop"))["ok"]
        finally:
            await daemon.stop()
            lamps.close()
