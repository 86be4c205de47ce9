"""Hybrid audio end to end: the daemon, a real Janus AudioBridge, real ffmpeg, on loopback.

The chamber sends 440 Hz (a lavfi tone as its "desk send"), remote councillor A (Anna, seat
R1) 600 Hz, remote B (Bernd, R2) 900 Hz, both simulated plain-RTP participants that join
muted. Every listener's audio is decoded to PCM over UDP and analysed by FFT: mix-minus (no
one hears themselves), the floor (no one without it is heard), and the faults (ffmpeg
killed, Janus restarted: never audible without the floor, not even for a moment).
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal

import pytest

from councild.api import ApiRequest
from councild.config import parse
from councild.daemon import Daemon
from councild.model import Grant, Revoke
from devices.sim.remote import AudioRemoteCouncillors
from tests.audio.capture import PcmCapture, open_capture, output_args, tone_prominence
from tests.chamber import BASE
from tests.helpers import require_binary, until

pytestmark = pytest.mark.timeout(150)

AB_ROOM = 6161
SECRET = "hybrid-audio-secret"
SECRET_ENV = "COUNCILD_TEST_AB_SECRET"
CHAMBER, TONE_A, TONE_B = 440.0, 600.0, 900.0
PRESENT_DB = -45.0  # a tone at this level or above is heard (they arrive at about -30)
ABSENT_DB = -60.0  # below this it is not there (what is left is Opus noise)
WINDOW = 0.25


def hybrid_chamber(janus_url: str, return_port: int) -> str:
    parts = [BASE, '[[seats]]\nid = "C"\nlabel = "Chair"\ncouncillor = "chair"\n']
    for i, name in enumerate(("Anna Müller", "Bernd Schulz"), 1):
        parts.append(f'[[councillors]]\nid = "r{i}"\nname = "{name}"\nparty = "P{i}"\n')
        parts.append(f'[[seats]]\nid = "R{i}"\nlabel = "R{i}"\ncouncillor = "r{i}"\n'
                     'remote = true\n')
    parts.append(f'[devices.bridge]\ndriver = "janus"\nurl = "{janus_url}"\nroom = 6160\n'
                 f'secret_env = "{SECRET_ENV}"\ncreate_room = true\n')
    send = ["-re", "-f", "lavfi", "-i", f"sine=frequency={CHAMBER:g}:sample_rate=48000,"
            "volume=0.3"]
    parts.append('[bridge]\ndevice = "bridge"\n')
    parts.append(f'[bridge.audio]\nurl = "{janus_url}"\nroom = {AB_ROOM}\n'
                 f'secret_env = "{SECRET_ENV}"\nbitrate = 24000\n'
                 f'send = {send!r}\noutput = {output_args(return_port)!r}\n'.replace("'", '"'))
    return "\n".join(parts)


def heard(capture: PcmCapture, tone: float, seconds: float = WINDOW) -> float:
    return capture.levels(tone, seconds=seconds)[tone]


def as_tone(capture: PcmCapture, tone: float, seconds: float) -> float:
    """`tone`'s level in the newest `seconds`, counted only where it stands out of the
    spectrum as a tone: the click of a decoder restarting is broadband, not a voice."""
    samples = capture.recent(seconds)
    return heard(capture, tone, seconds) if tone_prominence(samples, tone) >= 15 else -200.0


async def wait_heard(capture: PcmCapture, tone: float, timeout: float,
                     present: bool = True) -> float:
    """Seconds until `tone` is (or is no longer) in the newest 80 ms of `capture`."""
    loop = asyncio.get_running_loop()
    start = loop.time()
    while loop.time() - start < timeout:
        level = heard(capture, tone, 0.08)
        if (level >= PRESENT_DB) if present else (level < ABSENT_DB):
            return loop.time() - start
        await asyncio.sleep(0.01)
    raise AssertionError(f"{tone} Hz {'not heard' if present else 'still heard'} "
                         f"within {timeout} s: {heard(capture, tone, 0.08):.1f} dB")


@pytest.fixture
def ffmpeg() -> str:
    return require_binary("ffmpeg", "ffmpeg")


async def test_mix_minus_floor_and_faults(short_tmp, janus, monkeypatch, ffmpeg, caplog):
    caplog.set_level(logging.WARNING)
    monkeypatch.setenv(SECRET_ENV, SECRET)
    ret, at_a, at_b = await open_capture(), await open_capture(), await open_capture()
    daemon = Daemon(parse(hybrid_chamber(janus.url, ret.port)), store_path=short_tmp / "s.db",
                    socket_path=short_tmp / "a.sock")
    sims = AudioRemoteCouncillors(janus.url, AB_ROOM, ffmpeg=ffmpeg)
    sims.add("Anna Müller", TONE_A, output_args(at_a.port))
    sims.add("Bernd Schulz", TONE_B, output_args(at_b.port))
    views = daemon.device_views
    await daemon.start()
    try:
        await until(lambda: views["audiobridge"].link.value == "connected", 10)
        await sims.start()
        audio = daemon.audio
        await until(lambda: set(audio.at_seat) == {"R1", "R2"}, 10)
        await until(lambda: views["chamber-return"].link.value == "connected", 10)
        await until(lambda: heard(at_a, CHAMBER) >= PRESENT_DB
                    and heard(at_b, CHAMBER) >= PRESENT_DB, 10)

        # Nobody has the floor: both remotes are muted in the AudioBridge, heard nowhere.
        await asyncio.sleep(WINDOW)
        assert heard(ret, TONE_A) < ABSENT_DB and heard(ret, TONE_B) < ABSENT_DB
        assert heard(at_a, TONE_B) < ABSENT_DB and heard(at_b, TONE_A) < ABSENT_DB
        assert all(p["muted"] for p in daemon.state_dict()["audio"]["participants"])

        # Grant A: at the chamber return within 0.5 s.
        daemon.submit(Grant(seat="R1"), "api")
        assert await wait_heard(ret, TONE_A, 0.5) <= 0.5
        daemon.submit(Grant(seat="R2"), "api")
        await wait_heard(ret, TONE_B, 0.5)
        await asyncio.sleep(WINDOW + 0.1)

        # Mix-minus, proven by frequency.
        a = at_a.levels(CHAMBER, TONE_A, TONE_B, seconds=WINDOW)
        b = at_b.levels(CHAMBER, TONE_A, TONE_B, seconds=WINDOW)
        r = ret.levels(CHAMBER, TONE_A, TONE_B, seconds=WINDOW)
        assert a[CHAMBER] >= PRESENT_DB and a[TONE_B] >= PRESENT_DB, a
        assert a[TONE_A] <= min(a[CHAMBER], a[TONE_B]) - 30, a
        assert b[CHAMBER] >= PRESENT_DB and b[TONE_A] >= PRESENT_DB, b
        assert b[TONE_B] <= min(b[CHAMBER], b[TONE_A]) - 30, b
        assert r[TONE_A] >= PRESENT_DB and r[TONE_B] >= PRESENT_DB, r
        assert r[CHAMBER] <= min(r[TONE_A], r[TONE_B]) - 30, r
        # the short-window detector used during the Janus restart does see B when B speaks
        assert as_tone(ret, TONE_B, 0.06) >= PRESENT_DB and as_tone(at_a, TONE_B, 0.06) >= \
            PRESENT_DB

        # Revoke B: gone from the return, and from what A hears, within 0.5 s.
        daemon.submit(Revoke(seat="R2"), "api")
        assert await wait_heard(ret, TONE_B, 0.5, present=False) <= 0.5
        await wait_heard(at_a, TONE_B, 0.5, present=False)

        # The return ffmpeg killed: restarted, audio back within 2 s, seen in the devices.
        pid = audio.endpoint.returner.pid
        assert pid is not None
        os.killpg(pid, signal.SIGKILL)
        await until(lambda: views["chamber-return"].link.value != "connected", 2)
        await until(lambda: audio.endpoint.returner.pid not in (None, pid), 2)
        await asyncio.sleep(0.3)
        await wait_heard(ret, TONE_A, 1.7)
        assert views["chamber-return"].link.value == "connected"

        # The send ffmpeg killed: the remotes hear the chamber again within 2 s.
        pid = audio.endpoint.sender.pid
        assert pid is not None
        os.killpg(pid, signal.SIGKILL)
        await wait_heard(at_a, CHAMBER, 1.0, present=False)
        await wait_heard(at_a, CHAMBER, 2.0)

        # Janus restarted while A has the floor and B not: room, chamber and mutes are back
        # within 5 s, and B is never heard meanwhile, not for a moment (as a tone: the
        # decoders restarting with the new streams click, at every frequency alike).
        loop = asyncio.get_running_loop()
        janus.stop()
        janus.start()
        restarted = loop.time()
        worst_b = -200.0
        a_back: float | None = None
        while loop.time() - restarted < 5.0:
            await asyncio.sleep(0.05)
            worst_b = max(worst_b, as_tone(ret, TONE_B, 0.06), as_tone(at_a, TONE_B, 0.06))
            if a_back is None and heard(ret, TONE_A, 0.08) >= PRESENT_DB \
                    and views["audiobridge"].link.value == "connected":
                a_back = loop.time() - restarted
        assert a_back is not None and a_back <= 5.0
        assert worst_b < ABSENT_DB, worst_b
        assert heard(at_b, CHAMBER) >= PRESENT_DB  # B hears the chamber again, muted or not
        # 2 s more of B unheard after the restart settled
        for _ in range(10):
            await asyncio.sleep(0.2)
            assert heard(ret, TONE_B, 0.2) < ABSENT_DB
    finally:
        await sims.stop()
        await daemon.stop()
        for capture in (ret, at_a, at_b):
            capture.close()
    errors = [rec for rec in caplog.records if rec.levelno >= logging.ERROR or rec.exc_info]
    assert errors == []


@pytest.mark.parametrize("broken", ["send", "return"])
async def test_bad_input_or_output_is_reported_and_the_session_goes_on(
        short_tmp, janus, monkeypatch, ffmpeg, caplog, broken):
    monkeypatch.setenv(SECRET_ENV, SECRET)
    ret = await open_capture()
    text = hybrid_chamber(janus.url, ret.port)
    if broken == "send":  # a capture device that does not exist
        text = text.replace('send = ["-re", "-f", "lavfi"', 'send = ["-f", "alsa", "-i", '
                            '"hw:CARD=NoSuchCard,0", "-re", "-f", "lavfi"')
        missing = "NoSuchCard"
    else:  # an output that cannot be opened
        text = text.replace('output = ["-ac"', 'output = ["-f", "wav", '
                            '"/nonexistent/dir/return.wav", "-ac"')
        missing = "/nonexistent/dir/return.wav"
    daemon = Daemon(parse(text), store_path=short_tmp / "s.db", socket_path=short_tmp / "a.sock")
    sims = AudioRemoteCouncillors(janus.url, AB_ROOM, ffmpeg=ffmpeg)
    at_a = await open_capture()
    sims.add("Anna Müller", TONE_A, output_args(at_a.port))
    device = f"chamber-{broken}"
    await daemon.start()
    try:
        views = daemon.device_views
        await until(lambda: views[device].link.value == "lost", 10)
        assert "ffmpeg exited" in views[device].detail
        assert missing in views[device].detail, views[device].detail
        assert any(missing in rec.getMessage() for rec in caplog.records)  # and in the log
        # the session goes on: the room is up, the floor works and unmutes A
        await until(lambda: views["audiobridge"].link.value == "connected", 10)
        await sims.start()
        await until(lambda: "R1" in daemon.audio.at_seat, 10)
        daemon.submit(Grant(seat="R1"), "api")
        assert daemon.state.speaking("R1")
        await until(lambda: not any(p["muted"] for p in
                                    daemon.state_dict()["audio"]["participants"]), 5)
        assert daemon.state_dict()["devices"][device]["link"] in ("lost", "reconnecting")
        # the chair mutes every remote (mute_remote): muted in the AudioBridge, floor or not
        reply = daemon.apply_op(ApiRequest(None, "mute_remote", {"on": True}), "api")
        assert reply["ok"]
        await until(lambda: all(p["muted"] for p in
                                daemon.state_dict()["audio"]["participants"]), 5)
        daemon.apply_op(ApiRequest(None, "mute_remote", {"on": False}), "api")
        await until(lambda: not any(p["muted"] for p in
                                    daemon.state_dict()["audio"]["participants"]), 5)
        # chair priority closes every delegate's mic: the remote councillor is muted too
        assert daemon.apply_op(ApiRequest(None, "priority", {"on": True}), "api")["ok"]
        assert not daemon.state.speaking("R1")
        await until(lambda: all(p["muted"] for p in
                                daemon.state_dict()["audio"]["participants"]), 5)
        if broken == "return":  # the send still works: A hears the chamber
            await wait_heard(at_a, CHAMBER, 5)
    finally:
        await sims.stop()
        await daemon.stop()
        ret.close()
        at_a.close()
