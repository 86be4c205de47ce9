"""How a shot is realised in OBS: the requests that put a scene and its lower third on air.

What a shot *is* (scene, PTZ positions, lower third) belongs to the director's configuration
(councild/director.py); this module only knows OBS. A picture change is one request batch:
the lower-third texts and the cut run back to back in OBS (SerialRealtime), so they land in
the same frame. Sent one by one, each waiting for its reply, they were a frame apart and the
new face showed the previous speaker's name; SerialFrame batches were measured to run one
request per frame.

Studio mode takes two steps: the scene goes to preview first, and only once OBS has answered
(measured: a transition triggered in the same batch still takes the *old* preview) do the
texts and the transition follow, together. With a Cut transition that is one frame again;
with a fade, the shared lower-third sources change at the start of the fade.
"""

from __future__ import annotations

from dataclasses import dataclass

from scenes.obs_protocol import BatchExecution, Request

EXECUTION = BatchExecution.SERIAL_REALTIME


@dataclass(frozen=True, slots=True)
class LowerThirdSources:
    """The two shared text sources (text_ft2_source_v2) every seat scene shows."""

    name: str
    detail: str


def picture_change(
    scene: str | None,
    texts: tuple[str, str] | None,
    sources: LowerThirdSources | None,
    *,
    studio_mode: bool = False,
) -> list[list[Request]]:
    """The request batches for one picture change, to be sent one after the other (each
    after the previous one's reply); `None` leaves that part as it is."""
    batch: list[Request] = []
    steps: list[list[Request]] = []
    if scene is not None and studio_mode:
        steps.append([Request(request_type="SetCurrentPreviewScene",
                              data={"sceneName": scene})])
    if texts is not None and sources is not None:
        for source, text in ((sources.name, texts[0]), (sources.detail, texts[1])):
            batch.append(Request(request_type="SetInputSettings", data={
                "inputName": source, "inputSettings": {"text": text}, "overlay": True}))
    if scene is not None:
        if studio_mode:
            batch.append(Request(request_type="TriggerStudioModeTransition"))
        else:
            batch.append(Request(request_type="SetCurrentProgramScene",
                                 data={"sceneName": scene}))
    if batch:
        steps.append(batch)
    return steps
