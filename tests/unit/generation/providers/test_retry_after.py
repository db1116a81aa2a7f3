"""Reading how long a provider asks us to wait."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx2
import pytest

from generation.providers.errors import parse_duration, parse_rate_limits, parse_retry_after

NOW = datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"retry-after": "1"}, 1.0),
        ({"Retry-After": "2.5"}, 2.5),
        ({"retry-after-ms": "1500"}, 1.5),
        ({"retry-after-ms": "20", "retry-after": "7"}, 0.02),
        ({"retry-after-ms": "soon", "retry-after": "7"}, 7.0),
        ({"retry-after": "Thu, 02 Jan 2025 03:04:35 GMT"}, 30.0),
        ({"retry-after": "Thu, 02 Jan 2025 03:00:00 GMT"}, 0.0),
        ({"retry-after": "-3"}, 0.0),
        ({"retry-after": "whenever"}, None),
        ({"retry-after": "nan"}, None),
        ({}, None),
    ],
)
def test_retry_after_headers(headers: dict[str, str], expected: float | None) -> None:
    assert parse_retry_after(headers, now=NOW) == expected


def test_an_exhausted_openai_limit_says_when_it_resets() -> None:
    headers = {
        "x-ratelimit-remaining-requests": "0",
        "x-ratelimit-reset-requests": "6m0s",
        "x-ratelimit-remaining-tokens": "1200",
        "x-ratelimit-reset-tokens": "20ms",
    }
    assert parse_retry_after(headers) == 360.0


def test_limits_that_are_not_exhausted_give_no_hint() -> None:
    headers = {"x-ratelimit-remaining-requests": "5", "x-ratelimit-reset-requests": "1s"}
    assert parse_retry_after(headers) is None


def test_httpx_headers_are_read_case_insensitively() -> None:
    assert parse_retry_after(httpx2.Headers({"Retry-After-Ms": "300"})) == 0.3


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("1s", 1.0), ("6m0s", 360.0), ("20ms", 0.02), ("1h2m3.5s", 3723.5), ("2.5", 2.5), ("later", None)],
)
def test_go_durations(text: str, seconds: float | None) -> None:
    assert parse_duration(text) == seconds


def test_rate_limits_are_read_from_the_limit_headers() -> None:
    headers = {"X-RateLimit-Limit-Requests": "500", "x-ratelimit-limit-images": "60",
               "x-ratelimit-limit-tokens": "", "x-ratelimit-remaining-images": "0"}
    assert parse_rate_limits(headers) == {"requests": 500.0, "images": 60.0}
    assert parse_rate_limits({}) == {}
