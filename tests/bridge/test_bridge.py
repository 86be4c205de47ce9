"""JanusBridge against a real Janus 1.1 on 127.0.0.1, with simulated remote councillors."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import socket
import time
from collections.abc import AsyncIterator, Callable

import pytest
import websockets
from websockets import Subprotocol
from websockets.asyncio.server import ServerConnection

from councild.model import (
    DeviceStatus,
    Event,
    Link,
    ParticipantDisplay,
    ParticipantJoined,
    ParticipantLeft,
    ParticipantTalking,
)
from devices.janus_client import JanusClient
from devices.janus_protocol import SUBPROTOCOL, JanusEvent, JanusMessage, RoomEventKind, Success
from devices.rtp import OPUS_SILENCE, parse_packet
from devices.sim import remote as remote_sim
from devices.sim.remote import RemoteCouncillors
from devices.videoroom import JanusBridge
from tests.bridge.janus_server import JanusServer
from tests.helpers import until

ROOM = 4242
SECRET = "room-secret-for-tests"
NAMES = ["Anna Müller", "Bernd Schulz", "Clara Weber"]
# Janus judges talking over audio_active_packets packets of 20 ms: 10 packets = 200 ms, so
# the tests see talking within about half a second instead of the 1 s default.
FAST_TALKING = {"audio_active_packets": 10, "audio_level_average": 50}
RECONNECT_LIMIT = 5.0  # the brief: re-joined within 5 s of Janus being back
FLAP_WINDOW = 5.0  # observation window for connection attempts with a wrong secret
STOP_LIMIT = 2.0  # stop() closes one WebSocket; far longer means a swallowed cancellation


class Recorder:
    def __init__(self) -> None:
        self.events: list[tuple[float, Event]] = []

    def __call__(self, event: Event) -> None:
        self.events.append((time.monotonic(), event))

    def of(self, kind: type[Event], pred: Callable[[Event], bool] = lambda e: True) -> list:
        return [e for _, e in self.events if isinstance(e, kind) and pred(e)]

    def first_time(self, kind: type[Event], pred: Callable[[Event], bool]) -> float | None:
        for t, e in self.events:
            if isinstance(e, kind) and pred(e):
                return t
        return None


def make_bridge(janus: JanusServer, rec: Recorder, monkeypatch: pytest.MonkeyPatch,
                secret: str = SECRET, env: str = "TEST_BRIDGE_SECRET") -> JanusBridge:
    monkeypatch.setenv(env, secret)
    options = JanusBridge.Options(url=janus.url, room=ROOM, secret_env=env, create_room=True,
                                  **FAST_TALKING)
    return JanusBridge("bridge", options, rec)


@pytest.fixture
async def bridge(janus: JanusServer, monkeypatch: pytest.MonkeyPatch
                 ) -> AsyncIterator[tuple[JanusBridge, Recorder]]:
    rec = Recorder()
    driver = make_bridge(janus, rec, monkeypatch)
    await driver.start()
    try:
        await until(lambda: driver.health.link == Link.CONNECTED, 5.0)
        yield driver, rec
    finally:
        await driver.stop()


@pytest.fixture
async def remotes(janus: JanusServer, bridge: tuple[JanusBridge, Recorder]
                  ) -> AsyncIterator[RemoteCouncillors]:
    async with RemoteCouncillors(janus.url, ROOM, SECRET, NAMES) as sim:
        driver, _ = bridge
        await until(lambda: len(driver.roster) == len(NAMES), 3.0)
        yield sim


async def forwarded(janus: JanusServer) -> set[str]:
    """Publishers with an rtp_forward, asked of Janus by a client of its own."""
    spy = await JanusClient.connect(janus.url, lambda m: None)
    try:
        reply = await spy.plugin({"request": "listforwarders", "room": ROOM, "secret": SECRET})
    finally:
        await spy.close()
    assert isinstance(reply, Success) and reply.room is not None
    return {str(p["publisher_id"]) for p in reply.room.data["publishers"]
            if p.get("forwarders")}


def pid(sim: RemoteCouncillors, name: str) -> str:
    participant = sim.state.remotes[name].participant
    assert participant is not None
    return participant


async def test_three_remote_councillors_appear_in_the_roster(
    bridge: tuple[JanusBridge, Recorder], remotes: RemoteCouncillors
) -> None:
    driver, rec = bridge
    joined = {e.participant: e.display for e in rec.of(ParticipantJoined)}
    assert joined == {pid(remotes, n): n for n in NAMES}
    assert {p.display for p in driver.roster.values()} == set(NAMES)
    assert all(p.audio_mids == ("0",) for p in driver.roster.values())
    assert driver.own_id not in driver.roster  # the control participant is not a councillor
    assert rec.of(DeviceStatus)[-1].link == Link.CONNECTED


async def test_talking_follows_the_audio_level(
    bridge: tuple[JanusBridge, Recorder], remotes: RemoteCouncillors
) -> None:
    driver, rec = bridge
    anna = pid(remotes, "Anna Müller")

    def talking(on: bool) -> Callable[[Event], bool]:
        return lambda e: e.participant == anna and e.talking is on

    start = time.monotonic()
    remotes.usecases.talk("Anna Müller", True)
    await until(lambda: rec.of(ParticipantTalking, talking(True)), 3.0)
    started = rec.first_time(ParticipantTalking, talking(True))
    stop = time.monotonic()
    remotes.usecases.talk("Anna Müller", False)
    await until(lambda: rec.of(ParticipantTalking, talking(False)), 3.0)
    stopped = rec.first_time(ParticipantTalking, talking(False))
    assert started is not None and stopped is not None
    print(f"talking after {started - start:.3f} s, stopped after {stopped - stop:.3f} s")
    # nobody else was reported talking
    assert {e.participant for e in rec.of(ParticipantTalking)} == {anna}
    assert not driver.roster[anna].talking


async def test_mute_is_seen_by_an_independent_control_client(
    janus: JanusServer, bridge: tuple[JanusBridge, Recorder], remotes: RemoteCouncillors
) -> None:
    driver, _ = bridge
    seen: list[JanusMessage] = []
    spy = await JanusClient.connect(janus.url, seen.append)
    try:
        await spy.plugin({"request": "join", "ptype": "publisher", "room": ROOM,
                          "display": "spy"}, until_event=True)
        bernd = pid(remotes, "Bernd Schulz")

        def moderation(muted: bool) -> bool:
            return any(isinstance(m, JanusEvent) and m.room is not None
                       and m.room.kind is RoomEventKind.MODERATION
                       and m.room.participant == bernd and m.room.muted is muted
                       for m in seen)

        await driver.mute(bernd, True)
        await until(lambda: moderation(True), 3.0)
        await until(lambda: driver.roster[bernd].muted, 3.0)
        await driver.mute(bernd, False)
        await until(lambda: moderation(False), 3.0)
    finally:
        await spy.close()


async def test_leaving_and_kick(
    bridge: tuple[JanusBridge, Recorder], remotes: RemoteCouncillors
) -> None:
    driver, rec = bridge
    clara, bernd = pid(remotes, "Clara Weber"), pid(remotes, "Bernd Schulz")
    await remotes.usecases.leave("Clara Weber")
    await until(lambda: rec.of(ParticipantLeft, lambda e: e.participant == clara), 3.0)
    await driver.kick(bernd)
    await until(lambda: rec.of(ParticipantLeft, lambda e: e.participant == bernd), 3.0)
    assert {p.display for p in driver.roster.values()} == {"Anna Müller"}
    # Clara comes back: a new participant id, announced again
    again = await remotes.usecases.join("Clara Weber")
    await until(lambda: again in driver.roster, 3.0)
    assert again != clara


async def test_roster_resync_at_connect(
    janus: JanusServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Participants already in the room are found by listparticipants, not by events."""
    rec = Recorder()
    async with RemoteCouncillors(janus.url, ROOM, SECRET, NAMES) as sim:
        sim.usecases.talk("Anna Müller", True)
        await until(lambda: sim.state.remotes["Anna Müller"].packets > 30, 3.0)
        driver = make_bridge(janus, rec, monkeypatch)
        await driver.start()
        try:
            await until(lambda: driver.health.link == Link.CONNECTED, 5.0)
            assert {e.display for e in rec.of(ParticipantJoined)} == set(NAMES)
            anna = pid(sim, "Anna Müller")
            # already talking when we came: the resync says so (or the next talking event)
            await until(lambda: rec.of(ParticipantTalking, lambda e: e.participant == anna
                                       and e.talking), 3.0)
        finally:
            await driver.stop()


