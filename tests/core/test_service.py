"""councild as a systemd service: the unit, its install, the notify protocol, the defaults.

The test plays systemd's end of sd_notify(3): it owns the NOTIFY_SOCKET datagram socket, starts
the real `councild run` with it and reads what the daemon says.
"""

from __future__ import annotations

import asyncio
import os
import socket
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from councild.daemon import Daemon
from councild.sdnotify import Notifier
from tests.chamber import chamber_toml
from tests.helpers import require_binary, until

# The watchdog interval the tests ask for: short, so the pings come quickly, and long enough
# that a loaded machine still sends them (the daemon pings at half of it).
WATCHDOG_USEC = 400_000


def councild(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "councild.cli", *args], capture_output=True,
                          text=True, env=env, timeout=60, check=False)


class NotifyListener:
    """systemd's side: a datagram socket, each message kept with its arrival time."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(path))
        self.sock.settimeout(0.05)
        self.messages: list[tuple[float, str]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._read, name="notify-listener", daemon=True)
        self._thread.start()

    def _read(self) -> None:
        while not self._stop.is_set():
            try:
                data = self.sock.recv(4096)
            except TimeoutError:
                continue
            except OSError:
                return
            self.messages.append((time.monotonic(), data.decode()))

    def times(self, field: str) -> list[float]:
        return [t for t, m in list(self.messages) if field in m.split("\n")]

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self.sock.close()


@pytest.fixture
def listener(short_tmp: Path) -> Iterator[NotifyListener]:
    n = NotifyListener(short_tmp / "notify")
    try:
        yield n
    finally:
        n.close()


def test_unit_passes_systemd_analyze_verify(short_tmp: Path) -> None:
    analyze = require_binary("systemd-analyze", "systemd")
    unit = short_tmp / "councild.service"
    result = councild("service", "unit", "--councild", sys.executable)
    assert result.returncode == 0, result.stderr
    unit.write_text(result.stdout)
    text = result.stdout
    for line in ("Type=notify", "WatchdogSec=", "User=councild", "StateDirectory=councild",
                 "RuntimeDirectory=councild", "EnvironmentFile=-/etc/councild/secrets.env",
                 "ProtectSystem=strict", "NoNewPrivileges=yes", "PrivateTmp=yes",
                 "SupplementaryGroups=dialout", "Restart=on-failure",
                 f"ExecStart={sys.executable} run"):
        assert line in text, line
    verify = subprocess.run([analyze, "verify", "--man=no", str(unit)], capture_output=True,
                            text=True, timeout=60, check=False, cwd=short_tmp)
    assert verify.returncode == 0, verify.stdout + verify.stderr
    # systemd prints its complaints (unknown keys, bad values) without failing on some of them
    assert "Unknown" not in verify.stderr and "Failed" not in verify.stderr, verify.stderr


def test_service_install_into_a_tree(short_tmp: Path) -> None:
    root = short_tmp / "root"
    result = councild("service", "install", "--root", str(root), "--no-user",
                      "--councild", sys.executable)
    assert result.returncode == 0, result.stderr
    etc = root / "etc" / "councild"
    modes = {p.name: stat.S_IMODE(p.stat().st_mode)
             for p in (etc, etc / "config.toml", etc / "secrets.env",
                       root / "etc/systemd/system/councild.service")}
    assert modes == {"councild": 0o750, "config.toml": 0o640, "secrets.env": 0o600,
                     "councild.service": 0o644}
    assert councild("check", "-c", str(etc / "config.toml")).returncode == 0
    # A second install keeps what the technician edited.
    (etc / "config.toml").write_text("# edited\n")
    assert councild("service", "install", "--root", str(root), "--no-user",
                    "--councild", sys.executable).returncode == 0
    assert (etc / "config.toml").read_text() == "# edited\n"


def test_run_without_a_config_names_where_it_looked(short_tmp: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "COUNCILD_CONFIG"}
    if Path("/etc/councild/config.toml").exists():
        pytest.skip("this machine has /etc/councild/config.toml")  # the default would be found
    result = councild("run", env=env)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "/etc/councild/config.toml" in lines[0], result.stderr
    named = short_tmp / "nope.toml"
    result = councild("run", env={**env, "COUNCILD_CONFIG": str(named)})
    assert result.returncode == 2
    assert str(named) in result.stderr and "COUNCILD_CONFIG" in result.stderr


def test_run_finds_its_config_through_the_environment(short_tmp: Path) -> None:
    config = short_tmp / "c.toml"
    config.write_text(chamber_toml())
    result = councild("check", env={**os.environ, "COUNCILD_CONFIG": str(config)})
    assert result.returncode == 0, result.stderr
    assert str(config) in result.stdout


def test_ready_then_watchdog_from_councild_run(short_tmp: Path,
                                               listener: NotifyListener) -> None:
    config = short_tmp / "c.toml"
    config.write_text(chamber_toml())
    sock = short_tmp / "api.sock"
    env = {**os.environ, "NOTIFY_SOCKET": str(listener.path),
           "WATCHDOG_USEC": str(WATCHDOG_USEC), "PYTHONUNBUFFERED": "1"}
    env.pop("WATCHDOG_PID", None)
    with (short_tmp / "log").open("wb") as log:
        proc = subprocess.Popen([sys.executable, "-m", "councild.cli", "run", "-c", str(config),
                                 "--db", str(short_tmp / "s.db"), "--socket", str(sock)],
                                stdout=log, stderr=log, env=env)
    try:
        deadline = time.monotonic() + 30
        while len(listener.times("WATCHDOG=1")) < 3:
            assert proc.poll() is None, (short_tmp / "log").read_text()
            assert time.monotonic() < deadline, listener.messages
            time.sleep(0.05)
        ready = listener.times("READY=1")
        assert len(ready) == 1
        assert sock.exists()  # READY=1 comes after the control socket listens
        assert all(t >= ready[0] for t in listener.times("WATCHDOG=1"))
        proc.terminate()
        assert proc.wait(timeout=20) == 0
        assert listener.times("STOPPING=1")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)


async def test_watchdog_stops_while_the_loop_is_blocked(daemon: Daemon,
                                                        listener: NotifyListener) -> None:
    """The pings come from the daemon's own event loop: blocked, it sends none, so systemd's
    watchdog fires; free again, it pings again."""
    notifier = Notifier({"NOTIFY_SOCKET": str(listener.path),
                         "WATCHDOG_USEC": str(WATCHDOG_USEC)})
    interval = WATCHDOG_USEC / 1e6 / 2
    notifier.start_watchdog(asyncio.get_running_loop())
    try:
        await until(lambda: len(listener.times("WATCHDOG=1")) >= 2, timeout=10)
        time.sleep(interval * 6)  # noqa: ASYNC251 - the point: the loop is blocked
        blocked_until = time.monotonic()
        blocked_from = blocked_until - interval * 6
        await until(lambda: any(t > blocked_until for t in listener.times("WATCHDOG=1")),
                    timeout=10)
    finally:
        notifier.close()
    # At most the one ping already in the socket when the block began arrives inside it.
    during = [t for t in listener.times("WATCHDOG=1") if blocked_from + interval < t
              < blocked_until]
    assert during == [], (during, blocked_from, blocked_until)


def test_notifier_outside_systemd_does_nothing() -> None:
    n = Notifier({})
    assert not n.enabled and n.send("READY=1") is False and n.watchdog_s is None
    assert Notifier({"NOTIFY_SOCKET": "/x", "WATCHDOG_USEC": "5000000",
                     "WATCHDOG_PID": "1"}).watchdog_s is None  # meant for another process
    assert Notifier({"NOTIFY_SOCKET": "@abstract"}).address == "\0abstract"
