"""Logging for the commands: what `-v` turns on, and what it must never turn on.

`-v` is debug logging of councild's own loggers. The wire libraries' debug logs are kept
off: websockets logs every frame at DEBUG, and a frame to Janus carries the room secret
(and a join page's frames a councillor's session); aiohttp's and asyncio's debug output is
noise at best. Their warnings and errors still come through.
"""

from __future__ import annotations

import logging
import sys

# Loggers whose DEBUG records hold wire contents (secrets, tokens) or only noise.
WIRE_LOGGERS = ("websockets", "aiohttp", "asyncio")


def setup_logging(verbose: bool) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    for name in WIRE_LOGGERS:
        logging.getLogger(name).setLevel(logging.INFO)
