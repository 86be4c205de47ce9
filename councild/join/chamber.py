"""The chamber programme in the bridge room: a Janus remote publisher fed by ffmpeg.

The join page plays the chamber's sound and picture from the bridge room (docs/join.md, "The
chamber programme"). councild adds a VideoRoom *remote publisher* (`add_remote_publisher`, which
needs the room secret) under a participant id it chose, so the page knows the feed before Janus
does; Janus answers with a UDP port on 127.0.0.1, and ffmpeg encodes the programme input to
Opus and VP8 RTP sent to that one port. Janus tells the two streams apart by SSRC, which for a
remote publisher must be 1000 + 10 × mindex.

`ChamberFeed` supervises both halves: an ffmpeg that exits is restarted with backoff; a lost
Janus connection (Janus restarted) is reconnected with backoff, the publisher added again with
the same id and ffmpeg restarted towards the new port. Health goes to `on_status` as a
`Link` and a detail, the way device drivers report theirs.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import signal
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any

from councild.errors import AuthenticationError, CouncildError
from councild.model import Link
from devices.base import backoff_delay as base_backoff
from devices.janus import KEEPALIVE_INTERVAL, JanusClient, JanusMessage, JanusRequestError, Success

__all__ = ["ChamberFeed", "FfmpegMissingError", "backoff_delay", "encoder_args"]

log = logging.getLogger("councild.join.chamber")

AUDIO_MINDEX = 0
VIDEO_MINDEX = 1
# Janus 1.1.2 names a remote publisher's streams by mindex whatever mid is asked for; asking
# for the same names keeps later Janus versions (which may honour "mid") in step with it.
AUDIO_MID = str(AUDIO_MINDEX)
VIDEO_MID = str(VIDEO_MINDEX)
# Janus maps a remote publisher's RTP to its streams by SSRC = 1000 + 10 × mindex.
AUDIO_SSRC = 1000 + 10 * AUDIO_MINDEX
VIDEO_SSRC = 1000 + 10 * VIDEO_MINDEX
OPUS_PT = 111  # what browsers and Janus use for Opus; the page's SDP names it
VP8_PT = 96
# A joining viewer waits for the next keyframe before it sees a picture; 2 s bounds that wait
# without spending much of the bitrate on keyframes at full HD.
KEYFRAME_INTERVAL_S = 2
# RTP packets of at most 1200 bytes leave room for SRTP and tunnel headers when Janus relays
# them to browsers; ffmpeg's default (1472) would be fragmented on some paths.
RTP_PACKET_SIZE = 1200

# Restart backoff: 1 s, 2 s, 4 s, 8 s, then every 10 s. The first retry is quick because an
# ffmpeg crash or a Janus restart are over in a moment; the cap keeps a broken capture device
# from being hammered while it still comes back within seconds of being fixed.
BACKOFF_FIRST_S = 1.0
BACKOFF_CAP_S = 10.0
# An ffmpeg that ran this long was working: its next failure starts the backoff from 1 s.
STABLE_S = 10.0
# SIGTERM lets ffmpeg close its outputs; it takes well under a second.
STOP_TIMEOUT_S = 3.0
# remove_remote_publisher when stopping is best effort: a hung Janus must not hang stop().
REMOVE_TIMEOUT_S = 3.0
STDERR_LINES = 20  # kept for the status detail when ffmpeg fails


def backoff_delay(tries: int) -> float:
    """Seconds before retry number `tries` (0-based): 1, 2, 4, 8, then every 10 s."""
    return base_backoff(tries, first=BACKOFF_FIRST_S, factor=2.0, cap=BACKOFF_CAP_S)


class FfmpegMissingError(CouncildError):
    """The ffmpeg program is not installed (or not where the configuration says)."""


def encoder_args(ffmpeg: str, input_args: Sequence[str], host: str, port: int) -> list[str]:
    """The ffmpeg command line: `input_args`, then Opus and VP8 as RTP to one Janus port.

    Two RTP outputs to the same address: each output file takes its own -ssrc/-payload_type,
    and ffmpeg's default stream selection picks the input's best audio for the first and its
    best video for the second. `-progress pipe:1` lets the supervisor see encoding start.
    """
    url = f"rtp://{host}:{port}?pkt_size={RTP_PACKET_SIZE}"
    return [
        ffmpeg, "-nostdin", "-hide_banner", "-loglevel", "error", "-nostats",
        "-progress", "pipe:1",
        *input_args,
        "-vn", "-c:a", "libopus", "-ar", "48000", "-ac", "2", "-b:a", "64k",
        "-ssrc", str(AUDIO_SSRC), "-payload_type", str(OPUS_PT), "-f", "rtp", url,
        "-an", "-c:v", "libvpx", "-pix_fmt", "yuv420p", "-deadline", "realtime",
        "-cpu-used", "8", "-lag-in-frames", "0", "-error-resilient", "1", "-b:v", "800k",
        "-force_key_frames", f"expr:gte(t,n_forced*{KEYFRAME_INTERVAL_S})",
        "-ssrc", str(VIDEO_SSRC), "-payload_type", str(VP8_PT), "-f", "rtp", url,
    ]


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


class ChamberFeed:
    """The programme as one publisher of the bridge room, kept up until stopped."""

    def __init__(self, url: str, room: int, secret: str | None, input_args: Sequence[str], *,
                 display: str = "Chamber", participant_id: int | None = None,
                 ffmpeg: str = "ffmpeg",
                 on_status: Callable[[Link, str], None] = lambda link, detail: None) -> None:
        self.url = url
        self.room = room
        self.secret = secret
        self.input_args = list(input_args)
        self.display = display
        self.participant_id = participant_id
        self.ffmpeg = ffmpeg
        self._on_status = on_status
        self.participant: str | None = None  # the id the room knows the feed by
        self.port: int | None = None  # Janus's UDP port for the feed, while published
        self.link = Link.CLOSED
        self.detail = ""
        self.attempts = 0  # sessions tried (what a check for flapping counts)
        self.encoder_starts = 0  # ffmpeg processes started
        self.connects = 0  # times the feed became CONNECTED
        self._encoder: asyncio.subprocess.Process | None = None
        self._task: asyncio.Task[None] | None = None

    @property
    def encoder_pid(self) -> int | None:
        """The running ffmpeg's pid, which is also its process group id."""
        proc = self._encoder
        return proc.pid if proc is not None and proc.returncode is None else None

    async def start(self) -> None:
        """Start publishing in the background; returns at once."""
        if self._task is None:
            self._task = asyncio.create_task(self._supervise(), name="chamber-feed")

    async def stop(self) -> None:
        """Remove the publisher (best effort), stop ffmpeg and close; safe to call twice."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            # asyncio.wait, not `await task`: a cancellation of stop() itself still propagates
            await asyncio.wait([task])
        self._set(Link.CLOSED, "stopped")

    # --- supervision ----------------------------------------------------------------------

    async def _supervise(self) -> None:
        tries = 0
        first = True
        while True:
            self._set(Link.CONNECTING if first else Link.RECONNECTING, self.detail)
            first = False
            connects = self.connects
            try:
                await self._session()
                reason = "Janus closed the connection"
            except asyncio.CancelledError:
                raise
            except (FfmpegMissingError, AuthenticationError) as exc:
                reason = str(exc)
                tries = 8  # retrying fast will not install ffmpeg nor fix a secret
            except Exception as exc:  # any failure of either half means start over
                task = asyncio.current_task()
                if task is not None and task.cancelling():
                    raise asyncio.CancelledError from exc
                reason = _describe(exc)
            if self.connects != connects:  # it worked for a while: retry soon
                tries = 0
                log.warning("chamber feed lost: %s", reason)
            self.port = None
            self._set(Link.LOST, reason)
            await asyncio.sleep(backoff_delay(tries))
            tries += 1

    async def _session(self) -> None:
        """One Janus connection: publish, keep alive and encode until either half fails."""
        self.attempts += 1
        binary = shutil.which(self.ffmpeg)
        if binary is None:
            raise FfmpegMissingError(
                f"ffmpeg not found: {self.ffmpeg!r} (install the Debian package ffmpeg, or set "
                "[join.chamber] ffmpeg to its path)")
        client = await JanusClient.connect(self.url, self._on_event)
        tasks: list[asyncio.Task[None]] = []
        try:
            host, port = await self._publish(client)
            tasks.append(asyncio.create_task(self._keepalive(client), name="chamber:keepalive"))
            tasks.append(asyncio.create_task(self._encode(binary, host, port),
                                             name="chamber:ffmpeg"))
            done, _ = await asyncio.wait({client.reader, *tasks},
                                         return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                task.result()  # raises the reason this session ended
        finally:
            for task in tasks:
                task.cancel()
            if tasks:
                await asyncio.wait(tasks)  # the encoder's own cleanup stops ffmpeg
            if not client.reader.done():
                await self._unpublish(client)
            await client.close()

    # --- Janus ----------------------------------------------------------------------------

    def _on_event(self, message: JanusMessage) -> None:
        """The feed never joins the room, so room events do not concern it."""

    async def _publish(self, client: JanusClient) -> tuple[str, int]:
        # A publisher left by an earlier connection (the WebSocket dropped, Janus did not
        # restart) still holds the id: remove it, or the add fails with "ID already exists".
        await self._unpublish(client)
        wanted = self.participant_id
        if wanted is None and self.participant is not None and self.participant.isdigit():
            wanted = int(self.participant)  # the page may know the id Janus chose last time
        body: dict[str, Any] = {
            "request": "add_remote_publisher", "room": self.room, "display": self.display,
            "iface": "127.0.0.1",
            "streams": [
                # stereo: the subscribers' SDP then lets browsers play both channels
                {"type": "audio", "mid": AUDIO_MID, "mindex": AUDIO_MINDEX, "codec": "opus",
                 "stereo": True},
                {"type": "video", "mid": VIDEO_MID, "mindex": VIDEO_MINDEX, "codec": "vp8"},
            ],
        }
        if self.secret is not None:
            body["secret"] = self.secret
        if wanted is not None:
            body["id"] = wanted
        try:
            reply = await client.plugin(body)
        except JanusRequestError as exc:
            if exc.unauthorized:
                raise AuthenticationError(
                    f"wrong room secret for room {self.room} (Janus error {exc.code}: "
                    f"{exc.reason})") from exc
            raise
        data = reply.room.data if isinstance(reply, Success) and reply.room else {}
        if "id" not in data or "port" not in data:
            raise CouncildError(f"add_remote_publisher answered without id or port: {data!r}")
        self.participant = str(data["id"])
        host, port = str(data.get("ip") or "127.0.0.1"), int(data["port"])
        self.port = port
        return host, port

    async def _unpublish(self, client: JanusClient) -> None:
        """remove_remote_publisher, best effort: it may already be gone with its room."""
        if self.participant is None:
            return
        body: dict[str, Any] = {"request": "remove_remote_publisher", "room": self.room,
                                "id": int(self.participant) if self.participant.isdigit()
                                else self.participant}
        if self.secret is not None:
            body["secret"] = self.secret
        with contextlib.suppress(CouncildError, OSError, TimeoutError):
            async with asyncio.timeout(REMOVE_TIMEOUT_S):
                await client.plugin(body)

    async def _keepalive(self, client: JanusClient) -> None:
        while True:
            await asyncio.sleep(KEEPALIVE_INTERVAL)
            await client.keepalive()

    # --- ffmpeg ---------------------------------------------------------------------------

    async def _encode(self, binary: str, host: str, port: int) -> None:
        """Run ffmpeg towards `port`, restarting it with backoff whenever it exits."""
        loop = asyncio.get_running_loop()
        tries = 0
        args = encoder_args(binary, self.input_args, host, port)
        while True:
            try:
                proc = await spawn(*args)
            except FileNotFoundError as exc:  # removed since the check in _session
                raise FfmpegMissingError(f"ffmpeg not found: {binary!r}") from exc
            self.encoder_starts += 1
            self._encoder = proc
            started = loop.time()
            tail: deque[str] = deque(maxlen=STDERR_LINES)
            try:
                await asyncio.gather(self._follow_progress(proc, port),
                                     self._collect(proc, tail))
                code = await proc.wait()
            finally:
                self._encoder = None
                await _terminate(proc)
            if loop.time() - started >= STABLE_S:
                tries = 0
            last = tail[-1] if tail else "no message"
            reason = f"ffmpeg exited with code {code}: {last}"
            log.warning("chamber feed: %s", reason)
            self._set(Link.LOST, reason)
            await asyncio.sleep(backoff_delay(tries))
            tries += 1
            self._set(Link.RECONNECTING, reason)

    async def _follow_progress(self, proc: asyncio.subprocess.Process, port: int) -> None:
        """Connected once ffmpeg reports progress: inputs opened, outputs written."""
        assert proc.stdout is not None
        async for raw in proc.stdout:
            if raw.startswith(b"progress="):
                self._set(Link.CONNECTED, f"publishing to port {port}")

    async def _collect(self, proc: asyncio.subprocess.Process, tail: deque[str]) -> None:
        assert proc.stderr is not None
        async for raw in proc.stderr:
            line = raw.decode(errors="replace").strip()
            if line:
                tail.append(line)

    # --- status ---------------------------------------------------------------------------

    def _set(self, link: Link, detail: str) -> None:
        if link == self.link and detail == self.detail:
            return
        self.link = link
        self.detail = detail
        if link == Link.CONNECTED:
            self.connects += 1
        try:
            self._on_status(link, detail)
        except Exception:  # a listener's bug must not stop the programme
            log.exception("chamber feed: status listener failed")


async def spawn(*args: str) -> asyncio.subprocess.Process:
    """Start ffmpeg in its own process group (stopped as a whole, never orphaned), pipes on
    stdout and stderr. Cancellation-safe: a stop that arrives while the process is being
    started (the fork done, the coroutine not yet returned) terminates it instead of leaving
    it running without an owner (seen as an ffmpeg left after the demo stopped)."""
    start = asyncio.ensure_future(asyncio.create_subprocess_exec(
        *args, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE, start_new_session=True))
    try:
        return await asyncio.shield(start)
    except asyncio.CancelledError:
        with contextlib.suppress(Exception):
            await _terminate(await start)
        raise


async def _terminate(proc: asyncio.subprocess.Process) -> None:
    """SIGTERM ffmpeg's process group, SIGKILL what is left after STOP_TIMEOUT_S."""
    try:
        if proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(STOP_TIMEOUT_S):
                    await proc.wait()
    finally:
        # also when cancelled meanwhile: nothing of the group may outlive the feed
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
