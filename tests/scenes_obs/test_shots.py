"""A picture change is one batch: the lower-third texts and the cut (or preview + transition)."""

from __future__ import annotations

from scenes.shots import LowerThirdSources, picture_change

LT = LowerThirdSources("LT name", "LT detail")


def test_cut_with_lower_third():
    (requests,) = picture_change("Seat 5", ("Anna", "SPD"), LT)
    assert [(r.request_type, r.data) for r in requests] == [
        ("SetInputSettings", {"inputName": "LT name", "inputSettings": {"text": "Anna"},
                              "overlay": True}),
        ("SetInputSettings", {"inputName": "LT detail", "inputSettings": {"text": "SPD"},
                              "overlay": True}),
        ("SetCurrentProgramScene", {"sceneName": "Seat 5"}),
    ]


def test_studio_mode_goes_through_preview_first():
    first, second = picture_change("Wide", ("A", "B"), LT, studio_mode=True)
    assert [r.request_type for r in first] == ["SetCurrentPreviewScene"]
    assert first[0].data == {"sceneName": "Wide"}
    assert [r.request_type for r in second] == ["SetInputSettings", "SetInputSettings",
                                                "TriggerStudioModeTransition"]


def test_nothing_to_change_and_no_lower_third_sources():
    assert picture_change(None, None, LT) == []
    assert picture_change(None, ("x", "y"), None) == []
