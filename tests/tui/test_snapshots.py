"""Snapshots of the main screen on fixed data (tests/tui/fixture_app.py: fixed clock, UTC).

Update only after looking at the report: `pytest tests/tui --snapshot-update`.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.tui.fixture_app import make_broadcast_fixture_app, make_fixture_app

pytestmark = pytest.mark.timeout(60)


async def _settle(pilot: Any) -> None:
    # The fixture arrives as a message after the screen is ready: let it render.
    await pilot.pause()
    await pilot.pause()


class TestMainScreen:
    def test_80x24(self, snap_compare: Any) -> None:
        assert snap_compare(make_fixture_app(), terminal_size=(80, 24), run_before=_settle)

    def test_160x48(self, snap_compare: Any) -> None:
        assert snap_compare(make_fixture_app(), terminal_size=(160, 48), run_before=_settle)

    def test_light_theme_120x30(self, snap_compare: Any) -> None:
        async def light(pilot: Any) -> None:
            pilot.app.theme = "textual-light"
            await _settle(pilot)

        assert snap_compare(make_fixture_app(), terminal_size=(120, 30), run_before=light)


class TestDialogs:
    def test_help_80x24(self, snap_compare: Any) -> None:
        async def help_open(pilot: Any) -> None:
            await _settle(pilot)
            await pilot.press("question_mark")
            await pilot.pause()

        assert snap_compare(make_fixture_app(), terminal_size=(80, 24), run_before=help_open)


class TestBroadcast:
    """The broadcast panel and the alarm banner (a daemon with OBS, live and recording)."""

    def test_80x24(self, snap_compare: Any) -> None:
        assert snap_compare(make_broadcast_fixture_app(), terminal_size=(80, 24),
                            run_before=_settle)

    def test_160x48(self, snap_compare: Any) -> None:
        assert snap_compare(make_broadcast_fixture_app(), terminal_size=(160, 48),
                            run_before=_settle)
