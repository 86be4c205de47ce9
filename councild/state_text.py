"""The daemon's state as a few lines of text: `councild ctl state` and the demo print it.

Pure text from the control API's state message (a dict, as the client receives it), like
councild/log_text.py for events and councild/broadcast_text.py for the broadcast.
"""

from __future__ import annotations

from typing import Any

from councild.broadcast_text import broadcast_lines
from councild.i18n import _


def format_state(state: dict[str, Any]) -> str:
    names = {s["id"]: s for s in state["seats"]}

    def who(seat: str) -> str:
        s = names.get(seat, {})
        return f"{s.get('label', seat)} {s.get('name', '')}".strip()

    agenda = state.get("agenda")
    lines = [
        _("mode {mode}, max {n} open{prio}").format(
            mode=state["mode"], n=state["max_open"],
            prio=_(", CHAIR PRIORITY") if state["priority"] else ""),
        _("agenda: {item}").format(item=(agenda["label"] if agenda.get("number") else
                                         f"{agenda['id']} {agenda['title']}")
                                   if agenda else "–"),
    ]
    talking = {s["id"] for s in state["seats"] if s["talking"]}
    speaking = [f"{who(sp['seat'])} ({sp['elapsed']:.0f}s{'!' if sp['over'] else ''})"
                + (_(" talking") if sp["seat"] in talking else "")
                for sp in state["speaking"]]
    lines.append(_("speaking: {list}").format(list=", ".join(speaking) or "–"))
    lines.append(_("waiting: {list}").format(
        list=", ".join(("↩ " if w["reply"] else "") + who(w["seat"]) for w in state["waiting"])
        or "–"))
    program = state.get("program")
    if program:
        lower = program.get("lower_third")
        lines.append(_("on air: {scene}{lower}{flags}").format(
            scene=program.get("scene") or "–",
            lower=f" — {lower['name']}, {lower['detail']}" if lower else "",
            flags=(_(" [locked]") if program.get("locked") else "")
            + (_(" [dry run: OBS not connected]") if program.get("dry_run") else "")))
    broadcast = state.get("broadcast")
    if broadcast:
        lines.extend(broadcast_lines(broadcast))
    for name, d in state["devices"].items():
        lines.append(_("device {name}: {link} {detail}").format(
            name=name, link=d["link"], detail=d["detail"]).rstrip())
    return "\n".join(lines)
