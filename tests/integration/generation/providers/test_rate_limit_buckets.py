"""The fake provider's token buckets with an injected clock: rates, bursts, headers, outages."""

from __future__ import annotations

from generation.providers.errors import parse_duration, parse_retry_after
from testing.fakes.rate_limits import ProviderLimits, duration_text


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_sixty_images_a_minute_admit_one_a_second() -> None:
    clock = Clock()
    limits = ProviderLimits(images_per_minute=60, clock=clock)
    assert limits.admit(images=1).status == 200
    refused = limits.admit(images=1)
    assert refused.status == 429 and refused.limit_name == "images"
    assert refused.headers["retry-after"] == "1" and refused.headers["retry-after-ms"] == "1000"
    clock.now += 0.5
    assert limits.admit(images=1).headers["retry-after-ms"] == "500"
    clock.now += 0.5
    assert limits.admit(images=1).status == 200
    assert (limits.stats.admitted, limits.stats.throttled) == (2, 2)


def test_a_bigger_burst_admits_that_many_at_once_then_paces() -> None:
    clock = Clock()
    limits = ProviderLimits(images_per_minute=600, burst_seconds=1, clock=clock)
    statuses = [limits.admit(images=1).status for _ in range(12)]
    assert statuses == [200] * 10 + [429] * 2


def test_a_call_for_more_images_than_the_burst_runs_into_debt() -> None:
    clock = Clock()
    limits = ProviderLimits(images_per_minute=60, clock=clock)
    assert limits.admit(images=4).status == 200
    refused = limits.admit(images=1)
    assert refused.status == 429 and refused.wait_seconds == 4.0


def test_every_limit_is_checked_and_the_longest_wait_is_named() -> None:
    clock = Clock()
    limits = ProviderLimits(requests_per_minute=120, tokens_per_minute=600, clock=clock)
    assert limits.admit(tokens=10).status == 200
    refused = limits.admit(tokens=10)
    assert refused.limit_name == "tokens"
    assert refused.headers["x-ratelimit-remaining-tokens"] == "0"
    assert refused.headers["x-ratelimit-limit-requests"] == "120"


def test_headers_are_what_the_apps_parser_reads() -> None:
    clock = Clock()
    limits = ProviderLimits(requests_per_minute=60, clock=clock)
    admitted = limits.admit()
    assert admitted.headers["x-ratelimit-remaining-requests"] == "0"
    assert parse_duration(admitted.headers["x-ratelimit-reset-requests"]) == 1.0
    assert parse_retry_after(limits.admit().headers) == 1.0


def test_an_outage_answers_its_status_for_its_length() -> None:
    clock = Clock()
    limits = ProviderLimits(images_per_minute=600, clock=clock)
    limits.start_outage(120)
    assert limits.admit(images=1).status == 503
    clock.now += 119.9
    assert limits.admit(images=1).status == 503
    clock.now += 0.1
    assert limits.admit(images=1).status == 200
    assert limits.stats.outage == 2


def test_durations_use_openais_format() -> None:
    assert [duration_text(s) for s in (0.02, 1, 1.5, 360)] == ["20ms", "1s", "1.5s", "6m0s"]
