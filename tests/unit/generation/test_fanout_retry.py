from __future__ import annotations

from datetime import UTC, datetime, timedelta

from generation.fanout import (
    BASE_DELAY_SECONDS,
    MAX_DELAY_SECONDS,
    backoff_seconds,
    jitter_fraction,
    next_attempt_at,
)

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def test_backoff_grows_exponentially_within_its_jitter_band() -> None:
    for attempt in range(5):
        ceiling = BASE_DELAY_SECONDS * 2**attempt
        delay = backoff_seconds(attempt, seed="job:0")
        assert ceiling / 2 <= delay < ceiling, (attempt, delay)


def test_backoff_is_capped() -> None:
    delays = [backoff_seconds(attempt, seed="job:0") for attempt in range(6, 200)]
    assert all(MAX_DELAY_SECONDS / 2 <= delay < MAX_DELAY_SECONDS for delay in delays)


def test_jitter_is_deterministic_and_spreads_parallel_retries() -> None:
    assert backoff_seconds(3, seed="job:0") == backoff_seconds(3, seed="job:0")
    spread = {round(backoff_seconds(3, seed=f"job:{index}"), 6) for index in range(20)}
    assert len(spread) == 20, "different outputs of a job retry at different moments"
    fractions = [jitter_fraction(f"seed-{n}", 1) for n in range(2000)]
    assert all(0 <= value < 1 for value in fractions)
    assert 0.45 < sum(fractions) / len(fractions) < 0.55


def test_never_sooner_than_the_provider_asked_even_past_the_cap() -> None:
    assert backoff_seconds(0, seed="s", retry_after=12.5) == 12.5
    assert backoff_seconds(0, seed="s", retry_after=300.0) == 300.0
    assert backoff_seconds(4, seed="s", retry_after=0.1) == backoff_seconds(4, seed="s")


def test_no_attempt_is_planned_past_the_deadline() -> None:
    until = NOW + timedelta(seconds=10)
    when = next_attempt_at(NOW, 0, seed="s", until=until)
    assert when is not None and NOW < when < until
    assert next_attempt_at(NOW, 0, seed="s", until=until, retry_after=11.0) is None
    assert next_attempt_at(NOW, 10, seed="s", until=until) is None
