"""devices.audiobridge.AudioBridge against a real Janus: the room verified, a wrong secret
and a missing room reported, the roster and admin mutes as Janus announces them."""

from __future__ import annotations

import pytest

from councild.model import DeviceStatus, Event, ParticipantJoined, ParticipantLeft
from devices.audiobridge import (
    AUDIOBRIDGE,
    AudioBridge,
    AudioBridgeOptions,
    create_request,
    join_request,
)
from devices.janus_client import JanusClient
from tests.helpers import until

pytestmark = pytest.mark.timeout(30)

ROOM = 7171
ENV = "COUNCILD_TEST_AB_DRIVER_SECRET"


def driver(url: str, events: list[Event], **options: object) -> AudioBridge:
    return AudioBridge("audiobridge", AudioBridgeOptions(url=url, room=ROOM, secret_env=ENV,
                                                         **options),  # type: ignore[arg-type]
                       events.append, chamber_rtp=lambda: ("127.0.0.1", 9))


def statuses(events: list[Event]) -> list[DeviceStatus]:
    return [e for e in events if isinstance(e, DeviceStatus)]


async def test_wrong_secret_is_reported_and_not_hammered(janus, monkeypatch) -> None:
    other = await JanusClient.connect(janus.url, lambda m: None, plugin=AUDIOBRIDGE)
    try:
        await other.plugin(create_request(ROOM, "the-real-secret"))
        monkeypatch.setenv(ENV, "a-wrong-secret")
        events: list[Event] = []
        bridge = driver(janus.url, events)
        await bridge.start()
        try:
            await until(lambda: any(s.link.value == "lost" and "wrong room secret" in s.detail
                                    for s in statuses(events)), 10)
            assert bridge.joins == 0  # never joined the room as the chamber
        finally:
            await bridge.stop()
    finally:
        await other.close()


async def test_missing_room_without_create_room(janus, monkeypatch) -> None:
    monkeypatch.setenv(ENV, "s")
    events: list[Event] = []
    bridge = driver(janus.url, events, create_room=False)
    await bridge.start()
    try:
        await until(lambda: any("does not exist" in s.detail for s in statuses(events)), 10)
    finally:
        await bridge.stop()


async def test_roster_and_admin_mute(janus, monkeypatch) -> None:
    monkeypatch.setenv(ENV, "s3cret")
    events: list[Event] = []
    changes: list[str | None] = []
    bridge = AudioBridge("audiobridge", AudioBridgeOptions(url=janus.url, room=ROOM,
                                                           secret_env=ENV),
                         events.append, chamber_rtp=lambda: ("127.0.0.1", 9),
                         on_change=changes.append)
    await bridge.start()
    guest = await JanusClient.connect(janus.url, lambda m: None, plugin=AUDIOBRIDGE)
    try:
        await until(lambda: bridge.connected, 10)
        joined = await guest.plugin(join_request(ROOM, display="Anna", group="remote",
                                                 muted=True), until_event=True)
        pid = str(joined.room.data["id"])  # type: ignore[union-attr]
        await until(lambda: pid in bridge.roster, 5)
        assert ParticipantJoined(device="audiobridge", participant=pid, display="Anna") in events
        assert bridge.roster[pid].muted
        await bridge.mute(pid, False)
        await until(lambda: not bridge.roster[pid].muted, 5)
        await guest.plugin({"request": "configure", "muted": True}, until_event=True)
        await until(lambda: bridge.roster[pid].muted and changes.count(pid) >= 2, 5)
        await guest.plugin({"request": "leave"}, until_event=True)
        await until(lambda: ParticipantLeft(device="audiobridge", participant=pid) in events, 5)
    finally:
        await guest.close()
        await bridge.stop()
