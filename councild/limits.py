"""Bounds for hostile input: connection caps, coalesced warnings, well-formed JSON values.

Every server councild runs (the control API over Unix and TCP, the join page) faces clients
it does not control: a frozen TUI, a script in a loop, someone on the join page's open port.
What they may cost is bounded here, so each server applies the same rules:

- a connection cap per listener and per client address (a refused connection costs one
  accept and one short reply, never a log line per connection);
- warnings about misbehaviour are coalesced: the first one is logged, later ones are counted
  and summed up at most once per interval;
- a request value is plain JSON: no NaN/Infinity, no lone surrogates (they cannot be written
  back as UTF-8), nesting at most `MAX_DEPTH` deep.
"""

from __future__ import annotations

import logging
import math
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

MAX_DEPTH = 32  # a request is flat; the state it gets back is a few levels deep


class CoalescedLog:
    """One logger line per `interval` for a kind of misbehaviour, however often it happens.

    `note()` counts one occurrence; the first after a quiet interval is logged at once (so a
    technician sees the start of an attack), the rest are summed up in one line when the
    interval has passed. The count is never lost: `total` holds every occurrence.
    """

    def __init__(self, logger: logging.Logger, what: str, interval: float = 60.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._log = logger
        self._what = what
        self._interval = interval
        self._clock = clock
        self._since: float | None = None
        self._pending = 0
        self.total = 0

    def note(self, detail: str = "") -> None:
        self.total += 1
        now = self._clock()
        if self._since is None or now - self._since >= self._interval:
            if self._pending:
                self._log.warning("%s: %d more in the last %.0f s", self._what, self._pending,
                                  now - self._since if self._since is not None else 0.0)
            else:
                self._log.warning("%s%s", self._what, f" ({detail})" if detail else "")
            self._since = now
            self._pending = 0
            return
        self._pending += 1


class ConnectionCaps:
    """How many connections a listener holds, in all and per client address."""

    def __init__(self, total: int, per_address: int) -> None:
        self.total = total
        self.per_address = per_address
        self._by_address: Counter[str] = Counter()
        self.open = 0
        self.refused = 0

    def admit(self, address: str) -> bool:
        if self.open >= self.total or self._by_address[address] >= self.per_address:
            self.refused += 1
            return False
        self.open += 1
        self._by_address[address] += 1
        return True

    def release(self, address: str) -> None:
        self.open -= 1
        self._by_address[address] -= 1
        if self._by_address[address] <= 0:
            del self._by_address[address]


def reject_constant(name: str) -> Any:
    """`json.loads(parse_constant=...)`: NaN, Infinity and -Infinity are not JSON."""
    raise ValueError(f"{name} is not JSON")


def plain_json_problem(value: Any, max_depth: int = MAX_DEPTH) -> str | None:
    """Why a parsed value cannot be taken as a request (None when it can). Iterative: a
    deeply nested value must not exhaust the stack here either."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list):
            if depth > max_depth:
                return f"nested deeper than {max_depth} levels"
            children = list(item.items()) if isinstance(item, dict) else item
            for child in children:
                if isinstance(item, dict):
                    key, child_value = child
                    if not _encodable(key):
                        return "a string holds a lone surrogate"
                    stack.append((child_value, depth + 1))
                else:
                    stack.append((child, depth + 1))
        elif isinstance(item, str):
            if not _encodable(item):
                return "a string holds a lone surrogate"
        elif isinstance(item, float) and not math.isfinite(item):
            return "NaN and Infinity are not JSON"
    return None


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def raise_fd_limit(wanted: int = 4096) -> int:
    """Raise the soft descriptor limit toward the hard one (headroom for the caps above
    plus devices and the store); the soft limit now."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft != resource.RLIM_INFINITY and soft < target:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError):
            pass
    return int(soft)


class LoopErrors:
    """An event-loop exception handler that logs each kind of error once per interval.

    When descriptors run out, asyncio reports every failed accept with a traceback; so does
    a library whose callbacks fail per message. The first of a kind (its message and
    exception type) is logged in full, repeats within `interval` are counted and summed up
    with the next one logged."""

    def __init__(self, logger: logging.Logger, interval: float = 60.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._log = logger
        self._interval = interval
        self._clock = clock
        self._seen: dict[tuple[str, str], tuple[float, int]] = {}
        self.total = 0

    def __call__(self, loop: Any, context: dict[str, Any]) -> None:
        self.total += 1
        exc = context.get("exception")
        key = (str(context.get("message", "")), type(exc).__name__)
        now = self._clock()
        last = self._seen.get(key)
        if last is not None and now - last[0] < self._interval:
            self._seen[key] = (last[0], last[1] + 1)
            return
        repeats = last[1] if last is not None else 0
        if len(self._seen) > 100:
            self._seen.clear()
        self._seen[key] = (now, 0)
        if repeats:
            context = {**context, "message": f"{key[0]} ({repeats} more like it before)"}
        loop.default_exception_handler(context)
