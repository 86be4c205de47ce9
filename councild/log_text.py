"""Event-log entries (the daemon's `log` messages, docs/api.md) as the technician's sentences.

An entry keeps its machine-readable fields in the API (`event`, `effects`); this module only
says them, in the catalog's language, with seat label and councillor: "17 Heike Krüger asks
to speak", "Floor to 05 Petra Wagner (next)", "Stream reconnecting: 3 attempts". `seats`
maps seat ids to the API state's seat objects (label, name); a seat it does not know is
named by its id. An entry of a kind this module does not know (a newer daemon) is shown
with its fields, never dropped.

Pure: dicts in, a string out.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from councild.broadcast_text import alarm_text
from councild.i18n import N_, _

__all__ = ["fields_text", "sentence"]

Seats = Mapping[str, Mapping[str, Any]]

MODE_NAMES = {"open": N_("open"), "request": N_("request"), "override": N_("override"),
              "voice": N_("voice")}
LINK_SENTENCES = {
    "connected": N_("{device} connected"),
    "connecting": N_("{device} connecting"),
    "reconnecting": N_("{device} reconnecting"),
    "lost": N_("{device} lost"),
    "closed": N_("{device} closed"),
}
STREAM_STATES = {
    "starting": N_("Stream starting"),
    "started": N_("Stream live"),
    "stopping": N_("Stream stopping"),
    "stopped": N_("Stream stopped"),
    "reconnecting": N_("Stream connection lost, reconnecting"),
    "reconnected": N_("Stream reconnected"),
}
RECORD_STATES = {
    "starting": N_("Recording starting"),
    "started": N_("Recording started"),
    "stopping": N_("Recording stopping"),
    "stopped": N_("Recording stopped"),
    "paused": N_("Recording paused"),
    "resumed": N_("Recording resumed"),
}
COMMANDS = {
    "stream_start": N_("Stream start asked for"),
    "stream_stop": N_("Stream stop asked for"),
    "record_start": N_("Recording start asked for"),
    "record_stop": N_("Recording stop asked for"),
    "record_pause": N_("Recording pause asked for"),
    "record_resume": N_("Recording resume asked for"),
    "release": N_("Program back to the director"),
    "wide": N_("Wide shot asked for"),
}


def fields_text(item: Any) -> str:
    """The fallback: `Type key=value ...`; "–" for nothing."""
    if not isinstance(item, dict):
        return "–" if item is None else str(item)
    args = " ".join(f"{k}={v}" for k, v in item.items() if k != "type" and v is not None)
    return f"{item.get('type', '?')} {args}".strip()


def who(seats: Seats, seat: Any) -> str:
    """`05 Petra Wagner`: the seat's label and its councillor."""
    sid = str(seat)
    info = seats.get(sid) or {}
    label = str(info.get("label") or sid)
    name = str(info.get("name") or "")
    return f"{label} {name}".strip()


