"""Stream Deck: the real `streamdeck` library on its Dummy transport with injected key reports;
key images are reassembled from the HID image reports the library writes and checked."""

from __future__ import annotations

import contextlib
import io
import queue
import threading
from collections.abc import AsyncIterator
from typing import Any

import pytest

pytest.importorskip("StreamDeck", reason="pip install streamdeck pillow")

from PIL import Image
from StreamDeck.Devices.StreamDeckOriginalV2 import StreamDeckOriginalV2
from StreamDeck.ProductIDs import USBProductIDs, USBVendorIDs
from StreamDeck.Transport.Dummy import Dummy
from StreamDeck.Transport.Transport import TransportError

from councild.keypad import KeyMap, SeatLamp
from councild.model import Link
from devices.keypad_streamdeck import (
    ACTION_COLOUR,
    LAMP_COLOURS,
    StreamDeckKeypad,
    key_faces,
    render_key,
)
from tests.helpers import until
from tests.keypad.conftest import Recorder

KEYS = 15  # Stream Deck MK.2 / Original V2: 5 × 3 keys of 72 × 72 px, JPEG, flipped both ways


class PluggableDummy(Dummy.Device):
    """The library's Dummy device, plus a cable: key reports are injected, image reports kept."""

    def __init__(self) -> None:
        super().__init__(USBVendorIDs.USB_VID_ELGATO, USBProductIDs.USB_PID_STREAMDECK_MK2)
        self.plugged = True
        self.reports: queue.Queue[bytes] = queue.Queue()
        self.states = [0] * KEYS
        self.pages: dict[int, dict[int, bytes]] = {}  # key → page → payload of the image
        self.images: dict[int, bytes] = {}  # key → last complete image
        self._lock = threading.Lock()

    def connected(self) -> bool:
        return self.plugged

    def read(self, length: int) -> bytes | None:
        if not self.plugged:
            raise TransportError("device unplugged")
        super().read(length)  # the library's own checks (open)
        try:
            return self.reports.get_nowait()
        except queue.Empty:
            return None

    def write(self, payload: bytes) -> bool:
        if not self.plugged:
            raise TransportError("device unplugged")
        super().write(payload)
        data = bytes(payload)
        if data[0] == 0x02 and data[1] == 0x07:  # image report: key, last, length, page
            key, last = data[2], data[3]
            length = data[4] | data[5] << 8
            page = data[6] | data[7] << 8
            with self._lock:
                self.pages.setdefault(key, {})[page] = data[8:8 + length]
                if last:
                    pages = self.pages.pop(key)
                    self.images[key] = b"".join(pages[p] for p in sorted(pages))
        return True

    def key(self, index: int, down: bool) -> None:
        """The deck's input report: 4 header bytes, then one state byte per key."""
        self.states[index] = int(down)
        self.reports.put(bytes([0x01, 0x00, KEYS, 0x00, *self.states]))

    def image(self, index: int) -> Image.Image:
        with self._lock:
            jpeg = self.images[index]
        return Image.open(io.BytesIO(jpeg)).convert("RGB")


def close_to(pixel: Any, colour: tuple[int, int, int], tolerance: int = 24) -> bool:
    """JPEG moves colours a little; the lamp colours are far apart."""
    return all(abs(a - b) <= tolerance for a, b in zip(pixel, colour, strict=True))


def test_render_key_colour_and_label() -> None:
    image = render_key((72, 72), "12", LAMP_COLOURS[SeatLamp.SPEAKING])
    assert image.getpixel((2, 2)) == LAMP_COLOURS[SeatLamp.SPEAKING]
    # The label is drawn in white on green: some pixels in the middle are light.
    centre = [image.getpixel((x, y)) for x in range(20, 52) for y in range(20, 52)]
    assert any(sum(p) > 600 for p in centre)
    amber = render_key((72, 72), "3", LAMP_COLOURS[SeatLamp.REQUESTING])
    assert any(sum(amber.getpixel((x, y))) == 0 for x in range(20, 52) for y in range(20, 52))


def test_key_faces_from_the_key_map() -> None:
    keymap = KeyMap.build({"key0": "grant:1", "key1": "grant:C", "key4": "next",
                           "key5": "priority"}, defaults=False)
    faces = key_faces(keymap, KEYS, {"1": SeatLamp.OVER}, {"C": "Chair"})
    assert faces == {
        0: ("1", LAMP_COLOURS[SeatLamp.OVER]),
        1: ("Chair", LAMP_COLOURS[SeatLamp.FREE]),
        4: ("NEXT", ACTION_COLOUR),
        5: ("PRIO", ACTION_COLOUR),
    }


