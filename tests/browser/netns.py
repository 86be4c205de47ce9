"""The private network namespace the browser tests run in.

Janus offers no loopback ICE candidates, so Chromium and Janus cannot exchange media over
`lo`. In a namespace of our own we may give 127.0.0.1 to a veth interface too, and let Janus
gather its candidates there (`ice_enforce_list = "v0"`): every packet stays on this machine
and inside the namespace, and nothing of the host's network is touched.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

# Set in the inner pytest's environment: join_scenarios.py refuses to run without it.
MARKER = "COUNCILD_BROWSER_NETNS"
# The interface Janus gathers ICE candidates on.
ICE_INTERFACE = "v0"

_SETUP = (
    ("link", "set", "lo", "up"),
    ("link", "add", "v0", "type", "veth", "peer", "name", "v1"),
    ("addr", "add", "127.0.0.1/32", "dev", "v0"),
    ("link", "set", "v0", "up"),
    ("link", "set", "v1", "up"),
)


def inside() -> bool:
    return os.environ.get(MARKER) == "1"


def setup() -> None:
    """lo up and the veth pair; raises with `ip`'s own words when it cannot."""
    ip = shutil.which("ip")
    if ip is None:
        raise RuntimeError("`ip` (Debian iproute2) not found inside the namespace")
    for args in _SETUP:
        done = subprocess.run([ip, *args], capture_output=True, text=True, timeout=10)
        if done.returncode != 0:
            raise RuntimeError(f"ip {' '.join(args)} failed: {done.stderr.strip()}")


def processes(names: set[str]) -> list[str]:
    """`pid name` of the namespace's processes with one of these names.

    Inside our own PID namespace, with its own /proc, these can only be the test's.
    """
    found = []
    for comm in Path("/proc").glob("[0-9]*/comm"):
        try:
            name = comm.read_text().strip()
            # "pid (comm) S ...": a zombie (Z) has ended, only not reaped yet (the inner
            # pytest is the namespace's init and reaps no orphans)
            state = (comm.parent / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):  # gone meanwhile
            continue
        if name in names and state != "Z":
            found.append(f"{comm.parent.name} {name}")
    return found


def command(unshare: str, pytest_args: list[str]) -> list[str]:
    """The inner pytest, in new network and PID namespaces.

    The PID namespace is the safety net under every fixture's own cleanup: when the inner
    pytest (its init) exits, the kernel kills whatever it left behind. As root we unshare
    directly; otherwise as a mapped root user (`-r`), which is enough for `ip` in there.
    """
    flags = ["--net", "--pid", "--fork", "--kill-child", "--mount-proc"]
    if os.geteuid() != 0:
        flags.insert(0, "--map-root-user")
    return [unshare, *flags, sys.executable, "-m", "pytest", *pytest_args]


def environment() -> dict[str, str]:
    return {**os.environ, MARKER: "1", "PYTHONUNBUFFERED": "1"}


REPO = Path(__file__).resolve().parents[2]
