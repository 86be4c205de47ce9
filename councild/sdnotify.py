"""systemd's notify protocol (sd_notify(3)), spoken directly: one datagram per message.

Under the unit's `Type=notify`, systemd waits for `READY=1` before it calls the service
started, and with `WatchdogSec=` it expects `WATCHDOG=1` more often than that interval, or it
kills and restarts the service. The pings are scheduled on the daemon's event loop itself
(`loop.call_later`), not from a thread: a loop that hangs (a blocking call, a runaway
handler) stops the pings, and systemd restarts the daemon, which resumes the session from
its store. Outside systemd (`NOTIFY_SOCKET` unset) every call does nothing.

The protocol is small enough that libsystemd (or a binding of it) would add a dependency and
a C library for twenty lines: an AF_UNIX datagram to the path in `$NOTIFY_SOCKET` (a leading
`@` names an abstract socket), newline-separated `KEY=value` fields.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from collections.abc import Mapping

log = logging.getLogger("councild.sdnotify")

# systemd's own advice (sd_watchdog_enabled(3)): ping at half the watchdog interval, so one
# late ping is not yet a restart.
WATCHDOG_FRACTION = 0.5


class Notifier:
    """What systemd asked for, read once from the environment at start."""

    def __init__(self, env: Mapping[str, str] | None = None) -> None:
        env = os.environ if env is None else env
        address = env.get("NOTIFY_SOCKET", "")
        if address.startswith("@"):
            address = "\0" + address[1:]
        self.address = address or None
        self.watchdog_s = _watchdog_seconds(env)
        self.failures = 0  # datagrams systemd did not take (counted, logged once)
        self._socket: socket.socket | None = None
        self._timer: asyncio.TimerHandle | None = None

    @property
    def enabled(self) -> bool:
        return self.address is not None

    def send(self, *fields: str) -> bool:
        """Send one message; False (never an exception) when it did not go out."""
        if self.address is None:
            return False
        try:
            if self._socket is None:
                self._socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)  # CLOEXEC: default
            self._socket.sendto("\n".join(fields).encode(), self.address)
        except OSError as exc:
            if self.failures == 0:
                log.warning("systemd notify socket %r: %s", self.address, exc)
            self.failures += 1
            return False
        return True

    def ready(self, status: str = "") -> None:
        self.send("READY=1", *([f"STATUS={status}"] if status else []))

    def stopping(self) -> None:
        self.stop_watchdog()
        self.send("STOPPING=1")

    def start_watchdog(self, loop: asyncio.AbstractEventLoop) -> None:
        """Ping at half the watchdog interval from `loop`, until `stop_watchdog`."""
        if self.watchdog_s is None or self.address is None or self._timer is not None:
            return
        interval = self.watchdog_s * WATCHDOG_FRACTION

        def ping() -> None:
            self.send("WATCHDOG=1")
            self._timer = loop.call_later(interval, ping)

        ping()

    def stop_watchdog(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def close(self) -> None:
        self.stop_watchdog()
        if self._socket is not None:
            self._socket.close()
            self._socket = None


def _watchdog_seconds(env: Mapping[str, str]) -> float | None:
    """$WATCHDOG_USEC as seconds, if it is meant for this process ($WATCHDOG_PID, when set,
    names the process systemd watches: a child we start must not ping for us)."""
    pid = env.get("WATCHDOG_PID")
    if pid and pid != str(os.getpid()):
        return None
    try:
        usec = int(env.get("WATCHDOG_USEC", ""))
    except ValueError:
        return None
    return usec / 1e6 if usec > 0 else None
