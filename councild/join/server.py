"""The join page's web server: the page, its static files, the Janus proxy and the control
socket (docs/join.md), on aiohttp.

One page load of one councillor is a `Page`: its control socket and its Janus connection share
the page's random instance id. A new page of the same councillor replaces the old one: the old
page is told so and both its sockets are closed, which ends its Janus session (Janus drops a
session with its transport), so the councillor is in the room once.
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import json
import logging
import secrets
import ssl
import string
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import websockets
from aiohttp import WSCloseCode, WSMsgType, web
from aiohttp.abc import AbstractAccessLogger

from councild.config import Config
from councild.host import JoinHost
from councild.join.access import FailureLimiter, TokenBook
from councild.join.audio_gate import AudioBridgeGate
from councild.join.gate import Forward, JanusGate, from_janus
from councild.join.guard import KEEPALIVE_TIMEOUT, ConnectionGuard, GuardedSite, TokenBucket
from councild.join.status import seat_status
from councild.join.strings import (
    choose_language,
    page_strings,
    refusal_reason,
    refusal_strings,
)
from councild.limits import CoalescedLog

log = logging.getLogger("councild.join")

HERE = Path(__file__).parent
# Close codes the page understands (4000–4999 are the application's).
CLOSE_REPLACED = 4409
CLOSE_REFUSED = 4403
CLOSE_JANUS_DOWN = 4502
MAX_MESSAGE = 256 * 1024  # an SDP with many candidates is ~10 kB; nothing legitimate is bigger
SEND_TIMEOUT = 10.0  # a page that reads nothing for this long is closed
CONTROL_OPS = ("request", "withdraw", "finish")
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; "
                               "media-src 'self' blob: mediastream:; frame-ancestors 'none'",
    "Referrer-Policy": "no-referrer",  # the token is in the page's address
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "Permissions-Policy": "camera=(self), microphone=(self)",
}


@dataclass
class Page:
    """One loaded join page of one councillor."""

    councillor: str
    instance: str
    control: web.WebSocketResponse | None = None
    participant: str | None = None
    last_status: dict[str, Any] | None = None
    closing: bool = False
    # Set to a close code to end the Janus relay: only its own handler closes that socket
    # (closing an aiohttp WebSocket from another task while one reads it aborts it).
    janus_end: asyncio.Future[int] | None = None
    audio_end: asyncio.Future[int] | None = None  # the same, for the AudioBridge relay
    tasks: set[asyncio.Task[Any]] = field(default_factory=set)
    # Control messages are rate-limited per page; those beyond the rate are only counted.
    rate: TokenBucket = field(default_factory=TokenBucket)
    throttled: int = 0
    told_throttled: float = float("-inf")
    # Status messages: one sender at a time; a page that does not read gets only the newest
    # status when it reads again (never a queue of them), and is closed after SEND_TIMEOUT.
    queued: dict[str, Any] | None = None
    sender: asyncio.Task[None] | None = None


class RedactingAccessLogger(AbstractAccessLogger):
    """aiohttp's access log, without the token in the path."""

    def log(self, request: web.BaseRequest, response: web.StreamResponse, time: float) -> None:
        path = request.path
        for prefix in ("/join/", "/janus/", "/janus-audio/", "/control/"):
            if path.startswith(prefix):
                path = prefix + "…"
        self.logger.debug("%s %s %s %d %.3f s", request.remote, request.method, path,
                          response.status, time)


