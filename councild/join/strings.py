"""Every text the join page shows, from the one message catalog, in the page's language.

The page's script reads them from its configuration by key; it has no text of its own.
"""

from __future__ import annotations

from councild.i18n import translation

# The languages the page is offered in; the first is the fallback.
LANGUAGES = ("en", "de")


def page_strings(lang: str) -> dict[str, str]:
    """key → text, translated to `lang` ("en" or "de")."""
    _ = translation(lang).gettext
    return {
        "title": _("Council session"),
        "joining_as": _("You are joining as {name}."),
        "request": _("Request to speak"),
        "withdraw": _("Withdraw request"),
        "finish": _("Finish speaking"),
        "status_connecting": _("Connecting…"),
        "status_muted": _("Muted: you are listening"),
        "status_waiting": _("Waiting to speak: you are number {position}"),
        "status_speaking": _("You are speaking"),
        "remaining": _("{time} left"),
        "over": _("Your speaking time is over"),
        "all_muted": _("The chair has muted all remote councillors"),
        "replaced": _("This page was replaced: you joined again in another window or on "
                      "another device."),
        "disconnected": _("The connection to the session was lost. Reconnecting…"),
        "chamber": _("Chamber"),
        "self_view": _("You"),
        "camera": _("Camera"),
        "microphone": _("Microphone"),
        "no_camera": _("No camera"),
        "media_denied": _("The browser did not allow camera and microphone. Allow them in the "
                          "address bar and reload the page."),
        "media_failed": _("Camera or microphone could not be started: {error}"),
        "webrtc_unsupported": _("This browser cannot join video calls. Use a current Firefox, "
                                "Chrome, Edge or Safari."),
        "play": _("Play the chamber sound"),
        "language": _("Language"),
        "refused": _("Not possible: {reason}"),
    }


def refusal_reason(lang: str, code: str) -> str:
    """Why the floor did not take a page's request, in the page's language (the floor's own
    messages are for technicians, in English)."""
    _ = translation(lang).gettext
    reasons = {
        "already_queued": _("you are already on the list of speakers"),
        "already_speaking": _("you have the floor already"),
        "not_queued": _("you are not on the list of speakers"),
        "not_speaking": _("you do not have the floor"),
        "no_queue": _("the chair gives the floor directly in this part of the session"),
        "priority": _("the chair has priority at the moment"),
        "not_in_room": _("you are not in the video room yet"),
        "no_seat": _("you have no remote seat in this session"),
        "too_fast": _("too many requests at once; please wait a moment"),
    }
    return reasons.get(code, _("the request was not accepted"))


def refusal_strings(lang: str) -> dict[str, str]:
    _ = translation(lang).gettext
    return {
        "title": _("This link is not valid"),
        "body": _("This join link is not valid for the current session. Please use the link "
                  "you received for this session, or ask the council office for a new one."),
        "limited": _("Too many attempts from this address. Please wait a minute and try "
                     "again."),
    }


def choose_language(query: str | None, accept_language: str | None) -> str:
    """?lang= first, then the browser's Accept-Language (by its q order), then English."""
    if query in LANGUAGES:
        return query
    ranked: list[tuple[float, int, str]] = []
    for index, part in enumerate((accept_language or "").split(",")):
        tag, _sep, params = part.strip().partition(";")
        q = 1.0
        for param in params.split(";"):
            key, _eq, value = param.strip().partition("=")
            if key == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        primary = tag.strip().split("-")[0].lower()
        if primary in LANGUAGES and q > 0:
            ranked.append((-q, index, primary))
    return min(ranked)[2] if ranked else LANGUAGES[0]
