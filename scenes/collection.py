"""Generate an OBS Studio 29 scene collection (JSON) from councild's own scene list.

Generating the collection from the configuration keeps OBS and councild in step: every shot
councild may cut to exists as a scene, and every seat scene carries the one shared lower third
(a name line and a detail line) that the director fills in. The output is what OBS writes to
`basic/scenes/NAME.json`; OBS fills in every key left out with its defaults when it loads.

Pure: `build_collection` returns a dict and touches nothing; `write_collection` saves it.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from councild.errors import CouncildError

__all__ = [
    "DEFAULT_CANVAS",
    "PALETTE",
    "CollectionError",
    "LowerThirdSpec",
    "SceneSpec",
    "SourceSpec",
    "build_collection",
    "obs_color",
    "write_collection",
]

# A real chamber streams 1080p; tests pass their own small canvas.
DEFAULT_CANVAS = (1920, 1080)

# The OBS version the layout follows (29.0.2 encoded as major<<24 | minor<<16 | patch):
# OBS compares `prev_ver` to decide which settings migrations to run on load.
OBS_VERSION = 486539266

# Distinct, dark-enough background colours (0xRRGGBB) so white text stays legible and each
# scene is recognisable in a screenshot when no colour is given.
PALETTE = (0x1F3A5F, 0x5F1F3A, 0x1F5F3A, 0x5F4A1F, 0x3A1F5F, 0x1F5A5F, 0x5F2F1F, 0x2F2F2F)

# OBS item alignment bit flags (obs_alignment): left | top.
_ALIGN_TOP_LEFT = 1 | 4

# Widths and heights as fractions of the canvas height, chosen to read well at 1080p.
_NAME_SIZE = 1 / 14
_DETAIL_SIZE = 1 / 22
_MARGIN = 1 / 24


class CollectionError(CouncildError, ValueError):
    """The scene list cannot become a valid OBS scene collection."""


@dataclass(frozen=True, slots=True, kw_only=True)
class SourceSpec:
    """An input placed in a scene: `kind` is OBS's input kind id (ffmpeg_source, image_source,
    v4l2_input, ...); the same name in several scenes means one shared input."""

    name: str
    kind: str
    settings: Mapping[str, Any] = field(default_factory=dict)
    position: tuple[float, float] = (0.0, 0.0)
    scale: tuple[float, float] = (1.0, 1.0)
    visible: bool = True


@dataclass(frozen=True, slots=True, kw_only=True)
class SceneSpec:
    """One OBS scene. `color` is the background, 0xRRGGBB or "#rrggbb" as config.toml
    writes it; None picks one from PALETTE."""

    name: str
    color: int | str | None = None
    sources: Sequence[SourceSpec] = ()
    lower_third: bool = True  # seat scenes carry the shared lower third; wide shots may not


@dataclass(frozen=True, slots=True, kw_only=True)
class LowerThirdSpec:
    """The shared lower third: two text_ft2_source_v2 inputs and an optional backing bar."""

    name_source: str = "Lower third name"
    detail_source: str = "Lower third detail"
    bar_source: str | None = "Lower third bar"
    font_face: str = "DejaVu Sans"
    text_color: int = 0xFFFFFF  # 0xRRGGBB
    bar_color: int = 0x101010
    bar_opacity: float = 0.75
    name_text: str = ""
    detail_text: str = ""


def obs_color(rgb: int, opacity: float = 1.0) -> int:
    """OBS stores colours as 0xAABBGGRR; councild's config speaks 0xRRGGBB."""
    if not 0 <= rgb <= 0xFFFFFF:
        raise CollectionError(f"colour {rgb:#x} is not 0xRRGGBB")
    if not 0.0 <= opacity <= 1.0:
        raise CollectionError(f"opacity {opacity} is not within 0..1")
    red, green, blue = (rgb >> 16) & 0xFF, (rgb >> 8) & 0xFF, rgb & 0xFF
    alpha = round(opacity * 255)
    return (alpha << 24) | (blue << 16) | (green << 8) | red


