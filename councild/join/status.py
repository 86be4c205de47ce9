"""What the join page shows a councillor about themselves, from the daemon's state, pure."""

from __future__ import annotations

from typing import Any

__all__ = ["seat_status"]


def seat_status(state: dict[str, Any], seat: str, in_room: bool) -> dict[str, Any]:
    """The status message for the page of the councillor at remote seat `seat`.

    `state` is the daemon's state_dict. A councillor not (yet) in the room is "connecting"
    even if the floor lists them: the page cannot speak for them until it has joined.
    """
    status: dict[str, Any] = {"type": "status", "status": "muted", "position": None,
                              "remaining": None, "limit": None, "over": False,
                              "all_muted": bool(state.get("remote_muted")), "in_room": in_room}
    speaking = next((s for s in state.get("speaking", ()) if s.get("seat") == seat), None)
    waiting = [w.get("seat") for w in state.get("waiting", ())]
    if speaking is not None:
        status["status"] = "speaking"
        limit = speaking.get("limit")
        if limit:
            status["limit"] = limit
            status["remaining"] = round(limit - float(speaking.get("elapsed", 0.0)), 1)
        status["over"] = bool(speaking.get("over"))
    elif seat in waiting:
        status["status"] = "waiting"
        status["position"] = waiting.index(seat) + 1
    if not in_room and status["status"] == "muted":
        status["status"] = "connecting"
    return status
