"""The picture: the director's decisions carried out in OBS and on the PTZ cameras.

The daemon tells this module what the floor and the voices do; the pure director decides;
this module turns its effects into OBS requests (program scene, lower-third texts) and camera
preset recalls, and feeds the cameras' motion back. When OBS is not reachable the decisions
are still made and shown in the state ("dry run"), so a technician can rehearse a
configuration without touching the live stream; once OBS connects, the current shot and
lower third are applied at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import os
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from councild import director as d
from councild.assembly import REMOTE_SHOT
from councild.config import Config
from councild.errors import CouncildError
from councild.host import VisionHost
from councild.i18n import N_, _
from councild.model import (
    CameraMotion,
    CutTo,
    Effect,
    HideLowerThird,
    RecallPreset,
    Role,
    SeatId,
    ShowLowerThird,
)
from councild.voice_classifier import (
    Decision,
    SpeechEnded,
    SpeechStarted,
    VoiceClassifier,
    VoiceIgnored,
)
from devices.capabilities import Camera
from scenes import shots
from scenes.obs_client import ObsClient, ObsInventory, ObsOptions

log = logging.getLogger("councild.vision")

# Studio mode: OBS applies SetCurrentPreviewScene on its UI thread, after the reply; under
# load that has taken tens of milliseconds. Wait for it (bounded), ask once more half-way.
PREVIEW_WAIT_S = 2.0
PREVIEW_POLL_S = 0.01
# Why the level classifier ignored a voice, for the event log.
IGNORED = {
    "short": N_("shorter than a word ({duration:.1f} s): a cough, a click or a \"yes\""),
    "no_rhythm": N_("no syllable rhythm ({duration:.1f} s): a noise, not speech"),
    "bleed": N_("heard from seat {source} ({duration:.1f} s): not this seat's voice"),
}
STALE_LEVELS = 1.0  # s without a reading: the seat's level source has gone away


class Vision:
    """Director + OBS + cameras, on the daemon's loop."""

    def __init__(
        self,
        config: Config,
        director_cfg: d.DirectorConfig,
        host: VisionHost,
        *,
        cameras: Mapping[str, Camera],
    ) -> None:
        self.config = config
        self.director = d.Director(director_cfg)
        self.classifier = VoiceClassifier()
        self.shots = director_cfg.shots
        self.host = host
        self._clock = host.now
        self._cameras = cameras
        self.lower_third: tuple[str, str] | None = None
        self.program_scene: str | None = None
        self.obs: ObsClient | None = None
        self._has_lower_third = any(s.lower_third for s in director_cfg.shots.values())
        self._obs_jobs: asyncio.Queue[Callable[[], Awaitable[None]]] = asyncio.Queue()
        self._tasks: set[asyncio.Task[None]] = set()
        self._timer: asyncio.TimerHandle | None = None
        self._due: float | None = None  # when _timer fires, on self._clock()
        self._open: tuple[SeatId, ...] = ()
        self._chairs = frozenset(s.id for s in config.seats
                                 if config.seat_role(s) is Role.CHAIR)

    # --- lifecycle ------------------------------------------------------------------------

    async def start(self) -> None:
        if self.config.obs.enabled:
            obs = self.config.obs
            options = ObsOptions(host=obs.host, port=obs.port, password_env=obs.password_env)
            lt = obs.lower_third
            needs_lower_third = any(s.lower_third is not None for s in self.shots.values())
            self.obs = ObsClient(
                options,
                self.host.emit,
                password=os.environ.get(obs.password_env) or None,
                required_scenes=sorted({s.scene for s in self.shots.values()}),
                required_inputs=[lt.name_source, lt.detail_source] if needs_lower_third else [],
                on_ready=self._on_obs_ready,
            )
            self._spawn(self._obs_worker(), "vision:obs")
            await self.obs.start()
        self._apply(self.director.initial_effects())
        self._schedule()

    async def stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self.obs is not None:
            await self.obs.stop()

    def _spawn(self, coro: Any, name: str) -> None:
        task = asyncio.get_running_loop().create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # --- inputs from the daemon -------------------------------------------------------------

    def floor(self, speakers: tuple[SeatId, ...], grants: bool = True) -> None:
        """The floor's open mics after a step, in order of granting. `grants=False` in voice
        mode: a mic the voice opened is not the chair's decision, so no cut on grant."""
        if speakers == self._open:
            return
        granted = [s for s in speakers if s not in self._open] if grants else []
        self._open = speakers
        # The floor first: the director ignores a grant for a mic it does not know is open.
        self._step(d.FloorChanged(open_seats=speakers, chair_seats=self._chairs))
        for seat in granted:
            self._step(d.Granted(seat=seat))

    def restore_floor(self, speakers: tuple[SeatId, ...]) -> None:
        """After a restart: the open mics without pretending they were just granted."""
        self._open = speakers
        self._step(d.FloorChanged(open_seats=speakers, chair_seats=self._chairs))

    def voice(self, seat: SeatId, active: bool) -> None:
        """An on/off voice report (a desk's detector, the bridge's talking events). A seat
        whose levels reach the classifier is followed by the classifier instead."""
        if not self.classifier.knows(seat):
            self._step(d.VoiceChanged(seat=seat, active=active))
            return
        now = self._clock()
        if not active and now - self.classifier.last_reading(seat) >= STALE_LEVELS:
            self._classified(self.classifier.silence(seat, now))  # the desk went away

    def level(self, seat: SeatId, dbfs: float) -> None:
        """A seat's input level (dBFS), as often as the desk meters it."""
        if not math.isfinite(dbfs):
            return  # a driver's codec bounds its levels; never let one stop the director
        self._classified(self.classifier.update(seat, dbfs, self._clock()))
        heard = self.classifier.next_deadline()
        if heard is not None and (self._due is None or heard < self._due):
            self._schedule()  # the classifier's timer is earlier than the one set

    def _classified(self, decisions: list[Decision]) -> None:
        for dec in decisions:
            if isinstance(dec, SpeechStarted):
                self.host.speech(dec.seat, True)  # the floor first: the director hears mics
                self._step(d.VoiceChanged(seat=dec.seat, active=True, speech=True,
                                          since=dec.since))
            elif isinstance(dec, SpeechEnded):
                self._step(d.VoiceChanged(seat=dec.seat, active=False, speech=True,
                                          since=dec.last))
                self.host.speech(dec.seat, False)
            elif isinstance(dec, VoiceIgnored):
                detail = _(IGNORED[dec.reason]).format(duration=dec.duration,
                                                       source=dec.source or "?")
                self.host.note("director", {"type": "voice ignored", "seat": dec.seat,
                                        "reason": dec.reason, "detail": detail})

    def camera_motion(self, motion: CameraMotion) -> None:
        camera = motion.device
        if camera not in self.director.config.cameras:
            return
        if motion.moving:
            self._step(d.CameraMoving(camera=camera))
        elif motion.ok:
            # The preset tells an older move finishing from arrival at the newest one.
            self._step(d.CameraSettled(camera=camera, preset=motion.preset))
        else:
            self._step(d.CameraFailed(camera=camera))

    def agenda_changed(self) -> None:
        """The lower third carries the agenda item: rewrite it if one is showing."""
        if self.lower_third is not None and self.program_scene is not None:
            shot = self.shots.get(self.director.program)
            if shot is not None and shot.lower_third is not None:
                self._show_lower_third(shot.lower_third.name, shot.lower_third.detail)

    def command(self, op: str, args: Mapping[str, Any]) -> None:
        """Technician commands (API ops lock, wide, force, release). DirectorError if refused."""
        if op == "lock":
            self._step(d.Lock(on=bool(args["on"])))
        elif op == "release":
            self._step(d.Release())
        elif op == "wide":
            self._step(d.Force(shot=self.director.config.wide))
        elif op == "force":
            if "shot" in args:
                shot = str(args["shot"])
            else:
                shot = self.director.config.seat_shot(str(args["seat"]))
            self._step(d.Force(shot=shot))
        else:
            raise KeyError(op)

    # --- the director -----------------------------------------------------------------------

    def _step(self, event: d.DirectorInput) -> None:
        effects = self.director.step(event, self._clock())
        self._apply(effects)
        self._schedule()
        if effects or not isinstance(event, d.Tick):
            self.host.changed()

    def _schedule(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._due = None
        due = self.director.next_deadline()
        heard = self.classifier.next_deadline()
        if heard is not None and (due is None or heard < due):
            due = heard
        if due is not None:
            loop = asyncio.get_running_loop()
            self._timer = loop.call_at(loop.time() + max(0.0, due - self._clock()), self._tick)
            self._due = due

    def _tick(self) -> None:
        self._timer = None
        self._due = None
        self._classified(self.classifier.tick(self._clock()))
        self._step(d.Tick())

    def _apply(self, effects: list[Effect]) -> None:
        """One director step is one picture change (scenes/shots.py: one OBS batch)."""
        scene: str | None = None
        texts: tuple[str, str] | None = None
        for effect in effects:
            if isinstance(effect, CutTo):
                scene = self._cut(effect.shot)
            elif isinstance(effect, ShowLowerThird):
                texts = self._lower_third_texts(effect.name, effect.detail)
            elif isinstance(effect, HideLowerThird):
                self.lower_third = None
                texts = ("", "")
            elif isinstance(effect, RecallPreset):
                self._recall(effect.camera, effect.preset)
        if scene is not None or texts is not None:
            self._obs(lambda: self._change_picture(scene, texts))

    def _cut(self, shot_name: str) -> str:
        scene = self.shots[shot_name].scene
        if shot_name.startswith(REMOTE_SHOT):  # only remote seats, only with a bridge
            # A remote councillor is shown in whichever bridge slot plays their stream; with
            # no slot (all busy, or the stream not up yet) the room is shown instead.
            slot = self.host.slot_scene(shot_name.removeprefix(REMOTE_SHOT))
            scene = slot or self.shots[self.director.config.wide].scene
        self.program_scene = scene
        live = self.obs is not None and self.obs.connected
        dry = "" if live else _("dry run: OBS not connected")
        self.host.note("director", {"type": "Cut", "shot": shot_name, "scene": scene,
                                "detail": dry})
        return scene

    def _lower_third_texts(self, name: str, detail: str) -> tuple[str, str]:
        agenda = self.host.agenda_title()
        full = " · ".join(x for x in (detail, agenda) if x)
        self.lower_third = (name, full)
        return self.lower_third

    def _show_lower_third(self, name: str, detail: str) -> None:
        texts = self._lower_third_texts(name, detail)
        self._obs(lambda: self._change_picture(None, texts))

    def _recall(self, camera: str, preset: int) -> None:
        device = self._cameras.get(camera)
        if device is None:
            log.warning("camera %s: no such camera device; preset %d not recalled", camera, preset)
            return

        async def run() -> None:
            try:
                await device.recall(preset)
            except (CouncildError, OSError) as exc:
                # The director's settle time covers a camera that never reports arrival.
                log.warning("camera %s: preset %d: %s", camera, preset, exc)

        self._spawn(run(), f"recall:{camera}")

    # --- OBS --------------------------------------------------------------------------------

    def _obs(self, job: Callable[[], Awaitable[None]]) -> None:
        if self.obs is not None:
            self._obs_jobs.put_nowait(job)

    async def _obs_worker(self) -> None:
        """One request at a time, in order: a lower third never overtakes its cut."""
        while True:
            job = await self._obs_jobs.get()
            if self.obs is None or not self.obs.connected:
                continue  # applied in full by _on_obs_ready when OBS comes (back)
            try:
                await job()
            except CouncildError as exc:
                log.warning("obs: %s", exc)

    async def _change_picture(self, scene: str | None, texts: tuple[str, str] | None) -> None:
        assert self.obs is not None
        lt = self.config.obs.lower_third
        sources = shots.LowerThirdSources(lt.name_source, lt.detail_source)
        steps = shots.picture_change(scene, texts, sources if self._has_lower_third else None,
                                     studio_mode=self.config.obs.studio_mode)
        for i, batch in enumerate(steps):
            if i > 0 and scene is not None and self.config.obs.studio_mode:
                await self._preview_is(scene)
            results = await self.obs.batch(batch, execution=shots.EXECUTION)
            for result in results:
                if not result.ok:
                    log.warning("obs: %s", result.error())

    async def _preview_is(self, scene: str) -> None:
        """Studio mode: make sure OBS has taken the new preview before the transition, which
        otherwise transitions to the old one (seen under load)."""
        assert self.obs is not None
        loop = asyncio.get_running_loop()
        start = loop.time()
        asked_again = False
        while True:
            data = await self.obs.request("GetCurrentPreviewScene")
            if (data.get("sceneName") or data.get("currentPreviewSceneName")) == scene:
                return
            waited = loop.time() - start
            if waited >= PREVIEW_WAIT_S:
                break
            if not asked_again and waited >= PREVIEW_WAIT_S / 2:
                asked_again = True
                await self.obs.request("SetCurrentPreviewScene", {"sceneName": scene})
            await asyncio.sleep(PREVIEW_POLL_S)
        log.warning("obs: preview did not become %r in %.1f s; transitioning anyway",
                    scene, PREVIEW_WAIT_S)

    def _on_obs_ready(self, inventory: ObsInventory) -> None:
        """After every (re)connect: put the current picture back, through the same ordered
        queue as every cut, so a cut decided meanwhile cannot be overtaken by it."""
        if inventory.missing_scenes or inventory.missing_inputs:
            missing = ", ".join([*inventory.missing_scenes, *inventory.missing_inputs])
            log.error("obs: missing scenes/sources: %s (councild obs-collection writes them)",
                      missing)
        self._has_lower_third = not inventory.missing_inputs and any(
            s.lower_third for s in self.shots.values())

        async def reapply() -> None:
            assert self.obs is not None
            if self.config.obs.studio_mode and not inventory.studio_mode:
                await self.obs.set_studio_mode(True)
            scene = self.program_scene  # as it is now, not as it was when OBS came back
            if scene is not None and scene in inventory.missing_scenes:
                scene = None
            await self._change_picture(scene, self.lower_third or ("", ""))

        self._obs(reapply)
        self.host.changed()

    # --- what clients see -------------------------------------------------------------------

    def state_dict(self) -> dict[str, Any]:
        snap = self.director.snapshot()
        obs = self.obs
        return {
            "shot": snap.program,
            "scene": self.program_scene,
            "seat": snap.program_seat,
            "preview": obs.preview_scene if obs is not None else None,
            "obs_program": obs.program_scene if obs is not None else None,
            "mode": snap.mode.value,
            "locked": snap.mode is d.Mode.LOCKED,
            "forced": snap.forced,
            "preparing": snap.preparing,
            "dry_run": obs is None or not obs.connected,
            "lower_third": (
                {"name": self.lower_third[0], "detail": self.lower_third[1]}
                if self.lower_third else None
            ),
            "cameras": {
                name: {"state": "on_air" if v.status is d.CameraStatus.PROGRAM
                       else v.status.value, "preset": v.preset}
                for name, v in snap.cameras.items()
            },
        }
