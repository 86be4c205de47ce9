"""Text panels: the session header, the connection banner, the on-air panel."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rich.text import Text
from textual.widgets import Static

from councild.i18n import _
from tui import view


class TextPanel(Static):
    """A Static that remembers its last text, so tests and tools can read it back."""

    plain = ""

    def show(self, content: Text) -> None:
        self.plain = content.plain
        self.update(content)


class SessionHeader(TextPanel):
    """Session title on the first line; mode, agenda item and priority on the second."""

    def show_state(self, state: Mapping[str, Any], attached: bool) -> None:
        title = view.text(view.get(state, "session", "title"))
        line1 = Text(title, style="bold")
        date = view.get(state, "session", "date")
        if date:
            line1.append(f"  {date}")
        line1.append("   " + ("● " + _("live") if attached else "✖ " + _("offline")))
        line2 = Text()
        line2.append(_("Mode") + ": ", style="dim")
        line2.append(view.mode_text(view.get(state, "mode")), style="bold")
        max_open = view.get(state, "max_open")
        if max_open is not None:
            line2.append(" " + _("(max {n} open)").format(n=max_open))
        line2.append("  " + _("Agenda") + ": ", style="dim")
        line2.append(view.agenda_text(view.get(state, "agenda")))
        line2.append("  ")
        priority = bool(view.get(state, "priority", default=False))
        line2.append(view.priority_text(priority), style="bold reverse" if priority else "dim")
        self.show(line1 + Text("\n") + line2)


class Banner(TextPanel):
    """Shown only while the daemon is away: says so in words, with the next retry."""

    def show_disconnected(self, reason: str, retry_in: float, attempt: int) -> None:
        self.show(Text("✖ " + _("disconnected — retrying in {s:.1f} s (attempt {n}): {why}")
                         .format(s=retry_in, n=attempt, why=reason), style="bold"))
        self.display = True

    def hide(self) -> None:
        self.display = False


class OnAirPanel(TextPanel):
    """Program and preview, lower third, lock and camera states (from the scene issues;
    every line shows "–" until the daemon sends it)."""

    def show_state(self, state: Mapping[str, Any]) -> None:
        program = view.get(state, "program", default={})
        if not isinstance(program, dict):
            program = {}
        out = Text()
        out.append(_("Program") + ": ", style="dim")
        out.append(view.text(program.get("shot")), style="bold")
        scene = program.get("scene")
        if scene:
            out.append(f" ({scene})")
        seat = program.get("seat")
        if seat is not None:  # who is on the picture: seat label and councillor
            out.append(" · " + view.who(view.seats_by_id(state), str(seat)), style="bold")
        out.append("\n" + _("Lock") + ": ", style="dim")
        locked = program.get("locked")
        out.append(view.lock_text(program), style="bold reverse" if locked else "")
        out.append("  " + _("Preview") + ": ", style="dim")
        out.append(view.text(program.get("preview")))
        out.append("\n" + _("Lower third") + ": ", style="dim")
        out.append(view.lower_third_text(program.get("lower_third")))
        cameras = program.get("cameras")
        if isinstance(cameras, dict) and cameras:
            out.append("\n" + _("Cameras") + ": ", style="dim")
            out.append("  ".join(view.camera_text(str(n), c) for n, c in sorted(cameras.items())))
        audio = view.get(state, "audio")
        if isinstance(audio, dict):  # hybrid audio: what the chamber hears of the remotes
            self._state = state
            level = self.return_level if self.return_level is not None \
                else audio.get("return_dbfs")
            out.append("\n" + _("Remote return") + ": ", style="dim")
            out.append(view.level_bar(level if isinstance(level, int | float) else None))
        self.show(out)

    return_level: float | None = None
    _state: Mapping[str, Any] | None = None

    def show_return_level(self, dbfs: float) -> None:
        """The return meter from the level stream (20 Hz), without a new state."""
        if self.return_level == dbfs:
            return
        self.return_level = dbfs
        if self._state is not None:
            self.show_state(self._state)
