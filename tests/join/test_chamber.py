"""ChamberFeed against a real Janus 1.1 and a real ffmpeg on 127.0.0.1."""

from __future__ import annotations

import asyncio
import itertools
import os
import signal
import socket
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from councild.join.chamber import AUDIO_MID, OPUS_PT, VIDEO_MID, VP8_PT, ChamberFeed
from councild.model import Link
from devices.janus_client import JanusClient
from devices.janus_protocol import JanusEvent, Participant, Success
from devices.rtp import RTP_VERSION, RtpPacket, parse_packet
from tests.bridge.janus_server import JanusServer
from tests.helpers import require_binary, until

ROOM = 5151
SECRET = "chamber-room-secret"
FEED_ID = 900_001
INPUT = ["-re", "-f", "lavfi", "-i", "testsrc=size=320x180:rate=15",
         "-f", "lavfi", "-i", "sine=frequency=440"]
# ffmpeg opens lavfi and writes its first progress report within about a second; a loaded
# CI machine may take several times that.
UP_LIMIT = 10.0
MEDIA_LIMIT = 5.0  # packets of both kinds must arrive within this of forwarding
# After a Janus restart the room must be recreated (the bridge driver does that in the
# daemon) and the feed's backoff (1 s, 2 s, 4 s) must come round.
RESTART_LIMIT = 15.0
MISSING_WINDOW = 3.0  # observation window for attempts without ffmpeg
KEYFRAME_MAX_S = 2.0  # the spec: a keyframe every 2 s or less


@dataclass
class StatusLog:
    entries: list[tuple[float, Link, str]] = field(default_factory=list)

    def __call__(self, link: Link, detail: str) -> None:
        self.entries.append((time.monotonic(), link, detail))

    def links(self) -> list[Link]:
        return [link for _, link, _ in self.entries]


@pytest.fixture
def ffmpeg() -> str:
    return require_binary("ffmpeg", "ffmpeg")


async def make_room(janus: JanusServer) -> None:
    """The room as the bridge driver creates it (it owns the room in the daemon)."""
    client = await JanusClient.connect(janus.url, lambda m: None)
    try:
        await client.plugin({"request": "create", "room": ROOM, "secret": SECRET,
                             "publishers": 16, "audiolevel_event": True})
    finally:
        await client.close()


@pytest.fixture
async def spy(janus: JanusServer) -> AsyncIterator[JanusClient]:
    """A second Janus client: creates the room and asks Janus what it sees."""
    await make_room(janus)
    client = await JanusClient.connect(janus.url, lambda m: None)
    try:
        yield client
    finally:
        await client.close()


@pytest.fixture
async def feed(janus: JanusServer, spy: JanusClient, ffmpeg: str,
               request: pytest.FixtureRequest) -> AsyncIterator[tuple[ChamberFeed, StatusLog]]:
    """A running feed; its participant id is FEED_ID unless parametrized (None: Janus's)."""
    status = StatusLog()
    chamber = ChamberFeed(janus.url, ROOM, SECRET, INPUT,
                          participant_id=getattr(request, "param", FEED_ID),
                          ffmpeg=ffmpeg, on_status=status)
    await chamber.start()
    try:
        await until(lambda: chamber.link == Link.CONNECTED, UP_LIMIT)
        yield chamber, status
    finally:
        await chamber.stop()


async def participants(client: JanusClient) -> dict[str, Participant]:
    reply = await client.plugin({"request": "listparticipants", "room": ROOM})
    assert isinstance(reply, Success) and reply.room is not None
    return {p.id: p for p in reply.room.participants}


async def publisher_streams(client: JanusClient, participant: str) -> list[dict[str, Any]]:
    """The feed's streams as a joined participant is told them (`publishers` of the join)."""
    joined = await client.plugin({"request": "join", "ptype": "publisher", "room": ROOM,
                                  "display": "spy"}, until_event=True)
    assert isinstance(joined, JanusEvent) and joined.room is not None
    publishers = joined.room.data.get("publishers", [])
    mine = [p for p in publishers if str(p.get("id")) == participant]
    assert len(mine) == 1, publishers
    return list(mine[0]["streams"])


