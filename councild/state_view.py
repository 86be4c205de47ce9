"""What clients see of the daemon, and how they are told: the API state dict, the event log,
the level stream, and the lamps of button surfaces.

`state_dict` is a pure read of the daemon (a `StateSource`). `Publisher` sends it out: a burst
of changes within one loop iteration is one state message (to API subscribers, join pages and
surface lamps), levels go out at most every LEVEL_INTERVAL, log lines at once.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from councild import api
from councild.keypad import seat_lamps
from councild.labels import agenda_label
from councild.model import Link
from devices.capabilities import ButtonSurface

if TYPE_CHECKING:  # the parts' types, for the annotations only (some import aiohttp)
    from councild.bridge import RemoteSeats
    from councild.broadcast_control import BroadcastControl
    from councild.config import Config
    from councild.floor import FloorRules, FloorState
    from councild.hybrid_audio import HybridAudio
    from councild.join.server import JoinServer
    from councild.vision import Vision
    from devices.base import Device

log = logging.getLogger("councild.daemon")

EVENT_LOG_LENGTH = 500  # entries kept for clients that attach later (the TUI's event log)
LEVEL_INTERVAL = 0.05  # seconds between level broadcasts: 20 Hz is what a meter needs

Spawn = Callable[[Coroutine[Any, Any, None], str], None]


@dataclass
class DeviceView:
    """What the daemon shows of one device."""

    driver: str
    link: Link = Link.CLOSED
    detail: str = ""
    errors: int = 0
    since: float = field(default_factory=time.time)
    warning: str = ""  # what the technician should know, e.g. a unit's limit ≠ the config's


class StateSource(Protocol):
    """What the state dict is read from (the daemon)."""

    @property
    def config(self) -> Config: ...
    @property
    def rules(self) -> FloorRules: ...
    @property
    def roster(self) -> dict[str, Any]: ...
    @property
    def state(self) -> FloorState: ...
    @property
    def talking(self) -> set[str]: ...
    @property
    def levels(self) -> dict[str, float]: ...
    @property
    def device_views(self) -> dict[str, DeviceView]: ...
    @property
    def remote(self) -> RemoteSeats | None: ...
    @property
    def vision(self) -> Vision | None: ...
    @property
    def broadcast(self) -> BroadcastControl | None: ...
    @property
    def audio(self) -> HybridAudio | None: ...
    def now(self) -> float: ...
    def last_seen(self, name: str) -> float | None: ...


def state_dict(src: StateSource) -> dict[str, Any]:
    """The daemon's state as the API shows it (docs/api.md)."""
    now = src.now()
    s = src.state
    rules = src.rules
    remote = src.remote
    agenda = None
    if 0 <= s.agenda < len(rules.agenda):
        item = rules.agenda[s.agenda]
        agenda = {"index": s.agenda, "id": item.id, "title": item.title,
                  "number": item.number, "label": agenda_label(item.number, item.title)}
    seats = []
    for r in src.roster["seats"]:
        seat_cfg = src.config.seat(r["id"])
        seats.append({
            **r,
            "mic": s.mic_state(r["id"]).value,
            "talking": r["id"] in src.talking,
            "level": src.levels.get(r["id"]),
            "source": (
                {"device": seat_cfg.mic.device, "channel": seat_cfg.mic.channel}
                if seat_cfg is not None and seat_cfg.mic is not None else None
            ),
            "remote": bool(seat_cfg is not None and seat_cfg.remote),
            **({"bridge": remote.seat_view(r["id"])}
               if remote is not None and remote.is_remote(r["id"]) else {}),
        })
    speaking = []
    for sp in s.speakers:
        limit = rules.limit(sp.seat, s.agenda)
        speaking.append({
            "seat": sp.seat, "since": sp.since, "elapsed": now - sp.since,
            "limit": limit or None, "warned": sp.warned, "over": sp.over,
        })
    session = src.config.session
    vision, broadcast, audio = src.vision, src.broadcast, src.audio
    return {
        "session": {"key": session.key, "title": session.title,
                    "date": session.date.isoformat()},
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
        "program": vision.state_dict() if vision is not None else None,
        "broadcast": broadcast.state_dict() if broadcast is not None else None,
        "guests": remote.guests() if remote is not None else [],
        "remote_muted": remote.all_muted if remote is not None else False,
        "audio": audio.view() if audio is not None else None,
        "devices": {
            name: {"driver": v.driver, "link": v.link.value, "detail": v.detail,
                   "errors": v.errors, "last_seen": src.last_seen(name),
                   "since": v.since, "warning": v.warning}
            for name, v in src.device_views.items()
        },
    }


