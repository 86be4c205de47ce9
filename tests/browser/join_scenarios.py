"""The join page in a real Chromium against the real daemon and a real Janus (docs/join.md).

Runs only inside the network namespace test_join_page.py makes; pytest does not collect this
file by itself. Each scenario starts its own Janus, daemon and browsers (conftest.py).
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
from playwright.async_api import expect

from devices.janus_protocol import RoomEventKind
from tests.audio.capture import PcmCapture
from tests.browser.conftest import (
    CHAMBER_ID,
    CHAMBER_SIZE,
    CHAMBER_TONE,
    Browser,
    Chamber,
    Control,
    OnAir,
    OpenBrowser,
)
from tests.helpers import until

pytestmark = [pytest.mark.timeout(60), pytest.mark.usefixtures("namespace")]

# Joining takes ~1.5 s (browser.md); the ICE and DTLS handshakes on a loaded machine more.
MEDIA = 20.0
# A status from councild reaches the page within one message round trip.
STATUS = 5.0


async def open_page(chamber: Chamber, browsers: OpenBrowser, councillor: str = "m7") -> Browser:
    """A browser on the councillor's link, published into the room."""
    browser = await browsers()
    response = await browser.page.goto(chamber.url(chamber.tokens[councillor]))
    assert response is not None and response.status == 200
    await expect(browser.page.locator("body")).to_have_attribute(
        "data-room", "published", timeout=MEDIA * 1000)
    return browser


async def participant_of(chamber: Chamber, seat: str, not_: str | None = None) -> str:
    """The seat's participant in the room, once the daemon has it present (and not `not_`)."""

    async def present() -> bool:
        bridge = (await chamber.seat(seat))["bridge"]
        return bool(bridge["present"]) and bridge["participant"] not in (None, not_)

    await until(present, STATUS)
    participant: str = (await chamber.seat(seat))["bridge"]["participant"]
    return participant


async def moderated(control: Control, participant: str, muted: bool) -> None:
    """Janus announced the participant's audio (un)muted last."""
    try:
        await until(lambda: control.moderation(participant)[-1:] == [muted], STATUS)
    except AssertionError:
        seen = Counter(e.kind.value for e in control.events if e.participant == participant
                       or participant in [p.id for p in e.participants])
        raise AssertionError(
            f"Janus did not announce {participant} {'muted' if muted else 'unmuted'}; "
            f"its moderation events: {control.moderation(participant)}, "
            f"all its events: {dict(seen)}") from None


async def floor_status(browser: Browser, status: str) -> None:
    await expect(browser.page.locator("body")).to_have_attribute(
        "data-status", status, timeout=STATUS * 1000)


async def test_page_joins_as_the_councillor_and_plays_the_chamber(
        chamber: Chamber, control: Control, browsers: OpenBrowser) -> None:
    browser = await open_page(chamber, browsers)
    participant = await participant_of(chamber, "R7")
    seat = await chamber.seat("R7")
    assert seat["remote"] and seat["councillor"] == "m7"
    state = await chamber.state()
    assert participant not in [g["participant"] for g in state["guests"]]  # a councillor
    # Janus itself announced the page's publisher to the room.
    await until(lambda: any(e.kind is RoomEventKind.PUBLISHERS
                            and participant in [p.id for p in e.participants]
                            for e in control.events), STATUS)
    await expect(browser.page.locator("body")).to_have_attribute(
        "data-chamber", "playing", timeout=MEDIA * 1000)
    # Decoded pictures of the chamber's test card, not just a started element ("playing"
    # may come with the sound, before the first picture: VP8 waits for a keyframe).
    await browser.page.wait_for_function(
        "document.getElementById('chamber-video').videoWidth > 0", timeout=MEDIA * 1000)
    size = await browser.page.evaluate(
        "(() => { const v = document.getElementById('chamber-video');"
        " return [v.videoWidth, v.videoHeight]; })()")
    assert tuple(size) == CHAMBER_SIZE
    assert (await browser.config())["chamber"] == CHAMBER_ID
    await floor_status(browser, "muted")


