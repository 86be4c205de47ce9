"""How a shot is realised in OBS: the requests that put a scene and its lower third on air.

What a shot *is* (scene, PTZ positions, lower third) belongs to the director's configuration
(councild/director.py); this module only knows OBS. A picture change is one request batch:
the lower-third texts and the cut run back to back in OBS (SerialRealtime), so they land in
the same frame. Sent one by one, each waiting for its reply, they were a frame apart and the
new face showed the previous speaker's name; SerialFrame batches were measured to run one
request per frame.
"""

from __future__ import annotations

from dataclasses import dataclass

from scenes.obs import BatchExecution, Request

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
) -> list[Request]:
    """The requests for one picture change; `None` leaves that part as it is.

    In studio mode the scene goes to preview and the transition takes it to program.
    """
    requests: list[Request] = []
    if texts is not None and sources is not None:
        for source, text in ((sources.name, texts[0]), (sources.detail, texts[1])):
            requests.append(Request(request_type="SetInputSettings", data={
                "inputName": source, "inputSettings": {"text": text}, "overlay": True}))
    if scene is not None:
        if studio_mode:
            requests.append(Request(request_type="SetCurrentPreviewScene",
                                    data={"sceneName": scene}))
            requests.append(Request(request_type="TriggerStudioModeTransition"))
        else:
            requests.append(Request(request_type="SetCurrentProgramScene",
                                    data={"sceneName": scene}))
    return requests