def _effects(entry: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    effects = entry.get("effects")
    return [e for e in effects if isinstance(e, dict)] if isinstance(effects, list) else []


def _opened(effects: list[Mapping[str, Any]], seats: Seats) -> list[str]:
    return [who(seats, e.get("seat")) for e in effects if e.get("type") == "OpenMic"]


def _closed(effects: list[Mapping[str, Any]], seats: Seats) -> list[str]:
    return [who(seats, e.get("seat")) for e in effects if e.get("type") == "CloseMic"]


def _effect_sentence(effect: Mapping[str, Any], seats: Seats,
                     agenda: Mapping[str, str]) -> str | None:
    kind = effect.get("type")
    if kind == "SpeakingTimeWarning":
        seconds = effect.get("remaining")
        return _("{who}: {s:.0f} s of speaking time left").format(
            who=who(seats, effect.get("seat")),
            s=float(seconds) if isinstance(seconds, int | float) else 0.0)
    if kind == "SpeakingTimeOver":
        text = (_("{who}: speaking time over, mic closed") if effect.get("closed")
                else _("{who}: speaking time over"))
        return text.format(who=who(seats, effect.get("seat")))
    if kind == "AgendaChanged":
        item = str(effect.get("item", ""))
        title = agenda.get(item)
        return _("Agenda item {item}").format(item=f"{item} {title}" if title else item)
    return None


def _floor_sentence(event: Mapping[str, Any], effects: list[Mapping[str, Any]],
                    seats: Seats) -> str | None:
    kind = event.get("type")
    seat = event.get("seat")
    opened = _opened(effects, seats)
    closed = _closed(effects, seats)
    if kind == "Request":
        text = _("{who} asks to reply") if event.get("reply") else _("{who} asks to speak")
        out = text.format(who=who(seats, seat))
        if opened:
            out += " · " + _("Floor to {who}").format(who=", ".join(opened))
        return out
    if kind == "Cancel":
        return _("{who} withdraws the request").format(who=who(seats, seat))
    if kind == "Press":
        if opened:
            return _("Floor to {who}").format(who=", ".join(opened))
        return _("{who} pressed the mic button").format(who=who(seats, seat))
    if kind == "Grant":
        return _("Floor to {who}").format(who=who(seats, seat))
    if kind == "Next":
        if opened:
            return _("Floor to {who} (next)").format(who=", ".join(opened))
        return _("Next: nobody waiting") if not closed else _("Mic closed: {who}").format(
            who=", ".join(closed))
    if kind == "Revoke":
        return _("Mic closed: {who}").format(who=who(seats, seat))
    if kind == "RevokeAll":
        return _("Every delegate mic closed")
    if kind == "Clear":
        return _("Request queues cleared")
    if kind == "Priority":
        return _("Chair priority on") if event.get("on") else _("Chair priority off")
    if kind == "SetMode":
        mode = str(event.get("mode", ""))
        return _("Discussion mode: {mode}").format(
            mode=_(MODE_NAMES[mode]) if mode in MODE_NAMES else mode)
    if kind == "SetMaxOpen":
        return _("At most {n} open delegate mics").format(n=event.get("value"))
    if kind == "MicOpened":
        return _("Mic on: {who}").format(who=who(seats, seat))
    if kind == "MicClosed":
        return _("Mic off: {who}").format(who=who(seats, seat))
    if kind == "Voice":
        text = _("{who} speaks") if event.get("active") else _("{who} silent")
        return text.format(who=who(seats, seat))
    return None


def _device_sentence(event: Mapping[str, Any]) -> str | None:
    kind = event.get("type")
    if kind == "DeviceStatus":
        device = str(event.get("device", "?"))
        link = str(event.get("link", ""))
        text = _(LINK_SENTENCES[link]).format(device=device) if link in LINK_SENTENCES \
            else f"{device} {link}"
        detail = event.get("detail")
        return f"{text}: {detail}" if detail else text
    if kind == "CameraMotion":
        device, preset = event.get("device", "?"), event.get("preset")
        if event.get("ok", True):
            return _("Camera {camera} at preset {preset}").format(camera=device, preset=preset)
        return _("Camera {camera}: preset {preset} failed").format(camera=device, preset=preset)
    return None


def _director_sentence(event: Mapping[str, Any], seats: Seats) -> str | None:
    kind = str(event.get("type", ""))
    if kind == "Cut":
        out = _("Cut to {scene}").format(scene=event.get("scene") or event.get("shot"))
        return f"{out} ({event['detail']})" if event.get("detail") else out
    if kind == "force":
        target = who(seats, event["seat"]) if "seat" in event else event.get("shot")
        return _("Shot forced: {target}").format(target=target)
    if kind == "lock":
        return _("Program locked") if event.get("on") else _("Program unlocked")
    if kind in ("release", "wide"):
        return _(COMMANDS[kind])
    if kind == "mute_remote":
        return _("Remote councillors muted") if event.get("on") else _(
            "Remote councillors unmuted")
    if kind == "refused":
        why = event.get("message") or event.get("code") or ""
        return _("{op} refused: {why}").format(op=event.get("op", "?"), why=why)
    if kind.startswith("forwarded to "):
        return _("{op} passed on to {unit}").format(op=event.get("op", "?"),
                                                    unit=kind.removeprefix("forwarded to "))
    if kind == "joined":
        return _("{who} joined the video bridge").format(
            who=who(seats, event["seat"]) if event.get("seat") else event.get("name", "?"))
    if kind == "left":
        return _("{who} left the video bridge").format(
            who=who(seats, event["seat"]) if event.get("seat") else event.get("participant"))
    return None


def _broadcast_sentence(event: Mapping[str, Any]) -> str | None:
    kind = str(event.get("type", ""))
    if kind in ("StreamStateChanged", "RecordStateChanged"):
        table = STREAM_STATES if kind == "StreamStateChanged" else RECORD_STATES
        state = str(event.get("state", ""))
        out = _(table[state]) if state in table else f"{kind} {state}"
        return f"{out}: {event['path']}" if event.get("path") else out
    if kind == "BroadcastAlarm":
        text = alarm_text(event)
        return ("⚠ " + text) if event.get("raised") else _("Over: {alarm}").format(alarm=text)
    if kind == "BroadcastStartFailed":
        text = (_("The stream did not start: {why}") if event.get("output") == "stream"
                else _("The recording did not start: {why}"))
        return text.format(why=event.get("reason", ""))
    if kind == "confirm_stop":
        text = (_("Press again within {s:.0f} s to stop the stream")
                if event.get("op") == "stream_stop"
                else _("Press again within {s:.0f} s to stop the recording"))
        return text.format(s=float(event.get("seconds") or 3))
    if kind in COMMANDS and kind.startswith(("stream_", "record_")):
        out = _(COMMANDS[kind])
        return f"{out}: {event['path']}" if event.get("path") else out
    return None


def sentence(entry: Mapping[str, Any], seats: Seats,
             agenda: Mapping[str, str] | None = None) -> str:
    """One entry (without its time and source) as a sentence; `agenda` maps item ids to
    titles where the caller knows them."""
    event = entry.get("event")
    effects = _effects(entry)
    titles = agenda or {}
    if not isinstance(event, dict):
        return fields_text(event)
    said = (_floor_sentence(event, effects, seats) or _device_sentence(event)
            or _director_sentence(event, seats) or _broadcast_sentence(event))
    extra = [s for e in effects if (s := _effect_sentence(e, seats, titles)) is not None]
    if event.get("type") == "SetAgenda" and extra:
        return " · ".join(extra)
    if event.get("type") == "Tick" and extra:
        return " · ".join(extra)
    if said is None:
        said = fields_text(event)
        if effects:
            said += " → " + ", ".join(fields_text(e) for e in effects)
        return said
    return " · ".join([said, *extra])
