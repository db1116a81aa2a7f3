"""The emulator's table layout and its rows as records."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

SCHEMA = """
CREATE TABLE IF NOT EXISTS messages (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    queue TEXT NOT NULL,            -- lower-cased queue name
    dead INTEGER NOT NULL DEFAULT 0, -- 1: in the $DeadLetterQueue sub-queue
    state TEXT NOT NULL,            -- active | scheduled | deferred
    payload BLOB NOT NULL,          -- the bare message as the sender encoded it
    message_id TEXT,
    enqueued_at REAL NOT NULL,
    available_at REAL NOT NULL,     -- scheduled enqueue time (= enqueued_at unless scheduled)
    expires_at REAL NOT NULL,
    deliveries INTEGER NOT NULL DEFAULT 0,
    lock_token TEXT,
    locked_until REAL,
    dl_reason TEXT,
    dl_description TEXT
);
CREATE INDEX IF NOT EXISTS messages_ready ON messages (queue, dead, state, seq);
CREATE UNIQUE INDEX IF NOT EXISTS messages_lock ON messages (lock_token);
CREATE TABLE IF NOT EXISTS duplicates (
    queue TEXT NOT NULL, message_id TEXT NOT NULL, seen_at REAL NOT NULL,
    PRIMARY KEY (queue, message_id)
);
"""


@dataclass(frozen=True)
class Stored:
    """One message with the broker's own properties."""

    seq: int
    payload: bytes
    enqueued_at: float
    expires_at: float
    deliveries: int
    lock_token: str | None
    locked_until: float | None
    dl_reason: str | None
    dl_description: str | None
    scheduled_at: float | None
    dead: bool


COLUMNS = (
    "seq, payload, enqueued_at, expires_at, deliveries, lock_token, locked_until, dl_reason, "
    "dl_description, CASE WHEN state = 'scheduled' OR available_at > enqueued_at THEN available_at END, dead"
)


def stored_from_row(row: Sequence[object]) -> Stored:
    seq, payload, enqueued, expires, deliveries, token, until, reason, description, scheduled, dead = row
    values: dict[str, Any] = {
        "seq": seq,
        "payload": payload,
        "enqueued_at": enqueued,
        "expires_at": expires,
        "deliveries": deliveries,
        "lock_token": token,
        "locked_until": until,
        "dl_reason": reason,
        "dl_description": description,
        "scheduled_at": scheduled,
    }
    return Stored(**values, dead=bool(dead))
