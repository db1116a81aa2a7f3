"""The provider GENERATION_PROVIDER names, built once per services object."""

from __future__ import annotations

import pytest

from generation.providers import build_provider, provider_for
from generation.providers.azure_provider import AzureOpenAIProvider
from generation.providers.base import ProviderConfigError
from generation.providers.offline import OfflineProvider
from generation.providers.openai_provider import OpenAIProvider
from jobs.config.settings import Settings, load_settings
from jobs.services import build_services

STORAGE = {"GENERATION_STORAGE": "UseDevelopmentStorage=true"}


def settings(**values: str) -> Settings:
    return load_settings({**STORAGE, **values})


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


async def test_one_provider_per_services_object_from_its_settings() -> None:
    chosen = settings(GENERATION_PROVIDER="openai", OPENAI_API_KEY="sk-x")
    async with build_services(chosen) as services:
        first = services.component(provider_for)
        assert isinstance(first, OpenAIProvider)
        assert services.component(provider_for) is first
        async with build_services(chosen) as other:
            assert other.component(provider_for) is not first


async def test_a_provider_that_cannot_be_built_is_tried_again() -> None:
    async with build_services(settings(GENERATION_PROVIDER="openai")) as services:
        for _ in range(2):
            with pytest.raises(ProviderConfigError, match="OPENAI_API_KEY is not set"):
                services.component(provider_for)
