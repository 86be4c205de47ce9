"""The floor's state as plain data, for the store's periodic snapshot (pure).

A restart rebuilds the floor from the latest snapshot and the inputs recorded after it,
instead of every input of the session: a long session restarts as fast as a short one. A
snapshot is only valid for the rules it was taken under (seats, roles, limits, agenda, the
configured start mode): `fingerprint` names them, and a snapshot under other rules is ignored
(the full replay decides, skipping what no longer applies, as before).
"""

from __future__ import annotations

import hashlib
from typing import Any

from councild.floor import FloorRules, FloorState, Speaker, Waiting
from councild.model import Mode

VERSION = 1


def fingerprint(rules: FloorRules, initial: FloorState) -> str:
    """Names the rules and the initial state; equal iff replaying would give the same."""
    text = f"v{VERSION}|{rules!r}|{initial!r}"
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def state_to_dict(state: FloorState) -> dict[str, Any]:
    return {
        "mode": state.mode.value,
        "max_open": state.max_open,
        "speakers": [[s.seat, s.since, s.warned, s.over] for s in state.speakers],
        "queue": [[w.seat, w.since] for w in state.queue],
        "reply_queue": [[w.seat, w.since] for w in state.reply_queue],
        "priority": state.priority,
        "priority_seat": state.priority_seat,
        "agenda": state.agenda,
    }


def state_from_dict(data: dict[str, Any]) -> FloorState:
    """The state back; ValueError/KeyError/TypeError for data that is not a snapshot."""
    return FloorState(
        mode=Mode(data["mode"]),
        max_open=int(data["max_open"]),
        speakers=tuple(Speaker(str(seat), float(since), bool(warned), bool(over))
                       for seat, since, warned, over in data["speakers"]),
        queue=tuple(Waiting(str(seat), float(since)) for seat, since in data["queue"]),
        reply_queue=tuple(Waiting(str(seat), float(since))
                          for seat, since in data["reply_queue"]),
        priority=bool(data["priority"]),
        priority_seat=None if data["priority_seat"] is None else str(data["priority_seat"]),
        agenda=int(data["agenda"]),
    )
