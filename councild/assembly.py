"""Assembly: config.toml (the schema, councild/config.py) turned into the core's objects.

Everything that reads a validated configuration and builds what the pure core runs on lives
here, in one place: the roster and the floor rules, the director's configuration, the join
token book. It also holds the checks that need those objects (does the director accept its
rules? is the tokens file readable and long enough?), so `load` and `parse` here are the
configuration as the daemon will run it; `councild.config.load` alone is the schema.

Pure: no asyncio and nothing from devices/, scenes/ or tui/ (tests/core/test_imports.py).
The schema module never imports this one; this one imports the schema.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Sequence
from functools import partial
from pathlib import Path
from typing import Any

from councild import config as cfg
from councild import director as d
from councild.config import Config, Problem
from councild.errors import ConfigError, FloorError
from councild.floor import AgendaEntry, FloorRules
from councild.i18n import N_, _
from councild.join.access import TokenBook
from councild.model import Role, SeatId

__all__ = [
    "REMOTE_SHOT",
    "director_config",
    "load",
    "load_tokens",
    "lower_third_detail",
    "parse",
    "problems",
    "roster_from_config",
    "rules_from_roster",
]

# --- the configuration as the daemon will run it --------------------------------------------


def load(path: str | os.PathLike[str], session: str | os.PathLike[str] | None = None, *,
         check_tokens: bool = True) -> Config:
    """`councild.config.load` and the assembly's own checks; ConfigError lists every problem.
    `check_tokens=False` leaves out the tokens file (`councild tokens` writes the first)."""
    return cfg.load(path, session, checks=(partial(problems, check_tokens=check_tokens),))


def parse(text: str, path: str = "<config>", *, check_tokens: bool = True) -> Config:
    """`councild.config.parse` and the assembly's own checks (see `load`)."""
    return cfg.parse(text, path, checks=(partial(problems, check_tokens=check_tokens),))


def problems(config: Config, found: Sequence[Problem], *,
             check_tokens: bool = True) -> list[Problem]:
    """What the schema cannot see: the tokens file as the join page will read it (at start,
    not only at the first join), and the director's refusal of its rules. The director is
    asked only of a configuration without other problems: it would repeat them."""
    out: list[Problem] = []
    tokens_file = config.bridge.tokens_file
    if check_tokens and config.join.enabled and tokens_file is not None:
        try:
            TokenBook(load_tokens(tokens_file), str(tokens_file))
        except ConfigError as exc:
            out += [("bridge.tokens_file", f"{tokens_file}: {key}: {reason}")
                    for key, reason in exc.problems]
    if not found and not out:
        try:
            director_config(config)
        except FloorError as exc:
            out.append(("director", exc.message))
    return out


# --- the join token book ----------------------------------------------------------------------


def load_tokens(path: Path | None) -> dict[str, str]:
    """councillor id → join token, from a file only the daemon's user may read."""
    if path is None:
        return {}
    try:
        if path.stat().st_mode & 0o077:
            raise ConfigError(str(path), [("(file)", "readable by other users; chmod 600")])
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(str(path), [("(file)", exc.strerror or str(exc))]) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(str(path), [("(syntax)", str(exc))]) from None
    return {str(k): str(v) for k, v in data.items()}


# --- the roster and the floor rules -----------------------------------------------------------
# The roster is who sits where, as a plain dict: it is saved with each session, so a session's
# record can be read (exported, replayed) with the seats and names it had, even after
# config.toml has changed. The floor rules are built from the roster, never from the config.


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


# --- the director's configuration -------------------------------------------------------------

REMOTE_SHOT = "remote:"  # director shot of a remote seat: "remote:<seat id>"
ROLE_LABELS = {Role.CHAIR: N_("Chair"), Role.CLERK: N_("Clerk"), Role.GUEST: "", Role.MEMBER: ""}


def lower_third_detail(party: str, role: Role) -> str:
    label = ROLE_LABELS[role]
    return " · ".join(x for x in (_(label) if label else "", party) if x)


def director_config(config: Config) -> d.DirectorConfig | None:
    """The director's view of config.toml; None when no shots are configured."""
    if not config.shots or config.director.wide is None:
        return None
    users: dict[str, list[SeatId]] = {}
    for seat in config.seats:
        if seat.shot is not None:
            users.setdefault(seat.shot, []).append(seat.id)
    shots: dict[str, d.Shot] = {}
    for name, shot in config.shots.items():
        lower: d.LowerThird | None = None
        seats = users.get(name, [])
        if shot.kind == "seat" and len(seats) == 1:  # a shot framing several seats names nobody
            seat = config.seat(seats[0])
            councillor = config.councillor(seat.councillor) if seat else None
            if seat is not None and councillor is not None:
                lower = d.LowerThird(
                    name=councillor.name,
                    detail=lower_third_detail(config.party_label(councillor.party),
                                              config.seat_role(seat)),
                )
        shots[name] = d.Shot(
            scene=shot.scene,
            kind=d.ShotKind(shot.kind),
            positions=tuple(d.Position(camera=p.camera, preset=p.preset)
                            for p in shot.all_positions()),
            lower_third=lower,
        )
    seat_shots = {s.id: s.shot for s in config.seats if s.shot is not None}
    if config.bridge.slots:
        for seat in config.seats:
            if not seat.remote or seat.shot is not None:
                continue
            councillor = config.councillor(seat.councillor)
            name = councillor.name if councillor else seat.label
            detail = " · ".join(x for x in (
                lower_third_detail(config.party_label(councillor.party), config.seat_role(seat))
                if councillor
                else "", _("remote")) if x)
            shots[REMOTE_SHOT + seat.id] = d.Shot(
                scene=config.bridge.slots[0],  # the slot actually used is chosen at the cut
                kind=d.ShotKind.SEAT, lower_third=d.LowerThird(name=name, detail=detail))
            seat_shots[seat.id] = REMOTE_SHOT + seat.id
    return d.DirectorConfig(
        shots=shots,
        seats=seat_shots,
        wide=config.director.wide,
        group=config.director.group,
        **config.director.rule_parameters(),
    )
