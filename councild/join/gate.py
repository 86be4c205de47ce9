"""What a join page may say to Janus: the proxy's policy, pure (text in → text out).

The page talks Janus's JSON protocol through councild, never to Janus directly. Each browser
message is checked here: only what a councillor's page needs passes (create a session, attach
the VideoRoom, join the configured room, publish, subscribe, trickle, keepalive, leave).
Moderation, forwarding, room administration, recording and anything naming a secret are
refused with a Janus-style error that never reaches Janus. A publisher join gets the
councillor's configured display name and an id councild chose, so the daemon knows who the
participant is before Janus announces it, and no token ever appears in the room.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

__all__ = ["Forward", "JanusGate", "PluginGate", "Refuse", "from_janus"]

VIDEOROOM = "janus.plugin.videoroom"
# Janus requests (the "janus" field) a page needs; "info" and "ping" are harmless but unused.
ALLOWED_VERBS = frozenset({"create", "attach", "message", "trickle", "keepalive", "detach",
                           "hangup", "destroy"})
# VideoRoom requests a participant uses; everything else is administration or moderation.
ALLOWED_REQUESTS = frozenset({"join", "joinandconfigure", "configure", "publish", "unpublish",
                              "start", "pause", "leave", "switch"})
# Never from a browser: credentials, recording to the server's disk, forged identity.
STRIPPED_TOP = ("apisecret", "token", "admin_secret")
STRIPPED_BODY = ("secret", "pin", "token", "admin_key", "record", "filename", "new_secret",
                 "new_pin")
NOT_ALLOWED = 403  # the proxy's own code: outside Janus's 4xx range for plugin errors
# What Janus says about participants that another participant may have chosen: a display is
# replaced by the one councild knows for that id (never the raw one, which could carry
# anything, a token included), free texts are dropped.
DISPLAY_KEYS = {"display": "id", "feed_display": "feed_id"}
DROPPED_KEYS = ("description", "descriptions", "feed_description", "metadata")
MAX_DEPTH = 16  # Janus's messages are a few levels deep


def from_janus(text: str | bytes, display_of: Callable[[str], str]) -> str | None:
    """A Janus message for the page with every participant's display replaced by
    `display_of(participant id)` and free texts removed; None for one that is not JSON or
    nested deeper than Janus ever nests (it is not passed on)."""
    try:
        msg = json.loads(text)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return None
    stack: list[tuple[Any, int]] = [(msg, 0)]
    while stack:
        item, depth = stack.pop()
        if depth > MAX_DEPTH:
            return None
        if isinstance(item, dict):
            for key, id_key in DISPLAY_KEYS.items():
                if key in item:
                    item[key] = display_of(str(item.get(id_key)))
            for key in DROPPED_KEYS:
                item.pop(key, None)
            stack.extend((v, depth + 1) for v in item.values() if isinstance(v, dict | list))
        elif isinstance(item, list):
            stack.extend((v, depth + 1) for v in item if isinstance(v, dict | list))
    return json.dumps(msg, separators=(",", ":"), ensure_ascii=False)


@dataclass(frozen=True, slots=True)
class Forward:
    text: str  # what goes on to Janus


@dataclass(frozen=True, slots=True)
class Refuse:
    text: str  # the Janus-style error that goes back to the page
    reason: str  # for the log


class PluginGate(ABC):
    """One page's connection to one Janus plugin: the envelope checks every gate shares (JSON
    object, allowed verbs, no credentials, no chosen session ids, only this gate's plugin);
    a subclass names its plugin and checks, and may rewrite, each message body."""

    PLUGIN: ClassVar[str]

    def __init__(self, room: int, display: str, participant_id: int) -> None:
        self.room = room
        self.display = display
        self.participant_id = participant_id
        self.refused = 0
        self._joined = False  # a page joins its room once

    def from_browser(self, text: str | bytes) -> Forward | Refuse:
        try:
            msg = json.loads(text)
        except (ValueError, UnicodeDecodeError):
            return self._refuse(None, "not JSON")
        if not isinstance(msg, dict):
            return self._refuse(None, "not a JSON object")
        tx = msg.get("transaction")
        tx = tx if isinstance(tx, str) else None
        verb = msg.get("janus")
        if not isinstance(verb, str) or verb not in ALLOWED_VERBS:
            return self._refuse(tx, f"request {verb!r} not allowed")
        for key in STRIPPED_TOP:
            msg.pop(key, None)
        if verb == "create":
            msg.pop("id", None)  # a page does not choose (or guess) session ids
        elif verb == "attach":
            if msg.get("plugin") != self.PLUGIN:
                return self._refuse(tx, f"plugin {msg.get('plugin')!r} not allowed")
            msg.pop("opaque_id", None)
        elif verb == "message":
            body = msg.get("body")
            if not isinstance(body, dict):
                return self._refuse(tx, "message without a body")
            checked = self._body(body)
            if isinstance(checked, str):
                return self._refuse(tx, checked)
            msg["body"] = checked
        return Forward(json.dumps(msg, separators=(",", ":"), ensure_ascii=False))

    @abstractmethod
    def _body(self, body: dict[str, Any]) -> dict[str, Any] | str:
        """The body to forward, or why it is refused."""

    def _refuse(self, tx: str | None, reason: str) -> Refuse:
        self.refused += 1
        reply: dict[str, Any] = {"janus": "error",
                                 "error": {"code": NOT_ALLOWED, "reason": "not allowed"}}
        if tx is not None:
            reply["transaction"] = tx
        return Refuse(json.dumps(reply), reason)


class JanusGate(PluginGate):
    """A page's VideoRoom connection: publish its camera as the councillor, subscribe."""

    PLUGIN = VIDEOROOM

    def _body(self, body: dict[str, Any]) -> dict[str, Any] | str:
        request = body.get("request")
        if not isinstance(request, str) or request not in ALLOWED_REQUESTS:
            return f"videoroom request {request!r} not allowed"
        for key in STRIPPED_BODY:
            body.pop(key, None)
        if request in ("join", "joinandconfigure"):
            if body.get("room") != self.room:
                return f"room {body.get('room')!r} not allowed"
            ptype = body.get("ptype")
            if ptype == "publisher":
                if self._joined:
                    return "this page has joined already"
                self._joined = True
                body["display"] = self.display
                body["id"] = self.participant_id
            elif ptype != "subscriber":
                return f"ptype {ptype!r} not allowed"
        elif request in ("configure", "publish"):
            body.pop("display", None)  # the councillor's name is not the page's to change
            body.pop("descriptions", None)  # per-stream texts are shown to the room as well
        return body
