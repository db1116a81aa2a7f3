"""A learning limiter (no limit configured) takes in the x-ratelimit-* headers of successful answers:
the real openai SDK against the fake provider, the generate_output activity, the limiter's record on
Azurite. It slows to the provider's limit, and below it while the budget drains, before any 429."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import pytest

from generation import activities
from jobs.domain.limiter_rules import CONFIGURED_SHARE, DRAIN_FACTOR, INITIAL_PER_MINUTE, per_minute
from jobs.services import Services
from testing.factories import make_job
from testing.fakes.openai_server import FakeOpenAI
from testing.limiter import image_limiter, services_with_fresh_limiter


@pytest.fixture
async def learning(azurite_connection_string: str, fake_openai: FakeOpenAI) -> AsyncIterator[Services]:
    async with services_with_fresh_limiter({
        "GENERATION_STORAGE": azurite_connection_string,
        "GENERATION_PROVIDER": "openai",  # no PROVIDER_*_PER_MINUTE: the limiter learns
        "OPENAI_API_KEY": fake_openai.api_key,
        "OPENAI_BASE_URL": fake_openai.base_url,
        "JOBS_QUEUE_KIND": "storage",
    }) as services:
        assert image_limiter(services).learn
        yield services


async def test_successes_slow_a_learning_limiter_before_the_first_429(
    learning: Services, fake_openai: FakeOpenAI
) -> None:
    # 20 images a minute with 10 s of burst: three calls at once leave the budget draining.
    limits = fake_openai.limit_rates(images_per_minute=20, burst_seconds=10)
    job = await learning.jobs.create(make_job(n=3, user="u"))
    await learning.jobs.mark_running(job.id)

    first = await activities.generate_output(learning, job.id, 0)
    state = await learning.limiter.read(image_limiter(learning))
    assert first["status"] == "succeeded"
    assert INITIAL_PER_MINUTE > 20
    assert per_minute(state, None) == pytest.approx(20 * CONFIGURED_SHARE)

    for index in (1, 2):
        assert (await activities.generate_output(learning, job.id, index))["status"] == "succeeded"
    state = await learning.limiter.read(image_limiter(learning))
    assert per_minute(state, None) == pytest.approx(20 * CONFIGURED_SHARE * DRAIN_FACTOR)
    assert state.paused_until > time.time()  # the budget is empty: everyone waits for the next image
    assert (limits.stats.admitted, limits.stats.throttled) == (3, 0)
