"""A real OBS Studio, headless, for tests, benchmarks and the demo.

Starts Xvfb on a display it picks itself (-displayfd), writes a throwaway OBS config tree
(global.ini with the websocket settings, a small profile, the scene collection), then runs
OBS in a clean environment with every proxy pointed at a closed loopback port so nothing
leaves the machine. The websocket password lives only in the config file, never on the
command line where `ps` would show it. Processes run in their own process groups and are
killed by group on exit; OBS alone can be killed and restarted on the same port to exercise
a client's reconnect.

Processes are plain `subprocess.Popen` objects rather than asyncio subprocesses, so one
instance may outlive the event loop that started it (module-scoped test fixtures).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import Any

from councild.errors import CouncildError
from scenes.collection import SceneSpec, build_collection

__all__ = ["HeadlessObs", "HeadlessObsError", "add_arguments", "free_tcp_port", "run"]

log = logging.getLogger("councild.headless_obs")

# OBS starts in ~0.5 s on a warm machine; first start after boot (cold page cache, Mesa's
# shader cache empty) and a shared CI runner can take many times that.
OBS_START_TIMEOUT = 30.0
# Xvfb prints its display number as soon as it listens; seconds mean something is wrong.
XVFB_START_TIMEOUT = 10.0
# How often to probe the websocket port while OBS starts: short against a ~0.5 s start.
PORT_POLL_INTERVAL = 0.02
# After SIGKILL the kernel reaps at once; a process still there after this is stuck in D.
KILL_WAIT_TIMEOUT = 5.0
# Group members orphaned by the kill are reaped by init, usually within milliseconds.
KILL_POLL_INTERVAL = 0.01

# A closed loopback port: OBS fetches service lists at start and must reach nothing.
DEAD_PROXY = "http://127.0.0.1:9"
# 29.0.2 as major<<24 | minor<<16 | patch: with FirstRun this suppresses the setup wizard.
OBS_LAST_VERSION = 486539266


class HeadlessObsError(CouncildError):
    """Xvfb or OBS could not be started; the message carries the tail of OBS's log."""


