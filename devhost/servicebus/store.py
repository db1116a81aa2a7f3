"""The emulator's messages and their broker state in SQLite (WAL): every change is committed before
the client hears about it, so a SIGKILL of the hosting process loses nothing that was acknowledged."""

from __future__ import annotations

import sqlite3
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import replace
from pathlib import Path

from devhost.servicebus.entities import NamespaceConfig, QueueConfig
from devhost.servicebus.records import COLUMNS, SCHEMA, Stored, stored_from_row

MAX_DELIVERY_REASON = "MaxDeliveryCountExceeded"
TTL_REASON = "TTLExpiredException"

class LockLostError(Exception):
    """The lock token names no message this queue holds locked (expired, settled or unknown)."""


class MessageStore:
    """All broker state; used from the emulator's one thread only."""

    def __init__(
        self, path: Path, namespace: NamespaceConfig, *, clock: Callable[[], float] = time.time
    ) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
        # WAL + NORMAL: a commit survives the death of the process (not of the OS), which is the
        # failure devhost has to survive; FULL would fsync every message for no gain here.
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(SCHEMA)
        self._namespace = namespace
        self._now = clock

    def close(self) -> None:
        self._db.close()

    def config(self, queue: str) -> QueueConfig:
        config = self._namespace.queue(queue)
        if config is None:
            raise KeyError(queue)
        return config

    # --- sending -------------------------------------------------------------------------------
    def enqueue(
        self,
        queue: str,
        payload: bytes,
        *,
        message_id: str | None,
        ttl: float | None,
        scheduled_at: float | None = None,
    ) -> int | None:
        """Store one message; None when duplicate detection drops it (the send still succeeds)."""
        config = self.config(queue)
        now = self._now()
        key = queue.lower()
        if config.requires_duplicate_detection and message_id is not None:
            if self._seen_recently(key, message_id, now - config.duplicate_detection_window):
                return None
            self._db.execute("INSERT OR REPLACE INTO duplicates VALUES (?, ?, ?)", (key, message_id, now))
        lifetime = min(ttl, config.default_ttl) if ttl else config.default_ttl
        available = max(now, scheduled_at) if scheduled_at else now
        cursor = self._db.execute(
            "INSERT INTO messages (queue, state, payload, message_id, enqueued_at, available_at, expires_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                key,
                "scheduled" if scheduled_at else "active",
                payload,
                message_id,
                now,
                available,
                available + lifetime,
            ),
        )
        return int(cursor.lastrowid or 0)

    def _seen_recently(self, key: str, message_id: str, since: float) -> bool:
        row = self._db.execute(
            "SELECT seen_at FROM duplicates WHERE queue = ? AND message_id = ?", (key, message_id)
        ).fetchone()
        return row is not None and float(row[0]) > since

    def cancel_scheduled(self, queue: str, seqs: Iterable[int]) -> None:
        for seq in seqs:
            self._db.execute(
                "DELETE FROM messages WHERE queue = ? AND seq = ? AND state = 'scheduled'",
                (queue.lower(), seq),
            )

    # --- receiving -----------------------------------------------------------------------------
    def take_next(self, queue: str, *, dead: bool, lock: bool) -> Stored | None:
        """The next available message: locked for peek-lock, removed for receive-and-delete."""
        self.sweep()
        row = self._db.execute(
            f"SELECT {COLUMNS} FROM messages WHERE queue = ? AND dead = ? AND state = 'active'"
            " AND (locked_until IS NULL OR locked_until <= ?) ORDER BY seq LIMIT 1",
            (queue.lower(), int(dead), self._now()),
        ).fetchone()
        if row is None:
            return None
        return self._deliver(queue, stored_from_row(row), lock=lock)

    def _deliver(self, queue: str, message: Stored, *, lock: bool) -> Stored:
        deliveries = message.deliveries + 1
        if not lock:
            self._db.execute("DELETE FROM messages WHERE seq = ?", (message.seq,))
            return replace(message, deliveries=deliveries, lock_token=None, locked_until=None)
        token = str(uuid.uuid4())
        until = self._now() + self.config(queue).lock_duration
        self._db.execute(
            "UPDATE messages SET deliveries = ?, lock_token = ?, locked_until = ? WHERE seq = ?",
            (deliveries, token, until, message.seq),
        )
        return replace(message, deliveries=deliveries, lock_token=token, locked_until=until)

    def receive_deferred(self, queue: str, seqs: Iterable[int], *, dead: bool, lock: bool) -> list[Stored]:
        found = []
        for seq in seqs:
            row = self._db.execute(
                f"SELECT {COLUMNS} FROM messages WHERE queue = ? AND dead = ? AND seq = ?"
                " AND state = 'deferred' AND (locked_until IS NULL OR locked_until <= ?)",
                (queue.lower(), int(dead), seq, self._now()),
            ).fetchone()
            if row is None:
                raise LookupError(seq)
            found.append(self._deliver(queue, stored_from_row(row), lock=lock))
        return found

    def peek(self, queue: str, *, dead: bool, from_seq: int, count: int) -> list[Stored]:
        """Messages in sequence order from `from_seq`, without locks (active, deferred and scheduled)."""
        self.sweep()
        rows = self._db.execute(
            f"SELECT {COLUMNS} FROM messages WHERE queue = ? AND dead = ? AND seq >= ? ORDER BY seq LIMIT ?",
            (queue.lower(), int(dead), from_seq, count),
        ).fetchall()
        return [stored_from_row(row) for row in rows]

    # --- settling ------------------------------------------------------------------------------
    def _locked(self, queue: str, token: str) -> Stored:
        row = self._db.execute(
            f"SELECT {COLUMNS} FROM messages WHERE queue = ? AND lock_token = ? AND locked_until > ?",
            (queue.lower(), token, self._now()),
        ).fetchone()
        if row is None:
            raise LockLostError(token)
        return stored_from_row(row)

    def complete(self, queue: str, token: str) -> None:
        self._db.execute("DELETE FROM messages WHERE seq = ?", (self._locked(queue, token).seq,))

    def abandon(self, queue: str, token: str) -> None:
        message = self._locked(queue, token)
        self._unlock(message.seq)
        if not message.dead and message.deliveries >= self.config(queue).max_delivery_count:
            self._dead_letter(message.seq, MAX_DELIVERY_REASON, self._exhausted(queue))

    def release(self, queue: str, token: str) -> None:
        """Give a message back without counting the delivery (a prefetched message the client never saw)."""
        message = self._locked(queue, token)
        self._db.execute(
            "UPDATE messages SET deliveries = MAX(deliveries - 1, 0), lock_token = NULL,"
            " locked_until = NULL WHERE seq = ?",
            (message.seq,),
        )

    def defer(self, queue: str, token: str) -> None:
        message = self._locked(queue, token)
        self._unlock(message.seq)
        self._db.execute("UPDATE messages SET state = 'deferred' WHERE seq = ?", (message.seq,))

    def dead_letter(self, queue: str, token: str, *, reason: str | None, description: str | None) -> None:
        message = self._locked(queue, token)
        self._unlock(message.seq)
        self._dead_letter(message.seq, reason, description)

    def renew(self, queue: str, token: str) -> float:
        message = self._locked(queue, token)
        until = self._now() + self.config(queue).lock_duration
        self._db.execute("UPDATE messages SET locked_until = ? WHERE seq = ?", (until, message.seq))
        return until

    def _unlock(self, seq: int) -> None:
        self._db.execute("UPDATE messages SET lock_token = NULL, locked_until = NULL WHERE seq = ?", (seq,))

    def _dead_letter(self, seq: int, reason: str | None, description: str | None) -> None:
        self._db.execute(
            "UPDATE messages SET dead = 1, state = 'active', lock_token = NULL, locked_until = NULL,"
            " dl_reason = ?, dl_description = ? WHERE seq = ?",
            (reason, description, seq),
        )

    def _exhausted(self, queue: str) -> str:
        count = self.config(queue).max_delivery_count
        return f"Message could not be consumed after {count} delivery attempts."

    # --- time ----------------------------------------------------------------------------------
    def sweep(self) -> None:
        """Apply what time did: scheduled messages become active, expired locks count as failed
        deliveries (to the DLQ past maxDeliveryCount), expired messages leave or go to the DLQ."""
        now = self._now()
        self._db.execute(
            "UPDATE messages SET state = 'active' WHERE state = 'scheduled' AND available_at <= ?", (now,)
        )
        for queue in self._namespace.queues.values():
            key = queue.name.lower()
            self._db.execute(
                "UPDATE messages SET dead = 1, lock_token = NULL, locked_until = NULL, dl_reason = ?,"
                " dl_description = ? WHERE queue = ? AND dead = 0 AND state = 'active' AND locked_until <= ?"
                " AND deliveries >= ?",
                (MAX_DELIVERY_REASON, self._exhausted(queue.name), key, now, queue.max_delivery_count),
            )
            expired = (
                "queue = ? AND dead = 0 AND state != 'scheduled' AND expires_at <= ?"
                " AND (locked_until IS NULL OR locked_until <= ?)"
            )
            if queue.dead_lettering_on_expiration:
                self._db.execute(
                    "UPDATE messages SET dead = 1, state = 'active', lock_token = NULL, locked_until = NULL,"
                    f" dl_reason = ?, dl_description = ? WHERE {expired}",
                    (TTL_REASON, "The message expired and was dead lettered.", key, now, now),
                )
            else:
                self._db.execute(f"DELETE FROM messages WHERE {expired}", (key, now, now))
            self._db.execute(
                "DELETE FROM duplicates WHERE queue = ? AND seen_at <= ?",
                (key, now - queue.duplicate_detection_window),
            )

    def counts(self, queue: str) -> dict[str, int]:
        """Active, dead-lettered, scheduled and deferred message counts (for tests and logs)."""
        rows = self._db.execute(
            "SELECT CASE WHEN dead = 1 THEN 'dead' ELSE state END, COUNT(*) FROM messages WHERE queue = ?"
            " GROUP BY 1",
            (queue.lower(),),
        ).fetchall()
        return {"active": 0, "dead": 0, "scheduled": 0, "deferred": 0, **{str(k): int(v) for k, v in rows}}