async def test_janus_restart_reconnects_and_resyncs(
    janus: JanusServer, bridge: tuple[JanusBridge, Recorder], remotes: RemoteCouncillors
) -> None:
    driver, rec = bridge
    old = {pid(remotes, n) for n in NAMES}
    await remotes.stop()  # its session dies with Janus anyway
    janus.kill()
    await until(lambda: driver.health.link != Link.CONNECTED, 3.0)
    back = time.monotonic()
    janus.start()
    await until(lambda: driver.health.link == Link.CONNECTED, RECONNECT_LIMIT)
    print(f"re-joined {time.monotonic() - back:.3f} s after Janus was back")
    assert driver.health.reconnects == 1
    # the rooms of a restarted Janus are empty: everyone we knew is reported gone
    assert {e.participant for e in rec.of(ParticipantLeft)} == old
    assert driver.roster == {}
    async with RemoteCouncillors(janus.url, ROOM, SECRET, NAMES[:2]) as sim2:
        await until(lambda: {p.display for p in driver.roster.values()} == set(NAMES[:2]), 3.0)
        assert set(driver.roster) == {pid(sim2, n) for n in NAMES[:2]}


async def test_wrong_secret_is_a_clear_error_without_flapping(
    janus: JanusServer, bridge: tuple[JanusBridge, Recorder], monkeypatch: pytest.MonkeyPatch
) -> None:
    rec = Recorder()
    wrong = make_bridge(janus, rec, monkeypatch, secret="not-the-secret", env="TEST_WRONG")
    await wrong.start()
    try:
        await until(lambda: wrong.health.link == Link.LOST, 3.0)
        assert "wrong room secret" in wrong.health.detail
        assert "433" in wrong.health.detail
        # an observation window, not synchronisation: count attempts over FLAP_WINDOW
        await asyncio.sleep(FLAP_WINDOW)
        print(f"connection attempts in {FLAP_WINDOW} s with a wrong secret: {wrong.attempts}")
        assert wrong.attempts <= 2
        assert all(e.link != Link.CONNECTED for e in rec.of(DeviceStatus))
    finally:
        await wrong.stop()


