"""The message catalog: extract, update, compile and check (Babel).

Workflow (run from anywhere; paths are relative to the repository):

1. A developer wraps user-facing text in `_("...")` (or `ngettext("...", "...", n)`), with
   `{name}` placeholders filled by `.format(...)` after the call, never inside an f-string.
2. `.venv/bin/python scripts/catalog.py extract` writes `councild/locale/councild.pot`
   (sorted, without source locations or header, so a diff shows only changed texts).
3. `.venv/bin/python scripts/catalog.py update` merges the .pot into each language's
   `councild/locale/<lang>/LC_MESSAGES/councild.po`: translations are kept, new texts come in
   empty, reworded texts come in *fuzzy* with the old translation as a suggestion, and texts
   no longer in the code are dropped (git keeps them).
4. A translator edits the .po: fills every empty `msgstr`, checks each fuzzy entry and removes
   its `#, fuzzy` line, keeps every `{placeholder}` of the English text.
5. `.venv/bin/python scripts/catalog.py compile` writes the .mo next to each .po. The .mo is
   committed: the daemon reads it with the standard library's gettext and needs no Babel.
6. `.venv/bin/python scripts/catalog.py check` exits 1 listing what is wrong: a .pot that is
   not what `extract` would write, a text without translation, a fuzzy entry, a translation
   whose placeholders differ from the English, a .mo that does not say what its .po says.
   tests/core/test_catalog.py runs the same checks.

`check` also warns about `_()` calls on something other than a string literal: the
extractor cannot see those texts, so they stay English (mark the literal where it is written).
"""

from __future__ import annotations

import argparse
import ast
import gettext
import io
import string
import sys
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path

from babel.messages.catalog import Catalog, Message
from babel.messages.extract import extract_from_dir
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po, write_po

ROOT = Path(__file__).resolve().parent.parent
SOURCE_DIRS = ("councild", "devices", "scenes", "tui")
DOMAIN = "councild"
LOCALE_DIR = Path("councild") / "locale"
LANGUAGES = ("de",)
# `N_` marks a literal whose translation is looked up later (tables of labels); harmless while
# nothing uses it.
KEYWORDS: dict[str, tuple[int, ...] | None] = {"_": None, "N_": None, "ngettext": (1, 2)}
COMMENT_TAGS = ("Translators:",)
METHOD_MAP = [("**.py", "python")]
# Wide enough that no msgid is ever wrapped: a reworded word then changes one line of the diff.
PO_WIDTH = 0
FORMAT_FLAGS = frozenset({"python-format", "python-brace-format"})


def pot_path(root: Path = ROOT) -> Path:
    return root / LOCALE_DIR / f"{DOMAIN}.pot"


def po_path(lang: str, root: Path = ROOT) -> Path:
    return root / LOCALE_DIR / lang / "LC_MESSAGES" / f"{DOMAIN}.po"


def mo_path(lang: str, root: Path = ROOT) -> Path:
    return root / LOCALE_DIR / lang / "LC_MESSAGES" / f"{DOMAIN}.mo"


# --- extract ------------------------------------------------------------------------------


def extract_catalog(root: Path = ROOT) -> Catalog:
    """Every `_`/`N_`/`ngettext` literal in the source directories."""
    catalog = Catalog(project="councild", domain=DOMAIN, charset="utf-8")
    for directory in SOURCE_DIRS:
        for filename, lineno, message, comments, context in extract_from_dir(
            root / directory, METHOD_MAP, keywords=KEYWORDS, comment_tags=COMMENT_TAGS,
            strip_comment_tags=True,
        ):
            catalog.add(message, None, [(f"{directory}/{filename}", lineno)],
                        auto_comments=comments, context=context)
    return catalog


def _drop_format_flags(catalog: Catalog) -> None:
    # Babel guesses these flags, and its versions guess differently (2.17 added
    # python-brace-format): without them the files do not depend on which Babel ran.
    for message in catalog:
        message.flags -= FORMAT_FLAGS


def render_pot(catalog: Catalog) -> bytes:
    _drop_format_flags(catalog)
    buf = io.BytesIO()
    write_po(buf, catalog, width=PO_WIDTH, no_location=True, omit_header=True,
             sort_output=True)
    return buf.getvalue()


