"""Elgato Stream Deck as the chair's keypad, with seat buttons that show the seat's state.

Keys are named `key0`, `key1` ... (left to right, top to bottom); `keys` in the device
table maps them to actions like any keypad (`key0 = "grant:1"`, `key14 = "next"`). A key
bound to `grant:<seat>` shows the seat's label on the colour of its state — grey free,
amber requesting, green speaking, red over time — and every other bound key shows its
action's name.

The USB side is the `streamdeck` library (PyPI `streamdeck`, HID through libhidapi): it
parses the deck's key reports on its own reader thread and writes JPEG/BMP key images; this
module keeps the rendering pure (`render_key`, Pillow) and the driver thin.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Mapping
from typing import Any, ClassVar, Literal

from PIL import Image, ImageDraw, ImageFont
from pydantic import Field, field_validator

from councild.errors import ConnectionLostError
from councild.i18n import _
from councild.keypad import BROADCAST_OPS, KeyMap, SeatLamp
from councild.model import KeyPressed
from devices.base import Device, DeviceOptions, Emit, KeyedOptions
from devices.capabilities import ButtonSurface

__all__ = [
    "ACTION_COLOUR",
    "LAMP_COLOURS",
    "StreamDeckKeypad",
    "StreamDeckOptions",
    "key_faces",
    "render_key",
]

# The deck is polled by the library's reader thread; 100 Hz makes a press reach the floor
# within ~10 ms instead of the library's default 50 ms, for negligible CPU.
POLL_HZ = 100
# How often we check that the deck is still plugged in (the library has no callback).
PLUG_POLL_INTERVAL = 0.5

LAMP_COLOURS: dict[SeatLamp, tuple[int, int, int]] = {
    SeatLamp.FREE: (48, 48, 48),
    SeatLamp.REQUESTING: (230, 170, 0),
    SeatLamp.SPEAKING: (0, 160, 60),
    SeatLamp.OVER: (200, 0, 0),
}
ACTION_COLOUR = (20, 40, 100)
# Above this luma a background takes black text (amber); below it white (green, red, grey).
LIGHT_BACKGROUND = 140  # keys that are not seats
ACTION_LABELS = {
    "next": "NEXT", "revoke": "STOP", "revoke_all": "ALL OFF", "priority": "PRIO",
    "clear": "CLEAR", "wide": "WIDE", "lock": "LOCK", "unlock": "UNLOCK", "agenda": "AGENDA",
    "mute_remote": "MUTE", "unmute_remote": "UNMUTE", "enter": "ENTER", "backspace": "←",
    "escape": "ESC",
    "stream_start": "GO LIVE", "stream_stop": "END LIVE", "record_start": "REC",
    "record_stop": "END REC", "record_pause": "PAUSE", "record_resume": "RESUME",
}
# Broadcast keys show what runs: red while the stream (or recording) they control runs,
# amber while a broadcast alarm is raised, the plain action colour otherwise.
ON_AIR_COLOUR = (200, 0, 0)
ALARM_COLOUR = (230, 170, 0)


def render_key(size: tuple[int, int], label: str, colour: tuple[int, int, int]) -> Image.Image:
    """A key face: `label` centred on `colour`, in black or white, whichever reads better."""
    image = Image.new("RGB", size, colour)
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default(size=max(10, size[1] // 4))
    luma = 0.299 * colour[0] + 0.587 * colour[1] + 0.114 * colour[2]  # ITU-R BT.601
    ink = (0, 0, 0) if luma > LIGHT_BACKGROUND else (255, 255, 255)
    left, top, right, bottom = draw.textbbox((0, 0), label, font=font)
    x = (size[0] - (right - left)) / 2 - left
    y = (size[1] - (bottom - top)) / 2 - top
    draw.text((x, y), label, fill=ink, font=font)
    return image


def key_faces(
    keymap: KeyMap, key_count: int, lamps: Mapping[str, SeatLamp], labels: Mapping[str, str],
    broadcast: Mapping[str, bool] | None = None,
) -> dict[int, tuple[str, tuple[int, int, int]]]:
    """(label, colour) for every bound key of a deck: what each key should show now.
    `broadcast`: the daemon's live / recording / alarm lamps."""
    lit = broadcast or {}
    faces: dict[int, tuple[str, tuple[int, int, int]]] = {}
    for index in range(key_count):
        function = keymap.lookup(f"key{index}")
        if function is None:
            continue
        if function.name == "grant" and function.arg:
            seat = function.arg
            faces[index] = (labels.get(seat, seat),
                            LAMP_COLOURS[lamps.get(seat, SeatLamp.FREE)])
        elif function.name == "revoke" and function.arg:
            faces[index] = (f"✕{labels.get(function.arg, function.arg)}", ACTION_COLOUR)
        elif function.name in BROADCAST_OPS:
            runs = lit.get("live" if function.name.startswith("stream") else "recording")
            colour = (ALARM_COLOUR if lit.get("alarm") else ON_AIR_COLOUR if runs
                      else ACTION_COLOUR)
            faces[index] = (ACTION_LABELS[function.name], colour)
        else:
            faces[index] = (ACTION_LABELS.get(function.name, function.name), ACTION_COLOUR)
    return faces


