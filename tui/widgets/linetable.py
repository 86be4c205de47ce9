"""A keyed table drawn with Textual's line API: cheap enough to repaint meters at 20 Hz.

DataTable re-renders every visible cell through Rich whenever any cell changes (its caches
are keyed by a table-wide update counter); with a 100-seat roster and a level per seat 20
times a second that cost half a core. Here each row is one cached Strip built from plain
segments, a changed row rebuilds only its own Strip, and only that screen line is refreshed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import lru_cache
from typing import ClassVar

from rich.cells import cell_len, set_cell_size
from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual import events
from textual.binding import Binding, BindingType
from textual.geometry import Size
from textual.scroll_view import ScrollView
from textual.strip import Strip

from councild.i18n import _

Cell = str | Text
Row = tuple[str, Sequence[Cell]]


@lru_cache(maxsize=64)
def _style(name: str) -> Style:
    return Style.parse(name) if name else Style()


def _cell(cell: Cell) -> tuple[str, str]:
    if isinstance(cell, Text):
        return cell.plain, str(cell.style or "")
    return cell, ""


class LineTable(ScrollView, can_focus=True):
    """Rows are replaced as a whole list (keyed); only changed rows are redrawn."""

    COLUMNS: ClassVar[tuple[tuple[str, str], ...]] = ()  # (key, title); titles go through _()

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up", "cursor(-1)", show=False),
        Binding("down", "cursor(1)", show=False),
        Binding("pageup", "page(-1)", show=False),
        Binding("pagedown", "page(1)", show=False),
        Binding("home", "jump(0)", show=False),
        Binding("end", "jump(-1)", show=False),
    ]

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "line-table--header", "line-table--cursor", "line-table--cursor-blurred",
    }

    DEFAULT_CSS = """
    LineTable {
        background: $surface;
        color: $foreground;
        height: 1fr;
        overflow-x: hidden;
        & > .line-table--header { text-style: bold; background: $panel; color: $foreground; }
        & > .line-table--cursor-blurred {
            background: $block-cursor-blurred-background;
            color: $block-cursor-blurred-foreground;
        }
        & > .line-table--cursor {
            background: $block-cursor-background;
            color: $block-cursor-foreground;
            text-style: bold;
        }
    }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._order: list[str] = []
        self._index: dict[str, int] = {}  # key → row
        self._cells: dict[str, list[Cell]] = {}
        self._widths: list[int] = [cell_len(_(t)) for _k, t in self.COLUMNS]
        self._strips: dict[str, Strip] = {}  # rendered rows (without cursor), by key
        self.cursor_row = 0
        self.compact = True

    # --- the API the screen uses ---------------------------------------------------------------

    @property
    def selected_key(self) -> str | None:
        if 0 <= self.cursor_row < len(self._order):
            return self._order[self.cursor_row]
        return None

    @property
    def row_count(self) -> int:
        return len(self._order)

    def get_row(self, key: str) -> list[Cell]:
        return list(self._cells[key])

    def set_compact(self, compact: bool) -> bool:
        """Switch cut widths; True if it changed (the caller then shows the state again)."""
        if compact == self.compact:
            return False
        self.compact = compact
        self._order = []  # forces a full rebuild, column widths included
        return True

    def sync(self, rows: Sequence[Row]) -> None:
        order = [key for key, _cells in rows]
        if order != self._order:
            selected = self.selected_key
            self._order = order
            self._index = {key: i for i, key in enumerate(order)}
            self._cells = {key: list(cells) for key, cells in rows}
            self._widths = [cell_len(_(t)) for _k, t in self.COLUMNS]
            for cells in self._cells.values():
                self._grow(cells)
            self._strips.clear()
            self.cursor_row = order.index(selected) if selected in order else min(
                self.cursor_row, max(0, len(order) - 1))
            self.virtual_size = Size(self.size.width, len(order) + 1)
            self.refresh()
            return
        for key, cells in rows:
            if self._cells[key] != list(cells):
                self._set_row(key, list(cells))

    def set_column(self, column: int, values: Mapping[str, Cell]) -> None:
        """New values for one column (the meter path): one repaint, and only if a changed
        row is on screen; unchanged rows keep their cached strips."""
        top = self.scroll_offset.y
        bottom = top + self.size.height - 1
        visible = grew = False
        for key, value in values.items():
            cells = self._cells.get(key)
            if cells is None or cells[column] == value:
                continue
            cells[column] = value  # rows are private copies (see sync)
            self._strips.pop(key, None)
            width = cell_len(_cell(value)[0])
            if width > self._widths[column]:
                self._widths[column] = width
                grew = True
            if not visible and top <= self._index[key] < bottom:
                visible = True
        if grew:
            self._strips.clear()
        if grew or visible:
            self.refresh()

    def select_key(self, key: str) -> bool:
        if key not in self._cells:
            return False
        self._move_to(self._index[key])
        return True

    # --- drawing --------------------------------------------------------------------------------

    def _grow(self, cells: Sequence[Cell]) -> bool:
        grew = False
        for i, cell in enumerate(cells):
            width = cell_len(_cell(cell)[0])
            if width > self._widths[i]:
                self._widths[i] = width
                grew = True
        return grew

    def _set_row(self, key: str, cells: list[Cell]) -> None:
        self._cells[key] = cells
        if self._grow(cells):
            self._strips.clear()  # a column widened: every row moves
            self.refresh()
            return
        self._strips.pop(key, None)
        index = self._index[key]
        self.refresh_line(index + 1)

    def _line(self, cells: Sequence[Cell], base: Style) -> Strip:
        segments = []
        for cell, width in zip(cells, self._widths, strict=True):
            text, style = _cell(cell)
            if "reverse" not in style:
                segments.append(Segment(" " + set_cell_size(text, width) + " ",
                                        base + _style(style) if style else base))
                continue
            # Reverse video on the words only, not on the padding around them.
            text = set_cell_size(text, min(width, cell_len(text)))
            segments.append(Segment(" ", base))
            segments.append(Segment(text, base + _style(style)))
            segments.append(Segment(" " * (width - cell_len(text) + 1), base))
        return Strip(segments)

    def render_line(self, y: int) -> Strip:
        width = self.size.width
        base = self.rich_style
        if y == 0:
            header = self.get_component_rich_style("line-table--header")
            titles = [_(t) for _k, t in self.COLUMNS]
            return self._line(titles, base + header).adjust_cell_length(width, base + header)
        index = self.scroll_offset.y + y - 1
        if index >= len(self._order):
            return Strip.blank(width, base)
        key = self._order[index]
        if index == self.cursor_row:
            name = "line-table--cursor" if self.has_focus else "line-table--cursor-blurred"
            style = base + self.get_component_rich_style(name)
            return self._line(self._cells[key], style).adjust_cell_length(width, style)
        strip = self._strips.get(key)
        if strip is None or strip.cell_length != width:
            strip = self._line(self._cells[key], base).adjust_cell_length(width, base)
            self._strips[key] = strip
        return strip

    def on_resize(self, event: events.Resize) -> None:
        self._strips.clear()
        self.virtual_size = Size(event.size.width, len(self._order) + 1)

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._strips.clear()  # theme change: cached rows carry the old colours

    def _on_focus(self, event: events.Focus) -> None:
        self.refresh_line(self.cursor_row + 1)

    def _on_blur(self, event: events.Blur) -> None:
        self.refresh_line(self.cursor_row + 1)

    # --- the cursor -----------------------------------------------------------------------------

    def _move_to(self, row: int) -> None:
        if not self._order:
            return
        old = self.cursor_row
        self.cursor_row = max(0, min(row, len(self._order) - 1))
        self.refresh_line(old + 1)
        self.refresh_line(self.cursor_row + 1)
        # Keep the cursor visible below the header line.
        top = self.scroll_offset.y
        visible = max(1, self.size.height - 1)
        if self.cursor_row < top:
            self.scroll_to(y=self.cursor_row, animate=False)
        elif self.cursor_row >= top + visible:
            self.scroll_to(y=self.cursor_row - visible + 1, animate=False)

    def action_cursor(self, delta: int) -> None:
        self._move_to(self.cursor_row + delta)

    def action_page(self, direction: int) -> None:
        self._move_to(self.cursor_row + direction * max(1, self.size.height - 2))

    def action_jump(self, row: int) -> None:
        self._move_to(row if row >= 0 else len(self._order) - 1)

    def on_click(self, event: events.Click) -> None:
        offset = event.get_content_offset(self)  # below the border, where line 0 is the header
        if offset is not None and offset.y >= 1:
            self._move_to(self.scroll_offset.y + offset.y - 1)
