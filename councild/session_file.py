"""The session file beside the chamber config: what changes from one meeting to the next.

The chamber config holds the room (devices, seats with their microphones and shots, scenes,
director, OBS, API); a session file holds the meeting: `[session]` (title, date, start),
`[[agenda]]`, `[[councillors]]`, `[seating]` (seat id = councillor id) and `[parties]`
abbreviations. `merge_session` lays the session over the chamber before validation, so both
are checked as one configuration, and tells which file each key path of a problem is in.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable
from typing import Any

from councild.errors import ConfigError

# Tables a session file may hold; everything else belongs to the chamber.
SESSION_KEYS = ("session", "agenda", "councillors", "seating", "parties")

Where = Callable[[str], tuple[str, str]]


def merge_session(chamber: dict[str, Any], session: dict[str, Any], chamber_path: str,
                  session_path: str) -> tuple[dict[str, Any], Where]:
    """The merged raw configuration and a function that places a problem's key path."""
    problems: list[tuple[str, str]] = []
    for key in session:
        if key not in SESSION_KEYS:
            problems.append((key, f"does not belong in a session file (it holds "
                             f"{', '.join(SESSION_KEYS)}); put it in {chamber_path}"))
    merged = copy.deepcopy(chamber)
    table = session.get("session")
    if table is not None:
        if not isinstance(table, dict):
            problems.append(("session", "must be a table"))
        else:
            base = merged.get("session")
            merged["session"] = {**(base if isinstance(base, dict) else {}), **table}
    for key in ("agenda", "councillors"):
        if key in session:
            merged[key] = session[key]
    parties = session.get("parties")
    if parties is not None:
        if not isinstance(parties, dict):
            problems.append(("parties", "must be a table: full name = short name"))
        else:
            base = merged.get("parties")
            merged["parties"] = {**(base if isinstance(base, dict) else {}), **parties}
    seat_keys: dict[int, str] = {}  # seats[i] of the merged config → seating key
    seating = session.get("seating")
    if seating is not None:
        if not isinstance(seating, dict):
            problems.append(("seating", "must be a table: seat id = councillor id"))
        else:
            seats = merged.get("seats")
            seats = seats if isinstance(seats, list) else []
            index = {s.get("id"): i for i, s in enumerate(seats) if isinstance(s, dict)}
            for seat_id in seating:
                if seat_id not in index:
                    problems.append((f"seating.{seat_id}",
                                     f"no seat {seat_id!r} in {chamber_path}"))
            # The session's councillors replace the chamber's: so does who sits where.
            for seat_id, i in index.items():
                seats[i].pop("councillor", None)
                if seat_id in seating:
                    seats[i]["councillor"] = seating[seat_id]
                    seat_keys[i] = f"seating.{seat_id}"
    if problems:
        raise ConfigError(session_path, problems)

    def where(key: str) -> tuple[str, str]:
        head = re.split(r"[.\[]", key, maxsplit=1)[0]
        m = re.match(r"seats\[(\d+)\]\.councillor$", key)
        if m and int(m.group(1)) in seat_keys:
            return session_path, seat_keys[int(m.group(1))]
        if head in session and head in SESSION_KEYS:
            return session_path, key
        return chamber_path, key

    return merged, where
