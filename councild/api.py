"""The control API: newline-delimited JSON over a Unix socket (or loopback TCP with a token).

The wire format is documented in docs/api.md, which is a public contract. This module holds
the pure part (turning a request into a floor event; lines are split by
councild.sansio.LineFramer) and the thin asyncio server and client around it. What an
operation does is the daemon's business: the server hands every well-formed request to a
handler and writes back what it returns.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import logging
import os
import socket
import stat
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from councild import model
from councild.limits import CoalescedLog, ConnectionCaps, plain_json_problem, reject_constant
from councild.model import Mode
from councild.sansio import LineFramer, TooLong

log = logging.getLogger("councild.api")

MAX_LINE = 64 * 1024  # a request is a few hundred bytes; anything this long is garbage
READ_CHUNK = 65536
# How much a subscriber may fall behind before it is dropped: a TUI that stops reading must
# not make the daemon hold an ever-growing buffer. A state of a few hundred seats is ~100 KiB.
SUBSCRIBER_HIGH_WATER = 1024 * 1024
# Replies are back-pressured: past this much unread output the daemon stops reading the
# client's requests until it reads; one that reads nothing for DRAIN_TIMEOUT is dropped.
REPLY_HIGH_WATER = 64 * 1024
DRAIN_TIMEOUT = 10.0
# Before `auth` on TCP only an auth line is expected: a token is short.
PREAUTH_MAX_LINE = 1024
AUTH_TIMEOUT = 5.0  # a TCP client that has not authenticated by then is closed
# A connection that is not subscribed and sends nothing for this long is closed (a
# subscriber is listening, not idle; a frozen one is dropped by SUBSCRIBER_HIGH_WATER).
IDLE_TIMEOUT = 600.0
# A wrong token closes the connection after this pause, which holds its connection slot:
# with TCP_MAX_PER_ADDRESS slots an address gets at most that many guesses a second.
AUTH_FAILURE_PAUSE = 1.0
# Connection caps per listener (and per client address on TCP). A TUI, a few `ctl` and
# button surfaces are a handful; the caps keep descriptors for the devices and the store.
UNIX_MAX_CONNECTIONS = 64
TCP_MAX_CONNECTIONS = 32
TCP_MAX_PER_ADDRESS = 8
# A dropped client gets a last message; if it does not read even that, it is cut off.
ABORT_AFTER = 2.0



class ServerLogs:
    """A server's warnings about its clients, each coalesced (never a line per message)."""

    def __init__(self) -> None:
        self.dropped = CoalescedLog(log, "api: dropped a client that does not read")
        self.refused = CoalescedLog(log, "api: refused a connection (too many)")
        self.wrong_token = CoalescedLog(log, "api: wrong token from a TCP client")
        self.unencodable = CoalescedLog(log, "api: a reply could not be encoded")


class ApiError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


# ---------------------------------------------------------------------------------------------
# Pure part


@dataclass(frozen=True, slots=True)
class ApiRequest:
    id: Any
    op: str
    args: dict[str, Any]


def parse_request(line: bytes) -> ApiRequest:
    """One line → a request; ApiError (with the id when it could be read) otherwise."""
    try:
        data = json.loads(line, parse_constant=reject_constant)
    except (UnicodeDecodeError, ValueError) as exc:
        raise ApiError("bad_json", f"not a JSON line: {exc}") from None
    except RecursionError:
        raise ApiError("bad_json", "not a JSON line: nested too deep") from None
    if not isinstance(data, dict):
        raise ApiError("bad_request", "a request is a JSON object")
    problem = plain_json_problem(data)
    if problem is not None:  # refused before anything is applied, so the reply is not lost
        err = ApiError("bad_request", problem)
        rid = data.get("id")
        err.request_id = rid if plain_json_problem(rid) is None else None  # type: ignore[attr-defined]
        raise err
    op = data.get("op")
    if not isinstance(op, str):
        err = ApiError("bad_request", "missing 'op'")
        err.request_id = data.get("id")  # type: ignore[attr-defined]
        raise err
    args = {k: v for k, v in data.items() if k not in ("id", "op")}
    return ApiRequest(data.get("id"), op, args)


