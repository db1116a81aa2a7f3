"""The pacing activities against real stores on Azurite: slots, the waiting note, leaving the line,
and 429s reported to the shared limiter."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from generation import activities
from generation.providers.base import RateLimitedError
from jobs.contracts import SlotRequest
from jobs.domain.models import JobKind
from jobs.services import Services
from testing.factories import make_job
from testing.limiter import image_limiter, services_with_fresh_limiter


@pytest.fixture
async def paced(azurite_connection_string: str) -> AsyncIterator[Services]:
    async with services_with_fresh_limiter({
        "GENERATION_STORAGE": azurite_connection_string,
        "GENERATION_PROVIDER": "offline",
        "PROVIDER_IMAGES_PER_MINUTE": "2",  # a slot every 30 s: the second job waits
        "JOBS_QUEUE_KIND": "storage",
    }) as services:
        yield services


def _ask(job_id: str, *, deadline: datetime) -> SlotRequest:
    return {"job_id": job_id, "kind": "image", "user": "u", "entry": f"{job_id}:start", "count": 1,
            "waited": False, "deadline": deadline.isoformat()}


async def test_a_waiting_job_gets_a_note_and_leaving_clears_it(paced: Services) -> None:
    jobs = [await paced.jobs.create(make_job(user="u")) for _ in range(2)]
    soon = datetime.now(UTC) + timedelta(seconds=5)
    acquire = activities.acquire_provider_slots
    granted = await acquire(paced, _ask(jobs[0].id, deadline=soon))
    assert granted["granted"]  # a slot now; the next is past the horizon (one slot, 30 s)
    waiting = await acquire(paced, _ask(jobs[1].id, deadline=soon))
    assert waiting["granted"] is False
    note = (await paced.jobs.get(jobs[1].id)).waiting
    assert note is not None
    assert (note["reason"], note["position"]) == ("provider_rate_limit", 1)
    assert note["likely_past_deadline"] is True
    assert note == waiting.get("waiting")

    left = await activities.leave_provider_queue(
        paced, {"job_id": jobs[1].id, "kind": "image", "entries": [f"{jobs[1].id}:start"]}
    )
    assert left == 1
    assert (await paced.jobs.get(jobs[1].id)).waiting is None
    assert not (await paced.limiter.read(image_limiter(paced))).queue


async def test_a_429_reported_by_a_call_pauses_everyone(paced: Services) -> None:
    error = RateLimitedError("OpenAI is rate limiting requests.", retry_after=25)
    await activities.report_provider_answer(paced, JobKind.IMAGE, error)
    paused_until = (await paced.limiter.read(image_limiter(paced))).paused_until
    assert paused_until >= datetime.now(UTC).timestamp() + 20
    job = await paced.jobs.create(make_job(user="v"))
    later = datetime.now(UTC) + timedelta(hours=1)
    answer = await activities.acquire_provider_slots(paced, _ask(job.id, deadline=later))
    assert answer["granted"] is True  # within the horizon, but not before the pause ends
    [slot] = answer.get("times", [])
    assert datetime.fromisoformat(slot.replace("Z", "+00:00")).timestamp() >= paused_until - 0.001
