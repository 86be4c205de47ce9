"""Messages the daemon link posts to the app (see tui/link.py)."""

from __future__ import annotations

from typing import Any

from textual.message import Message


class Attached(Message):
    """A (re)subscription succeeded: the whole state and the recent event log."""

    def __init__(self, state: dict[str, Any], log: list[dict[str, Any]]) -> None:
        super().__init__()
        self.state = state
        self.log = log


class StateChanged(Message):
    """The daemon pushed a new state. Only the newest matters, so a queued one is replaced."""

    def __init__(self, state: dict[str, Any]) -> None:
        super().__init__()
        self.state = state

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, StateChanged)


class LogAppended(Message):
    """One event-log entry; every one counts, so these are never merged."""

    def __init__(self, entry: dict[str, Any]) -> None:
        super().__init__()
        self.entry = entry


class LevelsChanged(Message):
    """New seat levels are waiting in the link (take them with `DaemonLink.take_levels`).

    The link posts at most one of these until the app has taken the levels, so a 20 Hz meter
    stream cannot pile up in the message queue however slow the terminal is.
    """

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, LevelsChanged)


class Disconnected(Message):
    """The daemon is not reachable; the link retries after `retry_in` seconds."""

    def __init__(self, reason: str, retry_in: float, attempt: int) -> None:
        super().__init__()
        self.reason = reason
        self.retry_in = retry_in
        self.attempt = attempt
