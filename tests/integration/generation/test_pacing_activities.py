"""The pacing activities against real stores on Azurite: slots, the waiting note, leaving the line,
and 429s reported to the shared limiter."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from azure.core.exceptions import ResourceNotFoundError
from azure.data.tables.aio import TableClient

from generation import pacing_activities
from generation.providers.base import RateLimitedError
from jobs.config.pacing import LimiterConfig, limiter_config
from jobs.config.settings import load_settings
from jobs.contracts import SlotRequest
from jobs.domain.models import JobKind
from jobs.names import PACING_TABLE
from jobs.services import Services, build_services
from jobs.tables.limiter import LIMITER_PARTITION
from testing.factories import make_job


@pytest.fixture
async def paced(azurite_connection_string: str) -> AsyncIterator[Services]:
    settings = load_settings({
        "GENERATION_STORAGE": azurite_connection_string,
        "GENERATION_PROVIDER": "offline",
        "PROVIDER_IMAGES_PER_MINUTE": "2",  # a slot every 30 s: the fourth job waits
        "JOBS_QUEUE_KIND": "storage",
    })
    async with build_services(settings) as services:
        await _forget_limiter(services)
        yield services
        await _forget_limiter(services)


def _config(services: Services) -> LimiterConfig:
    config = limiter_config(services.settings, JobKind.IMAGE)
    assert config is not None
    return config


async def _forget_limiter(services: Services) -> None:
    await services.limiter.read(_config(services))  # creates the table if needed
    connection = services.settings.storage.connection_string or ""
    async with TableClient.from_connection_string(connection, PACING_TABLE) as table:
        with contextlib.suppress(ResourceNotFoundError):
            await table.delete_entity(LIMITER_PARTITION, _config(services).key)


def _ask(job_id: str, *, deadline: datetime) -> SlotRequest:
    return {"job_id": job_id, "kind": "image", "user": "u", "entry": f"{job_id}:start", "count": 1,
            "waited": False, "deadline": deadline.isoformat()}


async def test_a_waiting_job_gets_a_note_and_leaving_clears_it(paced: Services) -> None:
    jobs = [await paced.jobs.create(make_job(user="u")) for _ in range(4)]
    soon = datetime.now(UTC) + timedelta(seconds=5)
    acquire = pacing_activities.acquire_provider_slots
    granted = [await acquire(paced, _ask(job.id, deadline=soon)) for job in jobs[:3]]
    assert all(answer["granted"] for answer in granted)  # now, and the two slots of the horizon
    waiting = await acquire(paced, _ask(jobs[3].id, deadline=soon))
    assert waiting["granted"] is False
    note = (await paced.jobs.get(jobs[3].id)).waiting
    assert note is not None
    assert (note["reason"], note["position"]) == ("provider_rate_limit", 1)
    assert note["likely_past_deadline"] is True
    assert note == waiting.get("waiting")

    left = await pacing_activities.leave_provider_queue(
        paced, {"job_id": jobs[3].id, "kind": "image", "entries": [f"{jobs[3].id}:start"]}
    )
    assert left == 1
    assert (await paced.jobs.get(jobs[3].id)).waiting is None
    assert not (await paced.limiter.read(_config(paced))).queue


async def test_a_429_reported_by_a_call_pauses_everyone(paced: Services) -> None:
    error = RateLimitedError("OpenAI is rate limiting requests.", retry_after=45)
    await pacing_activities.report_provider_answer(paced, JobKind.IMAGE, error)
    paused_until = (await paced.limiter.read(_config(paced))).paused_until
    assert paused_until >= datetime.now(UTC).timestamp() + 40
    job = await paced.jobs.create(make_job(user="v"))
    later = datetime.now(UTC) + timedelta(hours=1)
    answer = await pacing_activities.acquire_provider_slots(paced, _ask(job.id, deadline=later))
    assert answer["granted"] is True  # within the horizon, but not before the pause ends
    [slot] = answer.get("times", [])
    assert datetime.fromisoformat(slot.replace("Z", "+00:00")).timestamp() >= paused_until - 0.001