def _seat(args: dict[str, Any]) -> str:
    seat = args.get("seat")
    if isinstance(seat, bool) or not isinstance(seat, str | int):
        raise ApiError("bad_request", "'seat' (string) is required")
    return str(seat)


def bool_arg(args: dict[str, Any], key: str, default: bool | None = None) -> bool:
    value = args.get(key, default)
    if not isinstance(value, bool):
        raise ApiError("bad_request", f"'{key}' must be true or false")
    return value


def _mode(args: dict[str, Any]) -> model.Event:
    try:
        return model.SetMode(mode=Mode(args.get("mode")))
    except ValueError:
        names = "|".join(m.value for m in Mode)
        raise ApiError("bad_request", f"'mode' must be one of {names}") from None


def _max_open(args: dict[str, Any]) -> model.Event:
    value = args.get("value")
    if isinstance(value, bool) or not isinstance(value, int):
        raise ApiError("bad_request", "'value' (integer) is required")
    return model.SetMaxOpen(value=value)


def _agenda(args: dict[str, Any]) -> model.Event:
    item = args.get("item")
    if item is not None and not isinstance(item, str | int):
        raise ApiError("bad_request", "'item' must be an agenda item id")
    return model.SetAgenda(item=None if item is None else str(item))


def _priority(args: dict[str, Any]) -> model.Event:
    seat = _seat(args) if "seat" in args else None
    return model.Priority(on=bool_arg(args, "on"), seat=seat)


FLOOR_OPS: dict[str, Callable[[dict[str, Any]], model.Event]] = {
    "request": lambda a: model.Request(seat=_seat(a), reply=bool_arg(a, "reply", False)),
    "cancel": lambda a: model.Cancel(seat=_seat(a)),
    "press": lambda a: model.Press(seat=_seat(a)),
    "grant": lambda a: model.Grant(seat=_seat(a)),
    "revoke": lambda a: model.Revoke(seat=_seat(a)),
    "revoke_all": lambda a: model.RevokeAll(),
    "next": lambda a: model.Next(),
    "clear": lambda a: model.Clear(),
    "priority": _priority,
    "mode": _mode,
    "max_open": _max_open,
    "agenda": _agenda,
}


DIRECTOR_OPS = ("lock", "release", "wide", "force")


def director_args(request: ApiRequest) -> dict[str, Any]:
    """The validated arguments of a director op; ApiError for bad ones."""
    if request.op == "lock":
        return {"on": bool_arg(request.args, "on")}
    if request.op == "force":
        if "shot" in request.args:
            shot = request.args["shot"]
            if not isinstance(shot, str):
                raise ApiError("bad_request", "'shot' must be a shot name")
            return {"shot": shot}
        return {"seat": _seat(request.args)}
    return {}


def floor_event(request: ApiRequest) -> model.Event:
    """The floor event a floor op stands for; ApiError for bad arguments."""
    return FLOOR_OPS[request.op](request.args)


def encode(message: dict[str, Any]) -> bytes:
    return json.dumps(message, separators=(",", ":"), ensure_ascii=False).encode() + b"\n"


def error_reply(request_id: Any, code: str, message: str) -> dict[str, Any]:
    return {"id": request_id, "ok": False, "error": {"code": code, "message": message}}


# ---------------------------------------------------------------------------------------------
# Server


class Connection:
    """One client. The handler may keep it to push subscription messages."""

    def __init__(self, writer: asyncio.StreamWriter, authenticated: bool,
                 logs: ServerLogs | None = None) -> None:
        self.writer = writer
        self.logs = logs or ServerLogs()
        self.authenticated = authenticated
        self.subscribed = False
        self.closed = False
        self.close_after_reply = False  # a refused auth: answer, then hang up

    def send(self, message: dict[str, Any]) -> None:
        if self.closed:
            return
        transport = self.writer.transport
        if transport.is_closing():  # the peer went away: writing on would log per message
            self.closed = True
            return
        if transport.get_write_buffer_size() > SUBSCRIBER_HIGH_WATER:
            self.drop("not_reading")
            return
        try:
            data = encode(message)
        except (ValueError, TypeError):  # a lone surrogate or NaN from somewhere: never crash
            self.logs.unencodable.note()
            rid = message.get("id")
            data = encode(error_reply(rid if plain_json_problem(rid) is None else None,
                                      "internal", "the reply could not be encoded as JSON"))
        self.writer.write(data)

    def drop(self, reason: str) -> None:
        """Drop a client that does not keep up: counted, logged in summary, told why."""
        if self.closed:
            return
        self.logs.dropped.note(reason)
        self.close(reason)
        transport = self.writer.transport
        asyncio.get_running_loop().call_later(ABORT_AFTER, transport.abort)

    def close(self, reason: str | None = None) -> None:
        """Close; with a reason the client gets a last `{"event": "closing"}` message."""
        if not self.closed:
            self.closed = True
            if reason is not None and not self.writer.transport.is_closing():
                self.writer.write(encode({"event": "closing", "reason": reason}))
            self.writer.close()


