"""`python -m tui [--socket PATH]`: the TUI without the councild CLI around it."""

from __future__ import annotations

import argparse
import sys

from tui.app import run_tui
from tui.options import add_arguments


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m tui")
    add_arguments(parser)
    return run_tui(parser.parse_args())


if __name__ == "__main__":
    sys.exit(main())