def extract(root: Path = ROOT) -> Path:
    path = pot_path(root)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(render_pot(extract_catalog(root)))
    return path


# --- update -------------------------------------------------------------------------------


def read_catalog(path: Path, locale: str | None = None) -> Catalog:
    with path.open("rb") as f:
        return read_po(f, locale=locale, domain=DOMAIN)


def new_language(lang: str) -> Catalog:
    now = datetime.now(UTC)
    return Catalog(locale=lang, domain=DOMAIN, project="councild", version="",
                   header_comment=f"# {lang} translation of councild's messages.",
                   msgid_bugs_address="", last_translator="councild",
                   language_team=lang, creation_date=now, revision_date=now, charset="utf-8",
                   fuzzy=False)


def render_po(catalog: Catalog) -> bytes:
    _drop_format_flags(catalog)
    buf = io.BytesIO()
    write_po(buf, catalog, width=PO_WIDTH, no_location=True, sort_output=True,
             ignore_obsolete=True)
    return buf.getvalue()


def update(root: Path = ROOT) -> list[Path]:
    template = read_catalog(pot_path(root))
    written = []
    for lang in LANGUAGES:
        path = po_path(lang, root)
        catalog = read_catalog(path, lang) if path.exists() else new_language(lang)
        # Keep the .po's own dates: the .pot has no header, so its "creation date" is just now.
        catalog.update(template, update_creation_date=False)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(render_po(catalog))
        written.append(path)
    return written


# --- compile ------------------------------------------------------------------------------


def render_mo(catalog: Catalog) -> bytes:
    buf = io.BytesIO()
    write_mo(buf, catalog, use_fuzzy=False)
    return buf.getvalue()


def compile_catalogs(root: Path = ROOT) -> list[Path]:
    written = []
    for lang in LANGUAGES:
        path = mo_path(lang, root)
        path.write_bytes(render_mo(read_catalog(po_path(lang, root), lang)))
        written.append(path)
    return written


# --- check --------------------------------------------------------------------------------


def _label(message: Message) -> str:
    msgid = message.id[0] if isinstance(message.id, tuple | list) else message.id
    return repr(msgid)


def _forms(value: str | tuple[str, ...] | list[str] | None) -> list[str]:
    if value is None:
        return []
    return [value] if isinstance(value, str) else list(value)


def placeholders(text: str) -> set[str]:
    """The `{...}` fields of a str.format text, as written (name, conversion, spec)."""
    fields = set()
    for _literal, name, spec, conversion in string.Formatter().parse(text):
        if name is not None:
            fields.add("{" + name + (f"!{conversion}" if conversion else "")
                       + (f":{spec}" if spec else "") + "}")
    return fields


def check_pot(root: Path = ROOT) -> list[str]:
    path = pot_path(root)
    if not path.exists():
        return [f"{path.relative_to(root)} is missing: run `catalog.py extract`"]
    if path.read_bytes() != render_pot(extract_catalog(root)):
        return [f"{path.relative_to(root)} is not what the source says: run "
                "`catalog.py extract`, then `update`, translate, `compile`"]
    return []


def check_translations(template: Catalog, catalog: Catalog, lang: str) -> list[str]:
    """Every template text translated in `catalog`, not fuzzy, with the same placeholders."""
    problems = []
    known = {m.id if isinstance(m.id, str) else m.id[0] for m in catalog if m.id}
    for message in template:
        if not message.id:
            continue
        label = _label(message)
        found = catalog.get(message.id, context=message.context)
        if found is None:
            problems.append(f"{lang}: {label} is not in the .po: run `catalog.py update`")
            continue
        forms = _forms(found.string)
        if not forms or not all(forms):
            problems.append(f"{lang}: {label} has no translation")
            continue
        if found.fuzzy:
            problems.append(f"{lang}: {label} is fuzzy: check it, then remove `#, fuzzy`")
        try:
            wanted = set().union(*(placeholders(s) for s in _forms(message.id)))
            got = [placeholders(s) for s in forms]
        except ValueError as exc:
            problems.append(f"{lang}: {label}: broken braces ({exc})")
            continue
        # A plural's singular may leave out the count; every form must stay within the
        # English fields, and together the forms must use all of them.
        if any(g - wanted for g in got) or set().union(*got) != wanted:
            problems.append(f"{lang}: {label}: placeholders {sorted(set().union(*got))} "
                            f"differ from the English {sorted(wanted)}")
    template_ids = {m.id if isinstance(m.id, str) else m.id[0] for m in template if m.id}
    for msgid in sorted(known - template_ids):
        problems.append(f"{lang}: {msgid!r} is no longer in the source: run `catalog.py update`")
    return problems


