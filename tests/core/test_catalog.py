"""The message catalog: current, fully translated, compiled; the join page's languages.

These are the checks of `scripts/catalog.py check`, run in-process: a new `_("...")` in the
code fails them until it is extracted, translated and compiled.
"""

from __future__ import annotations

import importlib.util
import re
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import pytest
from babel.messages.catalog import Catalog

from councild.i18n import translation
from councild.join import strings

ROOT = Path(__file__).resolve().parents[2]


def _load_script() -> ModuleType:
    # scripts/ is not a package: load the file itself, as `python scripts/catalog.py` would.
    spec = importlib.util.spec_from_file_location("councild_catalog_script",
                                                  ROOT / "scripts" / "catalog.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


catalog_script = _load_script()


@pytest.fixture(scope="module")
def template() -> Catalog:
    return catalog_script.extract_catalog(ROOT)


def _fields(text: str) -> set[str]:
    return set(re.findall(r"\{[^{}]*\}", text))


# --- the committed catalog --------------------------------------------------------------------


def test_pot_is_what_extract_writes() -> None:
    assert catalog_script.check_pot(ROOT) == []


def test_source_has_messages(template: Catalog) -> None:
    ids = {m.id for m in template if m.id}
    # The join page's texts are among them, whichever module defines them.
    assert {"Request to speak", "Withdraw request", "This link is not valid"} <= ids
    assert len(ids) > 200


@pytest.mark.parametrize("lang", catalog_script.LANGUAGES)
def test_every_message_translated(template: Catalog, lang: str) -> None:
    po = catalog_script.read_catalog(catalog_script.po_path(lang, ROOT), lang)
    assert catalog_script.check_translations(template, po, lang) == []


@pytest.mark.parametrize("lang", catalog_script.LANGUAGES)
def test_mo_matches_po(lang: str) -> None:
    po = catalog_script.read_catalog(catalog_script.po_path(lang, ROOT), lang)
    mo = catalog_script.mo_path(lang, ROOT).read_bytes()
    assert catalog_script.check_mo(po, mo, lang) == []


def test_check_passes() -> None:
    assert catalog_script.check(ROOT) == []


# --- the checks find what is wrong ------------------------------------------------------------


def _catalog(entries: dict[str, str], *, fuzzy: frozenset[str] = frozenset()) -> Catalog:
    catalog = Catalog(locale="de")
    for msgid, msgstr in entries.items():
        catalog.add(msgid, msgstr, flags={"fuzzy"} if msgid in fuzzy else ())
    return catalog


def test_check_translations_finds_each_problem() -> None:
    template = _catalog(dict.fromkeys(
        ["Yes", "untranslated", "fuzzy", "Hello {name}", "Left {t:.1f}", "absent"], ""))
    po = _catalog({"Yes": "Ja", "untranslated": "", "fuzzy": "unscharf",
                   "Hello {name}": "Hallo {nom}", "Left {t:.1f}": "Noch {t}",
                   "gone": "weg"}, fuzzy=frozenset({"fuzzy"}))
    problems = "\n".join(catalog_script.check_translations(template, po, "de"))
    assert "'Yes'" not in problems
    for label in ("'untranslated' has no translation", "'fuzzy' is fuzzy",
                  "'Hello {name}': placeholders", "'Left {t:.1f}': placeholders",
                  "'absent' is not in the .po", "'gone' is no longer in the source"):
        assert label in problems


def test_check_translations_broken_braces() -> None:
    problems = catalog_script.check_translations(
        _catalog({"{n} left": ""}), _catalog({"{n} left": "noch {n"}), "de")
    assert len(problems) == 1
    assert "broken braces" in problems[0]


def test_check_plurals() -> None:
    template = Catalog(locale="de")
    template.add(("{n} token", "{n} tokens"), ("", ""))
    good = Catalog(locale="de")
    good.add(("{n} token", "{n} tokens"), ("ein Token", "{n} Tokens"))  # singular may drop {n}
    assert catalog_script.check_translations(template, good, "de") == []
    assert catalog_script.check_mo(good, catalog_script.render_mo(good), "de") == []
    half = Catalog(locale="de")
    half.add(("{n} token", "{n} tokens"), ("{n} Token", ""))
    assert catalog_script.check_translations(template, half, "de") != []
    wrong = Catalog(locale="de")
    wrong.add(("{n} token", "{n} tokens"), ("ein Token", "viele Tokens"))
    assert catalog_script.check_translations(template, wrong, "de") != []


def test_check_mo_finds_a_stale_mo() -> None:
    po = _catalog({"Yes": "Ja", "No": "Nein"})
    assert catalog_script.check_mo(po, catalog_script.render_mo(po), "de") == []
    stale = catalog_script.render_mo(_catalog({"Yes": "Jawohl", "No": "Nein"}))
    assert catalog_script.check_mo(po, stale, "de") != []
    assert catalog_script.check_mo(po, None, "de") != []


def _write_source(root: Path, text: str) -> None:
    for directory in catalog_script.SOURCE_DIRS:
        (root / directory).mkdir(parents=True, exist_ok=True)
    (root / "councild" / "mod.py").write_text(text, encoding="utf-8")


def test_new_string_fails_until_translated_and_compiled(tmp_path: Path) -> None:
    """The workflow of the module docstring, on a tree of its own."""
    _write_source(tmp_path, 'from councild.i18n import _\nA = _("Speaking time")\n')
    catalog_script.extract(tmp_path)
    catalog_script.update(tmp_path)
    catalog_script.compile_catalogs(tmp_path)
    assert any("'Speaking time' has no translation" in p
               for p in catalog_script.check(tmp_path))

    po_file = catalog_script.po_path("de", tmp_path)
    po = catalog_script.read_catalog(po_file, "de")
    po["Speaking time"].string = "Redezeit"
    po_file.write_bytes(catalog_script.render_po(po))
    assert any("does not match the .po" in p for p in catalog_script.check(tmp_path))
    catalog_script.compile_catalogs(tmp_path)
    assert catalog_script.check(tmp_path) == []

    # Someone adds a text: the .pot is stale, then (after extract + update) untranslated,
    # and the translation made before is kept.
    _write_source(tmp_path, 'from councild.i18n import _\nA = _("Speaking time")\n'
                            'B = _("Vote")\n')
    assert any(".pot is not what the source says" in p for p in catalog_script.check(tmp_path))
    catalog_script.extract(tmp_path)
    catalog_script.update(tmp_path)
    assert any("'Vote' has no translation" in p for p in catalog_script.check(tmp_path))
    kept = catalog_script.read_catalog(po_file, "de")
    assert kept["Speaking time"].string == "Redezeit"


def test_update_and_compile_are_stable(tmp_path: Path) -> None:
    _write_source(tmp_path, 'from councild.i18n import _\nA = _("b {x}")\nB = _("a")\n')
    catalog_script.extract(tmp_path)
    catalog_script.update(tmp_path)
    catalog_script.compile_catalogs(tmp_path)
    files = (catalog_script.pot_path(tmp_path), catalog_script.po_path("de", tmp_path),
             catalog_script.mo_path("de", tmp_path))
    before = [f.read_bytes() for f in files]
    catalog_script.extract(tmp_path)
    catalog_script.update(tmp_path)
    catalog_script.compile_catalogs(tmp_path)
    assert [f.read_bytes() for f in files] == before
    pot = before[0].decode()
    assert pot.index('msgid "a"') < pot.index('msgid "b {x}"')  # sorted
    assert "#:" not in pot  # no source locations: a moved line changes nothing


def test_unextractable_calls_are_found(tmp_path: Path) -> None:
    _write_source(tmp_path, 'from councild.i18n import _\nLABEL = "Chair"\n'
                            'A = _(LABEL)\nB = _(f"{LABEL}!")\nC = _("fine")\n')
    found = list(catalog_script.unextractable_calls(tmp_path))
    assert [line.split(":")[:2] for line in found] == [["councild/mod.py", "3"],
                                                       ["councild/mod.py", "4"]]


# --- the join page in German -------------------------------------------------------------------


@pytest.mark.parametrize(("english", "german_word"), [
    ("Request to speak", "Wortmeldung"),
    ("Withdraw request", "Wortmeldung"),
    ("Your speaking time is over", "Redezeit"),
    ("The chair has muted all remote councillors", "Vorsitz"),
    ("Waiting to speak: you are number {position}", "Sie"),
])
def test_translation_de_join_strings(english: str, german_word: str) -> None:
    de = translation("de").gettext(english)
    po = catalog_script.read_catalog(catalog_script.po_path("de", ROOT), "de")
    assert de == po[english].string  # what the runtime reads is what the translator wrote
    assert german_word in de
    assert translation("en").gettext(english) == english


@pytest.mark.parametrize("make", [strings.page_strings, strings.refusal_strings])
def test_join_strings_german_differ_and_keep_placeholders(
        make: Callable[[str], dict[str, str]]) -> None:
    en, de = make("en"), make("de")
    assert en.keys() == de.keys()
    for key in en:
        assert de[key] != en[key], key
        assert _fields(de[key]) == _fields(en[key]), key


@pytest.mark.parametrize(("query", "accept", "expected"), [
    (None, "de-DE,de;q=0.9,en;q=0.8", "de"),
    (None, "en-US", "en"),
    (None, "en-US,en;q=0.9,de;q=0.8", "en"),
    (None, "fr", "en"),
    (None, "fr-FR,fr;q=0.9,de;q=0.5", "de"),
    (None, "de;q=0", "en"),
    (None, "", "en"),
    (None, None, "en"),
    ("en", "de-DE,de;q=0.9", "en"),
    ("de", "en-US", "de"),
    ("de", None, "de"),
    ("xx", "de-AT", "de"),
])
def test_choose_language(query: str | None, accept: str | None, expected: str) -> None:
    assert strings.choose_language(query, accept) == expected
