"""Modal screens: confirm, mode picker, find a councillor, help."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, OptionList, Static
from textual.widgets.option_list import Option

from councild.i18n import N_, _
from tui import view

MODES = ("open", "request", "override", "voice")


class ConfirmScreen(ModalScreen[bool]):
    """Yes/no before something that cannot be undone with one key (clear, revoke all)."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("y", "answer(True)", _("Yes")),
        Binding("n,escape", "answer(False)", _("No")),
    ]

    def __init__(self, question: str) -> None:
        super().__init__()
        self.question = question

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(self.question, id="question")
            yield Button(_("Yes (y)"), variant="error", id="yes")
            yield Button(_("No (n)"), variant="primary", id="no")

    def on_mount(self) -> None:
        self.query_one("#no", Button).focus()

    def action_answer(self, answer: bool) -> None:
        self.dismiss(answer)

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.dismiss(event.button.id == "yes")


class ModeScreen(ModalScreen[str | None]):
    """Pick the discussion mode; the current one is highlighted."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "dismiss(None)", _("Cancel"))]

    def __init__(self, current: str | None) -> None:
        super().__init__()
        self.current = current

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(_("Discussion mode"))
            options = [Option(("● " if m == self.current else "  ") + view.mode_text(m), id=m)
                       for m in MODES]
            yield OptionList(*options, id="modes")

    def on_mount(self) -> None:
        modes = self.query_one(OptionList)
        if self.current in MODES:
            modes.highlighted = MODES.index(self.current)
        modes.focus()

    @on(OptionList.OptionSelected)
    def _chosen(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self.dismiss(event.option.id)


class FindScreen(ModalScreen[str | None]):
    """Type part of a name, label or party; Enter jumps the roster to the seat."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "dismiss(None)", _("Cancel"))]

    def __init__(self, state: Mapping[str, Any]) -> None:
        super().__init__()
        self.state = state

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(_("Find a councillor"))
            yield Input(placeholder=_("name, seat or party"), id="query")
            yield OptionList(id="hits")

    def on_mount(self) -> None:
        self._fill("")
        self.query_one(Input).focus()

    def _fill(self, query: str) -> None:
        hits = self.query_one(OptionList)
        hits.clear_options()
        for seat in view.find_seats(self.state, query):
            hits.add_option(Option(
                f"{seat.get('label', '')}  {view.text(seat.get('name'))}  "
                f"{view.text(seat.get('party'))}", id=str(seat.get("id"))))
        if hits.option_count:
            hits.highlighted = 0

    @on(Input.Changed, "#query")
    def _typed(self, event: Input.Changed) -> None:
        event.stop()
        self._fill(event.value)

    @on(Input.Submitted, "#query")
    def _enter(self, event: Input.Submitted) -> None:
        event.stop()
        hits = self.query_one(OptionList)
        if hits.highlighted is not None:
            self.dismiss(hits.get_option_at_index(hits.highlighted).id)

    @on(OptionList.OptionSelected)
    def _chosen(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self.dismiss(event.option.id)

    def on_key(self, event: Any) -> None:
        # Up/down move through the hits while the typing stays in the input.
        if event.key in ("down", "up"):
            hits = self.query_one(OptionList)
            if event.key == "down":
                hits.action_cursor_down()
            else:
                hits.action_cursor_up()
            event.stop()


HELP_KEYS = (
    ("g", N_("grant the floor to the selected seat")),
    ("n", N_("next speaker: close the longest, grant the queue head")),
    ("r", N_("revoke the selected speaker")),
    ("R", N_("revoke all delegate mics (asks first)")),
    ("c", N_("clear both queues (asks first)")),
    ("p", N_("chair priority on/off")),
    ("m", N_("change the discussion mode")),
    ("a", N_("next agenda item")),
    ("l", N_("lock/unlock the program shot")),
    ("w", N_("wide shot")),
    ("f", N_("force the selected seat's shot")),
    ("u", N_("release a forced shot (back to following speakers)")),
    ("s", N_("start the stream / stop it (asks first)")),
    ("e", N_("start the recording / stop it (asks first)")),
    ("E", N_("pause / resume the recording")),
    ("/", N_("find a councillor")),
    ("tab", N_("next panel (roster, lists, devices, log filter)")),
    ("ctrl+p", N_("command palette (every action by name)")),
    ("?", N_("this help")),
    ("q", N_("quit the TUI (the daemon keeps running)")),
)

HELP_LEGEND = (
    ("○ off", N_("mic closed")),
    ("? REQ", N_("asking for the floor")),
    ("● ON", N_("mic open")),
    ("♪", N_("voice detected")),
    ("⇄", N_("remote participant")),
    ("⇄✕", N_("remote councillor not in the video room")),
    ("↩", N_("in the reply queue")),
    ("⚠", N_("speaking time nearly up")),
    ("✖ OVER", N_("speaking time exceeded / device link lost")),
    ("⚑", N_("chair priority held / shot forced")),
    ("🔒", N_("program locked")),
)


class HelpScreen(ModalScreen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,question_mark,q", "dismiss(None)", _("Close")),
    ]

    def compose(self) -> ComposeResult:
        keys = "\n".join(f"{k:>6}  {_(v)}" for k, v in HELP_KEYS)
        legend = "\n".join(f"{k:>6}  {_(v)}" for k, v in HELP_LEGEND)
        with VerticalScroll(classes="dialog", id="help"):
            yield Label(_("Keys (scroll with ↑/↓, close with Esc)"), classes="heading")
            yield Static(keys, markup=False)
            yield Label(_("Symbols"), classes="heading")
            yield Static(legend, markup=False)
