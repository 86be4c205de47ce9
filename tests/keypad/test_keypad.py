"""The pure keypad: key map, number entry (with an injected clock), actions → API requests."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from councild.keypad import (
    MAX_DIGITS,
    AdvanceAgenda,
    ClearQueue,
    EntryKey,
    GrantSeat,
    KeyMap,
    KeyMapError,
    Keypad,
    Keypads,
    LockProgram,
    MuteRemote,
    NextSpeaker,
    NothingToDo,
    NumberEntry,
    PriorityHold,
    RevokeAll,
    RevokeCurrent,
    RevokeSeat,
    SeatLamp,
    Wide,
    action_to_api,
    longest_speaking,
    seat_lamps,
)
from councild.model import KeyPressed


def tap(pad: Keypad, key: str, now: float) -> list[object]:
    return pad.press(key, True, now) + pad.press(key, False, now)


def test_typing_a_seat_and_enter_grants_it() -> None:
    pad = Keypad.from_config({}, entry_timeout=4.0)
    assert tap(pad, "KEY_KP1", 0.0) == []
    assert tap(pad, "KEY_KP2", 0.5) == []
    assert pad.typed == "12"
    assert tap(pad, "KEY_KPENTER", 1.0) == [GrantSeat(seat="12")]
    assert pad.typed == ""
    assert pad.next_deadline() is None


def test_leading_zeros_name_the_seat_as_configured() -> None:
    entry = NumberEntry(timeout=4.0)
    for d in "004":
        entry.step(d, 0.0)
    assert entry.step(EntryKey.ENTER, 0.1) == GrantSeat(seat="4")


def test_backspace_escape_and_empty_enter() -> None:
    entry = NumberEntry(timeout=4.0)
    for d in "123":
        entry.step(d, 0.0)
    entry.step(EntryKey.BACKSPACE, 0.1)
    assert entry.digits == "12"
    entry.step(EntryKey.ESCAPE, 0.2)
    assert entry.digits == ""
    assert entry.step(EntryKey.ENTER, 0.3) is None


def test_timeout_forgets_a_half_typed_number() -> None:
    entry = NumberEntry(timeout=4.0)
    entry.step("1", 10.0)
    assert entry.next_deadline() == 14.0
    entry.step("2", 20.0)  # long after the deadline: the "1" is gone
    assert entry.step(EntryKey.ENTER, 20.5) == GrantSeat(seat="2")
    entry.step("7", 30.0)
    assert entry.expire(33.9) is False
    assert entry.expire(34.0) is True
    assert entry.digits == ""


def test_each_digit_extends_the_deadline() -> None:
    entry = NumberEntry(timeout=4.0)
    entry.step("1", 0.0)
    entry.step("2", 3.5)
    assert entry.next_deadline() == 7.5
    assert entry.step(EntryKey.ENTER, 7.0) == GrantSeat(seat="12")


def test_a_sixth_digit_is_ignored() -> None:
    entry = NumberEntry(timeout=4.0)
    for d in "1234567":
        entry.step(d, 0.0)
    assert entry.digits == "12345"[:MAX_DIGITS]


def test_priority_is_held_while_the_key_is_down() -> None:
    pad = Keypad.from_config({}, entry_timeout=4.0)
    assert pad.press("KEY_KPASTERISK", True, 0.0) == [PriorityHold(on=True)]
    assert pad.press("KEY_KPASTERISK", True, 0.1) == []  # auto-repeat
    assert pad.press("KEY_KPASTERISK", False, 0.2) == [PriorityHold(on=False)]
    assert pad.press("KEY_KPASTERISK", False, 0.3) == []  # a second release means nothing


def test_release_all_releases_priority() -> None:
    pad = Keypad.from_config({}, entry_timeout=4.0)
    pad.press("KEY_KPASTERISK", True, 0.0)
    pad.press("KEY_KP1", True, 0.0)
    assert pad.release_all() == [PriorityHold(on=False)]
    assert pad.held == set()


def test_unmapped_keys_do_nothing_and_are_counted() -> None:
    pad = Keypad.from_config({}, entry_timeout=4.0)
    assert tap(pad, "KEY_F13", 0.0) == []
    assert pad.unmapped == 1


@pytest.mark.parametrize(
    ("spec", "action"),
    [
        ("next", NextSpeaker()),
        ("revoke", RevokeCurrent()),
        ("revoke:7", RevokeSeat(seat="7")),
        ("revoke_all", RevokeAll()),
        ("clear", ClearQueue()),
        ("wide", Wide()),
        ("lock", LockProgram(on=True)),
        ("unlock", LockProgram(on=False)),
        ("agenda", AdvanceAgenda()),
        ("mute_remote", MuteRemote(on=True)),
        ("unmute_remote", MuteRemote(on=False)),
        ("grant:C", GrantSeat(seat="C")),
    ],
)
def test_configured_keys_fire_their_action_on_key_down(spec: str, action: object) -> None:
    pad = Keypad.from_config({"pad1": spec}, entry_timeout=4.0)
    assert pad.press("pad1", True, 0.0) == [action]
    assert pad.press("pad1", False, 0.1) == []


def test_configuration_overrides_and_disables_defaults() -> None:
    keymap = KeyMap.build({"KEY_KPPLUS": "agenda", "KEY_KPMINUS": "none"})
    plus = keymap.lookup("KEY_KPPLUS")
    assert plus is not None
    assert plus.name == "agenda"
    assert keymap.lookup("KEY_KPMINUS") is None
    assert KeyMap.build({}, defaults=False).functions == {}


@pytest.mark.parametrize("spec", ["explode", "grant", "next:3", "grant:a b", "12", "priority:1"])
def test_bad_actions_are_configuration_errors(spec: str) -> None:
    with pytest.raises(KeyMapError, match="pad9"):
        KeyMap.build({"pad9": spec})


STATE = {
    "speakers": ["C", "5", "3"],
    "speaking": [{"seat": "C", "over": False}, {"seat": "5", "over": True},
                 {"seat": "3", "over": False}],
    "seats": [
        {"id": "C", "role": "chair", "mic": "on"},
        {"id": "3", "role": "member", "mic": "on"},
        {"id": "5", "role": "member", "mic": "on"},
        {"id": "7", "role": "member", "mic": "requesting"},
        {"id": "8", "role": "member", "mic": "off"},
    ],
}


def test_revoke_current_targets_the_longest_speaking_delegate() -> None:
    assert longest_speaking(STATE) == "5"
    assert action_to_api(RevokeCurrent(), STATE) == {"op": "revoke", "seat": "5"}
    chair_alone = {**STATE, "speakers": ["C"]}
    assert longest_speaking(chair_alone) == "C"
    with pytest.raises(NothingToDo):
        action_to_api(RevokeCurrent(), {"speakers": [], "seats": []})


def test_actions_to_api_requests() -> None:
    assert action_to_api(GrantSeat(seat="4")) == {"op": "grant", "seat": "4"}
    assert action_to_api(NextSpeaker()) == {"op": "next"}
    assert action_to_api(RevokeSeat(seat="2")) == {"op": "revoke", "seat": "2"}
    assert action_to_api(RevokeAll()) == {"op": "revoke_all"}
    assert action_to_api(PriorityHold(on=False)) == {"op": "priority", "on": False}
    assert action_to_api(ClearQueue()) == {"op": "clear"}
    assert action_to_api(Wide()) == {"op": "wide"}
    assert action_to_api(LockProgram(on=True)) == {"op": "lock", "on": True}
    assert action_to_api(AdvanceAgenda()) == {"op": "agenda"}
    assert action_to_api(MuteRemote(on=False)) == {"op": "mute_remote", "on": False}


def test_seat_lamps_from_api_state() -> None:
    assert seat_lamps(STATE) == {
        "C": SeatLamp.SPEAKING, "3": SeatLamp.SPEAKING, "5": SeatLamp.OVER,
        "7": SeatLamp.REQUESTING, "8": SeatLamp.FREE,
    }


# --- property tests ------------------------------------------------------------------------------

KEYS = st.sampled_from([*"0123456789", "ENTER", "BACKSPACE", "ESC", "NEXT", "PRIORITY", "junk"])


@given(st.lists(st.tuples(KEYS, st.booleans(), st.floats(0, 3.0)), max_size=60))
def test_any_key_sequence_yields_only_valid_actions(presses: list[tuple[str, bool, float]]) -> None:
    pad = Keypad.from_config({}, entry_timeout=4.0)
    now = 0.0
    for key, down, dt in presses:
        now += dt
        for action in pad.press(key, down, now):
            assert action_to_api(action, STATE)["op"]
            if isinstance(action, GrantSeat):
                assert action.seat.isdigit()
                assert len(action.seat) <= MAX_DIGITS


class NumberEntryMachine(RuleBasedStateMachine):
    """A model of what the chair typed, checked against the machine after every key."""

    TIMEOUT = 4.0

    def __init__(self) -> None:
        super().__init__()
        self.entry = NumberEntry(timeout=self.TIMEOUT)
        self.now = 0.0
        self.typed = ""  # model: digits since the last clear, Enter or timeout
        self.last = 0.0

    def _model_expire(self) -> None:
        if self.typed and self.now >= self.last + self.TIMEOUT:
            self.typed = ""

    @rule(dt=st.floats(0.0, 6.0))
    def wait(self, dt: float) -> None:
        self.now += dt

    @rule(digit=st.sampled_from("0123456789"))
    def digit(self, digit: str) -> None:
        self._model_expire()
        assert self.entry.step(digit, self.now) is None
        if len(self.typed) < MAX_DIGITS:
            self.typed += digit
        self.last = self.now

    @rule()
    def enter(self) -> None:
        self._model_expire()
        result = self.entry.step(EntryKey.ENTER, self.now)
        if self.typed:
            # Never a seat that was not fully typed: exactly the digits typed, as a number.
            assert result == GrantSeat(seat=str(int(self.typed)))
        else:
            assert result is None
        self.typed = ""

    @rule()
    def backspace(self) -> None:
        self._model_expire()
        assert self.entry.step(EntryKey.BACKSPACE, self.now) is None
        self.typed = self.typed[:-1]
        self.last = self.now

    @rule()
    def escape(self) -> None:
        assert self.entry.step(EntryKey.ESCAPE, self.now) is None
        self.typed = ""
        assert self.entry.digits == ""

    @precondition(lambda self: self.entry.next_deadline() is not None)
    @rule()
    def reach_deadline(self) -> None:
        deadline = self.entry.next_deadline()
        assert deadline is not None
        self.now = max(self.now, deadline)
        assert self.entry.expire(self.now) is True
        self.typed = ""
        assert self.entry.digits == ""

    @invariant()
    def digits_match_the_model(self) -> None:
        # Before expiry is applied the machine may still show digits the model forgot: compare
        # what both would use for the next key.
        probe = NumberEntry(self.entry.timeout, self.entry.digits, self.entry.last)
        probe.expire(self.now)
        model = self.typed if not (self.typed and self.now >= self.last + self.TIMEOUT) else ""
        assert probe.digits == model
        deadline = self.entry.next_deadline()
        assert (deadline is None) == (self.entry.digits == "")


TestNumberEntry = NumberEntryMachine.TestCase


def test_keypads_keep_one_number_entry_per_device() -> None:
    pads = Keypads(entry_timeout=4.0, keys={"KEY_KPPLUS": "agenda"},
                   device_keys={"deck": {"key0": "grant:C", "KEY_KPPLUS": "wide"}})

    def key(device: str, name: str, now: float) -> list[object]:
        return (pads.press(KeyPressed(device=device, key=name, pressed=True), now)
                + pads.press(KeyPressed(device=device, key=name, pressed=False), now))

    assert key("numpad", "KEY_KP1", 0.0) == []
    assert key("deck", "KEY_KP2", 1.0) == []
    assert pads.next_deadline() == 4.0
    assert key("numpad", "KEY_KPENTER", 2.0) == [GrantSeat(seat="1")]
    assert key("numpad", "KEY_KPPLUS", 2.0) == [AdvanceAgenda()]  # [keypad] keys
    assert key("deck", "KEY_KPPLUS", 2.0) == [Wide()]  # the device's own keys win
    assert key("deck", "key0", 2.0) == [GrantSeat(seat="C")]
    assert pads.next_deadline() == 5.0  # the deck's "2", typed at 1.0
    assert pads.expire(4.9) == []
    assert pads.expire(5.0) == ["deck"]
    assert pads.next_deadline() is None
    assert key("deck", "KEY_KPENTER", 5.0) == []