def free_tcp_port() -> int:
    """A TCP port free on every interface (OBS 29's websocket cannot bind to loopback only)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("", 0))
        port: int = sock.getsockname()[1]
        return port


class HeadlessObs:
    """Xvfb + OBS with a generated config tree; an async context manager.

    `collection` is a scene collection dict (scenes.collection.build_collection); by default
    a small one with two scenes. Read `port` and `password` to connect, `start_seconds` for
    how long OBS took until its websocket accepted connections.
    """

    def __init__(
        self,
        *,
        collection: dict[str, Any] | None = None,
        password: str | None = None,
        port: int | None = None,
        canvas: tuple[int, int] = (640, 360),
        fps: int = 30,
        workdir: Path | str | None = None,
        obs_binary: str = "obs",
        xvfb_binary: str = "Xvfb",
        profile: dict[str, dict[str, str]] | None = None,
        stream_service: dict[str, Any] | None = None,
    ) -> None:
        self.canvas = canvas
        self.fps = fps
        # Extra basic.ini sections/keys (e.g. [SimpleOutput] FilePath, a cheap encoder) and
        # the profile's service.json ({"type": "rtmp_custom", "settings": {...}}).
        self.profile = profile or {}
        self.stream_service = stream_service
        self.collection = collection or build_collection(
            "councild-test",
            [SceneSpec(name="Wide"), SceneSpec(name="Chair")],
            canvas=canvas,
        )
        self.password = password if password is not None else secrets.token_urlsafe(16)
        self.port = port or free_tcp_port()
        self.display: int | None = None
        self.start_seconds: float | None = None  # last OBS start, until the port accepted
        self._obs_binary = obs_binary
        self._xvfb_binary = xvfb_binary
        self._own_workdir = workdir is None
        self.workdir = Path(workdir or tempfile.mkdtemp(prefix="councild-obs-"))
        self.home = self.workdir / "home"
        self._xvfb: subprocess.Popen[bytes] | None = None
        self._obs: subprocess.Popen[bytes] | None = None
        self._obs_log: Any = None

    # --- lifecycle ---------------------------------------------------------------------------

    async def __aenter__(self) -> HeadlessObs:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    async def start(self) -> None:
        """Start Xvfb and OBS; returns once OBS's websocket accepts connections."""
        try:
            self._write_config()
            await self._start_xvfb()
            await self.start_obs()
        except BaseException:
            await self.stop()
            raise

    async def stop(self) -> None:
        """Kill OBS and Xvfb by process group and remove the temporary tree; safe twice."""
        await self.kill_obs()
        xvfb, self._xvfb = self._xvfb, None
        if xvfb is not None:
            await _kill_group(xvfb)
        if self._own_workdir and self.workdir.exists():
            shutil.rmtree(self.workdir, ignore_errors=True)

    @property
    def obs_running(self) -> bool:
        return self._obs is not None and self._obs.poll() is None

    @property
    def obs_pid(self) -> int | None:
        return self._obs.pid if self._obs is not None else None

    async def start_obs(self) -> float:
        """(Re)start OBS on the same port; returns and records the start time in seconds."""
        if self.display is None:
            raise HeadlessObsError("Xvfb is not running")
        if self.obs_running:
            raise HeadlessObsError("OBS is already running")
        binary = shutil.which(self._obs_binary)
        if binary is None:
            raise HeadlessObsError(f"{self._obs_binary} not found (Debian obs-studio)")
        name = self.collection["name"]
        argv = [
            binary,
            "--multi",  # several test instances may run side by side
            "--disable-missing-files-check",
            "--collection",
            name,
            "--profile",
            "councild",
            "--scene",
            self.collection["current_scene"],
            "--websocket_port",
            str(self.port),
        ]
        started = time.monotonic()
        self._obs = self._spawn_obs(argv)
        await self._wait_for_port(self._obs, started)
        self.start_seconds = time.monotonic() - started
        log.info(
            "OBS pid %d ready on port %d in %.2f s", self._obs.pid, self.port, self.start_seconds
        )
        return self.start_seconds

    async def kill_obs(self) -> None:
        """SIGKILL OBS (it has no SIGTERM handler and dies at once either way)."""
        obs, self._obs = self._obs, None
        if obs is not None:
            await _kill_group(obs)
        if self._obs_log is not None:
            self._obs_log.close()
            self._obs_log = None

    async def restart_obs(self) -> float:
        await self.kill_obs()
        return await self.start_obs()

    def log_tail(self, lines: int = 30) -> str:
        """The end of OBS's own log (useful in a failing test's message)."""
        logs = sorted((self.home / ".config/obs-studio/logs").glob("*.txt"))
        texts = [path.read_text(errors="replace") for path in logs[-1:]]
        out = self.workdir / "obs.out"
        if out.exists():
            texts.append(out.read_text(errors="replace"))
        return "\n".join("\n".join(text.splitlines()[-lines:]) for text in texts)

    # --- internals ---------------------------------------------------------------------------

    def _spawn_obs(self, argv: list[str]) -> subprocess.Popen[bytes]:
        self._obs_log = (self.workdir / "obs.out").open("ab")
        return _spawn(argv, env=self._environment(), cwd=self.home, stdout=self._obs_log)

    def _environment(self) -> dict[str, str]:
        runtime = self.workdir / "runtime"
        env = {
            "PATH": "/usr/local/bin:/usr/bin:/bin",
            "HOME": str(self.home),
            "XDG_CONFIG_HOME": str(self.home / ".config"),
            "XDG_DATA_HOME": str(self.home / ".local/share"),
            "XDG_CACHE_HOME": str(self.home / ".cache"),
            "XDG_RUNTIME_DIR": str(runtime),
            "DISPLAY": f":{self.display}",
            "QT_QPA_PLATFORM": "xcb",
            "LIBGL_ALWAYS_SOFTWARE": "1",
            "LANG": "C.UTF-8",
            # No session bus: otherwise libdbus may autolaunch a dbus-daemon that outlives us.
            "DBUS_SESSION_BUS_ADDRESS": "disabled:",
        }
        for var in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY"):
            env[var] = DEAD_PROXY
        return env

    async def _start_xvfb(self) -> None:
        binary = shutil.which(self._xvfb_binary)
        if binary is None:
            raise HeadlessObsError(f"{self._xvfb_binary} not found (Debian xvfb)")
        read_fd, write_fd = os.pipe()
        try:
            self._xvfb = _spawn(
                [
                    binary,
                    "-displayfd",
                    str(write_fd),
                    "-screen",
                    "0",
                    "1280x720x24",
                    "-nolisten",
                    "tcp",
                ],
                pass_fds=(write_fd,),
                stdout=subprocess.DEVNULL,
            )
        finally:
            os.close(write_fd)
        loop = asyncio.get_running_loop()
        reader = asyncio.StreamReader()
        transport, _ = await loop.connect_read_pipe(
            lambda: asyncio.StreamReaderProtocol(reader), os.fdopen(read_fd, "rb", 0)
        )
        try:
            line = (await asyncio.wait_for(reader.readline(), XVFB_START_TIMEOUT)).decode()
        except TimeoutError:
            raise HeadlessObsError("Xvfb did not report a display number") from None
        finally:
            transport.close()
        if not line.strip().isdigit():
            raise HeadlessObsError(f"Xvfb failed to start (displayfd said {line!r})")
        self.display = int(line)

    async def _wait_for_port(self, proc: subprocess.Popen[bytes], started: float) -> None:
        while True:
            if proc.poll() is not None:
                raise HeadlessObsError(
                    f"OBS exited with {proc.returncode} while starting:\n{self.log_tail()}"
                )
            try:
                _reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
            except OSError:
                pass
            else:
                writer.close()
                with contextlib.suppress(OSError):
                    await writer.wait_closed()
                return
            if time.monotonic() - started > OBS_START_TIMEOUT:
                raise HeadlessObsError(
                    f"OBS websocket not up on port {self.port} after {OBS_START_TIMEOUT} s:\n"
                    f"{self.log_tail()}"
                )
            await asyncio.sleep(PORT_POLL_INTERVAL)

    def _write_config(self) -> None:
        config = self.home / ".config/obs-studio"
        profile = config / "basic/profiles/councild"
        scenes = config / "basic/scenes"
        for folder in (profile, scenes, self.workdir / "runtime"):
            folder.mkdir(parents=True, exist_ok=True)
        (self.workdir / "runtime").chmod(0o700)
        self.workdir.chmod(0o700)  # the password is in here
        name = self.collection["name"]
        scene_file = "".join(c if c.isalnum() or c in "-_" else "_" for c in name)
        (scenes / f"{scene_file}.json").write_text(json.dumps(self.collection))
        width, height = self.canvas
        _write_ini(
            config / "global.ini",
            {
                "General": {
                    "FirstRun": "true",  # means "the first run has happened"
                    "LastVersion": str(OBS_LAST_VERSION),
                    "ConfirmOnExit": "false",
                    "EnableAutoUpdates": "false",
                    "Pre19Defaults": "false",
                    "Pre21Defaults": "false",
                    "Pre23Defaults": "false",
                    "Pre24.1Defaults": "false",
                },
                "Basic": {
                    "Profile": "councild",
                    "ProfileDir": "councild",
                    "SceneCollection": name,
                    "SceneCollectionFile": scene_file,
                },
                "BasicWindow": {
                    "PreviewEnabled": "false",  # ~20 % → ~7 % of a core when idle
                    "SysTrayEnabled": "false",
                },
                "OBSWebSocket": {
                    "FirstLoad": "false",
                    "ServerEnabled": "true",
                    "ServerPort": str(self.port),
                    "AlertsEnabled": "false",
                    "AuthRequired": "true",
                    "ServerPassword": self.password,
                },
            },
        )
        _write_ini(
            profile / "basic.ini",
            {
                "General": {"Name": "councild"},
                "Video": {
                    "BaseCX": str(width),
                    "BaseCY": str(height),
                    "OutputCX": str(width),
                    "OutputCY": str(height),
                    "FPSType": "0",
                    "FPSCommon": str(self.fps),
                },
                "Output": {"Mode": "Simple"},
            } | {k: v for k, v in self.profile.items() if k not in ("General", "Video", "Output")}
            | {"Output": {"Mode": "Simple", **self.profile.get("Output", {})}},
        )
        if self.stream_service is not None:
            (profile / "service.json").write_text(json.dumps(self.stream_service))


