"""How long to wait before another attempt at a transient provider failure (pure, deterministic)."""

from __future__ import annotations

MAX_ATTEMPTS = 4
BASE_DELAY_SECONDS = 2.0
MAX_DELAY_SECONDS = 120.0


def retry_delay(attempt: int, retry_after: float | None) -> float:
    """Seconds before attempt `attempt + 1`: exponential back-off, never sooner than the provider asked."""
    backoff = BASE_DELAY_SECONDS * float(2**attempt)
    wanted = max(backoff, retry_after or 0.0)
    return min(wanted, MAX_DELAY_SECONDS)


def may_retry(attempt: int) -> bool:
    """Whether a transient failure on attempt `attempt` (0-based) gets another try."""
    return attempt + 1 < MAX_ATTEMPTS
