"""get_provider: the provider GENERATION_PROVIDER names, built once per event loop."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator

import pytest

from generation.providers import build_provider, close_providers, get_provider
from generation.providers.azure_provider import AzureOpenAIProvider
from generation.providers.base import Provider, ProviderConfigError
from generation.providers.offline import OfflineProvider
from generation.providers.openai_provider import OpenAIProvider
from jobs.config.settings import Settings, load_settings, reset_settings

STORAGE = {"GENERATION_STORAGE": "UseDevelopmentStorage=true"}


def settings(**values: str) -> Settings:
    return load_settings({**STORAGE, **values})


@pytest.fixture(autouse=True)
async def closed_providers() -> AsyncIterator[None]:
    yield None
    await close_providers()


async def test_offline_provider_with_latency_from_settings() -> None:
    provider = build_provider(settings(GENERATION_PROVIDER="offline", OFFLINE_LATENCY_MS="250"))
    assert isinstance(provider, OfflineProvider)
    assert provider.latency_ms == 250


async def test_openai_provider_needs_its_key() -> None:
    provider = build_provider(settings(GENERATION_PROVIDER="openai", OPENAI_API_KEY="sk-x"))
    assert isinstance(provider, OpenAIProvider)
    await provider.aclose()
    with pytest.raises(ProviderConfigError, match="OPENAI_API_KEY is not set"):
        build_provider(settings(GENERATION_PROVIDER="openai"))


async def test_azure_provider_with_a_key_or_an_entra_id_identity() -> None:
    azure = {
        "GENERATION_PROVIDER": "azure_openai",
        "AZURE_OPENAI_ENDPOINT": "https://example.openai.azure.com",
    }
    with_key = build_provider(settings(**azure, AZURE_OPENAI_API_KEY="k"))
    with_identity = build_provider(settings(**azure, AZURE_CLIENT_ID="00000000-0000-0000-0000-000000000001"))
    assert isinstance(with_key, AzureOpenAIProvider)
    assert isinstance(with_identity, AzureOpenAIProvider)
    await with_key.aclose()
    await with_identity.aclose()
    with pytest.raises(ProviderConfigError, match="AZURE_OPENAI_ENDPOINT is not set"):
        build_provider(settings(GENERATION_PROVIDER="azure_openai"))


async def test_one_provider_per_event_loop_and_settings() -> None:
    offline = settings(GENERATION_PROVIDER="offline")
    first = get_provider(offline)
    assert get_provider(settings(GENERATION_PROVIDER="offline")) is first  # equal settings, same provider
    assert get_provider(settings(GENERATION_PROVIDER="offline", OFFLINE_LATENCY_MS="5")) is not first

    def in_another_loop() -> Provider:
        async def build() -> Provider:
            return get_provider(offline)

        return asyncio.run(build())

    assert await asyncio.to_thread(in_another_loop) is not first


async def test_close_providers_forgets_this_loops_providers() -> None:
    offline = settings(GENERATION_PROVIDER="offline")
    first = get_provider(offline)
    await close_providers()
    assert get_provider(offline) is not first


@pytest.fixture
def environment(monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    reset_settings()
    yield monkeypatch
    reset_settings()


async def test_without_arguments_the_process_settings_decide(environment: pytest.MonkeyPatch) -> None:
    environment.setenv("GENERATION_STORAGE", "UseDevelopmentStorage=true")
    environment.setenv("GENERATION_PROVIDER", "openai")
    environment.setenv("OPENAI_API_KEY", "sk-from-env")
    assert isinstance(get_provider(), OpenAIProvider)
