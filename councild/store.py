"""The session record: an append-only log in SQLite that survives `kill -9`.

Every accepted floor input (API command, keypad key, device event), every effect and every
device status change is appended with wall and monotonic time, in one transaction per step,
before the step is acknowledged or its effects are carried out. On start the floor is rebuilt
by replaying the accepted inputs through the same pure `floor.step`, so the rebuilt state is
exactly the live one.

WAL mode with synchronous=NORMAL: a commit reaches the OS before the step is acknowledged, so a
killed daemon loses nothing; only an operating-system crash or power cut can lose the last
moments (synchronous=FULL would fsync every step and put milliseconds on the path from a desk
to the picture).
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from councild.model import Effect, Event

SCHEMA = """
CREATE TABLE IF NOT EXISTS sessions (
    id INTEGER PRIMARY KEY,
    key TEXT NOT NULL UNIQUE,
    title TEXT NOT NULL,
    date TEXT NOT NULL,
    started REAL NOT NULL,
    roster TEXT NOT NULL          -- seats, councillors and agenda as the session began
);
CREATE TABLE IF NOT EXISTS log (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    session INTEGER NOT NULL REFERENCES sessions(id),
    wall REAL NOT NULL,
    mono REAL NOT NULL,
    kind TEXT NOT NULL,           -- input | effect | device | rejected
    source TEXT NOT NULL,         -- api | keypad | device name | timer | ...
    type TEXT NOT NULL,
    body TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS log_session ON log(session, kind, seq);
CREATE TABLE IF NOT EXISTS snapshots (
    session INTEGER NOT NULL REFERENCES sessions(id),
    seq INTEGER NOT NULL,         -- the last log row the state includes
    wall REAL NOT NULL,
    rules TEXT NOT NULL,          -- fingerprint of the rules it is valid for
    state TEXT NOT NULL,
    PRIMARY KEY (session, seq)
);
"""
# The WAL is truncated to this after a checkpoint that caught up (SQLite's own limit).
WAL_SIZE_LIMIT = 4 * 1024 * 1024
# A passive checkpoint races the writer; a few quick retries find a gap between commits.
CHECKPOINT_TRIES = 5


def default_path() -> Path:
    """$STATE_DIRECTORY (systemd's StateDirectory= for the service: /var/lib/councild), else
    the user's $XDG_STATE_HOME/councild/."""
    service = os.environ.get("STATE_DIRECTORY")
    if service:
        return Path(service.split(":")[0]) / "councild.db"
    base = os.environ.get("XDG_STATE_HOME") or os.path.join(Path.home(), ".local", "state")
    return Path(base) / "councild" / "councild.db"


@dataclass(frozen=True, slots=True)
class SessionRow:
    id: int
    key: str
    title: str
    date: str
    started: float
    roster: dict[str, Any]


@dataclass(frozen=True, slots=True)
class LogRow:
    seq: int
    wall: float
    kind: str
    source: str
    type: str
    body: dict[str, Any]


class Store:
    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        # The record is the daemon's alone: born 0600 (SQLite gives the -wal and -shm files
        # the database file's mode), and an older 0644 one is closed.
        os.close(os.open(self.path, os.O_CREAT | os.O_RDWR, 0o600))
        os.chmod(self.path, 0o600)
        for suffix in ("-wal", "-shm"):
            side = self.path.with_name(self.path.name + suffix)
            if side.exists():
                os.chmod(side, 0o600)
        self._db = sqlite3.connect(self.path, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        # No checkpoint inside a commit: a checkpoint fsyncs, and a commit sits on the path
        # from a desk to the picture. The daemon checkpoints from a worker thread instead.
        self._db.execute("PRAGMA wal_autocheckpoint=0")
        self._db.execute(f"PRAGMA journal_size_limit={WAL_SIZE_LIMIT}")
        self._db.executescript(SCHEMA)
        # The checkpoint's connection is opened now, not at each checkpoint: when a flood of
        # clients has used up the process's descriptors, the record must still be kept.
        # It never waits for the writer (timeout 0): busy means try again next time.
        self._ckpt = sqlite3.connect(self.path, isolation_level=None, timeout=0,
                                     check_same_thread=False)
        self._ckpt.execute(f"PRAGMA journal_size_limit={WAL_SIZE_LIMIT}")
        self._ckpt.execute("SELECT COUNT(*) FROM sessions").fetchone()  # opens -wal and -shm
        # Closing a connection another thread is stepping through crashes the interpreter
        # (a segfault inside sqlite3, seen in CI when the daemon stopped during a
        # checkpoint): close() waits for a checkpoint in flight, and none starts after it.
        self._ckpt_lock = threading.Lock()
        self._closed = False

    def close(self) -> None:
        with self._ckpt_lock:
            self._closed = True
            self._ckpt.close()
        self._db.close()

    def checkpoint(self) -> bool:
        """Move the WAL into the database file and truncate it; True if it was truncated.
        Safe from another thread (one at a time): passive checkpoints never block the
        writer; once one has caught up, a truncating one only has to cut the file (it gives
        up at once if the writer is busy, and the next checkpoint tries again). After close()
        it does nothing and returns False."""
        with self._ckpt_lock:
            if self._closed:
                return False
            return self._checkpoint()

    def _checkpoint(self) -> bool:
        for _ in range(CHECKPOINT_TRIES):
            _busy, log_frames, done = self._ckpt.execute(
                "PRAGMA wal_checkpoint(PASSIVE)").fetchone()
            if log_frames == done:
                break
        else:
            return False
        try:
            busy, _log, _done = self._ckpt.execute(
                "PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        except sqlite3.OperationalError:  # the writer holds the lock right now
            return False
        return not busy

    # --- sessions

    def open_session(
        self, key: str, title: str, date: str, roster: dict[str, Any], started: float
    ) -> SessionRow:
        """The session with this key, created if new (a restart resumes the same session)."""
        row = self._db.execute("SELECT id FROM sessions WHERE key = ?", (key,)).fetchone()
        if row is None:
            self._db.execute(
                "INSERT INTO sessions (key, title, date, started, roster) VALUES (?, ?, ?, ?, ?)",
                (key, title, date, started, json.dumps(roster)),
            )
        found = self.session(key)
        assert found is not None
        return found

    def session(self, key: str | None = None) -> SessionRow | None:
        """A session by key, or the latest one."""
        sql = "SELECT id, key, title, date, started, roster FROM sessions "
        if key is None:
            row = self._db.execute(sql + "ORDER BY id DESC LIMIT 1").fetchone()
        else:
            row = self._db.execute(sql + "WHERE key = ?", (key,)).fetchone()
        if row is None:
            return None
        return SessionRow(row[0], row[1], row[2], row[3], row[4], json.loads(row[5]))

    def sessions(self) -> list[SessionRow]:
        rows = self._db.execute("SELECT key FROM sessions ORDER BY id").fetchall()
        return [s for (k,) in rows if (s := self.session(k)) is not None]

    # --- the log

    def record(
        self,
        session: int,
        source: str,
        event: Event | None,
        effects: Sequence[Effect] = (),
        *,
        kind: str = "input",
        wall: float,
        extra: dict[str, Any] | None = None,
    ) -> None:
        """Append one step (its input and its effects) in a single transaction."""
        mono = time.monotonic()
        rows = []
        if event is not None:
            body = event.to_dict()
            if extra:
                body.update(extra)
            rows.append((session, wall, mono, kind, source, body.pop("type"), json.dumps(body)))
        for effect in effects:
            body = effect.to_dict()
            rows.append((session, wall, mono, "effect", source, body.pop("type"), json.dumps(body)))
        self._insert(rows)

    def note(self, session: int, source: str, kind: str, type_: str, body: dict[str, Any],
             *, wall: float) -> None:
        """Append one entry that is not a model event (e.g. a technician's director command)."""
        self._insert([(session, wall, time.monotonic(), kind, source, type_, json.dumps(body))])

    def _insert(self, rows: list[tuple[Any, ...]]) -> None:
        """One transaction: the rows of a step are committed together or not at all."""
        if not rows:
            return
        with self._db:
            self._db.execute("BEGIN")
            self._db.executemany(
                "INSERT INTO log (session, wall, mono, kind, source, type, body) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                rows,
            )

    def rows(self, session: int, kinds: Sequence[str] | None = None,
             after: int = 0) -> Iterator[LogRow]:
        sql = "SELECT seq, wall, kind, source, type, body FROM log WHERE session = ?"
        args: list[Any] = [session]
        if after:
            sql += " AND seq > ?"
            args.append(after)
        if kinds:
            sql += f" AND kind IN ({','.join('?' * len(kinds))})"
            args.extend(kinds)
        for seq, wall, kind, source, typ, body in self._db.execute(sql + " ORDER BY seq", args):
            yield LogRow(seq, wall, kind, source, typ, json.loads(body))

    def inputs(self, session: int, after: int = 0) -> Iterator[tuple[Event, float]]:
        """The accepted floor inputs in order (those after log row `after`), as events,
        with the time they were applied."""
        for row in self.rows(session, ("input",), after=after):
            yield Event.from_dict({"type": row.type, **row.body}), row.wall

    # --- snapshots of the floor

    def snapshot(self, session: int, rules: str, state: dict[str, Any], *, wall: float) -> int:
        """Record the floor as of the latest log row; that row's seq."""
        row = self._db.execute("SELECT MAX(seq) FROM log WHERE session = ?",
                               (session,)).fetchone()
        seq = int(row[0] or 0)
        with self._db:
            self._db.execute("BEGIN")
            self._db.execute("INSERT OR REPLACE INTO snapshots (session, seq, wall, rules, state)"
                             " VALUES (?, ?, ?, ?, ?)", (session, seq, wall, rules,
                                                         json.dumps(state)))
            # Only the newest is ever read: older ones would only grow the file.
            self._db.execute("DELETE FROM snapshots WHERE session = ? AND seq < ?",
                             (session, seq))
        return seq

    def latest_snapshot(self, session: int, rules: str) -> tuple[int, dict[str, Any]] | None:
        """The newest snapshot taken under these rules: (seq, state)."""
        row = self._db.execute(
            "SELECT seq, state FROM snapshots WHERE session = ? AND rules = ? "
            "ORDER BY seq DESC LIMIT 1", (session, rules)).fetchone()
        return None if row is None else (int(row[0]), json.loads(row[1]))
