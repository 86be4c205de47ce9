"""`councild service`: the systemd unit shipped with the package, and installing it.

The unit (councild/systemd/councild.service) runs the daemon as the dedicated `councild`
user, reads /etc/councild/config.toml, takes its secrets from /etc/councild/secrets.env
(0600, owned by that user), keeps the session store in /var/lib/councild (StateDirectory=) and
the control socket in /run/councild (RuntimeDirectory=). docs/operations.md walks through it.
"""

from __future__ import annotations

import grp
import os
import pwd
import shutil
import subprocess
import sys
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from councild.config import SYSTEM_CONFIG, default_path

USER = "councild"
UNIT_NAME = "councild.service"
UNIT_DIR = Path("/etc/systemd/system")
SECRETS = SYSTEM_CONFIG.parent / "secrets.env"
EXEC_PLACEHOLDER = "@COUNCILD@"


def template(name: str) -> str:
    return resources.files("councild").joinpath("systemd", name).read_text(encoding="utf-8")


def unit_text(councild: Path) -> str:
    """The unit with ExecStart pointing at `councild` (the executable of this install)."""
    if any(c.isspace() for c in str(councild)):
        raise ValueError(f"{councild}: systemd's ExecStart needs a path without spaces")
    return template(UNIT_NAME).replace(EXEC_PLACEHOLDER, str(councild))


def this_councild() -> Path:
    """The `councild` script of the environment this module runs in."""
    found = shutil.which("councild", path=str(Path(sys.executable).parent)) or shutil.which(
        "councild")
    if found is None:
        raise FileNotFoundError("no councild executable beside this Python or on PATH")
    return Path(found).absolute()


@dataclass
class Plan:
    """Where an install writes; `root` other than / writes into a tree (tests, packaging)."""

    root: Path = Path("/")
    create_user: bool = True
    reload_systemd: bool = True

    def at(self, path: Path) -> Path:
        return self.root / path.relative_to("/")


def install(plan: Plan, councild: Path) -> list[str]:
    """Write the unit, /etc/councild with a first config and a secrets file; keep what
    exists. Returns what was done, one line each."""
    done: list[str] = []
    if plan.create_user and not _user_exists(USER):
        subprocess.run(["useradd", "--system", "--user-group", "--home-dir", "/var/lib/councild",
                        "--no-create-home", "--shell", "/usr/sbin/nologin", USER], check=True)
        done.append(f"created system user {USER}")
    uid, gid = _ids(USER)
    etc = plan.at(SYSTEM_CONFIG.parent)
    etc.mkdir(parents=True, exist_ok=True)
    etc.chmod(0o750)
    _chown(etc, 0, gid)
    config = plan.at(SYSTEM_CONFIG)
    if not config.exists():
        _write(config, default_path().read_text(encoding="utf-8"), 0o640, 0, gid)
        done.append(f"wrote {config} (the example: edit it, then `councild check`)")
    secrets = plan.at(SECRETS)
    if not secrets.exists():
        _write(secrets, template("secrets.env"), 0o600, uid, gid)
        done.append(f"wrote {secrets} (0600, {USER}): put the secrets there")
    unit = plan.at(UNIT_DIR / UNIT_NAME)
    unit.parent.mkdir(parents=True, exist_ok=True)
    _write(unit, unit_text(councild), 0o644, 0, 0)
    done.append(f"wrote {unit} (ExecStart={councild} run)")
    if plan.reload_systemd and plan.root == Path("/") and shutil.which("systemctl"):
        subprocess.run(["systemctl", "daemon-reload"], check=False)
        done.append("systemctl daemon-reload")
    return done


def _user_exists(name: str) -> bool:
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True


def _ids(name: str) -> tuple[int, int]:
    """uid and gid of the service user; this process's own when it does not exist (a tree
    written by a non-root packager)."""
    try:
        return pwd.getpwnam(name).pw_uid, grp.getgrnam(name).gr_gid
    except KeyError:
        return os.getuid(), os.getgid()


def _chown(path: Path, uid: int, gid: int) -> None:
    if os.geteuid() == 0:
        os.chown(path, uid, gid)


def _write(path: Path, text: str, mode: int, uid: int, gid: int) -> None:
    """Born with its final mode (O_EXCL on a fresh name, then renamed), never world-readable
    in between."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.chmod(tmp, mode)
        _chown(tmp, uid, gid)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
