"""What the page shows, from the daemon's state (pure)."""

from __future__ import annotations

from councild.join.status import seat_status


def state(**kw: object) -> dict:
    base: dict = {"speaking": [], "waiting": [], "remote_muted": False}
    base.update(kw)
    return base


def test_muted_waiting_speaking() -> None:
    assert seat_status(state(), "R7", True)["status"] == "muted"
    waiting = state(waiting=[{"seat": "3"}, {"seat": "R7"}])
    s = seat_status(waiting, "R7", True)
    assert (s["status"], s["position"]) == ("waiting", 2)
    speaking = state(speaking=[{"seat": "R7", "elapsed": 30.04, "limit": 180, "over": False}])
    s = seat_status(speaking, "R7", True)
    assert (s["status"], s["remaining"], s["limit"], s["over"]) == ("speaking", 150.0, 180, False)


def test_no_limit_no_remaining_and_over() -> None:
    s = seat_status(state(speaking=[{"seat": "R7", "elapsed": 9, "limit": None}]), "R7", True)
    assert s["remaining"] is None and s["limit"] is None
    s = seat_status(state(speaking=[{"seat": "R7", "elapsed": 200, "limit": 180,
                                     "over": True}]), "R7", True)
    assert s["over"] is True and s["remaining"] == -20.0


def test_not_in_room_is_connecting_unless_the_floor_lists_them() -> None:
    assert seat_status(state(), "R7", False)["status"] == "connecting"
    assert seat_status(state(waiting=[{"seat": "R7"}]), "R7", False)["status"] == "waiting"
    assert seat_status(state(remote_muted=True), "R7", True)["all_muted"] is True


def test_refusals_are_told_in_the_page_language() -> None:
    from councild.join.strings import refusal_reason

    assert refusal_reason("en", "already_queued") == "you are already on the list of speakers"
    assert refusal_reason("de", "already_queued") == "Sie stehen bereits auf der Redeliste"
    # a floor code the page has no text for still gets a sentence, never the technician's one
    assert refusal_reason("de", "agenda_end") == "Die Wortmeldung wurde nicht angenommen"
