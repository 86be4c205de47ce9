"""A real headless OBS per test module (starting one costs ~1 s and ~200 MB)."""

from __future__ import annotations

import glob
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from scenes.collection import LowerThirdSpec, SceneSpec, SourceSpec, build_collection
from scenes.headless import HeadlessObs
from tests.helpers import IN_CI, require_binary

CANVAS = (640, 360)
LOWER_THIRD = LowerThirdSpec()
WIDE_COLOR = 0x204080
SEAT1_COLOR = 0x803020
SCENES = [
    SceneSpec(name="Wide", color=WIDE_COLOR, lower_third=False),
    SceneSpec(name="Chair"),
    SceneSpec(name="Seat 1", color=SEAT1_COLOR),
    SceneSpec(
        name="Seat 2",
        sources=[
            SourceSpec(
                name="Remote 1",
                kind="ffmpeg_source",
                settings={"is_local_file": True, "local_file": ""},
                visible=False,
            )
        ],
    ),
]
REQUIRED_INPUTS = (LOWER_THIRD.name_source, LOWER_THIRD.detail_source)


def require_obs() -> None:
    require_binary("obs", "obs-studio")
    require_binary("Xvfb", "xvfb")
    if not glob.glob("/usr/lib/*/obs-plugins/obs-websocket.so"):
        reason = "obs-websocket plugin not found (Debian obs-plugins)"
        if IN_CI:
            pytest.fail(f"CI=true: {reason}")
        pytest.skip(reason)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def obs() -> AsyncIterator[HeadlessObs]:
    require_obs()
    collection = build_collection("councild-test", SCENES, LOWER_THIRD, canvas=CANVAS)
    async with HeadlessObs(collection=collection, canvas=CANVAS) as server:
        yield server
