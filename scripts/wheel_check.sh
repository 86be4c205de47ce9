#!/usr/bin/env bash
# What an IT department gets: the sdist and the wheel built from it (`python -m build`), the
# wheel installed into a fresh virtualenv outside the source tree with the daemon's locked
# dependencies only (no TUI extra), and the commands run from there. Fails on any build or
# install warning, and on anything that works only in a checkout.
#   bash scripts/wheel_check.sh          (scripts/dev.sh test runs it before pytest)
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)
work=$(mktemp -d /tmp/councild-wheel.XXXXXX)
demo_pid=""
cleanup() {
    [ -n "$demo_pid" ] && kill "$demo_pid" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "wheel check: $*" >&2; exit 1; }

echo "wheel check: building sdist and wheel" >&2
.venv/bin/python -m build --outdir "$work/dist" "$repo" >"$work/build.log" 2>&1 \
    || { cat "$work/build.log" >&2; fail "build failed"; }
# (byte-compiling "disabled" only says PYTHONDONTWRITEBYTECODE is set here.)
if grep -Ei "warning|deprecat" "$work/build.log" | grep -v "byte-compiling is disabled" >&2; then
    fail "the build printed warnings (above)"
fi
wheel=$(ls "$work"/dist/councild-*.whl)
ls "$work"/dist/councild-*.tar.gz >/dev/null

# Everything the installed package reads at run time must be inside the wheel.
.venv/bin/python - "$wheel" <<'PY' || fail "files missing from the wheel"
import sys, zipfile
names = set(zipfile.ZipFile(sys.argv[1]).namelist())
need = ["councild/examples/config.toml", "councild/locale/de/LC_MESSAGES/councild.mo",
        "councild/systemd/councild.service", "councild/systemd/secrets.env",
        "councild/join/templates/page.html", "councild/join/static/join.js", "tui/app.tcss",
        "tui/widgets/tables.py", "devices/sim/x32.py", "scenes/obs_client.py",
        "councild/demo/run.py", "councild/demo/remote.py"]
missing = [n for n in need if n not in names]
if missing:
    print("missing from the wheel:", *missing, file=sys.stderr)
    sys.exit(1)
PY

echo "wheel check: installing into a fresh venv outside the tree" >&2
python3 -m venv "$work/venv"
pip=("$work/venv/bin/python" -m pip)
"${pip[@]}" install -q --require-hashes -r requirements/base.lock >"$work/install.log" 2>&1 \
    && "${pip[@]}" install -q --no-deps "$wheel" >>"$work/install.log" 2>&1 \
    || { cat "$work/install.log" >&2; fail "install failed"; }
# pip's own notice about a newer pip is not the package's warning; this machine's pip config
# may name local wheel folders that do not exist.
if grep -Ei "warning" "$work/install.log" | grep -vEi "new release of pip|is ignored: it is neither" >&2; then
    fail "the install printed warnings (above)"
fi

cd "$work"  # nothing from the source tree is importable from here
bin="$work/venv/bin"
"$bin/python" -c "import textual" 2>/dev/null && fail "textual is installed: the check needs the TUI extra absent"
[ "$("$bin/python" -c 'import councild, os; print(os.path.dirname(councild.__file__))')" \
    = "$("$bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')/councild" ] \
    || fail "councild is not imported from the installed wheel"
"$bin/councild" --help >/dev/null
"$bin/councild" tui --help >/dev/null
"$bin/councild" example-config -o "$work/config.toml"
"$bin/councild" check -c "$work/config.toml" >/dev/null
"$bin/councild" service unit >"$work/councild.service"
grep -q "^ExecStart=$bin/councild run$" "$work/councild.service" || fail "unit's ExecStart"
"$bin/councild" tui >/dev/null 2>"$work/tui.err" && fail "councild tui ran without Textual"
grep -q "councild\[tui\]" "$work/tui.err" || { cat "$work/tui.err" >&2; fail "tui's message"; }

echo "wheel check: councild demo --no-tui for a few seconds" >&2
"$bin/councild" demo --no-tui --seconds 6 --socket "$work/demo.sock" --db "$work/demo.db" \
    >"$work/demo.out" 2>"$work/demo.err" &
demo_pid=$!
wait "$demo_pid" || { cat "$work/demo.err" >&2; fail "demo exited with $?"; }
demo_pid=""
grep -q "speaking:" "$work/demo.out" || { cat "$work/demo.out" "$work/demo.err" >&2; fail "demo printed no floor"; }
if grep -E "Traceback|ERROR" "$work/demo.err" >&2; then fail "demo logged errors (above)"; fi
echo "wheel check: OK ($(basename "$wheel"))" >&2
