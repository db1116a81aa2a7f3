from __future__ import annotations

from generation.retry_policy import MAX_ATTEMPTS, MAX_DELAY_SECONDS, may_retry, retry_delay


def test_backoff_doubles() -> None:
    assert [retry_delay(attempt, None) for attempt in range(3)] == [2.0, 4.0, 8.0]


def test_provider_retry_after_is_honoured_when_longer() -> None:
    assert retry_delay(0, 30.0) == 30.0
    assert retry_delay(2, 1.0) == 8.0


def test_delay_is_capped() -> None:
    assert retry_delay(20, None) == MAX_DELAY_SECONDS
    assert retry_delay(0, 10_000.0) == MAX_DELAY_SECONDS


def test_attempts_are_limited() -> None:
    assert [may_retry(attempt) for attempt in range(MAX_ATTEMPTS)] == [True] * (MAX_ATTEMPTS - 1) + [False]
