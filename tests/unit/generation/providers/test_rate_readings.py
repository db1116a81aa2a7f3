"""What a successful answer's x-ratelimit-* headers tell the limiter: the budgets, whether they drain
at the calls' pace, and that each activity only sees the readings of its own calls."""

from __future__ import annotations

import asyncio

import pytest

from generation.activities import call_costs
from generation.providers import (
    RateReading,
    observing,
    pressure,
    reading_from_headers,
    record,
)
from jobs.domain.models import JobKind

IMAGE = call_costs(JobKind.IMAGE)


def _headers(*, limit: int, left: int, reset: str, name: str = "images") -> dict[str, str]:
    return {f"x-ratelimit-limit-{name}": str(limit), f"x-ratelimit-remaining-{name}": str(left),
            f"X-RateLimit-Reset-{name.title()}": reset}


def test_a_reading_has_every_budget_the_headers_name() -> None:
    headers = {**_headers(limit=60, left=9, reset="1s"), **_headers(limit=500, left=499, reset="120ms",
                                                                     name="requests")}
    reading = reading_from_headers(headers)
    assert reading == RateReading(limits={"requests": 500, "images": 60},
                                  remaining={"requests": 499, "images": 9},
                                  resets={"requests": pytest.approx(0.12), "images": 1.0})
    assert reading_from_headers({"content-type": "application/json"}) is None


def test_one_call_missing_at_the_limits_pace_is_no_pressure() -> None:
    # A strict provider (one image a second, no burst): every call leaves the budget empty for a second.
    reading = reading_from_headers(_headers(limit=60, left=0, reset="1s"))
    assert reading is not None
    assert pressure(reading, IMAGE).draining is False


def test_a_budget_taken_faster_than_it_refills_drains_and_pauses_when_empty() -> None:
    # 10 s of burst at 60 a minute: 6 of 10 images missing and 4 left: the calls outpace the refill.
    draining = reading_from_headers(_headers(limit=60, left=4, reset="6s"))
    assert draining is not None
    assert pressure(draining, IMAGE).draining is True
    assert pressure(draining, IMAGE).pause is None
    empty = reading_from_headers(_headers(limit=60, left=0, reset="10s"))
    assert empty is not None
    assert pressure(empty, IMAGE).draining is True
    assert pressure(empty, IMAGE).pause == pytest.approx(1.0)
    full_enough = reading_from_headers(_headers(limit=60, left=8, reset="2s"))
    assert full_enough is not None
    assert pressure(full_enough, IMAGE).draining is False


def test_tokens_count_in_calls_of_the_kind() -> None:
    # 30,000 tokens a minute, a text call counted as 1,000: 3,000 left of 9,000 missing drains.
    reading = reading_from_headers(_headers(limit=30000, left=3000, reset="18s", name="tokens"))
    assert reading is not None
    assert pressure(reading, call_costs(JobKind.TEXT)).draining is True
    assert pressure(reading, IMAGE).draining is False  # image calls take no tokens


async def test_each_task_sees_only_the_readings_of_its_own_calls() -> None:
    async def call(left: int) -> list[RateReading]:
        with observing() as readings:
            await asyncio.sleep(0)
            record(_headers(limit=60, left=left, reset="1s"))
            await asyncio.sleep(0)
        return readings

    first, second = await asyncio.gather(call(1), call(2))
    record(_headers(limit=60, left=3, reset="1s"))  # outside any block: kept nowhere
    assert [r.remaining["images"] for r in first] == [1]
    assert [r.remaining["images"] for r in second] == [2]
