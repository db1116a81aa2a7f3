"""Generation providers (offline, OpenAI, Azure OpenAI) behind one small interface."""

from __future__ import annotations

import asyncio
import weakref
from typing import TYPE_CHECKING, TypeAlias

from generation.providers.base import Provider, ProviderConfigError
from generation.providers.offline import OfflineProvider
from jobs.config.settings import Settings, get_settings

if TYPE_CHECKING:
    from generation.providers.azure_provider import AzureOpenAIProvider
    from generation.providers.openai_provider import OpenAIProvider

# The OpenAI SDK takes seconds to import; a host that runs offline (or only the LINE webhook)
# should not pay for it at start-up, so the SDK-backed providers are imported on first use.
AnyProvider: TypeAlias = "OfflineProvider | OpenAIProvider | AzureOpenAIProvider"
_Entries: TypeAlias = list[tuple[Settings, AnyProvider]]
# SDK clients hold connection pools bound to the loop that first used them, hence one per loop.
_by_loop: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Entries] = weakref.WeakKeyDictionary()
_outside_loop: _Entries = []


def get_provider(settings: Settings | None = None) -> Provider:
    """The provider chosen by GENERATION_PROVIDER, built once per event loop and settings."""
    if settings is None:
        settings = get_settings()
    entries = _entries()
    for known, provider in entries:
        if known == settings:
            return provider
    built = build_provider(settings)
    entries.append((settings, built))
    return built


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


async def close_providers() -> None:
    """Close the providers cached for the running event loop (their HTTP pools and credentials)."""
    entries = _entries()
    closing = list(entries)
    entries.clear()
    for _, provider in closing:
        await provider.aclose()


def _entries() -> _Entries:
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        return _outside_loop
    return _by_loop.setdefault(loop, [])
