"""The broadcast carried out: start/stop/pause in OBS, the 1 Hz health poll, OBS's events.

The pure part is councild/broadcast.py; this module does the talking. It shares OBS's
connection with the picture (councild/vision.py) but nothing else: the poll is a task of its
own that holds no lock and no queue the cuts use, so a slow poll answer never stands between
a desk and the program scene (bench/e2e_latency.py measures it with the poll on).

Before a start, councild asks OBS what it would do, so a technician hears why in words
instead of finding a dead stream later:
- no stream server configured, or a platform/custom RTMP service without a stream key;
- a recording folder that does not exist or is not writable (checked only where OBS runs on
  this machine: a remote OBS's folders are not ours to look at; OBS's own failure is then
  reported when the recording does not start).
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import os
import time
from collections.abc import Callable
from typing import Any

from councild.broadcast import AlarmChange, BroadcastHealth, Thresholds
from councild.config import BroadcastTable as BroadcastOptions
from councild.errors import CouncildError
from councild.host import BroadcastHost
from councild.i18n import _
from scenes.obs_client import ObsClient
from scenes.obs_protocol import (
    BatchExecution,
    ObsEvent,
    ObsRequestError,
    Request,
    parse_output_state,
)

log = logging.getLogger("councild.broadcast")

# API ops (docs/api.md) and what each asks OBS for.
OPS: dict[str, str] = {
    "stream_start": "StartStream",
    "stream_stop": "StopStream",
    "record_start": "StartRecord",
    "record_stop": "StopRecord",
    "record_pause": "PauseRecord",
    "record_resume": "ResumeRecord",
}
POLL_TIMEOUT = 2.0  # a poll answer later than this is worth less than the next poll
START_WATCH = 15.0  # seconds a started output has to become active before we say it did not
# RequestStatus codes of obs-websocket 5 that mean "already in that state".
STATUS_OUTPUT_RUNNING = 500
STATUS_OUTPUT_NOT_RUNNING = 501
STATUS_OUTPUT_PAUSED = 502
STATUS_OUTPUT_NOT_PAUSED = 503


class BroadcastError(CouncildError):
    """A broadcast command refused before or by OBS; `code` for the API."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _is_local(host: str) -> bool:
    if host in ("localhost", ""):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class BroadcastControl:
    def __init__(
        self,
        obs: ObsClient,
        options: BroadcastOptions,
        host: BroadcastHost,
        *,
        obs_host: str,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.obs = obs
        self.options = options
        self.health = BroadcastHealth(Thresholds(
            dropped_percent=options.dropped_frames_percent,
            dropped_window=options.dropped_window,
            disk_low_minutes=options.disk_low_minutes,
            bitrate_window=options.bitrate_window,
        ))
        self._local = _is_local(obs_host)
        self.host = host
        self._note = host.note
        self._changed = host.changed
        self._clock = host.now
        self._monotonic = monotonic  # for the start watch's deadline
        self._task: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._unsubscribe: list[Callable[[], None]] = []
        self._starting: dict[str, float] = {}  # output → when a start was asked (monotonic)
        self.chapters_supported: bool | None = None  # None until OBS answered GetVersion
        self.polls = 0
        self.poll_failures = 0

    # --- lifecycle -------------------------------------------------------------------------

    async def start(self) -> None:
        for event_type in ("StreamStateChanged", "RecordStateChanged"):
            self._unsubscribe.append(self.obs.subscribe(event_type, self._on_output_event))
        if self.options.poll:
            self._task = asyncio.create_task(self._poll_loop(), name="broadcast:poll")

    async def stop(self) -> None:
        for unsubscribe in self._unsubscribe:
            unsubscribe()
        tasks = [t for t in (self._task, *self._tasks) if t is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def state_dict(self) -> dict[str, Any]:
        return {**self.health.state_dict(), "chapters_supported": self.chapters_supported}

    def _record(self, source: str, type_: str, body: dict[str, Any]) -> None:
        """Commands, OBS's output states and alarms in the session record."""
        self.host.record(source, "broadcast", type_, body)

    # --- commands --------------------------------------------------------------------------

    async def command(self, op: str, source: str) -> dict[str, Any]:
        """Carry out one op; what the API reply adds (a recording's path). BroadcastError."""
        if not self.obs.connected:
            raise BroadcastError("obs_not_connected", _("OBS is not connected"))
        if op == "stream_start":
            await self._check_stream_service()
        elif op == "record_start":
            await self._check_record_directory()
        self._record(source, op, {})
        self._apply(self.health.commanded(op), source)
        try:
            if op == "record_stop":
                path = await self.obs.stop_record()
                result: dict[str, Any] = {"path": path} if path else {}
            else:
                await self.obs.request(OPS[op])
                result = {}
        except ObsRequestError as exc:
            self.health.command_failed(op)
            raise BroadcastError(*self._refusal(op, exc)) from exc
        except CouncildError as exc:
            self.health.command_failed(op)
            raise BroadcastError("obs_failed", str(exc)) from exc
        if op in ("stream_start", "record_start"):
            output = op.removesuffix("_start")
            self._starting[output] = self._monotonic()
            self._spawn(self._watch_start(output), f"broadcast:watch-{output}")
        self._changed()
        return result

    def _refusal(self, op: str, exc: ObsRequestError) -> tuple[str, str]:
        known = {
            STATUS_OUTPUT_RUNNING: ("already_running", _("OBS is already doing that")),
            STATUS_OUTPUT_NOT_RUNNING: ("not_running", {
                "stream_stop": _("the stream is not running"),
            }.get(op, _("the recording is not running"))),
            STATUS_OUTPUT_PAUSED: ("already_paused", _("the recording is already paused")),
            STATUS_OUTPUT_NOT_PAUSED: ("not_paused", _("the recording is not paused")),
        }
        if exc.code in known:
            return known[exc.code]
        return "obs_refused", str(exc)

    async def _check_stream_service(self) -> None:
        try:
            data = await self.obs.get_stream_service()
        except CouncildError as exc:
            raise BroadcastError("obs_failed", str(exc)) from exc
        kind = str(data.get("streamServiceType") or "")
        settings = data.get("streamServiceSettings")
        settings = settings if isinstance(settings, dict) else {}
        if kind == "rtmp_custom" and not str(settings.get("server") or "").strip():
            raise BroadcastError("no_output", _(
                "OBS has no stream server configured (OBS: Settings → Stream → Server)"))
        if kind == "rtmp_common" and not str(settings.get("service") or "").strip():
            raise BroadcastError("no_output", _(
                "OBS has no streaming service configured (OBS: Settings → Stream)"))
        if kind in ("rtmp_custom", "rtmp_common") and not str(settings.get("key") or "").strip():
            raise BroadcastError("no_stream_key", _(
                "the stream key is missing in OBS (OBS: Settings → Stream → Stream Key)"))
        if not kind:
            raise BroadcastError("no_output", _("OBS has no stream output configured"))

    async def _check_record_directory(self) -> None:
        try:
            folder = await self.obs.get_record_directory()
        except ObsRequestError:
            return  # an OBS without the request: its own start will tell
        except CouncildError as exc:
            raise BroadcastError("obs_failed", str(exc)) from exc
        if not folder.strip():
            raise BroadcastError("no_record_path", _(
                "OBS has no recording folder configured (OBS: Settings → Output → "
                "Recording Path)"))
        if not self._local:
            return
        if os.path.exists(folder) and not os.path.isdir(folder):
            raise BroadcastError("record_path", _(
                "the recording folder {path} is not a folder").format(path=folder))
        if not os.path.isdir(folder):
            raise BroadcastError("record_path", _(
                "the recording folder {path} does not exist").format(path=folder))
        if not os.access(folder, os.W_OK | os.X_OK):
            raise BroadcastError("record_path", _(
                "the recording folder {path} is not writable").format(path=folder))

    async def _watch_start(self, output: str) -> None:
        """A start OBS accepted but that never went live (server unreachable, bad key,
        disk refused): say so once, in words."""
        asked = self._starting.get(output)
        deadline = (asked or self._monotonic()) + START_WATCH
        while self._monotonic() < deadline:
            await asyncio.sleep(0.25)
            if self._starting.get(output) != asked:
                return  # settled by an event (started, or stopped → reported there)
            state = (self.health.stream_state if output == "stream"
                     else self.health.record_state)
            if state in ("live", "reconnecting", "recording", "paused"):
                self._starting.pop(output, None)
                return
        if self._starting.pop(output, None) is not None:
            self._start_failed(output, _("OBS did not start it within {s:.0f} s").format(
                s=START_WATCH))

    def _start_failed(self, output: str, why: str) -> None:
        what = {"type": "BroadcastStartFailed", "output": output, "reason": why}
        self._record("obs", "BroadcastStartFailed", {"output": output, "reason": why})
        self._note("obs", what)
        log.warning("%s did not start: %s", output, why)
        self.health.command_failed(f"{output}_start")
        self._changed()

    # --- OBS's events and the poll -------------------------------------------------------

    def _on_output_event(self, event: ObsEvent) -> None:
        change = parse_output_state(event)
        if change is None:
            return
        body: dict[str, Any] = {"state": change.state, "active": change.active}
        if change.path:
            body["path"] = change.path
        self._record("obs", event.event_type, body)
        self._note("obs", {"type": event.event_type, **body})
        if change.state == "stopped" and self._starting.pop(change.output, None) is not None:
            self._start_failed(change.output, _("OBS stopped it while starting (see OBS's log)"))
        elif change.state == "started":
            self._starting.pop(change.output, None)
        self._apply(self.health.output_event(
            self._clock(), change.output, change.state, change.active, change.path), "obs")
        if change.output == "record" and change.state == "started":
            self._spawn(self._check_capabilities(), "broadcast:version")
        self._changed()

    async def _poll_loop(self) -> None:
        interval = self.options.poll_interval
        was_connected = False
        while True:
            started = self._monotonic()
            if self.obs.connected:
                if not was_connected:
                    await self._check_capabilities()
                was_connected = True
                await self._poll_once()
            elif was_connected or self.health.connected:
                was_connected = False
                self.chapters_supported = None
                self._apply(self.health.obs_lost(self._clock()), "obs")
                self._changed()
            await asyncio.sleep(max(0.05, interval - (self._monotonic() - started)))

    async def _poll_once(self) -> None:
        requests = [Request(request_type=t) for t in
                    ("GetStreamStatus", "GetRecordStatus", "GetStats")]
        try:
            results = await self.obs.batch(requests, execution=BatchExecution.SERIAL_REALTIME,
                                           timeout=POLL_TIMEOUT)
        except CouncildError as exc:
            self.poll_failures += 1
            log.debug("broadcast poll failed: %s", exc)
            return
        self.polls += 1
        answers = [r.data if r.ok else None for r in results]
        answers += [None] * (3 - len(answers))
        before = self.state_dict()
        self._apply(self.health.poll(self._clock(), *answers[:3]), "obs")
        if self.state_dict() != before:
            self._changed()

    async def _check_capabilities(self) -> None:
        try:
            version = await self.obs.get_version()
        except CouncildError:
            return
        requests = version.get("availableRequests")
        self.chapters_supported = isinstance(requests, list) and "CreateRecordChapter" in requests

    # --- agenda chapters in the recording --------------------------------------------------

    def agenda_changed(self, title: str | None) -> None:
        """Where OBS can (5.5+, Hybrid MP4), a chapter marker in the file at each item."""
        if not (self.options.record_chapters and self.chapters_supported and title
                and self.health.record_state == "recording"):
            return

        async def mark() -> None:
            try:
                await self.obs.create_record_chapter(title)
            except CouncildError as exc:
                log.info("OBS did not set the chapter %r: %s", title, exc)

        self._spawn(mark(), "broadcast:chapter")

    # --- internals ---------------------------------------------------------------------------

    def _apply(self, changes: list[AlarmChange], source: str) -> None:
        for change in changes:
            body = {"alarm": change.alarm.value, "raised": change.raised, **change.detail}
            self._record(source, "BroadcastAlarm", body)
            self._note(source, {"type": "BroadcastAlarm", **body})
            (log.warning if change.raised else log.info)("broadcast alarm %s %s %s",
                                                         change.alarm.value,
                                                         "raised" if change.raised
                                                         else "cleared", change.detail)

    def _spawn(self, coro: Any, name: str) -> None:
        task = asyncio.get_running_loop().create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
