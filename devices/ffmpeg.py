"""One ffmpeg, kept running: the supervision shared by every ffmpeg councild starts.

The chamber programme feed (councild.join.chamber) and the audio bridge's plain-RTP endpoint
(devices.rtp_audio) both run ffmpeg the same way, so it is done here once, on the one
reconnect loop (`councild.supervisor.Supervisor`):

- ffmpeg runs in its own process group, so stopping it stops it whole and nothing outlives
  the runner (SIGTERM, SIGKILL after STOP_TIMEOUT_S);
- an ffmpeg that exits is restarted with the caller's `Backoff`; the last stderr line is the
  reason shown. Only an ffmpeg that ran STABLE_S counts as having worked (`Supervisor.up()`):
  one that dies a second after it started must not be restarted fast forever;
- a missing ffmpeg is a `FfmpegMissingError` (a `FatalLinkError`: retried slowly, logged
  loudly once; someone may install it while the session goes on);
- `restart()` starts over at once with fresh arguments (a new Janus stream), without backoff
  and without reporting a loss.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import signal
from collections import deque
from collections.abc import Callable

from councild.errors import CouncildError
from councild.model import Link
from councild.supervisor import Backoff, FatalLinkError, Supervisor

__all__ = ["FfmpegExitedError", "FfmpegMissingError", "FfmpegRunner", "terminate"]

log = logging.getLogger("councild.ffmpeg")

# An ffmpeg that ran this long was working: its next failure starts the backoff afresh.
STABLE_S = 10.0
# SIGTERM lets ffmpeg close its outputs; it takes well under a second.
STOP_TIMEOUT_S = 3.0
STDERR_LINES = 20  # kept for the status detail when ffmpeg fails
STDERR_LINE_MAX = 300  # characters of one stderr line kept: ffmpeg's output is not ours

StatusCallback = Callable[[Link, str], None]


class FfmpegMissingError(FatalLinkError):
    """The ffmpeg program is not installed (or not where the configuration says)."""


class FfmpegExitedError(CouncildError):
    """ffmpeg ended (or could not start); the message says how, for the link's detail."""


async def spawn(*args: str) -> asyncio.subprocess.Process:
    """Start ffmpeg in its own process group (stopped as a whole, never orphaned), pipes on
    stdout and stderr. Cancellation-safe: a stop that arrives while the process is being
    started (the fork done, the coroutine not yet returned) terminates it instead of leaving
    it running without an owner (seen in CI as an ffmpeg left after the demo had stopped)."""
    start = asyncio.ensure_future(asyncio.create_subprocess_exec(
        *args, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE, start_new_session=True))
    try:
        return await asyncio.shield(start)
    except asyncio.CancelledError:
        with contextlib.suppress(Exception):
            await terminate(await start)
        raise


async def terminate(proc: asyncio.subprocess.Process) -> None:
    """SIGTERM ffmpeg's process group, SIGKILL what is left after STOP_TIMEOUT_S."""
    try:
        if proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(STOP_TIMEOUT_S):
                    await proc.wait()
    finally:
        # also when cancelled meanwhile: nothing of the group may outlive the runner
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)


