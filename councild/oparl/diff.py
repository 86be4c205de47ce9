"""What a re-import would change in the session file: meeting, agenda items (matched by
their OParl id, else by id), councillors (OParl person id, else id) and seating. A hand edit
in the file shows up here too, so it is never overwritten without being seen."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from councild.i18n import _
from councild.labels import agenda_label


def _norm(v: Any) -> Any:
    return v.isoformat() if hasattr(v, "isoformat") else v


def _keyed(rows: Sequence[Mapping[str, Any]]) -> dict[str, Mapping[str, Any]]:
    return {str(r.get("oparl_id") or r.get("id")): r for r in rows if isinstance(r, Mapping)}


def _item(r: Mapping[str, Any]) -> str:
    return agenda_label(str(r.get("number", "")), str(r.get("title", "")))


def diff(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    lines: list[str] = []
    s_old, s_new = old.get("session") or {}, new.get("session") or {}
    for k in ("title", "date", "start"):
        if _norm(s_old.get(k)) != _norm(s_new.get(k)):
            lines.append(f"~ session.{k}: {_norm(s_old.get(k))!s} → {_norm(s_new.get(k))!s}")

    a_old, a_new = _keyed(old.get("agenda") or []), _keyed(new.get("agenda") or [])
    for k, r in a_old.items():
        if k not in a_new:
            lines.append(_("- agenda: {item}").format(item=_item(r)))
    for k, r in a_new.items():
        before = a_old.get(k)
        if before is None:
            lines.append(_("+ agenda: {item}").format(item=_item(r)))
            continue
        for field in ("number", "title", "public", "id"):
            if before.get(field) != r.get(field):
                lines.append(f"~ agenda {_item(r)}: {field} {before.get(field)!r} → "
                             f"{r.get(field)!r}")
    order_old = [k for k in a_old if k in a_new]
    order_new = [k for k in a_new if k in a_old]
    if order_old != order_new:
        lines.append(_("~ agenda: the order of the items changed"))

    c_old, c_new = _keyed(old.get("councillors") or []), _keyed(new.get("councillors") or [])
    for k, r in c_old.items():
        if k not in c_new:
            lines.append(_("- councillor: {name}").format(name=r.get("name")))
    for k, r in c_new.items():
        before = c_old.get(k)
        if before is None:
            lines.append(_("+ councillor: {name} ({party})").format(
                name=r.get("name"), party=r.get("party") or "–"))
            continue
        for field in ("name", "party", "role", "id"):
            if before.get(field) != r.get(field):
                lines.append(f"~ councillor {r.get('name')}: {field} {before.get(field)!r} → "
                             f"{r.get(field)!r}")

    seat_old, seat_new = old.get("seating") or {}, new.get("seating") or {}
    for seat in sorted(set(seat_old) | set(seat_new), key=str):
        if seat_old.get(seat) != seat_new.get(seat):
            lines.append(f"~ seating.{seat}: {seat_old.get(seat) or '–'} → "
                         f"{seat_new.get(seat) or '–'}")
    if (old.get("parties") or {}) != (new.get("parties") or {}):
        lines.append(_("~ parties table changed"))
    return lines
