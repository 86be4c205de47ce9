"""The daemon: the one place that wires drivers, the floor, the store and the API together.

Everything runs on one asyncio loop. A floor input is applied in one synchronous step:
floor.step → store (committed) → effects handed to the drivers → subscribers told. Because
the step does not yield, two inputs can never interleave, and nothing reaches a device or a
client that is not already in the session record.

The daemon is the host of its parts (councild/host.py): the picture, the remote seats, hybrid
audio, the broadcast and the join page reach the core and each other through it. A device
event goes to its handler by its type (`DeviceEvents`); what a device is asked to do travels
as a typed command on that device's queue (devices/capabilities.py). What clients see is built
and sent by councild/state_view.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar, cast

from councild import api, device_sync, floor, snapshot, state_view
from councild.api_token import api_token_check
from councild.assembly import director_config, load_tokens, roster_from_config, rules_from_roster
from councild.bridge import ParticipantEvent, RemoteSeats
from councild.broadcast_control import OPS as BROADCAST_OPS
from councild.broadcast_control import BroadcastControl, BroadcastError
from councild.config import Config
from councild.errors import FloorError, NotSupportedError
from councild.i18n import _
from councild.join.access import TokenBook
from councild.keypad import Action, Keypads, NothingToDo, action_to_api
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
    SeatId,
    SetMaxOpen,
    SpeakingTimeOver,
    SpeakingTimeWarning,
    Tick,
    Voice,
)
from councild.refusals import RefusalCoalescer
from councild.state_view import DeviceView, Publisher, SurfaceLamps
from councild.store import Store
from councild.vision import Vision
from devices import driver_class
from devices.base import Device, KeyedOptions
from devices.capabilities import (
    ActionSurface,
    Camera,
    ClearRequests,
    ConferenceSystem,
    DeviceCommand,
    NextSpeaker,
    SetChannel,
    SetMaxSpeakers,
    SetRequest,
    carry_out,
)
from devices.videoroom import JanusOptions

if TYPE_CHECKING:  # aiohttp, ffmpeg supervision, prometheus: imported only when configured
    from councild.hybrid_audio import HybridAudio
    from councild.join.chamber import ChamberFeed
    from councild.join.server import JoinServer
    from councild.metrics import MetricsServer
    from scenes.obs_client import ObsClient

__all__ = ["CHECKPOINT_INTERVAL", "STOP_CONFIRM_S", "Daemon", "DeviceEvents", "DeviceView"]

log = logging.getLogger("councild.daemon")

CHECKPOINT_INTERVAL = 10.0  # seconds; keeps the WAL small without an fsync on the hot path
# A stop of the stream or the recording from a keypad or Companion button takes a second
# press within this many seconds: one press by mistake must not end the broadcast.
STOP_CONFIRM_S = 3.0

E = TypeVar("E", bound=Event)


class DeviceEvents:
    """What a driver emits, to the handler for its type."""

    def __init__(self) -> None:
        self._handlers: dict[type[Event], Callable[[Event], None]] = {}

    def on(self, kinds: tuple[type[E], ...], handler: Callable[[E], None]) -> None:
        for kind in kinds:
            # The table is keyed by the very type the handler takes: the cast is safe.
            self._handlers[kind] = cast("Callable[[Event], None]", handler)

    def dispatch(self, event: Event) -> None:
        handler = self._handlers.get(type(event))
        if handler is not None:  # others (a channel's name, say) are not the daemon's
            handler(event)


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
        self.server = api.ApiServer(self.handle, token=os.environ.get(config.api.token_env))
        self.publisher = Publisher(self.server, self.state_dict, self.levels, clock)
        self.events = self.publisher.events  # the event log, for clients that attach later
        self._seat_by_channel = {
            (s.mic.device, s.mic.channel): s.id for s in config.seats if s.mic is not None
        }
        self._store: Store | None = None
        self._session_id = 0
        self._refusals = RefusalCoalescer()
        self._rules_print = ""
        self._inputs_since_snapshot = 0
        self._timer: asyncio.TimerHandle | None = None
        self._calls: dict[str, asyncio.Queue[DeviceCommand]] = {}
        self._masters: list[str] = []  # conference units that run the floor (set at start)
        self._tasks: set[asyncio.Task[None]] = set()
        self._busy: set[str] = set()
        self.keypads = Keypads(
            entry_timeout=config.keypad.entry_timeout,
            keys=config.keypad.keys,
            device_keys={n: o.keys for n, o in config.device_options.items()
                         if isinstance(o, KeyedOptions)},
        )
        self._stop_pressed: dict[tuple[str, str], float] = {}  # (device, op) → when
        self.remote: RemoteSeats | None = None
        self.join: JoinServer | None = None
        self.chamber: ChamberFeed | None = None
        self.audio: HybridAudio | None = None  # [bridge.audio]
        if config.bridge.audio is not None:
            for name, driver in (("audiobridge", "audiobridge"), ("chamber-send", "ffmpeg"),
                                 ("chamber-return", "ffmpeg")):
                self.device_views[name] = DeviceView(driver=driver)
        if config.join.enabled and config.join.chamber is not None:
            self.device_views["chamber"] = DeviceView(driver="chamber-feed")
        self._director_config = director_config(config)
        self.vision: Vision | None = None
        self.broadcast: BroadcastControl | None = None  # stream and recording, with OBS
        self.metrics: MetricsServer | None = None  # with [metrics] enabled
        if self._director_config is not None and config.obs.enabled:
            self.device_views["obs"] = DeviceView(driver="obs-websocket")
        self.device_events = DeviceEvents()
        on = self.device_events.on
        on((DeviceStatus,), self._device_status)
        on((ParticipantJoined, ParticipantLeft, ParticipantTalking, ParticipantDisplay,
            ParticipantPublished), self._participant)
        on((KeyPressed,), self._key_pressed)
        on((CameraMotion,), self._camera_motion)
        on((DeviceLimit,), self._device_limit)
        on((ChannelLevel,), self._channel_level)
        on((ChannelVoice,), self._channel_voice)
        on((ChannelSwitched, ChannelRequested), self._channel_input)

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
            device = driver_class(options.driver)(name, options, self.emit)
            self.devices[name] = device
            if isinstance(device, ActionSurface):  # it speaks in actions (OSC control)
                device.on_action = lambda action, n=name: self.keypad_action(action, n)
            self._calls[name] = asyncio.Queue()
            self._spawn(self._device_worker(name), f"calls:{name}")
        self._masters = [n for n, d in self.devices.items()
                         if isinstance(d, ConferenceSystem) and d.runs_floor()]
        self.publisher.lamps = SurfaceLamps(self.devices.values(), self._spawn)
        tokens: dict[str, str] = {}
        if self.config.bridge.device is not None:
            tokens = load_tokens(self.config.bridge.tokens_file)  # once: seats and join page
            self.remote = RemoteSeats(
                self.config, self.devices[self.config.bridge.device], self,
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
            cameras = {n: dev for n, dev in self.devices.items() if isinstance(dev, Camera)}
            self.vision = Vision(self.config, self._director_config, self, cameras=cameras)
            await self.vision.start()
            self.vision.restore_floor(tuple(s.seat for s in self.state.speakers))
            if self.vision.obs is not None:
                self.broadcast = BroadcastControl(
                    self.vision.obs, self.config.broadcast, self, obs_host=self.config.obs.host)
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
        from councild.hybrid_audio import HybridAudio  # only if configured

        assert self.remote is not None and self.config.bridge.audio is not None
        self.remote.voice_from_video = False  # a remote seat talks where its voice is
        self.remote.forward_audio = False  # their voice reaches the stream through the desk
        self.audio = HybridAudio(self.config.bridge.audio, self.remote, self,
                                 muted_unless_floor=self.config.bridge.muted_unless_floor)
        await self.audio.start()

    async def _start_join(self, tokens: dict[str, str]) -> None:
        """The join page, and the chamber's programme published into the bridge room."""
        from councild.join.server import JoinServer  # aiohttp: imported only when it is on

        bridge = self.config.bridge
        assert bridge.device is not None and bridge.tokens_file is not None
        options = self.config.device_options[bridge.device]
        assert isinstance(options, JanusOptions)  # the config's check: a janus device
        url, room = options.url, options.room
        book = TokenBook(tokens, str(bridge.tokens_file))
        self.join = JoinServer(self.config, book, self, url, room)
        await self.join.start()
        self.publisher.pages = self.join
        feed = self.config.join.chamber
        if feed is not None:
            from councild.join.chamber import ChamberFeed  # ffmpeg supervision: only if used

            secret = os.environ.get(options.secret_env)
            self.chamber = ChamberFeed(
                url, room, secret, feed.input, display=feed.display, participant_id=feed.id,
                ffmpeg=feed.ffmpeg,
                on_status=lambda link, detail: self.emit(
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

    def _spawn(self, coro: Coroutine[Any, Any, None], name: str) -> None:
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
        self._note_event(source, event, effects)
        self._execute(effects)
        if self.vision is not None:
            if state.speakers != before.speakers:
                self.vision.floor(tuple(s.seat for s in state.speakers),
                                  grants=state.mode is not Mode.VOICE)
            if any(isinstance(e, AgendaChanged) for e in effects):
                self.vision.agenda_changed()
        if self.broadcast is not None and any(isinstance(e, AgendaChanged) for e in effects):
            self.broadcast.agenda_changed(self.agenda_title())
        self._schedule_deadline()
        self.changed()
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

    def _execute(self, effects: list[Effect]) -> None:
        for effect in effects:
            if isinstance(effect, OpenMic | CloseMic):
                opened = isinstance(effect, OpenMic)
                if self.remote is not None and self.remote.is_remote(effect.seat):
                    self.remote.floor_changed(effect.seat, opened)
                    if self.audio is not None:
                        self.audio.floor_changed(effect.seat)
                else:
                    self._seat_call(effect.seat, opened)
            elif isinstance(effect, RequestLamp):
                self._seat_call(effect.seat, effect.on, request=True)

    def _leads(self, device: str) -> bool:
        """councild decides this device's channels (otherwise it mirrors what it reports)."""
        options = self.config.device_options.get(device)
        return options is not None and options.follow_floor and device not in self._masters

    def _seat_call(self, seat_id: str, on: bool, *, request: bool = False) -> None:
        """Switch a seat's channel (or its request lamp, `request`) at its device, where
        councild leads that device."""
        seat = self.config.seat(seat_id)
        if seat is None or seat.mic is None:
            return
        device, channel = seat.mic.device, seat.mic.channel
        # A unit that runs the floor is told when councild's own rules close or open a mic
        # (chair priority, a speaking-time limit): else it would stay live, shown off.
        master = not request and device in self._masters
        if self._leads(device) or master:
            self._calls[device].put_nowait(SetRequest(channel, on) if request
                                           else SetChannel(channel, on))

    def _forward_to_master(self, event: Event) -> str | None:
        """Where a conference unit runs the floor, a floor command becomes a CU command;
        councild's floor then follows the CU's notifications. Returns the CU's name."""
        masters = self._masters
        if not masters:
            return None
        match event:
            case Grant(seat=seat_id) | Revoke(seat=seat_id) | Request(seat=seat_id) \
                    | Cancel(seat=seat_id):
                seat = self.config.seat(seat_id)
                if seat is None or seat.mic is None or seat.mic.device not in masters:
                    return None
                channel, on = seat.mic.channel, isinstance(event, Grant | Request)
                self._calls[seat.mic.device].put_nowait(
                    SetChannel(channel, on) if isinstance(event, Grant | Revoke)
                    else SetRequest(channel, on))
                return seat.mic.device
            case SetMaxOpen(value=value):
                # The unit's limit is the floor's (it comes back as the unit reports it).
                unit_command: DeviceCommand = SetMaxSpeakers(value)
            case Next():
                unit_command = NextSpeaker()
            case Clear():
                unit_command = ClearRequests()
            case _:
                return None
        for name in masters:
            self._calls[name].put_nowait(unit_command)
        return masters[0]

    def device_idle(self, name: str) -> bool:
        """No call to this device is waiting or under way."""
        return self._calls[name].empty() and name not in self._busy

    async def _device_worker(self, name: str) -> None:
        """Carries out one device's calls in order, so a mute never overtakes an unmute."""
        queue = self._calls[name]
        unsupported: set[type[DeviceCommand]] = set()
        while True:
            command = await queue.get()
            if type(command) in unsupported:
                continue
            self._busy.add(name)
            try:
                await carry_out(self.devices[name], command)
            except NotSupportedError:
                unsupported.add(type(command))
            except Exception as exc:  # noqa: BLE001 - a device that is down must not stop us
                log.warning("%s: %s failed: %s", name, command, exc)
            finally:
                self._busy.discard(name)

    # --- device events --------------------------------------------------------------------

    def emit(self, event: Event) -> None:
        """Everything a driver emits arrives here, on the loop."""
        self.device_events.dispatch(event)

    def _participant(self, event: ParticipantEvent) -> None:
        if self.remote is not None and event.device == self.remote.name:
            self.remote.on_event(event)

    def _key_pressed(self, event: KeyPressed) -> None:
        for action in self.keypads.press(event, self.clock()):
            self.keypad_action(action, event.device)

    def _camera_motion(self, event: CameraMotion) -> None:
        if self.vision is not None:
            self.vision.camera_motion(event)
        if not event.moving:
            self._note_event(event.device, event, [])
        self.changed()

    def _channel_level(self, event: ChannelLevel) -> None:
        seat = self._seat_by_channel.get((event.device, event.channel))
        if seat is not None:
            self.levels[seat] = event.dbfs
            self.publisher.levels_changed()
            if self.vision is not None:
                self.vision.level(seat, event.dbfs)

    def _channel_voice(self, event: ChannelVoice) -> None:
        seat = self._seat_by_channel.get((event.device, event.channel))
        if seat is not None:
            self.voice(seat, event.active, event.device)

    def _channel_input(self, event: ChannelSwitched | ChannelRequested) -> None:
        """A desk or unit switched a channel or changed its request list."""
        seat = self._seat_by_channel.get((event.device, event.channel))
        if seat is None:
            return  # a channel no seat uses (music, ambience, the clerk's laptop)
        view = self.device_views.get(event.device)
        if view is not None and view.link is not Link.CONNECTED:
            # Read while (re)connecting: the driver's full snapshot, taken when it reports
            # CONNECTED, is what counts (pushed against or taken over: _push_floor_to).
            return
        if event.device in self._masters:
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
            self.note(device, {"type": "refused", "op": op, **error})

    # --- what the parts ask of their host (councild/host.py) --------------------------------

    def now(self) -> float:
        return self.clock()

    def voice(self, seat: SeatId, active: bool, device: str) -> None:
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
        self.changed()

    def speech(self, seat: SeatId, active: bool) -> None:
        """The level classifier's speech at a metered seat: in voice mode the floor follows
        it (the mic opens on confirmed speech, and closes when the detector hears nothing)."""
        if self.state.mode is not Mode.VOICE or (not active and seat in self.talking):
            return
        with contextlib.suppress(FloorError):
            self.submit(Voice(seat=seat, active=active), "classifier")

    def obs(self) -> ObsClient | None:
        return self.vision.obs if self.vision is not None else None

    def slot_scene(self, seat: SeatId) -> str | None:
        return self.remote.slot_scene(seat) if self.remote is not None else None

    def level(self, key: str, dbfs: float) -> None:
        self.levels[key] = dbfs
        self.publisher.levels_changed()

    def record(self, source: str, kind: str, type_: str, body: dict[str, Any]) -> None:
        if self._store is not None:
            self._store.note(self._session_id, source, kind, type_, body, wall=self.clock())

    def note(self, source: str, what: dict[str, Any]) -> None:
        """A log line for something that is not a model event (a cut, a forwarded command)."""
        self.publisher.log(source, what, [])

    def changed(self) -> None:
        self.publisher.changed()

    def agenda_title(self) -> str | None:
        index = self.state.agenda
        if not 0 <= index < len(self.rules.agenda):
            return None
        item = self.rules.agenda[index]
        return agenda_label(item.number, item.title)

    # --- devices' links ----------------------------------------------------------------------

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
            self._note_event(event.device, event, [])
            if event.link is Link.CONNECTED:
                self._push_floor_to(event.device)
        self.changed()

    def _push_floor_to(self, device: str) -> None:
        """After a (re)connect: push the floor to a device councild leads, or let the state
        of a device that runs the floor (or that councild mirrors) replace councild's — the
        one rule of councild/device_sync.py, for every desk and conference unit."""
        driver = self.devices.get(device)
        if driver is None:
            return  # the OBS link, the chamber feed: no channels
        if self._leads(device):
            role = device_sync.Role.LEAD
        elif device in self._masters:
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
        if event.device not in self._masters:
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
            self.note(device, {"type": "warning", "message": warning})
        self.changed()

    # --- what clients see (councild/state_view.py) ------------------------------------------

    def _note_event(self, source: str, event: Event, effects: list[Effect]) -> None:
        """One line for the event log that the TUI and `ctl --follow` show."""
        self.publisher.log(source, event.to_dict(), [
            e.to_dict() for e in effects
            if isinstance(e, OpenMic | CloseMic | SpeakingTimeWarning | SpeakingTimeOver
                          | AgendaChanged)])

    def last_seen(self, name: str) -> float | None:
        """Read live from the driver: a desk streaming meters is seen many times a second
        without any status change."""
        device = self.devices.get(name)
        if device is not None:
            return device.health.last_seen
        obs = self.obs()
        if name == "obs" and obs is not None:
            return obs.health.last_seen
        return None

    def state_dict(self) -> dict[str, Any]:
        return state_view.state_dict(self)

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
            self.changed()

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
            self.note(source, {"type": "refused", "op": request.op, "code": "no_obs"})
            return api.error_reply(request.id, "no_obs", _("OBS is not configured"))
        try:
            extra = await self.broadcast.command(request.op, source)
        except BroadcastError as exc:
            self._broadcast_record(source, "rejected", {"op": request.op, "error": exc.code,
                                                        "message": exc.message})
            self.note(source, {"type": "refused", "op": request.op,
                                         "code": exc.code, "message": exc.message})
            return api.error_reply(request.id, exc.code, exc.message)
        self.note(source, {"type": request.op, **extra})
        return {"id": request.id, "ok": True, **extra, "state": self.state_dict()}

    async def _keypad_broadcast(self, op: str, device: str) -> None:
        if op in ("stream_stop", "record_stop"):
            now = time.monotonic()
            first = self._stop_pressed.pop((device, op), None)
            if first is None or now - first > STOP_CONFIRM_S:
                self._stop_pressed[(device, op)] = now
                self.note(device, {"type": "confirm_stop", "op": op,
                                             "seconds": STOP_CONFIRM_S})
                return
        reply = await self.broadcast_op(api.ApiRequest(None, op, {}), device)
        if not reply.get("ok"):
            log.info("%s: %s refused: %s", device, op, reply["error"]["message"])

    def _broadcast_record(self, source: str, type_: str, body: dict[str, Any]) -> None:
        """A refused broadcast command in the session record, at wall time."""
        self.record(source, "broadcast", type_, body)

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
                self.note(source, {"type": f"forwarded to {forwarded}", "op": op,
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
            self.note(source, {"type": "mute_remote", "on": on})
            self.record(source, "bridge", op, {"on": on})
            self.changed()
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
            self.note(source, {"type": op, **args})
            self.record(source, "director", op, args)
            return {"id": request.id, "ok": True, "state": self.state_dict()}
        known = ", ".join(["ping", "state", "subscribe", "unsubscribe", *api.FLOOR_OPS,
                           *api.DIRECTOR_OPS, "mute_remote", *BROADCAST_OPS])
        raise api.ApiError("unknown_op", f"unknown op {op!r} (known: {known})")