class Sink:
    """A UDP socket on 127.0.0.1 collecting the RTP Janus forwards to it."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.setblocking(False)
        self.raw: list[bytes] = []

    @property
    def port(self) -> int:
        return int(self.sock.getsockname()[1])

    def drain(self) -> int:
        while True:
            try:
                self.raw.append(self.sock.recv(4096))
            except BlockingIOError:
                return len(self.raw)

    def packets(self) -> list[RtpPacket]:
        self.drain()
        return [parse_packet(data) for data in self.raw]

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def sinks() -> Iterator[tuple[Sink, Sink]]:
    audio, video = Sink(), Sink()
    try:
        yield audio, video
    finally:
        audio.close()
        video.close()


async def forward(client: JanusClient, participant: str, audio: Sink, video: Sink) -> None:
    """rtp_forward both streams; no `pt`, so the feed's own payload types come through."""
    await client.plugin({
        "request": "rtp_forward", "room": ROOM, "secret": SECRET,
        "publisher_id": int(participant), "host": "127.0.0.1", "host_family": "ipv4",
        "streams": [{"mid": AUDIO_MID, "port": audio.port},
                    {"mid": VIDEO_MID, "port": video.port}],
    })


async def media_flows(audio: Sink, video: Sink, enough: int = 20) -> None:
    start = time.monotonic()
    await until(lambda: audio.drain() >= enough and video.drain() >= enough, MEDIA_LIMIT)
    print(f"{len(audio.raw)} audio and {len(video.raw)} video packets in "
          f"{time.monotonic() - start:.3f} s")
    for data in (audio.raw[-1], video.raw[-1]):
        assert data[0] >> 6 == RTP_VERSION
    assert {p.payload_type for p in audio.packets()} == {OPUS_PT}
    assert {p.payload_type for p in video.packets()} == {VP8_PT}


def vp8_keyframe(payload: bytes) -> bool:
    """Whether an RTP VP8 payload (RFC 7741) starts a keyframe."""
    first = payload[0]
    if not first & 0x10 or first & 0x07:  # S bit: start of partition 0, PID 0
        return False
    at = 1
    if first & 0x80:  # X: extension flags follow
        ext = payload[at]
        at += 1
        if ext & 0x80:  # I: picture id, 7 or 15 bits
            at += 2 if payload[at] & 0x80 else 1
        if ext & 0x40:  # L: TL0PICIDX
            at += 1
        if ext & 0x30:  # T or K: one byte together
            at += 1
    return not payload[at] & 0x01  # P bit of the VP8 frame header: 0 = keyframe


def group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


# --- tests -------------------------------------------------------------------------------------


async def test_feed_appears_in_the_room(
    feed: tuple[ChamberFeed, StatusLog], spy: JanusClient
) -> None:
    chamber, status = feed
    assert chamber.participant == str(FEED_ID)
    assert status.links()[0] == Link.CONNECTING and status.links()[-1] == Link.CONNECTED
    assert status.entries[-1][2] == f"publishing to port {chamber.port}"
    people = await participants(spy)
    assert set(people) == {str(FEED_ID)}
    assert people[str(FEED_ID)].display == "Chamber"
    assert people[str(FEED_ID)].publisher
    streams = await publisher_streams(spy, str(FEED_ID))
    kinds = sorted((s["type"], s["mid"], s["codec"]) for s in streams)
    assert kinds == [("audio", AUDIO_MID, "opus"), ("video", VIDEO_MID, "vp8")]
    assert next(s for s in streams if s["type"] == "audio").get("stereo") is True


async def test_media_flows_with_frequent_keyframes(
    feed: tuple[ChamberFeed, StatusLog], spy: JanusClient, sinks: tuple[Sink, Sink]
) -> None:
    chamber, _ = feed
    assert chamber.participant is not None
    audio, video = sinks
    await forward(spy, chamber.participant, audio, video)
    await media_flows(audio, video)

    def keyframes() -> list[int]:
        """RTP timestamps of the keyframes, in arrival order (a keyframe spans packets)."""
        stamps = [p.timestamp for p in video.packets() if vp8_keyframe(p.payload)]
        return [t for i, t in enumerate(stamps) if i == 0 or stamps[i - 1] != t]

    await until(lambda: len(keyframes()) >= 3, KEYFRAME_MAX_S * 4)
    # modulo 2**32: the 90 kHz clock starts anywhere and may wrap
    gaps = [((b - a) % 2**32) / 90_000 for a, b in itertools.pairwise(keyframes())]
    print(f"keyframe gaps: {gaps}")
    assert gaps and max(gaps) <= KEYFRAME_MAX_S + 0.1  # one frame of slack at 15 fps


async def test_killed_ffmpeg_is_restarted(
    feed: tuple[ChamberFeed, StatusLog], spy: JanusClient, sinks: tuple[Sink, Sink]
) -> None:
    chamber, status = feed
    pgid = chamber.encoder_pid
    assert pgid is not None and chamber.participant is not None
    seen = len(status.entries)
    killed = time.monotonic()
    os.killpg(pgid, signal.SIGKILL)
    await until(lambda: Link.LOST in status.links()[seen:], 3.0)
    await until(lambda: status.links()[-1] == Link.CONNECTED and chamber.encoder_starts == 2,
                UP_LIMIT)
    print(f"publishing again {time.monotonic() - killed:.3f} s after ffmpeg was killed")
    lost = next(d for _, link, d in status.entries[seen:] if link == Link.LOST)
    assert "ffmpeg exited" in lost
    assert chamber.encoder_pid not in (None, pgid)
    assert not group_alive(pgid)
    # the same publisher: media through it flows again
    assert set(await participants(spy)) == {str(FEED_ID)}
    audio, video = sinks
    await forward(spy, chamber.participant, audio, video)
    await media_flows(audio, video)


