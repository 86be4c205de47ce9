"""The chamber programme in the bridge room: a Janus remote publisher fed by ffmpeg.

The join page plays the chamber's sound and picture from the bridge room (docs/join.md, "The
chamber programme"). councild adds a VideoRoom *remote publisher* (`add_remote_publisher`, which
needs the room secret) under a participant id it chose, so the page knows the feed before Janus
does; Janus answers with a UDP port on 127.0.0.1, and ffmpeg encodes the programme input to
Opus and VP8 RTP sent to that one port. Janus tells the two streams apart by SSRC, which for a
remote publisher must be 1000 + 10 × mindex.

`ChamberFeed` supervises both halves: an ffmpeg that exits is restarted with backoff (by
`devices.ffmpeg.FfmpegRunner`, which every ffmpeg of councild's runs under); a lost Janus
connection (Janus restarted) is reconnected with backoff (by `councild.supervisor.Supervisor`),
the publisher added again with the same id and ffmpeg restarted towards the new port. Health
goes to `on_status` as a `Link` and a detail, the way device drivers report theirs.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
from collections.abc import Callable, Sequence
from typing import Any

from councild.errors import AuthenticationError, CouncildError
from councild.model import Link
from councild.supervisor import Backoff, Supervisor, describe_typed
from devices.ffmpeg import FfmpegMissingError, FfmpegRunner
from devices.janus_client import KEEPALIVE_INTERVAL, JanusClient
from devices.janus_protocol import JanusMessage, JanusRequestError, Success

__all__ = ["BACKOFF", "ChamberFeed", "FfmpegMissingError", "encoder_args"]

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

# Restart backoff of both halves: 1 s, 2 s, 4 s, 8 s, then every 10 s. The first retry is
# quick because an ffmpeg crash or a Janus restart are over in a moment; the cap keeps a broken
# capture device from being hammered while it still comes back within seconds of being fixed.
# A missing ffmpeg or a wrong room secret is retried at the cap: retrying fast will not fix
# either, but someone may fix them while the session goes on.
BACKOFF = Backoff(first=1.0, factor=2.0, cap=10.0, fatal_retry_s=10.0)
# remove_remote_publisher when stopping is best effort: a hung Janus must not hang stop().
REMOVE_TIMEOUT_S = 3.0


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
        self.connects = 0  # times the feed became CONNECTED
        self._binary = ffmpeg  # the program found on the path, once a session looked
        self._host = "127.0.0.1"  # where Janus takes the feed's RTP, while published
        # One runner for every session: its start count is the feed's; each session's run()
        # starts its backoff afresh.
        self._encoder = FfmpegRunner("chamber feed", self._encoder_args, backoff=BACKOFF,
                                     on_status=self._on_encoder, log=log)
        self._supervisor: Supervisor | None = None

    @property
    def encoder_pid(self) -> int | None:
        """The running ffmpeg's pid, which is also its process group id."""
        return self._encoder.pid

    @property
    def encoder_starts(self) -> int:
        """ffmpeg processes started."""
        return self._encoder.starts

    async def start(self) -> None:
        """Start publishing in the background; returns at once."""
        if self._supervisor is None or not self._supervisor.running:
            self._supervisor = Supervisor("chamber feed", self._session, self._set,
                                          backoff=BACKOFF, log=log, describe=describe_typed)
            self._supervisor.start("chamber-feed")

    async def stop(self) -> None:
        """Remove the publisher (best effort), stop ffmpeg and close; safe to call twice."""
        if self._supervisor is not None:
            await self._supervisor.stop()
        self._set(Link.CLOSED, "stopped")

    # --- supervision ----------------------------------------------------------------------

    async def _session(self) -> str:
        """One Janus connection: publish, keep alive and encode until either half fails.

        A missing ffmpeg and a wrong room secret end it as fatal errors: the supervisor
        retries them slowly, retrying fast will not install ffmpeg nor fix a secret."""
        self.attempts += 1
        binary = shutil.which(self.ffmpeg)
        if binary is None:
            raise FfmpegMissingError(
                f"ffmpeg not found: {self.ffmpeg!r} (install the Debian package ffmpeg, or set "
                "[join.chamber] ffmpeg to its path)")
        self._binary = binary
        try:
            client = await JanusClient.connect(self.url, self._on_event)
            tasks: list[asyncio.Task[None]] = []
            try:
                self._host, self.port = await self._publish(client)
                tasks.append(asyncio.create_task(self._keepalive(client),
                                                 name="chamber:keepalive"))
                tasks.append(asyncio.create_task(self._encoder.run(), name="chamber:ffmpeg"))
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
        finally:
            self.port = None
        return "Janus closed the connection"

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
        return str(data.get("ip") or "127.0.0.1"), int(data["port"])

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

    def _encoder_args(self) -> list[str]:
        assert self.port is not None  # the encoder runs only while published
        return encoder_args(self._binary, self.input_args, self._host, self.port)

    def _on_encoder(self, link: Link, detail: str) -> None:
        """The encoder's link is the feed's while the feed is published: its first attempt
        and its end belong to the Janus session, which reports them itself."""
        if link == Link.CONNECTED:
            self._set(Link.CONNECTED, f"publishing to port {self.port}")
        elif link in (Link.LOST, Link.RECONNECTING):
            self._set(link, detail)

    # --- status ---------------------------------------------------------------------------

    def _set(self, link: Link, detail: str) -> None:
        if link == self.link and detail == self.detail:
            return
        self.link = link
        self.detail = detail
        if link == Link.CONNECTED:
            self.connects += 1
            if self._supervisor is not None:
                self._supervisor.up()  # it worked for a while: a loss is retried soon
        try:
            self._on_status(link, detail)
        except Exception:  # a listener's bug must not stop the programme
            log.exception("chamber feed: status listener failed")

