"""The pacing activities against real stores on Azurite: slots, the waiting note, leaving the line,
and 429s reported to the shared limiter."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from azure.core.exceptions import ResourceNotFoundError

from generation import pacing_activities
from generation.providers.base import RateLimitedError
from jobs.clients import Stores, close_stores, stores
from jobs.config.pacing import LimiterConfig, limiter_config
from jobs.config.settings import get_settings, reset_settings
from jobs.domain.models import JobKind
from jobs.names import PACING_TABLE
from jobs.tables.limiter import LIMITER_PARTITION
from tests.factories import make_job


@pytest.fixture
async def paced(monkeypatch: pytest.MonkeyPatch, azurite_connection_string: str) -> AsyncIterator[Stores]:
    monkeypatch.setenv("GENERATION_STORAGE", azurite_connection_string)
    monkeypatch.setenv("GENERATION_PROVIDER", "offline")
    monkeypatch.setenv("PROVIDER_IMAGES_PER_MINUTE", "2")  # a slot every 30 s: the second job waits
    reset_settings()
    bundle = stores()
    await _forget_limiter(bundle)
    yield bundle
    await _forget_limiter(bundle)
    await close_stores()
    reset_settings()


def _config() -> LimiterConfig:
    config = limiter_config(get_settings(), JobKind.IMAGE)
    assert config is not None
    return config


async def _forget_limiter(bundle: Stores) -> None:
    await bundle.limiter.read(_config())  # creates the table if needed
    table = bundle.jobs._service.get_table_client(PACING_TABLE)
    with contextlib.suppress(ResourceNotFoundError):
        await table.delete_entity(LIMITER_PARTITION, _config().key)


def _ask(job_id: str, *, deadline: datetime) -> dict[str, object]:
    return {"job_id": job_id, "kind": "image", "user": "u", "entry": f"{job_id}:start", "count": 1,
            "waited": False, "deadline": deadline.isoformat()}


async def test_a_waiting_job_gets_a_note_and_leaving_clears_it(paced: Stores) -> None:
    jobs = [await paced.jobs.create(make_job(user="u")) for _ in range(4)]
    soon = datetime.now(UTC) + timedelta(seconds=5)
    granted = [await pacing_activities.acquire_provider_slots(_ask(j.id, deadline=soon)) for j in jobs[:3]]
    assert all(answer["granted"] for answer in granted)  # now, and the two slots of the horizon
    waiting = await pacing_activities.acquire_provider_slots(_ask(jobs[3].id, deadline=soon))
    assert waiting["granted"] is False
    note = (await paced.jobs.get(jobs[3].id)).waiting
    assert note is not None
    assert (note["reason"], note["position"]) == ("provider_rate_limit", 1)
    assert note["likely_past_deadline"] is True
    assert note["estimated_start_at"] == waiting["estimated_start_at"]

    await pacing_activities.leave_provider_queue(
        {"job_id": jobs[3].id, "kind": "image", "entries": [f"{jobs[3].id}:start"]}
    )
    assert (await paced.jobs.get(jobs[3].id)).waiting is None
    assert not (await paced.limiter.read(_config())).queue


async def test_a_429_reported_by_a_call_pauses_everyone(paced: Stores) -> None:
    error = RateLimitedError("OpenAI is rate limiting requests.", retry_after=45)
    await pacing_activities.report_provider_answer(JobKind.IMAGE, error)
    paused_until = (await paced.limiter.read(_config())).paused_until
    assert paused_until >= datetime.now(UTC).timestamp() + 40
    job = await paced.jobs.create(make_job(user="v"))
    later = datetime.now(UTC) + timedelta(hours=1)
    answer = await pacing_activities.acquire_provider_slots(_ask(job.id, deadline=later))
    assert answer["granted"] is True  # within the horizon, but not before the pause ends
    [slot] = answer["times"]
    assert isinstance(slot, str)
    assert datetime.fromisoformat(slot.replace("Z", "+00:00")).timestamp() >= paused_until - 0.001
