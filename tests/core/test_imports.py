"""The house plan: which module may import which, read from the source with `ast`.

Every import counts, at module level or inside a function (a lazy import is still a
dependency), under `if TYPE_CHECKING:` too. The rules below are the documentation; README.md,
"Architecture", states the same in prose. A rule is never loosened to let a module through:
the module is changed, or, while another part of the same change is removing it, the import
is listed in PENDING with who removes it (and the test fails once it is gone, so the list
only ever shrinks).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("councild", "devices", "scenes", "tui")

# --- the rules ---------------------------------------------------------------------------------

# The pure core: the floor, the director, the keypads' key maps, the matching of remote
# participants, the assembly of config.toml into these, the sans-IO dialect. Decisions, no I/O.
PURE_CORE = frozenset({
    "councild.model", "councild.errors", "councild.sansio", "councild.floor",
    "councild.director", "councild.voice_classifier", "councild.keypad", "councild.remote",
    "councild.assembly", "councild.join.access",
})
# Pure text: gettext, labels and the sentences of the log, the broadcast and the state. Open
# to every package; they import nothing but each other.
TEXT = frozenset({
    "councild.i18n", "councild.labels", "councild.log_text", "councild.broadcast_text",
    "councild.state_text",
})
PURE = PURE_CORE | TEXT
# Standard-library modules that are I/O or concurrency, which nothing pure imports.
NOT_PURE_STDLIB = frozenset({"asyncio", "socket", "selectors", "subprocess", "threading",
                             "signal"})
# What a pure module may import from the four packages besides PURE. The assembly reads the
# schema (councild.config), which validates each device table with its driver's own Options
# and so imports the driver registry: the one door from the pure core to the rest.
PURE_MAY_ALSO = {
    "councild.assembly": frozenset({"councild.config"}),
}

# Drivers (devices/) and the OBS side (scenes/) see of councild only the shared vocabulary:
# events and effects, errors, text, the sans-IO dialect and its transports, the reconnect
# loop, and the key-map model the keypad drivers translate to. Never the daemon or its parts.
DEVICE_SIDE_COUNCILD = frozenset({
    "councild.model", "councild.errors", "councild.sansio", "councild.supervisor",
    "councild.datagram", "councild.keypad",
}) | TEXT
# scenes/ may use the device contract (OBS is a device to the daemon), never a driver.
SCENES_DEVICES = frozenset({"devices.base", "devices.capabilities"})

# The TUI is a client of the control API: of councild it sees the client side of the API,
# the shared vocabulary and the text.
TUI_COUNCILD = frozenset({
    "councild.api", "councild.errors", "councild.model", "councild.sansio",
    "councild.supervisor",
}) | TEXT
TUI_API_NAMES = frozenset({"ApiClient", "client_socket_path", "encode", "READ_CHUNK",
                           "MAX_LINE", "SOCKET_ENV", "SERVICE_SOCKET"})

# Who may import what only a command line starts: the demo (simulators, a headless OBS and the
# TUI together), the simulators and the headless OBS, the TUI.
ONLY_FROM = {
    "councild.demo": frozenset({"councild.cli"}),
    "devices.sim": frozenset({"councild.cli", "councild.demo"}),
    "scenes.headless": frozenset({"councild.demo"}),
    "tui": frozenset({"councild.cli", "councild.demo"}),
}
# ...and what those may not import back.
NEVER_IMPORTS = {
    "councild.demo": frozenset({"councild.cli"}),
}

# Imports another part of issue 13 is removing right now: (importer, imported) → who. The
# test fails on anything not listed, and on a listed import that is gone (delete its line).
PENDING: dict[tuple[str, str], str] = {
    # (none: the last three went with the merges of i13b and i13c)
}

# --- reading the imports -----------------------------------------------------------------------


@dataclass(frozen=True)
class Import:
    importer: str
    target: str  # the module imported (the longest module prefix of what was named)
    name: str | None  # `from target import name` when name is not itself a module
    line: int

    def __str__(self) -> str:
        what = f"{self.target}:{self.name}" if self.name else self.target
        return f"{self.importer} (line {self.line}) imports {what}"


def _modules() -> dict[str, Path]:
    found: dict[str, Path] = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


MODULES = _modules()


def _longest_module(dotted: str) -> str | None:
    while dotted and dotted not in MODULES:
        dotted = dotted.rpartition(".")[0]
    return dotted or None


def _imports(module: str, path: Path) -> Iterator[Import | tuple[str, int]]:
    """Imports of the four packages as `Import`s; any other as (top-level name, line)."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] not in PACKAGES:
                    yield alias.name.split(".")[0], node.lineno
                elif (target := _longest_module(alias.name)) is not None:
                    yield Import(module, target, None, node.lineno)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                source = ".".join(base + ([node.module] if node.module else []))
            else:
                source = node.module or ""
            if source.split(".")[0] not in PACKAGES:
                yield source.split(".")[0], node.lineno
                continue
            for alias in node.names:
                if f"{source}.{alias.name}" in MODULES:
                    yield Import(module, f"{source}.{alias.name}", None, node.lineno)
                elif (target := _longest_module(source)) is not None:
                    yield Import(module, target, None if alias.name == "*" else alias.name,
                                 node.lineno)


