"""devices/capabilities.py and councild/host.py: what drivers declare, what the daemon offers."""

from __future__ import annotations

import inspect

import pytest

from councild import host
from councild.daemon import Daemon
from councild.errors import NotSupportedError
from devices.allen_heath import QuDesk, SQDesk
from devices.base import Device
from devices.capabilities import (
    ActionSurface,
    ButtonSurface,
    Camera,
    ClearRequests,
    ConferenceSystem,
    Mixer,
    NextSpeaker,
    SetChannel,
    SetMaxSpeakers,
    SetRequest,
    VideoBridge,
    carry_out,
)
from devices.conference import ConferenceUnit
from devices.keypad_evdev import EvdevKeypad
from devices.keypad_midi import MidiKeypad
from devices.keypad_streamdeck import StreamDeckKeypad
from devices.osc_control import OscControl
from devices.videoroom import JanusBridge
from devices.visca import ViscaCamera
from devices.x32 import X32Desk, XAirDesk


class Unit(Device, ConferenceSystem):
    """A unit that switches mics and knows nothing else of its ability."""

    def __init__(self) -> None:
        super().__init__("unit", Device.Options(driver="test"), lambda event: None)
        self.calls: list[tuple[int, bool]] = []

    async def _session(self) -> None:
        raise AssertionError("never connected in this test")

    async def set_channel(self, channel: int, on: bool) -> None:
        self.calls.append((channel, on))


class Desk(Device, Mixer):
    def __init__(self) -> None:
        super().__init__("desk", Device.Options(driver="test"), lambda event: None)

    async def _session(self) -> None:
        raise AssertionError("never connected in this test")


def test_drivers_declare_their_abilities() -> None:
    for desk in (X32Desk, XAirDesk, SQDesk, QuDesk):
        assert issubclass(desk, Mixer)
    assert issubclass(ConferenceUnit, ConferenceSystem)
    assert issubclass(ViscaCamera, Camera)
    for surface in (MidiKeypad, StreamDeckKeypad, OscControl):
        assert issubclass(surface, ButtonSurface)
    assert issubclass(OscControl, ActionSurface)
    assert not issubclass(EvdevKeypad, ButtonSurface)  # keys only, no lamps
    assert issubclass(JanusBridge, VideoBridge)
    assert not issubclass(X32Desk, Camera | ConferenceSystem)


async def test_a_command_reaches_the_ability_that_carries_it() -> None:
    unit = Unit()
    await carry_out(unit, SetChannel(3, True))
    assert unit.calls == [(3, True)]


@pytest.mark.parametrize("command", [SetRequest(1, True), NextSpeaker(), ClearRequests(),
                                     SetMaxSpeakers(2)])
async def test_an_ability_a_driver_lacks_is_not_supported(command: object) -> None:
    with pytest.raises(NotSupportedError):
        await carry_out(Unit(), command)  # type: ignore[arg-type]


@pytest.mark.parametrize("command", [NextSpeaker(), ClearRequests(), SetMaxSpeakers(2)])
async def test_a_desk_has_no_conference_commands(command: object) -> None:
    with pytest.raises(NotSupportedError):
        await carry_out(Desk(), command)  # type: ignore[arg-type]


def test_a_unit_runs_no_floor_unless_it_says_so() -> None:
    assert Unit().runs_floor() is False


@pytest.mark.parametrize("protocol", [host.Host, host.RemoteHost, host.VisionHost,
                                      host.AudioHost, host.BroadcastHost, host.JoinHost])
def test_the_daemon_is_every_part_s_host(protocol: type) -> None:
    members = {name for klass in protocol.__mro__ if klass.__module__ == host.__name__
               for name in vars(klass) if not name.startswith("_")}
    assert members
    for name in members - {"state"}:  # the floor state is an attribute of the instance
        assert callable(getattr(Daemon, name, None)), name
        wanted = inspect.signature(getattr(protocol, name)).parameters
        offered = inspect.signature(getattr(Daemon, name)).parameters
        assert len(wanted) == len(offered), name
