"""The X32 meter stream inside the daemon: taken by another console it is renewed within a
second; when it does not come back the device's state says "meters stale"."""

from __future__ import annotations

import pytest

from councild.config import parse
from councild.daemon import Daemon
from devices.sim.x32 import X32Simulator
from tests.devices_x32.conftest import RawClient
from tests.helpers import until
from tests.system.test_desks import config_for

pytestmark = pytest.mark.timeout(60)


async def test_meters_taken_renewed_and_stale_shown(short_tmp) -> None:
    async with X32Simulator(meters_one_client=True) as sim:
        table = f'[devices.dev]\ndriver = "x32"\nhost = "127.0.0.1"\nport = {sim.port}\n'
        daemon = Daemon(parse(config_for(table)), store_path=short_tmp / "s.db",
                        socket_path=short_tmp / "a.sock")
        await daemon.start()
        other = await RawClient.open(sim.address)
        try:
            await until(lambda: daemon.device_views["dev"].link.value == "connected", 5)
            ours = daemon.devices["dev"].local_address  # type: ignore[attr-defined]
            await until(lambda: ours in sim._meters, 2)
            other.send("/meters", "/meters/1", 1)
            await until(lambda: ours not in sim._meters, 5)
            await until(lambda: ours in sim._meters, 5, interval=0.005)  # renewed
            sim.usecases.halt_meters()
            await until(lambda: "meters stale" in daemon.state_dict()["devices"]["dev"]["detail"],
                        10)
            assert daemon.state_dict()["devices"]["dev"]["link"] == "connected"
            sim.usecases.halt_meters(False)
            await until(lambda: "meters stale" not in
                        daemon.state_dict()["devices"]["dev"]["detail"], 10)
        finally:
            other.close()
            await daemon.stop()
