"""Which provider limiter a job's calls go through, from the settings (`jobs.tables.limiter` keeps
its state; `jobs.domain.limiter_rules` decides)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from jobs.config.settings import Settings
from jobs.domain import limiter_rules as rules
from jobs.domain.models import JobKind

# A text call's share of PROVIDER_TOKENS_PER_MINUTE (prompt and answer), for pacing by requests.
TOKENS_PER_TEXT_CALL = 1000
LEARNING_PROVIDERS = ("openai", "azure_openai")
MIN_HORIZON_SECONDS = 0.5


@dataclass(frozen=True)
class LimiterConfig:
    """One limiter: which record, its configured rate (None: learn it) and its grant horizon."""

    key: str  # e.g. "openai-image"
    configured: float | None
    learn: bool

    def horizon(self, state: rules.LimiterState) -> float:
        """Firm grants reach this far ahead: one slot, and at least half a second (the owner asks
        again half a horizon before its turn; that ask and its timer must land before the slot).
        Every slot granted ahead is one a newcomer of another user waits behind."""
        return max(MIN_HORIZON_SECONDS, 60.0 / rules.per_minute(state, self.configured))


def limiter_config(settings: Settings, kind: JobKind) -> LimiterConfig | None:
    """The limiter for `kind` on the configured provider; None when calls are not paced (the offline
    provider without limits)."""
    rates: list[float] = []
    if settings.provider_requests_per_minute is not None:
        rates.append(settings.provider_requests_per_minute)
    if kind is JobKind.IMAGE and settings.provider_images_per_minute is not None:
        rates.append(settings.provider_images_per_minute)
    if kind is JobKind.TEXT and settings.provider_tokens_per_minute is not None:
        rates.append(settings.provider_tokens_per_minute / TOKENS_PER_TEXT_CALL)
    configured = min(rates) if rates else None
    learn = configured is None and settings.provider in LEARNING_PROVIDERS
    if configured is None and not learn:
        return None
    return LimiterConfig(key=_limiter_key(settings, kind), configured=configured, learn=learn)


def _limiter_key(settings: Settings, kind: JobKind) -> str:
    """Limits belong to an account's model (OpenAI) or a deployment (Azure OpenAI): one record each."""
    if settings.provider == "azure_openai":
        target = settings.azure_openai_image_deployment if kind is JobKind.IMAGE else (
            settings.azure_openai_text_deployment)
        where = f"{settings.azure_openai_endpoint}|{target}"
    elif settings.provider == "openai":
        model = settings.openai_image_model if kind is JobKind.IMAGE else settings.openai_text_model
        where = f"{settings.openai_base_url or 'api.openai.com'}|{model}"
    else:
        where = settings.provider
    digest = hashlib.sha256(where.encode()).hexdigest()[:16]
    return f"{settings.provider}-{kind.value}-{digest}"


def pacing_enabled(settings: Settings) -> bool:
    return any(limiter_config(settings, kind) is not None for kind in JobKind)