def _write_ini(path: Path, sections: dict[str, dict[str, str]]) -> None:
    lines: list[str] = []
    for section, values in sections.items():
        lines.append(f"[{section}]")
        lines.extend(f"{key}={value}" for key, value in values.items())
        lines.append("")
    path.write_text("\n".join(lines), encoding="utf-8")
    path.chmod(0o600)


def _spawn(argv: list[str], **kwargs: Any) -> subprocess.Popen[bytes]:
    # Popen, not asyncio's subprocess: the instance must outlive the loop that started it.
    # Own session = own process group, so one killpg also takes any helper OBS spawns.
    return subprocess.Popen(
        argv,
        stdin=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        **kwargs,
    )


async def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    """SIGKILL the whole group and wait until every member is gone, not just the leader:
    Xvfb forks xkbcomp and OBS its helpers, and those are reaped by init, not by us."""
    deadline = time.monotonic() + KILL_WAIT_TIMEOUT
    while True:
        try:
            os.killpg(proc.pid, signal.SIGKILL)  # again each round: a fork may have raced
        except ProcessLookupError:
            if proc.poll() is not None:
                return
        proc.poll()  # reap the leader (our child) as soon as it is dead
        if time.monotonic() > deadline:
            log.error("process group %d survived SIGKILL for %.0f s", proc.pid, KILL_WAIT_TIMEOUT)
            return
        await asyncio.sleep(KILL_POLL_INTERVAL)


