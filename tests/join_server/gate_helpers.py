"""What the gate tests of both plugins (VideoRoom, AudioBridge) send and read back."""

from __future__ import annotations

import json

from councild.join.gate import Forward, PluginGate, Refuse


def send(g: PluginGate, msg: dict) -> Forward | Refuse:
    return g.from_browser(json.dumps(msg))


def forwarded(g: PluginGate, msg: dict) -> dict:
    verdict = send(g, msg)
    assert isinstance(verdict, Forward), verdict
    return json.loads(verdict.text)


def body_msg(body: dict, tx: str = "t1") -> dict:
    return {"janus": "message", "transaction": tx, "session_id": 1, "handle_id": 2, "body": body}
