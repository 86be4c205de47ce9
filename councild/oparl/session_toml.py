"""The session file as TOML text. The standard library reads TOML but does not write it; the
tables of a session are few and flat, so they are written here (and read back by tomllib in
the tests, which is the check that matters)."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from typing import Any

_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")
_ESCAPES = {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\t": "\\t", "\r": "\\r"}


def string(value: str) -> str:
    out = []
    for ch in value:
        if ch in _ESCAPES:
            out.append(_ESCAPES[ch])
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:  # TOML forbids raw control characters
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def key(name: str) -> str:
    return name if _BARE_KEY.match(name) else string(name)


def value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int | float):
        return repr(v)
    if isinstance(v, dt.datetime):
        return v.isoformat()
    if isinstance(v, dt.date):
        return v.isoformat()
    if isinstance(v, Mapping):
        return "{ " + ", ".join(f"{key(k)} = {value(x)}" for k, x in v.items()) + " }"
    if isinstance(v, list | tuple):
        return "[" + ", ".join(value(x) for x in v) + "]"
    return string(str(v))


def _table(name: str, rows: Mapping[str, Any]) -> list[str]:
    return [f"[{name}]"] + [f"{key(k)} = {value(v)}" for k, v in rows.items() if v is not None]


def dumps(tables: Mapping[str, Any], header: str = "") -> str:
    lines = [f"# {line}".rstrip() for line in header.splitlines()]
    if lines:
        lines.append("")
    for name in ("session", "parties"):
        if tables.get(name):
            lines += [*_table(name, tables[name]), ""]
    for name in ("agenda", "councillors"):
        for row in tables.get(name) or []:
            lines.append(f"[[{name}]]")
            lines += [f"{key(k)} = {value(v)}" for k, v in row.items() if v is not None]
            lines.append("")
    if "seating" in tables:
        lines.append("[seating]  # seat id = councillor id (from the chamber's [seat_plan])")
        lines += [f"{key(k)} = {value(v)}" for k, v in tables["seating"].items()]
        lines.append("")
    return "\n".join(lines)
