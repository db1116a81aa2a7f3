"""Read-modify-write of one Table entity under its ETag (optimistic compare-and-swap).

Used for the small shared records that many instances update at once (per-user quotas, the
provider limiter): every writer reads the entity, computes the new one and writes it only if nobody
wrote in between; a loser reads again. Two storage transactions per uncontended update.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from azure.core import MatchConditions
from azure.core.exceptions import ResourceExistsError, ResourceModifiedError, ResourceNotFoundError
from azure.data.tables import UpdateMode
from azure.data.tables.aio import TableClient

from jobs.domain.errors import CasContentionError

logger = logging.getLogger(__name__)

T = TypeVar("T")
# Contention is bounded by how many writers race for one record (a burst of one user's requests, or
# every instance asking the limiter at once); a lost round costs one read and a short pause.
MAX_ROUNDS = 60
FIRST_PAUSE_SECONDS = 0.005
MAX_PAUSE_SECONDS = 0.1


# What `change` returns: the properties to write (None: write nothing) and a value for the caller.
Change = Callable[[Mapping[str, Any] | None], tuple[dict[str, Any] | None, T]]


async def _read(table: TableClient, key: tuple[str, str]) -> tuple[Mapping[str, Any] | None, str | None]:
    try:
        entity = await table.get_entity(*key)
    except ResourceNotFoundError:
        return None, None
    return entity, entity.metadata.get("etag")


async def _write(table: TableClient, key: tuple[str, str], props: dict[str, Any], etag: str | None) -> bool:
    """Insert (no etag) or replace under `etag`; False when someone else wrote first."""
    entity = {**props, "PartitionKey": key[0], "RowKey": key[1]}
    try:
        if etag is None:
            await table.create_entity(entity)
        else:
            await table.update_entity(
                entity, mode=UpdateMode.REPLACE, etag=etag, match_condition=MatchConditions.IfNotModified
            )
    except (ResourceExistsError, ResourceModifiedError, ResourceNotFoundError):
        return False
    return True


async def compare_and_swap(table: TableClient, key: tuple[str, str], change: Change[T]) -> T:
    """Apply `change` to the entity at `key` (None if absent) until its write lands; returns its value.

    `change` must be pure: it may run once per round. Exceptions it raises end the loop unchanged.
    """
    pause = FIRST_PAUSE_SECONDS
    for _ in range(MAX_ROUNDS):
        entity, etag = await _read(table, key)
        props, value = change(entity)
        if props is None or await _write(table, key, props, etag):
            return value
        # Spread the losers out so the next round has a winner instead of the same collision.
        await asyncio.sleep(random.uniform(0, pause))
        pause = min(pause * 2, MAX_PAUSE_SECONDS)
    logger.warning("record %s/%s: still contended after %d rounds", key[0], key[1], MAX_ROUNDS)
    raise CasContentionError(f"record {key[0]}/{key[1]} changed concurrently {MAX_ROUNDS} times")
