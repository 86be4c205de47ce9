"""Device drivers: desks, conference systems, cameras, keypads and the video bridge.

`DRIVERS` maps the `driver` name used in config.toml to the class implementing it. Modules
are imported only when a configuration names them.
"""

from __future__ import annotations

import importlib

from devices.base import Device

DRIVERS: dict[str, str] = {
    "x32": "devices.x32:X32Desk",
    "xair": "devices.x32:XAirDesk",
    "sq": "devices.allen_heath:SQDesk",
    "qu": "devices.allen_heath:QuDesk",
    "dcs": "devices.conference:ConferenceUnit",
    "visca": "devices.visca:ViscaCamera",
    "evdev": "devices.keypad_evdev:EvdevKeypad",
    "midi": "devices.keypad_midi:MidiKeypad",
    "streamdeck": "devices.keypad_streamdeck:StreamDeckKeypad",
    "keypad_serial": "devices.keypad_serial:SerialKeypad",
    "osc_control": "devices.osc_control:OscControl",
    "janus": "devices.videoroom:JanusBridge",
}


def driver_class(name: str) -> type[Device]:
    """The class for a driver name; KeyError for an unknown one, ImportError if not built."""
    module_name, _, class_name = DRIVERS[name].partition(":")
    cls: type[Device] = getattr(importlib.import_module(module_name), class_name)
    return cls