def _read() -> tuple[list[Import], dict[str, set[str]]]:
    inner: list[Import] = []
    outer: dict[str, set[str]] = {}
    for module, path in MODULES.items():
        for item in _imports(module, path):
            if isinstance(item, Import):
                if item.target != module:
                    inner.append(item)
            else:
                outer.setdefault(module, set()).add(item[0])
    return inner, outer


IMPORTS, OTHER_IMPORTS = _read()


def _within(module: str, prefix: str) -> bool:
    return module == prefix or module.startswith(prefix + ".")


def _pending(item: Import) -> bool:
    return ((item.importer, item.target) in PENDING
            or (item.importer, f"{item.target}:{item.name}") in PENDING)


def _report(violations: list[Import]) -> list[str]:
    return sorted(str(v) for v in violations if not _pending(v))


# --- the tests ---------------------------------------------------------------------------------


def test_the_reader_sees_module_and_function_level_imports() -> None:
    """The rules below are only as good as this reader: it must see what is there."""
    seen = {(i.importer, i.target) for i in IMPORTS}
    assert ("councild.daemon", "councild.floor") in seen  # `from councild import floor`
    assert ("councild.cli", "councild.demo") in seen  # inside cmd_demo
    assert ("councild.demo.run", "councild.demo.remote") in seen  # inside run_demo
    assert ("councild.cli", "councild.assembly") in seen
    assert "asyncio" in OTHER_IMPORTS["councild.daemon"]
    assert {"councild.floor", "councild.assembly", "devices.x32", "devices.sim.x32",
            "scenes.collection", "tui.app", "tui.widgets.tables", "councild.demo"} <= set(MODULES)


def test_no_import_cycles() -> None:
    graph: dict[str, set[str]] = {m: set() for m in MODULES}
    for item in IMPORTS:
        graph[item.importer].add(item.target)
    cycles = [sorted(c) for c in _strongly_connected(graph) if len(c) > 1]
    assert not cycles, "import cycles: " + "; ".join(" ↔ ".join(c) for c in cycles)


def test_the_pure_core_does_no_io_and_knows_no_driver() -> None:
    for module in PURE:
        assert module in MODULES, f"{module} is named in PURE but does not exist"
    allowed = {m: PURE_CORE | TEXT | PURE_MAY_ALSO.get(m, frozenset()) for m in PURE_CORE}
    allowed |= {m: TEXT for m in TEXT}
    bad = [i for i in IMPORTS
           if i.importer in PURE and not any(_within(i.target, a) for a in allowed[i.importer])]
    problems = _report(bad) + sorted(f"{m} imports {name}" for m in PURE
                                     for name in OTHER_IMPORTS.get(m, set()) & NOT_PURE_STDLIB)
    assert not problems, problems


def _device_side_breaks(item: Import) -> bool:
    side, to = item.importer.split(".")[0], item.target.split(".")[0]
    if to == "councild":
        return item.target not in DEVICE_SIDE_COUNCILD
    if to == "scenes":
        return side == "devices"
    if to == "devices":
        return side == "scenes" and item.target not in SCENES_DEVICES
    return to == "tui"


def test_devices_and_scenes_see_only_the_shared_vocabulary() -> None:
    bad = [i for i in IMPORTS
           if i.importer.split(".")[0] in ("devices", "scenes") and _device_side_breaks(i)]
    assert not _report(bad), _report(bad)


def _tui_breaks(item: Import) -> bool:
    to = item.target.split(".")[0]
    if to != "councild":
        return to in ("devices", "scenes")
    if item.target == "councild.api":  # a whole-module import (name None) brings the server
        return item.name not in TUI_API_NAMES
    return item.target not in TUI_COUNCILD


def test_the_tui_is_a_client_of_the_api() -> None:
    bad = [i for i in IMPORTS if _within(i.importer, "tui") and _tui_breaks(i)]
    assert not _report(bad), _report(bad)


def test_what_only_a_command_starts_is_imported_only_there() -> None:
    bad: list[Import] = []
    for item in IMPORTS:
        for guarded, importers in ONLY_FROM.items():
            if (_within(item.target, guarded) and not _within(item.importer, guarded)
                    and not any(_within(item.importer, i) for i in importers)):
                bad.append(item)
        for module, never in NEVER_IMPORTS.items():
            if _within(item.importer, module) and any(_within(item.target, n) for n in never):
                bad.append(item)
    assert not _report(bad), _report(bad)


def test_pending_lists_only_imports_that_are_still_there() -> None:
    present = ({(i.importer, i.target) for i in IMPORTS}
               | {(i.importer, f"{i.target}:{i.name}") for i in IMPORTS})
    stale = sorted(f"{a} → {b} ({who})" for (a, b), who in PENDING.items()
                   if (a, b) not in present)
    assert not stale, f"gone, delete from PENDING: {stale}"


def _strongly_connected(graph: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's algorithm, iterative (the module graph is deep enough to matter)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                found.append(component)
    return found