async def test_rtp_forward_delivers_packets(
    janus: JanusServer, bridge: tuple[JanusBridge, Recorder], remotes: RemoteCouncillors
) -> None:
    driver, _ = bridge
    anna = pid(remotes, "Anna Müller")
    sink = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sink.bind(("127.0.0.1", 0))
    sink.setblocking(False)
    packets: list[bytes] = []

    def drain() -> bool:
        while True:
            try:
                packets.append(sink.recv(2048))
            except BlockingIOError:
                return len(packets) >= 25  # half a second of audio

    try:
        streams = await driver.forward(anna, "127.0.0.1", sink.getsockname()[1])
        assert len(streams) == 1 and all(isinstance(v, int) for v in streams.values())
        start = time.monotonic()
        await until(drain, 3.0)
        print(f"{len(packets)} forwarded packets in {time.monotonic() - start:.3f} s")
        first = parse_packet(packets[0])
        assert first.payload == OPUS_SILENCE
        assert await forwarded(janus) == {anna}  # as Janus itself lists them
        await driver.stop_forward(anna)
        assert await forwarded(janus) == set()
    finally:
        sink.close()


async def test_display_change_raise_hand(
    janus: JanusServer, bridge: tuple[JanusBridge, Recorder]
) -> None:
    """A participant's configure with a new display reaches the room (the raise-hand path)."""
    driver, rec = bridge
    eva = await JanusClient.connect(janus.url, lambda m: None)
    try:
        joined = await eva.plugin({"request": "join", "ptype": "publisher", "room": ROOM,
                                   "display": "Eva Roth"}, until_event=True)
        assert isinstance(joined, JanusEvent) and joined.room is not None
        me = joined.room.participant
        await until(lambda: me in driver.roster, 3.0)
        await eva.plugin({"request": "configure", "display": "Eva Roth ✋"}, until_event=True)
        await until(lambda: rec.of(ParticipantDisplay, lambda e: e.participant == me), 3.0)
        assert rec.of(ParticipantDisplay)[-1].display == "Eva Roth ✋"
        assert driver.roster[me].display == "Eva Roth ✋"
    finally:
        await eva.close()
    await until(lambda: me not in driver.roster, 3.0)  # a closed session leaves the room