# --- `councild obs-headless` (for the demo) ------------------------------------------------


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--port", type=int, default=4455, help="websocket port (default 4455)")
    parser.add_argument(
        "--password-env",
        default="COUNCILD_OBS_PASSWORD",
        help="take the websocket password from this environment variable; if unset, a "
        "random one is written to a 0600 file whose path is printed",
    )
    parser.add_argument(
        "--collection",
        type=Path,
        default=None,
        help="scene collection JSON (from `councild obs-collection`)",
    )
    parser.add_argument("--canvas", default="640x360", help="WIDTHxHEIGHT (default 640x360)")
    parser.add_argument("--fps", type=int, default=30)


async def run(args: argparse.Namespace) -> None:
    """Run a headless OBS until cancelled."""
    width, _, height = str(args.canvas).partition("x")
    collection = json.loads(args.collection.read_text()) if args.collection else None
    password = os.environ.get(args.password_env) or None
    async with HeadlessObs(
        collection=collection,
        password=password,
        port=args.port,
        canvas=(int(width), int(height)),
        fps=args.fps,
    ) as obs:
        where = f"${args.password_env}"
        if password is None:
            secret = obs.workdir / "password"
            secret.write_text(obs.password + "\n")
            secret.chmod(0o600)
            where = str(secret)
        print(
            f"headless OBS on ws://127.0.0.1:{obs.port} (display :{obs.display}), "
            f"started in {obs.start_seconds:.2f} s; password in {where}",
            flush=True,
        )
        await asyncio.Event().wait()
