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

    def compose(self) -> ComposeResult:
        yield SessionHeader(id="header")
        yield Banner(id="banner")
        yield AlarmBanner(id="alarms")
        yield BroadcastPanel(id="broadcast")
        with Horizontal(id="floor"):
            yield SpeakersTable(id="speakers")
            yield QueueTable(id="queue")
        with Horizontal(id="middle"):
            yield SeatTable(id="seats")
            with Vertical(id="side"):
                yield OnAirPanel(id="onair")
                yield DeviceTable(id="devices")
        yield EventLog(id="log")
        yield Footer()

    def on_mount(self) -> None:
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

    # --- typed accessors -------------------------------------------------------------------

    @property
    def header(self) -> SessionHeader:
        return self.query_one(SessionHeader)

    @property
    def banner(self) -> Banner:
        return self.query_one(Banner)

    @property
    def seats(self) -> SeatTable:
        return self.query_one(SeatTable)

    @property
    def speakers(self) -> SpeakersTable:
        return self.query_one(SpeakersTable)

    @property
    def queue(self) -> QueueTable:
        return self.query_one(QueueTable)

    @property
    def devices(self) -> DeviceTable:
        return self.query_one(DeviceTable)

    @property
    def alarms(self) -> AlarmBanner:
        return self.query_one(AlarmBanner)

    @property
    def broadcast(self) -> BroadcastPanel:
        return self.query_one(BroadcastPanel)

    @property
    def onair(self) -> OnAirPanel:
        return self.query_one(OnAirPanel)

    @property
    def event_log(self) -> EventLog:
        return self.query_one(EventLog)

    # --- attributes down ---------------------------------------------------------------------

    def on_resize(self, event: events.Resize) -> None:
        compact = event.size.width < WIDE_COLUMNS
        changed = [t.set_compact(compact) for t in self.query(KeyedTable)]
        if any(changed) and self._shown is not None:
            self.show_state(*self._shown)

    def show_state(self, state: Mapping[str, Any], attached: bool, offset: float) -> None:
        """Render a state; `offset` is how many seconds ago the daemon took it."""
        self._shown = (state, attached, offset)  # only to re-render after a resize
        self.header.show_state(state, attached)
        self.seats.show_state(state)
        self.onair.show_state(state)
        self.broadcast.show_state(state)
        self.alarms.show_state(state)
        self.show_times(state, offset)

    def show_times(self, state: Mapping[str, Any], offset: float) -> None:
        """The parts that change with the clock alone."""
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
