"""Quota decisions: limits, the UTC day boundary (injected clock), releases and give-backs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from jobs.domain.errors import QuotaExceededError
from jobs.tables.quotas import (
    IN_FLIGHT_RETRY_AFTER_SECONDS,
    QUOTA_IMAGES_PER_DAY,
    QUOTA_JOBS_IN_FLIGHT,
    QuotaLimits,
    QuotaState,
    give_back,
    is_orphan,
    release,
    reserve,
    seconds_to_next_day,
)

NOON = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def test_in_flight_limit_refuses_the_next_job_and_names_the_quota() -> None:
    limits = QuotaLimits(jobs_in_flight=2)
    state = reserve(QuotaState(), job_id="a", images=1, now=NOON, limits=limits)
    state = reserve(state, job_id="b", images=1, now=NOON, limits=limits)
    with pytest.raises(QuotaExceededError) as refused:
        reserve(state, job_id="c", images=1, now=NOON, limits=limits)
    assert refused.value.quota == QUOTA_JOBS_IN_FLIGHT
    assert refused.value.retry_after == IN_FLIGHT_RETRY_AFTER_SECONDS
    assert QUOTA_JOBS_IN_FLIGHT in str(refused.value)


def test_reserving_the_same_job_twice_takes_one_slot() -> None:
    limits = QuotaLimits(jobs_in_flight=1, images_per_day=4)
    state = reserve(QuotaState(), job_id="a", images=4, now=NOON, limits=limits)
    assert reserve(state, job_id="a", images=4, now=NOON, limits=limits) == state


def test_release_frees_the_slot_but_keeps_the_days_images() -> None:
    limits = QuotaLimits(jobs_in_flight=1, images_per_day=10)
    state = reserve(QuotaState(), job_id="a", images=3, now=NOON, limits=limits)
    released = release(state, "a")
    assert released is not None and not released.in_flight
    assert released.day_images == 3
    assert release(released, "a") is None  # a second release writes nothing


def test_daily_images_refuse_a_job_that_would_pass_the_limit() -> None:
    limits = QuotaLimits(images_per_day=5)
    state = reserve(QuotaState(), job_id="a", images=4, now=NOON, limits=limits)
    with pytest.raises(QuotaExceededError) as refused:
        reserve(state, job_id="b", images=2, now=NOON, limits=limits)
    assert refused.value.quota == QUOTA_IMAGES_PER_DAY
    assert refused.value.retry_after == 12 * 3600
    assert reserve(state, job_id="c", images=1, now=NOON, limits=limits).day_images == 5


def test_daily_images_reset_at_the_utc_day_boundary() -> None:
    limits = QuotaLimits(images_per_day=4)
    before_midnight = datetime(2026, 3, 1, 23, 59, 59, tzinfo=UTC)
    state = reserve(QuotaState(), job_id="a", images=4, now=before_midnight, limits=limits)
    with pytest.raises(QuotaExceededError) as refused:
        reserve(state, job_id="b", images=1, now=before_midnight, limits=limits)
    assert refused.value.retry_after == 1
    after_midnight = before_midnight + timedelta(seconds=1)
    state = reserve(state, job_id="b", images=4, now=after_midnight, limits=limits)
    assert (state.day, state.day_images) == ("2026-03-02", 4)


def test_the_day_is_the_utc_day_whatever_the_clocks_zone() -> None:
    tokyo = datetime(2026, 3, 2, 8, 0, tzinfo=UTC).astimezone(ZoneInfo("Asia/Tokyo"))
    state = reserve(QuotaState(), job_id="a", images=1, now=tokyo, limits=QuotaLimits(images_per_day=9))
    assert state.day == "2026-03-02"
    assert seconds_to_next_day(tokyo) == 16 * 3600


def test_give_back_undoes_slot_and_images_of_the_same_day_only() -> None:
    limits = QuotaLimits(jobs_in_flight=3, images_per_day=10)
    state = reserve(QuotaState(), job_id="a", images=3, now=NOON, limits=limits)
    undone = give_back(state, job_id="a", images=3, day="2026-03-01")
    assert undone == QuotaState(in_flight={}, day="2026-03-01", day_images=0)
    next_day = give_back(state, job_id="a", images=3, day="2026-02-28")
    assert next_day is not None and next_day.day_images == 3
    assert give_back(undone, job_id="a", images=3, day="2026-03-01") is None


def test_a_missing_row_is_an_orphan_only_after_an_accept_would_have_written_it() -> None:
    state = QuotaState(in_flight={"a": NOON})
    assert not is_orphan(state, "a", now=NOON + timedelta(seconds=5))
    assert is_orphan(state, "a", now=NOON + timedelta(minutes=2))
    assert not is_orphan(state, "unknown", now=NOON + timedelta(minutes=2))
