"""evdev keypad: decoding of raw 24-byte input_event records; the reconnect loop against a
pty standing in for /dev/input/eventN (this machine has no /dev/input and no uinput)."""

from __future__ import annotations

import contextlib
import logging
import os
import struct
import tty
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from councild.model import Link
from councild.sansio import Malformed
from devices.keypad_evdev import (
    EV_KEY,
    EVENT_SIZE,
    KEY_CODES,
    NEED_DATA,
    EvdevCodec,
    EvdevKeypad,
    KeyEvent,
    encode_event,
    find_by_name,
)
from tests.helpers import until
from tests.keypad.conftest import Recorder

# What a USB keypad writes for one press of keypad 5 at t=1700000000.25 s: MSC_SCAN, the key,
# SYN_REPORT — the bytes of struct input_event on x86-64 (little-endian, 8+8+2+2+4).
KP5_DOWN = (
    bytes.fromhex("00f1536500000000" "90d0030000000000" "0400" "0400" "22000700")
    + bytes.fromhex("00f1536500000000" "90d0030000000000" "0100" "4c00" "01000000")
    + bytes.fromhex("00f1536500000000" "90d0030000000000" "0000" "0000" "00000000")
)


def drain(codec: EvdevCodec) -> list[object]:
    out: list[object] = []
    while (event := codec.next_event()) is not NEED_DATA:
        out.append(event)
    return out


def test_record_size_is_the_kernel_struct() -> None:
    assert EVENT_SIZE == 24
    assert len(KP5_DOWN) == 72


def test_golden_press_whole_bytewise_and_with_trailing() -> None:
    expected = [KeyEvent(code=76, value=1, time=1700000000.25)]
    codec = EvdevCodec()
    codec.receive_data(KP5_DOWN)
    assert drain(codec) == expected
    assert codec.skipped == 2  # MSC_SCAN and SYN_REPORT
    assert expected[0].name == "KEY_KP5"
    codec = EvdevCodec()
    out: list[object] = []
    for b in KP5_DOWN:
        codec.receive_data(bytes([b]))
        out += drain(codec)
    assert out == expected
    codec = EvdevCodec()
    up = encode_event(EV_KEY, 76, 0, 1700000000.5)
    codec.receive_data(KP5_DOWN + up[:10])
    assert drain(codec) == expected
    codec.receive_data(up[10:])
    assert drain(codec) == [KeyEvent(code=76, value=0, time=1700000000.5)]


def test_names_of_a_numeric_keypad() -> None:
    for name in ("KEY_KP0", "KEY_KP9", "KEY_KPENTER", "KEY_BACKSPACE", "KEY_ESC", "KEY_KPPLUS",
                 "KEY_KPMINUS", "KEY_KPASTERISK", "KEY_KPSLASH", "KEY_KPDOT", "KEY_NUMLOCK"):
        assert KeyEvent(code=KEY_CODES[name], value=1, time=0).name == name
    assert KEY_CODES["KEY_KPENTER"] == 96
    assert KEY_CODES["KEY_KP0"] == 82
    assert KeyEvent(code=999, value=1, time=0).name == "KEY_999"


def test_bad_value_and_truncated_stream_are_malformed() -> None:
    codec = EvdevCodec()
    codec.receive_data(encode_event(EV_KEY, 76, 7) + encode_event(EV_KEY, 77, 1))
    out = drain(codec)
    assert isinstance(out[0], Malformed)
    assert out[1] == KeyEvent(code=77, value=1, time=0.0)
    codec.receive_data(b"\x00" * 5)
    codec.receive_data(b"")
    assert [type(x) for x in drain(codec)] == [Malformed]
    codec.receive_data(b"more")
    assert [type(x) for x in drain(codec)] == [Malformed]


@given(st.lists(st.binary(max_size=100), max_size=10))
def test_garbage_gives_only_keys_and_malformed(chunks: list[bytes]) -> None:
    codec = EvdevCodec()
    for chunk in [*chunks, b""]:
        codec.receive_data(chunk)
        for item in drain(codec):
            assert isinstance(item, Malformed | KeyEvent)


def test_find_by_name_in_a_sysfs_tree(tmp_path: Path) -> None:
    for n, name in ((3, "Power Button"), (7, "CX 2.4G Receiver")):
        d = tmp_path / "sys" / f"event{n}" / "device"
        d.mkdir(parents=True)
        (d / "name").write_text(name + "\n")
    (tmp_path / "sys" / "input7").mkdir()  # the inputN siblings are not event nodes
    found = find_by_name("CX 2.4G Receiver", tmp_path / "sys", Path("/dev/input"))
    assert found == Path("/dev/input/event7")
    assert find_by_name("Nope", tmp_path / "sys", Path("/dev/input")) is None


def test_options_need_a_path_or_a_name() -> None:
    with pytest.raises(ValueError, match="exactly one"):
        EvdevKeypad.Options()
    with pytest.raises(ValueError, match="exactly one"):
        EvdevKeypad.Options(path="/dev/input/event3", name="x")


# --- the reconnect loop, with a pty as the device node -------------------------------------------


