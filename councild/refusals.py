"""Refused floor inputs in the record, coalesced: a flood of the same refusal is one row.

A refused input changes nothing, but the record keeps it (who asked for what, and why not).
A page or script that repeats the same refused input thousands of times must not commit a
row each: the first is written, identical ones from the same source within `window` seconds
are counted, and the count goes into the next row written for that source
(`"repeats_before": n` — n identical refusals were not written one by one).
"""

from __future__ import annotations

from dataclasses import dataclass

WINDOW = 10.0


@dataclass
class _Last:
    key: tuple[str, ...]
    at: float
    repeats: int = 0


class RefusalCoalescer:
    def __init__(self, window: float = WINDOW, max_sources: int = 1000) -> None:
        self.window = window
        self.max_sources = max_sources
        self._last: dict[str, _Last] = {}
        self.suppressed = 0  # every refusal not written as its own row

    def admit(self, source: str, key: tuple[str, ...], now: float) -> int | None:
        """None: do not write this refusal (counted). Else write it, with the returned
        number of identical refusals before it that were not written."""
        last = self._last.get(source)
        if last is not None and last.key == key and now - last.at < self.window:
            last.repeats += 1
            self.suppressed += 1
            return None
        repeats = last.repeats if last is not None else 0
        if last is None and len(self._last) >= self.max_sources:
            self._last.pop(next(iter(self._last)))
        self._last[source] = _Last(key, now)
        return repeats
