"""MIDI pad controllers (Akai APC/MPD, Novation Launchpad, Korg nanoPAD ...) as chair keypads.

Pads send note on/off or control changes; each becomes a key named `note<N>` or `cc<N>`
(`pc<N>` for a program change, which has no release): `[keypad] keys` maps those names to
actions. LED feedback is a note-on to the pad's note whose velocity picks the colour on
most controllers (APC mini: 0 off, 1 green, 3 red, 5 yellow) — one per seat state
(protocols.md §7).

Layers: `MidiPadCodec` (sans-IO: bytes or mido messages → PadEvents), `PadLeds` (pure: seat
states → the note-ons that changed) and `MidiKeypad` (python-rtmidi ports, ALSA or JACK; the
port is polled so an unplugged controller is noticed and reopened when it comes back).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import mido
from pydantic import Field, field_validator

from councild.errors import ConnectionLostError, RemoteProtocolError
from councild.i18n import _
from councild.keypad import KeyMap, SeatLamp
from councild.model import KeyPressed
from councild.sansio import NEED_DATA, Malformed, NeedData
from devices.base import Device, DeviceOptions, Emit, KeyedOptions
from devices.capabilities import ButtonSurface

__all__ = [
    "DEFAULT_VELOCITIES",
    "NEED_DATA",
    "MidiKeypad",
    "MidiKeypadOptions",
    "MidiPadCodec",
    "PadEvent",
    "PadLeds",
    "key_of",
]

# A CC pad sends 127 pressed and 0 released; faders and knobs cross the middle.
CC_THRESHOLD = 64
# Decoded pad events not yet taken; only a stalled caller fills this.
MAX_PENDING = 1024
# How often the driver checks that its port still exists. rtmidi has no "port gone"
# callback; half a second keeps a re-plugged controller's downtime short and costs nothing.
PORT_POLL_INTERVAL = 0.5
PORT_SETTLE_S = 0.1  # longer than a JACK period (~1-20 ms) and an ALSA subscription

# APC mini-style velocities: what most pad controllers show for these values.
DEFAULT_VELOCITIES: dict[SeatLamp, int] = {
    SeatLamp.FREE: 0,  # off
    SeatLamp.REQUESTING: 5,  # yellow
    SeatLamp.SPEAKING: 1,  # green
    SeatLamp.OVER: 3,  # red
}


@dataclass(frozen=True, slots=True, kw_only=True)
class PadEvent:
    key: str
    pressed: bool


def key_of(msg: mido.Message) -> str | None:
    """The key name a message is about, or None for messages that are not pads."""
    if msg.type in ("note_on", "note_off"):
        return f"note{msg.note}"
    if msg.type == "control_change":
        return f"cc{msg.control}"
    if msg.type == "program_change":
        return f"pc{msg.program}"
    return None


class MidiPadCodec:
    """MIDI in (`receive_data(bytes)` or `receive_message(mido.Message)`), PadEvents out."""

    def __init__(self) -> None:
        self._parser = mido.Parser()
        self._pending: deque[PadEvent | Malformed] = deque()
        self._cc_down: set[int] = set()  # CCs past the threshold: edges only, no repeats
        self.skipped = 0  # MIDI that is not a pad (clock, aftertouch, pitch bend ...)

    def receive_data(self, data: bytes | None) -> None:
        """Feed MIDI bytes; None at end of stream (a pad has nothing to finish then)."""
        if not data:
            return
        try:
            self._parser.feed(data)
            messages = list(self._parser)
        except Exception as exc:  # noqa: BLE001 - mido's parser is third-party
            self._parser = mido.Parser()
            self._queue(Malformed.of("MIDI", f"not MIDI: {type(exc).__name__}: {exc}", data))
            return
        for msg in messages:
            self.receive_message(msg)

    def receive_message(self, msg: mido.Message) -> None:
        key = key_of(msg)
        if key is None:
            self.skipped += 1
            return
        if msg.type == "note_on":
            self._queue(PadEvent(key=key, pressed=msg.velocity > 0))  # velocity 0 = off
        elif msg.type == "note_off":
            self._queue(PadEvent(key=key, pressed=False))
        elif msg.type == "program_change":
            self._queue(PadEvent(key=key, pressed=True))
            self._queue(PadEvent(key=key, pressed=False))
        else:
            down = msg.value >= CC_THRESHOLD
            if down == (msg.control in self._cc_down):
                return  # a fader moving within one half: no edge
            if down:
                self._cc_down.add(msg.control)
            else:
                self._cc_down.discard(msg.control)
            self._queue(PadEvent(key=key, pressed=down))

    def _queue(self, event: PadEvent | Malformed) -> None:
        if len(self._pending) >= MAX_PENDING:
            self._pending.popleft()
        self._pending.append(event)

    def next_event(self) -> PadEvent | Malformed | NeedData:
        return self._pending.popleft() if self._pending else NEED_DATA


@dataclass
class PadLeds:
    """Seat → pad note; `update(lamps)` returns the note-ons for the seats that changed."""

    notes: Mapping[str, int]
    velocities: Mapping[SeatLamp, int] = field(default_factory=lambda: dict(DEFAULT_VELOCITIES))
    channel: int = 0
    _shown: dict[str, SeatLamp] = field(default_factory=dict)

    def update(self, lamps: Mapping[str, SeatLamp]) -> list[mido.Message]:
        out = []
        for seat, note in self.notes.items():
            lamp = lamps.get(seat, SeatLamp.FREE)
            if self._shown.get(seat) is lamp:
                continue
            self._shown[seat] = lamp
            out.append(mido.Message("note_on", channel=self.channel, note=note,
                                    velocity=self.velocities[lamp]))
        return out

    def forget(self) -> None:
        """The controller was re-plugged and shows nothing: send everything next time."""
        self._shown.clear()


# --- the driver --------------------------------------------------------------------------------


class MidiKeypadOptions(KeyedOptions):
    driver: Literal["midi"] = "midi"
    follow_floor: bool = False  # nothing to switch
    port: str  # part of the input port's name, e.g. "APC MINI"
    output: str | None = None  # part of the LED port's name; default: same as `port`
    api: Literal["alsa", "jack"] = "alsa"
    client_name: str = "councild"
    keys: dict[str, str] = Field(default_factory=dict)  # note36 = "next" ...
    # seat id → pad note for its LED; "broadcast:live", "broadcast:recording" and
    # "broadcast:alarm" light a pad while the stream runs, the recording runs, an alarm is up
    leds: dict[str, int] = Field(default_factory=dict)
    led_channel: int = Field(default=0, ge=0, le=15)
    velocity_free: int = Field(default=0, ge=0, le=127)
    velocity_requesting: int = Field(default=5, ge=0, le=127)
    velocity_speaking: int = Field(default=1, ge=0, le=127)
    velocity_over: int = Field(default=3, ge=0, le=127)

    @field_validator("keys")
    @classmethod
    def _keys_valid(cls, value: dict[str, str]) -> dict[str, str]:
        KeyMap.build(value)
        return value

    @field_validator("leds")
    @classmethod
    def _notes(cls, value: dict[str, int]) -> dict[str, int]:
        for seat, note in value.items():
            if not 0 <= note <= 127:
                raise ValueError(f"seat {seat}: note {note} is not 0..127")
        return value


def _find_port(ports: list[str], wanted: str) -> int | None:
    for i, name in enumerate(ports):
        if wanted == name:
            return i
    for i, name in enumerate(ports):
        if wanted.lower() in name.lower():
            return i
    return None


class MidiKeypad(Device, ButtonSurface):
    """Emits KeyPressed(key="note36" ...); `set_seat_states` lights the pads."""

    Options = MidiKeypadOptions

    def __init__(self, name: str, options: DeviceOptions, emit: Emit) -> None:
        super().__init__(name, options, emit)
        if not isinstance(options, MidiKeypadOptions):
            raise TypeError(f"{name}: expected MidiKeypad.Options")
        self.opts = options
        self.leds = PadLeds(
            notes=dict(options.leds),
            velocities={
                SeatLamp.FREE: options.velocity_free,
                SeatLamp.REQUESTING: options.velocity_requesting,
                SeatLamp.SPEAKING: options.velocity_speaking,
                SeatLamp.OVER: options.velocity_over,
            },
            channel=options.led_channel,
        )
        self._codec = MidiPadCodec()
        self._out: Any = None  # rtmidi.MidiOut while connected
        self._lamps: dict[str, SeatLamp] = {}
        self.held: set[str] = set()

    def set_seat_states(self, lamps: Mapping[str, SeatLamp]) -> int:
        """Light the pads of seats whose state changed; returns how many messages went out."""
        broadcast = {k: v for k, v in self._lamps.items() if k.startswith("broadcast:")}
        self._lamps = {**lamps, **broadcast}
        return self._show()

    def set_broadcast_lamps(self, lamps: Mapping[str, bool]) -> int:
        """The broadcast pads ("broadcast:live" ...): lit (the speaking velocity; the alarm
        the over-time one) or dark."""
        for name, on in lamps.items():
            lit = SeatLamp.OVER if name == "alarm" else SeatLamp.SPEAKING
            self._lamps[f"broadcast:{name}"] = lit if on else SeatLamp.FREE
        return self._show()

    def _show(self) -> int:
        if self._out is None:
            return 0
        messages = self.leds.update(self._lamps)
        for msg in messages:
            self._out.send_message(msg.bytes())
        return len(messages)

    def _api(self) -> int:
        import rtmidi

        return rtmidi.API_UNIX_JACK if self.opts.api == "jack" else rtmidi.API_LINUX_ALSA

    async def _session(self) -> None:
        import rtmidi  # imported here: only configurations with a MIDI keypad need it

        loop = asyncio.get_running_loop()
        midi_in = rtmidi.MidiIn(self._api(), name=self.opts.client_name)
        midi_out: Any = None
        self._codec = MidiPadCodec()
        try:
            ports = midi_in.get_ports()
            index = _find_port(ports, self.opts.port)
            if index is None:
                raise ConnectionLostError(
                    _("no MIDI input port like {port!r}").format(port=self.opts.port))
            port_name = ports[index]
            midi_in.ignore_types(sysex=True, timing=True, active_sense=True)
            midi_in.set_callback(
                lambda event, _data: loop.call_soon_threadsafe(self._feed, bytes(event[0]))
            )
            midi_in.open_port(index, name="keys")
            out_name = None
            if self.opts.leds:
                midi_out = rtmidi.MidiOut(self._api(), name=self.opts.client_name)
                out_ports = midi_out.get_ports()
                out_index = _find_port(out_ports, self.opts.output or self.opts.port)
                if out_index is None:
                    raise ConnectionLostError(_("no MIDI output port like {port!r}").format(
                        port=self.opts.output or self.opts.port))
                out_name = out_ports[out_index]
                midi_out.open_port(out_index, name="leds")
                self._out = midi_out
                self.leds.forget()
            self._connected(port_name)
            if midi_out is not None:
                # JACK makes a port connection at its next process cycle: LED messages sent
                # at once can be lost, and the pads would stay dark until the next change.
                await asyncio.sleep(PORT_SETTLE_S)
            self._show()
            while True:
                await asyncio.sleep(PORT_POLL_INTERVAL)
                for gone in self._missing(midi_in, port_name, midi_out, out_name):
                    raise ConnectionLostError(_("MIDI port {port!r} went away").format(port=gone))
        finally:
            self._out = None
            with contextlib.suppress(Exception):
                midi_in.cancel_callback()
            midi_in.close_port()
            del midi_in
            if midi_out is not None:
                midi_out.close_port()
                del midi_out
            self._release_held()

    @staticmethod
    def _missing(midi_in: Any, in_name: str, midi_out: Any, out_name: str | None) -> list[str]:
        """The ports of ours that are no longer listed (the controller was unplugged)."""
        gone = [] if in_name in midi_in.get_ports() else [in_name]
        if out_name is not None and out_name not in midi_out.get_ports():
            gone.append(out_name)
        return gone

    def _feed(self, data: bytes) -> None:
        self._codec.receive_data(data)
        bad = False
        while not isinstance(event := self._codec.next_event(), NeedData):
            if isinstance(event, Malformed):
                bad = True
                self._malformed(event.what, RemoteProtocolError(event.detail))
                continue
            if event.pressed:
                self.held.add(event.key)
            else:
                self.held.discard(event.key)
            self._emit(KeyPressed(device=self.name, key=event.key, pressed=event.pressed))
        if not bad:
            self._seen()

    def _release_held(self) -> None:
        # Unplugged with a pad down: chair priority must not stay held.
        for key in sorted(self.held):
            self._emit(KeyPressed(device=self.name, key=key, pressed=False))
        self.held.clear()