class SurfaceLamps:
    """Seat lamps and broadcast lamps on the button surfaces (MIDI LEDs, Stream Deck keys,
    OSC feedback), sent only when they change. A surface that is down never stops us."""

    def __init__(self, devices: Iterable[Device], spawn: Spawn) -> None:
        self.surfaces: list[tuple[str, ButtonSurface]] = [
            (d.name, d) for d in devices if isinstance(d, ButtonSurface)]
        self._spawn = spawn
        self._lamps: dict[str, Any] = {}
        self._broadcast: dict[str, bool] = {}

    def state_changed(self, state: Mapping[str, Any]) -> None:
        lamps = seat_lamps(state)
        if self.surfaces and lamps != self._lamps:
            self._lamps = lamps
            for name, surface in self.surfaces:
                self._call(name, "feedback", "feedback",
                           lambda s=surface: s.set_seat_states(lamps))
        self._broadcast_changed(state.get("broadcast"))

    def _broadcast_changed(self, broadcast: Mapping[str, Any] | None) -> None:
        """Live, recording and alarm lamps (OSC: Companion)."""
        if broadcast is None:
            return
        lamps = {"live": broadcast["stream"]["state"] in ("live", "reconnecting"),
                 "recording": broadcast["record"]["state"] in ("recording", "paused"),
                 "alarm": bool(broadcast["alarms"])}
        if lamps == self._broadcast:
            return
        self._broadcast = lamps
        for name, surface in self.surfaces:
            self._call(name, "broadcast lamps", "broadcast-lamps",
                       lambda s=surface: s.set_broadcast_lamps(lamps))

    def _call(self, name: str, what: str, task: str,
              setter: Callable[[], int | Awaitable[int]]) -> None:
        try:
            result = setter()
        except Exception as exc:  # noqa: BLE001 - a surface that is down must not stop us
            log.debug("%s: %s failed: %s", name, what, exc)
            return
        if isinstance(result, Awaitable):  # a Stream Deck paints in a worker thread
            async def wait(result: Awaitable[int] = result) -> None:
                try:
                    await result
                except Exception as exc:  # noqa: BLE001
                    log.debug("%s: %s failed: %s", name, what, exc)
            self._spawn(wait(), f"{task}:{name}")


class Publisher:
    """Tells whoever follows the daemon: API subscribers (state, levels, log lines), the join
    pages and the button surfaces (state)."""

    def __init__(self, server: api.ApiServer, state: Callable[[], dict[str, Any]],
                 levels: Mapping[str, float], clock: Callable[[], float]) -> None:
        self.server = server
        self._state = state
        self._levels = levels
        self._clock = clock
        self.events: deque[dict[str, Any]] = deque(maxlen=EVENT_LOG_LENGTH)
        self.pages: JoinServer | None = None  # set once the join page is up
        self.lamps: SurfaceLamps | None = None  # set once the devices are built
        self._state_pending = False
        self._levels_pending = False

    def subscribers(self) -> list[api.Connection]:
        return [c for c in self.server.connections if c.subscribed and not c.closed]

    def log(self, source: str, what: dict[str, Any], effects: list[dict[str, Any]]) -> None:
        """One line for the event log that the TUI and `ctl --follow` show."""
        entry = {"time": self._clock(), "source": source, "event": what, "effects": effects}
        self.events.append(entry)
        for conn in self.subscribers():
            conn.send({"event": "log", "entry": entry})

    def changed(self) -> None:
        if not self._state_pending:
            self._state_pending = True
            asyncio.get_running_loop().call_soon(self._send_state)

    def levels_changed(self) -> None:
        if not self._levels_pending:
            self._levels_pending = True
            asyncio.get_running_loop().call_later(LEVEL_INTERVAL, self._send_levels)

    def _send_state(self) -> None:
        self._state_pending = False
        subscribers = self.subscribers()
        lamps = self.lamps if self.lamps is not None and self.lamps.surfaces else None
        pages = self.pages if self.pages is not None and self.pages.has_pages() else None
        if not subscribers and lamps is None and pages is None:
            return  # nobody follows: the state dict is not even built
        state = self._state()
        if pages is not None:
            pages.state_changed(state)
        message = {"event": "state", "state": state}
        for conn in subscribers:
            conn.send(message)
        if self.lamps is not None:
            self.lamps.state_changed(state)

    def _send_levels(self) -> None:
        self._levels_pending = False
        message = {"event": "levels", "levels": dict(self._levels)}
        for conn in self.subscribers():
            conn.send(message)
