"""The shared limiter on real Azurite: concurrent askers (as from many instances) get distinct,
evenly spaced slots; asking again returns the same slots; leaving and 429s are shared by everyone."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import AsyncIterator

import pytest
from azure.core.exceptions import ResourceNotFoundError
from azure.data.tables.aio import TableServiceClient

from jobs.config.settings import load_settings
from jobs.domain.limiter_rules import CONFIGURED_SHARE, GRANT_LEAD_SECONDS, Granted, LimiterConfig, Waiting
from jobs.domain.models import JobKind
from jobs.tables.limiter import SlotLimiter

CONFIG = LimiterConfig(key="test-image", configured=600, learn=False)
SLOT = 60 / (600 * CONFIGURED_SHARE)  # about 0.1 s: the configured rate less the spacing margin


class Clock:
    def __init__(self) -> None:
        self.now = 2_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def limiter(table_service: TableServiceClient, unique_name: str) -> AsyncIterator[SlotLimiter]:
    yield SlotLimiter(table_service, table=f"{unique_name}pacing", clock=Clock())
    with contextlib.suppress(ResourceNotFoundError):
        await table_service.delete_table(f"{unique_name}pacing")


async def test_concurrent_askers_get_distinct_slots_one_interval_apart(limiter: SlotLimiter) -> None:
    answers = await asyncio.gather(
        *(limiter.acquire(CONFIG, entry_id=f"e{i}", user=f"u{i % 4}", cost=1) for i in range(20))
    )
    granted = sorted(t for answer in answers if isinstance(answer, Granted) for t in answer.times)
    waiting = [answer for answer in answers if isinstance(answer, Waiting)]
    assert len(granted) + len(waiting) == 20
    # The horizon (0.5 s) grants three, the rest wait their turn. The first slot is "now", so the
    # second keeps an interval from when that call will really start (the grant lead).
    assert len(granted) == 3
    gaps = [round(b - a, 6) for a, b in itertools.pairwise(granted)]
    assert gaps == [round(GRANT_LEAD_SECONDS + SLOT, 6), round(SLOT, 6)]
    # Positions are each asker's place at the moment it asked (later users may take turns ahead).
    assert all(1 <= w.position <= 17 for w in waiting)


async def test_asking_again_after_a_crash_returns_the_same_slots(limiter: SlotLimiter) -> None:
    first = await limiter.acquire(CONFIG, entry_id="job:start", user="u", cost=3)
    again = await limiter.acquire(CONFIG, entry_id="job:start", user="u", cost=3)
    assert isinstance(first, Granted) and again == first
    state = await limiter.read(CONFIG)
    assert state.tat == pytest.approx(first.times[-1] + SLOT)


async def test_a_429_makes_everyone_wait_and_leaving_moves_the_line(limiter: SlotLimiter) -> None:
    await limiter.throttled(CONFIG, retry_after=30)
    first = await limiter.acquire(CONFIG, entry_id="a", user="u", cost=1)
    second = await limiter.acquire(CONFIG, entry_id="b", user="v", cost=1)
    assert isinstance(first, Waiting) and isinstance(second, Waiting)
    assert first.estimate == pytest.approx(2_000_030.0)
    await limiter.leave(CONFIG, {"a"})
    moved = await limiter.acquire(CONFIG, entry_id="b", user="v", cost=1)
    assert isinstance(moved, Waiting) and moved.position == 1


def test_limits_come_from_settings_and_each_model_has_its_own_record() -> None:
    base = {"GENERATION_STORAGE": "UseDevelopmentStorage=true"}
    assert load_settings(base).limiters.get(JobKind.IMAGE) is None  # offline, no limits
    settings = load_settings({**base, "PROVIDER_IMAGES_PER_MINUTE": "60",
                              "PROVIDER_REQUESTS_PER_MINUTE": "50", "PROVIDER_TOKENS_PER_MINUTE": "30000"})
    image, text = settings.limiters.get(JobKind.IMAGE), settings.limiters.get(JobKind.TEXT)
    assert image is not None and (image.configured, image.learn) == (50, False)
    assert text is not None and text.configured == 30
    learning = load_settings({**base, "GENERATION_PROVIDER": "openai"}).limiters.get(JobKind.IMAGE)
    dalle = {**base, "GENERATION_PROVIDER": "openai", "OPENAI_IMAGE_MODEL": "dall-e-3"}
    other = load_settings(dalle).limiters.get(JobKind.IMAGE)
    assert learning is not None and learning.learn and learning.configured is None
    assert other is not None and other.key != learning.key
