"""`--web`: the same TUI in a browser through textual-serve (one TUI process per browser tab).

Loopback only unless a token is set: anyone who can open the page can run the chamber, so a
non-loopback address needs a token (from the environment variable named by --token-env),
given once as `?token=...` and then kept in an HttpOnly, SameSite=Strict cookie.
"""

from __future__ import annotations

import hmac
import ipaddress
import os
import shlex
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path

from councild.i18n import _

DEFAULT_PORT = 8566
TOKEN_ENV = "COUNCILD_TUI_TOKEN"
COOKIE = "councild_tui_token"
# A browser keeps the token cookie for one long session day, not forever.
COOKIE_MAX_AGE_S = 12 * 3600


class WebError(Exception):
    """The web UI cannot be served as asked (a usage problem, not a crash)."""


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a name other than localhost may resolve anywhere


def check_binding(host: str, token: str | None) -> None:
    """Refuse to expose the TUI beyond this machine without a token."""
    if not is_loopback(host) and not token:
        raise WebError(_("--web on {host} is reachable from other machines: set a token in "
                         "${var} (or bind 127.0.0.1 and use an SSH tunnel)").format(
                             host=host, var=TOKEN_ENV))


def tui_command(socket: Path) -> str:
    """The shell command textual-serve runs for each browser tab."""
    return f"{shlex.quote(sys.executable)} -m tui --socket {shlex.quote(str(socket))}"


def make_server(socket: Path, host: str, port: int, token: str | None) -> object:
    """A textual-serve Server for the TUI, with the token check when a token is set."""
    from aiohttp import web
    from textual_serve.server import Server

    Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

    @web.middleware
    async def require_token(request: web.Request, handler: Handler) -> web.StreamResponse:
        assert token is not None
        offered = request.query.get("token") or request.cookies.get(COOKIE) or ""
        if not hmac.compare_digest(offered.encode(), token.encode()):
            raise web.HTTPForbidden(text=_("councild TUI: a valid token is required\n"))
        response = await handler(request)
        if request.query.get("token"):
            response.set_cookie(COOKIE, token, max_age=COOKIE_MAX_AGE_S, httponly=True,
                                samesite="Strict")
        return response

    class TokenServer(Server):
        async def _make_app(self) -> web.Application:
            app = await super()._make_app()
            if token:
                app.middlewares.append(require_token)
            return app

    return TokenServer(tui_command(socket), host=host, port=port, title="councild")


def run_web(socket: Path, host: str, port: int, token_env: str = TOKEN_ENV) -> int:
    try:
        import textual_serve  # noqa: F401
    except ImportError:
        print(_("--web needs textual-serve: pip install textual-serve"), file=sys.stderr)
        return 2
    token = os.environ.get(token_env) or None
    try:
        check_binding(host, token)
    except WebError as exc:
        print(exc, file=sys.stderr)
        return 2
    server = make_server(socket, host, port, token)
    server.serve()  # type: ignore[attr-defined]
    return 0
