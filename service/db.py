"""Session metadata in SQLite (embedded, no server): tenants, API keys, streams, sessions, gaps, vocabularies.

Samples themselves are not here: they live in the append-only recording files of :mod:`service.storage`,
which are the source of truth for what is persisted. This database says who owns what, and keeps counters
that :mod:`service.storage` reconciles with the files when a stream is opened again.

One connection is shared by the event loop and the threadpool behind a lock (WAL journal, so readers of the
database file from other processes, such as ``biosig keys list``, never block the service).
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["Database", "GapRow", "KeyRow", "SessionRow", "StreamRow"]

SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS api_keys (
    key_id TEXT PRIMARY KEY,
    tenant TEXT NOT NULL,
    name TEXT NOT NULL,
    hash TEXT NOT NULL,
    created REAL NOT NULL,
    revoked REAL,
    rate_rps REAL
);
CREATE TABLE IF NOT EXISTS streams (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant TEXT NOT NULL,
    key TEXT NOT NULL,
    hello TEXT NOT NULL,
    created REAL NOT NULL,
    ended REAL,
    next_seq INTEGER NOT NULL DEFAULT 0,
    first_sample INTEGER,
    next_sample INTEGER,
    n_samples INTEGER NOT NULL DEFAULT 0,
    n_frames INTEGER NOT NULL DEFAULT 0,
    committed_bytes INTEGER NOT NULL DEFAULT 0
);
CREATE UNIQUE INDEX IF NOT EXISTS streams_open_key ON streams (tenant, key) WHERE ended IS NULL;
CREATE TABLE IF NOT EXISTS sessions (
    id TEXT PRIMARY KEY,
    stream_id INTEGER NOT NULL REFERENCES streams (id),
    key_id TEXT NOT NULL,
    started REAL NOT NULL,
    ended REAL,
    resumed INTEGER NOT NULL,
    frames INTEGER NOT NULL DEFAULT 0,
    samples INTEGER NOT NULL DEFAULT 0,
    results INTEGER NOT NULL DEFAULT 0,
    gaps INTEGER NOT NULL DEFAULT 0,
    rejected INTEGER NOT NULL DEFAULT 0,
    duplicates INTEGER NOT NULL DEFAULT 0,
    close_code INTEGER
);
CREATE TABLE IF NOT EXISTS gaps (
    stream_id INTEGER NOT NULL REFERENCES streams (id),
    seq INTEGER NOT NULL,
    start_sample INTEGER NOT NULL,
    stop_sample INTEGER NOT NULL,
    PRIMARY KEY (stream_id, seq)
);
CREATE TABLE IF NOT EXISTS vocabularies (tenant TEXT PRIMARY KEY, vocab TEXT NOT NULL, updated REAL NOT NULL);
CREATE TABLE IF NOT EXISTS examples (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant TEXT NOT NULL,
    user TEXT NOT NULL,
    gesture TEXT NOT NULL,
    dim INTEGER NOT NULL,
    embeddings BLOB NOT NULL,
    created REAL NOT NULL
);
"""


@dataclass(frozen=True)
class KeyRow:
    key_id: str
    tenant: str
    name: str
    hash: str
    created: float
    revoked: float | None
    rate_rps: float | None


@dataclass(frozen=True)
class StreamRow:
    id: int
    tenant: str
    key: str
    hello: dict[str, Any]
    created: float
    ended: float | None
    next_seq: int
    first_sample: int | None
    next_sample: int | None
    n_samples: int
    n_frames: int
    committed_bytes: int


@dataclass(frozen=True)
class SessionRow:
    id: str
    stream_id: int
    key_id: str
    started: float
    ended: float | None
    resumed: bool
    frames: int
    samples: int
    results: int
    gaps: int
    rejected: int
    duplicates: int
    close_code: int | None


@dataclass(frozen=True)
class GapRow:
    seq: int
    start_sample: int
    stop_sample: int


