"""The device tables proposed for config.toml validate through the real config parser, and the
daemon starts the keypad drivers and shows their links (registry entries added here with
monkeypatch, as the lead will add them to devices/__init__.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from councild.config import parse
from councild.daemon import Daemon
from councild.errors import ConfigError
from councild.model import Link
from devices import DRIVERS
from devices.keypad_evdev import EvdevOptions
from devices.keypad_midi import MidiKeypadOptions
from devices.keypad_serial import SerialKeypadOptions
from devices.keypad_streamdeck import StreamDeckOptions
from devices.osc_control import OscControlOptions
from devices.sim.keypad import ButtonBoxSimulator
from tests.chamber import chamber_toml
from tests.helpers import until

REGISTRY = {
    "evdev": "devices.keypad_evdev:EvdevKeypad",
    "midi": "devices.keypad_midi:MidiKeypad",
    "streamdeck": "devices.keypad_streamdeck:StreamDeckKeypad",
    "keypad_serial": "devices.keypad_serial:SerialKeypad",
    "osc_control": "devices.osc_control:OscControl",
}

EXAMPLES = """
[keypad]
entry_timeout = 4.0
keys = { KEY_KPPLUS = "next", KEY_KPMINUS = "revoke" }

[devices.numpad]
driver = "evdev"
name = "CX 2.4G Receiver"
keys = { KEY_KPSLASH = "lock", KEY_KPASTERISK = "priority" }

[devices.pads]
driver = "midi"
port = "APC MINI"
keys = { note56 = "next", note57 = "priority", note0 = "grant:1" }
leds = { "1" = 0, "2" = 1 }

[devices.deck]
driver = "streamdeck"
keys = { key0 = "grant:1", key1 = "grant:2", key4 = "next", key14 = "priority" }
labels = { "1" = "Müller" }

[devices.box]
driver = "keypad_serial"
path = "/dev/serial/by-id/usb-councild-box"

[devices.companion]
driver = "osc_control"
port = 9000
allow = ["127.0.0.1", "192.168.10.0/24"]
feedback = "127.0.0.1:12321"
"""


@pytest.fixture
def registered(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, target in REGISTRY.items():
        monkeypatch.setitem(DRIVERS, name, target)


@pytest.mark.usefixtures("registered")
def test_the_proposed_tables_validate() -> None:
    config = parse(chamber_toml(extra=EXAMPLES))
    opts = config.device_options
    assert isinstance(opts["numpad"], EvdevOptions)
    assert isinstance(opts["pads"], MidiKeypadOptions)
    assert opts["pads"].leds == {"1": 0, "2": 1}
    assert isinstance(opts["deck"], StreamDeckOptions)
    assert isinstance(opts["box"], SerialKeypadOptions)
    assert isinstance(opts["companion"], OscControlOptions)
    assert config.keypad.keys["KEY_KPPLUS"] == "next"


@pytest.mark.usefixtures("registered")
def test_a_bad_action_is_a_config_error_naming_the_key() -> None:
    bad = '[devices.box]\ndriver = "keypad_serial"\npath = "/dev/x"\nkeys = { A = "explode" }\n'
    with pytest.raises(ConfigError, match=r"devices\.box\.keys.*explode"):
        parse(chamber_toml(extra=bad))


@pytest.mark.usefixtures("registered")
async def test_the_daemon_runs_keypad_drivers(short_tmp: Path, tmp_path: Path) -> None:
    async with ButtonBoxSimulator(link=str(tmp_path / "ttyBOX")) as box:
        extra = (f'[devices.box]\ndriver = "keypad_serial"\npath = "{box.path}"\n'
                 '[devices.companion]\ndriver = "osc_control"\nport = 0\n')
        daemon = Daemon(parse(chamber_toml(extra=extra)), store_path=short_tmp / "s.db",
                        socket_path=short_tmp / "api.sock")
        await daemon.start()
        try:
            await until(lambda: all(daemon.device_views[n].link is Link.CONNECTED
                                    for n in ("box", "companion")))
            state = daemon.state_dict()
            assert state["devices"]["box"]["driver"] == "keypad_serial"
            assert state["devices"]["companion"]["detail"].startswith("udp://127.0.0.1:")
        finally:
            await daemon.stop()


def test_a_bad_action_in_the_keypad_table_names_the_key() -> None:
    bad = '[keypad]\nkeys = { KEY_KP5 = "explode" }\n'
    with pytest.raises(ConfigError, match=r"keypad\.keys.*KEY_KP5.*explode"):
        parse(chamber_toml(extra=bad))