def test_broadcast_keys_show_what_runs() -> None:
    from devices.keypad_streamdeck import ALARM_COLOUR, ON_AIR_COLOUR

    keymap = KeyMap.build({"key0": "stream_stop", "key1": "record_stop",
                           "key2": "record_pause"}, defaults=False)
    idle = key_faces(keymap, KEYS, {}, {})
    assert idle == {0: ("END LIVE", ACTION_COLOUR), 1: ("END REC", ACTION_COLOUR),
                    2: ("PAUSE", ACTION_COLOUR)}
    live = key_faces(keymap, KEYS, {}, {}, {"live": True, "recording": False, "alarm": False})
    assert live[0] == ("END LIVE", ON_AIR_COLOUR) and live[1][1] == ACTION_COLOUR
    alarm = key_faces(keymap, KEYS, {}, {}, {"live": True, "recording": True, "alarm": True})
    assert {face[1] for face in alarm.values()} == {ALARM_COLOUR}


@contextlib.asynccontextmanager
async def deck_keypad(
    monkeypatch: pytest.MonkeyPatch, plugged: list[PluggableDummy]
) -> AsyncIterator[tuple[StreamDeckKeypad, Recorder]]:
    monkeypatch.setattr(
        StreamDeckKeypad, "enumerate_decks",
        staticmethod(lambda: [StreamDeckOriginalV2(d) for d in plugged if d.plugged]),
    )
    rec = Recorder()
    options = StreamDeckKeypad.Options(
        keys={"key0": "grant:1", "key1": "grant:2", "key4": "next", "key10": "priority"},
        labels={"1": "01", "2": "02"},
    )
    pad = StreamDeckKeypad("deck", options, rec)
    await pad.start()
    try:
        yield pad, rec
    finally:
        await pad.stop()


async def test_injected_key_reports_become_key_events(monkeypatch: pytest.MonkeyPatch) -> None:
    device = PluggableDummy()
    async with deck_keypad(monkeypatch, [device]) as (pad, rec):
        await until(lambda: pad.health.link is Link.CONNECTED)
        device.key(4, True)
        device.key(4, False)
        device.key(10, True)
        await until(lambda: len(rec.keys()) == 3)
        assert rec.keys() == [("key4", True), ("key4", False), ("key10", True)]


async def test_seat_keys_show_their_state_colour(monkeypatch: pytest.MonkeyPatch) -> None:
    device = PluggableDummy()
    async with deck_keypad(monkeypatch, [device]) as (pad, _rec):
        await until(lambda: pad.health.link is Link.CONNECTED)
        await until(lambda: {0, 1, 4, 10} <= set(device.images))
        assert close_to(device.image(0).getpixel((3, 3)), LAMP_COLOURS[SeatLamp.FREE])
        assert close_to(device.image(4).getpixel((3, 3)), ACTION_COLOUR)
        written = await pad.set_seat_states({"1": SeatLamp.SPEAKING, "2": SeatLamp.REQUESTING})
        assert written == 2
        assert close_to(device.image(0).getpixel((3, 3)), LAMP_COLOURS[SeatLamp.SPEAKING])
        assert close_to(device.image(1).getpixel((68, 68)), LAMP_COLOURS[SeatLamp.REQUESTING])
        assert await pad.set_seat_states({"1": SeatLamp.SPEAKING,
                                          "2": SeatLamp.REQUESTING}) == 0
        assert await pad.set_seat_states({"1": SeatLamp.OVER, "2": SeatLamp.REQUESTING}) == 1
        assert close_to(device.image(0).getpixel((36, 2)), LAMP_COLOURS[SeatLamp.OVER])


async def test_unplugged_deck_releases_keys_and_is_found_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    first = PluggableDummy()
    plugged = [first]
    async with deck_keypad(monkeypatch, plugged) as (pad, rec):
        await until(lambda: pad.health.link is Link.CONNECTED)
        await pad.set_seat_states({"1": SeatLamp.SPEAKING})
        first.key(10, True)  # priority held
        await until(lambda: rec.keys() == [("key10", True)])
        first.plugged = False
        await until(lambda: pad.health.link is Link.LOST, timeout=5)
        assert rec.keys()[-1] == ("key10", False)
        second = PluggableDummy()
        plugged.append(second)
        await until(lambda: rec.connected_count() == 2, timeout=10)
        # The new deck is painted with the state as it is now, not blank.
        await until(lambda: 0 in second.images)
        assert close_to(second.image(0).getpixel((3, 3)), LAMP_COLOURS[SeatLamp.SPEAKING])
        second.key(0, True)
        await until(lambda: rec.keys()[-1] == ("key0", True))
