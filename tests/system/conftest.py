"""A whole chamber on loopback: the daemon, the X32 simulator and (where asked) a real OBS."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from councild.config import Config, parse
from councild.daemon import Daemon
from councild.obs_setup import collection_for
from devices.sim.x32 import X32Simulator
from scenes.headless import HeadlessObs
from tests.chamber import BASE
from tests.helpers import until
from tests.scenes_obs.conftest import require_obs

SEATS = 8
PASSWORD_ENV = "COUNCILD_TEST_OBS_PASSWORD"


def chamber(desk_port: int, obs_port: int, director: str = "", obs_enabled: bool = True,
            studio_mode: bool = False) -> str:
    parts = [BASE]
    for i in range(1, SEATS + 1):
        parts.append(f'[[councillors]]\nid = "m{i}"\nname = "Member {i}"\nparty = "P{i % 3}"\n')
    parts.append('[[seats]]\nid = "C"\nlabel = "Chair"\ncouncillor = "chair"\n'
                 'mic = { device = "desk", channel = 20 }\nshot = "chair"\n')
    for i in range(1, SEATS + 1):
        parts.append(f'[[seats]]\nid = "{i}"\nlabel = "{i:02d}"\ncouncillor = "m{i}"\n'
                     f'mic = {{ device = "desk", channel = {i} }}\nshot = "seat-{i}"\n')
    parts.append(f'[devices.desk]\ndriver = "x32"\nhost = "127.0.0.1"\nport = {desk_port}\n')
    parts.append('[scenes.Wide]\nlower_third = false\n[scenes.Group]\nlower_third = false\n'
                 '[scenes.Chair]\n')
    parts.append('[shots.wide]\nscene = "Wide"\nkind = "wide"\n'
                 '[shots.group]\nscene = "Group"\nkind = "group"\n'
                 '[shots.chair]\nscene = "Chair"\n')
    for i in range(1, SEATS + 1):
        parts.append(f'[scenes."Seat {i}"]\n[shots.seat-{i}]\nscene = "Seat {i}"\n')
    parts.append(f'[obs]\nenabled = {str(obs_enabled).lower()}\nhost = "127.0.0.1"\n'
                 f'port = {obs_port}\npassword_env = "{PASSWORD_ENV}"\n'
                 f'studio_mode = {str(studio_mode).lower()}\n')
    parts.append('[director]\nwide = "wide"\ngroup = "group"\n' + director)
    return "\n".join(parts)


# Delays at zero: the picture follows the floor at once, so tests need no waiting rules.
IMMEDIATE = "switch_in_delay = 0\nmin_hold = 0.01\nhysteresis = 0\ncut_on_grant = true\n"


@dataclass
class Chamber:
    config: Config
    daemon: Daemon
    desk: X32Simulator
    obs: HeadlessObs | None


@pytest.fixture
async def desk() -> AsyncIterator[X32Simulator]:
    async with X32Simulator() as sim:
        yield sim


@pytest.fixture
async def real_obs(desk: X32Simulator, monkeypatch) -> AsyncIterator[HeadlessObs]:
    require_obs()
    config = parse(chamber(desk.port, 4455))
    async with HeadlessObs(collection=collection_for(config, canvas=(640, 360)),
                           canvas=(640, 360)) as server:
        monkeypatch.setenv(PASSWORD_ENV, server.password)
        yield server


async def desk_pushed(daemon: Daemon, desk: X32Simulator, device: str,
                      channels: list[int]) -> None:
    """Wait until the floor councild pushes on connect has reached the simulated desk, so a
    test's own surface change cannot be overtaken by it."""
    await until(lambda: daemon.device_idle(device), 2)

    def seen() -> bool:
        sets = {msg.address for _sender, msg in desk.state.received if msg.args}
        return all(f"/ch/{ch:02d}/mix/on" in sets for ch in channels)

    await until(seen, 2)


async def start_chamber(tmp: Path, desk: X32Simulator, obs: HeadlessObs | None,
                        director: str = IMMEDIATE, studio_mode: bool = False) -> Chamber:
    config = parse(chamber(desk.port, obs.port if obs else 9, director,
                           obs_enabled=obs is not None, studio_mode=studio_mode))
    daemon = Daemon(config, store_path=tmp / "s.db", socket_path=tmp / "api.sock")
    await daemon.start()
    return Chamber(config, daemon, desk, obs)
