"""Generation providers (offline, OpenAI, Azure OpenAI) behind one small interface (`base`), built
here, and what their answers say about rate limits, for the shared limiter to learn from.

Every answer of OpenAI and Azure OpenAI, successes included, carries `x-ratelimit-limit-*`,
`-remaining-*` and `-reset-*` headers. The SDK's parsed results drop them, so the calls ask for the
raw response (`with_raw_response`) and `record` its headers; the activity that made the call reads
them back inside `observing()`. The readings travel in a context variable: each activity runs in its
own task, so it only ever sees the answers to its own calls.
"""

from __future__ import annotations

import asyncio
import importlib
import sys
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeAlias

from generation.providers.base import Provider, ProviderConfigError
from generation.providers.errors import parse_duration, parse_rate_limits
from generation.providers.offline import OfflineProvider
from jobs.config.settings import Settings, load_settings
from jobs.domain.errors import SettingsError
from jobs.services import Services

if TYPE_CHECKING:
    from generation.providers.azure_provider import AzureOpenAIProvider
    from generation.providers.openai_provider import OpenAIProvider

# The OpenAI SDK takes seconds to import; a host that runs offline (or only the LINE webhook)
# should not pay for it at start-up, so the SDK-backed providers are imported on first use.
AnyProvider: TypeAlias = "OfflineProvider | OpenAIProvider | AzureOpenAIProvider"
# The module of each SDK-backed provider (GENERATION_PROVIDER -> module).
SDK_MODULES = {
    "openai": "generation.providers.openai_provider",
    "azure_openai": "generation.providers.azure_provider",
}


def warm_up() -> None:
    """Start importing the configured provider's SDK in a background thread, so that the first call
    of a freshly started host does not wait seconds for it (and miss its provider slot)."""
    try:
        provider = load_settings().provider
    except SettingsError:
        return  # the first request that needs the settings reports what is wrong
    module = _sdk_module(str(provider))
    if module is not None:
        importing = threading.Thread(target=importlib.import_module, args=(module,), daemon=True)
        importing.start()


def _sdk_module(provider: str) -> str | None:
    """The SDK module a provider needs, when it is not imported yet."""
    module = SDK_MODULES.get(provider.strip().lower())
    return None if module is None or module in sys.modules else module


async def ready_provider(services: Services) -> Provider:
    """`provider_for`, with the SDK imported in a worker thread the first time: an import of
    seconds on the event loop would stall every activity and orchestration of the host."""
    module = _sdk_module(str(services.settings.provider))
    if module is not None:
        await asyncio.to_thread(importlib.import_module, module)
    return services.component(provider_for)


def provider_for(services: Services) -> Provider:
    """The provider GENERATION_PROVIDER names, for `services.component` (one per event loop: SDK
    clients hold connection pools bound to the loop that first used them)."""
    provider = build_provider(services.settings)
    services.on_close(provider.aclose)
    return provider


def build_provider(settings: Settings) -> AnyProvider:
    """A new provider for `settings` (ProviderConfigError names a missing or invalid setting)."""
    kind = str(settings.provider).strip().lower()
    if kind == "offline":
        return OfflineProvider(latency_ms=settings.offline_latency_ms)
    if kind == "openai":
        from generation.providers.openai_provider import OpenAIProvider  # noqa: PLC0415 (lazy, see above)

        return OpenAIProvider(
            api_key=settings.openai_api_key,
            base_url=settings.openai_base_url,
            image_model=settings.openai_image_model,
            text_model=settings.openai_text_model,
        )
    if kind == "azure_openai":
        from generation.providers.azure_provider import AzureOpenAIProvider  # noqa: PLC0415 (lazy, see above)

        return AzureOpenAIProvider(
            endpoint=settings.azure_openai_endpoint,
            api_version=settings.openai_api_version,
            image_deployment=settings.azure_openai_image_deployment,
            text_deployment=settings.azure_openai_text_deployment,
            api_key=settings.azure_openai_api_key,
            client_id=settings.azure_client_id,
        )
    raise ProviderConfigError(
        f"GENERATION_PROVIDER '{settings.provider}' is not one of: offline, openai, azure_openai."
    )


# --- What answers say about rate limits ---

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
