"""The technician's terminal UI: a Textual app attached to councild over the control API.

The app holds no session state of its own. The daemon link (tui/link.py, run in a worker)
posts what the daemon says; the app hands it down to the main screen and turns keys into
API operations, showing the daemon's refusals as notifications.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, ClassVar

from textual import on, work
from textual.app import App, SystemCommand
from textual.binding import Binding, BindingType
from textual.screen import Screen

from councild.api import client_socket_path
from councild.errors import ConnectionLostError, OperationTimeoutError
from councild.i18n import N_, _
from tui import view
from tui.dialogs import ConfirmScreen, FindScreen, HelpScreen, ModeScreen
from tui.link import DaemonLink, get_error
from tui.messages import Attached, Disconnected, LevelsChanged, LogAppended, StateChanged
from tui.screens import MainScreen
from tui.web import run_web

# Speaking and waiting times tick by the second; redrawing more often shows nothing new.
TICK_S = 1.0

Clock = Callable[[], float]


class CouncilApp(App[int]):
    """`socket_path` None means no daemon: the app shows only `fixture` (snapshot tests)."""

    CSS_PATH = "app.tcss"
    TITLE = "councild"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("g", "grant", _("Grant")),
        Binding("n", "next", _("Next")),
        Binding("r", "revoke", _("Revoke")),
        Binding("R", "revoke_all", _("Revoke all"), key_display="R"),
        Binding("c", "clear", _("Clear queue")),
        Binding("p", "priority", _("Priority")),
        Binding("m", "mode", _("Mode")),
        Binding("a", "agenda", _("Agenda+")),
        Binding("l", "lock", _("Lock"), show=False),
        Binding("w", "wide", _("Wide"), show=False),
        Binding("f", "force", _("Force shot"), show=False),
        Binding("u", "release", _("Release shot"), show=False),
        Binding("s", "stream", _("Stream"), show=False),
        Binding("e", "record", _("Record"), show=False),
        Binding("E", "record_pause", _("Pause recording"), show=False, key_display="E"),
        Binding("slash", "find", _("Find"), key_display="/"),
        Binding("question_mark", "help", _("Help"), key_display="?"),
        Binding("q", "quit", _("Quit"), show=False),
    ]

    def __init__(
        self,
        socket_path: Path | None,
        *,
        clock: Clock = time.time,
        fixture: tuple[dict[str, Any], list[dict[str, Any]]] | None = None,
    ) -> None:
        super().__init__()
        self.clock = clock
        self.link = DaemonLink(socket_path, self.post_message) if socket_path else None
        self.fixture = fixture
        self.daemon_state: dict[str, Any] = {}  # the last state the daemon sent, as sent
        self.received_at = clock()
        self.attached = False
        self.last_reply: dict[str, Any] | None = None  # for tests and the status line

    def get_default_screen(self) -> Screen[Any]:
        return MainScreen()

    @property
    def main(self) -> MainScreen:
        screen = self.screen_stack[0]  # the default screen stays at the bottom of the stack
        assert isinstance(screen, MainScreen)
        return screen

    def on_ready(self) -> None:
        # Ready, not Mount: the main screen's widgets must exist before the first state.
        if self.link is not None:
            self.run_worker(self.link.run(), name="daemon-link", group="link",
                            exclusive=True, exit_on_error=False)
        elif self.fixture is not None:
            self.post_message(Attached(*self.fixture))
        self.set_interval(TICK_S, self._tick)

    # --- from the daemon ---------------------------------------------------------------------

    @on(Attached)
    def _attached(self, message: Attached) -> None:
        self.attached = True
        self._show(message.state)
        self.main.banner.hide()
        self.main.event_log.replace(message.log)
        if self.link is not None:
            self.main.event_log.note(_("attached to councild at {sock}").format(
                sock=self.link.socket_path), self.clock())

    @on(StateChanged)
    def _state_changed(self, message: StateChanged) -> None:
        self._show(message.state)

    @on(LogAppended)
    def _log_appended(self, message: LogAppended) -> None:
        self.main.event_log.append(message.entry)

    @on(LevelsChanged)
    def _levels_changed(self, message: LevelsChanged) -> None:
        levels = self.link.take_levels() if self.link is not None else None
        if levels:
            self.main.seats.show_levels(levels)
            ret = levels.get("audio:return")  # councild.hybrid_audio.RETURN_LEVEL
            if isinstance(ret, int | float):
                self.main.onair.show_return_level(float(ret))

    @on(Disconnected)
    def _disconnected(self, message: Disconnected) -> None:
        if self.attached or message.attempt == 1:
            self.main.event_log.note(message.reason, self.clock())
        self.attached = False
        self.main.banner.show_disconnected(message.reason, message.retry_in, message.attempt)
        self.main.header.show_state(self.daemon_state, attached=False)

    def _show(self, state: dict[str, Any]) -> None:
        self.daemon_state = state
        self.main.event_log.seats = view.seats_by_id(state)
        agenda = state.get("agenda")
        if isinstance(agenda, dict) and agenda.get("id") is not None:
            self.main.event_log.agenda = {**self.main.event_log.agenda,
                                          str(agenda["id"]): str(agenda.get("title") or "")}
        self.received_at = self.clock()
        self.main.show_state(state, self.attached, 0.0)

    def _tick(self) -> None:
        if self.attached:
            self.main.show_times(self.daemon_state, self.clock() - self.received_at)

    # --- to the daemon -------------------------------------------------------------------------

    @work(group="ops")
    async def send(self, op: str, **args: Any) -> None:
        """One operation; a refusal or a lost link becomes a notification."""
        if self.link is None:
            self.notify(_("no daemon attached"), severity="error")
            return
        try:
            reply = await self.link.request(op, **args)
        except (ConnectionLostError, OperationTimeoutError, OSError) as exc:
            self.notify(str(exc), title=op, severity="error")
            return
        self.last_reply = reply
        if not reply.get("ok"):
            self.notify(get_error(reply), title=_("{op} refused").format(op=op),
                        severity="warning")

    def _need_seat(self, seat: str | None) -> str | None:
        if seat is None:
            self.notify(_("select a seat first"), severity="warning")
        return seat

    def action_grant(self) -> None:
        if seat := self._need_seat(self.main.selected_seat()):
            self.send("grant", seat=seat)

    def action_next(self) -> None:
        self.send("next")

    def action_revoke(self) -> None:
        speaking = {str(s) for s in self.daemon_state.get("speakers") or []}
        if seat := self._need_seat(self.main.selected_speaker(speaking)):
            self.send("revoke", seat=seat)

    def action_revoke_all(self) -> None:
        self._confirm(_("Close every delegate microphone?"), "revoke_all")

    def action_clear(self) -> None:
        self._confirm(_("Empty the request queue and the reply queue?"), "clear")

    def _confirm(self, question: str, op: str) -> None:
        def answered(yes: bool | None) -> None:
            if yes:
                self.send(op)

        self.push_screen(ConfirmScreen(question), callback=answered)

    def action_priority(self) -> None:
        self.send("priority", on=not bool(self.daemon_state.get("priority")))

    def action_lock(self) -> None:
        program = self.daemon_state.get("program")
        locked = bool(program.get("locked")) if isinstance(program, dict) else False
        self.send("lock", on=not locked)

    def action_wide(self) -> None:
        self.send("wide")

    def action_force(self) -> None:
        if seat := self._need_seat(self.main.selected_seat()):
            self.send("force", seat=seat)

    def action_release(self) -> None:
        self.send("release")

    def action_agenda(self) -> None:
        self.send("agenda")

    def _broadcast_state(self, part: str) -> str | None:
        broadcast = self.daemon_state.get("broadcast")
        if not isinstance(broadcast, dict):
            return None
        value = broadcast.get(part)
        return str(value.get("state")) if isinstance(value, dict) else None

    def action_stream(self) -> None:
        """Start the stream, or (asking first) stop it."""
        if self._broadcast_state("stream") in ("live", "reconnecting", "starting"):
            self._confirm(_("Stop the livestream? Viewers lose the picture."), "stream_stop")
        else:
            self.send("stream_start")

    def action_record(self) -> None:
        """Start the recording, or (asking first) stop it."""
        if self._broadcast_state("record") in ("recording", "paused", "starting"):
            self._confirm(_("Stop the recording?"), "record_stop")
        else:
            self.send("record_start")

    def action_record_pause(self) -> None:
        state = self._broadcast_state("record")
        self.send("record_resume" if state == "paused" else "record_pause")

    def action_mode(self) -> None:
        def chosen(mode: str | None) -> None:
            if mode:
                self.send("mode", mode=mode)

        self.push_screen(ModeScreen(self.daemon_state.get("mode")), callback=chosen)

    def action_find(self) -> None:
        def chosen(seat: str | None) -> None:
            if seat and self.main.seats.select_key(seat):
                self.main.seats.focus()

        self.push_screen(FindScreen(self.daemon_state), callback=chosen)

    def action_help(self) -> None:
        self.push_screen(HelpScreen())

    def get_system_commands(self, screen: Screen[Any]) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        commands = (
            (N_("Grant"), N_("give the floor to the selected seat"), self.action_grant),
            (N_("Next speaker"), N_("close the longest speaker, grant the queue head"),
             self.action_next),
            (N_("Revoke"), N_("close the selected speaker's mic"), self.action_revoke),
            (N_("Revoke all"), N_("close every delegate mic"), self.action_revoke_all),
            (N_("Clear queue"), N_("empty both queues"), self.action_clear),
            (N_("Chair priority"), N_("toggle chair priority"), self.action_priority),
            (N_("Mode"), N_("change the discussion mode"), self.action_mode),
            (N_("Next agenda item"), N_("advance the agenda"), self.action_agenda),
            (N_("Lock program"), N_("toggle the program lock"), self.action_lock),
            (N_("Wide shot"), N_("cut to the wide shot"), self.action_wide),
            (N_("Force shot"), N_("cut to the selected seat's shot"), self.action_force),
            (N_("Release shot"), N_("give the picture back to the director"), self.action_release),
            (N_("Stream start/stop"), N_("start the livestream, or stop it (asks first)"),
             self.action_stream),
            (N_("Recording start/stop"), N_("start the recording, or stop it (asks first)"),
             self.action_record),
            (N_("Recording pause"), N_("pause or resume the recording"),
             self.action_record_pause),
            (N_("Find councillor"), N_("jump to a councillor"), self.action_find),
            (N_("Keys"), N_("show the keys and symbols"), self.action_help),
        )
        for title, help_text, callback in commands:
            yield SystemCommand(_(title), _(help_text), callback)


def run_tui(args: argparse.Namespace) -> int:
    socket = Path(args.socket) if getattr(args, "socket", None) else client_socket_path()
    if getattr(args, "web", False):
        return run_web(socket, args.host, args.port)
    app = CouncilApp(socket)
    app.run()
    return app.return_code or 0