class FfmpegRunner:
    """One ffmpeg, restarted with backoff whenever it exits, until stopped.

    Either `start()`/`stop()` it as a task of its own, or await `run()` inside a task of the
    caller's (the chamber feed runs it within its Janus session): every `run()` starts with a
    fresh backoff.
    """

    def __init__(self, name: str, make_args: Callable[[], list[str]], *, backoff: Backoff,
                 on_status: StatusCallback = lambda link, detail: None,
                 on_stdout: Callable[[bytes], None] | None = None,
                 ready: str = "progress", log: logging.Logger = log) -> None:
        """`make_args` gives the command line for each start (args[0] is the program).
        `ready`: "progress" (CONNECTED at ffmpeg's first -progress report) or "stdout"
        (CONNECTED at the first bytes on stdout: decoded audio is coming out)."""
        self.name = name
        self._make_args = make_args
        self.backoff = backoff
        self._on_status = on_status
        self._on_stdout = on_stdout
        self._ready = ready
        self.log = log
        self.link = Link.CLOSED
        self.detail = ""
        self.starts = 0  # ffmpeg processes started
        self._proc: asyncio.subprocess.Process | None = None
        self._task: asyncio.Task[None] | None = None
        self._supervisor: Supervisor | None = None
        self._wake = asyncio.Event()

    @property
    def pid(self) -> int | None:
        """The running ffmpeg's pid, which is also its process group id."""
        proc = self._proc
        return proc.pid if proc is not None and proc.returncode is None else None

    def start(self) -> None:
        """Run in a task of its own; returns at once."""
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self.run(),
                                                                name=f"ffmpeg:{self.name}")

    async def stop(self) -> None:
        """Stop ffmpeg and the task `start()` made; safe to call twice."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            # asyncio.wait, not `await task`: a cancellation of stop() itself still propagates
            await asyncio.wait([task])
        self._set(Link.CLOSED, "stopped")

    def restart(self) -> None:
        """Start over now (new arguments, e.g. a new Janus stream), without backoff."""
        self._wake.set()
        proc = self._proc
        if proc is not None and proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)

    async def run(self) -> None:
        """Keep ffmpeg running until cancelled."""
        self._supervisor = Supervisor(self.name, self._session, self._set,
                                      backoff=self.backoff, log=self.log, sleep=self._pause)
        await self._supervisor.run()

    async def _pause(self, seconds: float) -> None:
        """The backoff wait, cut short by `restart()`."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                await self._wake.wait()

    async def _session(self) -> None:
        """ffmpeg until it exits (raised as the reason); restarts asked for stay inside."""
        supervisor = self._supervisor
        assert supervisor is not None
        loop = asyncio.get_running_loop()
        while True:
            self._wake.clear()
            args = self._make_args()
            if shutil.which(args[0]) is None:
                raise FfmpegMissingError(
                    f"ffmpeg not found: {args[0]!r} (install the Debian package ffmpeg)")
            started = loop.time()
            try:
                reason = await self._once(args)
            except (OSError, ValueError) as exc:  # a broken pipe, an endless line
                reason = f"ffmpeg: {type(exc).__name__}: {exc}"
            if self._wake.is_set():  # asked to restart: no backoff, no alarm
                supervisor.up()
                self._set(Link.RECONNECTING, self.detail)
                continue
            if loop.time() - started >= STABLE_S:
                supervisor.up()
            raise FfmpegExitedError(reason)

    async def _once(self, args: list[str]) -> str:
        try:
            proc = await spawn(*args)
        except FileNotFoundError as exc:  # removed since the check
            raise FfmpegMissingError(f"ffmpeg not found: {args[0]!r}") from exc
        except OSError as exc:
            return f"cannot start ffmpeg: {exc}"
        self.starts += 1
        self._proc = proc
        tail: deque[str] = deque(maxlen=STDERR_LINES)
        try:
            await asyncio.gather(self._stdout(proc), self._stderr(proc, tail))
            code = await proc.wait()
        finally:
            self._proc = None
            await terminate(proc)
            # stopped mid-read, the pipes are still open: close the transport now, not when
            # the garbage collector finds it after the loop is gone
            transport = getattr(proc, "_transport", None)
            if transport is not None:
                transport.close()
        return f"ffmpeg exited with code {code}: {tail[-1] if tail else 'no message'}"

    async def _stdout(self, proc: asyncio.subprocess.Process) -> None:
        assert proc.stdout is not None
        if self._ready == "progress":
            while raw := await _line(proc.stdout):
                if raw.startswith(b"progress="):
                    self._set(Link.CONNECTED, "running")
            return
        while chunk := await proc.stdout.read(4096):
            self._set(Link.CONNECTED, "audio coming out")
            if self._on_stdout is not None:
                self._on_stdout(chunk)

    async def _stderr(self, proc: asyncio.subprocess.Process, tail: deque[str]) -> None:
        assert proc.stderr is not None
        while raw := await _line(proc.stderr):
            line = raw.decode(errors="replace").strip()
            if line:
                tail.append(line[:STDERR_LINE_MAX])

    def _set(self, link: Link, detail: str) -> None:
        if link == self.link and detail == self.detail:
            return
        self.link, self.detail = link, detail
        try:
            self._on_status(link, detail)
        except Exception:  # a listener's bug must not stop ffmpeg
            self.log.exception("%s: status listener failed", self.name)


async def _line(stream: asyncio.StreamReader) -> bytes:
    """The next line (b"" at the end); a line beyond the reader's limit comes cut, not as an
    error: ffmpeg's output is not ours to trust."""
    try:
        return await stream.readline()
    except ValueError:  # LimitOverrunError: take what the buffer holds and go on
        return await stream.read(2**16) or b" "
