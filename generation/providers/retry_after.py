"""Reading a provider's "come back later" hint from response headers."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

# OpenAI writes resets as Go durations: "1s", "6m0s", "20ms", "1h2m3.5s".
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|h|m|s)")
_UNIT_SECONDS = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}


def parse_retry_after(headers: Mapping[str, str], *, now: datetime | None = None) -> float | None:
    """Seconds to wait, from `retry-after-ms`, `retry-after` (seconds or HTTP date) or the
    `x-ratelimit-reset-*` header of an exhausted limit; None when the provider gave no hint."""
    lowered = {key.lower(): value.strip() for key, value in headers.items()}
    millis = _number(lowered.get("retry-after-ms"))
    if millis is not None:
        return millis / 1000.0
    retry_after = lowered.get("retry-after")
    if retry_after:
        seconds = _number(retry_after)
        if seconds is None:
            seconds = _seconds_until(retry_after, now=now or datetime.now(UTC))
        if seconds is not None:
            return seconds
    return _exhausted_limit_reset(lowered)


def parse_rate_limits(headers: Mapping[str, str]) -> dict[str, float]:
    """The per-minute limits named by `x-ratelimit-limit-requests`, `-tokens` and `-images`."""
    lowered = {key.lower(): value for key, value in headers.items()}
    limits: dict[str, float] = {}
    for name in ("requests", "tokens", "images"):
        value = _number(lowered.get(f"x-ratelimit-limit-{name}"))
        if value:
            limits[name] = value
    return limits


def parse_duration(text: str) -> float | None:
    """Seconds in a Go-style duration ("6m0s", "20ms", "1.5s"); None if it is not one."""
    text = text.strip()
    parts = _DURATION_PART.findall(text)
    if not parts or "".join(number + unit for number, unit in parts) != text:
        return _number(text)
    return sum(float(number) * _UNIT_SECONDS[unit] for number, unit in parts)


def _exhausted_limit_reset(headers: Mapping[str, str]) -> float | None:
    waits = [
        parse_duration(headers.get(f"x-ratelimit-reset-{limit}", ""))
        for limit in ("requests", "tokens")
        if headers.get(f"x-ratelimit-remaining-{limit}") == "0"
    ]
    known = [wait for wait in waits if wait is not None]
    return max(known) if known else None


def _number(text: str | None) -> float | None:
    if not text:
        return None
    try:
        value = float(text)
    except ValueError:
        return None
    if not math.isfinite(value):
        return None
    return max(value, 0.0)


def _seconds_until(http_date: str, *, now: datetime) -> float | None:
    try:
        when = parsedate_to_datetime(http_date)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max((when - now).total_seconds(), 0.0)
