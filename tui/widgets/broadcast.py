"""The broadcast panel (stream and recording at a glance) and the alarm banner above all."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rich.text import Text

from councild.broadcast_text import alarm_texts, record_line, stream_line
from tui.widgets.panels import TextPanel


def _broadcast(state: Mapping[str, Any]) -> Mapping[str, Any] | None:
    value = state.get("broadcast")
    return value if isinstance(value, dict) else None


class BroadcastPanel(TextPanel):
    """● LIVE 01:23:45 · 3.2 Mbit/s · 0.1 % dropped / ● REC 01:20:11 · 2.1 GB · 4 h left.
    Hidden while the daemon has no OBS (no broadcast in its state)."""

    def show_state(self, state: Mapping[str, Any]) -> None:
        broadcast = _broadcast(state)
        self.display = broadcast is not None
        if broadcast is None:
            return
        stream, record = stream_line(broadcast), record_line(broadcast)
        out = Text()
        out.append(stream, style="bold reverse" if stream.startswith(("● ", "↻ ")) else "")
        out.append("\n")
        out.append(record, style="bold" if record.startswith(("● ", "❚❚ ")) else "dim")
        self.show(out)


class AlarmBanner(TextPanel):
    """Every broadcast alarm in words, on a coloured bar that is shown only while one is
    raised: the stream stopped, reconnecting, dropping frames, disk running out, OBS gone."""

    def show_state(self, state: Mapping[str, Any]) -> None:
        texts = alarm_texts(_broadcast(state))
        self.display = bool(texts)
        self.show(Text("⚠ " + "  ⚠ ".join(texts), style="bold") if texts else Text())
