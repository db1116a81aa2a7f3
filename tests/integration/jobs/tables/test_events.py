"""EventLedger on real Azurite: claim-once semantics, release and purge."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta

import pytest

from jobs.domain.models import utcnow
from jobs.tables.events import EventLedger


async def test_an_event_is_claimed_once(event_ledger: EventLedger) -> None:
    assert await event_ledger.claim("01HX0000000000000000000001", job_id="job-1") is True
    assert await event_ledger.claim("01HX0000000000000000000001") is False


async def test_concurrent_claims_have_one_winner(event_ledger: EventLedger) -> None:
    results = await asyncio.gather(*(event_ledger.claim("01HX0000000000000000000002") for _ in range(5)))
    assert sorted(results) == [False, False, False, False, True]


async def test_release_lets_the_event_be_claimed_again(event_ledger: EventLedger) -> None:
    await event_ledger.claim("01HX0000000000000000000003")
    await event_ledger.release("01HX0000000000000000000003")
    assert await event_ledger.claim("01HX0000000000000000000003") is True
    await event_ledger.release("never-claimed")  # harmless


async def test_purge_removes_only_older_claims(event_ledger: EventLedger) -> None:
    await event_ledger.claim("old-1")
    await event_ledger.claim("old-2")
    cutoff = utcnow() + timedelta(seconds=1)

    assert await event_ledger.purge_older_than(cutoff) == 2
    assert await event_ledger.claim("old-1") is True
    assert await event_ledger.purge_older_than(utcnow() - timedelta(days=1)) == 0


@pytest.mark.parametrize("shape", ["a/{}", "a#{}", "a?{}", "a\\{}", "tab\t{}", "half\ud800{}"])
async def test_event_ids_that_cannot_be_keys_are_claimed_once_by_digest(
    event_ledger: EventLedger, shape: str
) -> None:
    event_id = shape.format(uuid.uuid4().hex)
    assert await event_ledger.claim(event_id) is True
    assert await event_ledger.claim(event_id) is False
    await event_ledger.release(event_id)
    assert await event_ledger.claim(event_id) is True
