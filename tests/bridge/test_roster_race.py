"""The roster while the driver joins: events that overtake Janus's participant list.

Janus answers `listparticipants` from the requesting session's thread, while a publisher that
joins at the same moment is announced from its own: the list can be older than a `publishers`
event that reached us first. The demo's two simulated councillors, joining while the daemon's
bridge joined, hit exactly this: one of them was dropped from the roster for good (the list
did not have them, and no later event named them again).
"""

from __future__ import annotations

from councild.model import Event, ParticipantJoined, ParticipantLeft
from devices.audiobridge import AbParticipant, AudioBridge, AudioBridgeOptions
from devices.janus_protocol import Participant
from devices.videoroom import JanusBridge


def make() -> tuple[JanusBridge, list[Event]]:
    events: list[Event] = []
    bridge = JanusBridge("bridge", JanusBridge.Options(url="ws://127.0.0.1:9", room=1),
                         events.append)
    return bridge, events


def test_a_publisher_announced_before_the_list_arrives_stays() -> None:
    bridge, events = make()
    with bridge._race.joining():  # as _setup does around its join
        bridge._upsert(Participant(id="b", display="Bob", publisher=True, audio_mids=("0",)))
        bridge._resync((Participant(id="a", display="Ann"),), ())  # the list, made before Bob
    assert set(bridge.roster) == {"a", "b"}
    assert not [e for e in events if isinstance(e, ParticipantLeft)]
    assert [e.participant for e in events if isinstance(e, ParticipantJoined)] == ["b", "a"]


def test_a_participant_gone_before_the_list_arrives_is_not_brought_back() -> None:
    bridge, _events = make()
    with bridge._race.joining():
        bridge._upsert(Participant(id="c", display="Cem"))
        bridge._leave("c")
        bridge._resync((Participant(id="a", display="Ann"), Participant(id="c", display="Cem")),
                       ())
    assert set(bridge.roster) == {"a"}


def test_outside_the_join_the_list_is_the_truth() -> None:
    bridge, _events = make()  # not joining
    bridge._upsert(Participant(id="b", display="Bob"))
    bridge._resync((Participant(id="a", display="Ann"),), ())
    assert set(bridge.roster) == {"a"}


def make_audio() -> tuple[AudioBridge, list[Event]]:
    events: list[Event] = []
    bridge = AudioBridge("audio", AudioBridgeOptions(url="ws://127.0.0.1:9", room=1),
                         events.append, chamber_rtp=lambda: ("127.0.0.1", 9))
    return bridge, events


def test_audiobridge_keeps_a_participant_announced_during_its_join() -> None:
    """The same race in the AudioBridge: a councillor lost from the roster there would never
    be unmuted when given the floor."""
    bridge, events = make_audio()
    with bridge._race.joining():  # as _setup does around its join
        bridge._upsert(AbParticipant(id="b", display="Bob", muted=True))
        bridge._resync((AbParticipant(id="a", display="Ann", muted=True),))
        assert set(bridge.roster) == {"a", "b"}
        assert not [e for e in events if isinstance(e, ParticipantLeft)]
        bridge._leave("a")
        bridge._resync((AbParticipant(id="a", display="Ann"),
                        AbParticipant(id="b", display="Bob")))
    assert set(bridge.roster) == {"b"}