class FakeNode:
    """A pty whose slave, under a stable symlink, stands in for /dev/input/eventN."""

    def __init__(self, link: Path) -> None:
        self.link = link
        self.master: int | None = None
        self.slave: int | None = None

    def plug(self) -> None:
        self.master, self.slave = os.openpty()
        tty.setraw(self.slave)  # binary-clean: no line discipline between records
        with contextlib.suppress(FileNotFoundError):
            self.link.unlink()
        self.link.symlink_to(os.ttyname(self.slave))

    def unplug(self) -> None:
        self.link.unlink()
        assert self.master is not None and self.slave is not None
        os.close(self.master)  # the reader's next read fails with EIO, like ENODEV
        os.close(self.slave)
        self.master = self.slave = None

    def key(self, code: int, value: int) -> None:
        assert self.master is not None
        os.write(self.master, encode_event(4, 4, code) + encode_event(EV_KEY, code, value)
                 + encode_event(0, 0, 0))


@pytest.fixture
def node(tmp_path: Path) -> Iterator[FakeNode]:
    n = FakeNode(tmp_path / "event-kbd")
    n.plug()
    try:
        yield n
    finally:
        if n.master is not None:
            n.unplug()


@contextlib.asynccontextmanager
async def keypad(**opts: object) -> AsyncIterator[tuple[EvdevKeypad, Recorder]]:
    rec = Recorder()
    pad = EvdevKeypad("numpad", EvdevKeypad.Options(**opts), rec)  # type: ignore[arg-type]
    await pad.start()
    try:
        yield pad, rec
    finally:
        await pad.stop()


async def test_keys_arrive_and_repeats_are_dropped(node: FakeNode) -> None:
    async with keypad(path=str(node.link), grab=False) as (pad, rec):
        await until(lambda: pad.health.link is Link.CONNECTED)
        node.key(KEY_CODES["KEY_KP4"], 1)
        node.key(KEY_CODES["KEY_KP4"], 2)
        node.key(KEY_CODES["KEY_KP4"], 0)
        node.key(KEY_CODES["KEY_KPENTER"], 1)
        await until(lambda: len(rec.keys()) == 3)
        assert rec.keys() == [("KEY_KP4", True), ("KEY_KP4", False), ("KEY_KPENTER", True)]
        assert pad.repeats == 1


async def test_unplug_releases_and_replug_reconnects(node: FakeNode) -> None:
    async with keypad(path=str(node.link), grab=False) as (pad, rec):
        await until(lambda: pad.health.link is Link.CONNECTED)
        node.key(KEY_CODES["KEY_KPASTERISK"], 1)
        await until(lambda: rec.keys() == [("KEY_KPASTERISK", True)])
        node.unplug()
        await until(lambda: pad.health.link is Link.LOST)
        assert rec.keys()[-1] == ("KEY_KPASTERISK", False)
        node.plug()
        await until(lambda: rec.connected_count() == 2, timeout=10)
        node.key(KEY_CODES["KEY_KP1"], 1)
        await until(lambda: rec.keys()[-1] == ("KEY_KP1", True))


async def test_found_by_name_after_it_appears(
    node: FakeNode, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sys_root, dev_root = tmp_path / "sys", tmp_path / "dev"
    dev_root.mkdir()
    monkeypatch.setattr(EvdevKeypad, "sys_root", sys_root)
    monkeypatch.setattr(EvdevKeypad, "dev_root", dev_root)
    async with keypad(name="Chair Keypad", grab=False) as (pad, rec):
        await until(lambda: pad.health.link is Link.LOST)  # not plugged in yet
        assert "Chair Keypad" in pad.health.detail
        (sys_root / "event5" / "device").mkdir(parents=True)
        (sys_root / "event5" / "device" / "name").write_text("Chair Keypad\n")
        (dev_root / "event5").symlink_to(node.link)
        await until(lambda: pad.health.link is Link.CONNECTED, timeout=10)
        node.key(KEY_CODES["KEY_KP9"], 1)
        await until(lambda: rec.keys() == [("KEY_KP9", True)])


async def test_grab_that_is_refused_is_logged_and_keys_still_arrive(
    node: FakeNode, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    async with keypad(path=str(node.link), grab=True) as (pad, rec):
        await until(lambda: pad.health.link is Link.CONNECTED)
        assert not pad.grabbed  # a pty is not an evdev node: EVIOCGRAB fails with ENOTTY
        assert "cannot grab" in caplog.text
        node.key(KEY_CODES["KEY_ESC"], 1)
        await until(lambda: rec.keys() == [("KEY_ESC", True)])


async def test_a_record_with_a_bad_value_is_counted(node: FakeNode) -> None:
    async with keypad(path=str(node.link), grab=False) as (pad, rec):
        await until(lambda: pad.health.link is Link.CONNECTED)
        assert node.master is not None
        os.write(node.master, struct.pack("llHHi", 0, 0, EV_KEY, 30, 9))
        node.key(KEY_CODES["KEY_KP2"], 1)
        await until(lambda: rec.keys() == [("KEY_KP2", True)])
        assert pad.health.errors == 1
