"""`councild oparl meetings|import`: the command line of the OParl import (docs/oparl.md)."""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import sys
from pathlib import Path
from typing import Any

from councild.i18n import _, ngettext

EXIT_OK, EXIT_FAILED, EXIT_CONFIG = 0, 1, 2


def _date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(_("not a date (YYYY-MM-DD): {text}").format(
            text=text)) from None


def add_parser(sub: Any) -> None:
    p = sub.add_parser("oparl", help=_("import a meeting from the council information system "
                                       "(OParl)"))
    cmds = p.add_subparsers(dest="oparl_command", required=True)

    def limits(sp: argparse.ArgumentParser) -> None:
        sp.add_argument("--timeout", type=float, default=20.0,
                        help=_("seconds for one request (default 20)"))
        sp.add_argument("--retries", type=int, default=2,
                        help=_("further attempts after a timeout or server error (default 2)"))
        sp.add_argument("--max-mb", type=float, default=16.0,
                        help=_("largest answer accepted, in MB (default 16)"))
        sp.add_argument("--max-pages", type=int, default=400,
                        help=_("most pages read of one list (default 400)"))

    m = cmds.add_parser("meetings", help=_("list a body's meetings, newest first"))
    m.add_argument("url", help=_("the OParl System or Body URL"))
    m.add_argument("--organization", help=_("only meetings of this committee (name or short "
                                            "name)"))
    m.add_argument("--from", dest="from_date", type=_date, help=_("from this date"))
    m.add_argument("--to", dest="to_date", type=_date, help=_("up to this date"))
    limits(m)
    m.set_defaults(func=cmd_oparl)

    i = cmds.add_parser("import", help=_("write a session file from one meeting"))
    i.add_argument("url", help=_("the OParl System or Body URL"))
    i.add_argument("--meeting", required=True,
                   help=_("the meeting's id (as `councild oparl meetings` prints it) or URL"))
    i.add_argument("-c", "--config", help=_("chamber config: seat plan, role and party "
                                            "mapping"))
    i.add_argument("-o", "--output", required=True, help=_("the session file to write"))
    i.add_argument("--write", action="store_true",
                   help=_("replace an existing session file that differs"))
    limits(i)
    i.set_defaults(func=cmd_oparl)


def cmd_oparl(args: argparse.Namespace) -> int:
    from councild.oparl.client import Limits, OParlError

    limits = Limits(timeout=args.timeout, retries=max(0, args.retries),
                    max_bytes=int(args.max_mb * 1e6), max_pages=max(1, args.max_pages),
                    connect_timeout=min(5.0, args.timeout))
    try:
        if args.oparl_command == "meetings":
            return asyncio.run(_meetings(args, limits))
        return asyncio.run(_import(args, limits))
    except OParlError as exc:
        print(_("OParl: {error}").format(error=exc), file=sys.stderr)
        if args.oparl_command == "import":
            print(_("nothing written"), file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        return EXIT_FAILED


async def _meetings(args: argparse.Namespace, limits: Any) -> int:
    from councild.oparl import importer
    from councild.oparl.client import OParlClient, OParlError
    from councild.oparl.model import short_id

    async with OParlClient(limits) as client:
        body = await importer.find_body(client, args.url)
        orgs = await importer.organizations(client, body)
        wanted: set[str] | None = None
        if args.organization:
            name = args.organization.casefold()
            wanted = {o.id for o in orgs.values()
                      if name in (o.name.casefold(), o.short_name.casefold())}
            if not wanted:
                known = ", ".join(sorted(o.name for o in orgs.values() if o.type == "Gremium")
                                  or sorted(o.name for o in orgs.values()))
                raise OParlError(_("no organization {name!r}; known: {known}").format(
                    name=args.organization, known=known))
        found = await importer.meetings(client, body)
    rows = []
    for m in found:
        if wanted is not None and not wanted & set(m.organizations):
            continue
        day = m.start.date() if m.start else None
        if args.from_date and (day is None or day < args.from_date):
            continue
        if args.to_date and (day is None or day > args.to_date):
            continue
        rows.append(m)
    rows.sort(key=lambda m: m.start.replace(tzinfo=None) if m.start else dt.datetime.min,
              reverse=True)
    for m in rows:
        when = m.start.strftime("%Y-%m-%d %H:%M") if m.start else "????-??-?? --:--"
        items = m.agenda_count()
        print(f"{short_id(m.id)}\t{when}\t{m.name}\t" + (
            ngettext("{n} agenda item", "{n} agenda items", items).format(n=items)
            if items else _("no agenda yet")) + (_(" (cancelled)") if m.cancelled else ""))
    print(ngettext("{n} meeting", "{n} meetings", len(rows)).format(n=len(rows)),
          file=sys.stderr)
    return EXIT_OK


async def _import(args: argparse.Namespace, limits: Any) -> int:
    import tomllib

    from councild.assembly import load
    from councild.config import Config
    from councild.errors import ConfigError
    from councild.oparl import importer, session_toml
    from councild.oparl.client import OParlClient
    from councild.oparl.diff import diff

    chamber: Config | None = None
    if args.config:
        try:
            chamber = load(args.config)
        except ConfigError as exc:
            print(exc, file=sys.stderr)
            return EXIT_CONFIG
    out = Path(args.output)
    previous: dict[str, Any] | None = None
    if out.exists():
        try:
            previous = tomllib.loads(out.read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError) as exc:
            print(_("{file}: cannot read the previous import: {err}").format(
                file=out, err=exc), file=sys.stderr)
            return EXIT_CONFIG
    async with OParlClient(limits) as client:
        result = await importer.import_meeting(client, args.url, args.meeting, chamber,
                                               previous)
    tables = result.tables()
    # Round trip through the text: the diff compares what would be written with what is.
    header = _("Session imported by `councild oparl import` from {url}\n"
               "Meeting {meeting}. Re-import: the same command shows what changed; --write "
               "replaces.").format(url=args.url, meeting=result.session["oparl_id"])
    text = session_toml.dumps(tables, header)
    new = tomllib.loads(text)
    s = result.session
    print(_("{title}, {start}").format(title=s["title"], start=s["start"].strftime(
        "%Y-%m-%d %H:%M")))
    public = sum(1 for a in result.agenda if a["public"])
    print(ngettext("{n} agenda item ({public} public)", "{n} agenda items ({public} public)",
                   len(result.agenda)).format(n=len(result.agenda), public=public))
    print(ngettext("{n} councillor", "{n} councillors", len(result.councillors)).format(
        n=len(result.councillors)))
    for note in result.notes:
        print(_("note: {note}").format(note=note))
    if chamber is not None:
        if result.unseated:
            print(_("without a seat (add them to [seat_plan]): {names}").format(
                names=", ".join(result.unseated)))
        for seat, entry in result.vacated:
            print(_("seat {seat}: {entry} of the seat plan is no longer a member").format(
                seat=seat, entry=entry))
    if previous is not None:
        changes = diff(previous, new)
        if not changes:
            print(_("{file}: unchanged").format(file=out))
            return EXIT_OK
        print(_("{file} differs from the council information system:").format(file=out))
        for line in changes:
            print("  " + line)
        if not args.write:
            print(_("not written: --write replaces {file}").format(file=out), file=sys.stderr)
            return EXIT_FAILED
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, out)  # never a half-written session file
    print(_("wrote {file}").format(file=out))
    return EXIT_OK
