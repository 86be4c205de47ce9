"""The pure parts of the import: OParl objects read tolerantly, the session built from
them, the seat plan, the diff and the TOML writer; property tests with arbitrary input."""

from __future__ import annotations

import contextlib
import datetime as dt
import tomllib

from hypothesis import given
from hypothesis import strategies as st

from councild.config import OParlImport
from councild.oparl import session_toml
from councild.oparl.client import OParlError, _decode
from councild.oparl.diff import diff
from councild.oparl.importer import build_agenda, build_session, role_of
from councild.oparl.model import (
    AgendaItem,
    Meeting,
    Membership,
    Organization,
    Person,
    kind,
)
from councild.oparl.seatplan import place

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner,
                                                                 max_size=6),
    max_leaves=20)
objects = st.dictionaries(
    st.sampled_from(["id", "type", "name", "number", "start", "organization", "agendaItem",
                     "membership", "role", "startDate", "endDate", "onBehalfOf", "public",
                     "order", "givenName", "familyName", "formOfAddress", "title",
                     "shortName", "organizationType", "oparlVersion", "cancelled"]),
    json_values, max_size=10)


@given(objects)
def test_parsers_never_raise(obj: dict) -> None:
    kind(obj)
    Organization.parse(obj)
    m = Membership.parse(obj)
    if m is not None:
        m.covers(dt.date(2021, 9, 16))
    Person.parse(obj, [])
    AgendaItem.parse(obj)
    meeting = Meeting.parse(obj)
    if meeting is not None:
        meeting.agenda_count()


@given(st.binary(max_size=300), st.sampled_from(["application/json", "text/html", ""]))
def test_decode_arbitrary_bytes(body: bytes, content_type: str) -> None:
    with contextlib.suppress(OParlError):
        assert isinstance(_decode(body, content_type, "http://127.0.0.1/x"), dict)


def test_types_of_1_0_1_1_and_none() -> None:
    assert kind({"type": "https://schema.oparl.org/1.0/Meeting"}) == "Meeting"
    assert kind({"type": "https://schema.oparl.org/1.1/Body"}) == "Body"
    assert kind({"id": "x", "name": "Rat (1. Sitzung)", "start": "2021-01-01",
                 "organization": []}) == "Meeting"  # SD.NET leaves `type` out
    assert kind({"oparlVersion": "https://schema.oparl.org/1.1/"}) == "System"


def test_control_characters_in_json_strings() -> None:
    data = _decode(b'{"name": "Haushalt\n2022\t\x01"}', "application/json", "u")
    assert Organization.parse({"id": "o", **data}).name == "Haushalt 2022"  # type: ignore


def test_person_names_without_form_of_address() -> None:
    p = Person.parse({"id": "p", "name": "Herr Dr. Hans Muster", "formOfAddress": "Herr"}, [])
    assert p is not None and p.name == "Dr. Hans Muster"
    p = Person.parse({"id": "p", "name": "Frau Eva Weiß", "givenName": "Eva",
                      "familyName": "Weiß ", "title": ["Dr."]}, [])
    assert p is not None and p.name == "Dr. Eva Weiß"


def test_role_mapping_is_exact_and_configurable() -> None:
    options = OParlImport()
    assert role_of("Bürgermeisterin", options) == "chair"
    assert role_of("vorsitzender", options) == "chair"
    assert role_of("1. stellv. Bürgermeisterin", options) == "member"
    assert role_of("Schriftführerin", options) == "clerk"
    assert role_of("Mitglied", OParlImport(chair_roles=["Mitglied"])) == "chair"


def _item(number: str, name: str, public: bool | None = None, order: int | None = None,
          oid: str = "") -> AgendaItem:
    return AgendaItem(oid or f"u/{number or name}", number, name, public, order)


def test_agenda_ids_numbers_and_public_sections() -> None:
    items = [_item("A", "Öffentliche Sitzung"), _item("1", "Eröffnung"), _item("", "Pause"),
             _item("1", "Doppelt"), _item("B", "Nichtöffentliche Sitzung"),
             _item("2", "Grundstück")]
    agenda = build_agenda(items)
    assert [a["id"] for a in agenda] == ["A", "1", "item-3", "item-4", "B", "2"]
    assert [a["public"] for a in agenda] == [True, True, True, True, False, False]
    assert agenda[2]["number"] == ""  # an empty number stays empty: shown as the bare title
    # `public` from the server wins; OParl 1.1 `order` sorts.
    agenda = build_agenda([_item("2", "b", public=False, order=2), _item("1", "a", order=1)])
    assert [(a["number"], a["public"]) for a in agenda] == [("1", True), ("2", False)]


