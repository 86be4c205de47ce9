"""What the OParl tests share: the CLI as a user runs it, the chamber config of the tests,
and the expected answers read straight from the recorded files (not through councild)."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

from tests.oparl.server import RecordedOParl

REPO = Path(__file__).resolve().parents[2]
GEMEINDERAT = "https://sdnetrim.kdvz-frechen.de/rim4220/webservice/oparl/v1.0/body/1/organization/1-8"
MEETING_8 = "2531"  # Gemeinderat (8. Sitzung), 2021-09-16
MEETING_10 = "2537"  # Gemeinderat (10. Sitzung), 2021-12-16: no agenda yet
DAY_8 = dt.date(2021, 9, 16)

# Who sits where in the example chamber (config.toml's seats 1-24): by name, one by OParl
# person id (filled in with the test server's address), and one former councillor.
SEAT_PLAN = {
    "Iris Hürtgen": "1", "Heinz Kaumanns": "3", "Günter Steckenborn": "4",
    "Franz-Josef Maus": "5", "Volker R. Beißel": "6", "Ulrich Hallmanns": "7",
    "Dirk Pongs": "8", "Rainer Valder": "9", "Stephan Cranen": "10", "Ulf Breuer": "11",
    "Marko Nießen": "12", "Markus Schlepütz": "13", "Jürgen Bergschneider": "14",
    "Michael Rambadt": "15", "Helmut Steinbrecher": "16", "Jonas Lenzen": "17",
    "Helma Grewe": "18", "Jörg Simon": "19", "Harald Weirauch": "20", "Jochen Bihn": "21",
    "Christian Bergs": "22", "Paul Bolz": "23",
    "Axel Buch": "2",  # the former mayor: no longer a member in 2021
}
BY_ID = ("body/1/person/360", "24")  # Julia Junges, by her OParl person id


def chamber_toml(server: RecordedOParl, extra: str = "") -> str:
    """The example chamber (config.toml) with a seat plan, party abbreviations and the
    deputy mayor taken as chair (a role mapping of this council, configured)."""
    lines = ["", "[seat_plan]"]
    lines += [f'"{who}" = "{seat}"' for who, seat in SEAT_PLAN.items()]
    lines.append(f'"{server.url(BY_ID[0])}" = "{BY_ID[1]}"')
    lines += ["", "[parties]", '"Freie für Hürtgenwald" = "FFH"', "",
              "[oparl]", 'chair_roles = ["Bürgermeister", "Bürgermeisterin", '
              '"1. stellv. Bürgermeisterin"]', ""]
    return (REPO / "config.toml").read_text(encoding="utf-8") + "\n".join(lines) + extra


def cli(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "councild.cli", *args], capture_output=True,
                          text=True, timeout=timeout, cwd=REPO)


def read_toml(path: Path) -> dict[str, Any]:
    return tomllib.loads(path.read_text(encoding="utf-8"))


def all_items(server: RecordedOParl, prefix: str) -> list[dict[str, Any]]:
    out = []
    for name in sorted(server.files):
        if name == f"{prefix}.json" or name.startswith(f"{prefix}?page="):
            out += server.load(name)["data"]
    return out


def recorded_meeting(server: RecordedOParl, short: str) -> dict[str, Any]:
    for m in all_items(server, "body/1/meeting"):
        if m["id"].endswith(f"/meeting/{short}"):
            return m
    raise AssertionError(short)


def covers(m: dict[str, Any], day: dt.date) -> bool:
    start, end = m.get("startDate"), m.get("endDate")
    return (not start or dt.date.fromisoformat(start) <= day) and (
        not end or day <= dt.date.fromisoformat(end))


def expected_members(server: RecordedOParl, day: dt.date) -> dict[str, str]:
    """OParl person id → name of their Fraktion on `day`, from the files."""
    groups = {o["id"]: o["name"] for o in server.load("body/1/organization.json")["data"]
              if o.get("organizationType") == "Fraktion"}
    out = {}
    for person in all_items(server, "body/1/person"):
        ms = [m for m in person.get("membership", []) if covers(m, day)]
        if any(m["organization"] == GEMEINDERAT for m in ms):
            fraktion = [groups[m["organization"]] for m in ms if m["organization"] in groups]
            assert len(fraktion) == 1, person["name"]
            out[person["id"]] = fraktion[0]
    return out


def local(server: RecordedOParl, real_url: str) -> str:
    return real_url.replace("https://sdnetrim.kdvz-frechen.de/rim4220/webservice/oparl/v1.0/",
                            server.base)
