"""councild.remote: participant matching and slot allocation, pure."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from councild.remote import (
    KnownCouncillor,
    SlotAllocator,
    SlotChange,
    match_participant,
    normalise_name,
    parse_display,
)

COUNCIL = [
    KnownCouncillor("anna", "Anna Müller", "tok-anna1"),
    KnownCouncillor("bernd", "Bernd Schulz"),
    KnownCouncillor("jose", "José García-López"),
    KnownCouncillor("kim1", "Kim Lee", "tok-kim1x"),
    KnownCouncillor("kim2", "Kim  LEE", "tok-kim2x"),
]


@pytest.mark.parametrize(("a", "b"), [
    ("Anna Müller", "anna mueller"),
    ("Anna Müller", "ANNA   MÜLLER "),
    ("Anna Mu\u0308ller", "Anna Müller"),  # decomposed umlaut
    ("Straße", "STRASSE"),
    ("José García-López", "jose garcia lopez"),
    ("Hans-Peter", "hans peter"),
])
def test_normalise_equal(a: str, b: str) -> None:
    assert normalise_name(a) == normalise_name(b)


def test_normalise_keeps_different_names_apart() -> None:
    assert normalise_name("Anna Müller") != normalise_name("Anna Miller")


def test_parse_display_token_and_hand() -> None:
    parsed = parse_display("Anna Müller #tok-anna1 ✋")
    assert (parsed.name, parsed.token, parsed.hand_raised) == ("Anna Müller", "tok-anna1", True)
    assert parse_display("Bernd").token is None
    assert not parse_display("Bernd #1").hand_raised  # too short for a token: part of the name


def test_a_token_in_the_display_identifies_nobody() -> None:
    """Issue 16, finding 4: Janus shows every display to the whole room, so "Name #token"
    handed the token to every other participant. A display never identifies by token."""
    who = match_participant("Mama's laptop #tok-anna1", COUNCIL)
    assert who.guest and who.name == "Mama's laptop"
    assert match_participant("Anna Müller #tok-anna1", COUNCIL).guest
    for written in ("Anna#tok-anna1", "tok-anna1 Anna", "Anna (tok-anna1)"):
        who = match_participant(written, COUNCIL)
        assert who.guest and "tok-anna1" not in who.name, written


def test_name_alone_does_not_identify_a_councillor_with_a_token() -> None:
    assert match_participant("Anna Müller", COUNCIL).guest


def test_wrong_token_is_a_guest_even_with_a_matching_name() -> None:
    who = match_participant("Bernd Schulz #tok-wrong", COUNCIL)
    assert who.guest and who.name == "Bernd Schulz"


def test_name_match_without_token() -> None:
    who = match_participant("bernd  SCHULZ ✋", COUNCIL)
    assert (who.councillor, who.by_token, who.hand_raised) == ("bernd", False, True)
    assert match_participant("jose garcia lopez", COUNCIL).councillor == "jose"


def test_ambiguous_names_need_tokens() -> None:
    assert match_participant("kim lee", COUNCIL).guest
    assert match_participant("kim lee #tok-kim2x", COUNCIL).guest  # only the join page


def test_unknown_is_guest() -> None:
    who = match_participant("Presse", COUNCIL)
    assert who.guest and who.name == "Presse"
    assert match_participant("", COUNCIL).guest


@given(st.text(max_size=60))
def test_match_never_raises_and_guests_keep_their_display(display: str) -> None:
    who = match_participant(display, COUNCIL)
    assert who.guest or who.councillor in {c.id for c in COUNCIL}


@given(st.sampled_from([c for c in COUNCIL if c.token]), st.text(max_size=20))
def test_a_display_token_never_identifies_nor_shows(c: KnownCouncillor, name: str) -> None:
    display = f"{name.replace('#', '')} #{c.token}"
    who = match_participant(display, COUNCIL)
    assert who.guest and str(c.token) not in who.name


# --- slots ---------------------------------------------------------------------------------


def test_slots_first_free_stable_and_released() -> None:
    slots = SlotAllocator(["Remote 1", "Remote 2"])
    assert slots.floor("a", True) == [SlotChange("Remote 1", "a")]
    assert slots.floor("b", True) == [SlotChange("Remote 2", "b")]
    assert slots.floor("a", True) == []  # stable: granted again, nothing moves
    assert slots.floor("a", False) == [SlotChange("Remote 1", None)]
    assert slots.slot_of("b") == "Remote 2"  # b did not move into the lower slot
    assert slots.floor("c", True) == [SlotChange("Remote 1", "c")]


def test_full_slots_queue_and_hand_over() -> None:
    slots = SlotAllocator(["Remote 1"])
    slots.floor("a", True)
    assert slots.floor("b", True) == []
    assert slots.waiting == ("b",)
    assert slots.left("a") == [SlotChange("Remote 1", "b")]
    assert slots.floor("c", True) == [] and slots.left("c") == []
    assert slots.waiting == ()


def test_duplicate_slot_names_refused() -> None:
    with pytest.raises(ValueError, match="unique"):
        SlotAllocator(["R", "R"])


class SlotMachine(RuleBasedStateMachine):
    """Random grants/losses/leaves: the invariants hold after every step."""

    def __init__(self) -> None:
        super().__init__()
        self.slots = SlotAllocator(["R1", "R2", "R3"])
        self.floor: list[str] = []  # who holds the floor, in order of grant
        self.assigned: dict[str, str] = {}

    @rule(p=st.sampled_from("abcdef"))
    def grant(self, p: str) -> None:
        before = self.slots.slot_of(p)
        self.slots.floor(p, True)
        if p not in self.floor:
            self.floor.append(p)
        if before is not None:
            assert self.slots.slot_of(p) == before

    @rule(p=st.sampled_from("abcdef"), leave=st.booleans())
    def lose(self, p: str, leave: bool) -> None:
        if leave:
            self.slots.left(p)
        else:
            self.slots.floor(p, False)
        if p in self.floor:
            self.floor.remove(p)
        assert self.slots.slot_of(p) is None

    @invariant()
    def consistent(self) -> None:
        holders = [p for p in self.slots.slots.values() if p is not None]
        assert len(holders) == len(set(holders))  # never two slots for one participant
        assert set(holders) <= set(self.floor)  # only floor holders are shown
        assert set(self.slots.waiting).isdisjoint(holders)
        # nobody waits while a slot is free; everybody with the floor is shown or waiting
        if self.slots.waiting:
            assert None not in self.slots.slots.values()
        assert set(self.floor) == set(holders) | set(self.slots.waiting)
        # stability: a participant keeps the slot they had as long as they hold it
        for p, slot in list(self.assigned.items()):
            if p in holders:
                assert self.slots.slot_of(p) == slot
            else:
                del self.assigned[p]
        for slot, p in self.slots.slots.items():
            if p is not None:
                self.assigned.setdefault(p, slot)


TestSlotMachine = SlotMachine.TestCase
