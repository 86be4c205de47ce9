"""The scene-collection generator (pure); that real OBS loads it is checked in test_obs_live."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from scenes.collection import (
    PALETTE,
    CollectionError,
    LowerThirdSpec,
    SceneSpec,
    SourceSpec,
    build_collection,
    obs_color,
    write_collection,
)

LT = LowerThirdSpec()


def sources(collection: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {source["name"]: source for source in collection["sources"]}


def items(collection: dict[str, Any], scene: str) -> list[str]:
    return [item["name"] for item in sources(collection)[scene]["settings"]["items"]]


@pytest.mark.parametrize(
    ("rgb", "opacity", "abgr"),
    [
        (0xFF0000, 1.0, 0xFF0000FF),
        (0x00FF00, 1.0, 0xFF00FF00),
        (0x0000FF, 1.0, 0xFFFF0000),
        (0x123456, 0.0, 0x00563412),
        (0xFFFFFF, 0.5, 0x80FFFFFF),
    ],
)
def test_obs_color_is_abgr(rgb: int, opacity: float, abgr: int) -> None:
    assert obs_color(rgb, opacity) == abgr


def test_obs_color_rejects_out_of_range() -> None:
    with pytest.raises(CollectionError):
        obs_color(0x1000000)
    with pytest.raises(CollectionError):
        obs_color(0, 1.5)


def test_collection_top_level_keys() -> None:
    scenes = [SceneSpec(name="Wide", lower_third=False), SceneSpec(name="Seat 1")]
    collection = build_collection("Council", scenes, LT, canvas=(640, 360))
    assert collection["name"] == "Council"
    assert collection["scene_order"] == [{"name": "Wide"}, {"name": "Seat 1"}]
    assert collection["current_scene"] == collection["current_program_scene"] == "Wide"
    assert collection["current_transition"] == "Cut"
    assert json.loads(json.dumps(collection)) == collection  # plain JSON all the way down


def test_every_scene_gets_a_background_and_seat_scenes_the_lower_third() -> None:
    scenes = [
        SceneSpec(name="Wide", lower_third=False),
        SceneSpec(name="Seat 1", color=0x112233),
        SceneSpec(name="Seat 2"),
    ]
    collection = build_collection("Council", scenes, LT, canvas=(640, 360))
    by_name = sources(collection)
    assert items(collection, "Wide") == ["Wide background"]
    lower = [LT.bar_source, LT.name_source, LT.detail_source]
    assert items(collection, "Seat 1") == ["Seat 1 background", *lower]
    assert items(collection, "Seat 2") == ["Seat 2 background", *lower]
    assert by_name["Seat 1 background"]["id"] == "color_source_v3"
    assert by_name["Seat 1 background"]["settings"] == {
        "color": obs_color(0x112233),
        "width": 640,
        "height": 360,
    }
    assert by_name["Seat 2 background"]["settings"]["color"] == obs_color(PALETTE[2])
    for name in (LT.name_source, LT.detail_source):
        assert by_name[name]["id"] == "text_ft2_source_v2"
    # One shared input each, not one per scene.
    assert [s["name"] for s in collection["sources"]].count(LT.name_source) == 1
    # Every item references an existing source, and the lower third sits in the lower third.
    for scene in ("Seat 1", "Seat 2"):
        for item in by_name[scene]["settings"]["items"]:
            assert item["name"] in by_name
            if item["name"] in lower:
                assert 180 <= item["pos"]["y"] < 360


def test_extra_sources_are_shared_by_name() -> None:
    feed = SourceSpec(
        name="Remote 1", kind="ffmpeg_source", settings={"is_local_file": True}, visible=False
    )
    scenes = [SceneSpec(name="A", sources=[feed]), SceneSpec(name="B", sources=[feed])]
    collection = build_collection("Council", scenes, None)
    assert [s["name"] for s in collection["sources"]].count("Remote 1") == 1
    item = sources(collection)["A"]["settings"]["items"][1]
    assert (item["name"], item["visible"]) == ("Remote 1", False)
    assert items(collection, "A") == ["A background", "Remote 1"]  # no lower third given


@pytest.mark.parametrize(
    ("scenes", "current", "message"),
    [
        ([], None, "at least one"),
        ([SceneSpec(name="A"), SceneSpec(name="A")], None, "twice"),
        ([SceneSpec(name=" ")], None, "needs a name"),
        ([SceneSpec(name="A")], "B", "not in the scene list"),
        (
            [SceneSpec(name="A", sources=[SourceSpec(name="A background", kind="image_source")])],
            None,
            "defined twice",
        ),
    ],
)
def test_invalid_inputs_are_refused(
    scenes: list[SceneSpec], current: str | None, message: str
) -> None:
    with pytest.raises(CollectionError, match=message):
        build_collection("Council", scenes, LT, current_scene=current)


def test_current_scene_can_be_chosen() -> None:
    collection = build_collection(
        "Council", [SceneSpec(name="A"), SceneSpec(name="B")], LT, current_scene="B"
    )
    assert collection["current_scene"] == "B"
    assert collection["current_program_scene"] == "B"


def test_write_collection_writes_obs_file_name(tmp_path: Path) -> None:
    path = write_collection(tmp_path / "basic/scenes", "Town Council", [SceneSpec(name="Wide")])
    assert path == tmp_path / "basic/scenes/Town_Council.json"
    data = json.loads(path.read_text(encoding="utf-8"))
    assert data["name"] == "Town Council"
    assert not list(path.parent.glob("*.tmp"))


def test_config_style_hex_colours_are_accepted() -> None:
    collection = build_collection("Council", [SceneSpec(name="A", color="#1982c4")], None)
    assert sources(collection)["A background"]["settings"]["color"] == obs_color(0x1982C4)
    with pytest.raises(CollectionError, match="rrggbb"):
        build_collection("Council", [SceneSpec(name="A", color="#12345")], None)


NAMES = st.text(
    st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), min_size=1, max_size=20
).filter(lambda n: n.strip() != "")


@given(
    names=st.lists(
        NAMES | st.sampled_from(["A", "A background", "Lower third name"]),
        min_size=1,
        max_size=12,
        unique=True,
    ),
    lower=st.lists(st.booleans(), min_size=12, max_size=12),
    canvas=st.tuples(st.integers(16, 4096), st.integers(16, 4096)),
)
def test_any_scene_list_gives_a_consistent_collection(
    names: list[str], lower: list[bool], canvas: tuple[int, int]
) -> None:
    specs = [SceneSpec(name=n, lower_third=lt) for n, lt in zip(names, lower, strict=False)]
    generated = {f"{n} background" for n in names} | {
        LT.name_source,
        LT.detail_source,
        LT.bar_source,
    }
    if generated & set(names):  # OBS has one namespace for scenes and sources
        with pytest.raises(CollectionError, match="clash"):
            build_collection("Council", specs, LT, canvas=canvas)
        return
    collection = build_collection("Council", specs, LT, canvas=canvas)
    by_name = sources(collection)
    assert [o["name"] for o in collection["scene_order"]] == names
    assert len(by_name) == len(collection["sources"])  # every name once
    for spec in specs:
        listed = items(collection, spec.name)
        assert all(name in by_name for name in listed)
        assert (LT.name_source in listed) == spec.lower_third
    json.dumps(collection, allow_nan=False)


def test_scene_named_like_a_source_is_refused() -> None:
    with pytest.raises(CollectionError, match="clash"):
        build_collection("C", [SceneSpec(name="A"), SceneSpec(name="A background")], None)
