"""OpenAIProvider through the real openai SDK against the fake server over HTTP."""

from __future__ import annotations

import io
import socket
from collections.abc import AsyncIterator, Callable

import pytest
from PIL import Image

from generation.providers.base import (
    ContentRejectedError,
    ProviderConfigError,
    ProviderTimeoutError,
    RateLimitedError,
    UpstreamUnavailableError,
)
from generation.providers.openai_provider import OpenAIProvider
from testing.fakes.openai_server import FakeOpenAI

MakeProvider = Callable[..., OpenAIProvider]


@pytest.fixture
async def make_provider(fake_openai: FakeOpenAI) -> AsyncIterator[MakeProvider]:
    built: list[OpenAIProvider] = []

    def make(**overrides: object) -> OpenAIProvider:
        options: dict[str, object] = {"api_key": fake_openai.api_key, "base_url": fake_openai.base_url}
        options.update(overrides)
        provider = OpenAIProvider(**options)  # type: ignore[arg-type]
        built.append(provider)
        return provider

    yield make
    for provider in built:
        await provider.aclose()


def image_size(png: bytes) -> tuple[str | None, int, int]:
    with Image.open(io.BytesIO(png)) as image:
        return image.format, image.width, image.height


async def test_image_is_png_of_the_requested_size(
    fake_openai: FakeOpenAI, make_provider: MakeProvider
) -> None:
    png = await make_provider().generate_image(prompt="a lighthouse", size="1536x1024", index=2)
    assert image_size(png) == ("PNG", 1536, 1024)
    (request,) = fake_openai.requests_to("/v1/images/generations")
    assert request.headers["Authorization"] == f"Bearer {fake_openai.api_key}"
    assert request.json == {"model": "gpt-image-1", "prompt": "a lighthouse", "size": "1536x1024", "n": 1}


async def test_dalle_models_are_asked_for_base64(
    fake_openai: FakeOpenAI, make_provider: MakeProvider
) -> None:
    png = await make_provider(image_model="dall-e-3").generate_image(prompt="p", size="1024x1024", index=0)
    assert image_size(png) == ("PNG", 1024, 1024)
    (request,) = fake_openai.requests_to("/images/generations")
    assert request.json["response_format"] == "b64_json"


async def test_a_jpeg_answer_is_stored_as_png(fake_openai: FakeOpenAI, make_provider: MakeProvider) -> None:
    fake_openai.image_format = "JPEG"
    png = await make_provider().generate_image(prompt="p", size="1024x1536", index=0)
    assert image_size(png) == ("PNG", 1024, 1536)


async def test_text_comes_from_chat_completions(fake_openai: FakeOpenAI, make_provider: MakeProvider) -> None:
    answer = await make_provider().generate_text(prompt="Explain queues")
    assert answer == "Fake answer to: Explain queues"
    (request,) = fake_openai.requests_to("/v1/chat/completions")
    assert request.json == {
        "model": "gpt-4o-mini",
        "messages": [{"role": "user", "content": "Explain queues"}],
    }


async def test_rate_limit_honours_retry_after_and_the_sdk_does_not_retry(
    fake_openai: FakeOpenAI, make_provider: MakeProvider
) -> None:
    fake_openai.fail_next(429, headers={"retry-after": "1"})
    with pytest.raises(RateLimitedError) as caught:
        await make_provider().generate_image(prompt="p", size="1024x1024", index=0)
    assert caught.value.retry_after == 1.0
    assert len(fake_openai.requests) == 1  # retries belong to the orchestrator


async def test_retry_after_ms_wins(fake_openai: FakeOpenAI, make_provider: MakeProvider) -> None:
    fake_openai.fail_next(429, headers={"retry-after-ms": "250", "retry-after": "1"})
    with pytest.raises(RateLimitedError) as caught:
        await make_provider().generate_text(prompt="p")
    assert caught.value.retry_after == 0.25


@pytest.mark.parametrize("status", [500, 503])
async def test_server_errors_are_upstream_unavailable(
    status: int, fake_openai: FakeOpenAI, make_provider: MakeProvider
) -> None:
    fake_openai.fail_next(status)
    with pytest.raises(UpstreamUnavailableError) as caught:
        await make_provider().generate_image(prompt="p", size="1024x1024", index=0)
    assert caught.value.retryable is True
    assert len(fake_openai.requests) == 1


async def test_a_slow_answer_is_a_timeout(fake_openai: FakeOpenAI, make_provider: MakeProvider) -> None:
    fake_openai.slow_next(5)
    with pytest.raises(ProviderTimeoutError):
        await make_provider(image_timeout=0.5).generate_image(prompt="p", size="1024x1024", index=0)


async def test_an_unreachable_host_is_upstream_unavailable(make_provider: MakeProvider) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    provider = make_provider(base_url=f"http://127.0.0.1:{closed_port}/v1")
    with pytest.raises(UpstreamUnavailableError, match="Could not reach OpenAI"):
        await provider.generate_text(prompt="p")


@pytest.mark.parametrize("model", ["gpt-image-1", "dall-e-3"])
async def test_rejected_prompts_are_content_rejections(
    model: str, fake_openai: FakeOpenAI, make_provider: MakeProvider
) -> None:
    with pytest.raises(ContentRejectedError) as caught:
        await make_provider(image_model=model).generate_image(
            prompt="something forbidden", size="1024x1024", index=0
        )
    assert caught.value.retryable is False


async def test_a_filtered_answer_is_a_content_rejection(make_provider: MakeProvider) -> None:
    with pytest.raises(ContentRejectedError, match="content filter"):
        await make_provider().generate_text(prompt="tell me something forbidden")


async def test_a_wrong_key_names_the_setting_and_never_the_key(make_provider: MakeProvider) -> None:
    wrong_key = "sk-wrong-0123456789-SECRET"
    with pytest.raises(ProviderConfigError) as caught:
        await make_provider(api_key=wrong_key).generate_image(prompt="p", size="1024x1024", index=0)
    message = str(caught.value)
    assert "OPENAI_API_KEY was rejected" in message
    assert wrong_key not in message
    assert "CRET" not in message  # OpenAI echoes the key's last characters; they stay out too
    assert caught.value.__cause__ is None


async def test_an_unknown_model_names_the_model_setting(make_provider: MakeProvider) -> None:
    with pytest.raises(ProviderConfigError, match="OPENAI_TEXT_MODEL 'gpt-9' was not found"):
        await make_provider(text_model="gpt-9").generate_text(prompt="p")


async def test_an_unsupported_size_reports_the_providers_reason(make_provider: MakeProvider) -> None:
    with pytest.raises(ProviderConfigError, match=r"HTTP 400\): Invalid value: '512x512'"):
        await make_provider().generate_image(prompt="p", size="512x512", index=0)


async def test_moderation_endpoint_says_why_text_is_flagged(
    fake_openai: FakeOpenAI, make_provider: MakeProvider
) -> None:
    provider = make_provider()
    assert await provider.moderate(text="a calm answer") is None
    flagged = f"a {fake_openai.flag_marker} answer"
    assert await provider.moderate(text=flagged) == "moderation flagged violence"
    request = fake_openai.requests_to("/v1/moderations")[-1]
    assert request.json == {"model": "omni-moderation-latest", "input": flagged}
    fake_openai.fail_next(503)
    with pytest.raises(UpstreamUnavailableError):
        await provider.moderate(text="anything")
