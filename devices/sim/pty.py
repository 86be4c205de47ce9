"""The device's end of a pseudo-terminal, for simulators of serial devices.

The driver opens the slave path like a real tty (optionally through a stable symlink, as
/dev/serial/by-id gives a real one); closing hangs the line up, as unplugging would.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import tty
from collections.abc import Callable


class SimPty:
    def __init__(self, on_data: Callable[[bytes], None], link: str | None = None) -> None:
        self.master, self.slave = os.openpty()
        tty.setraw(self.slave)  # binary-clean, no echo: a UART does not echo either
        os.set_blocking(self.master, False)
        self.path = os.ttyname(self.slave)
        self.link = link
        self.dropped = 0  # bytes the driver was too slow (or absent) to take
        if link is not None:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(link)
            os.symlink(self.path, link)
        self._on_data = on_data
        asyncio.get_running_loop().add_reader(self.master, self._readable)

    def _readable(self) -> None:
        try:
            data = os.read(self.master, 4096)
        except OSError:
            return  # EIO while nobody holds the slave open: nothing to read
        if data:
            self._on_data(data)

    def write(self, data: bytes) -> None:
        try:
            os.write(self.master, data)
        except OSError:  # BlockingIOError included
            self.dropped += len(data)  # a full tty buffer loses data, as a UART would

    def close(self) -> None:
        asyncio.get_running_loop().remove_reader(self.master)
        if self.link is not None:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.link)
        # Closing the master hangs up the slave: the driver's reads fail with EIO at once.
        os.close(self.master)
        os.close(self.slave)
