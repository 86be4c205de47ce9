"""`councild demo`: the daemon with simulated desks, a headless OBS, scripted councillors and
the TUI, from the example chamber (run.py; remote.py adds remote councillors through Janus).

A subpackage of its own because it starts simulators, OBS and the TUI, which the daemon never
does: only `councild.cli`'s `demo` subcommand imports it, and it never imports the cli
(tests/core/test_imports.py holds both rules).
"""

from councild.demo.run import run_demo, run_demo_with_tui

__all__ = ["run_demo", "run_demo_with_tui"]