class JoinServer:
    def __init__(self, config: Config, tokens: TokenBook, host: JoinHost, janus_url: str,
                 room: int, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.config = config
        self.tokens = tokens
        self.host = host
        self.janus_url = janus_url
        self.room = room
        self.clock = clock
        self.limiter = FailureLimiter(config.join.max_failures)
        self.pages: dict[str, Page] = {}  # councillor → their current page
        self._replaced: dict[str, set[str]] = {}  # councillor → instances that were replaced
        self._templates = {name: string.Template((HERE / "templates" / name).read_text("utf-8"))
                           for name in ("page.html", "refused.html")}
        self._runner: web.AppRunner | None = None
        self._seat_of = {s.councillor: s.id for s in config.seats
                         if s.remote and s.councillor is not None}
        self.refused_messages = 0  # browser messages the Janus gate stopped
        self.guard = ConnectionGuard()
        self._unknown_token = CoalescedLog(log, "join: unknown token")
        self._refused_gate = CoalescedLog(log, "join: the proxy refused a page's Janus request")
        self._bad_origin = CoalescedLog(log, "join: WebSocket from a foreign origin refused")

    # --- lifecycle --------------------------------------------------------------------------

    async def start(self) -> None:
        app = web.Application(client_max_size=64 * 1024, middlewares=[self.guard.middleware])
        app.add_routes([
            web.get("/join/{token}", self._page),
            web.get("/janus/{token}", self._janus),
            web.get("/janus-audio/{token}", self._janus_audio),
            web.get("/control/{token}", self._control),
            web.get("/static/{name}", self._static),
        ])
        self._runner = web.AppRunner(app, access_log_class=RedactingAccessLogger,
                                     access_log=logging.getLogger("councild.join.access"),
                                     handle_signals=False, shutdown_timeout=1.0,
                                     keepalive_timeout=KEEPALIVE_TIMEOUT)
        await self._runner.setup()
        site = GuardedSite(self._runner, self.guard, self.config.join.host,
                           self.config.join.port, ssl_context=self._ssl())
        await site.start()
        log.info("join page on %s (%d councillors with tokens)", self.base_url, len(self.tokens))

    async def stop(self) -> None:
        for page in list(self.pages.values()):
            await self._close_page(page, WSCloseCode.GOING_AWAY, None)
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    @property
    def base_url(self) -> str:
        return self.config.join.base_url

    def _ssl(self) -> ssl.SSLContext | None:
        join = self.config.join
        if join.tls_cert is None or join.tls_key is None:
            return None
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(join.tls_cert, join.tls_key)
        return context

    # --- access -----------------------------------------------------------------------------

    def _councillor(self, request: web.Request) -> str | None:
        """The councillor the token names; None (and counted) if it names nobody. Callers
        check the address's lock-out first (429 rather than 403)."""
        address = request.remote or "?"
        councillor = self.tokens.lookup(request.match_info["token"])
        if councillor is None or councillor not in self._seat_of:
            self.limiter.failed(address, self.clock())
            self._unknown_token.note(address)
            return None
        self.limiter.succeeded(address)
        return councillor

    def _origin_ok(self, request: web.Request) -> bool:
        """The page's own origin as configured, never the request's Host header (a DNS
        rebinding page sends a Host of its choosing)."""
        return request.headers.get("Origin") in self.origins

    @property
    def origins(self) -> frozenset[str]:
        join = self.config.join
        allowed = {join.base_url.rstrip("/"), *(o.rstrip("/") for o in join.origins)}
        if join.public_url:
            allowed.add(join.public_url.rstrip("/"))
        if join.host in ("127.0.0.1", "::1"):  # a local test page: both names of loopback
            scheme = "https" if join.tls_cert else "http"
            allowed.add(f"{scheme}://localhost:{join.port}")
        return frozenset(allowed)

    def _instance(self, request: web.Request) -> str | None:
        instance = request.query.get("i", "")
        return instance if 8 <= len(instance) <= 64 and instance.isalnum() else None

    # --- the page ---------------------------------------------------------------------------

    async def _page(self, request: web.Request) -> web.Response:
        lang = choose_language(request.query.get("lang"), request.headers.get("Accept-Language"))
        if self.limiter.blocked(request.remote or "?", self.clock()):
            return self._refusal(lang, 429, limited=True)
        councillor = self._councillor(request)
        if councillor is None:
            return self._refusal(lang, 403)
        person = self.config.councillor(councillor)
        strings = page_strings(lang)
        chamber = self.config.join.chamber
        config = {"lang": lang, "name": person.name if person else councillor,
                  "seat": self._seat_of[councillor], "room": self.room,
                  "chamber": chamber.id if chamber is not None else None, "strings": strings,
                  # hybrid audio: the microphone goes to this AudioBridge room, not the video
                  "audio": ({"room": self.config.bridge.audio.room}
                            if self.config.bridge.audio is not None else None)}
        # In a <script> data block only "</" could end it early; \u003c keeps JSON valid.
        data = json.dumps(config, ensure_ascii=False).replace("<", "\\u003c")
        body = self._templates["page.html"].substitute(
            lang=lang, title=html.escape(strings["title"]), config=data)
        return web.Response(text=body, content_type="text/html", headers=SECURITY_HEADERS)

    def _refusal(self, lang: str, status: int, *, limited: bool = False) -> web.Response:
        strings = refusal_strings(lang)
        body = self._templates["refused.html"].substitute(
            lang=lang, title=html.escape(strings["title"]),
            body=html.escape(strings["limited"] if limited else strings["body"]))
        return web.Response(text=body, status=status, content_type="text/html",
                            headers=SECURITY_HEADERS)

    async def _static(self, request: web.Request) -> web.StreamResponse:
        files = {"janus.js": self.config.join.janus_js,
                 "adapter.js": self.config.join.adapter_js,
                 "join.js": HERE / "static" / "join.js",
                 "join.css": HERE / "static" / "join.css"}
        path = files.get(request.match_info["name"])
        if path is None:
            raise web.HTTPNotFound()
        return web.FileResponse(path, headers={"X-Content-Type-Options": "nosniff",
                                               "Cache-Control": "no-cache"})

    # --- pages: one per councillor ----------------------------------------------------------

    async def _enter(self, request: web.Request) -> tuple[str, str] | web.Response:
        """Token, origin and instance of a WebSocket request, or the refusal."""
        if not self._origin_ok(request):
            self._bad_origin.note(repr(request.headers.get("Origin"))[:80])
            return web.Response(status=403, text="origin not allowed")
        if self.limiter.blocked(request.remote or "?", self.clock()):
            return web.Response(status=429, text="too many attempts")
        councillor = self._councillor(request)
        if councillor is None:
            return web.Response(status=403, text="not allowed")
        instance = self._instance(request)
        if instance is None:
            return web.Response(status=400, text="missing page instance")
        return councillor, instance

    async def _take(self, councillor: str, instance: str) -> Page | None:
        """The page for this instance; a new instance replaces the councillor's old page.
        None for an instance that was replaced already (it must not take the place back)."""
        if instance in self._replaced.get(councillor, ()):
            return None
        page = self.pages.get(councillor)
        if page is not None and page.instance == instance:
            return page
        if page is not None:
            self._replaced.setdefault(councillor, set()).add(page.instance)
            log.info("join: %s joined again; the earlier page is replaced", councillor)
            await self._close_page(page, CLOSE_REPLACED, {"type": "replaced"})
        page = Page(councillor, instance)
        self.pages[councillor] = page
        return page

    async def _close_page(self, page: Page, code: int, last: dict[str, Any] | None) -> None:
        page.closing = True
        if self.pages.get(page.councillor) is page:
            del self.pages[page.councillor]
        if page.control is not None and not page.control.closed:
            if last is not None:
                with contextlib.suppress(ConnectionError, RuntimeError):
                    await page.control.send_json(last)
            await page.control.close(code=code)
        if page.janus_end is not None and not page.janus_end.done():
            page.janus_end.set_result(code)
        if page.audio_end is not None and not page.audio_end.done():
            page.audio_end.set_result(code)

    # --- control socket ---------------------------------------------------------------------

    async def _control(self, request: web.Request) -> web.StreamResponse:
        entered = await self._enter(request)
        if isinstance(entered, web.Response):
            return entered
        councillor, instance = entered
        lang = choose_language(request.query.get("lang"), request.headers.get("Accept-Language"))
        ws = web.WebSocketResponse(heartbeat=20.0, max_msg_size=4096)
        await ws.prepare(request)
        page = await self._take(councillor, instance)
        if page is None:
            await ws.send_json({"type": "replaced"})
            await ws.close(code=CLOSE_REPLACED)
            return ws
        if page.control is not None and not page.control.closed:
            await page.control.close(code=CLOSE_REPLACED)  # the same page reconnected
        page.control = ws
        page.last_status = None
        self._send_status(page)
        async for msg in ws:
            await asyncio.sleep(0)  # one message per turn: a flood must not hold the loop
            if msg.type is not WSMsgType.TEXT:
                continue
            op = self._control_op(msg.data)
            if op is None:
                continue
            now = self.clock()
            if not page.rate.allow(now):  # a flood: counted, told once a second, not applied
                page.throttled += 1
                if now - page.told_throttled >= 1.0:
                    page.told_throttled = now
                    await ws.send_json({"type": "refused", "code": "too_fast",
                                        "message": refusal_reason(lang, "too_fast")})
                continue
            refusal = self.host.join_floor(councillor, op)
            if refusal is not None:
                await ws.send_json({"type": "refused", "code": refusal,
                                    "message": refusal_reason(lang, refusal)})
        if page.control is ws:
            page.control = None
        return ws

    @staticmethod
    def _control_op(data: str) -> str | None:
        try:
            msg = json.loads(data)
        except ValueError:
            return None
        op = msg.get("op") if isinstance(msg, dict) else None
        return op if op in CONTROL_OPS else None

    def has_pages(self) -> bool:
        return bool(self.pages)

    def state_changed(self, state: dict[str, Any]) -> None:
        """The daemon's state changed: tell each page what it means for its councillor."""
        for page in list(self.pages.values()):
            self._send_status(page, state)

    def _send_status(self, page: Page, state: dict[str, Any] | None = None) -> None:
        ws = page.control
        if ws is None or ws.closed or page.closing:
            return
        state = state if state is not None else self.host.state_dict()
        in_room = (page.participant is not None
                   and self.host.join_in_room(page.councillor, page.participant))
        status = seat_status(state, self._seat_of[page.councillor], in_room)
        if status == page.last_status and status["status"] != "speaking":
            return  # nothing new for this page (a speaker's remaining time is always news)
        page.last_status = status
        page.queued = status
        if page.sender is None or page.sender.done():
            task = asyncio.get_running_loop().create_task(self._sender(page, ws))
            page.sender = task
            page.tasks.add(task)
            task.add_done_callback(page.tasks.discard)

    @staticmethod
    async def _sender(page: Page, ws: web.WebSocketResponse) -> None:
        while page.queued is not None and not ws.closed:
            message, page.queued = page.queued, None
            try:
                async with asyncio.timeout(SEND_TIMEOUT):
                    await ws.send_json(message)
            except TimeoutError:  # not reading: bounded, not buffered
                with contextlib.suppress(ConnectionError, RuntimeError):
                    await ws.close(code=WSCloseCode.POLICY_VIOLATION)
                return
            except (ConnectionError, RuntimeError):
                return

    # --- the Janus proxy --------------------------------------------------------------------

    async def _janus(self, request: web.Request) -> web.StreamResponse:
        entered = await self._enter(request)
        if isinstance(entered, web.Response):
            return entered
        councillor, instance = entered
        # Pings find a page that vanished without closing (a laptop lid), as on the control
        # socket; the browser answers them itself.
        ws = web.WebSocketResponse(protocols=("janus-protocol",), max_msg_size=MAX_MESSAGE,
                                   heartbeat=20.0)
        await ws.prepare(request)
        page = await self._take(councillor, instance)
        if page is None:
            await ws.close(code=CLOSE_REPLACED)
            return ws
        if page.janus_end is not None and not page.janus_end.done():
            page.janus_end.set_result(CLOSE_REPLACED)  # the same page reconnected
        person = self.config.councillor(councillor)
        participant_id = secrets.randbelow(2**52) + 1
        gate = JanusGate(self.room, person.name if person else councillor, participant_id)
        upstream = await _janus_upstream(self.janus_url, councillor, "page")
        if upstream is None:
            await ws.close(code=CLOSE_JANUS_DOWN)
            return ws
        end: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        page.janus_end = end
        page.participant = str(participant_id)
        self.host.join_claim(page.participant, councillor)
        self._send_status(page)
        try:
            await self._pump(ws, upstream, gate, councillor, end)
        finally:
            await upstream.close()  # Janus ends the page's session with its transport
            self.host.join_claim(str(participant_id), None)
            if not ws.closed:
                await ws.close(code=end.result() if end.done() else CLOSE_JANUS_DOWN)
        return ws

    async def _janus_audio(self, request: web.Request) -> web.StreamResponse:
        """The page's AudioBridge connection (hybrid audio): its own Janus session, its own
        participant id (claimed for the councillor like the video one), its own gate."""
        audio = self.config.bridge.audio
        if audio is None:
            return web.Response(status=404)
        entered = await self._enter(request)
        if isinstance(entered, web.Response):
            return entered
        councillor, instance = entered
        ws = web.WebSocketResponse(protocols=("janus-protocol",), max_msg_size=MAX_MESSAGE,
                                   heartbeat=20.0)
        await ws.prepare(request)
        page = self.pages.get(councillor)
        if page is None or page.instance != instance:
            # the control socket made the page; an audio socket of a replaced page is refused
            page = await self._take(councillor, instance)
            if page is None:
                await ws.close(code=CLOSE_REPLACED)
                return ws
        if page.audio_end is not None and not page.audio_end.done():
            page.audio_end.set_result(CLOSE_REPLACED)
        person = self.config.councillor(councillor)
        participant_id = secrets.randbelow(2**52) + 1
        gate = AudioBridgeGate(audio.room, person.name if person else councillor,
                               participant_id)
        upstream = await _janus_upstream(audio.url, councillor, "audio")
        if upstream is None:
            await ws.close(code=CLOSE_JANUS_DOWN)
            return ws
        end: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        page.audio_end = end
        self.host.join_claim(str(participant_id), councillor)
        try:
            await self._pump(ws, upstream, gate, councillor, end)
        finally:
            await upstream.close()
            self.host.join_claim(str(participant_id), None)
            if not ws.closed:
                await ws.close(code=end.result() if end.done() else CLOSE_JANUS_DOWN)
        return ws

    async def _pump(self, ws: web.WebSocketResponse, upstream: Any,
                    gate: JanusGate | AudioBridgeGate,
                    councillor: str, end: asyncio.Future[int]) -> None:
        """Relay both ways until either side ends; the page's messages pass the gate."""
        async def down() -> None:
            async for text in upstream:
                # Other participants as councild knows them, never their raw displays.
                filtered = from_janus(text, self.host.join_display)
                if filtered is not None:
                    await ws.send_str(filtered)

        async def up() -> None:
            async for msg in ws:
                await asyncio.sleep(0)  # one message per turn, as on the control socket
                if msg.type is not WSMsgType.TEXT:
                    continue
                verdict = gate.from_browser(msg.data)
                if isinstance(verdict, Forward):
                    await upstream.send(verdict.text)
                else:
                    self.refused_messages += 1
                    self._refused_gate.note(f"{councillor}: {verdict.reason}")
                    await ws.send_str(verdict.text)

        tasks = {asyncio.create_task(down(), name=f"join:janus-down:{councillor}"),
                 asyncio.create_task(up(), name=f"join:janus-up:{councillor}")}
        try:
            await asyncio.wait({*tasks, end}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError, websockets.ConnectionClosed,
                                         ConnectionError, RuntimeError):
                    await task


async def _janus_upstream(url: str, councillor: str,
                          what: str) -> websockets.ClientConnection | None:
    """The proxy's own connection to Janus for one page socket; None (logged) when Janus
    cannot be reached, and the page is told so by its close code."""
    try:
        return await websockets.connect(url, subprotocols=["janus-protocol"],
                                        max_size=MAX_MESSAGE, open_timeout=5)
    except (OSError, TimeoutError, websockets.InvalidHandshake) as exc:
        log.warning("join: Janus unreachable for %s's %s: %s", councillor, what, exc)
        return None