def test_session_from_objects_with_on_behalf_of_and_short_names() -> None:
    day = dt.date(2022, 3, 1)
    rat, cdu, grp = "o/rat", "o/cdu", "o/grp"
    orgs = {rat: Organization(rat, "Rat", "", "Gremium"),
            cdu: Organization(cdu, "Christlich Demokratische Union", "CDU-Fraktion", "Fraktion"),
            grp: Organization(grp, "Wählergruppe Nord", "", "Sonstiges")}
    people = [
        Person("p/1", "Ada Alt", "Alt", (Membership(rat, "Bürgermeisterin", None, None, None),)),
        Person("p/2", "Bo Bau", "Bau", (Membership(rat, "Mitglied", dt.date(2020, 1, 1), None,
                                                   None),
                                        Membership(cdu, "Mitglied", None, None, None))),
        Person("p/3", "Cy Cez", "Cez", (Membership(rat, "Mitglied", None, None, grp),)),
        Person("p/4", "Di Dorn", "Dorn", (Membership(rat, "Mitglied", None,
                                                     dt.date(2022, 2, 28), None),)),
        Person("p/5", "Eli Ens", "Ens", (Membership(rat, "Mitglied", None, None, None),
                                         Membership(rat, "Schriftführerin", None, None, None))),
    ]
    meeting = Meeting("m/1", "Rat (3. Sitzung)", dt.datetime(2022, 3, 1, 18), (rat,), False, [])
    result = build_session(meeting, [], people, orgs)
    assert [(c["name"], c["party"], c["role"]) for c in result.councillors] == [
        ("Ada Alt", "", "chair"), ("Eli Ens", "", "clerk"), ("Bo Bau", "CDU-Fraktion", "member"),
        ("Cy Cez", "Wählergruppe Nord", "member")]  # Di Dorn left the day before
    assert any("agenda is empty" in n for n in result.notes)
    assert any("Ada Alt" in n for n in result.notes)  # no group: said, not guessed
    assert result.session["date"] == day


def test_seat_plan() -> None:
    councillors = [{"id": "a", "name": "Ada Alt", "oparl_id": "p/1"},
                   {"id": "b", "name": "Bo Bau", "oparl_id": "p/2"},
                   {"id": "c", "name": "Cy Cez", "oparl_id": "p/3"}]
    placement = place(councillors, {"p/1": "1", "bo  BAU": "2", "Gone Person": "3",
                                    "Cy Cez": "2"})
    assert placement.seating == {"1": "a", "2": "b"}
    assert placement.vacated == [("3", "Gone Person")]
    assert placement.doubled == [("2", "Cy Cez")]
    assert placement.unseated == ["Cy Cez"]


def test_diff_reports_hand_edits_too() -> None:
    old = {"session": {"title": "Rat", "date": dt.date(2022, 1, 1)},
           "agenda": [{"id": "1", "number": "1", "title": "Eröffnung", "oparl_id": "i/1"}],
           "councillors": [{"id": "a", "name": "Ada Alt (typo fixed)", "party": "CDU",
                            "role": "member", "oparl_id": "p/1"}],
           "seating": {"1": "a"}}
    new = {"session": {"title": "Rat", "date": dt.date(2022, 1, 1)},
           "agenda": [{"id": "1", "number": "1", "title": "Eröffnung", "oparl_id": "i/1"}],
           "councillors": [{"id": "a", "name": "Ada Alt", "party": "CDU", "role": "member",
                            "oparl_id": "p/1"}],
           "seating": {}}
    assert diff(old, new) == [
        "~ councillor Ada Alt: name 'Ada Alt (typo fixed)' → 'Ada Alt'",
        "~ seating.1: a → –"]
    assert diff(new, new) == []


@given(st.text(), st.text(min_size=1))
def test_toml_writer_round_trips_any_text(title: str, key: str) -> None:
    tables = {"session": {"title": title, "date": dt.date(2021, 9, 16),
                          "start": dt.datetime(2021, 9, 16, 18, tzinfo=dt.UTC)},
              "agenda": [{"id": "1", "title": title, "public": False}],
              "seating": {key: "x"}}
    back = tomllib.loads(session_toml.dumps(tables, "header\nline two"))
    assert back["session"]["title"] == title and back["agenda"][0]["title"] == title
    assert back["seating"] == {key: "x"}
    assert back["session"]["start"] == tables["session"]["start"]
