"""Who sits where: the chamber's seat plan (OParl person id or name → seat id) applied to
the imported councillors. Nobody is placed by guessing: a councillor the plan does not name
stays unseated (and is listed), a seat whose councillor is no longer in the body is reported.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any


def _key(text: str) -> str:
    return " ".join(text.casefold().split())


@dataclass
class Placement:
    seating: dict[str, str] = field(default_factory=dict)  # seat id → councillor id
    unseated: list[str] = field(default_factory=list)  # councillor names
    vacated: list[tuple[str, str]] = field(default_factory=list)  # (seat id, plan entry)
    doubled: list[tuple[str, str]] = field(default_factory=list)  # (seat id, name) not placed


def place(councillors: Sequence[Mapping[str, Any]], seat_plan: Mapping[str, str]) -> Placement:
    """`councillors` as the session file holds them (id, name, oparl_id)."""
    by_key: dict[str, Mapping[str, Any]] = {}
    for c in councillors:
        if c.get("oparl_id"):
            by_key[str(c["oparl_id"])] = c
    for c in councillors:
        by_key.setdefault(_key(str(c["name"])), c)
    out = Placement()
    seated: set[str] = set()
    for entry, seat in seat_plan.items():
        c = by_key.get(entry) or by_key.get(_key(entry))
        if c is None:
            out.vacated.append((seat, entry))
            continue
        if seat in out.seating or c["id"] in seated:
            out.doubled.append((seat, str(c["name"])))
            continue
        out.seating[seat] = str(c["id"])
        seated.add(str(c["id"]))
    out.unseated = [str(c["name"]) for c in councillors if c["id"] not in seated]
    return out
