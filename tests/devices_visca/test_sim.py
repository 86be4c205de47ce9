"""The camera simulator, driven with hand-written bytes over a raw UDP socket and a pty."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import socket
import termios
import time
from collections.abc import AsyncIterator

import pytest

from devices.sim import visca as sim_module
from devices.sim.visca import ViscaSimulator

H = bytes.fromhex
MOVE_TIME = 0.2
REPLY_TIMEOUT = 2.0


class RawClient:
    """A UDP socket that speaks bytes only: nothing of our codec is used on this side."""

    def __init__(self, address: tuple[str, int]) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.setblocking(False)
        self.sock.bind(("127.0.0.1", 0))
        self.address = address

    async def send(self, hexdata: str) -> None:
        await asyncio.get_running_loop().sock_sendto(self.sock, H(hexdata), self.address)

    async def recv(self) -> bytes:
        loop = asyncio.get_running_loop()
        async with asyncio.timeout(REPLY_TIMEOUT):
            data, _addr = await loop.sock_recvfrom(self.sock, 2048)
        return data

    async def ask(self, hexdata: str) -> bytes:
        await self.send(hexdata)
        return await self.recv()


@pytest.fixture
async def camera() -> AsyncIterator[tuple[ViscaSimulator, RawClient]]:
    async with ViscaSimulator(move_time=MOVE_TIME) as sim:
        client = RawClient(sim.address)
        try:
            assert await client.ask("02 00 00 01 00 00 00 00 01") == H("02 01 00 01 00 00 00 00 01")
            yield sim, client
        finally:
            client.sock.close()


async def test_recall_ack_at_once_completion_after_the_move_time(
    camera: tuple[ViscaSimulator, RawClient],
) -> None:
    sim, client = camera
    await client.send("01 00 00 07 00 00 00 01 81 01 04 3F 02 05 FF")
    sent = time.monotonic()
    assert await client.recv() == H("01 11 00 03 00 00 00 01 90 41 FF")
    assert sim.state.moving
    assert await client.recv() == H("01 11 00 03 00 00 00 01 90 51 FF")
    assert time.monotonic() - sent >= MOVE_TIME * 0.9
    assert sim.state.preset == 5
    assert sim.state.recalls == [5]


async def test_busy_camera_answers_41_and_if_clear_cancels_the_move(
    camera: tuple[ViscaSimulator, RawClient],
) -> None:
    sim, client = camera
    sim.state.move_time = 5.0
    assert await client.ask("01 00 00 07 00 00 00 01 81 01 04 3F 02 05 FF") == H(
        "01 11 00 03 00 00 00 01 90 41 FF"
    )
    # second recall while moving: not executable now
    assert await client.ask("01 00 00 07 00 00 00 02 81 01 04 3F 02 06 FF") == H(
        "01 11 00 04 00 00 00 02 90 60 41 FF"
    )
    # IF_Clear: the move is cancelled (on its socket, with its number), then z0 50 FF
    await client.send("01 00 00 05 00 00 00 03 81 01 00 01 FF")
    assert await client.recv() == H("01 11 00 04 00 00 00 01 90 61 04 FF")
    assert await client.recv() == H("01 11 00 03 00 00 00 03 90 50 FF")
    assert not sim.state.moving
    assert sim.state.preset is None
    assert sim.state.refused == 1


async def test_inquiry_unknown_command_and_other_address(
    camera: tuple[ViscaSimulator, RawClient],
) -> None:
    sim, client = camera
    assert await client.ask("01 10 00 05 00 00 00 01 81 09 04 00 FF") == H(
        "01 11 00 04 00 00 00 01 90 50 02 FF"
    )
    assert await client.ask("01 00 00 05 00 00 00 02 81 01 06 04 FF") == H(
        "01 11 00 04 00 00 00 02 90 60 02 FF"
    )
    # Camera 2's command is not ours: no reply; the next reply is for the next request.
    await client.send("01 00 00 05 00 00 00 03 82 01 00 01 FF")
    assert await client.ask("01 00 00 05 00 00 00 04 81 01 00 01 FF") == H(
        "01 11 00 03 00 00 00 04 90 50 FF"
    )
    assert [getattr(e, "address", None) for e in sim.state.received[-2:]] == [2, 1]


async def test_sequence_numbers_must_increase_until_reset(
    camera: tuple[ViscaSimulator, RawClient],
) -> None:
    _sim, client = camera
    await client.ask("01 00 00 05 00 00 00 07 81 01 00 01 FF")
    assert await client.ask("01 00 00 05 00 00 00 07 81 01 00 01 FF") == H(
        "02 01 00 02 00 00 00 07 0F 01"
    )
    assert await client.ask("02 00 00 01 00 00 00 00 01") == H("02 01 00 01 00 00 00 00 01")
    assert await client.ask("01 00 00 05 00 00 00 01 81 01 00 01 FF") == H(
        "01 11 00 03 00 00 00 01 90 50 FF"
    )


async def test_garbage_is_counted_and_reported(camera: tuple[ViscaSimulator, RawClient]) -> None:
    sim, client = camera
    assert await client.ask("DE AD BE EF") == H("02 01 00 02 00 00 00 00 0F 02")
    assert sim.state.errors == 1


async def test_serial_on_a_pty_speaks_bare_visca() -> None:
    async with ViscaSimulator(transport="pty", move_time=MOVE_TIME) as sim:
        assert sim.tty_path is not None
        fd = os.open(sim.tty_path, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
        try:
            attrs = termios.tcgetattr(fd)
            assert not attrs[3] & termios.ICANON  # raw: no line discipline in the way
            os.write(fd, H("81 01 04 3F 02 03 FF"))
            got = b""
            deadline = time.monotonic() + REPLY_TIMEOUT
            while len(got) < 6 and time.monotonic() < deadline:
                with contextlib.suppress(BlockingIOError):
                    got += os.read(fd, 64)
                await asyncio.sleep(0.01)
            assert got == H("90 41 FF 90 51 FF")
            assert sim.state.recalls == [3]
        finally:
            os.close(fd)


async def test_cli_run_prints_where_it_listens(capsys: pytest.CaptureFixture[str]) -> None:
    parser = argparse.ArgumentParser()
    sim_module.add_arguments(parser)
    args = parser.parse_args(["--port", "0", "--move-time", "0.5", "--address", "2"])
    task = asyncio.create_task(sim_module.run(args))
    try:
        for _ in range(200):
            out = capsys.readouterr().out
            if out:
                break
            await asyncio.sleep(0.01)
        assert out.startswith("VISCA camera 2 simulator listening on udp://127.0.0.1:")
        port = int(out.strip().rsplit(":", 1)[1])
        client = RawClient(("127.0.0.1", port))
        try:
            reply = await client.ask("01 10 00 05 00 00 00 01 82 09 04 00 FF")
            assert reply == H("01 11 00 04 00 00 00 01 A0 50 02 FF")
        finally:
            client.sock.close()
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