async def test_request_grant_revoke(chamber: Chamber, control: Control,
                                    browsers: OpenBrowser) -> None:
    browser = await open_page(chamber, browsers)
    participant = await participant_of(chamber, "R7")
    # The daemon mutes every councillor on join, as Janus reports to the room.
    await moderated(control, participant, True)
    await floor_status(browser, "muted")

    await browser.page.locator("#floor-button").click()
    await until(lambda: _queue_is(chamber, ["R7"]), STATUS)
    await floor_status(browser, "waiting")
    strings: dict[str, Any] = (await browser.config())["strings"]
    await expect(browser.page.locator("#status")).to_have_text(
        strings["status_waiting"].replace("{position}", "1"))

    await chamber.op("grant", seat="R7")
    await floor_status(browser, "speaking")
    await moderated(control, participant, False)
    assert True in control.moderation(participant)[:-1]  # muted first, then opened

    await chamber.op("revoke", seat="R7")
    await floor_status(browser, "muted")
    await moderated(control, participant, True)


async def test_keyboard_only_request(chamber: Chamber, control: Control,
                                     browsers: OpenBrowser) -> None:
    browser = await open_page(chamber, browsers)
    await floor_status(browser, "muted")
    page = browser.page
    await expect(page.locator("#floor-button")).to_be_enabled()
    # From the top of the page: nothing focused, then Tab until the floor button has focus.
    await page.evaluate("document.activeElement && document.activeElement.blur()")
    focused = ""
    for _ in range(10):
        await page.keyboard.press("Tab")
        focused = await page.evaluate("document.activeElement && document.activeElement.id")
        if focused == "floor-button":
            break
    assert focused == "floor-button", "the floor button cannot be reached with Tab"
    await page.keyboard.press("Enter")
    await until(lambda: _queue_is(chamber, ["R7"]), STATUS)
    await floor_status(browser, "waiting")


async def test_wrong_token_is_refused_without_janus(chamber: Chamber, control: Control,
                                                    browsers: OpenBrowser) -> None:
    browser = await browsers()
    token = chamber.tokens["m7"]
    wrong = token[:-1] + ("A" if token[-1] != "A" else "B")
    response = await browser.page.goto(chamber.url(wrong))
    assert response is not None and response.status == 403
    await expect(browser.page.locator("#refusal")).to_be_visible()
    await browser.page.wait_for_load_state("networkidle")
    assert not [u for u in browser.urls if "/janus/" in u or "/control/" in u]
    assert control.arrivals() == []
    # The control participant does see a real arrival: its silence above meant something.
    await browser.page.goto(chamber.url(token))
    participant = await participant_of(chamber, "R7")
    await until(lambda: participant in control.arrivals(), MEDIA)


async def test_second_browser_takes_over(chamber: Chamber, control: Control,
                                         browsers: OpenBrowser) -> None:
    first = await open_page(chamber, browsers)
    before = await participant_of(chamber, "R7")
    second = await open_page(chamber, browsers)
    await expect(first.page.locator("body")).to_have_attribute(
        "data-replaced", "true", timeout=STATUS * 1000)
    after = await participant_of(chamber, "R7", not_=before)
    seat = await chamber.seat("R7")
    assert seat["bridge"]["present"] and seat["bridge"]["participant"] == after
    # The first page's participant has left the room; the second is still published.
    await until(lambda: any(e.kind is RoomEventKind.LEAVING and e.participant == before
                            for e in control.events), STATUS)
    await until(lambda: any(e.kind is RoomEventKind.PUBLISHERS
                            and after in [p.id for p in e.participants]
                            for e in control.events), STATUS)
    await expect(second.page.locator("body")).to_have_attribute("data-room", "published")
    await expect(second.page.locator("body")).not_to_have_attribute("data-replaced", "true")


async def _queue_is(chamber: Chamber, queue: list[str]) -> bool:
    return bool((await chamber.state())["queue"] == queue)


