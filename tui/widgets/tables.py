"""Tables of seats: the roster, the speakers, the queue; and the device health table.

Each is a LineTable fed whole rows by its screen. Rows are keyed (by seat id or device name)
and only cells whose text changed are written, so a new state — or a 20 Hz meter update —
repaints what changed and keeps the technician's cursor on the same seat.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rich.text import Text

from councild.i18n import N_
from tui import view
from tui.widgets.linetable import Cell, LineTable, Row

# Compact (below WIDE_COLUMNS terminal columns) and wide cuts for names and labels: the
# compact ones make the roster, speakers and queue fit side by side in 80 columns.
WIDE_COLUMNS = 140
NAME_WIDTH = {True: 13, False: 26}
LABEL_WIDTH = {True: 5, False: 10}
SPEAKER_NAME_WIDTH = {True: 11, False: 24}
LEVEL_WIDTH = {True: 4, False: 10}
LEVEL_COLUMN = 4  # index of "level" in SeatTable.COLUMNS

# Emphasis that reads in light and dark themes alike, and always comes with words/symbols.
STYLES = {"ok": "", "warn": "bold", "over": "bold reverse", "bad": "bold reverse"}


def _cut(value: str, width: int) -> str:
    return value if len(value) <= width else value[: width - 1] + "…"


class KeyedTable(LineTable):
    """The common base of the TUI's tables (seat lists and devices)."""


class SeatTable(KeyedTable):
    """The roster: every seat with its mic state, voice activity and a live level bar."""

    COLUMNS = (
        ("label", N_("Seat")),
        ("name", N_("Councillor")),
        ("party", N_("Party")),
        ("mic", N_("Mic")),
        ("level", N_("Level")),
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
        bars = {}
        for seat_id, dbfs in levels.items():
            if seat_id not in self._levels or self._levels[seat_id] == dbfs:
                continue
            self._levels[seat_id] = dbfs
            bars[seat_id] = view.level_bar(dbfs, LEVEL_WIDTH[self.compact])
        self.set_column(LEVEL_COLUMN, bars)

    def _row(self, seat: dict[str, Any]) -> Row:
        seat_id = str(seat.get("id"))
        label = _cut(str(seat.get("label") or seat_id), LABEL_WIDTH[self.compact])
        if seat.get("remote"):
            bridge = seat.get("bridge")
            # a remote councillor who is not in the video room cannot be given the floor
            away = isinstance(bridge, dict) and not bridge.get("present")
            label += " ⇄✕" if away else " ⇄"
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

    COLUMNS = (("label", N_("Seat")), ("name", N_("Speaker")), ("time", N_("Time")),
               ("limit", N_("Limit")))

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

    COLUMNS = (("pos", "#"), ("label", N_("Seat")), ("name", N_("Waiting")),
               ("wait", N_("Since")))

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

    COLUMNS = (("name", N_("Device")), ("link", N_("Link")), ("errors", N_("Err")),
               ("seen", N_("Last seen")), ("detail", N_("Detail")))

    def show_state(self, state: Mapping[str, Any], now: float) -> None:
        devices = view.get(state, "devices", default={})
        rows: list[Row] = []
        if isinstance(devices, dict):
            # Devices in trouble first: at 80×24 only the top rows are visible.
            rank = {"bad": 0, "warn": 1, "ok": 2}
            valid = [(str(n), d) for n, d in devices.items() if isinstance(d, dict)]
            valid.sort(key=lambda nd: (rank[_kind(nd[1])], nd[0]))
            for name, d in valid:
                link = d.get("link")
                errors = _errors(d)
                seen = d.get("last_seen")
                rows.append((str(name), (
                    str(name),
                    Text(view.link_text(link), style=STYLES[_kind(d)]),
                    str(errors),
                    view.ago(now - seen) if isinstance(seen, int | float) else view.DASH,
                    view.device_detail(d),
                )))
        self.sync(rows)


def _kind(device: Mapping[str, Any]) -> str:
    return view.device_kind(device.get("link"), _errors(device), bool(device.get("warning")))


def _errors(device: Mapping[str, Any]) -> int:
    errors = device.get("errors")
    return errors if isinstance(errors, int) else 0
