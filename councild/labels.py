"""What goes on air for an agenda item and a party: one place, so that the TUI header, the
lower third, the state the API sends and the exported chapters all say the same."""

from __future__ import annotations

from collections.abc import Mapping

from councild.i18n import _

# Parliamentary groups as council information systems name them in full (OParl gives no
# `shortName` for most of them), and how a lower third names them. `[parties]` in the config
# adds to and overrides this table.
PARTY_ABBREVIATIONS: dict[str, str] = {
    "Christlich Demokratische Union": "CDU",
    "Christlich Demokratische Union Deutschlands": "CDU",
    "Christlich-Soziale Union": "CSU",
    "Christlich-Soziale Union in Bayern": "CSU",
    "Sozialdemokratische Partei Deutschlands": "SPD",
    "Freie Demokratische Partei": "FDP",
    "Bündnis 90/Die Grünen": "Grüne",
    "BÜNDNIS 90/DIE GRÜNEN": "Grüne",
    "Alternative für Deutschland": "AfD",
    "Die Linke": "Linke",
    "DIE LINKE": "Linke",
    "Freie Wähler": "FW",
    "FREIE WÄHLER": "FW",
}


def party_short(party: str, table: Mapping[str, str] | None = None) -> str:
    """The party as a lower third shows it: the configured abbreviation, else the built-in
    one, else the name as given (an OParl `shortName` is already short)."""
    party = party.strip()
    if table and party in table:
        return table[party]
    return PARTY_ABBREVIATIONS.get(party, party)


def agenda_label(number: str, title: str) -> str:
    """"TOP 3 — Bebauungsplan Nr. 47" (German catalog); the bare title without a number."""
    number = number.strip()
    if not number:
        return title
    return _("Item {number} — {title}").format(number=number, title=title)