def mo_messages(catalog: Catalog) -> dict[object, str]:
    """What gettext should find in the compiled catalog: translated, non-fuzzy texts."""
    expected: dict[object, str] = {}
    for message in catalog:
        if not message.id or message.fuzzy or not all(_forms(message.string)):
            continue
        prefix = f"{message.context}\x04" if message.context else ""
        if isinstance(message.id, str):
            expected[prefix + message.id] = str(message.string)
        else:
            for i, form in enumerate(_forms(message.string)):
                expected[(prefix + message.id[0], i)] = form
    return expected


def check_mo(catalog: Catalog, mo: bytes | None, lang: str) -> list[str]:
    """The .mo gives exactly the .po's translations (compared as gettext reads them, so a
    newer Babel writing other header bytes does not count as a difference)."""
    if mo is None:
        return [f"{lang}: the .mo is missing: run `catalog.py compile`"]
    try:
        compiled = gettext.GNUTranslations(io.BytesIO(mo))
    except (OSError, UnicodeDecodeError) as exc:
        return [f"{lang}: the .mo is unreadable ({exc}): run `catalog.py compile`"]
    found = {k: v for k, v in compiled._catalog.items() if k not in ("", ("", 0))}  # type: ignore[attr-defined]
    if found != mo_messages(catalog):
        return [f"{lang}: the .mo does not match the .po: run `catalog.py compile`"]
    plural = gettext.c2py(catalog.plural_expr)
    if [compiled.plural(n) for n in range(200)] != [plural(n) for n in range(200)]:
        return [f"{lang}: the .mo's plural rule differs from the .po's: run `catalog.py compile`"]
    return []


def unextractable_calls(root: Path = ROOT) -> Iterator[str]:
    """`_(variable)`, `_(f"...")` and the like: texts the extractor cannot see."""
    arity = {"_": 1, "N_": 1, "ngettext": 2}
    for directory in SOURCE_DIRS:
        for path in sorted((root / directory).rglob("*.py")):
            tree = ast.parse(path.read_bytes(), str(path))
            for node in ast.walk(tree):
                if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
                        and node.func.id in arity):
                    continue
                args = node.args[:arity[node.func.id]]
                if len(args) < arity[node.func.id] or not all(
                        isinstance(a, ast.Constant) and isinstance(a.value, str) for a in args):
                    yield (f"{path.relative_to(root)}:{node.lineno}: "
                           f"{ast.unparse(node)} is not a string literal")


def check(root: Path = ROOT) -> list[str]:
    problems = check_pot(root)
    template = extract_catalog(root)
    for lang in LANGUAGES:
        path = po_path(lang, root)
        if not path.exists():
            problems.append(f"{lang}: {path.relative_to(root)} is missing: run `catalog.py update`")
            continue
        catalog = read_catalog(path, lang)
        problems += check_translations(template, catalog, lang)
        mo = mo_path(lang, root)
        problems += check_mo(catalog, mo.read_bytes() if mo.exists() else None, lang)
    return problems


# --- command line -------------------------------------------------------------------------


def _print_all(lines: Iterable[str], file: object = sys.stdout) -> None:
    for line in lines:
        print(line, file=file)  # type: ignore[call-overload]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=("extract", "update", "compile", "check"))
    args = parser.parse_args(argv)
    if args.command == "extract":
        path = extract()
        count = sum(1 for m in read_catalog(path) if m.id)
        print(f"{path.relative_to(ROOT)}: {count} messages")
    elif args.command == "update":
        _print_all(str(p.relative_to(ROOT)) for p in update())
    elif args.command == "compile":
        _print_all(str(p.relative_to(ROOT)) for p in compile_catalogs())
    else:
        _print_all((f"warning: {w}" for w in unextractable_calls()), sys.stderr)
        problems = check()
        _print_all(problems)
        return 1 if problems else 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
