"""The daemon's handle on OBS: one obs-websocket link, kept up for the whole session.

`ObsClient` runs its connections (scenes/obs_connection.py) under the one reconnect loop
(councild/supervisor.py), checks after every connect that the scenes and inputs councild needs
exist, calls `on_ready` so the current shot can be re-applied, publishes health as
DeviceStatus(device="obs") through devices.base.LinkReporter, dispatches OBS events to
subscribers, and offers the requests the director and the broadcast need.
"""

from __future__ import annotations

import asyncio
import base64
import ipaddress
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from councild.errors import ConnectionLostError, OperationTimeoutError
from councild.i18n import _
from councild.model import Event, Link
from councild.sansio import Malformed
from councild.supervisor import Backoff, Supervisor
from devices.base import BACKOFF_CAP, LinkReporter
from scenes.obs_connection import (
    CONNECT_TIMEOUT,
    IDENTIFY_TIMEOUT,
    REQUEST_TIMEOUT,
    ObsConnection,
)
from scenes.obs_protocol import (
    BatchExecution,
    EventSubscription,
    Hello,
    MediaSource,
    ObsEvent,
    ObsRemoteProtocolError,
    Request,
    RequestResponse,
)

__all__ = [
    "AUTH_RETRY_DELAY",
    "LOCAL_RETRY_CAP",
    "ObsClient",
    "ObsInventory",
    "ObsOptions",
]

# A rendered screenshot at 1080p takes OBS a frame or two plus PNG encoding.
SCREENSHOT_TIMEOUT = 10.0
# A wrong password will not fix itself; retrying slowly keeps OBS's log readable while still
# picking up a corrected password without a daemon restart.
AUTH_RETRY_DELAY = 30.0
# Reconnect probing for an OBS on this machine: a refused local connect costs nothing (no
# packet leaves the host, OBS sees nothing), and the program must be back within a second of
# OBS accepting connections again, so the backoff stops growing at this. A remote OBS keeps
# the common backoff (devices.base), capped at 5 s.
LOCAL_RETRY_CAP = 0.4


