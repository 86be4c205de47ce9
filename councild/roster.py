"""Who sits where, as a plain dict: the link between config.toml, the floor and the store.

The roster is saved with each session, so a session's record can be read (exported, replayed)
with the seats and names it had, even after config.toml has changed.
"""

from __future__ import annotations

from typing import Any

from councild.config import Config
from councild.floor import AgendaEntry, FloorRules
from councild.model import Role


def roster_from_config(config: Config) -> dict[str, Any]:
    seats = []
    for seat in config.seats:
        councillor = config.councillor(seat.councillor)
        seats.append({
            "id": seat.id,
            "label": seat.label,
            "councillor": seat.councillor,
            "name": councillor.name if councillor else "",
            "party": config.party_label(councillor.party) if councillor else "",
            "role": config.seat_role(seat).value,
        })
    agenda = [
        {
            "id": item.id,
            "title": item.title,
            "number": item.number,
            "limits": {k: v for k, v in item.speaking_limit.model_dump().items() if v is not None},
        }
        for item in config.agenda
    ]
    return {
        "seats": seats,
        "agenda": agenda,
        "limits": config.floor.speaking_limit.model_dump(),
        "warning_before": config.floor.warning_before,
        "over_limit": config.floor.over_limit,
        "mode": config.floor.mode.value,
        "max_open": config.floor.max_open,
    }


def rules_from_roster(roster: dict[str, Any]) -> FloorRules:
    return FloorRules(
        seats={s["id"]: Role(s["role"]) for s in roster["seats"]},
        limits={Role(k): float(v) for k, v in roster["limits"].items()},
        warning_before=float(roster["warning_before"]),
        over_limit=roster["over_limit"],
        agenda=tuple(
            AgendaEntry(a["id"], a["title"], {Role(k): float(v) for k, v in a["limits"].items()},
                        a.get("number", ""))  # rosters recorded before numbers existed
            for a in roster["agenda"]
        ),
    )
