"""From an OParl Body to a councild session: the meeting, its agenda, the councillors of
its organization(s) on its date with their roles and parties, and where they sit.

`build_session` is pure (OParl objects in, the session file's tables out) and carries over
from the previous import what a person added by hand (ids, speaking limits); the async
functions around it fetch through the bounded client.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from councild.config import Config, OParlImport
from councild.i18n import _
from councild.oparl.client import NotFound, OParlClient, OParlError
from councild.oparl.model import (
    AgendaItem,
    Meeting,
    Membership,
    Organization,
    Person,
    kind,
    short_id,
)
from councild.oparl.seatplan import place

ID_RE = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
NON_PUBLIC = re.compile(r"^(nicht[\s-]*öffentlich|nichtöffentlich|non[\s-]*public)", re.I)
PUBLIC = re.compile(r"^(öffentlich|public)", re.I)


@dataclass
class Imported:
    """The session file's tables, and what the technician must be told."""

    session: dict[str, Any]
    agenda: list[dict[str, Any]]
    councillors: list[dict[str, Any]]
    seating: dict[str, str]
    parties: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    unseated: list[str] = field(default_factory=list)
    vacated: list[tuple[str, str]] = field(default_factory=list)

    def tables(self) -> dict[str, Any]:
        out: dict[str, Any] = {"session": self.session, "agenda": self.agenda,
                               "councillors": self.councillors, "seating": self.seating}
        if self.parties:
            out["parties"] = self.parties
        return out


# --- pure --------------------------------------------------------------------------------


def _slug(text: str) -> str:
    for a, b in (("ä", "ae"), ("ö", "oe"), ("ü", "ue"), ("ß", "ss"),
                 ("Ä", "Ae"), ("Ö", "Oe"), ("Ü", "Ue")):
        text = text.replace(a, b)
    import unicodedata

    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")[:48] or "x"


def _unique(base: str, taken: set[str]) -> str:
    candidate, n = base, 2
    while candidate in taken:
        candidate = f"{base}-{n}"
        n += 1
    taken.add(candidate)
    return candidate


def role_of(role: str, options: OParlImport) -> str:
    folded = role.casefold().strip()
    if folded in {r.casefold() for r in options.chair_roles}:
        return "chair"
    if folded in {r.casefold() for r in options.clerk_roles}:
        return "clerk"
    return "member"


def build_agenda(items: Sequence[AgendaItem],
                 previous: Sequence[Mapping[str, Any]] = ()) -> list[dict[str, Any]]:
    if items and all(i.order is not None for i in items):
        items = sorted(items, key=lambda i: i.order or 0)
    before = {str(p["oparl_id"]): p for p in previous if p.get("oparl_id")}
    taken: set[str] = set()
    public = True
    out = []
    for index, item in enumerate(items, 1):
        # Sternberg and others mark the parts of a meeting by header items ("A Öffentliche
        # Sitzung", "B Nichtöffentliche Sitzung") instead of `public`.
        if NON_PUBLIC.match(item.name):
            public = False
        elif PUBLIC.match(item.name):
            public = True
        old = before.get(item.id) if item.id else None
        if old is not None and isinstance(old.get("id"), str) and old["id"] not in taken:
            ident = old["id"]
            taken.add(ident)
        elif item.number and ID_RE.match(item.number) and item.number not in taken:
            ident = item.number
            taken.add(ident)
        else:
            ident = _unique(f"item-{index}", taken)
        entry: dict[str, Any] = {"id": ident, "number": item.number,
                                 "title": item.name or item.number or _("(untitled)"),
                                 "public": item.public if item.public is not None else public}
        if item.id:
            entry["oparl_id"] = item.id
        if old is not None and old.get("speaking_limit"):  # set by hand: kept
            entry["speaking_limit"] = old["speaking_limit"]
        out.append(entry)
    return out


def _party(person: Person, day: dt.date, via: Membership, orgs: Mapping[str, Organization],
           options: OParlImport) -> str:
    current = [m for m in person.memberships if m.covers(day)]
    for wanted in options.party_types:
        for m in current:
            org = orgs.get(m.organization)
            if org is not None and org.type.casefold() == wanted.casefold():
                return org.label
    if via.on_behalf_of:
        org = orgs.get(via.on_behalf_of)
        if org is not None:
            return org.label
    return ""


def build_councillors(meeting: Meeting, day: dt.date, persons: Sequence[Person],
                      orgs: Mapping[str, Organization], options: OParlImport,
                      previous: Sequence[Mapping[str, Any]] = ()) -> list[dict[str, Any]]:
    before = {str(p["oparl_id"]): p for p in previous if p.get("oparl_id")}
    order = {"chair": 0, "clerk": 1, "member": 2}
    rows = []
    seen: set[str] = set()
    for person in persons:
        if person.id in seen:  # a list page read twice by the server's own paging
            continue
        seen.add(person.id)
        current = [m for m in person.memberships
                   if m.organization in meeting.organizations and m.covers(day)]
        if not current:
            continue
        # Several memberships on the day ("Mitglied" and "Vorsitzender"): the highest role.
        m = min(current, key=lambda m: order[role_of(m.role, options)])
        rows.append((person, role_of(m.role, options), _party(person, day, m, orgs, options)))
    rows.sort(key=lambda r: (order[r[1]], r[0].family_name.casefold(), r[0].name.casefold()))
    taken = {str(p["id"]) for p in previous if p.get("oparl_id") in
             {r[0].id for r in rows} and isinstance(p.get("id"), str)}
    out = []
    for person, role, party in rows:
        old = before.get(person.id)
        ident = str(old["id"]) if old is not None and old.get("id") else _unique(
            _slug(person.name), taken)
        out.append({"id": ident, "name": person.name, "party": party, "role": role,
                    "oparl_id": person.id})
    return out


