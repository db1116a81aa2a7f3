"""ConversationStore: a conversation's turns, one row per turn in the conversation's partition, and the
lease that lets one job at a time answer in a conversation."""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from azure.core import MatchConditions
from azure.core.exceptions import ResourceNotFoundError
from azure.data.tables.aio import TableServiceClient

from jobs.domain.conversations import Turn
from jobs.domain.models import Channel, utcnow
from jobs.names import CONVERSATIONS_TABLE
from jobs.tables.cas import compare_and_swap
from jobs.tables.entities import _utc, ensure_tables, split_utf16

logger = logging.getLogger(__name__)

LEASE_ROW_KEY = "lease"
TURN_PREFIX = "turn:"
# The RowKey range of the turns: ";" follows ":" in ASCII.
_TURNS_END = "turn;"
ANSWER_PREFIX = "Answer"
ANSWER_CHUNKS = "AnswerChunks"
DELETE_BATCH = 100


def conversation_scope(channel: Channel, user: str | None) -> str:
    """Whose conversations an id names: an API user's own (another user's id is another conversation),
    or the LINE chat's (its id is derived from the chat, and every member of a group shares it)."""
    return "line" if channel is Channel.LINE else "api:" + (user or "")


def conversation_partition(scope: str, conversation_id: str) -> str:
    # Hashed: a user id is free text, and the key should not echo it.
    return hashlib.sha256(f"{scope}|{conversation_id}".encode()).hexdigest()


def _turn_row_key(turn: Turn) -> str:
    micros = int(turn.created_at.timestamp()) * 1_000_000 + turn.created_at.microsecond
    return f"{TURN_PREFIX}{micros:016d}:{turn.job_id}"


def _turn_entity(partition: str, turn: Turn) -> dict[str, Any]:
    # Long answers exceed one string property (64 KiB of UTF-16).
    chunks = split_utf16(turn.answer)
    return {
        "PartitionKey": partition,
        "RowKey": _turn_row_key(turn),
        "JobId": turn.job_id,
        "Question": turn.question,
        "CreatedAt": turn.created_at,
        ANSWER_CHUNKS: len(chunks),
        **{f"{ANSWER_PREFIX}{i}": chunk for i, chunk in enumerate(chunks)},
    }


def _turn_from_entity(entity: Mapping[str, Any]) -> Turn:
    answer = "".join(str(entity[f"{ANSWER_PREFIX}{i}"]) for i in range(int(entity[ANSWER_CHUNKS])))
    return Turn(
        job_id=str(entity["JobId"]),
        question=str(entity["Question"]),
        answer=answer,
        created_at=_utc(entity["CreatedAt"]),
    )


class ConversationStore:
    """Turns keyed by (conversation partition, time of the answer); the lease row sits beside them."""

    def __init__(self, service: TableServiceClient, *, table: str = CONVERSATIONS_TABLE) -> None:
        self._service = service
        self._name = table
        self._known: set[str] = set()  # tables this store created or found
        self._table = service.get_table_client(table)

    async def turns(self, partition: str) -> list[Turn]:
        """Every turn of the conversation, oldest first (empty when it does not exist)."""
        await ensure_tables(self._service, [self._name], known=self._known)
        rows = self._table.query_entities(
            "PartitionKey eq @pk and RowKey ge @start and RowKey lt @end",
            parameters={"pk": partition, "start": TURN_PREFIX, "end": _TURNS_END},
        )
        return [_turn_from_entity(entity) async for entity in rows]

    async def add_turn(self, partition: str, turn: Turn) -> None:
        """Store a turn; writing the same turn again (a retried activity) changes nothing."""
        await ensure_tables(self._service, [self._name], known=self._known)
        await self._table.upsert_entity(_turn_entity(partition, turn))

    async def delete(self, partition: str) -> int:
        """Remove every turn of the conversation; returns how many there were."""
        await ensure_tables(self._service, [self._name], known=self._known)
        rows = self._table.query_entities(
            "PartitionKey eq @pk and RowKey ge @start and RowKey lt @end",
            parameters={"pk": partition, "start": TURN_PREFIX, "end": _TURNS_END},
            select=["PartitionKey", "RowKey"],
        )
        keys = [(str(row["PartitionKey"]), str(row["RowKey"])) async for row in rows]
        await self._delete(keys)
        return len(keys)

    async def remove_turn(self, partition: str, job_id: str) -> int:
        """Remove the turn a job wrote (its answer was withheld); 0 when it wrote none."""
        mine = [turn for turn in await self.turns(partition) if turn.job_id == job_id]
        await self._delete([(partition, _turn_row_key(turn)) for turn in mine])
        return len(mine)

    async def purge_older_than(self, cutoff: datetime) -> int:
        """Delete turns written before `cutoff` (the job retention); returns how many."""
        await ensure_tables(self._service, [self._name], known=self._known)
        rows = self._table.query_entities(
            "RowKey ge @start and RowKey lt @end and CreatedAt lt @cutoff",
            parameters={"start": TURN_PREFIX, "end": _TURNS_END, "cutoff": cutoff},
            select=["PartitionKey", "RowKey"],
            results_per_page=DELETE_BATCH,
        )
        keys = [(str(row["PartitionKey"]), str(row["RowKey"])) async for row in rows]
        for start in range(0, len(keys), DELETE_BATCH):
            await self._delete(keys[start : start + DELETE_BATCH])
        return len(keys)

    async def _delete(self, keys: list[tuple[str, str]]) -> None:
        # delete_entity treats a row already gone as deleted.
        await asyncio.gather(*(self._table.delete_entity(partition, row) for partition, row in keys))

    async def take_lease(self, partition: str, *, holder: str, seconds: float) -> bool:
        """Hold the conversation for `holder` (a job id) for `seconds`; False while another holds it.

        Taking it again as the same holder renews it; a lease past its time is free (its holder died).
        """
        await ensure_tables(self._service, [self._name], known=self._known)
        now = utcnow()

        def change(entity: Mapping[str, Any] | None) -> tuple[dict[str, Any] | None, bool]:
            if entity is not None and entity.get("Holder") != holder and _utc(entity["ExpiresAt"]) > now:
                return None, False
            return {"Holder": holder, "ExpiresAt": now + timedelta(seconds=seconds)}, True

        return await compare_and_swap(self._table, (partition, LEASE_ROW_KEY), change)

    async def release_lease(self, partition: str, *, holder: str) -> None:
        """Free the conversation, if `holder` still holds it."""
        try:
            entity = await self._table.get_entity(partition, LEASE_ROW_KEY)
        except ResourceNotFoundError:
            return
        if entity.get("Holder") != holder:
            return
        try:
            await self._table.delete_entity(
                partition, LEASE_ROW_KEY,
                etag=entity.metadata["etag"], match_condition=MatchConditions.IfNotModified,
            )
        except Exception as exc:  # taken over meanwhile, or a blip: the lease runs out on its own
            logger.info("conversation lease of %s not released: %s", holder, exc)
