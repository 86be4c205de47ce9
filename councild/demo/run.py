"""`councild demo`: the daemon, the simulated chamber and scripted councillors, on one loop.

The simulators speak the real wire protocols on 127.0.0.1, so the demo runs the same code
paths as a real chamber: a councillor "presses" to ask for the floor, the chair calls the next
speaker, the floor unmutes the desk channel over OSC, the simulated desk's meters show the
voice, and the voice detector marks the councillor as talking.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from councild import api
from councild.config import Config
from councild.daemon import Daemon
from councild.errors import FloorError
from councild.i18n import _
from councild.model import Next, Request, Role
from councild.state_text import format_state
from devices.sim import start_simulator

SCRIPT_SEED = 2020  # the demo plays the same session every time: easier to explain


async def run_demo(config: Config, args: argparse.Namespace) -> int:
    with tempfile.TemporaryDirectory(prefix="councild-demo-") as tmp:
        db = Path(args.db) if args.db else Path(tmp) / "demo.db"
        sock = Path(args.socket) if args.socket else Path(tmp) / "councild.sock"
        sims = []
        obs = None
        remote = None
        try:
            if getattr(args, "remote", False):
                from councild.demo.remote import RemoteDemo

                remote = RemoteDemo(args.config, args.join_port)
                config = remote.start()
            if args.obs:
                obs = await _start_obs(config)
            for name, options in config.device_options.items():
                sim = await start_simulator(options)
                if sim is not None:
                    sims.append((name, sim))
                    print(_("simulator for {name} ({driver}) started").format(
                        name=name, driver=options.driver), file=sys.stderr)
            daemon = Daemon(config, store_path=db, socket_path=sock)
            await daemon.start()
            print(_("councild demo: control socket {sock}; try: councild ctl --socket {sock} "
                    "state").format(sock=sock), file=sys.stderr, flush=True)
            if remote is not None:
                await remote.start_people()
            tasks = [
                asyncio.create_task(_councillors(daemon, dict(sims), remote),
                                    name="demo:script"),
                asyncio.create_task(_print_floor(sock), name="demo:print"),
            ]
            try:
                if args.seconds:
                    await asyncio.sleep(args.seconds)
                else:
                    await asyncio.Event().wait()
            finally:
                for t in tasks:
                    t.cancel()
                for t in tasks:
                    with contextlib.suppress(asyncio.CancelledError):
                        await t
                await daemon.stop()
        finally:
            for _name, sim in sims:
                await sim.stop()
            if remote is not None:
                await remote.stop()
            if obs is not None:
                await obs.stop()
    return 0


async def _start_obs(config: Config) -> Any:
    """A real OBS, headless, with the scenes of the config, where the config expects it."""
    from councild.obs_setup import collection_for
    from scenes.headless import HeadlessObs

    obs = HeadlessObs(collection=collection_for(config, canvas=(640, 360)),
                      port=config.obs.port, canvas=(640, 360))
    await obs.start()
    os.environ[config.obs.password_env] = obs.password  # the daemon reads it from here
    print(_("headless OBS on ws://127.0.0.1:{port} (display :{display})").format(
        port=obs.port, display=obs.display), file=sys.stderr, flush=True)
    return obs


def run_demo_with_tui(args: argparse.Namespace) -> int:
    """The chamber in a child process, the technician's TUI in this terminal; closing the TUI
    ends the demo (in a real chamber the daemon would of course go on)."""
    from tui.app import run_tui

    with tempfile.TemporaryDirectory(prefix="councild-demo-") as tmp:
        sock = Path(args.socket) if args.socket else Path(tmp) / "councild.sock"
        log_path = Path(tmp) / "demo.log"
        argv = [sys.executable, "-m", "councild.cli", "demo", "--no-tui", "-c", args.config,
                "--socket", str(sock)]
        if args.obs:
            argv.append("--obs")
        if getattr(args, "session", None):
            argv += ["--session", args.session]
        if args.remote:
            argv += ["--remote", "--join-port", str(args.join_port)]
        if args.db:
            argv += ["--db", args.db]
        with log_path.open("wb") as log:
            child = subprocess.Popen(argv, stdout=log, stderr=log)
        try:
            deadline = time.monotonic() + 15
            while not sock.exists():
                if child.poll() is not None or time.monotonic() > deadline:
                    sys.stderr.write(log_path.read_text(errors="replace"))
                    print(_("the demo chamber did not start"), file=sys.stderr)
                    return 1
                time.sleep(0.05)
            return run_tui(argparse.Namespace(socket=str(sock), web=False))
        finally:
            child.terminate()
            try:
                child.wait(10)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()


async def _councillors(daemon: Daemon, sims: dict[str, Any], remote: Any = None) -> None:
    """Members ask for the floor now and then; the chair calls the next speaker; whoever has
    the floor talks into their (simulated) microphone."""
    rng = random.Random(SCRIPT_SEED)
    members = [s for s in daemon.config.seats if daemon.config.seat_role(s) is Role.MEMBER]
    last_next = time.monotonic()
    while True:
        await asyncio.sleep(rng.uniform(0.8, 2.0))
        # a remote councillor asks only while in the room (the browser one: when you join)
        present = [s for s in members if not s.remote or _in_room(daemon, s.id)]
        if rng.random() < 0.5 and len(daemon.state.queue) < 5 and present:
            seat = rng.choice(present)
            with contextlib.suppress(FloorError):
                daemon.submit(Request(seat=seat.id), "demo")
        if time.monotonic() - last_next > rng.uniform(6, 10):
            last_next = time.monotonic()
            with contextlib.suppress(FloorError):
                daemon.submit(Next(), "demo")
        _voices(daemon, sims, rng)
        if remote is not None:
            _remote_voices(daemon, remote, rng)


def _in_room(daemon: Daemon, seat: str) -> bool:
    return daemon.remote is not None and seat in daemon.remote.at_seat


def _voices(daemon: Daemon, sims: dict[str, Any], rng: random.Random) -> None:
    for seat in daemon.config.seats:
        if seat.mic is None or seat.mic.device not in sims:
            continue
        usecases = getattr(sims[seat.mic.device], "usecases", None)
        if usecases is None or not hasattr(usecases, "talk"):
            continue
        if daemon.state.speaking(seat.id) and rng.random() < 0.85:
            usecases.talk(seat.mic.channel, rng.uniform(-28.0, -14.0))
        else:
            usecases.silence(seat.mic.channel)


def _remote_voices(daemon: Daemon, remote: Any, rng: random.Random) -> None:
    """Simulated remote councillors talk while they have the floor (their audio-level header
    says so; Janus's talking events reach the director like a desk's voice detection)."""
    for seat in daemon.config.seats:
        councillor = daemon.config.councillor(seat.councillor)
        if seat.remote and councillor is not None:
            remote.talk(councillor.name, daemon.state.speaking(seat.id) and rng.random() < 0.85)


async def _print_floor(sock: Path) -> None:
    """Until the TUI exists, the demo shows the floor as the control API reports it."""
    client = await api.ApiClient.connect(sock)
    last = ""
    try:
        async for message in client.subscribe():
            if message.get("event") != "state":
                continue
            text = format_state(message["state"])
            if text != last:
                last = text
                stamp = time.strftime("%H:%M:%S")
                print(f"── {stamp} " + "─" * 50 + "\n" + text, flush=True)
    finally:
        await client.close()
