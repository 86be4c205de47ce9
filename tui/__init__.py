"""The technician's terminal UI: a Textual app attached to councild over the control API.

Entry points: `tui.options.add_arguments(parser)` (imports no Textual) and
`tui.app.run_tui(args) -> int` (what `councild tui` calls), or `python -m tui --socket PATH`.
`--web` serves the same UI through textual-serve (tui/web.py). Textual is the `tui` extra of
the package: a host that only runs the daemon does not need it.
"""
