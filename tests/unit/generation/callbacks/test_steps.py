"""The callback retry schedule: capped exponential back-off spanning about an hour."""

from __future__ import annotations

import itertools

from generation.callbacks.steps import MAX_DELAY_SECONDS, RETRY_DELAYS, retry_delays


def test_delays_double_then_stay_at_the_cap() -> None:
    assert RETRY_DELAYS[:4] == (5, 10, 20, 40)
    assert max(RETRY_DELAYS) == MAX_DELAY_SECONDS
    assert all(later >= earlier for earlier, later in itertools.pairwise(RETRY_DELAYS))


def test_the_retries_span_about_an_hour() -> None:
    assert 3600 <= sum(RETRY_DELAYS) < 3600 + MAX_DELAY_SECONDS


def test_the_schedule_follows_its_parameters() -> None:
    assert retry_delays(first=1, cap=4, window=10) == (1, 2, 4, 4)