@pytest.mark.parametrize("feed", [FEED_ID, None], indirect=True,
                         ids=["daemon-chosen-id", "janus-chosen-id"])
async def test_janus_restart_brings_the_feed_back_with_the_same_id(
    janus: JanusServer, feed: tuple[ChamberFeed, StatusLog], spy: JanusClient,
    sinks: tuple[Sink, Sink]
) -> None:
    chamber, status = feed
    old_pgid, old_id = chamber.encoder_pid, chamber.participant
    assert old_pgid is not None and old_id is not None
    if chamber.participant_id is not None:
        assert old_id == str(chamber.participant_id)
    seen = len(status.entries)
    janus.kill()
    await until(lambda: chamber.link != Link.CONNECTED, 3.0)
    janus.start()
    back = time.monotonic()
    await make_room(janus)
    await until(lambda: chamber.link == Link.CONNECTED, RESTART_LIMIT)
    print(f"publishing again {time.monotonic() - back:.3f} s after Janus was back")
    assert Link.LOST in status.links()[seen:]
    assert not group_alive(old_pgid)  # the ffmpeg of the old port is gone
    assert chamber.participant == old_id
    client = await JanusClient.connect(janus.url, lambda m: None)
    try:
        people = await participants(client)
        assert set(people) == {old_id} and people[old_id].display == "Chamber"
        audio, video = sinks
        await forward(client, chamber.participant, audio, video)
        await media_flows(audio, video)
    finally:
        await client.close()


async def test_stop_leaves_nothing_behind(
    janus: JanusServer, spy: JanusClient, ffmpeg: str
) -> None:
    status = StatusLog()
    chamber = ChamberFeed(janus.url, ROOM, SECRET, INPUT, participant_id=FEED_ID,
                          ffmpeg=ffmpeg, on_status=status)
    await chamber.start()
    try:
        await until(lambda: chamber.link == Link.CONNECTED, UP_LIMIT)
        pgid = chamber.encoder_pid
        assert pgid is not None and group_alive(pgid)
        assert str(FEED_ID) in await participants(spy)
    finally:
        started = time.monotonic()
        await chamber.stop()
    print(f"stop() took {time.monotonic() - started:.3f} s")
    assert not group_alive(pgid)
    assert await participants(spy) == {}
    assert status.entries[-1][1:] == (Link.CLOSED, "stopped")
    assert chamber.encoder_pid is None
    assert not [t for t in asyncio.all_tasks() if t.get_name().startswith("chamber")]
    await chamber.stop()  # twice is harmless


async def test_missing_ffmpeg_is_reported_without_spinning(
    janus: JanusServer, spy: JanusClient
) -> None:
    status = StatusLog()
    chamber = ChamberFeed(janus.url, ROOM, SECRET, INPUT, participant_id=FEED_ID,
                          ffmpeg="/nonexistent/ffmpeg", on_status=status)
    await chamber.start()
    try:
        await until(lambda: chamber.link == Link.LOST, 3.0)
        assert "ffmpeg not found" in chamber.detail and "/nonexistent/ffmpeg" in chamber.detail
        # an observation window, not synchronisation: count attempts over MISSING_WINDOW
        await asyncio.sleep(MISSING_WINDOW)
        print(f"attempts in {MISSING_WINDOW} s without ffmpeg: {chamber.attempts}")
        assert chamber.attempts == 1
        assert chamber.encoder_starts == 0
        assert Link.CONNECTED not in status.links()
        assert await participants(spy) == {}  # no silent, empty feed in the room
    finally:
        await chamber.stop()


async def test_wrong_secret_is_reported_without_spinning(
    janus: JanusServer, spy: JanusClient, ffmpeg: str
) -> None:
    chamber = ChamberFeed(janus.url, ROOM, "not-the-secret", INPUT, participant_id=FEED_ID,
                          ffmpeg=ffmpeg)
    await chamber.start()
    try:
        await until(lambda: chamber.link == Link.LOST, 3.0)
        assert "wrong room secret" in chamber.detail
        await asyncio.sleep(MISSING_WINDOW)  # observation window, as above
        assert chamber.attempts == 1 and chamber.encoder_starts == 0
    finally:
        await chamber.stop()
