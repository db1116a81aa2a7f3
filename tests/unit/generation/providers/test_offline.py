"""The offline provider: deterministic placeholders, the `[reject]` marker, latency from settings."""

from __future__ import annotations

import asyncio
import io

import pytest
from PIL import Image

from generation.providers import offline
from generation.providers.base import ContentRejectedError, ProviderConfigError
from generation.providers.offline import OfflineProvider
from jobs.blobs.outputs import PNG_SIGNATURE


async def test_same_prompt_and_index_give_identical_png_bytes() -> None:
    provider = OfflineProvider()
    first = await provider.generate_image(prompt="a red fox in snow", size="1024x1024", index=0)
    again = await OfflineProvider().generate_image(prompt="a red fox in snow", size="1024x1024", index=0)
    assert first.startswith(PNG_SIGNATURE)
    assert first == again


async def test_index_and_prompt_change_the_picture() -> None:
    provider = OfflineProvider()
    base = await provider.generate_image(prompt="a red fox", size="1024x1024", index=0)
    other_index = await provider.generate_image(prompt="a red fox", size="1024x1024", index=1)
    other_prompt = await provider.generate_image(prompt="a blue fox", size="1024x1024", index=0)
    assert len({base, other_index, other_prompt}) == 3


@pytest.mark.parametrize("size", ["1024x1024", "1536x1024", "1024x1536", "64x48"])
async def test_images_have_the_requested_size(size: str) -> None:
    png = await OfflineProvider().generate_image(prompt="p " * 400, size=size, index=3)
    with Image.open(io.BytesIO(png)) as image:
        assert image.format == "PNG"
        assert f"{image.width}x{image.height}" == size


@pytest.mark.parametrize("size", ["big", "1024", "0x10", "1024x99999", "-1x5"])
async def test_a_bad_size_is_a_configuration_error(size: str) -> None:
    with pytest.raises(ProviderConfigError, match="size"):
        await OfflineProvider().generate_image(prompt="p", size=size, index=0)


async def test_the_reject_marker_gives_a_content_rejection_for_both_kinds() -> None:
    provider = OfflineProvider()
    with pytest.raises(ContentRejectedError) as image_error:
        await provider.generate_image(prompt="draw this [reject] please", size="1024x1024", index=0)
    with pytest.raises(ContentRejectedError):
        await provider.generate_text(prompt="[reject]")
    assert image_error.value.retryable is False
    assert image_error.value.code == "content_rejected"


async def test_text_is_a_deterministic_placeholder_that_echoes_the_prompt() -> None:
    provider = OfflineProvider()
    answer = await provider.generate_text(prompt="Explain durable functions")
    assert "Explain durable functions" in answer
    assert answer == await provider.generate_text(prompt="Explain durable functions")
    assert answer != await provider.generate_text(prompt="Explain queues")


async def test_the_configured_latency_is_awaited(monkeypatch: pytest.MonkeyPatch) -> None:
    waits: list[float] = []
    real_sleep = asyncio.sleep

    async def recording_sleep(delay: float) -> None:
        waits.append(delay)
        await real_sleep(0)

    monkeypatch.setattr(offline.asyncio, "sleep", recording_sleep)
    await OfflineProvider(latency_ms=1500).generate_text(prompt="x")
    await OfflineProvider(latency_ms=0).generate_text(prompt="x")
    assert waits == [1.5]


def test_negative_latency_is_refused() -> None:
    with pytest.raises(ProviderConfigError, match="OFFLINE_LATENCY_MS"):
        OfflineProvider(latency_ms=-1)
