"""Every device codec speaks the one dialect of councild/sansio.py.

Arbitrary bytes in, in arbitrary chunks, then end of stream (None): nothing is raised, and
what comes out is the codec's own events, `Malformed`, and finally NEED_DATA (or, for the
stream codecs that report it, their end-of-stream event).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from councild.sansio import NEED_DATA, Codec, Malformed
from devices import allen_heath, conference
from devices.keypad_evdev import EvdevCodec, KeyEvent
from devices.keypad_midi import MidiPadCodec, PadEvent
from devices.keypad_serial import BoxEvent, BoxSideCodec, ButtonBoxCodec, HostEvent
from devices.osc_control import ControlEvent, OscControlCodec
from devices.visca import Framing, Role, ViscaCodec, ViscaEvent
from devices.x32 import XAIR, X32Codec, X32Event


@dataclass(frozen=True)
class Case:
    make: Callable[[], Codec[Any, Any]]
    events: type  # what the codec's events are instances of
    end: object = NEED_DATA  # what next_event() gives once the stream has ended


CASES = {
    "x32": Case(X32Codec, X32Event),
    "xair": Case(lambda: X32Codec(XAIR), X32Event),
    "visca-controller-serial": Case(lambda: ViscaCodec(Role.CONTROLLER, Framing.SERIAL),
                                    ViscaEvent),
    "visca-controller-ip": Case(lambda: ViscaCodec(Role.CONTROLLER, Framing.IP), ViscaEvent),
    "visca-camera-serial": Case(lambda: ViscaCodec(Role.CAMERA, Framing.SERIAL), ViscaEvent),
    "visca-camera-ip": Case(lambda: ViscaCodec(Role.CAMERA, Framing.IP), ViscaEvent),
    "osc-control": Case(OscControlCodec, ControlEvent),
    "dcs": Case(conference.DcsCodec, conference.CUEvent, conference.EOF),
    "sq": Case(allen_heath.SQCodec, allen_heath.AHEvent, allen_heath.EOF),
    "qu": Case(allen_heath.QuCodec, allen_heath.AHEvent, allen_heath.EOF),
    "button-box": Case(ButtonBoxCodec, BoxEvent),
    "box-side": Case(BoxSideCodec, HostEvent),
    "midi-pad": Case(MidiPadCodec, PadEvent),
    "evdev": Case(EvdevCodec, KeyEvent),
}


def drain(codec: Codec[Any, Any], case: Case, stop: object) -> list[object]:
    out: list[object] = []
    for _ in range(10_000):  # bounded: every codec must come to rest
        event = codec.next_event()
        if event is stop or event is NEED_DATA:
            return out
        assert isinstance(event, (case.events, Malformed)), event
        out.append(event)
    pytest.fail("next_event() never came to rest")


@pytest.mark.parametrize("name", sorted(CASES))
@given(chunks=st.lists(st.binary(max_size=80), max_size=12))
def test_arbitrary_bytes_give_only_events_malformed_and_need_data(
    name: str, chunks: list[bytes]
) -> None:
    case = CASES[name]
    codec = case.make()
    for chunk in chunks:
        if not chunk:
            continue  # b"" is how a stream read says end of stream; that comes last
        codec.receive_data(chunk)
        drain(codec, case, case.end)
    codec.receive_data(None)
    drain(codec, case, case.end)
    assert codec.next_event() is case.end


def test_a_line_of_only_separator_characters_is_malformed_not_a_crash() -> None:
    """Found by the property above in CI: str.split() counts \\x1c-\\x1f as space, so a
    line bytes.strip() keeps could split into no words at all."""
    codec = ButtonBoxCodec()
    codec.receive_data(b"\x1c\x1f\nPONG\n")
    first = codec.next_event()
    assert isinstance(first, Malformed) and first.detail == "no words"
    assert type(codec.next_event()).__name__ == "Pong"