class StreamDeckOptions(KeyedOptions):
    driver: Literal["streamdeck"] = "streamdeck"
    follow_floor: bool = False  # nothing to switch
    serial: str | None = None  # which deck; None = the first one found
    brightness: int = Field(default=60, ge=0, le=100)  # %: full brightness glares in a chamber
    keys: dict[str, str] = Field(default_factory=dict)  # key0 = "grant:1" ...
    labels: dict[str, str] = Field(default_factory=dict)  # seat id → text on its key

    @field_validator("keys")
    @classmethod
    def _keys_valid(cls, value: dict[str, str]) -> dict[str, str]:
        KeyMap.build(value, defaults=False)
        return value


def _enumerate_hid() -> list[Any]:
    from StreamDeck.DeviceManager import DeviceManager  # only configs with a deck need it

    return list(DeviceManager().enumerate())


class StreamDeckKeypad(Device, ButtonSurface):
    """Emits KeyPressed(key="key3" ...); `set_seat_states` repaints the seat keys."""

    Options = StreamDeckOptions
    # Which decks are plugged in: a class attribute so tests can hand in decks on the
    # library's Dummy transport with injected key reports.
    enumerate_decks: ClassVar[Callable[[], list[Any]]] = staticmethod(_enumerate_hid)

    def __init__(self, name: str, options: DeviceOptions, emit: Emit) -> None:
        super().__init__(name, options, emit)
        if not isinstance(options, StreamDeckOptions):
            raise TypeError(f"{name}: expected StreamDeckKeypad.Options")
        self.opts = options
        self.keymap = KeyMap.build(options.keys, defaults=False)
        self._deck: Any = None
        self._lamps: dict[str, SeatLamp] = {}
        self._broadcast: dict[str, bool] = {}
        self._shown: dict[int, tuple[str, tuple[int, int, int]]] = {}
        self._paint_lock = asyncio.Lock()
        self.held: set[str] = set()
        self.painted = 0  # key images written (for tests and the bench)

    async def set_seat_states(self, lamps: Mapping[str, SeatLamp]) -> int:
        """Repaint the keys whose face changed; returns how many were written."""
        self._lamps = dict(lamps)
        return await self._paint()

    async def set_broadcast_lamps(self, lamps: Mapping[str, bool]) -> int:
        """Live, recording, alarm: repaint the broadcast keys whose face changed."""
        self._broadcast = dict(lamps)
        return await self._paint()

    async def _paint(self) -> int:
        async with self._paint_lock:
            deck = self._deck
            if deck is None:
                return 0
            faces = key_faces(self.keymap, deck.key_count(), self._lamps, self.opts.labels,
                              self._broadcast)
            changed = {k: f for k, f in faces.items() if self._shown.get(k) != f}
            if changed:
                # JPEG encoding and USB writes take milliseconds per key: not on the loop.
                await asyncio.to_thread(self._write_faces, deck, changed)
                self._shown.update(changed)
                self.painted += len(changed)
            return len(changed)

    @staticmethod
    def _write_faces(deck: Any, faces: Mapping[int, tuple[str, tuple[int, int, int]]]) -> None:
        from StreamDeck.ImageHelpers import PILHelper

        fmt = deck.key_image_format()
        for index, (label, colour) in faces.items():
            image = render_key(fmt["size"], label, colour)
            with deck:
                deck.set_key_image(index, PILHelper.to_native_key_format(deck, image))

    def _find(self) -> Any:
        decks = self.enumerate_decks()
        for deck in decks:
            if not deck.is_visual():
                continue  # a Pedal has keys but no images; configure it as a plain keypad
            if self.opts.serial is None:
                return deck
            deck.open()
            try:
                serial = deck.get_serial_number()
            finally:
                deck.close()
            if serial == self.opts.serial:
                return deck
        if self.opts.serial:
            raise ConnectionLostError(
                _("no Stream Deck {serial} plugged in").format(serial=self.opts.serial))
        raise ConnectionLostError(_("no Stream Deck plugged in"))

    async def _session(self) -> None:
        loop = asyncio.get_running_loop()
        deck = await asyncio.to_thread(self._find)
        deck.open()
        try:
            deck.reset()
            deck.set_brightness(self.opts.brightness)
            deck.set_poll_frequency(POLL_HZ)
            deck.set_key_callback(
                lambda _deck, index, down: loop.call_soon_threadsafe(self._key, index, down)
            )
            self._deck = deck
            self._shown.clear()  # a re-plugged deck shows nothing
            await self._paint()
            self._connected(f"{deck.deck_type()} {deck.id()}")
            while deck.is_open() and deck.connected():
                await asyncio.sleep(PLUG_POLL_INTERVAL)
            raise ConnectionLostError(_("Stream Deck unplugged"))
        finally:
            self._deck = None
            deck.set_key_callback(None)
            with contextlib.suppress(Exception):  # unplugged: nothing to reset any more
                deck.reset()
            with contextlib.suppress(Exception):
                deck.close()
            self._release_held()

    def _key(self, index: int, down: bool) -> None:
        key = f"key{index}"
        self._seen()
        if down:
            self.held.add(key)
        else:
            self.held.discard(key)
        self._emit(KeyPressed(device=self.name, key=key, pressed=bool(down)))

    def _release_held(self) -> None:
        # Unplugged with a key down: chair priority must not stay held.
        for key in sorted(self.held):
            self._emit(KeyPressed(device=self.name, key=key, pressed=False))
        self.held.clear()
