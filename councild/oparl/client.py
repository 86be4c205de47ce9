"""An OParl client over aiohttp: every request bounded in time and bytes, lists bounded in
pages, retried with backoff where a retry can help, a loop in `links.next` an error.

Real servers answer 404 for lists they have no entries in, embed lists or link them, and
put control characters into JSON strings: the client accepts all of that. Anything that is
not JSON (an HTML login page, a portal's start page) is an error that says so.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

import aiohttp

from councild import __version__
from councild.i18n import _

log = logging.getLogger("councild.oparl")

USER_AGENT = f"councild/{__version__} (OParl import; +https://github.com/councild)"
CHUNK = 64 * 1024
RETRY_STATUS = frozenset({429, 500, 502, 503, 504})
PARALLEL = 4  # requests at once for the objects of an external list (polite to the server)


@dataclass(frozen=True, slots=True)
class Limits:
    timeout: float = 20.0  # seconds for one request, answer read completely
    connect_timeout: float = 5.0
    retries: int = 2  # further attempts after a timeout, a lost connection, 5xx or 429
    backoff: float = 0.5  # seconds before the first retry; doubled for each further one
    max_bytes: int = 16 * 1024 * 1024  # one response (a page of 25 meetings is ~300 kB)
    max_total_bytes: int = 256 * 1024 * 1024  # everything one command fetches
    max_pages: int = 400  # one list (367 meetings are 15 pages in Hürtgenwald)


class OParlError(Exception):
    """The server cannot be used: the message says why, for the technician."""

    def __init__(self, message: str, url: str = "") -> None:
        self.message = message
        self.url = url
        super().__init__(f"{message} ({url})" if url else message)


class NotFound(OParlError):
    """404 or 410: real servers answer it for empty lists and for objects they lost."""


class OParlClient:
    def __init__(self, limits: Limits | None = None) -> None:
        self.limits = limits or Limits()
        self.total_bytes = 0
        self.requests = 0
        self._http: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> OParlClient:
        self._http = aiohttp.ClientSession(
            headers={"User-Agent": USER_AGENT, "Accept": "application/json"},
            timeout=aiohttp.ClientTimeout(total=self.limits.timeout,
                                          connect=self.limits.connect_timeout),
            # Compressed answers are inflated as they stream in; `_read` counts the inflated
            # bytes, so a small gzip bomb meets the same bound as a large answer.
            auto_decompress=True,
        )
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        if self._http is not None:
            await self._http.close()

    # --- one object ------------------------------------------------------------------------

    async def get(self, url: str) -> dict[str, Any]:
        """The JSON object at `url`; OParlError (NotFound for 404/410) otherwise."""
        if urlsplit(url).scheme not in ("http", "https"):
            raise OParlError(_("not an http(s) URL"), url)
        attempt = 0
        while True:
            try:
                return await self._get_once(url)
            except _Retryable as exc:
                if attempt >= self.limits.retries:
                    raise OParlError(exc.message, url) from None
                delay = self.limits.backoff * (2 ** attempt)
                attempt += 1
                log.info("%s: %s; retry %d in %.1f s", url, exc.message, attempt, delay)
                await asyncio.sleep(delay)

    async def _get_once(self, url: str) -> dict[str, Any]:
        assert self._http is not None, "use the client as an async context manager"
        self.requests += 1
        try:
            async with self._http.get(url, allow_redirects=True, max_redirects=5) as response:
                if response.status in (404, 410):
                    raise NotFound(_("the server has no such object (HTTP {status})").format(
                        status=response.status), url)
                if response.status in RETRY_STATUS:
                    raise _Retryable(_("the server answered HTTP {status}").format(
                        status=response.status))
                if response.status >= 400:
                    raise OParlError(_("the server answered HTTP {status}").format(
                        status=response.status), url)
                body = await self._read(response, url)
                content_type = response.headers.get("Content-Type", "")
        except TimeoutError:
            raise _Retryable(_("no answer within {s:g} s").format(
                s=self.limits.timeout)) from None
        except aiohttp.TooManyRedirects:
            raise OParlError(_("too many redirects"), url) from None
        except aiohttp.ClientError as exc:
            raise _Retryable(_("cannot reach the server: {err}").format(
                err=str(exc) or type(exc).__name__)) from None
        return _decode(body, content_type, url)

    async def _read(self, response: aiohttp.ClientResponse, url: str) -> bytes:
        limit = self.limits.max_bytes
        too_big = OParlError(_("the answer is larger than {mb:g} MB").format(
            mb=limit / 1e6), url)
        if response.content_length is not None and response.content_length > limit:
            raise too_big
        parts: list[bytes] = []
        size = 0
        async for chunk in response.content.iter_chunked(CHUNK):
            size += len(chunk)
            self.total_bytes += len(chunk)
            if size > limit:
                raise too_big
            if self.total_bytes > self.limits.max_total_bytes:
                raise OParlError(_("more than {mb:g} MB fetched in all; stopped").format(
                    mb=self.limits.max_total_bytes / 1e6), url)
            parts.append(chunk)
        return b"".join(parts)

    # --- lists -----------------------------------------------------------------------------

    async def objects(self, value: Any) -> AsyncIterator[dict[str, Any]]:
        """Every object of an OParl list, however the server gives it: the URL of a paged
        list (`links.next` followed), an embedded array of objects or of URLs, or a single
        object where a list was expected. A 404 for the list is an empty list."""
        if value is None:
            return
        if isinstance(value, dict):
            if isinstance(value.get("data"), list):  # an embedded page
                async for obj in self._page_items(value["data"]):
                    yield obj
            else:
                yield value
            return
        if isinstance(value, list):
            async for obj in self._page_items(value):
                yield obj
            return
        if not isinstance(value, str):
            return
        url: str | None = value
        seen: set[str] = set()
        pages = 0
        while url:
            if url in seen:
                raise OParlError(_("the list's next page is a page already read (a loop)"),
                                 url)
            seen.add(url)
            pages += 1
            if pages > self.limits.max_pages:
                raise OParlError(_("the list has more than {n} pages; stopped").format(
                    n=self.limits.max_pages), url)
            try:
                page = await self.get(url)
            except NotFound:
                if pages == 1:
                    log.info("%s: 404, taken as an empty list", url)
                    return
                raise
            data = page.get("data")
            if not isinstance(data, list):
                # A Body (or another object) where a list was expected.
                if page.get("id") or page.get("type"):
                    yield page
                    return
                raise OParlError(_("not an OParl list (no 'data')"), url)
            async for obj in self._page_items(data):
                yield obj
            links = page.get("links")
            nxt = links.get("next") if isinstance(links, dict) else None
            url = nxt if isinstance(nxt, str) and nxt else None

    async def _page_items(self, items: list[Any]) -> AsyncIterator[dict[str, Any]]:
        # An external list (the array holds URLs) is fetched a few at a time, in order: a
        # person's memberships are dozens of small objects.
        for start in range(0, len(items), PARALLEL):
            batch = items[start:start + PARALLEL]
            urls = [item for item in batch if isinstance(item, str)]
            fetched = iter(await asyncio.gather(*(self._get_or_none(u) for u in urls)))
            for item in batch:
                if isinstance(item, dict):
                    yield item
                elif isinstance(item, str):
                    obj = next(fetched)
                    if obj is not None:
                        yield obj

    async def _get_or_none(self, url: str) -> dict[str, Any] | None:
        try:
            return await self.get(url)
        except NotFound:
            log.info("%s: 404, skipped", url)
            return None


class _Retryable(Exception):
    def __init__(self, message: str) -> None:
        self.message = message
        super().__init__(message)


def _decode(body: bytes, content_type: str, url: str) -> dict[str, Any]:
    text = body.decode("utf-8-sig", errors="replace")
    head = text.lstrip()[:200].lower()
    if "html" in content_type.lower() or head.startswith(("<!doctype", "<html", "<")):
        raise OParlError(_("the server answered an HTML page, not OParl JSON: is this the "
                           "OParl endpoint (the System or Body URL)?"), url)
    try:
        # strict=False: real servers put raw line breaks and tabs into strings.
        data = json.loads(text, strict=False)
    except ValueError as exc:
        raise OParlError(_("the answer is not JSON: {err}").format(err=exc), url) from None
    if not isinstance(data, dict):
        raise OParlError(_("the answer is JSON but not an OParl object"), url)
    return data
