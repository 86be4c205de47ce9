"""The chair's keypad inside the daemon: a serial button box on a pty and an OSC surface
(Bitfocus Companion) on UDP drive the floor, and the floor opens the desk channel."""

from __future__ import annotations

import asyncio

import pytest
from pythonosc.osc_message import OscMessage

from councild.config import parse
from councild.daemon import Daemon
from devices.sim.keypad import ButtonBoxSimulator, OscSender
from devices.sim.x32 import X32Simulator
from tests.helpers import until
from tests.system.conftest import desk_pushed
from tests.system.test_desks import config_for

pytestmark = pytest.mark.timeout(60)


class Feedback(asyncio.DatagramProtocol):
    """Companion's OSC listener: records the seat states councild sends back."""

    def __init__(self) -> None:
        self.states: dict[str, str] = {}

    def datagram_received(self, data: bytes, addr: tuple) -> None:
        message = OscMessage(data)
        parts = message.address.split("/")  # /councild/seat/<id>/state
        if len(parts) == 5 and parts[2] == "seat" and parts[4] == "state":
            self.states[parts[3]] = str(message.params[0])


async def test_box_and_companion_drive_the_floor_and_the_desk(short_tmp):
    loop = asyncio.get_running_loop()
    transport, feedback = await loop.create_datagram_endpoint(
        Feedback, local_addr=("127.0.0.1", 0))
    fb_port = transport.get_extra_info("sockname")[1]
    async with X32Simulator() as desk, ButtonBoxSimulator(link=str(short_tmp / "box")) as box:
        table = (f'[devices.dev]\ndriver = "x32"\nhost = "127.0.0.1"\nport = {desk.port}\n'
                 f'[devices.box]\ndriver = "keypad_serial"\npath = "{box.path}"\n'
                 '[devices.companion]\ndriver = "osc_control"\nport = 0\n'
                 f'allow = ["127.0.0.1"]\nfeedback = "127.0.0.1:{fb_port}"\n')
        daemon = Daemon(parse(config_for(table)), store_path=short_tmp / "s.db",
                        socket_path=short_tmp / "a.sock")
        await daemon.start()
        try:
            await until(lambda: all(v.link.value == "connected"
                                    for v in daemon.device_views.values()), 5)
            await desk_pushed(daemon, desk, "dev", [1, 2, 3, 4, 5])

            box.usecases.type_seat("3")  # the chair types 3, Enter
            await until(lambda: daemon.state.speaking("3"), 2)
            await until(lambda: desk.state.on[3], 2)  # and the desk channel is open

            box.usecases.press("PRIORITY")  # held: delegates closed, chair priority
            await until(lambda: daemon.state.priority and not desk.state.on[3], 2)
            box.usecases.release("PRIORITY")
            await until(lambda: not daemon.state.priority, 2)

            osc = daemon.devices["companion"]
            with OscSender(osc.local_address) as companion:
                companion.send("/councild/grant", "4")
                await until(lambda: daemon.state.speaking("4"), 2)
                await until(lambda: desk.state.on[4], 2)
                # Companion's button for seat 4 turns to "speaking".
                await until(lambda: feedback.states.get("4") == "speaking", 2)
                companion.send_raw(b"\x00garbage\xff")
                companion.send("/councild/next")  # nobody waits: refused, logged, no crash
                companion.send("/councild/revoke", "4")
                await until(lambda: not daemon.state.speaking("4"), 2)
            sources = {e["source"] for e in daemon.events}
            assert {"box", "companion"} <= sources  # keypad inputs are recorded as theirs
        finally:
            await daemon.stop()
            transport.close()
