"""The join page end to end: real Chromium, real Janus, the real daemon.

The browser ↔ Janus media needs a private network namespace (netns.py), which this pytest
process is not in. So the outer test re-runs pytest on join_scenarios.py inside `unshare`,
and passes only if that run passed every scenario the file defines: a scenario that skipped,
errored or was never collected fails it.
"""

from __future__ import annotations

import ast
import os
import signal
import subprocess
import tempfile
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from tests.browser import netns
from tests.helpers import require_binary

SCENARIOS = Path(__file__).with_name("join_scenarios.py")
# The inner run takes ~30-60 s; pytest-timeout ends a stuck scenario after 60 s on its own.
INNER_TIMEOUT = 240
# Beyond the inner subprocess, a little for starting it and reading its report.
pytestmark = pytest.mark.timeout(INNER_TIMEOUT + 30)


def scenario_names() -> set[str]:
    """The test functions join_scenarios.py defines, read from its source."""
    tree = ast.parse(SCENARIOS.read_text())
    return {node.name for node in tree.body
            if isinstance(node, ast.AsyncFunctionDef | ast.FunctionDef)
            and node.name.startswith("test_")}


def run_inner(unshare: str, report: Path) -> tuple[int, str]:
    args = [str(SCENARIOS.relative_to(netns.REPO)), "-p", "no:cacheprovider", "-v",
            f"--junitxml={report}", "-o", "junit_family=xunit1"]
    proc = subprocess.Popen(
        netns.command(unshare, args), cwd=netns.REPO, env=netns.environment(),
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        start_new_session=True,  # killed as a group: unshare, the inner pytest, its children
    )
    try:
        out, _ = proc.communicate(timeout=INNER_TIMEOUT)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, _ = proc.communicate()
        return -1, f"inner run killed after {INNER_TIMEOUT} s\n{out.decode(errors='replace')}"
    return proc.returncode, out.decode(errors="replace")


def outcomes(report: Path) -> dict[str, str]:
    """Test name → passed / failed / error / skipped, from the inner run's JUnit XML."""
    result = {}
    for case in ET.parse(report).getroot().iter("testcase"):
        outcome = "passed"
        for child in case:
            if child.tag in ("failure", "error", "skipped"):
                outcome = child.tag
                break
        name = case.get("name", "")
        if name in result:
            outcome = result[name] if result[name] != "passed" else outcome
        result[name] = outcome
    return result


def test_join_page_scenarios_in_a_browser() -> None:
    unshare = require_binary("unshare", "util-linux")
    require_binary("ip", "iproute2")
    require_binary("janus", "janus")
    require_binary("chromium", "chromium")
    require_binary("ffmpeg", "ffmpeg")
    expected = scenario_names()
    assert expected, "join_scenarios.py defines no scenarios"
    with tempfile.TemporaryDirectory(prefix="cd-browser-") as tmp:
        report = Path(tmp) / "report.xml"
        code, output = run_inner(unshare, report)
        assert report.exists(), f"the inner run wrote no report (exit {code}):\n{output}"
        got = outcomes(report)
    assert code == 0, f"inner run failed (exit {code}):\n{output}"
    assert got == dict.fromkeys(expected, "passed"), f"scenarios: {got}\n{output}"
