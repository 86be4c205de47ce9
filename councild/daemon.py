"""The daemon: the one place that wires drivers, the floor, the store and the API together.

Everything runs on one asyncio loop. A floor input is applied in one synchronous step:
floor.step → store (committed) → effects handed to the drivers → subscribers told. Because
the step does not yield, two inputs can never interleave, and nothing reaches a device or a
client that is not already in the session record.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from councild import api, device_sync, floor, snapshot
from councild.api_token import api_token_check
from councild.assembly import director_config, load_tokens, roster_from_config, rules_from_roster
from councild.bridge import RemoteSeats
from councild.broadcast_control import OPS as BROADCAST_OPS
from councild.broadcast_control import BroadcastControl, BroadcastError
from councild.config import CAMERA_DRIVERS, Config
from councild.errors import FloorError, NotSupportedError
from councild.i18n import _
from councild.join.access import TokenBook
from councild.keypad import Action, Keypads, NothingToDo, action_to_api, seat_lamps
from councild.labels import agenda_label
from councild.model import (
    AgendaChanged,
    CameraMotion,
    Cancel,
    ChannelLevel,
    ChannelRequested,
    ChannelSwitched,
    ChannelVoice,
    Clear,
    CloseMic,
    DeviceLimit,
    DeviceStatus,
    Effect,
    Event,
    Grant,
    KeyPressed,
    Link,
    MicClosed,
    MicOpened,
    Mirror,
    Mode,
    Next,
    OpenMic,
    ParticipantDisplay,
    ParticipantJoined,
    ParticipantLeft,
    ParticipantPublished,
    ParticipantTalking,
    Request,
    RequestLamp,
    Revoke,
    SetMaxOpen,
    SpeakingTimeOver,
    SpeakingTimeWarning,
    Tick,
    Voice,
)
from councild.refusals import RefusalCoalescer
from councild.store import Store
from councild.vision import Vision
from devices import driver_class
from devices.base import Device

if TYPE_CHECKING:  # the join page (aiohttp) is imported only when a config enables it
    from councild.join.server import JoinServer

log = logging.getLogger("councild.daemon")

CHECKPOINT_INTERVAL = 10.0  # seconds; keeps the WAL small without an fsync on the hot path
EVENT_LOG_LENGTH = 500  # entries kept for clients that attach later (the TUI's event log)
LEVEL_INTERVAL = 0.05  # seconds between level broadcasts: 20 Hz is what a meter needs
# A stop of the stream or the recording from a keypad or Companion button takes a second
# press within this many seconds: one press by mistake must not end the broadcast.
STOP_CONFIRM_S = 3.0


@dataclass
class DeviceView:
    """What the daemon shows of one device."""

    driver: str
    link: Link = Link.CLOSED
    detail: str = ""
    errors: int = 0
    since: float = field(default_factory=time.time)
    warning: str = ""  # what the technician should know, e.g. a unit's limit ≠ the config's


class Daemon:
    def __init__(
        self,
        config: Config,
        *,
        store_path: Path,
        socket_path: Path | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.config = config
        self.clock = clock
        self.store_path = store_path
        self.socket_path = socket_path or config.api.socket or api.default_socket_path()
        self.roster = roster_from_config(config)
        self.rules = rules_from_roster(self.roster)
        self.state = floor.initial_state(config.floor.mode, config.floor.max_open)
        self.devices: dict[str, Device] = {}
        self.device_views: dict[str, DeviceView] = {
            name: DeviceView(driver=opts.driver) for name, opts in config.device_options.items()
        }
        self.talking: set[str] = set()
        self.levels: dict[str, float] = {}
        self.events: deque[dict[str, Any]] = deque(maxlen=EVENT_LOG_LENGTH)
        self.server = api.ApiServer(self.handle, token=os.environ.get(config.api.token_env))
        self._seat_by_channel = {
            (s.mic.device, s.mic.channel): s.id for s in config.seats if s.mic is not None
        }
        self._store: Store | None = None
        self._session_id = 0
        self._refusals = RefusalCoalescer()
        self._rules_print = ""
        self._inputs_since_snapshot = 0
        self._timer: asyncio.TimerHandle | None = None
        self._broadcast_pending = False
        self._levels_pending = False
        self._calls: dict[str, asyncio.Queue[tuple[str, tuple[Any, ...]]]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._busy: set[str] = set()
        self.keypads = Keypads(
            entry_timeout=config.keypad.entry_timeout,
            keys=config.keypad.keys,
            device_keys={n: keys for n, o in config.device_options.items()
                         if isinstance(keys := getattr(o, "keys", None), dict)},
        )
        self._lamps: dict[str, Any] = {}
        self._broadcast_lamps: dict[str, bool] = {}
        self._stop_pressed: dict[tuple[str, str], float] = {}  # (device, op) → when
        self.remote: RemoteSeats | None = None
        self.join: JoinServer | None = None
        self.chamber: Any = None  # councild.join.chamber.ChamberFeed
        self.audio: Any = None  # councild.hybrid_audio.HybridAudio ([bridge.audio])
        if config.bridge.audio is not None:
            for name, driver in (("audiobridge", "audiobridge"), ("chamber-send", "ffmpeg"),
                                 ("chamber-return", "ffmpeg")):
                self.device_views[name] = DeviceView(driver=driver)
        if config.join.enabled and config.join.chamber is not None:
            self.device_views["chamber"] = DeviceView(driver="chamber-feed")
        self._director_config = director_config(config)
        self.vision: Vision | None = None
        self.broadcast: BroadcastControl | None = None  # stream and recording, with OBS
        self.metrics: Any = None  # councild.metrics.MetricsServer, with [metrics] enabled
        if self._director_config is not None and config.obs.enabled:
            self.device_views["obs"] = DeviceView(driver="obs-websocket")

    # --- lifecycle ------------------------------------------------------------------------

    async def start(self) -> None:
        session = self.config.session
        self._store = Store(self.store_path)
        row = self._store.open_session(
            session.key, session.title, session.date.isoformat(), self.roster, self.clock()
        )
        self._session_id = row.id
        self._replay()
        await self.server.start_unix(Path(self.socket_path))
        if self.config.api.tcp:
            api_token_check(self.config.api.token_env)  # ConfigError: named, no traceback
            host, _sep, port = self.config.api.tcp.rpartition(":")
            await self.server.start_tcp(host.strip("[]"), int(port))
        for name, options in self.config.device_options.items():
            device = driver_class(options.driver)(name, options, self.on_device_event)
            self.devices[name] = device
            if hasattr(device, "on_action"):  # surfaces that speak in actions (OSC control)
                device.on_action = lambda action, n=name: self.keypad_action(action, n)
            self._calls[name] = asyncio.Queue()
            self._spawn(self._device_worker(name), f"calls:{name}")
        tokens: dict[str, str] = {}
        if self.config.bridge.device is not None:
            tokens = load_tokens(self.config.bridge.tokens_file)  # once: seats and join page
            self.remote = RemoteSeats(
                self.config, self.devices[self.config.bridge.device],
                submit=self.submit, speaking=self.state_speaking, queued=self.state_queued,
                voice=self._voice, note=self._note_director, changed=self._changed,
                obs=lambda: self.vision.obs if self.vision is not None else None,
                tokens=tokens,
                ignore=(frozenset({str(self.config.join.chamber.id)})
                        if self.config.join.enabled and self.config.join.chamber else frozenset()),
            )
        for device in self.devices.values():
            await device.start()
        if self.config.bridge.audio is not None and self.remote is not None:
            await self._start_audio()
        if self.config.join.enabled and self.remote is not None:
            await self._start_join(tokens)
        if self._director_config is not None:
            cameras = {n: dev for n, dev in self.devices.items()
                       if self.config.device_options[n].driver in CAMERA_DRIVERS}
            self.vision = Vision(
                self.config, self._director_config, emit=self.on_device_event,
                note=self._note_director, changed=self._changed, clock=self.clock,
                cameras=cameras, agenda_title=self._agenda_title,
                remote_scene=self.remote.slot_scene if self.remote is not None else None,
                speech=self._speech,
            )
            await self.vision.start()
            self.vision.restore_floor(tuple(s.seat for s in self.state.speakers))
            if self.vision.obs is not None:
                self.broadcast = BroadcastControl(
                    self.vision.obs, self.config.broadcast, obs_host=self.config.obs.host,
                    note=self._note_director, record=self._broadcast_record,
                    changed=self._changed, clock=self.clock)
                await self.broadcast.start()
        if self.config.metrics.enabled:
            from councild.metrics import MetricsServer  # prometheus_client: only if used

            ops = frozenset(["ping", "state", "subscribe", "unsubscribe", *api.FLOOR_OPS,
                             *api.DIRECTOR_OPS, "mute_remote", *BROADCAST_OPS])
            self.metrics = MetricsServer(self.state_dict, self.config.metrics.host,
                                         self.config.metrics.port, ops)
            await self.metrics.start()
            self.server.observe = self.metrics.observe_api
        self._schedule_deadline()
        self._spawn(self._checkpoints(), "store:checkpoint")
        log.info("councild: session %r, %d seats, socket %s", session.key,
                 len(self.config.seats), self.socket_path)

    async def _start_audio(self) -> None:
        """Hybrid audio: the AudioBridge room, the chamber's send and return, the mutes."""
        from councild.hybrid_audio import RETURN_LEVEL, HybridAudio  # only if configured

        assert self.remote is not None and self.config.bridge.audio is not None
        self.remote.voice_from_video = False  # a remote seat talks where its voice is
        self.remote.forward_audio = False  # their voice reaches the stream through the desk

        def level(dbfs: float) -> None:
            self.levels[RETURN_LEVEL] = dbfs
            self._levels_changed()

        self.audio = HybridAudio(
            self.config.bridge.audio, self.remote, speaking=self.state_speaking,
            voice=self._voice, status=self._device_status, changed=self._changed, level=level,
            muted_unless_floor=self.config.bridge.muted_unless_floor)
        await self.audio.start()

    async def _start_join(self, tokens: dict[str, str]) -> None:
        """The join page, and the chamber's programme published into the bridge room."""
        from councild.join.server import JoinServer  # aiohttp: imported only when it is on

        bridge = self.config.bridge
        assert bridge.device is not None and bridge.tokens_file is not None
        options = self.config.device_options[bridge.device]
        url, room = getattr(options, "url"), getattr(options, "room")  # noqa: B009
        book = TokenBook(tokens, str(bridge.tokens_file))
        self.join = JoinServer(self.config, book, self, url, room)
        await self.join.start()
        feed = self.config.join.chamber
        if feed is not None:
            from councild.join.chamber import ChamberFeed  # ffmpeg supervision: only if used

            secret = os.environ.get(getattr(options, "secret_env"))  # noqa: B009
            self.chamber = ChamberFeed(
                url, room, secret, feed.input, display=feed.display, participant_id=feed.id,
                ffmpeg=feed.ffmpeg,
                on_status=lambda link, detail: self._device_status(
                    DeviceStatus(device="chamber", link=link, detail=detail)))
            await self.chamber.start()

    async def stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        if self.join is not None:
            await self.join.stop()
        if self.chamber is not None:
            await self.chamber.stop()
        if self.broadcast is not None:
            await self.broadcast.stop()
        if self.audio is not None:
            await self.audio.stop()
        if self.vision is not None:
            await self.vision.stop()
        if self.remote is not None:
            await self.remote.stop()
        for device in self.devices.values():
            await device.stop()
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self.metrics is not None:
            await self.metrics.stop()
        await self.server.stop()
        if self._store is not None:
            with contextlib.suppress(Exception):  # a failed snapshot: the next start replays
                self._snapshot()
            self._store.close()
            self._store = None

    def _replay(self) -> None:
        assert self._store is not None
        count = skipped = 0
        self._rules_print = snapshot.fingerprint(self.rules, self.state)
        after = 0
        found = self._store.latest_snapshot(self._session_id, self._rules_print)
        if found is not None:
            try:
                self.state, after = snapshot.state_from_dict(found[1]), found[0]
            except (KeyError, TypeError, ValueError) as exc:  # a damaged one: replay it all
                log.warning("replay: snapshot unreadable (%s); replaying every input", exc)
        for event, wall in self._store.inputs(self._session_id, after=after):
            try:
                self.state, _effects = floor.step(self.rules, self.state, event, wall)
                count += 1
            except FloorError as exc:
                skipped += 1  # the configuration changed since; the rest still applies
                log.warning("replay: %s skipped: %s", type(event).__name__, exc)
        if count:
            log.info("replayed %d floor inputs (%d skipped)%s", count, skipped,
                     " after the snapshot" if after else "")

    def _snapshot(self) -> None:
        """The floor as of now into the store, when inputs came since the last one."""
        if self._store is None or self._inputs_since_snapshot == 0:
            return
        self._store.snapshot(self._session_id, self._rules_print,
                             snapshot.state_to_dict(self.state), wall=self.clock())
        self._inputs_since_snapshot = 0

    async def _checkpoints(self) -> None:
        while True:
            await asyncio.sleep(CHECKPOINT_INTERVAL)
            if self._store is not None:
                try:
                    self._snapshot()
                    await asyncio.to_thread(self._store.checkpoint)
                except Exception as exc:  # noqa: BLE001 - the next one will try again
                    log.warning("store checkpoint failed: %s", exc)

    def _spawn(self, coro: Any, name: str) -> None:
        task = asyncio.get_running_loop().create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # --- the floor ------------------------------------------------------------------------

    def submit(self, event: Event, source: str) -> list[Effect]:
        """Apply one floor input now. FloorError if not allowed (recorded, state unchanged)."""
        assert self._store is not None
        now = self.clock()
        try:
            state, effects = floor.step(self.rules, self.state, event, now)
        except FloorError as exc:
            repeats = (self._refusals.admit(source, (repr(event), exc.code), now)
                       if source != "timer" else None)
            if repeats is not None:  # a flood of the same refusal is one row, with a count
                extra: dict[str, Any] = {"error": exc.code}
                if repeats:
                    extra["repeats_before"] = repeats
                self._store.record(self._session_id, source, event, kind="rejected", wall=now,
                                   extra=extra)
            raise
        if isinstance(event, Tick) and not effects and state == self.state:
            return effects  # an idle tick changes nothing worth recording
        self._store.record(self._session_id, source, event, effects, wall=now)
        self._inputs_since_snapshot += 1
        before, self.state = self.state, state
        self._note(source, event, effects)
        self._execute(effects)
        if self.vision is not None:
            if state.speakers != before.speakers:
                self.vision.floor(tuple(s.seat for s in state.speakers),
                                  grants=state.mode is not Mode.VOICE)
            if any(isinstance(e, AgendaChanged) for e in effects):
                self.vision.agenda_changed()
        if self.broadcast is not None and any(isinstance(e, AgendaChanged) for e in effects):
            self.broadcast.agenda_changed(self._agenda_title())
        self._schedule_deadline()
        self._changed()
        return effects

    def _schedule_deadline(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        due = floor.next_deadline(self.rules, self.state)
        if due is not None:
            loop = asyncio.get_running_loop()
            self._timer = loop.call_at(loop.time() + max(0.0, due - self.clock()), self._tick)

    def _tick(self) -> None:
        self._timer = None
        try:
            self.submit(Tick(), "timer")
        except FloorError:
            log.exception("tick refused")

    def state_speaking(self, seat: str) -> bool:
        return self.state.speaking(seat)

    def state_queued(self, seat: str) -> bool:
        return self.state.queued(seat)

    def _execute(self, effects: list[Effect]) -> None:
        for effect in effects:
            if isinstance(effect, OpenMic | CloseMic):
                opened = isinstance(effect, OpenMic)
                if self.remote is not None and self.remote.is_remote(effect.seat):
                    self.remote.floor_changed(effect.seat, opened)
                    if self.audio is not None:
                        self.audio.floor_changed(effect.seat)
                else:
                    self._seat_call(effect.seat, "set_channel", opened)
            elif isinstance(effect, RequestLamp):
                self._seat_call(effect.seat, "set_request", effect.on)

    def _leads(self, device: str) -> bool:
        """councild decides this device's channels (otherwise it mirrors what it reports)."""
        options = self.config.device_options.get(device)
        return (options is not None and options.follow_floor
                and getattr(options, "master", "councild") != "cu")

    def _masters(self) -> list[str]:
        """Conference units that run the floor themselves (config: master = "cu")."""
        return [n for n, o in self.config.device_options.items()
                if getattr(o, "master", None) == "cu"]

    def _seat_call(self, seat_id: str, method: str, on: bool) -> None:
        """Switch a seat's channel (set_channel) or request lamp (set_request) at its device,
        where councild leads that device."""
        seat = self.config.seat(seat_id)
        if seat is None or seat.mic is None:
            return
        # A unit that runs the floor is told when councild's own rules close or open a mic
        # (chair priority, a speaking-time limit): else it would stay live, shown off.
        master = method == "set_channel" and seat.mic.device in self._masters()
        if self._leads(seat.mic.device) or master:
            self._calls[seat.mic.device].put_nowait((method, (seat.mic.channel, on)))

    def _forward_to_master(self, event: Event) -> str | None:
        """Where a conference unit runs the floor, a floor command becomes a CU command;
        councild's floor then follows the CU's notifications. Returns the CU's name."""
        masters = self._masters()
        if not masters:
            return None
        seat_id = getattr(event, "seat", None)
        if seat_id is not None:
            seat = self.config.seat(seat_id)
            if seat is None or seat.mic is None or seat.mic.device not in masters:
                return None
            call = {Grant: ("set_channel", True), Revoke: ("set_channel", False),
                    Request: ("set_request", True), Cancel: ("set_request", False)}.get(type(event))
            if call is None:
                return None
            self._calls[seat.mic.device].put_nowait((call[0], (seat.mic.channel, call[1])))
            return seat.mic.device
        if isinstance(event, SetMaxOpen):
            # The unit's limit is the floor's (it comes back as the unit reports it).
            for name in masters:
                self._calls[name].put_nowait(("set_max_speakers", (event.value,)))
            return masters[0]
        method = {Next: "next_speaker", Clear: "clear_requests"}.get(type(event))
        if method is None:
            return None
        for name in masters:
            self._calls[name].put_nowait((method, ()))
        return masters[0]

    def device_idle(self, name: str) -> bool:
        """No call to this device is waiting or under way."""
        return self._calls[name].empty() and name not in self._busy

    async def _device_worker(self, name: str) -> None:
        """Carries out one device's calls in order, so a mute never overtakes an unmute."""
        queue = self._calls[name]
        unsupported: set[str] = set()
        while True:
            method, args = await queue.get()
            if method in unsupported:
                continue
            self._busy.add(name)
            try:
                await getattr(self.devices[name], method)(*args)
            except NotSupportedError:
                unsupported.add(method)
            except Exception as exc:  # noqa: BLE001 - a device that is down must not stop us
                log.warning("%s: %s%s failed: %s", name, method, args, exc)
            finally:
                self._busy.discard(name)

    # --- device events --------------------------------------------------------------------

    def on_device_event(self, event: Event) -> None:
        """Everything a driver emits arrives here, on the loop."""
        if isinstance(event, DeviceStatus):
            self._device_status(event)
            return
        if isinstance(event, ParticipantJoined | ParticipantLeft | ParticipantTalking
                      | ParticipantDisplay | ParticipantPublished):
            if self.remote is not None and event.device == self.remote.name:
                self.remote.on_event(event)
            return
        if isinstance(event, KeyPressed):
            for action in self.keypads.press(event, self.clock()):
                self.keypad_action(action, event.device)
            return
        if isinstance(event, CameraMotion):
            if self.vision is not None:
                self.vision.camera_motion(event)
            if not event.moving:
                self._note(event.device, event, [])
            self._changed()
            return
        if isinstance(event, DeviceLimit):
            self._device_limit(event)
            return
        if isinstance(event, ChannelLevel):
            seat = self._seat_by_channel.get((event.device, event.channel))
            if seat is not None:
                self.levels[seat] = event.dbfs
                self._levels_changed()
                if self.vision is not None:
                    self.vision.level(seat, event.dbfs)
            return
        if not isinstance(event, ChannelSwitched | ChannelRequested | ChannelVoice):
            return
        seat = self._seat_by_channel.get((event.device, event.channel))
        if seat is None:
            return  # a channel no seat uses (music, ambience, the clerk's laptop)
        view = self.device_views.get(event.device)
        if isinstance(event, ChannelVoice):
            self._voice(seat, event.active, event.device)
            return
        if view is not None and view.link is not Link.CONNECTED:
            # Read while (re)connecting: the driver's full snapshot, taken when it reports
            # CONNECTED, is what counts (pushed against or taken over: _push_floor_to).
            return
        if event.device in self._masters():
            self._mirror_channel(event.device, event.channel)
            return
        if isinstance(event, ChannelSwitched):
            floor_event: Event = MicOpened(seat=seat) if event.on else MicClosed(seat=seat)
        else:
            floor_event = Request(seat=seat) if event.requesting else Cancel(seat=seat)
        try:
            self.submit(floor_event, event.device)
        except FloorError as exc:
            log.info("%s: %s at seat %s not applied: %s", event.device,
                     type(floor_event).__name__, seat, exc.message)

    def keypad_action(self, action: Action, device: str) -> None:
        """A keypad or button surface asked for something: the same path as the API."""
        try:
            request = action_to_api(action, self.state_dict())
        except NothingToDo as exc:
            log.info("%s: %s", device, exc)
            return
        op = request.pop("op")
        if op in BROADCAST_OPS:  # OBS answers later: carried out in a task of its own
            self._spawn(self._keypad_broadcast(op, device), f"broadcast:{op}")
            return
        reply = self.apply_op(api.ApiRequest(None, op, request), device)
        if not reply.get("ok"):
            error = reply["error"]
            log.info("%s: %s refused: %s", device, op, error["message"])
            self._note_director(device, {"type": "refused", "op": op, **error})

    def _voice(self, seat: str, active: bool, device: str) -> None:
        if self._store is not None:  # who talked when belongs in the record, mode or not
            self._store.record(self._session_id, device, Voice(seat=seat, active=active),
                               kind="device", wall=self.clock())
        if active:
            self.talking.add(seat)
        else:
            self.talking.discard(seat)
        # In voice mode a metered seat's mic opens on speech (`_speech`), not on any sound:
        # a cough or a neighbour's bleed must not take one of the max_open mics. It closes
        # once neither the detector nor the classifier hears the seat.
        classifier = self.vision.classifier if self.vision is not None else None
        follows_speech = classifier is not None and classifier.knows(seat) and (
            active or seat in classifier.speaking())
        if self.state.mode is Mode.VOICE and not follows_speech:
            with contextlib.suppress(FloorError):
                self.submit(Voice(seat=seat, active=active), device)
        if self.vision is not None:
            self.vision.voice(seat, active)
        self._changed()

    def _speech(self, seat: str, active: bool) -> None:
        """The level classifier's speech at a metered seat: in voice mode the floor follows
        it (the mic opens on confirmed speech, and closes when the detector hears nothing)."""
        if self.state.mode is not Mode.VOICE or (not active and seat in self.talking):
            return
        with contextlib.suppress(FloorError):
            self.submit(Voice(seat=seat, active=active), "classifier")

    def _device_status(self, event: DeviceStatus) -> None:
        view = self.device_views.setdefault(event.device, DeviceView(driver="?"))
        link_changed = view.link is not event.link
        previous = view.link
        view.link, view.detail, view.errors = event.link, event.detail, event.errors
        # The retry loop of a device that stays away (lost → reconnecting → lost …) is one
        # state for the record and the log, not an entry per attempt.
        retrying = {event.link, previous} <= {Link.LOST, Link.RECONNECTING}
        if link_changed and not retrying:
            view.since = self.clock()
            if self._store is not None:
                self._store.record(self._session_id, event.device, event, kind="device",
                                   wall=self.clock())
            self._note(event.device, event, [])
            if event.link is Link.CONNECTED:
                self._push_floor_to(event.device)
        self._changed()

    def _push_floor_to(self, device: str) -> None:
        """After a (re)connect: push the floor to a device councild leads, or let the state
        of a device that runs the floor (or that councild mirrors) replace councild's — the
        one rule of councild/device_sync.py, for every desk and conference unit."""
        driver = self.devices.get(device)
        if driver is None:
            return  # the OBS link, the chamber feed: no channels
        if self._leads(device):
            role = device_sync.Role.LEAD
        elif device in self._masters():
            role = device_sync.Role.MASTER
        else:
            role = device_sync.Role.MIRROR
        snapshot = driver.snapshot()
        plan = device_sync.on_connect(role, self._channels_of(device), snapshot, self.state)
        for call in plan.calls:
            self._calls[device].put_nowait(call)
        for floor_event in plan.inputs:
            try:
                self.submit(floor_event, device)
            except FloorError as exc:
                log.info("%s: resync %s not applied: %s", device, type(floor_event).__name__,
                         exc.message)
        if role is device_sync.Role.MASTER and snapshot is not None:
            self._check_limit(device, snapshot.limit)

    def _channels_of(self, device: str) -> dict[int, str]:
        return {ch: seat for (dev, ch), seat in self._seat_by_channel.items() if dev == device}

    def _mirror_channel(self, device: str, channel: int) -> None:
        """A unit that runs the floor switched a mic or changed its request list: the seat
        becomes exactly what the unit now holds (its rules, not councild's)."""
        snapshot = self.devices[device].snapshot()
        if snapshot is None:
            return
        event = device_sync.mirror(self._channels_of(device), snapshot, only=(channel,))
        try:
            self.submit(event, device)
        except FloorError as exc:
            log.info("%s: mirror of channel %d not applied: %s", device, channel, exc.message)

    def _device_limit(self, event: DeviceLimit) -> None:
        if event.device not in self._masters():
            return
        try:
            self.submit(Mirror(seats=(), max_open=event.max_open), event.device)
        except FloorError as exc:
            log.info("%s: limit %d not applied: %s", event.device, event.max_open, exc.message)
        self._check_limit(event.device, event.max_open)

    def _check_limit(self, device: str, limit: int | None) -> None:
        """The unit's limit is mirrored; one that differs from the config is a warning."""
        view = self.device_views.get(device)
        if view is None:
            return
        configured = self.config.floor.max_open
        warning = ""
        if limit is not None and limit != configured:
            warning = _("the unit allows {unit} open mics, the configuration says {config}: "
                        "councild follows the unit").format(unit=limit, config=configured)
        if warning == view.warning:
            return
        view.warning = warning
        if warning:
            log.warning("%s: %s", device, warning)
            self._note_director(device, {"type": "warning", "message": warning})
        self._changed()

    # --- what clients see -----------------------------------------------------------------

    def _note(self, source: str, event: Event, effects: list[Effect]) -> None:
        """One line for the event log that the TUI and `ctl --follow` show."""
        self._log_entry(source, event.to_dict(), [
            e.to_dict() for e in effects
            if isinstance(e, OpenMic | CloseMic | SpeakingTimeWarning | SpeakingTimeOver
                          | AgendaChanged)])

    def _last_seen(self, name: str) -> float | None:
        """Read live from the driver: a desk streaming meters is seen many times a second
        without any status change."""
        device = self.devices.get(name)
        if device is not None:
            return device.health.last_seen
        if name == "obs" and self.vision is not None and self.vision.obs is not None:
            return self.vision.obs.health.last_seen
        return None

    def _note_director(self, source: str, what: dict[str, Any]) -> None:
        """A log line for something that is not a model event (a cut, a forwarded command)."""
        self._log_entry(source, what, [])

    def _log_entry(self, source: str, what: dict[str, Any],
                   effects: list[dict[str, Any]]) -> None:
        entry = {"time": self.clock(), "source": source, "event": what, "effects": effects}
        self.events.append(entry)
        for conn in self._subscribers():
            conn.send({"event": "log", "entry": entry})

    def _agenda_title(self) -> str | None:
        index = self.state.agenda
        if not 0 <= index < len(self.rules.agenda):
            return None
        item = self.rules.agenda[index]
        return agenda_label(item.number, item.title)

    def _subscribers(self) -> list[api.Connection]:
        return [c for c in self.server.connections if c.subscribed and not c.closed]

    def _changed(self) -> None:
        if not self._broadcast_pending:
            self._broadcast_pending = True
            asyncio.get_running_loop().call_soon(self._broadcast)

    def _broadcast(self) -> None:
        self._broadcast_pending = False
        subscribers = self._subscribers()
        surfaces = [d for d in self.devices.values() if hasattr(d, "set_seat_states")]
        pages = self.join is not None and self.join.has_pages()
        if not subscribers and not surfaces and not pages:
            return
        state = self.state_dict()
        if pages and self.join is not None:
            self.join.state_changed(state)
        message = {"event": "state", "state": state}
        for conn in subscribers:
            conn.send(message)
        lamps = seat_lamps(state)
        if surfaces and lamps != self._lamps:
            self._lamps = lamps
            for device in surfaces:
                self._feedback(device, lamps)
        self._feedback_broadcast(state.get("broadcast"))

    def _feedback_broadcast(self, broadcast: dict[str, Any] | None) -> None:
        """Live, recording and alarm lamps on surfaces that have them (OSC: Companion)."""
        if broadcast is None:
            return
        lamps = {"live": broadcast["stream"]["state"] in ("live", "reconnecting"),
                 "recording": broadcast["record"]["state"] in ("recording", "paused"),
                 "alarm": bool(broadcast["alarms"])}
        if lamps == self._broadcast_lamps:
            return
        self._broadcast_lamps = lamps
        for device in self.devices.values():
            setter = getattr(device, "set_broadcast_lamps", None)
            if setter is None:
                continue
            try:
                result = setter(lamps)
            except Exception as exc:  # noqa: BLE001 - a surface that is down must not stop us
                log.debug("%s: broadcast lamps failed: %s", device.name, exc)
                continue
            if asyncio.iscoroutine(result):  # a Stream Deck paints in a worker thread
                async def wait(result: Any = result, name: str = device.name) -> None:
                    try:
                        await result
                    except Exception as exc:  # noqa: BLE001
                        log.debug("%s: broadcast lamps failed: %s", name, exc)
                self._spawn(wait(), f"broadcast-lamps:{device.name}")

    def _feedback(self, device: Device, lamps: dict[str, Any]) -> None:
        """Seat lamps on keypads and button surfaces (MIDI LEDs, Stream Deck keys, OSC)."""
        try:
            result = device.set_seat_states(lamps)  # type: ignore[attr-defined]
        except Exception as exc:  # noqa: BLE001 - a surface that is down must not stop us
            log.debug("%s: feedback failed: %s", device.name, exc)
            return
        if asyncio.iscoroutine(result):
            async def wait() -> None:
                try:
                    await result
                except Exception as exc:  # noqa: BLE001
                    log.debug("%s: feedback failed: %s", device.name, exc)
            self._spawn(wait(), f"feedback:{device.name}")

    def _levels_changed(self) -> None:
        if not self._levels_pending:
            self._levels_pending = True
            asyncio.get_running_loop().call_later(LEVEL_INTERVAL, self._broadcast_levels)

    def _broadcast_levels(self) -> None:
        self._levels_pending = False
        message = {"event": "levels", "levels": dict(self.levels)}
        for conn in self._subscribers():
            conn.send(message)

    def state_dict(self) -> dict[str, Any]:
        now = self.clock()
        s = self.state
        agenda = None
        if 0 <= s.agenda < len(self.rules.agenda):
            item = self.rules.agenda[s.agenda]
            agenda = {"index": s.agenda, "id": item.id, "title": item.title,
                      "number": item.number, "label": agenda_label(item.number, item.title)}
        seats = []
        for r in self.roster["seats"]:
            seat_cfg = self.config.seat(r["id"])
            seats.append({
                **r,
                "mic": s.mic_state(r["id"]).value,
                "talking": r["id"] in self.talking,
                "level": self.levels.get(r["id"]),
                "source": (
                    {"device": seat_cfg.mic.device, "channel": seat_cfg.mic.channel}
                    if seat_cfg is not None and seat_cfg.mic is not None else None
                ),
                "remote": bool(seat_cfg is not None and seat_cfg.remote),
                **({"bridge": self.remote.seat_view(r["id"])}
                   if self.remote is not None and self.remote.is_remote(r["id"]) else {}),
            })
        speaking = []
        for sp in s.speakers:
            limit = self.rules.limit(sp.seat, s.agenda)
            speaking.append({
                "seat": sp.seat, "since": sp.since, "elapsed": now - sp.since,
                "limit": limit or None, "warned": sp.warned, "over": sp.over,
            })
        return {
            "session": {"key": self.config.session.key, "title": self.config.session.title,
                        "date": self.config.session.date.isoformat()},
            "now": now,
            "mode": s.mode.value,
            "max_open": s.max_open,
            "priority": s.priority,
            "agenda": agenda,
            "speakers": [sp.seat for sp in s.speakers],
            "speaking": speaking,
            "queue": [w.seat for w in s.queue],
            "reply_queue": [w.seat for w in s.reply_queue],
            "waiting": [{"seat": w.seat, "since": w.since, "reply": w in s.reply_queue}
                        for w in s.reply_queue + s.queue],
            "seats": seats,
            "program": self.vision.state_dict() if self.vision is not None else None,
            "broadcast": self.broadcast.state_dict() if self.broadcast is not None else None,
            "guests": self.remote.guests() if self.remote is not None else [],
            "remote_muted": self.remote.all_muted if self.remote is not None else False,
            "audio": self.audio.view() if self.audio is not None else None,
            "devices": {
                name: {"driver": v.driver, "link": v.link.value, "detail": v.detail,
                       "errors": v.errors, "last_seen": self._last_seen(name),
                       "since": v.since, "warning": v.warning}
                for name, v in self.device_views.items()
            },
        }

    # --- the join page ---------------------------------------------------------------------

    def join_floor(self, councillor: str, op: str) -> str | None:
        """A remote councillor's page asked: request, withdraw or finish. None when done,
        else why not, as a FloorError-style code (the page says it in its own language)."""
        assert self.remote is not None
        seat = self.remote.seat_of.get(councillor)
        if seat is None:
            return "no_seat"
        source = f"join:{councillor}"
        if op == "request" and seat not in self.remote.at_seat:
            return "not_in_room"
        if op == "finish":
            if not self.state.speaking(seat):
                return "not_speaking"
            try:
                self.submit(MicClosed(seat=seat), source)
            except FloorError as exc:
                return exc.code
            return None
        api_op = {"request": "request", "withdraw": "cancel"}[op]
        reply = self.apply_op(api.ApiRequest(None, api_op, {"seat": seat}), source)
        return None if reply.get("ok") else str(reply["error"]["code"])

    def join_in_room(self, councillor: str, participant: str) -> bool:
        if self.remote is None:
            return False
        seat = self.remote.seat_of.get(councillor)
        return seat is not None and self.remote.at_seat.get(seat) == participant

    def join_display(self, participant: str) -> str:
        """What a join page may see of a participant: a councillor's configured name, the
        chamber feed's display, else "Guest" (never a raw display, which could carry a
        token)."""
        feed = self.config.join.chamber
        if feed is not None and participant == str(feed.id):
            return feed.display
        if self.remote is not None:
            councillor = self.remote.claims.get(participant)
            attendee = self.remote.attendees.get(participant)
            if councillor is None and attendee is not None:
                councillor = attendee.identity.councillor
            person = self.config.councillor(councillor) if councillor else None
            if person is not None:
                return person.name
        return _("Guest")

    def join_claim(self, participant: str, councillor: str | None) -> None:
        if self.remote is not None:
            self.remote.claim(participant, councillor)
        if self.audio is not None and councillor is not None:
            self.audio.claim_changed(participant)
            self._changed()

    # --- the control API ------------------------------------------------------------------

    async def handle(self, request: api.ApiRequest, conn: api.Connection) -> dict[str, Any]:
        op = request.op
        if op == "subscribe":
            conn.subscribed = True
            return {"id": request.id, "ok": True, "state": self.state_dict(),
                    "log": list(self.events)}
        if op == "unsubscribe":
            conn.subscribed = False
            return {"id": request.id, "ok": True}
        if op in BROADCAST_OPS:
            return await self.broadcast_op(request, "api")
        return self.apply_op(request, "api")

    # --- the broadcast (councild/broadcast_control.py) ------------------------------------

    async def broadcast_op(self, request: api.ApiRequest, source: str) -> dict[str, Any]:
        """Stream start/stop, recording start/stop/pause/resume; refused in words."""
        if self.broadcast is None:
            self._broadcast_record(source, "rejected", {"op": request.op, "error": "no_obs"})
            self._note_director(source, {"type": "refused", "op": request.op, "code": "no_obs"})
            return api.error_reply(request.id, "no_obs", _("OBS is not configured"))
        try:
            extra = await self.broadcast.command(request.op, source)
        except BroadcastError as exc:
            self._broadcast_record(source, "rejected", {"op": request.op, "error": exc.code,
                                                        "message": exc.message})
            self._note_director(source, {"type": "refused", "op": request.op,
                                         "code": exc.code, "message": exc.message})
            return api.error_reply(request.id, exc.code, exc.message)
        self._note_director(source, {"type": request.op, **extra})
        return {"id": request.id, "ok": True, **extra, "state": self.state_dict()}

    async def _keypad_broadcast(self, op: str, device: str) -> None:
        if op in ("stream_stop", "record_stop"):
            now = time.monotonic()
            first = self._stop_pressed.pop((device, op), None)
            if first is None or now - first > STOP_CONFIRM_S:
                self._stop_pressed[(device, op)] = now
                self._note_director(device, {"type": "confirm_stop", "op": op,
                                             "seconds": STOP_CONFIRM_S})
                return
        reply = await self.broadcast_op(api.ApiRequest(None, op, {}), device)
        if not reply.get("ok"):
            log.info("%s: %s refused: %s", device, op, reply["error"]["message"])

    def _broadcast_record(self, source: str, type_: str, body: dict[str, Any]) -> None:
        """Commands, OBS's output states and alarms in the session record, at wall time."""
        if self._store is not None:
            self._store.note(self._session_id, source, "broadcast", type_, body,
                             wall=self.clock())

    def apply_op(self, request: api.ApiRequest, source: str) -> dict[str, Any]:
        """One control operation, from the API or a keypad; the reply the API would give."""
        op = request.op
        if op == "ping":
            return {"id": request.id, "ok": True}
        if op == "state":
            return {"id": request.id, "ok": True, "state": self.state_dict()}
        if op in api.FLOOR_OPS:
            event = api.floor_event(request)
            forwarded = self._forward_to_master(event)
            if forwarded is not None:
                # The validated event, not the raw arguments: an extra argument of any
                # shape must not reach the event log every subscriber is sent.
                self._note_director(source, {"type": f"forwarded to {forwarded}", "op": op,
                                             **{k: v for k, v in event.to_dict().items()
                                                if k != "type"}})
                return {"id": request.id, "ok": True, "forwarded": forwarded,
                        "state": self.state_dict()}
            try:
                self.submit(event, source)
            except FloorError as exc:
                return api.error_reply(request.id, exc.code, exc.message)
            return {"id": request.id, "ok": True, "state": self.state_dict()}
        if op == "mute_remote":
            if self.remote is None:
                return api.error_reply(request.id, "no_bridge",
                                       _("no video bridge is configured"))
            on = api.bool_arg(request.args, "on")
            self.remote.mute_all(on)
            if self.audio is not None:
                self.audio.mute_all(on)
            self._note_director(source, {"type": "mute_remote", "on": on})
            if self._store is not None:
                self._store.note(self._session_id, source, "bridge", op, {"on": on},
                                 wall=self.clock())
            self._changed()
            return {"id": request.id, "ok": True, "state": self.state_dict()}
        if op in api.DIRECTOR_OPS:
            if self.vision is None:
                return api.error_reply(request.id, "no_director",
                                       _("no shots are configured: there is no director"))
            args = api.director_args(request)
            try:
                self.vision.command(op, args)
            except FloorError as exc:  # DirectorError is a FloorError
                return api.error_reply(request.id, exc.code, exc.message)
            self._note_director(source, {"type": op, **args})
            if self._store is not None:
                self._store.note(self._session_id, source, "director", op, args,
                                 wall=self.clock())
            return {"id": request.id, "ok": True, "state": self.state_dict()}
        known = ", ".join(["ping", "state", "subscribe", "unsubscribe", *api.FLOOR_OPS,
                           *api.DIRECTOR_OPS, "mute_remote", *BROADCAST_OPS])
        raise api.ApiError("unknown_op", f"unknown op {op!r} (known: {known})")
