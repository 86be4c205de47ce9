#!/usr/bin/env bash
# Re-resolve the locks in requirements/ from pyproject.toml (after changing a dependency, or
# to take newer releases on purpose), then run the suite with them before committing:
#   bash scripts/lock.sh && bash scripts/dev.sh test
# uv resolves in seconds and writes the hash of every file of each pinned release; installing
# needs only pip (`pip install --require-hashes -r requirements/….lock`), so uv is needed
# here alone and is not part of the project's dependencies.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x .venv/bin/python ] || python3 -m venv .venv
[ -x .venv/bin/uv ] || .venv/bin/python -m pip install -q uv
compile() {  # output, extras...
    local out=$1; shift
    local extras=()
    for e in "$@"; do extras+=(--extra "$e"); done
    .venv/bin/uv pip compile pyproject.toml "${extras[@]}" --python-version 3.11 \
        --generate-hashes --no-strip-extras --quiet --custom-compile-command "bash scripts/lock.sh" \
        -o "requirements/$out"
}
# base: the daemon alone (what a wheel install without extras needs; the wheel check)
compile base.lock
# full: a chamber PC: daemon, TUI (+ in a browser), keypads and button surfaces
compile full.lock tui web surfaces
# test: everything the suite needs
compile test.lock test