async def test_sim_command_line_runs_a_talk_pattern(
    janus: JanusServer, bridge: tuple[JanusBridge, Recorder], monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """`councild sim remote --count 2 --names ...`: joins, then each talks in turn."""
    driver, rec = bridge
    parser = argparse.ArgumentParser()
    remote_sim.add_arguments(parser)
    args = parser.parse_args(["--url", janus.url, "--room", str(ROOM), "--count", "2",
                              "--names", "Anna Müller, Bernd Schulz"])
    monkeypatch.setenv(args.secret_env, SECRET)
    task = asyncio.create_task(remote_sim.run(args))
    try:
        await until(lambda: {p.display for p in driver.roster.values()}
                    == {"Anna Müller", "Bernd Schulz"}, 3.0)
        await until(lambda: rec.of(ParticipantTalking, lambda e: e.talking), 3.0)
        assert "Anna Müller" in capsys.readouterr().out
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    await until(lambda: driver.roster == {}, 3.0)  # stopping removes its publishers


async def test_malformed_messages_are_counted_not_fatal(
    janus: JanusServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A relay in front of the real Janus slips garbage between Janus's own messages."""
    garbage = ["not json", "[1, 2]", '{"janus": "event", "plugindata": {"data": 5}}']

    async def relay(client: ServerConnection) -> None:
        async with websockets.connect(janus.url, subprotocols=[Subprotocol(SUBPROTOCOL)]
                                      ) as upstream:
            async def up() -> None:
                async for msg in client:
                    await upstream.send(msg)

            async def down() -> None:
                for bad in garbage:
                    await client.send(bad)
                async for msg in upstream:
                    await client.send(msg)

            tasks = {asyncio.create_task(up()), asyncio.create_task(down())}
            _, pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            for task in pending:  # one side closed: end the other instead of waiting on it
                task.cancel()

    async with websockets.serve(relay, "127.0.0.1", 0,
                                subprotocols=[Subprotocol(SUBPROTOCOL)]) as server:
        port = server.sockets[0].getsockname()[1]
        rec = Recorder()
        monkeypatch.setenv("TEST_BRIDGE_SECRET", SECRET)
        options = JanusBridge.Options(url=f"ws://127.0.0.1:{port}", room=ROOM,
                                      secret_env="TEST_BRIDGE_SECRET", create_room=True)
        driver = JanusBridge("bridge", options, rec)
        await driver.start()
        try:
            await until(lambda: driver.health.link == Link.CONNECTED, 5.0)
            assert driver.health.errors == len(garbage)
            assert rec.of(DeviceStatus)[-1].errors == len(garbage)
            assert driver.attempts == 1  # garbage did not cost the connection
        finally:
            await driver.stop()


async def test_stop_is_prompt_at_any_point_of_a_failing_handshake(
    janus: JanusServer, bridge: tuple[JanusBridge, Recorder], monkeypatch: pytest.MonkeyPatch
) -> None:
    """stop() lands at a different step of the (refused) handshake each time; never hangs."""
    for step in range(60):
        wrong = make_bridge(janus, Recorder(), monkeypatch, secret="nope", env="TEST_WRONG")
        await wrong.start()
        # not synchronisation: an offset sweeping 0..15 ms, the span of the handshake
        await asyncio.sleep(step * 0.00025)
        await asyncio.wait_for(wrong.stop(), STOP_LIMIT)
        assert wrong.health.link == Link.CLOSED


async def test_janus_down_at_start_then_up(
    janus: JanusServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    janus.stop()
    rec = Recorder()
    driver = make_bridge(janus, rec, monkeypatch)
    await driver.start()
    try:
        await until(lambda: driver.health.link == Link.LOST, 3.0)
        assert "cannot reach Janus" in driver.health.detail
        janus.start()
        await until(lambda: driver.health.link == Link.CONNECTED, RECONNECT_LIMIT)
    finally:
        await driver.stop()
