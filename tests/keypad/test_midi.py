"""MIDI pads: mapping of plain mido messages, LED velocities, fuzzing; the rtmidi port layer
against virtual ports on a JACK dummy server (Debian jackd2)."""

from __future__ import annotations

import contextlib
import os
import subprocess
import uuid
from collections.abc import AsyncIterator
from typing import Any

import mido
import pytest
from hypothesis import given
from hypothesis import strategies as st

from councild.keypad import Keypad, NextSpeaker, PriorityHold, SeatLamp
from councild.model import Link
from councild.sansio import Malformed
from devices.keypad_midi import (
    NEED_DATA,
    MidiKeypad,
    MidiPadCodec,
    PadEvent,
    PadLeds,
)
from tests.helpers import require_binary, until
from tests.keypad.conftest import Recorder


def events(codec: MidiPadCodec) -> list[PadEvent]:
    out = []
    while (event := codec.next_event()) is not NEED_DATA:
        assert isinstance(event, PadEvent)
        out.append(event)
    return out


def feed(*messages: mido.Message) -> list[PadEvent]:
    codec = MidiPadCodec()
    for msg in messages:
        codec.receive_message(msg)
    return events(codec)


def test_notes_are_pads() -> None:
    assert feed(mido.Message("note_on", note=36, velocity=100),
                mido.Message("note_off", note=36),
                mido.Message("note_on", note=37, velocity=90),
                mido.Message("note_on", note=37, velocity=0)) == [
        PadEvent(key="note36", pressed=True), PadEvent(key="note36", pressed=False),
        PadEvent(key="note37", pressed=True), PadEvent(key="note37", pressed=False)]


def test_control_changes_fire_on_edges_only() -> None:
    cc = [mido.Message("control_change", control=20, value=v) for v in (0, 10, 64, 127, 90, 63, 0)]
    assert feed(*cc) == [PadEvent(key="cc20", pressed=True), PadEvent(key="cc20", pressed=False)]


def test_program_change_is_a_tap_and_the_rest_is_skipped() -> None:
    codec = MidiPadCodec()
    for msg in (mido.Message("program_change", program=3), mido.Message("clock"),
                mido.Message("pitchwheel", pitch=100), mido.Message("aftertouch", value=3)):
        codec.receive_message(msg)
    assert events(codec) == [PadEvent(key="pc3", pressed=True), PadEvent(key="pc3", pressed=False)]
    assert codec.skipped == 3


def test_raw_bytes_including_a_split_message() -> None:
    codec = MidiPadCodec()
    codec.receive_data(bytes([0x90, 36]))
    assert events(codec) == []
    codec.receive_data(bytes([127, 0x80, 36, 0]))
    assert events(codec) == [PadEvent(key="note36", pressed=True),
                             PadEvent(key="note36", pressed=False)]


def test_pads_drive_the_keypad() -> None:
    pad = Keypad.from_config({"note36": "next", "cc20": "priority", "note40": "1",
                              "note41": "enter"}, entry_timeout=4.0)
    actions = []
    for ev in feed(mido.Message("note_on", note=36, velocity=1), mido.Message("note_off", note=36),
                   mido.Message("control_change", control=20, value=127),
                   mido.Message("control_change", control=20, value=0)):
        actions += pad.press(ev.key, ev.pressed, 0.0)
    assert actions == [NextSpeaker(), PriorityHold(on=True), PriorityHold(on=False)]


def test_leds_send_only_changes_with_the_state_velocity() -> None:
    leds = PadLeds(notes={"4": 36, "5": 37})
    first = leds.update({"4": SeatLamp.SPEAKING, "5": SeatLamp.REQUESTING})
    assert [m.bytes() for m in first] == [[0x90, 36, 1], [0x90, 37, 5]]
    assert leds.update({"4": SeatLamp.SPEAKING, "5": SeatLamp.REQUESTING}) == []
    assert [m.bytes() for m in leds.update({"4": SeatLamp.OVER})] == [[0x90, 36, 3],
                                                                     [0x90, 37, 0]]
    leds.forget()
    assert len(leds.update({"4": SeatLamp.OVER})) == 2


@given(st.lists(st.binary(max_size=64), max_size=10))
def test_garbage_gives_only_pads_and_malformed(chunks: list[bytes]) -> None:
    codec = MidiPadCodec()
    for chunk in chunks:
        codec.receive_data(chunk)
        while (event := codec.next_event()) is not NEED_DATA:
            assert isinstance(event, PadEvent | Malformed)
            if isinstance(event, PadEvent):
                assert event.key[:2] in ("no", "cc", "pc")


# --- the port layer on a JACK dummy server -------------------------------------------------------


def _jack_answers() -> bool:
    import rtmidi

    try:
        rtmidi.MidiIn(rtmidi.API_UNIX_JACK, name="probe").get_ports()
    except Exception:  # noqa: BLE001 - rtmidi raises its SystemError until the server is up
        return False
    return True


