"""AzureOpenAIProvider through the real openai SDK against the fake server over HTTP."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator, Callable

import pytest
from PIL import Image

from generation.providers.azure_provider import AzureOpenAIProvider
from generation.providers.base import (
    ContentRejectedError,
    ProviderConfigError,
    ProviderTimeoutError,
    RateLimitedError,
    UpstreamUnavailableError,
    flag_of,
)
from testing.fakes.openai_server import FakeOpenAI

API_VERSION = "2025-04-01-preview"
MakeProvider = Callable[..., AzureOpenAIProvider]


@pytest.fixture
async def make_provider(fake_openai: FakeOpenAI) -> AsyncIterator[MakeProvider]:
    built: list[AzureOpenAIProvider] = []

    def make(**overrides: object) -> AzureOpenAIProvider:
        options: dict[str, object] = {
            "endpoint": fake_openai.azure_endpoint,
            "api_version": API_VERSION,
            "image_deployment": "gpt-image-1",
            "text_deployment": "gpt-4o-mini",
        }
        options.update(overrides)
        if "api_key" not in options and "token_provider" not in options:
            options["api_key"] = fake_openai.azure_api_key
        provider = AzureOpenAIProvider(**options)  # type: ignore[arg-type]
        built.append(provider)
        return provider

    yield make
    for provider in built:
        await provider.aclose()


def token_provider(token: str, calls: list[str]) -> Callable[[], object]:
    async def provide() -> str:
        calls.append(token)
        return token

    return provide


async def test_image_with_an_api_key(fake_openai: FakeOpenAI, make_provider: MakeProvider) -> None:
    png = await make_provider().generate_image(prompt="a harbour", size="1024x1536", index=0)
    with Image.open(io.BytesIO(png)) as image:
        assert (image.format, image.size) == ("PNG", (1024, 1536))
    (request,) = fake_openai.requests
    assert request.path == "/openai/deployments/gpt-image-1/images/generations"
    assert request.query == {"api-version": API_VERSION}
    assert request.headers["api-key"] == fake_openai.azure_api_key
    assert "Authorization" not in request.headers


async def test_text_with_an_entra_id_token_provider(
    fake_openai: FakeOpenAI, make_provider: MakeProvider
) -> None:
    calls: list[str] = []
    provider = make_provider(token_provider=token_provider(fake_openai.azure_bearer_token, calls))
    assert await provider.generate_text(prompt="Summarise") == "Fake answer to: Summarise"
    assert await provider.generate_image(prompt="p", size="1024x1024", index=1)
    assert len(calls) == 2  # asked on every request, so a refreshed token is always used
    chat, image = fake_openai.requests
    assert chat.path == "/openai/deployments/gpt-4o-mini/chat/completions"
    assert chat.headers["Authorization"] == f"Bearer {fake_openai.azure_bearer_token}"
    assert "api-key" not in chat.headers
    assert image.headers["Authorization"] == f"Bearer {fake_openai.azure_bearer_token}"


async def test_a_rejected_token_explains_the_role_to_grant(make_provider: MakeProvider) -> None:
    provider = make_provider(token_provider=token_provider("expired-token", []))
    with pytest.raises(ProviderConfigError) as caught:
        await provider.generate_text(prompt="p")
    assert "Entra ID token" in str(caught.value)
    assert "Cognitive Services OpenAI User" in str(caught.value)
    assert "expired-token" not in str(caught.value)


async def test_a_wrong_key_names_the_setting_and_never_the_key(make_provider: MakeProvider) -> None:
    with pytest.raises(ProviderConfigError) as caught:
        await make_provider(api_key="azure-wrong-SECRET").generate_image(
            prompt="p", size="1024x1024", index=0
        )
    assert "AZURE_OPENAI_API_KEY was rejected" in str(caught.value)
    assert "SECRET" not in str(caught.value)


async def test_an_unknown_deployment_names_the_deployment_setting(
    fake_openai: FakeOpenAI, make_provider: MakeProvider
) -> None:
    with pytest.raises(ProviderConfigError) as caught:
        await make_provider(image_deployment="x").generate_image(prompt="p", size="1024x1024", index=0)
    assert str(caught.value) == "AZURE_OPENAI_IMAGE_DEPLOYMENT 'x' was not found by Azure OpenAI."
    assert caught.value.retryable is False


async def test_an_unset_deployment_fails_before_any_request(
    fake_openai: FakeOpenAI, make_provider: MakeProvider
) -> None:
    with pytest.raises(ProviderConfigError, match="AZURE_OPENAI_TEXT_DEPLOYMENT is not set"):
        await make_provider(text_deployment=None).generate_text(prompt="p")
    assert fake_openai.requests == []


async def test_rejected_image_prompt_is_a_content_rejection(make_provider: MakeProvider) -> None:
    with pytest.raises(ContentRejectedError):
        await make_provider().generate_image(prompt="forbidden scene", size="1024x1024", index=0)


async def test_filtered_chat_prompt_is_a_content_rejection(make_provider: MakeProvider) -> None:
    with pytest.raises(ContentRejectedError):
        await make_provider().generate_text(prompt="a forbidden question")


async def test_throttling_and_outages_are_retryable(
    fake_openai: FakeOpenAI, make_provider: MakeProvider
) -> None:
    provider = make_provider()
    fake_openai.fail_next(429, headers={"retry-after": "1"})
    fake_openai.fail_next(503)
    with pytest.raises(RateLimitedError) as limited:
        await provider.generate_image(prompt="p", size="1024x1024", index=0)
    with pytest.raises(UpstreamUnavailableError):
        await provider.generate_image(prompt="p", size="1024x1024", index=0)
    assert limited.value.retry_after == 1.0
    assert len(fake_openai.requests) == 2


async def test_a_slow_deployment_is_a_timeout(fake_openai: FakeOpenAI, make_provider: MakeProvider) -> None:
    fake_openai.slow_next(5)
    with pytest.raises(ProviderTimeoutError):
        await make_provider(text_timeout=0.5).generate_text(prompt="p")


async def test_an_image_url_answer_is_refused_and_never_downloaded(
    fake_openai: FakeOpenAI, make_provider: MakeProvider
) -> None:
    fake_openai.deployments["art"] = "dall-e-3"  # a DALL-E deployment whose name does not say so
    with pytest.raises(ProviderConfigError, match="image URL"):
        await make_provider(image_deployment="art").generate_image(prompt="p", size="1024x1024", index=0)
    assert [request.method for request in fake_openai.requests] == ["POST"]


async def test_answers_carry_the_content_filter_annotations_the_review_gate_reads(
    fake_openai: FakeOpenAI, make_provider: MakeProvider
) -> None:
    provider = make_provider()
    calm = await provider.generate_text(prompt="a calm question")
    flagged = await provider.generate_text(prompt=f"say {fake_openai.flag_marker}")
    assert flag_of(calm) is None
    assert flag_of(flagged) == (
        "content filter on the prompt: violence (medium); content filter on the answer: violence (medium)")
    assert await provider.moderate(text=flagged) is None, "Azure OpenAI has no moderation endpoint"
    assert not fake_openai.requests_to("moderations")
