"""config.toml → an OBS scene collection, so a chamber's scenes and sources match its config.

Used by `councild obs-collection` for a new chamber and by the tests for their real OBS.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from councild.config import Config
from scenes.collection import (
    LowerThirdSpec,
    SceneSpec,
    SourceSpec,
    build_collection,
    write_collection,
)

DEFAULT_NAME = "councild"


def feed_source(slot_scene: str) -> str:
    """The media source in a bridge slot scene that plays the remote councillor's stream."""
    return f"{slot_scene} feed"


def scene_specs(config: Config) -> list[SceneSpec]:
    """Every scene of the config, the wide shot's first (it is on program at start); bridge
    slot scenes hold a media source for the remote councillor's stream."""
    wide = config.shots.get(config.director.wide or "")
    order = sorted(config.scenes, key=lambda name: wide is None or name != wide.scene)
    slots = set(config.bridge.slots)
    return [
        SceneSpec(
            name=name, color=config.scenes[name].color,
            lower_third=config.scenes[name].lower_third,
            sources=[SourceSpec(name=feed_source(name), kind="ffmpeg_source",
                                settings={"is_local_file": True, "local_file": ""})]
            if name in slots else [],
        )
        for name in order
    ]


def lower_third_spec(config: Config) -> LowerThirdSpec:
    lt = config.obs.lower_third
    return LowerThirdSpec(name_source=lt.name_source, detail_source=lt.detail_source)


def collection_for(config: Config, name: str = DEFAULT_NAME,
                   canvas: tuple[int, int] = (1920, 1080)) -> dict[str, Any]:
    return build_collection(name, scene_specs(config), lower_third_spec(config), canvas=canvas)


def write_for(config: Config, directory: Path, name: str = DEFAULT_NAME,
              canvas: tuple[int, int] = (1920, 1080)) -> Path:
    return write_collection(directory, name, scene_specs(config), lower_third_spec(config),
                            canvas=canvas)
