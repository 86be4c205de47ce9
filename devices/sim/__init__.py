"""Simulators that speak the devices' real wire protocols on 127.0.0.1.

They power `councild demo` and `councild sim ...`, and the tests drive the real drivers
against them. `start_simulator` starts the one matching a device table of config.toml.
"""

from __future__ import annotations

import importlib
from typing import Any

from devices.base import DeviceOptions

# `councild sim NAME` → the module implementing it (add_arguments / run).
SIM_MODULES: dict[str, str] = {
    "x32": "devices.sim.x32",
    "sq": "devices.sim.sq",
    "cu": "devices.sim.cu",
    "visca": "devices.sim.visca",
    "keypad": "devices.sim.keypad",
    "remote": "devices.sim.remote",
}


async def start_simulator(options: DeviceOptions) -> Any | None:
    """Start the simulator for a device table that points at loopback; None if there is none.

    The returned object has `stop()` and, where it has them, `usecases` for scripted activity.
    """
    host = getattr(options, "host", None)
    if host not in ("127.0.0.1", "localhost") or getattr(options, "transport", "") == "serial":
        return None  # a real device (or a serial port): never impersonate it
    port = int(getattr(options, "port", 0))
    sim: Any
    if options.driver in ("x32", "xair"):
        from devices.sim.x32 import X32Simulator

        sim = X32Simulator(xair=options.driver == "xair", host="127.0.0.1", port=port)
    elif options.driver in ("sq", "qu"):
        from devices.sim.sq import SQSimulator

        sim = SQSimulator("127.0.0.1", port, variant=options.driver,
                          midi_channel=int(getattr(options, "midi_channel", 1)))
    elif options.driver == "dcs":
        from devices.sim.cu import CUSimulator

        sim = CUSimulator("127.0.0.1", port)
    elif options.driver == "visca":
        from devices.sim.visca import ViscaSimulator

        sim = ViscaSimulator(host="127.0.0.1", port=port,
                             address=int(getattr(options, "address", 1)))
    else:
        return None
    await sim.start()
    return sim


def sim_module(name: str) -> Any:
    return importlib.import_module(SIM_MODULES[name])