def build_collection(
    name: str,
    scenes: Sequence[SceneSpec],
    lower_third: LowerThirdSpec | None = None,
    *,
    current_scene: str | None = None,
    canvas: tuple[int, int] = DEFAULT_CANVAS,
) -> dict[str, Any]:
    """The scene collection as OBS 29 saves it; `current_scene` defaults to the first scene."""
    _check(name, scenes, current_scene, canvas)
    width, height = canvas
    inputs: dict[str, dict[str, Any]] = {}
    scene_sources: list[dict[str, Any]] = []
    lt_items = _lower_third_inputs(lower_third, canvas, inputs) if lower_third else []
    for index, scene in enumerate(scenes):
        color = _rgb(scene.color) if scene.color is not None else PALETTE[index % len(PALETTE)]
        background = f"{scene.name} background"
        _add_input(
            inputs,
            _source(
                background,
                "color_source_v3",
                {"color": obs_color(color), "width": width, "height": height},
            ),
        )
        items = [_item(background, 1)]
        for spec in scene.sources:
            _add_input(inputs, _source(spec.name, spec.kind, dict(spec.settings)))
            items.append(_item(spec.name, len(items) + 1, spec.position, spec.scale, spec.visible))
        if scene.lower_third:
            for lt_name, position in lt_items:
                items.append(_item(lt_name, len(items) + 1, position))
        settings = {"items": items, "id_counter": len(items), "custom_size": False}
        scene_sources.append(_source(scene.name, "scene", settings))
    clashes = sorted(set(inputs) & {scene.name for scene in scenes})
    if clashes:
        # OBS keeps one namespace for scenes and inputs; the second would not load.
        raise CollectionError(f"scene name(s) {', '.join(map(repr, clashes))} clash with sources")
    current = current_scene or scenes[0].name
    return {
        "name": name,
        "current_scene": current,
        "current_program_scene": current,
        "scene_order": [{"name": scene.name} for scene in scenes],
        "current_transition": "Cut",
        "transition_duration": 300,
        "transitions": [],
        "quick_transitions": [],
        "saved_projectors": [],
        "groups": [],
        "preview_locked": False,
        "scaling_enabled": False,
        "modules": {},
        "sources": [*inputs.values(), *scene_sources],
    }


def write_collection(
    directory: Path | str,
    name: str,
    scenes: Sequence[SceneSpec],
    lower_third: LowerThirdSpec | None = None,
    *,
    current_scene: str | None = None,
    canvas: tuple[int, int] = DEFAULT_CANVAS,
) -> Path:
    """Write `<directory>/<name>.json` (OBS's basic/scenes folder) and return its path."""
    collection = build_collection(
        name, scenes, lower_third, current_scene=current_scene, canvas=canvas
    )
    path = Path(directory) / f"{_file_name(name)}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".json.tmp")
    # OBS may be reading the old file; a rename never exposes a half-written one.
    tmp.write_text(json.dumps(collection, indent=2, ensure_ascii=False), encoding="utf-8")
    tmp.replace(path)
    return path


# --- helpers ------------------------------------------------------------------------------


def _file_name(name: str) -> str:
    # OBS derives the file name from the collection name the same way: unsafe chars → "_".
    return "".join(ch if ch.isalnum() or ch in " -_" else "_" for ch in name).replace(" ", "_")


def _rgb(color: int | str) -> int:
    if isinstance(color, int):
        return color
    text = color.removeprefix("#")
    if len(text) != 6 or any(ch not in "0123456789abcdefABCDEF" for ch in text):
        raise CollectionError(f"colour {color!r} is not #rrggbb")
    return int(text, 16)


def _check(
    name: str,
    scenes: Sequence[SceneSpec],
    current_scene: str | None,
    canvas: tuple[int, int],
) -> None:
    if not name.strip():
        raise CollectionError("the collection needs a name")
    if not scenes:
        raise CollectionError("a scene collection needs at least one scene")
    seen: set[str] = set()
    for scene in scenes:
        if not scene.name.strip():
            raise CollectionError("a scene needs a name")
        if scene.name in seen:
            raise CollectionError(f"scene {scene.name!r} is listed twice")
        seen.add(scene.name)
    if current_scene is not None and current_scene not in seen:
        raise CollectionError(f"current scene {current_scene!r} is not in the scene list")
    width, height = canvas
    if not (16 <= width <= 8192 and 16 <= height <= 8192):
        raise CollectionError(f"canvas {width}×{height} is out of range")


