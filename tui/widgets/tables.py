"""Tables of seats: the roster, the speakers, the queue; and the device health table.

Each is a DataTable fed whole rows by its screen. Rows are keyed (by seat id or device name)
and only cells whose text changed are written, so a new state — or a 20 Hz meter update —
repaints what changed and keeps the technician's cursor on the same seat.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from rich.text import Text
from textual.widgets import DataTable
from textual.widgets.data_table import RowDoesNotExist

from councild.i18n import _
from tui import view

Cell = str | Text
Row = tuple[str, Sequence[Cell]]

# Compact (below WIDE_COLUMNS terminal columns) and wide cuts for names and labels: the
# compact ones make the roster, speakers and queue fit side by side in 80 columns.
WIDE_COLUMNS = 140
NAME_WIDTH = {True: 13, False: 26}
LABEL_WIDTH = {True: 5, False: 10}
SPEAKER_NAME_WIDTH = {True: 11, False: 24}
LEVEL_WIDTH = {True: 4, False: 10}

# Emphasis that reads in light and dark themes alike, and always comes with words/symbols.
STYLES = {"ok": "", "warn": "bold", "over": "bold reverse", "bad": "bold reverse"}


def _cut(value: str, width: int) -> str:
    return value if len(value) <= width else value[: width - 1] + "…"


class KeyedTable(DataTable[Cell]):
    """A DataTable whose rows are replaced as a whole list, keyed and diffed."""

    COLUMNS: tuple[tuple[str, str], ...] = ()  # (key, title); titles go through _()

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id, cursor_type="row", zebra_stripes=False)
        self._rows: dict[str, tuple[Cell, ...]] = {}
        self._order: list[str] = []
        self.compact = True

    def on_mount(self) -> None:
        self._add_columns()

    def _add_columns(self) -> None:
        for key, title in self.COLUMNS:
            self.add_column(_(title), key=key)

    def set_compact(self, compact: bool) -> bool:
        """Switch cut widths; True if it changed (the caller then shows the state again)."""
        if compact == self.compact:
            return False
        self.compact = compact
        self.clear(columns=True)  # column widths only grow: start them afresh
        self._add_columns()
        self._order = []
        self._rows.clear()
        return True

    @property
    def selected_key(self) -> str | None:
        if not self._order or self.cursor_row < 0 or self.cursor_row >= len(self._order):
            return None
        return self._order[self.cursor_row]

    def sync(self, rows: Sequence[Row]) -> None:
        order = [key for key, _cells in rows]
        if order != self._order:
            selected = self.selected_key
            self.clear()
            self._rows.clear()
            for key, cells in rows:
                self.add_row(*cells, key=key)
                self._rows[key] = tuple(cells)
            self._order = order
            if selected in self._rows:
                self.move_cursor(row=order.index(selected), animate=False)
            return
        columns = [key for key, _title in self.COLUMNS]
        for key, cells in rows:
            old = self._rows[key]
            if old == tuple(cells):
                continue
            for column, before, after in zip(columns, old, cells, strict=True):
                if before != after:
                    self.update_cell(key, column, after)
            self._rows[key] = tuple(cells)

    def select_key(self, key: str) -> bool:
        try:
            index = self.get_row_index(key)
        except RowDoesNotExist:
            return False
        self.move_cursor(row=index, animate=False)
        return True


class SeatTable(KeyedTable):
    """The roster: every seat with its mic state, voice activity and a live level bar."""

    COLUMNS = (
        ("label", "Seat"),
        ("name", "Councillor"),
        ("party", "Party"),
        ("mic", "Mic"),
        ("level", "Level"),
    )

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._seats: list[dict[str, Any]] = []
        self._levels: dict[str, float | None] = {}

    def show_state(self, state: Mapping[str, Any]) -> None:
        self._seats = [s for s in view.get(state, "seats", default=[]) if isinstance(s, dict)]
        self._levels = {str(s.get("id")): s.get("level") for s in self._seats}
        self.sync([self._row(s) for s in self._seats])

    def show_levels(self, levels: Mapping[str, float]) -> None:
        """Only the level column: the cheap path for the meter stream."""
        for seat_id, dbfs in levels.items():
            if seat_id not in self._levels or self._levels[seat_id] == dbfs:
                continue
            self._levels[seat_id] = dbfs
            cells = self._rows.get(seat_id)
            bar = view.level_bar(dbfs, LEVEL_WIDTH[self.compact])
            if cells is not None and cells[-1] != bar:
                self.update_cell(seat_id, "level", bar)
                self._rows[seat_id] = (*cells[:-1], bar)

    def _row(self, seat: dict[str, Any]) -> Row:
        seat_id = str(seat.get("id"))
        label = _cut(str(seat.get("label") or seat_id), LABEL_WIDTH[self.compact])
        if seat.get("remote"):
            label += " ⇄"
        mic = seat.get("mic")
        mic_cell: Cell = Text(view.mic_text(mic, bool(seat.get("talking"))),
                              style="bold" if mic == "on" else "")
        return seat_id, (
            label,
            _cut(view.text(seat.get("name")), NAME_WIDTH[self.compact]),
            view.text(seat.get("party")),
            mic_cell,
            view.level_bar(self._levels.get(seat_id), LEVEL_WIDTH[self.compact]),
        )


class SpeakersTable(KeyedTable):
    """Who has the floor, for how long, and how long is left."""

    COLUMNS = (("label", "Seat"), ("name", "Speaker"), ("time", "Time"), ("limit", "Limit"))

    def show_state(self, state: Mapping[str, Any], offset: float) -> None:
        """`offset`: seconds since the state was taken, so the times run between updates."""
        seats = view.seats_by_id(state)
        rows: list[Row] = []
        for sp in view.get(state, "speaking", default=[]):
            if not isinstance(sp, dict):
                continue
            seat_id = str(sp.get("seat"))
            seat = seats.get(seat_id, {})
            elapsed = float(sp.get("elapsed") or 0.0) + offset
            limit = sp.get("limit")
            status, kind = view.speaker_status(elapsed, limit, bool(sp.get("warned")),
                                               bool(sp.get("over")))
            talking = " ♪" if seat.get("talking") else ""
            rows.append((seat_id, (
                str(seat.get("label") or seat_id) + talking,
                _cut(view.text(seat.get("name")), SPEAKER_NAME_WIDTH[self.compact]),
                view.duration(elapsed),
                Text(status, style=STYLES[kind]),
            )))
        self.sync(rows)


class QueueTable(KeyedTable):
    """Who waits, in order (reply queue first, as the daemon serves it), and since when."""

    COLUMNS = (("pos", "#"), ("label", "Seat"), ("name", "Waiting"), ("wait", "Since"))

    def show_state(self, state: Mapping[str, Any], now: float) -> None:
        seats = view.seats_by_id(state)
        rows: list[Row] = []
        for pos, w in enumerate(view.get(state, "waiting", default=[]), start=1):
            if not isinstance(w, dict):
                continue
            seat_id = str(w.get("seat"))
            seat = seats.get(seat_id, {})
            since = w.get("since")
            wait = view.duration(now - since) if isinstance(since, int | float) else view.DASH
            rows.append((seat_id, (
                f"{pos}" + (" ↩" if w.get("reply") else ""),
                str(seat.get("label") or seat_id),
                _cut(view.text(seat.get("name")), SPEAKER_NAME_WIDTH[self.compact]),
                wait,
            )))
        self.sync(rows)


class DeviceTable(KeyedTable):
    """Every device's link, when it was last heard from and how much garbage it sent."""

    COLUMNS = (("name", "Device"), ("link", "Link"), ("errors", "Err"),
               ("seen", "Last seen"), ("detail", "Detail"))

    def show_state(self, state: Mapping[str, Any], now: float) -> None:
        devices = view.get(state, "devices", default={})
        rows: list[Row] = []
        if isinstance(devices, dict):
            # Devices in trouble first: at 80×24 only the top rows are visible.
            rank = {"bad": 0, "warn": 1, "ok": 2}
            valid = [(str(n), d) for n, d in devices.items() if isinstance(d, dict)]
            valid.sort(key=lambda nd: (rank[view.device_kind(nd[1].get("link"),
                                                             _errors(nd[1]))], nd[0]))
            for name, d in valid:
                link = d.get("link")
                errors = _errors(d)
                seen = d.get("last_seen")
                rows.append((str(name), (
                    str(name),
                    Text(view.link_text(link), style=STYLES[view.device_kind(link, errors)]),
                    str(errors),
                    view.ago(now - seen) if isinstance(seen, int | float) else view.DASH,
                    view.text(d.get("detail")),
                )))
        self.sync(rows)


def _errors(device: Mapping[str, Any]) -> int:
    errors = device.get("errors")
    return errors if isinstance(errors, int) else 0
