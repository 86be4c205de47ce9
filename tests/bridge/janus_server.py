"""The tests' Janus: the package's private Janus runner (also used by `councild demo --remote`)."""

from devices.sim.janus_server import (
    SESSION_TIMEOUT,
    STARTUP_TIMEOUT,
    STOP_TIMEOUT,
    JanusServer,
    free_port,
    write_config,
)

__all__ = ["SESSION_TIMEOUT", "STARTUP_TIMEOUT", "STOP_TIMEOUT", "JanusServer", "free_port",
           "write_config"]
