"""What the two Janus room drivers share: the VideoRoom (devices/videoroom.py) and the
AudioBridge (devices/audiobridge.py) keep one room each in the same way.

- `room_session`: one Janus session around the driver's plugin handle: connect and attach,
  end the link when Janus expires the session, and turn a refused room secret anywhere in
  the session into an AuthenticationError (which the supervisor retries slowly).
- `ensure_room`: the room exists afterwards (created when the driver may), and a configured
  secret is checked at once, not at the first mute in the middle of a session.
- `RosterRace`: events seen while the driver joins and lists the room win over the list.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from typing import Any, TypeVar

from councild.errors import AuthenticationError, ConnectionLostError
from councild.sansio import Malformed
from devices.janus_client import JanusClient
from devices.janus_protocol import (
    JanusMessage,
    JanusRemoteError,
    JanusRequestError,
    JanusTimeout,
    Success,
)

__all__ = ["RosterRace", "ensure_room", "room_session"]

P = TypeVar("P")


@contextlib.asynccontextmanager
async def room_session(url: str, plugin: str, on_message: Callable[[JanusMessage], None], *,
                       malformed: Callable[[str, Exception], None], seen: Callable[[], None],
                       room: str, secret_env: str) -> AsyncIterator[JanusClient]:
    """A client attached to `plugin`, closed when the body ends. `room` names the room in
    messages ("room 1234"); `malformed` and `seen` are the driver's LinkReporter counters."""

    def deliver(msg: JanusMessage) -> None:
        if isinstance(msg, JanusTimeout):
            # raised inside the reader: ends this link, the driver's supervisor reconnects
            raise ConnectionLostError(f"Janus ended our session ({msg.janus})")
        on_message(msg)

    def bad(event: Malformed) -> None:
        malformed(event.what, JanusRemoteError(event.detail))

    client = await JanusClient.connect(url, deliver, on_malformed=bad, on_seen=seen,
                                       plugin=plugin)
    try:
        yield client
    except JanusRequestError as exc:
        if exc.unauthorized:
            raise AuthenticationError(
                f"wrong room secret for {room} "
                f"(${secret_env}; Janus error {exc.code}: {exc.reason})") from exc
        raise
    finally:
        await client.close()


async def ensure_room(client: JanusClient, room: int, secret: str | None, *,
                      create: Mapping[str, Any] | None, exists_code: int, what: str) -> None:
    """Make sure `room` exists: `create` is the request that creates it (None: the driver may
    not, and a missing room ends the link); `exists_code` is the plugin's "room exists"
    error, which means someone else created it since we asked (fine)."""
    exists = await client.plugin({"request": "exists", "room": room})
    data = exists.room.data if isinstance(exists, Success) and exists.room else {}
    if not data.get("exists"):
        if create is None:
            raise ConnectionLostError(f"{what} does not exist at Janus")
        try:
            await client.plugin(create)
        except JanusRequestError as exc:
            if exc.code != exists_code:
                raise
    if secret is not None:
        # A request that needs the secret and changes nothing: a wrong secret shows now,
        # not at the first mute in the middle of a session.
        await client.plugin({"request": "listforwarders", "room": room, "secret": secret})


class RosterRace:
    """Participants announced (or gone) by events while a driver joins and lists its room:
    Janus answers listparticipants from its own thread, so its list can be older than an
    event that reached us first. Those events win over the list."""

    def __init__(self) -> None:
        self._announced: set[str] | None = None  # None: not joining
        self._gone: set[str] | None = None

    @contextlib.contextmanager
    def joining(self) -> Iterator[None]:
        """From before the join until the list has been settled."""
        self._announced, self._gone = set(), set()
        try:
            yield
        finally:
            self._announced = self._gone = None

    def announced(self, pid: str) -> None:
        """An event said `pid` is in the room."""
        if self._announced is not None and self._gone is not None:
            self._announced.add(pid)
            self._gone.discard(pid)

    def left(self, pid: str) -> None:
        """An event said `pid` left the room."""
        if self._gone is not None:
            self._gone.add(pid)

    def settle(self, listed: Mapping[str, P], roster: Mapping[str, P]
               ) -> tuple[dict[str, P], list[str]]:
        """The room as the list says (without those seen leaving, with those seen arriving
        after Janus made it), and who of the roster is no longer in it."""
        gone, announced = self._gone or set(), self._announced or set()
        fresh = {pid: p for pid, p in listed.items() if pid not in gone}
        for pid in announced - fresh.keys():
            if pid in roster:  # joined after Janus made the list: still here
                fresh[pid] = roster[pid]
        return fresh, [pid for pid in roster if pid not in fresh]
