"""What a join page may say to Janus's AudioBridge: the proxy's policy, pure (text in → out).

The page's microphone goes to the hybrid-audio AudioBridge room over its own proxied Janus
connection (the camera stays on the video room's, councild.join.gate). On this connection the
page may attach only the AudioBridge, join only the configured room, once, *as its own
councillor*: councild sets the display (the councillor's name), the participant id (the same
id it chose for the page's video-room publisher, so one claim identifies both), the group
("remote": never "chamber") and `muted: true` — the floor unmutes, councild is the room's
admin. A `configure` may carry the page's SDP offer and codec tuning, never a change of
mute, display or group. Every admin or foreign request is refused before it reaches Janus:
mute/unmute (of anyone), mute_room, kick, rtp_forward and friends, create/edit/destroy,
listparticipants, changeroom, play_file, recording, a join in any group but "remote"
(joining as the chamber), and a join with an `rtp` object (which would make Janus send the
room's audio to an address of the page's choice).
"""

from __future__ import annotations

from typing import Any

from councild.join.gate import PluginGate

__all__ = ["AUDIOBRIDGE", "AudioBridgeGate"]

AUDIOBRIDGE = "janus.plugin.audiobridge"
GROUP = "remote"
# What a participant's own join/configure may tune; everything else is councild's.
JOIN_KEYS = frozenset({"request", "room", "bitrate", "quality", "expected_loss", "prebuffer"})
CONFIGURE_KEYS = frozenset({"request", "bitrate", "quality", "expected_loss", "prebuffer"})
ALLOWED_REQUESTS = frozenset({"join", "configure", "leave"})


class AudioBridgeGate(PluginGate):
    """A page's AudioBridge connection: its microphone, as its own councillor, muted."""

    PLUGIN = AUDIOBRIDGE

    def _body(self, body: dict[str, Any]) -> dict[str, Any] | str:
        request = body.get("request")
        if not isinstance(request, str) or request not in ALLOWED_REQUESTS:
            return f"audiobridge request {request!r} not allowed"
        if request == "join":
            if body.get("room") != self.room:
                return f"room {body.get('room')!r} not allowed"
            if "rtp" in body:
                return "plain-RTP join not allowed"
            if body.get("group", GROUP) != GROUP:
                return f"group {body.get('group')!r} not allowed (joining as the chamber?)"
            if self._joined:
                return "this page has joined already"
            self._joined = True
            out = {k: v for k, v in body.items() if k in JOIN_KEYS}
            out.update(display=self.display, id=self.participant_id, group=GROUP, muted=True)
            return out
        if request == "configure":
            if body.get("muted") is False:
                return "unmuting is the floor's, not the page's"
            return {k: v for k, v in body.items() if k in CONFIGURE_KEYS}
        return {"request": "leave"}
