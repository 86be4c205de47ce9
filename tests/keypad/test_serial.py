"""Serial button box: codec vectors and fuzzing; the driver against the simulator over a pty."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from councild.errors import LocalProtocolError
from councild.model import Link
from councild.sansio import Malformed
from devices.keypad_serial import (
    MAX_LINE,
    NEED_DATA,
    ButtonBoxCodec,
    Hello,
    KeyChange,
    Ping,
    Pong,
    SerialKeypad,
)
from devices.sim import keypad as sim_keypad
from devices.sim.keypad import ButtonBoxSimulator
from tests.helpers import until
from tests.keypad.conftest import Recorder


def drain(codec: ButtonBoxCodec) -> list[object]:
    out: list[object] = []
    while (event := codec.next_event()) is not NEED_DATA:
        out.append(event)
    return out


VECTORS = [
    (b"KEY 5 DOWN\n", KeyChange(name="5", pressed=True)),
    (b"KEY 5 UP\r\n", KeyChange(name="5", pressed=False)),
    (b"key ENTER down\n", KeyChange(name="ENTER", pressed=True)),
    (b"PONG\n", Pong()),
    (b"HELLO box 1.2\n", Hello(text="box 1.2")),
]


@pytest.mark.parametrize(("wire", "event"), VECTORS)
def test_vectors_whole_bytewise_and_with_trailing(wire: bytes, event: object) -> None:
    codec = ButtonBoxCodec()
    codec.receive_data(wire)
    assert drain(codec) == [event]
    codec = ButtonBoxCodec()
    for i, b in enumerate(wire):
        assert drain(codec) == [], i
        codec.receive_data(bytes([b]))
    assert drain(codec) == [event]
    codec = ButtonBoxCodec()
    codec.receive_data(wire + b"KEY 9")
    assert drain(codec) == [event]
    codec.receive_data(b" UP\n")
    assert drain(codec) == [KeyChange(name="9", pressed=False)]


def test_encode() -> None:
    assert ButtonBoxCodec().send(Ping()) == b"PING\n"
    assert KeyChange(name="KP_1", pressed=True).line() == b"KEY KP_1 DOWN\n"
    with pytest.raises(LocalProtocolError):
        KeyChange(name="two words", pressed=True)


def test_bad_lines_are_malformed_and_the_next_line_still_parses() -> None:
    codec = ButtonBoxCodec()
    codec.receive_data(b"KEY 5 SIDEWAYS\nBOOM\n\xff\xfe\nKEY 6 DOWN\n")
    out = drain(codec)
    assert [type(x) for x in out] == [Malformed] * 3 + [KeyChange]


def test_over_long_line_is_one_error_and_skipped_to_its_end() -> None:
    codec = ButtonBoxCodec()
    codec.receive_data(b"X" * (MAX_LINE + 1))
    codec.receive_data(b"Y" * 1000)
    codec.receive_data(b"\nKEY 1 DOWN\n")
    out = drain(codec)
    assert len(out) == 2
    assert isinstance(out[0], Malformed)
    assert out[1] == KeyChange(name="1", pressed=True)


@given(st.lists(st.binary(max_size=200), max_size=20))
def test_garbage_gives_only_events_and_malformed(chunks: list[bytes]) -> None:
    codec = ButtonBoxCodec()
    for chunk in chunks:
        codec.receive_data(chunk)
        for item in drain(codec):
            assert isinstance(item, Malformed | KeyChange | Hello | Pong)


# --- the driver over a pty ---------------------------------------------------------------------


@pytest.fixture
async def box(tmp_path: Path) -> AsyncIterator[ButtonBoxSimulator]:
    async with ButtonBoxSimulator(link=str(tmp_path / "ttyKEYPAD")) as sim:
        yield sim


@contextlib.asynccontextmanager
async def running(sim: ButtonBoxSimulator, **opts: object) -> AsyncIterator[
        tuple[SerialKeypad, Recorder]]:
    rec = Recorder()
    options = SerialKeypad.Options(path=sim.path, **opts)  # type: ignore[arg-type]
    pad = SerialKeypad("box", options, rec)
    await pad.start()
    try:
        yield pad, rec
    finally:
        await pad.stop()


async def test_keys_arrive_as_key_pressed_events(box: ButtonBoxSimulator) -> None:
    async with running(box) as (pad, rec):
        await until(lambda: pad.health.link is Link.CONNECTED)
        assert box.state.pings >= 1  # connected only after the box answered
        box.usecases.type_seat("12")
        await until(lambda: len(rec.keys()) == 6)
        assert rec.keys() == [("1", True), ("1", False), ("2", True), ("2", False),
                              ("ENTER", True), ("ENTER", False)]


async def test_unplug_releases_held_keys_and_replug_reconnects(box: ButtonBoxSimulator) -> None:
    async with running(box) as (pad, rec):
        await until(lambda: pad.health.link is Link.CONNECTED)
        box.usecases.press("PRIORITY")
        await until(lambda: rec.keys() == [("PRIORITY", True)])
        box.unplug()
        await until(lambda: pad.health.link is Link.LOST)
        # Priority must not stay held while the box is gone.
        assert rec.keys()[-1] == ("PRIORITY", False)
        box.plug()
        await until(lambda: rec.connected_count() == 2, timeout=10)
        box.usecases.tap("NEXT")
        await until(lambda: rec.keys()[-2:] == [("NEXT", True), ("NEXT", False)])
        assert pad.health.reconnects >= 1


async def test_hung_box_is_lost_after_its_silence(box: ButtonBoxSimulator) -> None:
    async with running(box, ping_interval=0.1, lost_after=0.5) as (pad, _rec):
        await until(lambda: pad.health.link is Link.CONNECTED)
        box.state.answer_pings = False
        await until(lambda: pad.health.link is Link.LOST, timeout=5)
        box.state.answer_pings = True
        await until(lambda: pad.health.link is Link.CONNECTED, timeout=10)


async def test_garbage_on_the_line_is_counted_not_raised(box: ButtonBoxSimulator) -> None:
    async with running(box) as (pad, rec):
        await until(lambda: pad.health.link is Link.CONNECTED)
        box.send_raw(b"\x00\xff garbage\nKEY 3 LEFT\n" + b"Z" * 500 + b"\n")
        box.usecases.tap("3")
        await until(lambda: rec.keys() == [("3", True), ("3", False)])
        assert pad.health.errors == 3
        assert pad.health.link is Link.CONNECTED


async def test_box_without_ping_is_connected_when_opened(box: ButtonBoxSimulator) -> None:
    async with running(box, ping_interval=0) as (pad, rec):
        await until(lambda: pad.health.link is Link.CONNECTED)
        assert box.state.pings == 0
        box.usecases.tap("ESC")
        await until(lambda: rec.keys() == [("ESC", True), ("ESC", False)])


def test_options_reject_a_bad_key_map() -> None:
    with pytest.raises(ValueError, match="explode"):
        SerialKeypad.Options(path="/dev/null", keys={"X": "explode"})


# --- `councild sim keypad` entry points --------------------------------------------------------


async def test_sim_run_prints_the_pty_and_serves_until_cancelled(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    parser = argparse.ArgumentParser()
    sim_keypad.add_arguments(parser)
    link = tmp_path / "ttyBOXCLI"
    args = parser.parse_args(["--link", str(link), "--script", "none"])
    task = asyncio.get_running_loop().create_task(sim_keypad.run(args))
    try:
        await until(lambda: str(link) in capsys.readouterr().out or link.is_symlink())
        rec = Recorder()
        pad = SerialKeypad("cli", SerialKeypad.Options(path=str(link)), rec)
        await pad.start()
        try:
            await until(lambda: pad.health.link is Link.CONNECTED)
        finally:
            await pad.stop()
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    assert not link.exists()  # the box unplugged itself on the way out


async def test_sim_run_sends_one_osc_message() -> None:
    receiver = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    receiver.bind(("127.0.0.1", 0))
    receiver.settimeout(3.0)
    try:
        parser = argparse.ArgumentParser()
        sim_keypad.add_arguments(parser)
        port = receiver.getsockname()[1]
        await sim_keypad.run(parser.parse_args(["--osc", f"127.0.0.1:{port}",
                                                "/councild/grant", "4"]))
        assert receiver.recv(1024) == b"/councild/grant\x00,i\x00\x00\x00\x00\x00\x04"
    finally:
        receiver.close()