Handler = Callable[[ApiRequest, Connection], Awaitable[dict[str, Any]]]


class ApiServer:
    def __init__(self, handler: Handler, token: str | None = None) -> None:
        self._handler = handler
        self._token = token
        self._servers: list[asyncio.AbstractServer] = []
        self.connections: set[Connection] = set()
        self.socket_path: Path | None = None
        self.tcp_port: int | None = None
        self.caps = {"unix": ConnectionCaps(UNIX_MAX_CONNECTIONS, UNIX_MAX_CONNECTIONS),
                     "tcp": ConnectionCaps(TCP_MAX_CONNECTIONS, TCP_MAX_PER_ADDRESS)}
        self._handlers: set[asyncio.Task[Any]] = set()
        self.logs = ServerLogs()
        self._stopping = False
        # Called with (op, seconds) after every authenticated request (councild/metrics.py).
        self.observe: Callable[[str, float], None] | None = None

    @property
    def has_token(self) -> bool:
        return bool(self._token)

    async def start_unix(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        check_private_dir(path.parent)
        if path.exists():
            if await _socket_alive(path):
                raise OSError(f"another councild is listening on {path}")
            path.unlink()  # left behind by a daemon that was killed
        old_umask = os.umask(0o177)  # the socket is born 0600: no window with wider rights
        try:
            server = await asyncio.start_unix_server(self._serve_unix, path=str(path))
        finally:
            os.umask(old_umask)
        os.chmod(path, 0o600)
        self._servers.append(server)
        self.socket_path = path

    async def start_tcp(self, host: str, port: int) -> None:
        if self._token is None:
            raise ValueError("a TCP control API needs a token")
        server = await asyncio.start_server(self._serve_tcp, host=host, port=port)
        self._servers.append(server)
        self.tcp_port = server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        self._stopping = True
        for server in self._servers:
            server.close()
        for conn in list(self.connections):
            conn.close("daemon_stopping")
        # Each handler sees its connection end and returns; one that does not is cancelled.
        handlers = [t for t in self._handlers if t is not asyncio.current_task()]
        if handlers:
            _done, pending = await asyncio.wait(handlers, timeout=2.0)
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.wait(pending, timeout=1.0)
        for server in self._servers:
            with contextlib.suppress(Exception):
                await server.wait_closed()
        self._servers.clear()
        if self.socket_path is not None:
            with contextlib.suppress(FileNotFoundError):
                self.socket_path.unlink()

    async def _serve_unix(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await self._admit(reader, writer, "unix", "local")

    async def _serve_tcp(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        sock = writer.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        peer = writer.get_extra_info("peername")
        await self._admit(reader, writer, "tcp", str(peer[0]) if peer else "?")

    async def _admit(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                     listener: str, address: str) -> None:
        """A connection within the caps is served; one beyond them gets one line and is closed.
        A handler that ends cancelled makes asyncio log a traceback: at stop it ends quietly."""
        caps = self.caps[listener]
        if self._stopping or not caps.admit(address):
            self.logs.refused.note(listener)
            with contextlib.suppress(Exception):
                writer.write(encode(error_reply(None, "busy", "too many connections")))
                writer.close()
            return
        task = asyncio.current_task()
        if task is not None:
            self._handlers.add(task)
        try:
            await self._serve(reader, writer, authenticated=listener == "unix")
        except asyncio.CancelledError:
            if not self._stopping:
                raise
        finally:
            caps.release(address)
            if task is not None:
                self._handlers.discard(task)

    async def _serve(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, authenticated: bool
    ) -> None:
        conn = Connection(writer, authenticated, self.logs)
        self.connections.add(conn)
        transport = writer.transport
        transport.set_write_buffer_limits(high=REPLY_HIGH_WATER)
        splitter = LineFramer(limit=MAX_LINE if authenticated else PREAUTH_MAX_LINE)
        answered = 0
        try:
            while not conn.closed:
                # The first request (auth on TCP) comes at once from every real client;
                # after it, only a connection that neither asks nor listens is idle.
                timeout: float | None = AUTH_TIMEOUT
                reason = "auth_timeout" if not conn.authenticated else "first_request_timeout"
                if conn.authenticated and answered:
                    timeout, reason = (None if conn.subscribed else IDLE_TIMEOUT), "idle_timeout"
                try:
                    async with asyncio.timeout(timeout):
                        data = await reader.read(READ_CHUNK)
                except TimeoutError:
                    conn.close(reason)
                    break
                if not data:
                    break
                for line in splitter.iter_feed(data):
                    if conn.closed:
                        break
                    conn.send(await self._answer(line, conn))
                    answered += 1
                    if conn.close_after_reply:
                        await asyncio.sleep(AUTH_FAILURE_PAUSE)  # holds the slot: few guesses
                        conn.close()
                        break
                    if transport.get_write_buffer_size() > REPLY_HIGH_WATER:
                        try:
                            async with asyncio.timeout(DRAIN_TIMEOUT):
                                await writer.drain()
                        except TimeoutError:
                            conn.drop("not_reading")
                    # One line per turn of the loop: every other client, device and timer
                    # gets its turn between two lines of a flood.
                    await asyncio.sleep(0)
                if conn.authenticated:
                    splitter.limit = MAX_LINE
        except (ConnectionError, OSError):
            pass
        finally:
            self.connections.discard(conn)
            conn.close()

    async def _answer(self, line: bytes | TooLong, conn: Connection) -> dict[str, Any]:
        if isinstance(line, TooLong):
            if not conn.authenticated:
                conn.close_after_reply = True
            limit = MAX_LINE if conn.authenticated else PREAUTH_MAX_LINE
            return error_reply(None, "line_too_long", f"a request line is at most {limit} bytes")
        try:
            request = parse_request(line)
        except ApiError as exc:
            if not conn.authenticated:
                conn.close_after_reply = True
            return error_reply(getattr(exc, "request_id", None), exc.code, exc.message)
        if not conn.authenticated:
            return self._authenticate(request, conn)
        started = time.perf_counter()
        try:
            return await self._handler(request, conn)
        except ApiError as exc:
            return error_reply(request.id, exc.code, exc.message)
        except Exception as exc:
            log.exception("api: %s failed", request.op)
            return error_reply(request.id, "internal", f"{type(exc).__name__}: {exc}")
        finally:
            if self.observe is not None:
                self.observe(request.op, time.perf_counter() - started)

    def _authenticate(self, request: ApiRequest, conn: Connection) -> dict[str, Any]:
        token = request.args.get("token")
        if request.op != "auth":
            conn.close_after_reply = True  # auth first: nothing else is answered before it
            return error_reply(request.id, "unauthenticated",
                               "the first request on TCP is {'op': 'auth', 'token': ...}")
        if not isinstance(token, str) or not hmac.compare_digest(
            token.encode(), (self._token or "").encode()
        ):
            self.logs.wrong_token.note()
            conn.close_after_reply = True  # one guess per connection
            return error_reply(request.id, "unauthenticated", "wrong token")
        conn.authenticated = True
        return {"id": request.id, "ok": True}


async def _socket_alive(path: Path) -> bool:
    try:
        _, writer = await asyncio.open_unix_connection(str(path))
    except OSError:
        return False
    writer.close()
    return True


SOCKET_ENV = "COUNCILD_SOCKET"
# The service's socket (systemd RuntimeDirectory=councild): where ctl and the TUI look when
# the user's own default has no daemon behind it.
SERVICE_SOCKET = Path("/run/councild/councild.sock")


def check_private_dir(folder: Path) -> None:
    """The socket's folder must be ours and closed to others: in a folder another user can
    write, that user could replace the socket and read every `ctl` request (OSError if not)."""
    info = folder.lstat()
    if not stat.S_ISDIR(info.st_mode):
        raise OSError(f"{folder}: not a directory (a symlink?); the API socket needs a "
                      "private folder")
    if info.st_uid != os.getuid():
        raise OSError(f"{folder}: owned by uid {info.st_uid}, not by us (uid {os.getuid()}); "
                      "refusing to put the API socket there")
    if info.st_mode & 0o022:
        raise OSError(f"{folder}: writable by others (mode {stat.S_IMODE(info.st_mode):04o}); "
                      "refusing to put the API socket there")


def default_socket_path() -> Path:
    """The daemon's socket: $COUNCILD_SOCKET, else $RUNTIME_DIRECTORY (set by systemd for the
    service), else the user's runtime directory."""
    named = os.environ.get(SOCKET_ENV)
    if named:
        return Path(named)
    service = os.environ.get("RUNTIME_DIRECTORY")
    if service:
        return Path(service.split(":")[0]) / "councild.sock"
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    if runtime:
        return Path(runtime) / "councild" / "councild.sock"
    return Path(f"/tmp/councild-{os.getuid()}") / "councild.sock"


def client_socket_path() -> Path:
    """Where a client (ctl, TUI) connects without --socket: the same default as the daemon's,
    or the service's socket when nothing listens at the user's default."""
    own = default_socket_path()
    if not own.exists() and SOCKET_ENV not in os.environ and SERVICE_SOCKET.exists():
        return SERVICE_SOCKET
    return own


# ---------------------------------------------------------------------------------------------
# Client


class ApiClient:
    """A client for scripts, `councild ctl` and the TUI."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader = reader
        self._writer = writer
        self._next_id = 0
        self._splitter = LineFramer(limit=64 * 1024 * 1024)
        self._lines: list[bytes] = []

    @classmethod
    async def connect(cls, path: Path | None = None) -> ApiClient:
        if path is None:
            path = client_socket_path()
            if path != SERVICE_SOCKET and SOCKET_ENV not in os.environ:
                # The user's own default place: refuse one another user could have squatted.
                check_private_dir(path.parent)
                if path.lstat().st_uid != os.getuid():
                    raise OSError(f"{path}: not created by us (uid {os.getuid()}); refusing it")
        reader, writer = await asyncio.open_unix_connection(str(path), limit=64 * 1024 * 1024)
        return cls(reader, writer)

    @classmethod
    async def connect_tcp(cls, host: str, port: int, token: str) -> ApiClient:
        reader, writer = await asyncio.open_connection(host, port)
        client = cls(reader, writer)
        reply = await client.request("auth", token=token)
        if not reply.get("ok"):
            await client.close()
            raise ApiError("unauthenticated", reply["error"]["message"])
        return client

    async def close(self) -> None:
        self._writer.close()
        with contextlib.suppress(Exception):
            await self._writer.wait_closed()

    async def receive(self) -> dict[str, Any]:
        """The next message from the daemon (a reply or a subscription message)."""
        while not self._lines:
            data = await self._reader.read(READ_CHUNK)
            if not data:
                raise ConnectionError("the daemon closed the connection")
            self._lines.extend(x for x in self._splitter.feed(data) if isinstance(x, bytes))
        message: dict[str, Any] = json.loads(self._lines.pop(0))
        return message

    async def request(self, op: str, **args: Any) -> dict[str, Any]:
        """Send one request and wait for its reply (subscription messages are skipped)."""
        self._next_id += 1
        rid = self._next_id
        self._writer.write(encode({"id": rid, "op": op, **args}))
        await self._writer.drain()
        while True:
            message = await self.receive()
            if message.get("id") == rid:
                return message

    async def subscribe(self) -> AsyncIterator[dict[str, Any]]:
        """The current state, then every change, as they come."""
        reply = await self.request("subscribe")
        if not reply.get("ok"):
            raise ApiError(reply["error"]["code"], reply["error"]["message"])
        yield {"event": "state", "state": reply["state"]}
        while True:
            yield await self.receive()
