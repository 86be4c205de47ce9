"""Who may open the join page: token lookup and the join-attempt limit, pure.

Tokens are compared with `hmac.compare_digest` against every configured token, so neither
which councillor matched nor how much of a guess was right shows in the time taken. The limit
counts unknown tokens per client address: past `max_failures` within the window, that address
gets nothing (not even with a valid token) until the window has passed; the same holds per
network and for the whole server with larger budgets, so rotating addresses does not help.
"""

from __future__ import annotations

import hmac
import ipaddress
from collections import deque
from collections.abc import Mapping

from councild.errors import ConfigError

__all__ = ["MIN_TOKEN_LENGTH", "FailureLimiter", "TokenBook"]

# `councild tokens` makes 32 characters (~190 bits); 20 is the least the page accepts.
MIN_TOKEN_LENGTH = 20
MAX_TRACKED = 10_000  # addresses remembered at most: a flood of addresses cannot fill memory


class TokenBook:
    """Join token → councillor id."""

    def __init__(self, tokens: Mapping[str, str], source: str = "<tokens>") -> None:
        short = [(cid, f"token shorter than {MIN_TOKEN_LENGTH} characters; "
                       "make a new one with `councild tokens --rotate`")
                 for cid, token in tokens.items() if len(token) < MIN_TOKEN_LENGTH]
        if short:
            raise ConfigError(source, short)
        self._entries = [(token.encode(), cid) for cid, token in tokens.items()]

    def __len__(self) -> int:
        return len(self._entries)

    def lookup(self, token: str) -> str | None:
        given = token.encode("utf-8", "replace")
        found = None
        for known, cid in self._entries:  # no early exit: the time does not say which matched
            if hmac.compare_digest(known, given):
                found = cid
        return found


# Rotating source addresses must not multiply the limit: failures also count per network
# (/24 for IPv4, /64 for IPv6) with PREFIX_FACTOR times the budget, and for the whole server
# with GLOBAL_FACTOR times it. A server-wide lock-out refuses page loads for up to a window;
# it only happens under a guessing attack from many networks. An address that has shown a
# valid token in this run is held only to its own budget: a councillor who joined keeps
# reconnecting while someone else guesses.
PREFIX_FACTOR = 4
GLOBAL_FACTOR = 30


def network_of(address: str) -> str:
    """The /24 (IPv4) or /64 (IPv6) an address is in; the address itself if it is neither."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    bits = 24 if ip.version == 4 else 64
    return "net:" + str(ipaddress.ip_network(f"{ip}/{bits}", strict=False))


class FailureLimiter:
    """Unknown-token attempts per client address, per network and in all, within a sliding
    window."""

    def __init__(self, max_failures: int, window: float = 60.0) -> None:
        self.max_failures = max_failures
        self.window = window
        self._failures: dict[str, deque[float]] = {}
        self._trusted: dict[str, None] = {}  # addresses that showed a valid token (ordered)

    def succeeded(self, address: str) -> None:
        """`address` presented a valid token."""
        self._trusted.pop(address, None)
        self._trusted[address] = None
        if len(self._trusted) > MAX_TRACKED:
            del self._trusted[next(iter(self._trusted))]

    def _keys(self, address: str) -> list[tuple[str, int]]:
        return [(address, self.max_failures),
                (network_of(address), self.max_failures * PREFIX_FACTOR),
                ("*", self.max_failures * GLOBAL_FACTOR)]

    def blocked(self, address: str, now: float) -> bool:
        keys = self._keys(address)
        if address in self._trusted:
            keys = keys[:1]
        return any(self._over(key, limit, now) for key, limit in keys)

    def failed(self, address: str, now: float) -> None:
        for key, _limit in self._keys(address):
            self._failed(key, now)

    def _over(self, address: str, limit: int, now: float) -> bool:
        times = self._failures.get(address)
        if times is None:
            return False
        while times and times[0] <= now - self.window:
            times.popleft()
        if not times:
            del self._failures[address]
            return False
        return len(times) >= limit

    def _failed(self, address: str, now: float) -> None:
        if address not in self._failures and len(self._failures) >= MAX_TRACKED:
            self._forget_oldest(now)
        times = self._failures.setdefault(address, deque())
        times.append(now)
        while len(times) > self.max_failures * GLOBAL_FACTOR:  # memory: only the count matters
            times.popleft()

    def _forget_oldest(self, now: float) -> None:
        stale = [a for a, t in self._failures.items() if not t or t[-1] <= now - self.window]
        for address in stale:
            del self._failures[address]
        if len(self._failures) >= MAX_TRACKED:  # all recent: drop the quietest
            del self._failures[min(self._failures, key=lambda a: self._failures[a][-1])]
