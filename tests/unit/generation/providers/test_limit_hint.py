"""What a 429's x-ratelimit-limit-* headers tell the limiter, per kind of call."""

from __future__ import annotations

import httpx2
import openai

from generation.activities import limit_hint
from generation.providers.base import RateLimitedError
from generation.providers.errors import SettingsHint, translate
from jobs.domain.models import JobKind

HINT = SettingsHint(label="OpenAI", credential="OPENAI_API_KEY", target_setting="OPENAI_IMAGE_MODEL",
                    target="gpt-image-1")


def _throttle(headers: dict[str, str]) -> RateLimitedError:
    request = httpx2.Request("POST", "https://api.openai.com/v1/images/generations")
    body = {"error": {"message": "Rate limit reached", "code": "rate_limit_exceeded"}}
    response = httpx2.Response(429, headers=headers, request=request, json=body)
    error = translate(openai.RateLimitError("Rate limit reached", response=response, body=None),
                      hint=HINT)
    assert isinstance(error, RateLimitedError)
    return error


def test_the_tightest_named_limit_for_the_kind_wins() -> None:
    error = _throttle({"retry-after": "2", "x-ratelimit-limit-images": "60",
                       "x-ratelimit-limit-requests": "500", "x-ratelimit-limit-tokens": "30000"})
    assert error.retry_after == 2
    assert limit_hint(JobKind.IMAGE, error.limits) == 60
    assert limit_hint(JobKind.TEXT, error.limits) == 30


def test_no_limit_headers_no_hint() -> None:
    assert limit_hint(JobKind.IMAGE, _throttle({}).limits) is None