@pytest.fixture
async def jack(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[str]:
    """A private jackd with the dummy backend; our rtmidi clients find it by name."""
    jackd = require_binary("jackd", "jackd2")
    pytest.importorskip("rtmidi", reason="pip install python-rtmidi")
    name = f"councild-{uuid.uuid4().hex[:8]}"
    monkeypatch.setenv("JACK_DEFAULT_SERVER", name)
    monkeypatch.setenv("JACK_NO_START_SERVER", "1")
    monkeypatch.setenv("JACK_NO_AUDIO_RESERVATION", "1")
    proc = subprocess.Popen(  # noqa: ASYNC220 - returns at once
        [jackd, "--no-realtime", "-n", name, "-d", "dummy", "-r", "48000", "-p", "256"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=dict(os.environ),
    )
    try:
        await until(lambda: proc.poll() is not None or _jack_answers(), timeout=10)
        if proc.poll() is not None:
            pytest.fail(f"jackd exited with {proc.returncode}")
        yield name
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=5)  # jackd exits within milliseconds of SIGTERM
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


class VirtualController:
    """A pad controller: a virtual output (pads) and a virtual input (LEDs) on JACK."""

    def __init__(self) -> None:
        import rtmidi

        self.pads: Any = rtmidi.MidiOut(rtmidi.API_UNIX_JACK, name="testpad")
        self.pads.open_virtual_port("pads")
        self.lights: Any = rtmidi.MidiIn(rtmidi.API_UNIX_JACK, name="testleds")
        self.lights.open_virtual_port("leds")
        self.received: list[list[int]] = []

    def send(self, *data: int) -> None:
        self.pads.send_message(list(data))

    def poll(self) -> list[list[int]]:
        while (msg := self.lights.get_message()) is not None:
            self.received.append(msg[0])
        return self.received

    def unplug(self) -> None:
        self.pads.close_port()
        self.lights.close_port()
        del self.pads, self.lights


@contextlib.asynccontextmanager
async def midi_keypad() -> AsyncIterator[tuple[MidiKeypad, Recorder]]:
    rec = Recorder()
    # Parts of the names, as a chamber configures "APC MINI": JACK renames a client that
    # comes back while its old name lingers (testpad-01), as ALSA numbers a re-plugged card.
    options = MidiKeypad.Options(port=":pads", output=":leds", api="jack",
                                 leds={"4": 36, "5": 37, "broadcast:live": 40})
    pad = MidiKeypad("pads", options, rec)
    await pad.start()
    try:
        yield pad, rec
    finally:
        await pad.stop()


async def test_pads_and_leds_over_jack(jack: str) -> None:
    controller = VirtualController()
    try:
        async with midi_keypad() as (pad, rec):
            await until(lambda: pad.health.link is Link.CONNECTED, timeout=10)
            assert pad.health.detail == "testpad:pads"
            # On connect every configured pad is lit for "free" (velocity 0).
            await until(lambda: len(controller.poll()) == 3)
            assert controller.received == [[0x90, 36, 0], [0x90, 37, 0], [0x90, 40, 0]]
            controller.send(0x90, 36, 127)
            controller.send(0x80, 36, 0)
            controller.send(0xB0, 20, 127)
            await until(lambda: len(rec.keys()) == 3)
            assert rec.keys() == [("note36", True), ("note36", False), ("cc20", True)]
            assert pad.set_seat_states({"4": SeatLamp.SPEAKING, "5": SeatLamp.FREE}) == 1
            await until(lambda: len(controller.poll()) == 4)
            assert controller.received[-1] == [0x90, 36, 1]
            # The stream goes live: its pad lights, and a later seat change leaves it lit.
            assert pad.set_broadcast_lamps({"live": True, "recording": False,
                                            "alarm": False}) == 1
            await until(lambda: len(controller.poll()) == 5)
            assert controller.received[-1] == [0x90, 40, 1]
            assert pad.set_seat_states({"4": SeatLamp.FREE}) == 1
    finally:
        controller.unplug()


async def test_unplugged_controller_is_lost_then_found_again(jack: str) -> None:
    controller = VirtualController()
    async with midi_keypad() as (pad, rec):
        await until(lambda: pad.health.link is Link.CONNECTED, timeout=10)
        controller.send(0xB0, 20, 127)  # a held CC pad (priority, say)
        await until(lambda: rec.keys() == [("cc20", True)])
        pad.set_seat_states({"4": SeatLamp.OVER})
        controller.unplug()
        await until(lambda: pad.health.link is Link.LOST, timeout=10)
        assert rec.keys()[-1] == ("cc20", False)  # released when the controller vanished
        controller = VirtualController()
        await until(lambda: rec.connected_count() == 2, timeout=15)
        # A re-plugged controller shows nothing: every LED is sent again.
        await until(lambda: len(controller.poll()) == 3)
        assert sorted(controller.received) == [[0x90, 36, 3], [0x90, 37, 0], [0x90, 40, 0]]
        controller.send(0x90, 37, 100)
        await until(lambda: rec.keys()[-1] == ("note37", True))
    controller.unplug()
