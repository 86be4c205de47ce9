"""`councild` on the command line: run, check, ctl, export, demo (and what later issues add)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import logging
import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from councild import api, store
from councild.assembly import load
from councild.config import (
    CONFIG_ENV,
    SYSTEM_CONFIG,
    Config,
    config_candidates,
    default_path,
    find_config,
)
from councild.errors import ConfigError
from councild.i18n import _, ngettext
from councild.limits import LoopErrors, raise_fd_limit
from councild.logsetup import setup_logging
from councild.sdnotify import Notifier
from councild.state_text import format_state

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_CONFIG = 2


def _load_config(args: argparse.Namespace,
                 session: str | None = None, *, check_tokens: bool = True) -> Config | None:
    """The configuration `-c` names or, without `-c`, the first of
    `config.config_candidates()`; `args.config` becomes the path used. None (after saying why
    on stderr) when there is none or it has problems."""
    if args.config is None:
        found = find_config()
        if found is None:
            looked = ", ".join(str(p) for p in config_candidates())
            origin = _(" (from ${var})").format(var=CONFIG_ENV) if CONFIG_ENV in os.environ else ""
            print(_("councild: no configuration: looked for {paths}{origin}; give one with -c "
                    "FILE or ${var}").format(paths=looked, origin=origin, var=CONFIG_ENV),
                  file=sys.stderr)
            return None
        args.config = str(found)
    path = args.config
    try:
        return load(path, session, check_tokens=check_tokens)
    except ConfigError as exc:
        n = len(exc.problems)
        print(ngettext("{file}: configuration has {n} problem:",
                       "{file}: configuration has {n} problems:", n).format(
            file=exc.path, n=n), file=sys.stderr)
        for i, (key, reason) in enumerate(exc.problems):
            print(f"  {exc.file_of(i)}: {key}: {reason}", file=sys.stderr)
        return None


# --- check -------------------------------------------------------------------------------------


def cmd_check(args: argparse.Namespace) -> int:
    config = _load_config(args, args.session)
    if config is None:
        return EXIT_CONFIG
    print(_("{file}: OK").format(file=args.config))
    if args.session or config.session.file:
        print(_("session file {file}: OK").format(file=args.session or config.session.file))
    print(_("session: {title} ({date}), key {key}").format(
        title=config.session.title, date=config.session.date, key=config.session.key))
    roles: dict[str, int] = {}
    for c in config.councillors:
        roles[c.role.value] = roles.get(c.role.value, 0) + 1
    print(_("councillors: {n} ({roles})").format(
        n=len(config.councillors), roles=", ".join(f"{v} {k}" for k, v in sorted(roles.items()))))
    print(_("seats: {n}, {mics} with a microphone, {shots} with a shot").format(
        n=len(config.seats), mics=sum(1 for s in config.seats if s.mic),
        shots=sum(1 for s in config.seats if s.shot)))
    for name, options in config.device_options.items():
        endpoint = ", ".join(f"{k}={v}" for k, v in options.model_dump().items()
                             if k in ("host", "port", "path", "transport"))
        print(_("device {name}: {driver} {endpoint}").format(
            name=name, driver=options.driver, endpoint=endpoint).rstrip())
    print(_("scenes: {n}; shots: {m}").format(n=len(config.scenes), m=len(config.shots)))
    print(_("floor: mode {mode}, max {n} open delegate mics; agenda: {items} items").format(
        mode=config.floor.mode.value, n=config.floor.max_open, items=len(config.agenda)))
    return EXIT_OK


# --- run ---------------------------------------------------------------------------------------


async def _run_daemon(config: Config, args: argparse.Namespace) -> int:
    from councild.daemon import Daemon

    db = Path(args.db) if args.db else (config.store.path or store.default_path())
    raise_fd_limit()  # headroom beyond the connection caps, for devices and the store
    asyncio.get_running_loop().set_exception_handler(LoopErrors(logging.getLogger("asyncio")))
    daemon = Daemon(config, store_path=db, socket_path=Path(args.socket) if args.socket else None)
    try:
        await daemon.start()
    except BaseException:
        await daemon.stop()  # what did start (devices, sockets) is stopped before we exit
        raise
    # Objects made at start-up live for the whole session: keep them out of the cyclic
    # collector's way, so its passes stay short (no pause on the path to the picture).
    gc.freeze()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    print(_("councild running: socket {sock}, store {db}").format(
        sock=daemon.socket_path, db=db), file=sys.stderr, flush=True)
    # Under systemd (Type=notify): started means the devices are started and the socket
    # listens; the watchdog pings come from this loop, so a hung loop gets the daemon restarted.
    notifier = Notifier()
    notifier.ready(f"session {config.session.key}")
    notifier.start_watchdog(loop)
    try:
        await stop.wait()
    finally:
        notifier.stopping()
        notifier.close()
    await daemon.stop()
    return EXIT_OK


def cmd_run(args: argparse.Namespace) -> int:
    config = _load_config(args, args.session)
    if config is None:
        return EXIT_CONFIG
    try:
        return asyncio.run(_run_daemon(config, args))
    except ConfigError as exc:  # found only at start: the tokens file
        print(exc, file=sys.stderr)
        return EXIT_CONFIG
    except OSError as exc:
        print(_("councild: cannot start: {err}").format(err=exc), file=sys.stderr)
        return EXIT_FAILED


# --- ctl ---------------------------------------------------------------------------------------

# How each op takes its positional arguments on the command line.
CTL_ARGS: dict[str, list[str]] = {
    "state": [], "ping": [], "next": [], "clear": [], "revoke_all": [],
    "grant": ["seat"], "revoke": ["seat"], "request": ["seat"], "cancel": ["seat"],
    "press": ["seat"], "priority": ["on"], "mode": ["mode"], "max_open": ["value"],
    "agenda": ["item?"],
    # The broadcast: `ctl stream start|stop`, `ctl record start|stop|pause|resume` (or the
    # API op names themselves, stream_start …).
    "stream": ["action"], "record": ["action"],
    "stream_start": [], "stream_stop": [], "record_start": [], "record_stop": [],
    "record_pause": [], "record_resume": [],
}
BROADCAST_WORDS = {"stream": ("start", "stop"), "record": ("start", "stop", "pause", "resume")}


def _ctl_op(op: str, values: list[str]) -> tuple[str, list[str]]:
    """`stream start` → the API op stream_start (and no arguments left)."""
    words = BROADCAST_WORDS.get(op)
    if words is None:
        return op, values
    if len(values) != 1 or values[0] not in words:
        raise ValueError(_("usage: councild ctl {op} {words}").format(
            op=op, words="|".join(words)))
    return f"{op}_{values[0]}", []


def _ctl_request(op: str, values: list[str], reply: bool) -> dict[str, Any]:
    spec = CTL_ARGS.get(op)
    if spec is None:
        raise ValueError(_("unknown operation {op!r}; known: {ops}").format(
            op=op, ops=", ".join(CTL_ARGS)))
    required = [s for s in spec if not s.endswith("?")]
    if not len(required) <= len(values) <= len(spec):
        usage = " ".join(f"[{s[:-1].upper()}]" if s.endswith("?") else s.upper() for s in spec)
        raise ValueError(_("usage: councild ctl {op} {usage}").format(op=op, usage=usage).strip())
    out: dict[str, Any] = {}
    for name, value in zip(spec, values, strict=False):
        key = name.rstrip("?")
        if key == "on":
            if value not in ("on", "off"):
                raise ValueError(_("priority takes on or off"))
            out[key] = value == "on"
        elif key == "value":
            try:
                out[key] = int(value)
            except ValueError:
                raise ValueError(_("max_open takes a number")) from None
        else:
            out[key] = value
    if reply:
        out["reply"] = True
    return out


async def _ctl(args: argparse.Namespace) -> int:
    try:
        client = await api.ApiClient.connect(Path(args.socket) if args.socket else None)
    except OSError as exc:
        print(_("cannot reach councild at {sock}: {err}").format(
            sock=args.socket or api.client_socket_path(), err=exc.strerror or exc),
            file=sys.stderr)
        return EXIT_FAILED
    try:
        if args.follow:
            async for message in client.subscribe():
                if message.get("event") == "closing":  # a clean stop: say so, exit 0
                    print(_("councild closed the connection: {reason}").format(
                        reason=message.get("reason")), file=sys.stderr, flush=True)
                    return EXIT_OK
                if args.json:
                    print(json.dumps(message, ensure_ascii=False), flush=True)
                elif message.get("event") == "state":
                    print(format_state(message["state"]) + "\n", flush=True)
            return EXIT_OK
        op, values = _ctl_op(args.op, args.args)
        request = _ctl_request(op, values, args.reply)
        reply = await client.request(op, **request)
    except ValueError as exc:
        print(exc, file=sys.stderr)
        return EXIT_CONFIG
    except ConnectionError as exc:
        print(_("councild went away: {err}").format(err=exc), file=sys.stderr)
        return EXIT_FAILED
    finally:
        await client.close()
    if args.json:
        print(json.dumps(reply, ensure_ascii=False))
    elif reply.get("ok"):
        if "state" in reply:
            print(format_state(reply["state"]))
        else:
            print(_("ok"))
    else:
        print(_("refused: {message} ({code})").format(**reply["error"]), file=sys.stderr)
    return EXIT_OK if reply.get("ok") else EXIT_FAILED


def cmd_ctl(args: argparse.Namespace) -> int:
    if not args.follow and not args.op:
        print(_("councild ctl: name an operation, or use --follow"), file=sys.stderr)
        return EXIT_CONFIG
    with contextlib.suppress(KeyboardInterrupt):
        return asyncio.run(_ctl(args))
    return EXIT_OK


# --- export ------------------------------------------------------------------------------------


def cmd_export(args: argparse.Namespace) -> int:
    from councild.chapters import NoOriginError
    from councild.export import export

    key = args.session
    db = Path(args.db) if args.db else None
    if args.session_file:  # the session's key (and store) from the chamber + session file
        config = _load_config(args, args.session_file)
        if config is None:
            return EXIT_CONFIG
        key = key or config.session.key
        db = db or config.store.path
    db = db or store.default_path()
    if not db.exists():
        print(_("no session store at {db}").format(db=db), file=sys.stderr)
        return EXIT_FAILED
    st = store.Store(db)
    try:
        text = export(st, args.format, key, origin=args.origin, part=args.part,
                      minimum=args.min_chapter)
    except NoOriginError as exc:
        kind, _sep, part = str(exc.args[0]).partition(" ")
        what = {"record": _("recording"), "stream": _("stream")}.get(kind, kind)
        print(_("this session has no {what} to time the chapters by").format(
            what=f"{what} {part}".strip()), file=sys.stderr)
        return EXIT_FAILED
    except LookupError as exc:
        print(_("no such session: {key}").format(key=exc.args[0]), file=sys.stderr)
        return EXIT_FAILED
    finally:
        st.close()
    if args.output:
        Path(args.output).write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
    return EXIT_OK


# --- demo --------------------------------------------------------------------------------------


def cmd_demo(args: argparse.Namespace) -> int:
    from councild.demo import run_demo, run_demo_with_tui  # the demo only when asked for

    config = _load_config(args, args.session)
    if config is None:
        return EXIT_CONFIG
    if args.session and args.remote:  # the remote overlay adds councillors to one file
        print(_("councild demo: --remote works with the example config only, not with "
                "--session"), file=sys.stderr)
        return EXIT_CONFIG
    if not args.no_tui and sys.stdin.isatty() and sys.stdout.isatty():
        return run_demo_with_tui(args)
    with contextlib.suppress(KeyboardInterrupt):
        return asyncio.run(run_demo(config, args))
    return EXIT_OK


# --- obs-collection ---------------------------------------------------------------------------


def cmd_obs_collection(args: argparse.Namespace) -> int:
    from councild.obs_setup import write_for

    config = _load_config(args)
    if config is None:
        return EXIT_CONFIG
    try:
        width, height = (int(x) for x in args.canvas.lower().split("x"))
    except ValueError:
        print(_("--canvas takes WIDTHxHEIGHT, e.g. 1920x1080"), file=sys.stderr)
        return EXIT_CONFIG
    path = write_for(config, Path(args.output), args.name, (width, height))
    print(_("wrote {path}: {n} scenes; in OBS: Scene Collection → Import").format(
        path=path, n=len(config.scenes)))
    return EXIT_OK


# --- tokens ------------------------------------------------------------------------------------

TOKEN_BYTES = 24  # 192 bits, 32 URL-safe characters: not guessable, still fits a link


def cmd_tokens(args: argparse.Namespace) -> int:
    import secrets
    import tomllib

    from councild.assembly import load_tokens

    # The councillors may be the session file's; the tokens file may not exist yet.
    config = _load_config(args, args.session, check_tokens=False)
    if config is None:
        return EXIT_CONFIG
    path = Path(args.output) if args.output else config.bridge.tokens_file
    if path is None:
        print(_("name the tokens file: -o FILE, or [bridge] tokens_file"), file=sys.stderr)
        return EXIT_CONFIG
    remote = [s.councillor for s in config.seats if s.remote and s.councillor]
    wanted = args.councillor or remote
    unknown = [c for c in wanted if config.councillor(c) is None]
    if unknown:
        print(_("no such councillor: {ids}").format(ids=", ".join(unknown)), file=sys.stderr)
        return EXIT_CONFIG
    try:
        tokens = load_tokens(path) if path.exists() else {}
    except (ConfigError, tomllib.TOMLDecodeError) as exc:
        print(exc, file=sys.stderr)
        return EXIT_FAILED
    for cid in wanted:
        if args.rotate or cid not in tokens:
            tokens[cid] = secrets.token_urlsafe(TOKEN_BYTES)
    text = "".join(f'{cid} = "{token}"\n' for cid, token in sorted(tokens.items()))
    path.parent.mkdir(parents=True, exist_ok=True)
    # A fresh temporary file in the same folder, created exclusively (never a stale or
    # symlinked `.tmp` someone left there), born 0600, then renamed into place: the tokens
    # are never readable by anyone else.
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    for cid in wanted:
        name = config.councillor(cid).name  # type: ignore[union-attr]
        if args.links:
            shown = f"{config.join.base_url}/join/{tokens[cid]}"
        else:
            shown = tokens[cid] if args.show else _("(hidden; --show prints it)")
        print(f"{cid}\t{name}\t{shown}")
    print(ngettext("{n} token in {path}", "{n} tokens in {path}", len(wanted)).format(
        n=len(wanted), path=path), file=sys.stderr)
    return EXIT_OK


# --- example-config, service ------------------------------------------------------------------


def cmd_example_config(args: argparse.Namespace) -> int:
    text = default_path().read_text(encoding="utf-8")
    if not args.output:
        sys.stdout.write(text)
        return EXIT_OK
    out = Path(args.output)
    try:
        # 0640: the config names devices and addresses; secrets never go in it.
        fd = os.open(out, os.O_WRONLY | os.O_CREAT | (os.O_TRUNC if args.force else os.O_EXCL),
                     0o640)
    except FileExistsError:
        print(_("{path} exists; --force overwrites it").format(path=out), file=sys.stderr)
        return EXIT_FAILED
    except OSError as exc:
        print(_("cannot write {path}: {err}").format(path=out, err=exc.strerror), file=sys.stderr)
        return EXIT_FAILED
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)
    print(_("wrote {path}: edit it for the chamber, then councild check -c {path}").format(
        path=out), file=sys.stderr)
    return EXIT_OK


def cmd_service(args: argparse.Namespace) -> int:
    from councild import service

    try:
        councild = Path(args.councild) if args.councild else service.this_councild()
        if args.action == "unit":
            sys.stdout.write(service.unit_text(councild))
            return EXIT_OK
        if os.geteuid() != 0 and args.root == "/":
            print(_("councild service install writes /etc: run it as root"), file=sys.stderr)
            return EXIT_FAILED
        plan = service.Plan(root=Path(args.root), create_user=not args.no_user)
        for line in service.install(plan, councild):
            print(line)
    except (OSError, ValueError, subprocess.CalledProcessError) as exc:
        print(_("councild service: {err}").format(err=exc), file=sys.stderr)
        return EXIT_FAILED
    if args.root == "/":
        print(_("next: edit /etc/councild/config.toml and secrets.env, councild check, then "
                "systemctl enable --now councild; logs: journalctl -u councild -f"))
    return EXIT_OK


# --- tui ---------------------------------------------------------------------------------------


def cmd_tui(args: argparse.Namespace) -> int:
    try:
        from tui.app import run_tui
    except ModuleNotFoundError as exc:
        if exc.name is None or not exc.name.startswith("textual"):
            raise
        print(_("councild tui needs the TUI extra: pip install 'councild[tui]' ({err})").format(
            err=exc), file=sys.stderr)
        return EXIT_FAILED

    return run_tui(args)


# --- sim ---------------------------------------------------------------------------------------


def cmd_sim(args: argparse.Namespace) -> int:
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(args.sim_run(args))
    return EXIT_OK


def _add_sim_parsers(sub: Any) -> None:
    from devices.sim import SIM_MODULES, sim_module

    p = sub.add_parser("sim", help=_("run a device simulator on 127.0.0.1"))
    sims = p.add_subparsers(dest="simulator", required=True)
    for name in SIM_MODULES:
        try:
            module = sim_module(name)
        except ImportError:
            continue  # not built on this checkout
        sp = sims.add_parser(name, help=(module.__doc__ or "").strip().splitlines()[0])
        module.add_arguments(sp)
        sp.set_defaults(func=cmd_sim, sim_run=module.run)


# -----------------------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="councild", description=_(
        "Control daemon for the sound and picture of hybrid council sessions."))
    parser.add_argument("-v", "--verbose", action="store_true", help=_("debug logging"))
    sub = parser.add_subparsers(dest="command", required=True)
    example = str(default_path())
    service_help = _("configuration file (default: ${var}, else {path})").format(
        var=CONFIG_ENV, path=SYSTEM_CONFIG)

    session_help = _("session file: title, agenda, councillors, seating (default: [session] "
                     "file, else the config holds them)")
    p = sub.add_parser("run", help=_("run the daemon in the foreground"))
    p.add_argument("-c", "--config", help=service_help)
    p.add_argument("--session", metavar="FILE", help=session_help)
    p.add_argument("--db", help=_("session store (default: $XDG_STATE_HOME/councild/)"))
    p.add_argument("--socket", help=_("control socket path"))
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("check", help=_("validate a configuration and summarise it"))
    p.add_argument("-c", "--config", help=service_help)
    p.add_argument("--session", metavar="FILE", help=session_help)
    p.set_defaults(func=cmd_check)

    p = sub.add_parser("ctl", help=_("send one operation to the running daemon"))
    p.add_argument("op", nargs="?", help=", ".join(CTL_ARGS))
    p.add_argument("args", nargs="*")
    p.add_argument("--socket")
    p.add_argument("--json", action="store_true", help=_("print the raw JSON reply"))
    p.add_argument("--follow", action="store_true", help=_("print every state change"))
    p.add_argument("--reply", action="store_true", help=_("request: join the reply queue"))
    p.set_defaults(func=cmd_ctl)

    p = sub.add_parser("export", help=_("write a session's speaker timeline"))
    p.add_argument("--format", choices=["csv", "json", "vtt", "chapters"], default="csv",
                   help=_("chapters: the lines video platforms read in a description"))
    p.add_argument("--origin", choices=["record", "stream", "session"],
                   help=_("vtt/chapters: time 0 is the recording's start, the stream's or "
                          "the session's (default: the recording when there is one)"))
    p.add_argument("--part", type=int, default=1,
                   help=_("which recording or stream of the session, from 1"))
    p.add_argument("--min-chapter", type=float, default=10.0,
                   help=_("chapters: the shortest chapter in seconds (YouTube: 10)"))
    p.add_argument("--session", help=_("session key (default: the latest)"))
    p.add_argument("-c", "--config", help=_("chamber config (with --session-file)"))
    p.add_argument("--session-file", metavar="FILE",
                   help=_("export the session of this session file"))
    p.add_argument("--db")
    p.add_argument("-o", "--output")
    p.set_defaults(func=cmd_export)

    p = sub.add_parser("demo", help=_("daemon + simulated chamber with scripted councillors"))
    p.add_argument("-c", "--config", default=example,
                   help=_("configuration (default: the example, {path})").format(path=example))
    p.add_argument("--session", metavar="FILE", help=session_help)
    p.add_argument("--db")
    p.add_argument("--socket")
    p.add_argument("--seconds", type=float, default=0,
                   help=_("stop after this many seconds (0: run until Ctrl-C)"))
    p.add_argument("--no-tui", action="store_true",
                   help=_("print the floor instead of opening the TUI"))
    p.add_argument("--obs", action="store_true",
                   help=_("also start a headless OBS (Xvfb) with the config's scenes"))
    p.add_argument("--remote", action="store_true",
                   help=_("add remote councillors: a private Janus, the join page, two "
                          "simulated councillors and a join link for a browser"))
    p.add_argument("--join-port", type=int, default=8090, help=_("port of the join page"))
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("obs-collection",
                       help=_("write an OBS scene collection matching the configuration"))
    p.add_argument("-c", "--config", help=service_help)
    p.add_argument("-o", "--output", required=True, help=_("directory to write into"))
    p.add_argument("--name", default="councild", help=_("scene collection name"))
    p.add_argument("--canvas", default="1920x1080", help=_("base canvas, WIDTHxHEIGHT"))
    p.set_defaults(func=cmd_obs_collection)

    p = sub.add_parser("tokens", help=_("make join tokens for remote councillors"))
    p.add_argument("-c", "--config", help=service_help)
    p.add_argument("--session", metavar="FILE", help=session_help)
    p.add_argument("-o", "--output", help=_("tokens file (default: [bridge] tokens_file)"))
    p.add_argument("--councillor", action="append",
                   help=_("only this councillor (repeatable; default: every remote seat)"))
    p.add_argument("--rotate", action="store_true", help=_("replace existing tokens"))
    p.add_argument("--show", action="store_true", help=_("print the tokens"))
    p.add_argument("--links", action="store_true",
                   help=_("print each councillor's join link ([join] public_url)"))
    p.set_defaults(func=cmd_tokens)

    p = sub.add_parser("example-config", help=_("print or write the example configuration"))
    p.add_argument("-o", "--output", help=_("write to this file (0640) instead of stdout"))
    p.add_argument("--force", action="store_true", help=_("overwrite an existing file"))
    p.set_defaults(func=cmd_example_config)

    p = sub.add_parser("service", help=_("the systemd unit: print it, or install it (root)"))
    p.add_argument("action", choices=["unit", "install"])
    p.add_argument("--councild", help=_("the councild executable for ExecStart "
                                        "(default: this one)"))
    p.add_argument("--root", default="/", help=_("install into this tree instead of /"))
    p.add_argument("--no-user", action="store_true",
                   help=_("do not create the councild system user"))
    p.set_defaults(func=cmd_service)

    from tui.options import add_arguments as tui_arguments  # no Textual: it is an extra

    p = sub.add_parser("tui", help=_("the technician's terminal UI, attached to the daemon"))
    tui_arguments(p)
    p.set_defaults(func=cmd_tui)

    _add_sim_parsers(sub)
    from councild.oparl.commands import add_parser as add_oparl_parser  # argparse only

    add_oparl_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    setup_logging(args.verbose)  # -v: never the wire libraries' frame logs (secrets)
    result: int = args.func(args)
    return result


if __name__ == "__main__":
    sys.exit(main())
