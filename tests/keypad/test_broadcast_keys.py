"""Stream and recording keys: the key map, the API request, and a stop that asks twice."""

from __future__ import annotations

import pytest

from councild.daemon import STOP_CONFIRM_S, Daemon
from councild.keypad import BROADCAST_OPS, Broadcast, KeyMapError, action_to_api, parse_function
from tests.helpers import until


@pytest.mark.parametrize("op", BROADCAST_OPS)
def test_every_broadcast_op_is_a_key_action(op: str) -> None:
    action = parse_function(op).on_down()
    assert action == Broadcast(op=op)
    assert action_to_api(action) == {"op": op}


def test_a_broadcast_key_takes_no_seat() -> None:
    with pytest.raises(KeyMapError):
        parse_function("stream_stop:3")
    with pytest.raises(ValueError, match="not a broadcast op"):
        Broadcast(op="stream_restart")


def _types(daemon: Daemon) -> list[str]:
    return [str(e["event"].get("type")) for e in daemon.events]


async def test_a_stop_from_a_surface_needs_a_second_press(daemon: Daemon) -> None:
    # This chamber has no OBS: a carried-out stop is refused with no_obs, which is how the
    # test sees that the second press went through while the first did not.
    daemon.keypad_action(Broadcast(op="stream_stop"), "keypad")
    await until(lambda: "confirm_stop" in _types(daemon))
    assert "refused" not in _types(daemon)
    daemon.keypad_action(Broadcast(op="stream_stop"), "keypad")
    await until(lambda: "refused" in _types(daemon))
    refused = [e["event"] for e in daemon.events if e["event"].get("type") == "refused"]
    assert refused == [{"type": "refused", "op": "stream_stop", "code": "no_obs"}]
    assert STOP_CONFIRM_S == 3.0


async def test_a_start_from_a_surface_goes_at_once(daemon: Daemon) -> None:
    daemon.keypad_action(Broadcast(op="record_start"), "keypad")
    await until(lambda: "refused" in _types(daemon))
    assert "confirm_stop" not in _types(daemon)
