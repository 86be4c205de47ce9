"""The one message catalog for user-facing text (CLI, TUI, lower thirds, join page).

English is the source language; catalogs for other languages live in
`councild/locale/<lang>/LC_MESSAGES/councild.mo`. The language follows the usual gettext
environment (LANGUAGE, LC_ALL, LC_MESSAGES, LANG) unless `set_language` is called.
"""

from __future__ import annotations

import gettext
from pathlib import Path

DOMAIN = "councild"
LOCALE_DIR = Path(__file__).parent / "locale"

_translation: gettext.NullTranslations = gettext.translation(
    DOMAIN, localedir=LOCALE_DIR, fallback=True
)


def set_language(language: str | None) -> None:
    """Switch the catalog (e.g. "de"); None goes back to the environment's choice."""
    global _translation
    languages = [language] if language else None
    _translation = gettext.translation(
        DOMAIN, localedir=LOCALE_DIR, languages=languages, fallback=True
    )


def translation(language: str) -> gettext.NullTranslations:
    """The catalog of one language, whatever the process's own language is (the join page
    answers each browser in its language)."""
    return gettext.translation(DOMAIN, localedir=LOCALE_DIR, languages=[language],
                               fallback=True)


def _(message: str) -> str:
    """Translate a user-facing message."""
    return _translation.gettext(message)


def N_(message: str) -> str:
    """Mark a literal for the catalog where it is written; `_()` translates it where shown
    (tables of labels built at import, before the language is known)."""
    return message


def ngettext(singular: str, plural: str, n: int) -> str:
    return _translation.ngettext(singular, plural, n)