def _is_local(host: str) -> bool:
    """OBS on this machine (loopback or the name localhost)."""
    if host.strip("[]").lower() in ("localhost", "localhost.localdomain"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class ObsOptions(BaseModel):
    """Where OBS listens: the part of the `[obs]` table of config.toml the client needs.
    councild.config.Obs extends this, so these fields are declared once."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    host: str = "127.0.0.1"
    port: int = Field(default=4455, ge=1, le=65535)
    # The password is a secret: whoever builds the client (councild.vision) reads it from
    # this environment variable, never from the file, and passes it as `password`.
    password_env: str = "COUNCILD_OBS_PASSWORD"


@dataclass(frozen=True, slots=True, kw_only=True)
class ObsInventory:
    """What OBS holds right after a (re)connect, checked against what councild needs."""

    obs_version: str
    websocket_version: str
    scenes: tuple[str, ...]
    inputs: tuple[str, ...]
    program_scene: str
    preview_scene: str | None
    studio_mode: bool
    missing_scenes: tuple[str, ...]
    missing_inputs: tuple[str, ...]

    @property
    def complete(self) -> bool:
        return not (self.missing_scenes or self.missing_inputs)


ReadyHook = Callable[["ObsInventory"], Awaitable[None] | None]
Subscriber = Callable[[ObsEvent], Awaitable[None] | None]

# Events that change which scenes and inputs exist.
_INVENTORY_EVENTS = frozenset(
    {
        "SceneListChanged",
        "SceneCreated",
        "SceneRemoved",
        "SceneNameChanged",
        "InputCreated",
        "InputRemoved",
        "InputNameChanged",
    }
)


class ObsClient(LinkReporter):
    """The daemon's handle on OBS: reconnects, checks, publishes health, dispatches events.

    `emit` receives DeviceStatus(device=name, ...) whenever the link or its detail changes.
    `on_ready(inventory)` runs after every successful (re)connect and check, so the daemon
    can re-apply the current shot. Requests raise ConnectionLostError while disconnected.
    """

    def __init__(
        self,
        options: ObsOptions,
        emit: Callable[[Event], None],
        *,
        password: str | None = None,
        required_scenes: Sequence[str] = (),
        required_inputs: Sequence[str] = (),
        on_ready: ReadyHook | None = None,
        name: str = "obs",
        event_subscriptions: int = EventSubscription.ALL,
    ) -> None:
        super().__init__(name, emit)
        self.options = options
        self._password = password
        self.required_scenes = tuple(required_scenes)
        self.required_inputs = tuple(required_inputs)
        self._on_ready = on_ready
        self._subscriptions = event_subscriptions
        cap = LOCAL_RETRY_CAP if _is_local(options.host) else BACKOFF_CAP
        self.supervisor = Supervisor(
            name, self._session, self._set_link,
            backoff=Backoff(cap=cap, fatal_retry_s=AUTH_RETRY_DELAY), log=self.log,
        )
        self._conn: ObsConnection | None = None
        self._ready = asyncio.Event()
        self._subscribers: list[tuple[str | None, Subscriber]] = []
        self._callback_tasks: set[asyncio.Task[None]] = set()
        self.inventory: ObsInventory | None = None
        self.program_scene: str | None = None
        self.preview_scene: str | None = None
        self.studio_mode = False

    # --- lifecycle -----------------------------------------------------------------------------

    @property
    def connected(self) -> bool:
        return self._conn is not None and not self._conn.closed and self._ready.is_set()

    @property
    def connect_attempts(self) -> int:
        """Connections tried since start."""
        return self.supervisor.attempts

    @property
    def retry_delay(self) -> float:
        """The wait before the next attempt, once the link is lost."""
        return self.supervisor.retry_delay

    @property
    def pending_requests(self) -> int:
        return self._conn.pending_requests if self._conn is not None else 0

    async def start(self) -> None:
        """Start connecting in the background; returns at once. Safe to call twice."""
        self.supervisor.start(f"device:{self.name}")

    async def stop(self) -> None:
        """Disconnect for good; safe to call twice."""
        await self.supervisor.stop()
        callbacks = list(self._callback_tasks)
        for callback_task in callbacks:
            callback_task.cancel()
        await asyncio.gather(*callbacks, return_exceptions=True)
        self._set_link(Link.CLOSED, _("stopped"))

    async def wait_ready(self, timeout: float = CONNECT_TIMEOUT + IDENTIFY_TIMEOUT) -> ObsInventory:
        """Wait until connected and checked; OperationTimeoutError with the last reason."""
        try:
            async with asyncio.timeout(timeout):
                await self._ready.wait()
        except TimeoutError:
            raise OperationTimeoutError(
                _("OBS not ready after {seconds} s: {detail}").format(
                    seconds=timeout, detail=self._detail
                )
            ) from None
        assert self.inventory is not None
        return self.inventory

    def subscribe(self, event_type: str | None, callback: Subscriber) -> Callable[[], None]:
        """Call `callback(event)` for every OBS event of this type (None: all events).
        Async callbacks run as tasks; exceptions are logged. Returns an unsubscribe."""
        entry = (event_type, callback)
        self._subscribers.append(entry)
        return lambda: self._subscribers.remove(entry) if entry in self._subscribers else None

    # --- requests ----------------------------------------------------------------------------

    async def request(
        self,
        request_type: str,
        data: Mapping[str, Any] | None = None,
        *,
        timeout: float | None = None,
    ) -> Mapping[str, Any]:
        """Any obs-websocket request; its responseData. ObsRequestError on refusal."""
        conn = self._connection()
        result = await conn.request(
            request_type, data, timeout=timeout or REQUEST_TIMEOUT
        )
        self._seen()
        return result

    async def batch(
        self,
        requests: Sequence[Request],
        *,
        halt_on_failure: bool = False,
        execution: BatchExecution = BatchExecution.SERIAL_REALTIME,
        timeout: float | None = None,
    ) -> tuple[RequestResponse, ...]:
        """Several requests in one message; SERIAL_FRAME lands them in the same frame."""
        conn = self._connection()
        results = await conn.batch(
            requests,
            halt_on_failure=halt_on_failure,
            execution=execution,
            timeout=timeout or REQUEST_TIMEOUT,
        )
        self._seen()
        return results

    async def set_program_scene(self, scene: str) -> None:
        await self.request("SetCurrentProgramScene", {"sceneName": scene})

    async def get_program_scene(self) -> str:
        data = await self.request("GetCurrentProgramScene")
        return str(data.get("sceneName") or data["currentProgramSceneName"])

    async def set_preview_scene(self, scene: str) -> None:
        """Needs studio mode (ObsRequestError code 506 otherwise)."""
        await self.request("SetCurrentPreviewScene", {"sceneName": scene})

    async def set_studio_mode(self, enabled: bool) -> None:
        await self.request("SetStudioModeEnabled", {"studioModeEnabled": enabled})

    async def get_studio_mode(self) -> bool:
        return bool((await self.request("GetStudioModeEnabled"))["studioModeEnabled"])

    async def get_input_settings(self, input_name: str) -> Mapping[str, Any]:
        data = await self.request("GetInputSettings", {"inputName": input_name})
        settings: Mapping[str, Any] = data["inputSettings"]
        return settings

    async def set_input_settings(
        self, input_name: str, settings: Mapping[str, Any], *, overlay: bool = True
    ) -> None:
        await self.request(
            "SetInputSettings",
            {"inputName": input_name, "inputSettings": dict(settings), "overlay": overlay},
        )

    async def set_media_source(self, input_name: str, media: MediaSource) -> None:
        """Point an ffmpeg_source input at a file/SDP or URL."""
        await self.set_input_settings(input_name, media.settings())

    async def get_screenshot(
        self, source: str, *, image_format: str = "png", width: int | None = None
    ) -> bytes:
        """A rendered picture of a source or scene, as image bytes."""
        data: dict[str, Any] = {"sourceName": source, "imageFormat": image_format}
        if width is not None:
            data["imageWidth"] = width
        reply = await self.request("GetSourceScreenshot", data, timeout=SCREENSHOT_TIMEOUT)
        _, _, encoded = str(reply["imageData"]).partition("base64,")
        return base64.b64decode(encoded)

    # --- the broadcast (councild/broadcast_control.py; its other requests go by name) -----

    async def get_version(self) -> Mapping[str, Any]:
        """obsVersion, obsWebSocketVersion, availableRequests (capability detection)."""
        return await self.request("GetVersion")

    async def get_stream_service(self) -> Mapping[str, Any]:
        """streamServiceType and streamServiceSettings (server, key, ...)."""
        return await self.request("GetStreamServiceSettings")

    async def get_record_directory(self) -> str:
        return str((await self.request("GetRecordDirectory"))["recordDirectory"])

    async def stop_record(self) -> str | None:
        """The path of the file OBS wrote, where OBS says it (obs-websocket 5.x: outputPath)."""
        data = await self.request("StopRecord")
        path = data.get("outputPath") if isinstance(data, Mapping) else None
        return str(path) if path else None

    async def create_record_chapter(self, name: str | None = None) -> None:
        """obs-websocket 5.5 (OBS 30.2+), Hybrid MP4 only; check availableRequests first."""
        await self.request("CreateRecordChapter", {"chapterName": name} if name else {})

    # --- internals ---------------------------------------------------------------------------

    def _connection(self) -> ObsConnection:
        conn = self._conn
        if conn is None or conn.closed:
            raise ConnectionLostError(_("OBS is not connected"))
        return conn

    async def _session(self) -> str:
        """One connection, run by the supervisor: connect, check, follow until it is gone;
        the reason it went. Leaves nothing behind for the next one."""
        conn = ObsConnection(
            self.options.host,
            self.options.port,
            self._password,
            event_subscriptions=self._subscriptions,
            on_event=self._dispatch,
            on_malformed=self._on_malformed,
        )
        self._conn = conn
        try:
            return await self._follow(conn)
        finally:
            self._ready.clear()
            self._conn = None
            await conn.close()

    async def _follow(self, conn: ObsConnection) -> str:
        hello = await conn.open()
        self._seen()
        inventory = await self._check(conn, hello)
        self.inventory = inventory
        self.supervisor.up()
        self._reconnects = self.supervisor.reconnects
        self._set_link(Link.CONNECTED, self._describe(inventory))
        self._ready.set()
        if self._on_ready is not None:
            try:
                result = self._on_ready(inventory)
                if isinstance(result, Awaitable):
                    await result
            except Exception:  # the hook's failure must not drop OBS
                self.log.exception("%s: on_ready hook failed", self.name)
        return str(await conn.wait_closed())

    def _on_malformed(self, event: Malformed) -> None:
        self._malformed(event.what, ObsRemoteProtocolError(event.detail))

    async def _check(self, conn: ObsConnection, hello: Hello) -> ObsInventory:
        results = await conn.batch(
            [
                Request(request_type="GetVersion"),
                Request(request_type="GetSceneList"),
                Request(request_type="GetInputList"),
                Request(request_type="GetStudioModeEnabled"),
            ],
            timeout=REQUEST_TIMEOUT,
        )
        for result in results:
            if not result.ok:
                raise result.error()
        version, scene_list, input_list, studio = (r.data for r in results)
        try:
            # obs-websocket lists scenes bottom-up; reversed is the order OBS's UI shows.
            scenes = tuple(str(s["sceneName"]) for s in reversed(scene_list["scenes"]))
            inputs = tuple(str(i["inputName"]) for i in input_list["inputs"])
            program = str(scene_list["currentProgramSceneName"])
            preview = scene_list.get("currentPreviewSceneName")
            studio_mode = bool(studio["studioModeEnabled"])
        except (KeyError, TypeError) as exc:
            self._malformed("inventory", exc)
            raise ConnectionLostError(_("OBS sent an unusable scene list")) from exc
        self.program_scene, self.preview_scene = program, preview
        self.studio_mode = studio_mode
        inventory = ObsInventory(
            obs_version=str(version.get("obsVersion", "")),
            websocket_version=hello.obs_websocket_version,
            scenes=scenes,
            inputs=inputs,
            program_scene=program,
            preview_scene=str(preview) if preview else None,
            studio_mode=studio_mode,
            missing_scenes=tuple(s for s in self.required_scenes if s not in scenes),
            missing_inputs=tuple(i for i in self.required_inputs if i not in inputs),
        )
        if not inventory.complete:
            self.log.warning("%s: %s", self.name, self._describe(inventory))
        return inventory

    def _describe(self, inventory: ObsInventory) -> str:
        parts = []
        if inventory.missing_scenes:
            parts.append(
                _("missing scenes: {names}").format(names=", ".join(inventory.missing_scenes))
            )
        if inventory.missing_inputs:
            parts.append(
                _("missing inputs: {names}").format(names=", ".join(inventory.missing_inputs))
            )
        if not parts:
            parts.append(
                _("OBS {version}, websocket {ws}").format(
                    version=inventory.obs_version, ws=inventory.websocket_version
                )
            )
        return "; ".join(parts)

    def _dispatch(self, event: ObsEvent) -> None:
        self._seen()
        data = event.data
        if event.event_type == "CurrentProgramSceneChanged":
            self.program_scene = data.get("sceneName", self.program_scene)
        elif event.event_type == "CurrentPreviewSceneChanged":
            self.preview_scene = data.get("sceneName", self.preview_scene)
        elif event.event_type == "StudioModeStateChanged":
            self.studio_mode = bool(data.get("studioModeEnabled", self.studio_mode))
        elif event.event_type == "ExitStarted":
            self._set_link(self._link, _("OBS is shutting down"))
        elif event.event_type in _INVENTORY_EVENTS:
            self._track_inventory(event)
        for event_type, callback in list(self._subscribers):
            if event_type is not None and event_type != event.event_type:
                continue
            try:
                result = callback(event)
            except Exception:  # one subscriber must not break the others
                self.log.exception("%s: subscriber for %s failed", self.name, event.event_type)
                continue
            if isinstance(result, Awaitable):
                self._spawn(result, f"obs-event:{event.event_type}")

    def _track_inventory(self, event: ObsEvent) -> None:
        """Keep the scene and input lists current, so a required scene deleted in OBS
        during the session shows up in the health detail at once, not at the next connect."""
        inventory = self.inventory
        if inventory is None:
            return
        scenes, inputs = list(inventory.scenes), list(inventory.inputs)
        data, kind = event.data, event.event_type
        try:
            if kind == "SceneListChanged":
                scenes = [str(s["sceneName"]) for s in reversed(data["scenes"])]
            elif kind == "SceneCreated" and not data.get("isGroup"):
                scenes.append(str(data["sceneName"]))
            elif kind == "SceneRemoved":
                scenes = [s for s in scenes if s != data["sceneName"]]
            elif kind == "SceneNameChanged":
                scenes = [data["sceneName"] if s == data["oldSceneName"] else s for s in scenes]
            elif kind == "InputCreated":
                inputs.append(str(data["inputName"]))
            elif kind == "InputRemoved":
                inputs = [i for i in inputs if i != data["inputName"]]
            elif kind == "InputNameChanged":
                inputs = [data["inputName"] if i == data["oldInputName"] else i for i in inputs]
        except (KeyError, TypeError) as exc:
            self._malformed(kind, exc)
            return
        scenes = list(dict.fromkeys(scenes))  # SceneCreated and SceneListChanged both come
        updated = replace(
            inventory,
            scenes=tuple(scenes),
            inputs=tuple(inputs),
            missing_scenes=tuple(s for s in self.required_scenes if s not in scenes),
            missing_inputs=tuple(i for i in self.required_inputs if i not in inputs),
        )
        self.inventory = updated
        if (updated.missing_scenes, updated.missing_inputs) != (
            inventory.missing_scenes,
            inventory.missing_inputs,
        ):
            if not updated.complete:
                self.log.warning("%s: %s", self.name, self._describe(updated))
            self._set_link(self._link, self._describe(updated))

    def _spawn(self, awaitable: Awaitable[None], name: str) -> None:
        async def guarded() -> None:
            try:
                await awaitable
            except Exception:  # logged, never passed on
                self.log.exception("%s: async subscriber failed (%s)", self.name, name)

        task = asyncio.create_task(guarded(), name=name)
        self._callback_tasks.add(task)
        task.add_done_callback(self._callback_tasks.discard)