class Database:
    """The metadata store; every method is one short transaction."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None, timeout=30.0)
        self._conn.row_factory = sqlite3.Row
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=NORMAL")
        self._conn.execute("PRAGMA foreign_keys=ON")
        with self._lock:
            self._conn.executescript(_SCHEMA)  # its own transaction (executescript commits first)
        with self._tx() as c:
            row = c.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
            if row is None:
                c.execute("INSERT INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))
            elif int(row["value"]) != SCHEMA_VERSION:
                raise RuntimeError(
                    f"{self.path}: metadata schema version {row['value']}, this service needs {SCHEMA_VERSION}"
                )

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    def _query(self, sql: str, args: tuple[Any, ...] = ()) -> list[sqlite3.Row]:
        with self._lock:
            return self._conn.execute(sql, args).fetchall()

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def ping(self) -> bool:
        return bool(self._query("SELECT 1")[0][0] == 1)

    # -- API keys -----------------------------------------------------------------------------------------------

    def add_key(self, key_id: str, tenant: str, name: str, key_hash: str, rate_rps: float | None) -> KeyRow:
        now = time.time()
        with self._tx() as c:
            c.execute(
                "INSERT INTO api_keys (key_id, tenant, name, hash, created, rate_rps) VALUES (?, ?, ?, ?, ?, ?)",
                (key_id, tenant, name, key_hash, now, rate_rps),
            )
        return KeyRow(key_id, tenant, name, key_hash, now, None, rate_rps)

    def get_key(self, key_id: str) -> KeyRow | None:
        rows = self._query("SELECT * FROM api_keys WHERE key_id = ?", (key_id,))
        return KeyRow(**dict(rows[0])) if rows else None

    def list_keys(self, tenant: str | None = None) -> list[KeyRow]:
        if tenant is None:
            rows = self._query("SELECT * FROM api_keys ORDER BY tenant, created")
        else:
            rows = self._query("SELECT * FROM api_keys WHERE tenant = ? ORDER BY created", (tenant,))
        return [KeyRow(**dict(r)) for r in rows]

    def revoke_key(self, key_id: str) -> bool:
        """Mark a key revoked; False when there is no such key or it already was."""
        with self._tx() as c:
            cur = c.execute(
                "UPDATE api_keys SET revoked = ? WHERE key_id = ? AND revoked IS NULL", (time.time(), key_id)
            )
            return cur.rowcount == 1

    # -- streams ------------------------------------------------------------------------------------------------

    @staticmethod
    def _stream(row: sqlite3.Row) -> StreamRow:
        d = dict(row)
        d["hello"] = json.loads(d["hello"])
        return StreamRow(**d)

    def create_stream(self, tenant: str, key: str, hello: dict[str, Any]) -> StreamRow:
        """A new open stream; ``sqlite3.IntegrityError`` when the tenant has an open stream with that key."""
        with self._tx() as c:
            cur = c.execute(
                "INSERT INTO streams (tenant, key, hello, created) VALUES (?, ?, ?, ?)",
                (tenant, key, json.dumps(hello, sort_keys=True), time.time()),
            )
            row = c.execute("SELECT * FROM streams WHERE id = ?", (cur.lastrowid,)).fetchone()
        return self._stream(row)

    def get_stream(self, stream_id: int) -> StreamRow | None:
        rows = self._query("SELECT * FROM streams WHERE id = ?", (stream_id,))
        return self._stream(rows[0]) if rows else None

    def open_stream(self, tenant: str, key: str) -> StreamRow | None:
        """The tenant's stream with this key that has not ended."""
        rows = self._query("SELECT * FROM streams WHERE tenant = ? AND key = ? AND ended IS NULL", (tenant, key))
        return self._stream(rows[0]) if rows else None

    def list_streams(self, tenant: str, key: str | None = None) -> list[StreamRow]:
        if key is None:
            rows = self._query("SELECT * FROM streams WHERE tenant = ? ORDER BY id", (tenant,))
        else:
            rows = self._query("SELECT * FROM streams WHERE tenant = ? AND key = ? ORDER BY id", (tenant, key))
        return [self._stream(r) for r in rows]

    def update_stream_progress(
        self,
        stream_id: int,
        *,
        next_seq: int,
        first_sample: int | None,
        next_sample: int | None,
        n_samples: int,
        n_frames: int,
        committed_bytes: int,
    ) -> None:
        with self._tx() as c:
            c.execute(
                "UPDATE streams SET next_seq = ?, first_sample = ?, next_sample = ?, n_samples = ?, n_frames = ?, "
                "committed_bytes = ? WHERE id = ?",
                (next_seq, first_sample, next_sample, n_samples, n_frames, committed_bytes, stream_id),
            )

    def end_stream(self, stream_id: int) -> None:
        with self._tx() as c:
            c.execute("UPDATE streams SET ended = ? WHERE id = ? AND ended IS NULL", (time.time(), stream_id))

    # -- sessions and gaps --------------------------------------------------------------------------------------

    def start_session(self, session_id: str, stream_id: int, key_id: str, resumed: bool) -> None:
        with self._tx() as c:
            c.execute(
                "INSERT INTO sessions (id, stream_id, key_id, started, resumed) VALUES (?, ?, ?, ?, ?)",
                (session_id, stream_id, key_id, time.time(), int(resumed)),
            )

    def end_session(self, session_id: str, *, close_code: int | None, **counts: int) -> None:
        allowed = {"frames", "samples", "results", "gaps", "rejected", "duplicates"}
        if set(counts) - allowed:
            raise ValueError(f"unknown session counter(s) {sorted(set(counts) - allowed)}; allowed: {sorted(allowed)}")
        sets = ", ".join(f"{k} = ?" for k in counts)
        with self._tx() as c:
            c.execute(
                f"UPDATE sessions SET ended = ?, close_code = ?{', ' if sets else ''}{sets} WHERE id = ?",
                (time.time(), close_code, *counts.values(), session_id),
            )

    def list_sessions(self, stream_id: int) -> list[SessionRow]:
        rows = self._query("SELECT * FROM sessions WHERE stream_id = ? ORDER BY started", (stream_id,))
        return [SessionRow(**{**dict(r), "resumed": bool(r["resumed"])}) for r in rows]

    def add_gap(self, stream_id: int, seq: int, start_sample: int, stop_sample: int) -> None:
        with self._tx() as c:
            c.execute("INSERT OR IGNORE INTO gaps VALUES (?, ?, ?, ?)", (stream_id, seq, start_sample, stop_sample))

    def list_gaps(self, stream_id: int) -> list[GapRow]:
        rows = self._query(
            "SELECT seq, start_sample, stop_sample FROM gaps WHERE stream_id = ? ORDER BY seq", (stream_id,)
        )
        return [GapRow(**dict(r)) for r in rows]

    # -- vocabularies and few-shot examples -----------------------------------------------------------------------

    def get_vocabulary(self, tenant: str) -> dict[str, Any] | None:
        rows = self._query("SELECT vocab FROM vocabularies WHERE tenant = ?", (tenant,))
        return json.loads(rows[0]["vocab"]) if rows else None

    def put_vocabulary(self, tenant: str, vocab: dict[str, Any]) -> None:
        with self._tx() as c:
            c.execute(
                "INSERT INTO vocabularies VALUES (?, ?, ?) ON CONFLICT (tenant) DO UPDATE SET vocab = excluded.vocab, "
                "updated = excluded.updated",
                (tenant, json.dumps(vocab, sort_keys=True), time.time()),
            )

    def add_examples(self, tenant: str, user: str, gesture: str, embeddings: np.ndarray) -> int:
        emb = np.ascontiguousarray(embeddings, dtype="<f4")
        with self._tx() as c:
            c.execute(
                "INSERT INTO examples (tenant, user, gesture, dim, embeddings, created) VALUES (?, ?, ?, ?, ?, ?)",
                (tenant, user, gesture, emb.shape[1], emb.tobytes(), time.time()),
            )
            row = c.execute(
                "SELECT COUNT(*) FROM examples WHERE tenant = ? AND user = ? AND gesture = ?", (tenant, user, gesture)
            ).fetchone()
        return int(row[0])

    def list_examples(self, tenant: str) -> list[tuple[str, str, np.ndarray]]:
        rows = self._query(
            "SELECT user, gesture, dim, embeddings FROM examples WHERE tenant = ? ORDER BY id", (tenant,)
        )
        return [
            (r["user"], r["gesture"], np.frombuffer(r["embeddings"], dtype="<f4").reshape(-1, r["dim"]).copy())
            for r in rows
        ]

    def delete_examples(self, tenant: str, gesture: str) -> int:
        with self._tx() as c:
            return c.execute("DELETE FROM examples WHERE tenant = ? AND gesture = ?", (tenant, gesture)).rowcount
