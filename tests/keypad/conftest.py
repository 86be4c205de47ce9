from __future__ import annotations

from councild.model import DeviceStatus, Event, KeyPressed, Link


class Recorder:
    """Collects what a driver emits."""

    def __init__(self) -> None:
        self.events: list[Event] = []

    def __call__(self, event: Event) -> None:
        self.events.append(event)

    def keys(self) -> list[tuple[str, bool]]:
        return [(e.key, e.pressed) for e in self.events if isinstance(e, KeyPressed)]

    def links(self) -> list[Link]:
        return [e.link for e in self.events if isinstance(e, DeviceStatus)]

    def connected_count(self) -> int:
        links = self.links()
        return sum(1 for a, b in zip([None, *links], links, strict=False)
                   if b is Link.CONNECTED and a is not Link.CONNECTED)
