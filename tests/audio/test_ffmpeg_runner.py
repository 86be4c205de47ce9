"""devices.ffmpeg.FfmpegRunner with a stand-in program (/bin/sh playing ffmpeg's part): the
one ffmpeg supervision, restart paths and all, without needing ffmpeg itself."""

from __future__ import annotations

import asyncio
import shutil

import pytest

from councild.model import Link
from councild.supervisor import Backoff
from devices.ffmpeg import FfmpegRunner
from tests.helpers import until

pytestmark = pytest.mark.timeout(30)

SH = shutil.which("sh") or "/bin/sh"
QUICK = Backoff(first=0.05, factor=2.0, cap=0.2, fatal_retry_s=30.0)


class Statuses:
    def __init__(self) -> None:
        self.entries: list[tuple[Link, str]] = []

    def __call__(self, link: Link, detail: str) -> None:
        self.entries.append((link, detail))

    def links(self) -> list[Link]:
        return [link for link, _ in self.entries]


async def test_an_exiting_ffmpeg_is_reported_with_its_last_line_and_restarted() -> None:
    statuses = Statuses()
    script = "echo progress=continue; echo 'first line' >&2; echo 'the cause' >&2; exit 3"
    runner = FfmpegRunner("t", lambda: [SH, "-c", script], backoff=QUICK, on_status=statuses)
    runner.start()
    try:
        await until(lambda: runner.starts >= 2)
    finally:
        await runner.stop()
    assert statuses.entries[:3] == [(Link.CONNECTING, ""), (Link.CONNECTED, "running"),
                                    (Link.LOST, "ffmpeg exited with code 3: the cause")]
    assert (Link.RECONNECTING, "ffmpeg exited with code 3: the cause") in statuses.entries
    assert statuses.entries[-1] == (Link.CLOSED, "stopped")
    assert runner.pid is None


async def test_restart_starts_over_at_once_without_reporting_a_loss() -> None:
    statuses = Statuses()
    runner = FfmpegRunner("t", lambda: [SH, "-c", "echo progress=continue; exec sleep 30"],
                          backoff=Backoff(first=20.0, cap=20.0), on_status=statuses)
    runner.start()
    try:
        await until(lambda: runner.link == Link.CONNECTED)
        first = runner.pid
        runner.restart()
        await until(lambda: runner.starts == 2 and runner.link == Link.CONNECTED)
        assert runner.pid not in (None, first)
        assert Link.LOST not in statuses.links()  # and no 20 s backoff came in between
    finally:
        await runner.stop()


async def test_a_missing_program_is_fatal_and_retried_slowly() -> None:
    statuses = Statuses()
    runner = FfmpegRunner("t", lambda: ["/nonexistent/ffmpeg"], backoff=QUICK,
                          on_status=statuses)
    runner.start()
    try:
        await until(lambda: runner.link == Link.LOST)
        assert "ffmpeg not found: '/nonexistent/ffmpeg'" in runner.detail
        assert runner.starts == 0
        # an observation window, not synchronisation: QUICK would have retried 4 times
        await asyncio.sleep(0.3)
    finally:
        await runner.stop()
    assert Link.RECONNECTING not in statuses.links()  # 30 s, not QUICK's 0.05 s
