"""Remote councillors, pure: who a bridge participant is, and which "Remote N" slot shows them.

No I/O, no clock. The daemon feeds it the bridge's roster events and the floor's changes.

Who a participant is (`match_participant`)
  A participant's display is their name with an optional raise-hand marker, e.g.
  "Anna Müller ✋". Janus shows every display to everyone in the room, so a token is never
  part of one: a councillor who has a join token is recognised ONLY by the join page, which
  binds the participant id it chose to the councillor before the participant joins (the
  daemon's claims, stronger than any display). Typing their name is not enough: anyone can
  type a name. (An earlier convention put "#<token>" in the display; it leaked the token to
  the whole room and is gone: such a display is a guest, and the token is cut from the name
  that is shown.)

  - A councillor without a token is recognised by their name, normalised: Unicode NFC,
    case-folded, German umlauts transliterated (ä→ae, ö→oe, ü→ue, ß→ss, so "Mueller" equals
    "Müller"), other accents dropped ("José" = "Jose"), hyphens, dots and runs of whitespace
    collapsed to one space.
  - A display with a "#token" part is a guest, even if the name matches.
  - Two councillors whose names normalise alike cannot be told apart by name: both need tokens
    (and the join page); until then such a display is a guest.
  Everyone not recognised is a guest.

Which slot shows them (`SlotAllocator`)
  N slots ("Remote 1" ...). A remote councillor who gets the floor takes the first free slot
  and keeps it while they hold the floor (stable: nothing moves while they speak); losing the
  floor or leaving the bridge frees it. One participant never holds two slots. When every slot
  is busy, later speakers wait in order and get the next slot that frees.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

__all__ = [
    "HAND_MARKERS",
    "Identity",
    "KnownCouncillor",
    "ParsedDisplay",
    "SlotAllocator",
    "SlotChange",
    "match_participant",
    "normalise_name",
    "parse_display",
]

# What a participant adds to their display to raise a hand (Janus 1.1 has no metadata field;
# a display change is broadcast to the room).
HAND_MARKERS = ("✋", "[hand]", "(hand)")
TOKEN_RE = re.compile(r"(?:^|\s)#([A-Za-z0-9_-]{4,64})(?=\s|$)")
_TRANSLIT = str.maketrans({"ä": "ae", "ö": "oe", "ü": "ue", "ß": "ss", "æ": "ae", "ø": "oe",
                           "œ": "oe"})
_SEPARATORS = re.compile(r"[\s\-‐‑–—_.,·']+")


@dataclass(frozen=True, slots=True)
class KnownCouncillor:
    id: str
    name: str
    token: str | None = None


@dataclass(frozen=True, slots=True)
class ParsedDisplay:
    name: str  # the display without token and hand marker, whitespace trimmed
    token: str | None
    hand_raised: bool


@dataclass(frozen=True, slots=True)
class Identity:
    councillor: str | None  # None = a guest
    by_token: bool
    hand_raised: bool
    name: str  # what to show: the councillor's configured name, or the guest's display

    @property
    def guest(self) -> bool:
        return self.councillor is None


def normalise_name(name: str) -> str:
    """The form two spellings of one name share (see the module docstring)."""
    text = unicodedata.normalize("NFC", name).casefold().translate(_TRANSLIT)
    text = "".join(c for c in unicodedata.normalize("NFKD", text)
                   if not unicodedata.combining(c))
    return _SEPARATORS.sub(" ", text).strip()


def parse_display(display: str) -> ParsedDisplay:
    text = display
    hand = False
    for marker in HAND_MARKERS:
        if marker in text:
            hand = True
            text = text.replace(marker, " ")
    token = None
    found = TOKEN_RE.search(text)
    if found is not None:
        token = found.group(1)
        text = text[: found.start()] + " " + text[found.end():]
    return ParsedDisplay(name=" ".join(text.split()), token=token, hand_raised=hand)


def match_participant(display: str, councillors: Iterable[KnownCouncillor]) -> Identity:
    parsed = parse_display(display)
    known = list(councillors)
    # A guest's name is shown (TUI, event log): a known token in it, however it is written
    # ("Anna#tok", "tok"), is cut out, so no display of councild's ever carries one.
    shown = parsed.name
    for c in known:
        if c.token and c.token in shown:
            shown = " ".join(shown.replace(c.token, " ").replace("#", " ").split())
    if parsed.token is not None or shown != parsed.name:  # "#token", or an impostor: a guest
        return Identity(None, False, parsed.hand_raised, shown)
    key = normalise_name(parsed.name)
    same = [c for c in known if key and normalise_name(c.name) == key]
    if len(same) == 1 and same[0].token is None:
        return Identity(same[0].id, False, parsed.hand_raised, same[0].name)
    return Identity(None, False, parsed.hand_raised, parsed.name)


@dataclass(frozen=True, slots=True)
class SlotChange:
    slot: str
    participant: str | None  # None = the slot is now empty


class SlotAllocator:
    """"Remote N" slots for remote speakers; every method returns the slots that changed."""

    def __init__(self, slots: Sequence[str]) -> None:
        if len(set(slots)) != len(slots):
            raise ValueError("slot names must be unique")
        self._slots: dict[str, str | None] = dict.fromkeys(slots)
        self._waiting: list[str] = []  # floor holders without a slot, first come first served

    @property
    def slots(self) -> dict[str, str | None]:
        return dict(self._slots)

    @property
    def waiting(self) -> tuple[str, ...]:
        return tuple(self._waiting)

    def slot_of(self, participant: str) -> str | None:
        for slot, who in self._slots.items():
            if who == participant:
                return slot
        return None

    def floor(self, participant: str, has_floor: bool) -> list[SlotChange]:
        """The participant got (True) or lost (False) the floor."""
        if has_floor:
            return self._grant(participant)
        return self._release(participant)

    def left(self, participant: str) -> list[SlotChange]:
        """The participant left the bridge: their slot (or place in line) is freed."""
        return self._release(participant)

    def _grant(self, participant: str) -> list[SlotChange]:
        if self.slot_of(participant) is not None or participant in self._waiting:
            return []  # stable: a second grant changes nothing
        for slot, who in self._slots.items():
            if who is None:
                self._slots[slot] = participant
                return [SlotChange(slot, participant)]
        self._waiting.append(participant)
        return []

    def _release(self, participant: str) -> list[SlotChange]:
        if participant in self._waiting:
            self._waiting.remove(participant)
            return []
        slot = self.slot_of(participant)
        if slot is None:
            return []
        if self._waiting:
            nxt = self._waiting.pop(0)
            self._slots[slot] = nxt
            return [SlotChange(slot, nxt)]
        self._slots[slot] = None
        return [SlotChange(slot, None)]
