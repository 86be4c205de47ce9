"""A private Janus (Debian `janus` 1.1.x) on 127.0.0.1, for the demo and the tests.

Every configuration file is written into a folder of ours; only the WebSocket transport and
the VideoRoom and AudioBridge plugins are loaded, so it never touches /etc/janus nor opens
other ports. Janus offers ICE candidates only on `ice_enforce_list`: "lo" is enough for
plain-RTP publishers (the simulated councillors); a browser needs the veth of a private
network namespace (see /work/shared/reference/browser.md and tests/browser) or a real
interface.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from pathlib import Path

__all__ = ["JanusServer", "free_port", "write_config"]

# Janus is up in ~0.1 s; a loaded CI machine may take ten times that.
STARTUP_TIMEOUT = 5.0
# SIGTERM makes Janus tear down its sessions cleanly in well under a second.
STOP_TIMEOUT = 3.0
# Short so a client whose keepalives stopped is noticed, but several times the drivers'
# keepalive interval.
SESSION_TIMEOUT = 30

LIB = Path("/usr/lib/x86_64-linux-gnu/janus")
PLUGINS = ("duktape", "echotest", "lua", "nosip", "recordplay", "sip",
           "streaming", "textroom", "videocall", "voicemail")
TRANSPORTS = ("http", "mqtt", "nanomsg", "pfunix", "rabbitmq")


def free_port() -> int:
    """A TCP port on 127.0.0.1 nobody listens on right now (bind port 0 and read it back)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _lib_folder(kind: str) -> str:
    for base in (LIB, Path("/usr/lib/janus"), Path("/usr/local/lib/janus")):
        if (base / kind).is_dir():
            return str(base / kind)
    return str(LIB / kind)


# Janus's own media ports stay below Linux's ephemeral range (32768–60999): a port picked by
# binding port 0 (the tests' free_port, a daemon's listener) can then never be one Janus has
# taken or takes next, which failed a test with "address already in use" now and then.
MEDIA_PORTS = "20000-26999"
AUDIOBRIDGE_PORTS = "27000-29999"  # plain-RTP participants, apart from the WebRTC range


def write_config(folder: Path, ws_port: int, rtp_range: str = MEDIA_PORTS,
                 ice_enforce_list: str = "lo") -> Path:
    disable_plugins = ",".join(f"libjanus_{p}.so" for p in PLUGINS)
    disable_transports = ",".join(f"libjanus_{t}.so" for t in TRANSPORTS)
    (folder / "janus.jcfg").write_text(f"""
general: {{
    configs_folder = "{folder}"
    plugins_folder = "{_lib_folder('plugins')}"
    transports_folder = "{_lib_folder('transports')}"
    events_folder = "{_lib_folder('events')}"
    loggers_folder = "{_lib_folder('loggers')}"
    debug_level = 3
    session_timeout = {SESSION_TIMEOUT}
    protected_folders = ["/bin", "/boot", "/dev", "/etc", "/proc", "/sbin", "/sys", "/usr"]
}}
media: {{
    rtp_port_range = "{rtp_range}"
}}
nat: {{
    ice_enforce_list = "{ice_enforce_list}"
}}
plugins: {{
    disable = "{disable_plugins}"
}}
transports: {{
    disable = "{disable_transports}"
}}
loggers: {{
    disable = "libjanus_jsonlog.so"
}}
events: {{
    broadcast = false
}}
""")
    (folder / "janus.transport.websockets.jcfg").write_text(f"""
general: {{
    json = "compact"
    ws = true
    ws_port = {ws_port}
    ws_ip = "127.0.0.1"
    wss = false
}}
admin: {{
    admin_ws = false
    admin_wss = false
}}
""")
    (folder / "janus.plugin.videoroom.jcfg").write_text("general: {\n}\n")
    # No static rooms (Debian's sample has a demo room 1234 with a known secret): councild
    # creates its AudioBridge room itself.
    # local_ip: the address plain-RTP participants are told to send to, and bind; without it
    # Janus picks the first interface's address.
    (folder / "janus.plugin.audiobridge.jcfg").write_text(
        'general: {\n    local_ip = "127.0.0.1"\n'
        f'    rtp_port_range = "{AUDIOBRIDGE_PORTS}"\n}}\n')
    return folder / "janus.jcfg"


class JanusServer:
    """One Janus process in its own process group; start/stop/restart on the same port."""

    def __init__(self, binary: str, folder: Path, ws_port: int | None = None,
                 ice_enforce_list: str = "lo") -> None:
        self.binary = binary
        self.folder = folder
        self.port = ws_port or free_port()
        self.log_path = folder / "janus.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.pgids: list[int] = []  # every process group started, checked empty at the end
        write_config(folder, self.port, ice_enforce_list=ice_enforce_list)

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    def start(self) -> None:
        assert self.proc is None
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [self.binary, "-F", str(self.folder), "-C", str(self.folder / "janus.jcfg"),
             "-o", "-N", "-L", str(self.log_path)],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True,  # own process group: killed as a whole in stop()
        )
        log.close()
        self.pgids.append(self.proc.pid)
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"janus exited: {self.log_tail()}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.02)  # polling a process we do not control; no event to wait on
        self.stop()
        raise RuntimeError(f"janus did not listen on {self.port}: {self.log_tail()}")

    def stop(self, sig: int = signal.SIGTERM) -> None:
        proc, self.proc = self.proc, None
        if proc is None:
            return
        with contextlib.suppress(ProcessLookupError):  # it may have died on its own
            os.killpg(proc.pid, sig)
        try:
            proc.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(STOP_TIMEOUT)

    def kill(self) -> None:
        """Crash it: SIGKILL, as a power cut or an OOM kill would."""
        self.stop(signal.SIGKILL)

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def leftovers(self) -> list[int]:
        """Process groups of ours that still exist (should be none after stop())."""
        alive = []
        for pgid in self.pgids:
            try:
                os.killpg(pgid, 0)
            except ProcessLookupError:
                continue
            except PermissionError:  # pragma: no cover - a reused id owned by someone else
                continue
            alive.append(pgid)
        return alive
