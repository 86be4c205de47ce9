"""The event log with a filter input above it."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping
from typing import Any

from textual import on
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Input, Log

from councild.i18n import _
from tui import view

# The daemon keeps 500 entries for late attachers; a four-hour session makes a few thousand.
LOG_KEEP = 2000


class EventLog(Vertical):
    """Keeps the lines it was given (newest last) and shows those matching the filter."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._lines: deque[str] = deque(maxlen=LOG_KEEP)
        self._filter = ""
        # Who sits where, from the latest state: the sentences name seat label and councillor.
        self.seats: Mapping[str, Mapping[str, Any]] = {}
        self.agenda: Mapping[str, str] = {}
        # Held, not queried: entries arrive at any moment, mounted or not (see MainScreen).
        self._log = Log(id="log-lines", max_lines=LOG_KEEP)

    def compose(self) -> ComposeResult:
        yield Input(placeholder=_("filter the log (e.g. grant 12)"), id="log-filter")
        yield self._log

    def on_mount(self) -> None:
        self._render_all()  # what arrived before the log was mounted

    @property
    def lines(self) -> list[str]:
        """The lines currently shown (after the filter)."""
        return [line for line in self._lines if view.matches(line, self._filter)]

    def replace(self, entries: Iterable[Mapping[str, Any]]) -> None:
        self._lines.clear()
        self._lines.extend(view.log_line(e, self.seats, self.agenda) for e in entries)
        self._render_all()

    def append(self, entry: Mapping[str, Any]) -> None:
        line = view.log_line(entry, self.seats, self.agenda)
        self._lines.append(line)
        if view.matches(line, self._filter) and self._log.is_mounted:
            self._log.write_line(line)

    def note(self, text: str, wall: float) -> None:
        """A line from the TUI itself (connection changes), marked as such."""
        self._lines.append(f"{view.clock_time(wall)} tui    {text}")
        if view.matches(self._lines[-1], self._filter) and self._log.is_mounted:
            self._log.write_line(self._lines[-1])

    @on(Input.Changed, "#log-filter")
    def _filter_changed(self, event: Input.Changed) -> None:
        event.stop()
        self._filter = event.value
        self._render_all()

    def _render_all(self) -> None:
        if not self._log.is_mounted:
            return
        self._log.clear()
        self._log.write_lines(self.lines)
