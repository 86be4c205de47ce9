"""The technician's terminal UI: a Textual app attached to councild over the control API.

Entry points: `tui.app.add_arguments(parser)` and `tui.app.run_tui(args) -> int` (what
`councild tui` calls), or `python -m tui --socket PATH`. `--web` serves the same UI through
textual-serve (tui/web.py).
"""
