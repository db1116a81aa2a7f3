"""What a provider's answers say about its rate limits, for the shared limiter to learn from.

Every answer of OpenAI and Azure OpenAI, successes included, carries `x-ratelimit-limit-*`,
`-remaining-*` and `-reset-*` headers. The SDK's parsed results drop them, so the calls ask for the
raw response (`with_raw_response`) and `record` its headers; the activity that made the call reads
them back inside `observing()`. The readings travel in a context variable: each activity runs in its
own task, so it only ever sees the answers to its own calls.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

from generation.providers.errors import parse_duration, parse_rate_limits

BUDGETS = ("requests", "tokens", "images")


@dataclass(frozen=True)
class RateReading:
    """One answer's view of the provider's budgets, by name ("requests", "tokens", "images")."""

    limits: dict[str, float]  # per minute
    remaining: dict[str, float]  # left right now
    resets: dict[str, float]  # seconds until that budget is full again


_readings: ContextVar[list[RateReading] | None] = ContextVar("rate_readings", default=None)


def reading_from_headers(headers: Mapping[str, str]) -> RateReading | None:
    """The budgets the headers name; None when they name none (a provider that sends no headers)."""
    lowered = {key.lower(): value for key, value in headers.items()}
    limits = parse_rate_limits(lowered)
    if not limits:
        return None
    remaining: dict[str, float] = {}
    resets: dict[str, float] = {}
    for name in BUDGETS:
        left = _number(lowered.get(f"x-ratelimit-remaining-{name}"))
        if left is not None:
            remaining[name] = left
        reset_text = lowered.get(f"x-ratelimit-reset-{name}")
        reset = parse_duration(reset_text) if reset_text else None
        if reset is not None:
            resets[name] = reset
    return RateReading(limits, remaining, resets)


def record(headers: Mapping[str, str]) -> None:
    """Keep an answer's reading for the `observing()` block around the call (if there is one)."""
    readings = _readings.get()
    if readings is None:
        return
    reading = reading_from_headers(headers)
    if reading is not None:
        readings.append(reading)


@contextmanager
def observing() -> Iterator[list[RateReading]]:
    """The readings of the provider answers received inside the block, oldest first."""
    readings: list[RateReading] = []
    token = _readings.set(readings)
    try:
        yield readings
    finally:
        _readings.reset(token)


def _number(text: str | None) -> float | None:
    try:
        return max(0.0, float(text)) if text else None
    except ValueError:
        return None


# A budget is draining when more than this many calls' worth is missing from it and less is left
# than is missing: calls are taking it faster than it refills, and a 429 is coming.
DRAIN_MISSING_CALLS = 2.0


@dataclass(frozen=True)
class Pressure:
    """What a reading means for the pace of calls that each take `costs` of the budgets."""

    draining: bool
    pause: float | None  # seconds until one call's worth is back, when less than that is left


def pressure(reading: RateReading, costs: Mapping[str, float]) -> Pressure:
    """Whether the budgets drain at the calls' pace (in steady state at the limit, a call leaves
    about one call's worth missing, which refills before the next), and how long to pause when
    a draining budget cannot pay for the next call."""
    draining, pause = False, None
    for name, cost in costs.items():
        limit, left, reset = reading.limits.get(name), reading.remaining.get(name), reading.resets.get(name)
        if not limit or left is None or reset is None:
            continue
        refill = 60.0 / limit  # seconds per unit
        missing = reset / refill / cost
        if missing >= DRAIN_MISSING_CALLS and left / cost < missing:
            draining = True
            if left < cost:
                pause = max(pause or 0.0, (cost - left) * refill)
    return Pressure(draining, pause)