def build_session(meeting: Meeting, items: Sequence[AgendaItem], persons: Sequence[Person],
                  orgs: Mapping[str, Organization], chamber: Config | None = None,
                  previous: Mapping[str, Any] | None = None) -> Imported:
    if meeting.start is None:
        raise OParlError(_("the meeting has no start date"), meeting.id)
    options = chamber.oparl if chamber is not None else OParlImport()
    previous = previous or {}
    day = meeting.start.date()
    session: dict[str, Any] = {"title": meeting.name or _("Meeting of {date}").format(
        date=day.isoformat()), "date": day, "start": meeting.start, "oparl_id": meeting.id}
    agenda = build_agenda(items, previous.get("agenda") or [])
    councillors = build_councillors(meeting, day, persons, orgs, options,
                                    previous.get("councillors") or [])
    result = Imported(session, agenda, councillors, {})
    if meeting.cancelled:
        result.notes.append(_("the council information system marks this meeting cancelled"))
    if not agenda:
        result.notes.append(_("the agenda is empty: the council has not published it yet "
                              "(import again later)"))
    if not councillors:
        result.notes.append(_("no members found for the meeting's organization on {date}")
                            .format(date=day.isoformat()))
    missing_party = [c["name"] for c in councillors if not c["party"]]
    if missing_party:
        result.notes.append(_("no parliamentary group on {date} for: {names}").format(
            date=day.isoformat(), names=", ".join(missing_party)))
    if chamber is not None:
        placement = place(councillors, chamber.seat_plan)
        result.seating = placement.seating
        result.unseated = placement.unseated
        result.vacated = placement.vacated
        for seat, name in placement.doubled:
            result.notes.append(_("seat plan: seat {seat} given twice; {name} left "
                                  "unseated").format(seat=seat, name=name))
        # Hand-made seating of the previous import wins for councillors still present.
        present = {c["id"] for c in councillors}
        for seat, cid in (previous.get("seating") or {}).items():
            if cid in present and cid not in result.seating.values() \
                    and seat not in result.seating and any(s.id == seat for s in chamber.seats):
                result.seating[seat] = cid
        seated = set(result.seating.values())
        result.unseated = [c["name"] for c in councillors if c["id"] not in seated]
    else:
        result.unseated = [c["name"] for c in councillors]
    return result


# --- fetching ----------------------------------------------------------------------------


async def find_body(client: OParlClient, url: str) -> dict[str, Any]:
    """The Body, from a System URL, a Body URL or a body list URL."""
    obj = await client.get(url)
    k = kind(obj)
    if k == "Body":
        return obj
    if k == "System":
        bodies = [b async for b in client.objects(obj.get("body"))]
    elif isinstance(obj.get("data"), list):
        bodies = [b async for b in client.objects(obj)]
    else:
        raise OParlError(_("not an OParl System or Body (type {type!r})").format(
            type=obj.get("type") or "?"), url)
    bodies = [b for b in bodies if kind(b) in ("Body", "")]
    if not bodies:
        raise OParlError(_("the OParl system lists no body"), url)
    return bodies[0]


async def organizations(client: OParlClient, body: dict[str, Any]) -> dict[str, Organization]:
    out = {}
    async for obj in client.objects(body.get("organization")):
        org = Organization.parse(obj)
        if org is not None:
            out[org.id] = org
    return out


async def meetings(client: OParlClient, body: dict[str, Any]) -> list[Meeting]:
    out = []
    async for obj in client.objects(body.get("meeting")):
        if kind(obj) not in ("Meeting", ""):
            continue
        meeting = Meeting.parse(obj)
        if meeting is not None:
            out.append(meeting)
    return out


async def persons(client: OParlClient, body: dict[str, Any]) -> list[Person]:
    out = []
    async for obj in client.objects(body.get("person")):
        memberships = []
        async for m in client.objects(obj.get("membership") or []):
            parsed = Membership.parse(m)
            if parsed is not None:
                memberships.append(parsed)
        person = Person.parse(obj, memberships)
        if person is not None:
            out.append(person)
    return out


def matches(meeting_id: str, wanted: str) -> bool:
    return meeting_id == wanted or short_id(meeting_id) == wanted


async def find_meeting(client: OParlClient, body: dict[str, Any], wanted: str) -> Meeting:
    if wanted.startswith(("http://", "https://")):
        try:
            obj = await client.get(wanted)
            meeting = Meeting.parse(obj)
            if meeting is not None and kind(obj) in ("Meeting", ""):
                return meeting
        except NotFound:
            pass  # some servers serve meetings only in the list: look there
    async for obj in client.objects(body.get("meeting")):
        if isinstance(obj.get("id"), str) and matches(obj["id"], wanted):
            meeting = Meeting.parse(obj)
            if meeting is not None:
                return meeting
    raise OParlError(_("no meeting {id} in this body").format(id=wanted))


async def agenda_items(client: OParlClient, meeting: Meeting) -> list[AgendaItem]:
    return [AgendaItem.parse(obj) async for obj in client.objects(meeting.agenda)]


async def import_meeting(client: OParlClient, url: str, wanted: str,
                         chamber: Config | None = None,
                         previous: Mapping[str, Any] | None = None) -> Imported:
    body = await find_body(client, url)
    meeting = await find_meeting(client, body, wanted)
    items = await agenda_items(client, meeting)
    orgs = await organizations(client, body)
    people = await persons(client, body)
    return build_session(meeting, items, people, orgs, chamber, previous)
