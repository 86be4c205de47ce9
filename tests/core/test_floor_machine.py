"""Hypothesis drives the floor through random sessions in every mode and checks the rules
that must always hold; every accepted step is also written to a real store, whose replay
must give back exactly the live state."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import hypothesis.strategies as st
from hypothesis import settings
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from councild.errors import FloorError
from councild.floor import AgendaEntry, FloorRules, FloorState, step
from councild.model import (
    Cancel,
    Clear,
    Grant,
    MicClosed,
    MicOpened,
    Mode,
    Next,
    Press,
    Priority,
    Request,
    Revoke,
    RevokeAll,
    Role,
    SetAgenda,
    SetMaxOpen,
    SetMode,
    Tick,
    Voice,
)
from councild.snapshot import state_from_dict, state_to_dict
from councild.store import Store

SEATS = {"C": Role.CHAIR, "V": Role.CHAIR, "G": Role.GUEST, "K": Role.CLERK,
         **{str(i): Role.MEMBER for i in range(1, 9)}}
seat_ids = st.sampled_from(sorted(SEATS))


class FloorMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.rules = FloorRules(
            seats=SEATS,
            limits={Role.MEMBER: 40.0, Role.CLERK: 40.0, Role.GUEST: 20.0},
            warning_before=10.0,
            over_limit="close",
            agenda=(AgendaEntry("a", "A"), AgendaEntry("b", "B", {Role.MEMBER: 15.0})),
        )
        self.state = FloorState(mode=Mode.REQUEST, max_open=2)
        self.now = 1_000.0
        self.tmp = tempfile.TemporaryDirectory()
        self.store = Store(Path(self.tmp.name) / "s.db")
        self.session = self.store.open_session("k", "t", "2026-01-01", {}, 0.0).id

    def teardown(self) -> None:
        self.store.close()
        self.tmp.cleanup()

    def apply(self, event) -> None:
        before = self.state
        try:
            self.state, effects = step(self.rules, self.state, event, self.now)
        except FloorError:
            assert self.state == before
            return
        self.store.record(self.session, "test", event, effects, wall=self.now)

    @rule(dt=st.floats(min_value=0, max_value=30))
    def time_passes(self, dt: float) -> None:
        self.now += dt
        self.apply(Tick())

    @rule(seat=seat_ids, reply=st.booleans())
    def request(self, seat: str, reply: bool) -> None:
        self.apply(Request(seat=seat, reply=reply))

    @rule(seat=seat_ids)
    def press(self, seat: str) -> None:
        self.apply(Press(seat=seat))

    @rule(seat=seat_ids)
    def cancel(self, seat: str) -> None:
        self.apply(Cancel(seat=seat))

    @rule(seat=seat_ids)
    def grant(self, seat: str) -> None:
        self.apply(Grant(seat=seat))

    @rule(seat=seat_ids)
    def revoke(self, seat: str) -> None:
        self.apply(Revoke(seat=seat))

    @rule()
    def revoke_all(self) -> None:
        self.apply(RevokeAll())

    @rule()
    def next(self) -> None:
        self.apply(Next())

    @rule()
    def clear(self) -> None:
        self.apply(Clear())

    @rule(on=st.booleans(), seat=st.sampled_from([None, "C", "V", "3"]))
    def priority(self, on: bool, seat: str | None) -> None:
        self.apply(Priority(on=on, seat=seat))

    @rule(mode=st.sampled_from(list(Mode)))
    def mode(self, mode: Mode) -> None:
        self.apply(SetMode(mode=mode))

    @rule(value=st.integers(min_value=0, max_value=5))
    def max_open(self, value: int) -> None:
        self.apply(SetMaxOpen(value=value))

    @rule(item=st.sampled_from([None, "a", "b", "zz"]))
    def agenda(self, item: str | None) -> None:
        self.apply(SetAgenda(item=item))

    @rule(seat=seat_ids, opened=st.booleans())
    def device(self, seat: str, opened: bool) -> None:
        self.apply(MicOpened(seat=seat) if opened else MicClosed(seat=seat))

    @rule(seat=seat_ids, active=st.booleans())
    def voice(self, seat: str, active: bool) -> None:
        self.apply(Voice(seat=seat, active=active))

    # --- what must always hold

    @invariant()
    def open_delegates_within_max(self) -> None:
        delegates = [s for s in self.state.speakers if SEATS[s.seat] is not Role.CHAIR]
        assert len(delegates) <= self.state.max_open

    @invariant()
    def nobody_both_queued_and_speaking(self) -> None:
        speaking = {s.seat for s in self.state.speakers}
        waiting = [w.seat for w in self.state.queue + self.state.reply_queue]
        assert not speaking & set(waiting)
        assert len(waiting) == len(set(waiting))
        assert len(speaking) == len(self.state.speakers)

    @invariant()
    def priority_means_no_delegate_mic(self) -> None:
        if self.state.priority:
            assert all(SEATS[s.seat] is Role.CHAIR for s in self.state.speakers)

    @invariant()
    def voice_mode_has_no_queue(self) -> None:
        if self.state.mode is Mode.VOICE:
            assert not self.state.queue and not self.state.reply_queue

    @invariant()
    def nobody_speaks_past_a_closing_limit(self) -> None:
        for s in self.state.speakers:
            assert not s.over  # over_limit = "close"

    @rule()
    def snapshot_taken(self) -> None:
        """The daemon's periodic snapshot: a restart replays only what came after it."""
        self.store.snapshot(self.session, "rules", state_to_dict(self.state), wall=self.now)

    @invariant()
    def replay_from_the_snapshot_gives_the_live_state(self) -> None:
        found = self.store.latest_snapshot(self.session, "rules")
        state, after = FloorState(mode=Mode.REQUEST, max_open=2), 0
        if found is not None:
            state, after = state_from_dict(json.loads(json.dumps(found[1]))), found[0]
        for event, wall in self.store.inputs(self.session, after=after):
            state, _ = step(self.rules, state, event, wall)
        assert state == self.state

    @invariant()
    def replay_gives_the_live_state(self) -> None:
        state = FloorState(mode=Mode.REQUEST, max_open=2)
        for event, wall in self.store.inputs(self.session):
            state, _ = step(self.rules, state, event, wall)
        assert state == self.state


FloorMachine.TestCase.settings = settings(max_examples=150, stateful_step_count=40)
TestFloorMachine = FloorMachine.TestCase
