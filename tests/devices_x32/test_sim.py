"""The simulator's desk semantics, probed with a bare OSC client over real UDP."""

from __future__ import annotations

import asyncio
import math
import time

from hypothesis import example, given
from hypothesis import strategies as st

from devices.sim.x32 import MAX_SUBSCRIBERS, X32Simulator
from devices.x32 import XAIR, MeterReport, OscMessage, X32Codec, encode_message
from tests.devices_x32.conftest import RawClient
from tests.helpers import until


async def test_get_replies_to_the_sender_with_the_value(
    sim: X32Simulator, client: RawClient
) -> None:
    sim.state.names[4] = "Mayor"
    client.send("/ch/04/config/name")
    assert await client.recv() == OscMessage("/ch/04/config/name", ("Mayor",))
    client.send("/ch/04/mix/on")
    assert await client.recv() == OscMessage("/ch/04/mix/on", (0,))
    client.send("/ch/04/mix/fader")
    assert await client.recv() == OscMessage("/ch/04/mix/fader", (0.75,))


async def test_info_xinfo_status(sim: X32Simulator, client: RawClient) -> None:
    client.send("/info")
    info = await client.recv()
    assert info.address == "/info" and info.args[2] == "X32" and len(info.args) == 4
    client.send("/xinfo")
    xinfo = await client.recv()
    assert xinfo.args[0] == "127.0.0.1" and xinfo.args[2] == "X32"
    client.send("/status")
    assert (await client.recv()).args == ("active", "127.0.0.1", "X32-SIM")


async def test_set_is_not_acknowledged_nor_echoed_but_changes_state(
    sim: X32Simulator, client: RawClient
) -> None:
    client.send("/xremote")
    client.send("/ch/07/mix/on", 1)
    assert await client.barrier() == []  # no ack, no echo to the subscriber who set it
    assert sim.state.on[7] is True
    client.send("/ch/07/mix/on")
    assert await client.recv() == OscMessage("/ch/07/mix/on", (1,))


async def test_set_is_pushed_to_other_subscribers_only(
    sim: X32Simulator, client: RawClient
) -> None:
    other = await RawClient.open(sim.address)
    idle = await RawClient.open(sim.address)  # not subscribed
    try:
        other.send("/xremote")
        await other.barrier()  # the subscription is registered before the SET below
        client.send("/ch/02/config/name", "Deputy Mayor")  # cut to 12 characters
        assert await other.recv() == OscMessage("/ch/02/config/name", ("Deputy Mayor",))
        client.send("/ch/02/config/name", "Clerk of the Council")
        assert await other.recv() == OscMessage("/ch/02/config/name", ("Clerk of the",))
        assert await idle.barrier() == []
    finally:
        other.close()
        idle.close()


async def test_surface_change_is_pushed_to_every_subscriber(
    sim: X32Simulator, client: RawClient
) -> None:
    client.send("/xremote")
    await client.barrier()
    sim.usecases.surface_unmute(12)
    assert await client.recv() == OscMessage("/ch/12/mix/on", (1,))
    assert sim.state.on[12] is True


async def test_subscription_expires_unless_renewed(client: RawClient) -> None:
    async with X32Simulator(subscription_s=0.3) as sim:
        client.target = sim.address
        client.send("/xremote")
        await client.barrier()
        assert sim.subscribers() == [client.address]
        await until(lambda: sim.subscribers() == [], timeout=2.0)
        sim.usecases.surface_unmute(1)
        assert await client.barrier() == []  # expired: nothing pushed
        client.send("/xremote")  # renewing works again
        await client.barrier()
        sim.usecases.surface_mute(1)
        assert await client.recv() == OscMessage("/ch/01/mix/on", (0,))


async def test_at_most_four_subscribers(sim: X32Simulator) -> None:
    clients = [await RawClient.open(sim.address) for _ in range(MAX_SUBSCRIBERS + 1)]
    try:
        for c in clients:
            c.send("/xremote")
            await c.barrier()
        assert len(sim.subscribers()) == MAX_SUBSCRIBERS
        assert clients[-1].address not in sim.subscribers()
        sim.usecases.surface_rename(3, "Treasurer")
        for c in clients[:-1]:
            assert await c.recv() == OscMessage("/ch/03/config/name", ("Treasurer",))
        assert await clients[-1].barrier() == []
    finally:
        for c in clients:
            c.close()


async def test_unknown_addresses_and_garbage_get_silence(
    sim: X32Simulator, client: RawClient
) -> None:
    client.send("/ch/99/mix/on")
    client.send("/no/such/thing", 1)
    client.send_raw(b"\xff\x00garbage")
    assert await client.barrier() == []
    assert sim.state.errors == 1
    assert "/no/such/thing" in sim.state.addresses_received()


