"""What the daemon does when a desk or conference unit is (re)connected: the second half of
the one rule whose first half is devices/base.py's StatefulDevice.

    connect → full state read → CONNECTED → push (councild leads) or mirror replace

The driver reports CONNECTED only once it has read the device's whole state (its
`snapshot()`); channel events it emitted while reading are not floor inputs. Then, by the
device's role:

- **lead** (`follow_floor`, not a master CU): the floor is the truth; every seat's channel is
  switched to what the floor says, and a request list the device keeps is made the floor's.
- **master** (a CU with `master = "cu"`): the device runs the floor; its state replaces
  councild's for the device's seats — speakers it does not have are removed, its requests
  and its limit are taken over (one `Mirror` floor input).
- **mirror** (`follow_floor = false`): councild follows the device's switches; open and close
  what differs, within the floor's rules (MicOpened / MicClosed).

Pure: state and snapshot in, calls and floor inputs out; the daemon executes them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from councild.floor import FloorState
from councild.model import Event, MicClosed, MicOpened, Mirror, SeatId
from devices.base import Snapshot
from devices.capabilities import DeviceCommand, SetChannel, SetRequest


class Role(StrEnum):
    LEAD = "lead"
    MASTER = "master"
    MIRROR = "mirror"


@dataclass(frozen=True, slots=True)
class Plan:
    calls: list[DeviceCommand] = field(default_factory=list)  # onto the device's queue
    inputs: list[Event] = field(default_factory=list)


def on_connect(role: Role, seats: Mapping[int, SeatId], snapshot: Snapshot | None,
               state: FloorState) -> Plan:
    """What to do now that the device (channel → seat: `seats`) is connected."""
    by_seat = {seat: channel for channel, seat in seats.items()}
    if role is Role.LEAD:
        calls: list[DeviceCommand] = [SetChannel(ch, state.speaking(seat))
                                      for ch, seat in sorted(seats.items())]
        if snapshot is not None and snapshot.requests is not None:
            queued = [w.seat for w in (*state.reply_queue, *state.queue) if w.seat in by_seat]
            held = set(snapshot.requests)
            calls += [SetRequest(ch, False) for ch in snapshot.requests
                      if ch in seats and not state.queued(seats[ch])]
            calls += [SetRequest(by_seat[s], True) for s in queued
                      if by_seat[s] not in held]
        return Plan(calls=calls)
    if snapshot is None:
        return Plan()  # nothing was read: nothing to take over
    if role is Role.MASTER:
        return Plan(inputs=[mirror(seats, snapshot)])
    inputs: list[Event] = []
    for ch, seat in sorted(seats.items()):
        on = ch in snapshot.on
        if on and not state.speaking(seat):
            inputs.append(MicOpened(seat=seat))
        elif not on and state.speaking(seat):
            inputs.append(MicClosed(seat=seat))
    return Plan(inputs=inputs)


def mirror(seats: Mapping[int, SeatId], snapshot: Snapshot,
           only: tuple[int, ...] | None = None) -> Mirror:
    """The floor input that makes the device's seats (or `only` these channels) what the
    device holds; speakers in the device's order is not known, so in channel order."""
    channels = sorted(seats) if only is None else [c for c in only if c in seats]
    chosen = set(channels)
    requests = snapshot.requests or ()
    return Mirror(
        seats=tuple(seats[c] for c in channels),
        speakers=tuple(seats[c] for c in sorted(snapshot.on) if c in chosen),
        requests=tuple(seats[c] for c in requests if c in chosen),
        max_open=snapshot.limit,
    )
