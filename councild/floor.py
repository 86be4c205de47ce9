"""The floor: who may speak, who waits. A pure state machine with an injected clock.

`step(state, event, now) -> (state, effects)` never performs I/O and never reads a clock; the
daemon passes `now` (wall-clock seconds) and executes the effects. An event that is not allowed
raises FloorError and leaves the state as it was (states are immutable, so a failed step cannot
leave half a change behind).

The rules, as a chair would describe them:

- **open**: pressing the mic button opens the mic while fewer than `max_open` delegate mics are
  open and nobody is waiting; otherwise the press joins the queue, and the queue moves up by
  itself whenever a mic closes.
- **request**: presses join the queue; the chair or technician grants. `next` closes the
  longest-speaking delegate and grants the head of the queue.
- **override**: a press opens the mic at once; at `max_open` the longest-open delegate mic is
  closed to make room.
- **voice**: mics follow voice activity (up to `max_open`); there is no queue.

In every mode: the chair's mic never counts toward `max_open`; chair priority closes every
delegate mic and keeps them closed while held; the reply queue (short replies to the current
speaker) gets the floor once before the main queue; guests are never given the floor
automatically (only by an explicit grant); a press on an open mic closes it and a press on a
waiting seat withdraws the request. Speaking-time limits come per role, can be overridden per
agenda item, warn `warning_before` seconds early and then close the mic or flag the speaker.
A mic opened or closed at the device itself (desk surface, conference unit) is honoured, within
the same limits: at `max_open` the longest-open delegate makes room; under priority it is shut
again. A device that runs the floor itself (a conference unit as master) is mirrored instead
(`Mirror`): its speakers, its requests and its limit, as it reports them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from councild.errors import FloorError
from councild.model import (
    AgendaChanged,
    Cancel,
    Clear,
    CloseMic,
    Effect,
    Grant,
    MicClosed,
    MicOpened,
    MicState,
    Mirror,
    Mode,
    Next,
    OpenMic,
    Press,
    Priority,
    Request,
    RequestLamp,
    Revoke,
    RevokeAll,
    Role,
    SeatId,
    SetAgenda,
    SetMaxOpen,
    SetMode,
    SpeakingTimeOver,
    SpeakingTimeWarning,
    Tick,
    Voice,
)
from councild.model import (
    Event as ModelEvent,
)

# ---------------------------------------------------------------------------------------------
# Configuration and state


@dataclass(frozen=True, slots=True)
class AgendaEntry:
    id: str
    title: str
    limits: Mapping[Role, float | None] = field(default_factory=dict)  # None: role default
    number: str = ""  # as the council numbers it ("3", "20.1"); shown as "TOP 3 — title"


@dataclass(frozen=True, slots=True)
class FloorRules:
    """What the floor needs to know of the chamber; fixed for a session."""

    seats: Mapping[SeatId, Role]  # every seat with its councillor's role (guest if empty)
    limits: Mapping[Role, float] = field(default_factory=dict)  # seconds; 0 = no limit
    warning_before: float = 30.0
    over_limit: str = "flag"  # "close" or "flag"
    agenda: Sequence[AgendaEntry] = ()

    @property
    def chair_seats(self) -> tuple[SeatId, ...]:
        return tuple(s for s, r in self.seats.items() if r is Role.CHAIR)

    def limit(self, seat: SeatId, agenda: int) -> float:
        role = self.seats[seat]
        if 0 <= agenda < len(self.agenda):
            override = self.agenda[agenda].limits.get(role)
            if override is not None:
                return override
        return self.limits.get(role, 0.0)


@dataclass(frozen=True, slots=True)
class Speaker:
    seat: SeatId
    since: float  # when the mic opened (floor clock)
    warned: bool = False  # the warning before the limit was given
    over: bool = False  # the limit was reached (and the speaker flagged)


@dataclass(frozen=True, slots=True)
class Waiting:
    seat: SeatId
    since: float  # when the request was made


@dataclass(frozen=True, slots=True)
class FloorState:
    mode: Mode = Mode.REQUEST
    max_open: int = 2
    speakers: tuple[Speaker, ...] = ()  # in order of granting
    queue: tuple[Waiting, ...] = ()
    reply_queue: tuple[Waiting, ...] = ()
    priority: bool = False
    priority_seat: SeatId | None = None  # the chair mic priority opened (closed on release)
    agenda: int = -1  # index into FloorRules.agenda; -1 before the first item

    def speaking(self, seat: SeatId) -> bool:
        return any(s.seat == seat for s in self.speakers)

    def queued(self, seat: SeatId) -> bool:
        return any(w.seat == seat for w in self.queue) or any(
            w.seat == seat for w in self.reply_queue
        )

    def mic_state(self, seat: SeatId) -> MicState:
        if self.speaking(seat):
            return MicState.ON
        if self.queued(seat):
            return MicState.REQUESTING
        return MicState.OFF

    def to_dict(self) -> dict[str, Any]:
        return {
            "mode": self.mode.value,
            "max_open": self.max_open,
            "speakers": [s.seat for s in self.speakers],
            "queue": [w.seat for w in self.queue],
            "reply_queue": [w.seat for w in self.reply_queue],
            "priority": self.priority,
        }


def initial_state(mode: Mode, max_open: int) -> FloorState:
    return FloorState(mode=mode, max_open=max_open)


# ---------------------------------------------------------------------------------------------
# The machine


class _Tx:
    """A step in progress: a mutable copy of the state, and the effects so far."""

    __slots__ = ("agenda", "effects", "max_open", "mode", "now", "priority", "priority_seat",
                 "queue", "reply", "rules", "speakers")

    def __init__(self, rules: FloorRules, s: FloorState, now: float) -> None:
        self.rules = rules
        self.now = now
        self.mode = s.mode
        self.max_open = s.max_open
        self.speakers = list(s.speakers)
        self.queue = list(s.queue)
        self.reply = list(s.reply_queue)
        self.priority = s.priority
        self.priority_seat = s.priority_seat
        self.agenda = s.agenda
        self.effects: list[Effect] = []

    def freeze(self) -> FloorState:
        return FloorState(
            mode=self.mode,
            max_open=self.max_open,
            speakers=tuple(self.speakers),
            queue=tuple(self.queue),
            reply_queue=tuple(self.reply),
            priority=self.priority,
            priority_seat=self.priority_seat,
            agenda=self.agenda,
        )

    # --- queries

    def role(self, seat: SeatId) -> Role:
        return self.rules.seats[seat]

    def is_delegate(self, seat: SeatId) -> bool:
        return self.rules.seats[seat] is not Role.CHAIR

    def delegates_open(self) -> int:
        seats = self.rules.seats
        return sum(1 for s in self.speakers if seats[s.seat] is not Role.CHAIR)

    def speaking(self, seat: SeatId) -> bool:
        return any(s.seat == seat for s in self.speakers)

    def queued(self, seat: SeatId) -> bool:
        return any(w.seat == seat for w in self.queue) or any(w.seat == seat for w in self.reply)

    # --- changes

    def open(self, seat: SeatId, announce: bool = True) -> None:
        self.unqueue(seat)
        self.speakers.append(Speaker(seat, self.now))
        if announce:
            self.effects.append(OpenMic(seat=seat))

    def close(self, seat: SeatId, announce: bool = True) -> None:
        self.speakers = [s for s in self.speakers if s.seat != seat]
        if self.priority_seat == seat:
            self.priority_seat = None
        if announce:
            self.effects.append(CloseMic(seat=seat))

    def unqueue(self, seat: SeatId) -> bool:
        before = len(self.queue) + len(self.reply)
        self.queue = [w for w in self.queue if w.seat != seat]
        self.reply = [w for w in self.reply if w.seat != seat]
        removed = before != len(self.queue) + len(self.reply)
        if removed:
            self.effects.append(RequestLamp(seat=seat, on=False))
        return removed

    def enqueue(self, seat: SeatId, reply: bool) -> None:
        (self.reply if reply else self.queue).append(Waiting(seat, self.now))
        self.effects.append(RequestLamp(seat=seat, on=True))

    def longest_open_delegate(self) -> SeatId | None:
        delegates = [s for s in self.speakers if self.is_delegate(s.seat)]
        return min(delegates, key=lambda s: s.since).seat if delegates else None

    def make_room(self) -> None:
        """Close longest-open delegates until one more delegate fits."""
        while self.delegates_open() >= self.max_open:
            seat = self.longest_open_delegate()
            assert seat is not None  # max_open >= 1, so a full floor has a delegate
            self.close(seat)

    def fill(self) -> None:
        """In open mode the queue moves up by itself whenever there is room."""
        if self.mode is not Mode.OPEN or self.priority:
            return
        for q in (self.reply, self.queue):
            for w in list(q):
                if self.delegates_open() >= self.max_open:
                    return
                if self.role(w.seat) is Role.GUEST:
                    continue  # guests only by explicit grant
                self.open(w.seat)


def _known(tx: _Tx, seat: SeatId) -> None:
    if seat not in tx.rules.seats:
        raise FloorError("unknown_seat", f"no seat {seat!r} in the configuration")


def _request(tx: _Tx, seat: SeatId, reply: bool) -> None:
    _known(tx, seat)
    if tx.speaking(seat):
        raise FloorError("already_speaking", f"seat {seat} is already speaking")
    if tx.queued(seat):
        raise FloorError("already_queued", f"seat {seat} is already waiting")
    if not tx.is_delegate(seat):
        if tx.mode is Mode.VOICE:
            raise FloorError("no_queue", "voice mode has no request queue")
        tx.open(seat)  # the chair does not queue
        return
    if tx.mode is Mode.VOICE:
        raise FloorError("no_queue", "voice mode has no request queue")
    automatic = tx.role(seat) is not Role.GUEST and not tx.priority and not reply
    room = tx.delegates_open() < tx.max_open and not tx.queue and not tx.reply
    if automatic and tx.mode is Mode.OPEN and room:
        tx.open(seat)
        return
    if automatic and tx.mode is Mode.OVERRIDE:
        tx.make_room()
        tx.open(seat)
        return
    tx.enqueue(seat, reply)


def _on_request(tx: _Tx, ev: Request) -> None:
    _request(tx, ev.seat, ev.reply)


def _on_press(tx: _Tx, ev: Press) -> None:
    _known(tx, ev.seat)
    if tx.speaking(ev.seat):
        tx.close(ev.seat)
        tx.fill()
    elif tx.queued(ev.seat):
        tx.unqueue(ev.seat)
    else:
        _request(tx, ev.seat, reply=False)


def _on_cancel(tx: _Tx, ev: Cancel) -> None:
    _known(tx, ev.seat)
    if not tx.unqueue(ev.seat):
        raise FloorError("not_queued", f"seat {ev.seat} is not waiting")


def _grant(tx: _Tx, seat: SeatId) -> None:
    if tx.speaking(seat):
        raise FloorError("already_speaking", f"seat {seat} is already speaking")
    if tx.is_delegate(seat):
        if tx.priority:
            raise FloorError("priority", "chair priority is held")
        if tx.delegates_open() >= tx.max_open:
            raise FloorError(
                "max_open", f"{tx.max_open} delegate mics are open; revoke one or use next"
            )
    tx.open(seat)


def _on_grant(tx: _Tx, ev: Grant) -> None:
    _known(tx, ev.seat)
    _grant(tx, ev.seat)


def _on_revoke(tx: _Tx, ev: Revoke) -> None:
    _known(tx, ev.seat)
    if not tx.speaking(ev.seat):
        raise FloorError("not_speaking", f"seat {ev.seat} is not speaking")
    tx.close(ev.seat)
    tx.fill()


def _on_revoke_all(tx: _Tx, ev: RevokeAll) -> None:
    for s in list(tx.speakers):
        if tx.is_delegate(s.seat):
            tx.close(s.seat)
    tx.fill()


def _on_next(tx: _Tx, ev: Next) -> None:
    if tx.mode is Mode.VOICE:
        raise FloorError("no_queue", "voice mode has no request queue")
    if tx.priority:
        raise FloorError("priority", "chair priority is held")
    head = (tx.reply or tx.queue or [None])[0]
    current = tx.longest_open_delegate()
    if head is None and current is None:
        raise FloorError("nothing_to_do", "nobody is speaking and nobody is waiting")
    if current is not None:
        tx.close(current)
    if head is not None:
        if tx.delegates_open() >= tx.max_open:
            tx.make_room()
        tx.open(head.seat)
    tx.fill()


def _on_clear(tx: _Tx, ev: Clear) -> None:
    for w in tx.reply + tx.queue:
        tx.unqueue(w.seat)


def _on_priority(tx: _Tx, ev: Priority) -> None:
    if not ev.on:
        if tx.priority:
            tx.priority = False
            if tx.priority_seat is not None:
                tx.close(tx.priority_seat)
            tx.fill()
        return
    if ev.seat is not None:
        _known(tx, ev.seat)
        if tx.is_delegate(ev.seat):
            raise FloorError("not_chair", f"seat {ev.seat} is not a chair seat")
        chair = ev.seat
    elif tx.rules.chair_seats:
        chair = tx.rules.chair_seats[0]
    else:
        raise FloorError("no_chair", "no seat belongs to a councillor with the chair role")
    if tx.priority:
        return  # a held key repeats; priority is already on
    tx.priority = True
    for s in list(tx.speakers):
        if tx.is_delegate(s.seat):
            tx.close(s.seat)
    if not tx.speaking(chair):
        tx.open(chair)
        tx.priority_seat = chair


def _on_mode(tx: _Tx, ev: SetMode) -> None:
    mode = Mode(ev.mode)
    tx.mode = mode
    if mode is Mode.VOICE:
        _on_clear(tx, Clear())
    tx.fill()


def _on_max_open(tx: _Tx, ev: SetMaxOpen) -> None:
    if not 1 <= ev.value <= 64:
        raise FloorError("bad_value", "max_open must be between 1 and 64")
    tx.max_open = ev.value
    while tx.delegates_open() > tx.max_open:
        seat = tx.longest_open_delegate()
        assert seat is not None
        tx.close(seat)
    tx.fill()


def _on_agenda(tx: _Tx, ev: SetAgenda) -> None:
    items = tx.rules.agenda
    if ev.item is None:
        if tx.agenda + 1 >= len(items):
            raise FloorError("agenda_end", "the last agenda item is already current")
        tx.agenda += 1
    else:
        index = next((i for i, a in enumerate(items) if a.id == ev.item), None)
        if index is None:
            raise FloorError("unknown_item", f"no agenda item {ev.item!r}")
        tx.agenda = index
    tx.effects.append(AgendaChanged(item=items[tx.agenda].id))


def _on_mic_opened(tx: _Tx, ev: MicOpened) -> None:
    _known(tx, ev.seat)
    if tx.speaking(ev.seat):
        return  # the device confirms what we already know
    if tx.is_delegate(ev.seat):
        if tx.priority:
            tx.effects.append(CloseMic(seat=ev.seat))  # priority holds against the surface
            return
        tx.make_room()
    tx.open(ev.seat, announce=False)


def _on_mic_closed(tx: _Tx, ev: MicClosed) -> None:
    _known(tx, ev.seat)
    if tx.speaking(ev.seat):
        tx.close(ev.seat, announce=False)
        tx.fill()


def _on_mirror(tx: _Tx, ev: Mirror) -> None:
    """The device runs the floor for these seats: take its state as it is. No limit is
    applied, no room made, no queue moved up: the device did what its rules say, and it
    reports every consequence itself. Mics it switched are not switched back (no effects but
    the request lamps of seats whose waiting changed)."""
    if ev.max_open is not None:
        if not 1 <= ev.max_open <= 64:
            raise FloorError("bad_value", "max_open must be between 1 and 64")
        tx.max_open = ev.max_open
    for seat in (*ev.seats, *ev.speakers, *ev.requests):
        _known(tx, seat)
    speakers, requests = set(ev.speakers), set(ev.requests)
    for seat in ev.seats:
        if seat not in speakers and tx.speaking(seat):
            tx.close(seat, announce=False)
        if seat not in requests and seat not in speakers and tx.queued(seat):
            tx.unqueue(seat)
    for seat in ev.speakers:
        if not tx.speaking(seat):
            tx.open(seat, announce=False)  # leaves the queue, if it waited
    for seat in ev.requests:
        if seat not in speakers and not tx.speaking(seat) and not tx.queued(seat):
            tx.enqueue(seat, reply=False)


def _on_voice(tx: _Tx, ev: Voice) -> None:
    _known(tx, ev.seat)
    if tx.mode is not Mode.VOICE:
        return  # outside voice mode, voice activity is the director's business
    if ev.active:
        if tx.speaking(ev.seat) or tx.role(ev.seat) is Role.GUEST:
            return
        if tx.is_delegate(ev.seat) and (tx.priority or tx.delegates_open() >= tx.max_open):
            return
        tx.open(ev.seat)
    elif tx.speaking(ev.seat) and tx.priority_seat != ev.seat:
        tx.close(ev.seat)


def _on_tick(tx: _Tx, ev: Tick) -> None:
    """Time checks run on every step (see `_check_time`); a Tick only carries the time."""


_HANDLERS: dict[type[ModelEvent], Callable[[_Tx, Any], None]] = {
    Request: _on_request,
    Press: _on_press,
    Cancel: _on_cancel,
    Grant: _on_grant,
    Revoke: _on_revoke,
    RevokeAll: _on_revoke_all,
    Next: _on_next,
    Clear: _on_clear,
    Priority: _on_priority,
    SetMode: _on_mode,
    SetMaxOpen: _on_max_open,
    SetAgenda: _on_agenda,
    MicOpened: _on_mic_opened,
    MicClosed: _on_mic_closed,
    Mirror: _on_mirror,
    Voice: _on_voice,
    Tick: _on_tick,
}


def _check_time(tx: _Tx) -> None:
    """Speaking-time warnings and limits; runs after every event, in this one place."""
    if not tx.speakers:
        return
    rules = tx.rules
    for i, s in enumerate(tx.speakers):
        if s.over:
            continue
        limit = rules.limit(s.seat, tx.agenda)
        if limit <= 0:
            continue
        elapsed = tx.now - s.since
        if not s.warned and elapsed >= limit - rules.warning_before:
            tx.speakers[i] = s = replace(s, warned=True)
            tx.effects.append(SpeakingTimeWarning(seat=s.seat, remaining=max(0.0, limit - elapsed)))
        if elapsed >= limit:
            tx.speakers[i] = replace(s, over=True)
            closing = rules.over_limit == "close"
            tx.effects.append(SpeakingTimeOver(seat=s.seat, closed=closing))
    if rules.over_limit == "close":
        over = [s.seat for s in tx.speakers if s.over]
        for seat in over:
            tx.close(seat)
        if over:
            tx.fill()


def step(
    rules: FloorRules, state: FloorState, event: ModelEvent, now: float
) -> tuple[FloorState, list[Effect]]:
    """Apply one event at time `now`. Raises FloorError (state unchanged) if not allowed."""
    handler = _HANDLERS.get(type(event))
    if handler is None:
        raise FloorError("bad_event", f"the floor does not take {type(event).__name__}")
    tx = _Tx(rules, state, now)
    handler(tx, event)
    _check_time(tx)
    return tx.freeze(), tx.effects


def next_deadline(rules: FloorRules, state: FloorState) -> float | None:
    """When the next speaking-time warning or limit falls due, for the daemon's timer."""
    due: float | None = None
    for s in state.speakers:
        limit = rules.limit(s.seat, state.agenda)
        if limit <= 0 or s.over:
            continue
        t = s.since + (limit if s.warned else max(0.0, limit - rules.warning_before))
        due = t if due is None else min(due, t)
    return due