async def test_meters_stream_at_the_time_factor_then_stop(client: RawClient) -> None:
    async with X32Simulator(meter_stream_s=0.6) as sim:
        client.target = sim.address
        sim.usecases.talk(2, -20.0)
        codec = X32Codec()
        client.send("/meters", "/meters/1", 2)  # every 100 ms
        stamps = []
        for _ in range(4):
            msg = await client.recv()
            assert msg.address == "/meters/1"
            stamps.append(time.monotonic())
            codec.receive_data(encode_message(msg.address, *msg.args))
            report = codec.next_event()
            assert isinstance(report, MeterReport)
            assert abs(report.inputs[1] - -20.0) < 1e-3
            assert report.inputs[0] < -89.0
        # The schedule never bursts, so the spacing has a firm lower bound.
        assert (stamps[-1] - stamps[0]) / 3 >= 0.09
        await until(lambda: not sim._meters, timeout=3.0)
        await client.barrier()  # drain blobs sent before the stream ended
        assert await client.barrier() == []


async def test_xair_variant_port_main_and_int16_meters(client: RawClient) -> None:
    async with X32Simulator(xair=True) as sim:
        client.target = sim.address
        assert len(sim.state.on) == 16
        client.send("/lr/mix/on")
        assert await client.recv() == OscMessage("/lr/mix/on", (1,))
        client.send("/main/st/mix/on")  # the X32 spelling: unknown here
        assert await client.barrier() == []
        client.send("/xinfo")
        assert (await client.recv()).args[2] == "XR18"
        sim.usecases.talk(16, -12.5)
        client.send("/meters", "/meters/1")
        msg = await client.recv()
        assert len(encode_message(msg.address, *msg.args)) == 12 + 4 + 4 + 4 + 40 * 2
        codec = X32Codec(XAIR)
        codec.receive_data(encode_message(msg.address, *msg.args))
        report = codec.next_event()
        assert isinstance(report, MeterReport)
        assert report.inputs[15] == -12.5


async def test_standalone_run_prints_its_port_and_serves(capsys: object) -> None:
    import argparse

    from devices.sim import x32 as simmod

    parser = argparse.ArgumentParser()
    simmod.add_arguments(parser)
    args = parser.parse_args(["--port", "0", "--script", "random", "--seed", "3"])
    task = asyncio.create_task(simmod.run(args))
    try:
        out: list[str] = []

        def printed() -> bool:
            out.append(capsys.readouterr().out)  # type: ignore[attr-defined]
            return "listening on udp://127.0.0.1:" in "".join(out)

        await until(printed, timeout=3.0)
        port = int("".join(out).strip().rsplit(":", 1)[1])
        assert port != 0
        c = await RawClient.open(("127.0.0.1", port))
        c.send("/info")
        assert (await c.recv()).address == "/info"
        c.close()
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


sim_addresses = st.sampled_from(
    [
        "/ch/01/mix/on",
        "/ch/02/mix/fader",
        "/ch/03/config/name",
        "/ch/04/config/color",
        "/main/st/mix/on",
        "/main/st/mix/fader",
        "/lr/mix/on",
        "/meters",
        "/xremote",
        "/info",
        "/status",
        "/unknown",
    ]
)
sim_args = st.lists(
    st.one_of(
        st.integers(min_value=-(2**31), max_value=2**31 - 1),
        st.floats(width=32),  # NaN and infinities included: a client may send them
        # OSC strings are UTF-8 on the wire: a lone surrogate cannot be sent (the encoder
        # raises), so it is no input a client could make. Raw bytes cover the rest.
        st.text(st.characters(blacklist_characters="\0", blacklist_categories=("Cs",)),
                max_size=30),
        st.binary(max_size=16),
    ),
    max_size=4,
)


@given(st.lists(st.one_of(st.binary(max_size=64), st.tuples(sim_addresses, sim_args))))
@example([("/ch/01/mix/on", [math.nan]), ("/ch/04/config/color", [math.inf])])
@example([("/main/st/mix/fader", [-math.inf]), ("/ch/02/mix/fader", [math.nan])])
async def test_arbitrary_input_never_breaks_the_simulator(
    inputs: list[bytes | tuple[str, list[object]]],
) -> None:
    async with X32Simulator() as sim:
        peer = await RawClient.open(sim.address)
        try:
            for item in inputs:
                if isinstance(item, bytes):
                    sim._datagram(item, peer.address)
                else:
                    address, args = item
                    sim._datagram(encode_message(address, *args), peer.address)  # type: ignore[arg-type]
            # Still a desk with valid values afterwards.
            assert all(0.0 <= f <= 1.0 for f in sim.state.faders.values())
            assert all(len(n) <= 12 for n in sim.state.names.values())
            peer.send("/info")
            while (await peer.recv()).address != "/info":
                pass
        finally:
            peer.close()
