#!/usr/bin/env bash
# One entry point for a fresh Debian machine:
#   bash scripts/dev.sh demo   install everything, then run the simulated chamber
#   bash scripts/dev.sh test   install everything, then run the whole test suite
set -euo pipefail
cd "$(dirname "$0")/.."

# System packages the tests and the demo use. obs-plugins holds OBS's websocket server (it is
# only a Recommends of obs-studio); libgl1-mesa-dri is Mesa's software GL for OBS under Xvfb.
# jackd2 runs a dummy JACK server for the MIDI port tests (this machine has no ALSA sequencer);
# janus is the video bridge remote councillors join through; ffmpeg encodes the simulated
# remote councillors' VP8 test picture and the chamber programme feed. The join page serves
# Debian's janus.js and adapter.js (libjs-*); chromium runs the join page's browser test.
# openssl makes the self-signed certificate of the join page's TLS test.
# systemd: systemd-analyze verifies the service unit (present on most machines anyway).
SYSTEM_PACKAGES=(python3-venv obs-studio obs-plugins xvfb libgl1-mesa-dri socat tmux jackd2 janus
                 ffmpeg libjs-janus-gateway libjs-webrtc-adapter chromium openssl systemd
                 prometheus)  # prometheus: the metrics test scrapes councild; promtool checks the rules

install_system() {
    local missing=()
    for p in "${SYSTEM_PACKAGES[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    echo "installing system packages: ${missing[*]}" >&2
    local sudo=()
    if [ "$(id -u)" -ne 0 ]; then
        if command -v sudo >/dev/null; then sudo=(sudo); else
            echo "not root and no sudo: install ${missing[*]} by hand" >&2; return 0
        fi
    fi
    # jackd2 would ask whether to enable realtime scheduling: answer no, unattended.
    echo "jackd2 jackd/tweak_rt_limits boolean false" | "${sudo[@]}" debconf-set-selections
    "${sudo[@]}" apt-get update -qq
    DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq "${missing[@]}" >/dev/null
}

install_python() {
    # The exact versions the suite passed with (requirements/test.lock, hash-checked; update
    # with scripts/lock.sh), then councild itself, editable, without resolving anything more.
    [ -x .venv/bin/python ] || python3 -m venv .venv
    local log
    log=$(mktemp)
    # pip's output only when it fails: the editable build's notes are not news on every run.
    if ! { .venv/bin/python -m pip install -q --require-hashes -r requirements/test.lock &&
           .venv/bin/python -m pip install -q --no-deps -e .; } >"$log" 2>&1; then
        cat "$log" >&2; rm -f "$log"; return 1
    fi
    rm -f "$log"
}

case "${1:-}" in
    demo)
        install_system
        install_python
        shift
        exec .venv/bin/councild demo "$@"
        ;;
    test)
        install_system
        install_python
        shift
        .venv/bin/ruff check .
        # The package as it is installed elsewhere: the wheel, outside the tree.
        bash scripts/wheel_check.sh
        set +e
        .venv/bin/python -m pytest "$@"
        rc=$?
        set -e
        # pytest exits 5 when it collected nothing: that is a failure of the suite here.
        exit $rc
        ;;
    *)
        echo "usage: bash scripts/dev.sh demo|test [args]" >&2
        exit 2
        ;;
esac
