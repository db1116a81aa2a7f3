"""Generation providers (offline, OpenAI, Azure OpenAI) behind one small interface."""

from __future__ import annotations

import asyncio
import importlib
import sys
import threading
from typing import TYPE_CHECKING, TypeAlias

from generation.providers.base import Provider, ProviderConfigError
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
