"""The command-line options of `councild tui`, without importing Textual.

`councild --help` and every other command build their parsers from this module, so the CLI
works where the TUI's extra (Textual) is not installed: a daemon host needs no terminal UI.
"""

from __future__ import annotations

import argparse

from councild.api import client_socket_path
from councild.i18n import _
from tui.web import DEFAULT_PORT, TOKEN_ENV


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--socket", metavar="PATH",
                        help=_("control socket of councild (default: {path})").format(
                            path=client_socket_path()))
    parser.add_argument("--web", action="store_true",
                        help=_("serve the TUI to a browser (textual-serve) instead"))
    parser.add_argument("--host", default="127.0.0.1",
                        help=_("--web: address to listen on; other than loopback needs "
                               "a token in ${var}").format(var=TOKEN_ENV))
    parser.add_argument("--port", type=int, default=DEFAULT_PORT,
                        help=_("--web: port (default {port})").format(port=DEFAULT_PORT))