def _add_input(inputs: dict[str, dict[str, Any]], source: dict[str, Any]) -> None:
    existing = inputs.get(source["name"])
    if existing is None:
        inputs[source["name"]] = source
    elif (existing["id"], existing["settings"]) != (source["id"], source["settings"]):
        raise CollectionError(
            f"source {source['name']!r} is defined twice with different kinds or settings"
        )


def _lower_third_inputs(
    spec: LowerThirdSpec, canvas: tuple[int, int], inputs: dict[str, dict[str, Any]]
) -> list[tuple[str, tuple[float, float]]]:
    """Add the lower-third inputs; return their names and positions, back to front."""
    width, height = canvas
    margin = math.floor(height * _MARGIN)
    name_size = math.floor(height * _NAME_SIZE)
    detail_size = math.floor(height * _DETAIL_SIZE)
    detail_y = height - margin - detail_size * 1.3
    name_y = detail_y - name_size * 1.25
    names = {spec.name_source, spec.detail_source, spec.bar_source}
    if len(names) != 3 or "" in names:
        raise CollectionError("the lower-third sources need three distinct names")
    placed: list[tuple[str, tuple[float, float]]] = []
    if spec.bar_source is not None:
        bar_y = name_y - margin / 2
        bar = {
            "color": obs_color(spec.bar_color, spec.bar_opacity),
            "width": width,
            "height": math.ceil(height - bar_y),  # down to the bottom edge
        }
        _add_input(inputs, _source(spec.bar_source, "color_source_v3", bar))
        placed.append((spec.bar_source, (0.0, bar_y)))
    for source, text, size, y in (
        (spec.name_source, spec.name_text, name_size, name_y),
        (spec.detail_source, spec.detail_text, detail_size, detail_y),
    ):
        settings = {
            "text": text,
            "font": {"face": spec.font_face, "size": size, "style": "Regular", "flags": 0},
            "color1": obs_color(spec.text_color),
            "color2": obs_color(spec.text_color),
            "drop_shadow": True,
        }
        _add_input(inputs, _source(source, "text_ft2_source_v2", settings))
        placed.append((source, (float(margin * 2), y)))
    return placed


def _source(name: str, kind: str, settings: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": name,
        "id": kind,
        "versioned_id": kind,
        "settings": settings,
        "enabled": True,
        "muted": False,
        "volume": 1.0,
        "balance": 0.5,
        "mixers": 0 if kind in ("scene", "color_source_v3", "text_ft2_source_v2") else 255,
        "flags": 0,
        "sync": 0,
        "deinterlace_mode": 0,
        "monitoring_type": 0,
        "filters": [],
        "hotkeys": {},
        "private_settings": {},
        "prev_ver": OBS_VERSION,
    }


def _item(
    name: str,
    item_id: int,
    position: tuple[float, float] = (0.0, 0.0),
    scale: tuple[float, float] = (1.0, 1.0),
    visible: bool = True,
) -> dict[str, Any]:
    return {
        "name": name,
        "id": item_id,
        "visible": visible,
        "locked": False,
        "rot": 0.0,
        "pos": {"x": float(position[0]), "y": float(position[1])},
        "scale": {"x": float(scale[0]), "y": float(scale[1])},
        "align": _ALIGN_TOP_LEFT,
        "bounds_type": 0,
        "bounds_align": 0,
        "bounds": {"x": 0.0, "y": 0.0},
        "crop_left": 0,
        "crop_top": 0,
        "crop_right": 0,
        "crop_bottom": 0,
        "scale_filter": "disable",
        "blend_method": "default",
        "blend_type": "normal",
        "private_settings": {},
    }