async def green_share(on_air: OnAir, scene: str) -> float:
    """Share of the slot scene's top-left third (where its feed sits, above the lower third)
    in the green of Chromium's fake camera."""
    from tests.scenes_obs.png import decode_png

    width, height, pixels = decode_png(await on_air.watch.get_screenshot(scene))
    corner = [pixels[y * width + x] for y in range(height // 3) for x in range(width // 3)]
    green = sum(1 for r, g, b, *_a in corner if g > 90 and r < 90 and b < 90)
    return green / len(corner)


@pytest.mark.on_air
async def test_granted_councillor_is_on_program_with_their_camera(
        chamber: Chamber, control: Control, browsers: OpenBrowser, on_air: OnAir) -> None:
    await open_page(chamber, browsers)
    participant = await participant_of(chamber, "R7")
    assert await green_share(on_air, "Remote 1") < 0.05  # nothing forwarded yet
    await chamber.op("grant", seat="R7")
    await moderated(control, participant, False)

    async def on_program() -> bool:
        return bool(await on_air.watch.get_program_scene() == "Remote 1")

    await until(on_program, STATUS)
    # The browser's camera, through Janus's forward and OBS's media source, is the picture.
    try:
        await until(lambda: _at_least(green_share(on_air, "Remote 1"), 0.5), MEDIA,
                    interval=0.5)
    except AssertionError:
        status = await on_air.watch.request("GetMediaInputStatus",
                                            {"inputName": "Remote 1 feed"})
        raise AssertionError(f"no camera picture in Remote 1: "
                             f"{await green_share(on_air, 'Remote 1'):.2f} green; "
                             f"media {status}") from None


async def _at_least(share: Any, minimum: float) -> bool:
    return bool(await share >= minimum)


# What the page hears: the AudioBridge mix it plays, analysed by the page's own WebAudio.
MIX_LEVELS_JS = """async ([own, chamber]) => {
  const stream = document.getElementById('mix-audio').srcObject;
  const ctx = new AudioContext();
  const analyser = ctx.createAnalyser();
  analyser.fftSize = 8192;
  analyser.smoothingTimeConstant = 0;
  ctx.createMediaStreamSource(stream).connect(analyser);
  await new Promise((done) => setTimeout(done, 1500));
  const bins = new Float32Array(analyser.frequencyBinCount);
  analyser.getFloatFrequencyData(bins);
  const at = (f) => {
    const i = Math.round(f / (ctx.sampleRate / analyser.fftSize));
    return Math.max(...bins.slice(i - 3, i + 4));
  };
  const out = [at(own), at(chamber)];
  await ctx.close();
  return out;
}"""
MIC_TONE = 440.0  # the fake microphone (conftest's tone.wav)


@pytest.mark.hybrid_audio
async def test_hybrid_audio_mic_reaches_the_chamber_and_the_page_hears_the_chamber_not_itself(
        chamber: Chamber, control: Control, browsers: OpenBrowser,
        return_capture: PcmCapture) -> None:
    browser = await open_page(chamber, browsers)
    await expect(browser.page.locator("body")).to_have_attribute(
        "data-mix", "playing", timeout=MEDIA * 1000)
    assert (await browser.config())["audio"] == {"room": 2234}
    # muted until the floor: the page's tone is not at the chamber return
    await floor_status(browser, "muted")
    assert return_capture.levels(MIC_TONE)[MIC_TONE] < -60
    await chamber.op("grant", seat="R7")
    await floor_status(browser, "speaking")
    await until(lambda: return_capture.levels(MIC_TONE)[MIC_TONE] >= -45, MEDIA)
    # "talking" of the remote seat comes from the AudioBridge's talking events (the
    # browser's audio-level header): the steady tone talks
    async def talking() -> bool:
        return bool((await chamber.seat("R7"))["talking"])

    await until(talking, MEDIA)
    own, from_chamber = await browser.page.evaluate(MIX_LEVELS_JS, [MIC_TONE, CHAMBER_TONE])
    assert from_chamber > -70, (own, from_chamber)
    assert own <= from_chamber - 30, (own, from_chamber)
    # the programme's own sound is not played: the chamber is heard in the mix only
    assert await browser.page.evaluate("document.getElementById('chamber-video').muted")
    await chamber.op("revoke", seat="R7")
    await until(lambda: return_capture.levels(MIC_TONE)[MIC_TONE] < -60, STATUS)
