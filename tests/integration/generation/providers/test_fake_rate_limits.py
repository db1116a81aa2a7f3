"""The fake server's rate limits as the real SDKs see them: 429s with retry hints, x-ratelimit-*
headers on every answer, outages; for OpenAI and Azure OpenAI routes alike."""

from __future__ import annotations

import openai

from testing.fakes.openai_server import FakeOpenAI


def _openai(fake: FakeOpenAI) -> openai.OpenAI:
    return openai.OpenAI(api_key=fake.api_key, base_url=fake.base_url, max_retries=0)


def _azure(fake: FakeOpenAI) -> openai.AzureOpenAI:
    return openai.AzureOpenAI(api_key=fake.azure_api_key, azure_endpoint=fake.azure_endpoint,
                              api_version="2025-04-01-preview", max_retries=0)


def test_openai_images_past_the_limit_get_429_with_retry_after(fake_openai: FakeOpenAI) -> None:
    fake_openai.limit_rates(images_per_minute=6)  # one image every 10 s
    client = _openai(fake_openai)
    first = client.images.with_raw_response.generate(model="gpt-image-1", prompt="a fox")
    assert first.headers["x-ratelimit-limit-images"] == "6"
    assert first.headers["x-ratelimit-remaining-images"] == "0"
    try:
        client.images.generate(model="gpt-image-1", prompt="a fox")
    except openai.RateLimitError as refused:
        assert refused.code == "rate_limit_exceeded"
        assert "images per min" in refused.message
        assert 9 <= int(refused.response.headers["retry-after"]) <= 10
        assert 9000 <= int(refused.response.headers["retry-after-ms"]) <= 10000
    else:
        raise AssertionError("the second image within the limit's pace was admitted")


def test_azure_chat_counts_tokens_and_answers_azures_429(fake_openai: FakeOpenAI) -> None:
    limits = fake_openai.limit_rates(tokens_per_minute=60, requests_per_minute=600)
    client = _azure(fake_openai)
    messages = [{"role": "user", "content": "hello"}]
    answer = client.chat.completions.with_raw_response.create(model="gpt-4o-mini", messages=messages)  # type: ignore[arg-type]
    assert answer.headers["x-ratelimit-limit-tokens"] == "60"
    assert answer.headers["x-ratelimit-limit-requests"] == "600"
    try:
        client.chat.completions.create(model="gpt-4o-mini", messages=messages)  # type: ignore[arg-type]
    except openai.RateLimitError as refused:
        assert refused.code == "429"
        assert "exceeded call rate limit" in refused.message
    else:
        raise AssertionError("a call past the tokens limit was admitted")
    assert (limits.stats.admitted, limits.stats.throttled) == (1, 1)


def test_an_outage_answers_503_to_both_services(fake_openai: FakeOpenAI) -> None:
    fake_openai.limit_rates(images_per_minute=6000).start_outage(60)
    for client in (_openai(fake_openai), _azure(fake_openai)):
        try:
            client.images.generate(model="gpt-image-1", prompt="a fox")
        except openai.InternalServerError as down:
            assert down.status_code == 503
        else:
            raise AssertionError("a call during the outage was answered")
