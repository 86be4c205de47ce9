"""The main screen: everything a technician needs at a glance, laid out to fit 80×24."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from textual import events
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import Footer

from councild.i18n import _
from tui.widgets.broadcast import AlarmBanner, BroadcastPanel
from tui.widgets.eventlog import EventLog
from tui.widgets.panels import Banner, OnAirPanel, SessionHeader
from tui.widgets.tables import (
    WIDE_COLUMNS,
    DeviceTable,
    KeyedTable,
    QueueTable,
    SeatTable,
    SpeakersTable,
)


class MainScreen(Screen[None]):
    """Attributes down: the app hands each new state to `show_state`; this screen hands the
    parts to its panels. The screen keeps no session state beyond what it was given last."""

    HORIZONTAL_BREAKPOINTS: ClassVar[list[tuple[int, str]] | None] = [
        (0, "-narrow"), (WIDE_COLUMNS, "-wide")]
    VERTICAL_BREAKPOINTS: ClassVar[list[tuple[int, str]] | None] = [(0, "-short"), (36, "-tall")]

    def __init__(self) -> None:
        super().__init__()
        self._shown: tuple[Mapping[str, Any], bool, float] | None = None
        # The panels, made once and held: the app renders into them from timers and messages
        # at any moment (a dialog being pushed, the screen being resized), and a DOM query in
        # such a moment can find nothing (Textual's NoMatches). A held reference cannot.
        self._header = SessionHeader(id="header")
        self._banner = Banner(id="banner")
        self._speakers = SpeakersTable(id="speakers")
        self._queue = QueueTable(id="queue")
        self._seats = SeatTable(id="seats")
        self._onair = OnAirPanel(id="onair")
        self._devices = DeviceTable(id="devices")
        self._event_log = EventLog(id="log")
        self._alarms = AlarmBanner(id="alarms")
        self._broadcast = BroadcastPanel(id="broadcast")
        self._mounted = False  # set once the panels are mounted: nothing is rendered before

    def compose(self) -> ComposeResult:
        yield self._header
        yield self._banner
        yield self._alarms
        yield self._broadcast
        with Horizontal(id="floor"):
            yield self._speakers
            yield self._queue
        with Horizontal(id="middle"):
            yield self._seats
            with Vertical(id="side"):
                yield self._onair
                yield self._devices
        yield self._event_log
        yield Footer()

    @property
    def ready(self) -> bool:
        """Composed and mounted: the panels can be rendered into."""
        return self._mounted

    def on_mount(self) -> None:
        self._mounted = True
        titles = {
            "#speakers": _("Speakers"), "#queue": _("Queue"), "#seats": _("Seats"),
            "#onair": _("On air"), "#devices": _("Devices"), "#log": _("Event log"),
        }
        for selector, title in titles.items():
            self.query_one(selector).border_title = title
        self.banner.display = False
        self.alarms.display = False
        self.broadcast.display = False
        self.seats.focus()
        if self._shown is not None:  # a state that arrived before the panels were mounted
            self.show_state(*self._shown)

    # --- typed accessors -------------------------------------------------------------------

    @property
    def header(self) -> SessionHeader:
        return self._header

    @property
    def banner(self) -> Banner:
        return self._banner

    @property
    def seats(self) -> SeatTable:
        return self._seats

    @property
    def speakers(self) -> SpeakersTable:
        return self._speakers

    @property
    def queue(self) -> QueueTable:
        return self._queue

    @property
    def devices(self) -> DeviceTable:
        return self._devices

    @property
    def alarms(self) -> AlarmBanner:
        return self._alarms

    @property
    def broadcast(self) -> BroadcastPanel:
        return self._broadcast

    @property
    def onair(self) -> OnAirPanel:
        return self._onair

    @property
    def event_log(self) -> EventLog:
        return self._event_log

    # --- attributes down ---------------------------------------------------------------------

    def on_resize(self, event: events.Resize) -> None:
        compact = event.size.width < WIDE_COLUMNS
        changed = [t.set_compact(compact) for t in self.query(KeyedTable)]
        if any(changed) and self._shown is not None:
            self.show_state(*self._shown)

    def show_state(self, state: Mapping[str, Any], attached: bool, offset: float) -> None:
        """Render a state; `offset` is how many seconds ago the daemon took it."""
        self._shown = (state, attached, offset)  # only to re-render after a resize
        if not self._mounted:
            return  # on_resize renders it once the panels are there
        self.header.show_state(state, attached)
        self.seats.show_state(state)
        self.onair.show_state(state)
        self.broadcast.show_state(state)
        self.alarms.show_state(state)
        self.show_times(state, offset)

    def show_times(self, state: Mapping[str, Any], offset: float) -> None:
        """The parts that change with the clock alone."""
        if not self._mounted:
            return
        now = state.get("now")
        now = float(now) + offset if isinstance(now, int | float) else 0.0
        self.speakers.show_state(state, offset)
        self.queue.show_state(state, now)
        self.devices.show_state(state, now)

    def selected_seat(self) -> str | None:
        """The seat under the cursor of the focused seat list (roster, speakers or queue);
        the roster's when focus is elsewhere."""
        focused = self.focused
        if isinstance(focused, KeyedTable) and not isinstance(focused, DeviceTable):
            key = focused.selected_key
            if key is not None:
                return key
        return self.seats.selected_key

    def selected_speaker(self, speaking: set[str]) -> str | None:
        """For revoke: the focused list's seat if it speaks, else the speakers panel's cursor."""
        seat = self.selected_seat()
        if seat in speaking:
            return seat
        return self.speakers.selected_key or seat
