"""What the daemon's parts may ask of it: the one way in for the picture (councild/vision.py),
the remote seats (councild/bridge.py), hybrid audio (councild/hybrid_audio.py), the broadcast
(councild/broadcast_control.py) and the join page (councild/join/server.py).

The daemon implements every one of these. A part is handed the daemon as its host and finds
through it what it needs of the core and of its siblings (OBS's connection, a remote seat's
slot), instead of a callback per need or a lambda into another part. Each protocol names only
what its part uses, so a part's constructor says what it depends on.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

from councild.model import Effect, Event, SeatId

if TYPE_CHECKING:  # floor and OBS types, for the annotations only
    from councild.floor import FloorState
    from scenes.obs_client import ObsClient

__all__ = ["AudioHost", "BroadcastHost", "Host", "JoinHost", "RemoteHost", "VisionHost"]


class Host(Protocol):
    """What every part needs of the daemon."""

    @property
    def state(self) -> FloorState:
        """The floor as of now (parts read it; only `submit` changes it)."""
        ...

    def now(self) -> float:
        """The daemon's wall clock."""
        ...

    def submit(self, event: Event, source: str) -> list[Effect]:
        """A floor input, applied at once; FloorError if the floor refuses it."""
        ...

    def emit(self, event: Event) -> None:
        """A device-side event (a link's status, a camera's motion), as a driver emits it."""
        ...

    def note(self, source: str, what: dict[str, Any]) -> None:
        """One line for the event log that isn't a model event (a cut, a refusal)."""
        ...

    def changed(self) -> None:
        """Something clients see changed: the state is sent out (coalesced)."""
        ...


class RemoteHost(Host, Protocol):
    """What the remote seats need besides (councild/bridge.py)."""

    def voice(self, seat: SeatId, active: bool, source: str) -> None:
        """A seat's voice report (talking or not)."""
        ...

    def obs(self) -> ObsClient | None:
        """The director's OBS connection, where the slots' media sources are; None without."""
        ...


class VisionHost(Host, Protocol):
    """What the picture needs besides (councild/vision.py)."""

    def speech(self, seat: SeatId, active: bool) -> None:
        """The level classifier heard speech start or end at a seat (voice mode follows)."""
        ...

    def agenda_title(self) -> str | None:
        """The current agenda item's label, for the lower third."""
        ...

    def slot_scene(self, seat: SeatId) -> str | None:
        """The bridge slot scene that plays a remote seat's stream; None: no slot has it."""
        ...


class AudioHost(Host, Protocol):
    """What hybrid audio needs besides (councild/hybrid_audio.py)."""

    def voice(self, seat: SeatId, active: bool, source: str) -> None: ...

    def level(self, key: str, dbfs: float) -> None:
        """A meter for the level stream (the return channel's)."""
        ...


class BroadcastHost(Host, Protocol):
    """What the broadcast needs besides (councild/broadcast_control.py)."""

    def record(self, source: str, kind: str, type_: str, body: dict[str, Any]) -> None:
        """An entry in the session record, at wall time."""
        ...


class JoinHost(Protocol):
    """What the join server needs of the daemon: the page's own requests, answered by the
    daemon from the floor and the bridge room (a refusal as a FloorError-style code)."""

    def state_dict(self) -> dict[str, Any]: ...
    def join_floor(self, councillor: str, op: str) -> str | None: ...  # refusal code
    def join_in_room(self, councillor: str, participant: str) -> bool: ...
    def join_claim(self, participant: str, councillor: str | None) -> None: ...
    def join_display(self, participant: str) -> str: ...  # what the room may see of them
