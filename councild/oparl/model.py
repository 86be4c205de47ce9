"""OParl 1.0 and 1.1 objects as the importer needs them, read tolerantly.

What real servers do (Sternberg SD.NET, Somacos, ALLRIS; see ../shared/oparl/README.md):
`type` missing or a 1.0 or 1.1 URI, names with trailing spaces, line breaks and control
characters, agenda items with an empty number, dates with or without a time, memberships
embedded or linked. Nothing here does I/O; every function takes what JSON gave and never
raises on a field of the wrong kind (it reads as absent).
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from dataclasses import dataclass
from typing import Any

KINDS = ("System", "Body", "Meeting", "AgendaItem", "Organization", "Person", "Membership")


def kind(obj: dict[str, Any]) -> str:
    """The object's OParl type name ("Meeting"), from `type` (1.0 or 1.1 URI, or a bare
    name) or, where `type` is missing, from the fields only that type has; "" unknown."""
    t = obj.get("type")
    if isinstance(t, str) and t:
        name = t.rstrip("/").rsplit("/", 1)[-1]
        if name in KINDS:
            return name
    if "oparlVersion" in obj:
        return "System"
    if "agendaItem" in obj or ("start" in obj and "organization" in obj and "name" in obj):
        return "Meeting"
    if "meeting" in obj and "person" in obj and "organization" in obj:
        return "Body"
    if {"familyName", "givenName", "formOfAddress"} & set(obj) or (
            isinstance(obj.get("membership"), list) and "organizationType" not in obj
            and "meeting" not in obj):
        return "Person"
    if "organizationType" in obj or "classification" in obj:
        return "Organization"
    if "role" in obj and "organization" in obj:
        return "Membership"
    return ""


_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def clean(value: Any) -> str:
    """A name as it should show: no line breaks or control characters, single spaces,
    nothing trailing."""
    if not isinstance(value, str):
        return ""
    text = unicodedata.normalize("NFC", value)
    text = _CONTROL.sub(" ", text)
    return " ".join(text.split())


def text_list(value: Any) -> list[str]:
    if isinstance(value, str):
        return [clean(value)] if clean(value) else []
    if isinstance(value, list):
        return [clean(v) for v in value if clean(v)]
    return []


def url_list(value: Any) -> list[str]:
    """Ids of linked objects: a URL, an array of URLs, or embedded objects with an `id`."""
    items = value if isinstance(value, list) else [value]
    out = []
    for item in items:
        if isinstance(item, str) and item:
            out.append(item)
        elif isinstance(item, dict) and isinstance(item.get("id"), str):
            out.append(item["id"])
    return out


def parse_datetime(value: Any) -> dt.datetime | None:
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip().replace("Z", "+00:00")
    try:
        return dt.datetime.fromisoformat(text)
    except ValueError:
        pass
    try:
        d = dt.date.fromisoformat(text[:10])
    except ValueError:
        return None
    return dt.datetime(d.year, d.month, d.day)


def parse_date(value: Any) -> dt.date | None:
    """A date, from "2021-09-16" or a date-time (its local date, as published)."""
    stamp = parse_datetime(value)
    return stamp.date() if stamp is not None else None


def short_id(oparl_id: str) -> str:
    """The last path segment of an object's URL: what `councild oparl meetings` prints."""
    return oparl_id.rstrip("/").rsplit("/", 1)[-1].split("?", 1)[0]


@dataclass(frozen=True, slots=True)
class Organization:
    id: str
    name: str
    short_name: str
    type: str  # organizationType: "Gremium", "Fraktion", "Partei", ...

    @classmethod
    def parse(cls, obj: dict[str, Any]) -> Organization | None:
        oid = obj.get("id")
        if not isinstance(oid, str):
            return None
        return cls(oid, clean(obj.get("name")), clean(obj.get("shortName")),
                   clean(obj.get("organizationType")) or clean(obj.get("classification")))

    @property
    def label(self) -> str:
        return self.short_name or self.name


@dataclass(frozen=True, slots=True)
class Membership:
    organization: str
    role: str
    start: dt.date | None
    end: dt.date | None
    on_behalf_of: str | None

    @classmethod
    def parse(cls, obj: dict[str, Any]) -> Membership | None:
        org = url_list(obj.get("organization"))
        if not org:
            return None
        behalf = url_list(obj.get("onBehalfOf"))
        return cls(org[0], clean(obj.get("role")), parse_date(obj.get("startDate")),
                   parse_date(obj.get("endDate")), behalf[0] if behalf else None)

    def covers(self, day: dt.date) -> bool:
        return (self.start is None or self.start <= day) and (self.end is None or day <= self.end)


@dataclass(frozen=True, slots=True)
class Person:
    id: str
    name: str  # as shown: academic title, given and family name; no form of address
    family_name: str
    memberships: tuple[Membership, ...]

    @classmethod
    def parse(cls, obj: dict[str, Any], memberships: list[Membership]) -> Person | None:
        pid = obj.get("id")
        if not isinstance(pid, str):
            return None
        given, family = clean(obj.get("givenName")), clean(obj.get("familyName"))
        if given and family:
            name = " ".join([*text_list(obj.get("title")), given, family])
        else:
            name = clean(obj.get("name"))
            for prefix in [*text_list(obj.get("formOfAddress")), "Herr", "Frau"]:
                if name.startswith(prefix + " "):
                    name = name[len(prefix) + 1:].strip()
                    break
        if not name:
            return None
        return cls(pid, name, family or name.rsplit(" ", 1)[-1], tuple(memberships))


@dataclass(frozen=True, slots=True)
class AgendaItem:
    id: str
    number: str  # "3", "20.1", "A"; "" where the server gives none
    name: str
    public: bool | None  # None: the server does not say
    order: int | None

    @classmethod
    def parse(cls, obj: dict[str, Any]) -> AgendaItem:
        number = clean(obj.get("number"))
        # "3." and "3" are the same item number; the dot is typography.
        number = number.rstrip(".").strip() if number not in (".",) else ""
        public = obj.get("public")
        order = obj.get("order")
        return cls(obj.get("id") if isinstance(obj.get("id"), str) else "", number,
                   clean(obj.get("name")), public if isinstance(public, bool) else None,
                   order if isinstance(order, int) and not isinstance(order, bool) else None)


@dataclass(frozen=True, slots=True)
class Meeting:
    id: str
    name: str
    start: dt.datetime | None
    organizations: tuple[str, ...]
    cancelled: bool
    agenda: Any  # the `agendaItem` value as given: embedded objects, URLs, a list URL

    @classmethod
    def parse(cls, obj: dict[str, Any]) -> Meeting | None:
        mid = obj.get("id")
        if not isinstance(mid, str):
            return None
        return cls(mid, clean(obj.get("name")), parse_datetime(obj.get("start")),
                   tuple(url_list(obj.get("organization"))), obj.get("cancelled") is True,
                   obj.get("agendaItem"))

    def agenda_count(self) -> int:
        return len(self.agenda) if isinstance(self.agenda, list) else 0
