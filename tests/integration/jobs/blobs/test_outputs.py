"""OutputStore on real Azurite: images, previews, read-only SAS URLs fetched over HTTP."""

from __future__ import annotations

import io
import random
from datetime import timedelta

import aiohttp
import pytest
from PIL import Image

from jobs.blobs.outputs import MAX_PREVIEW_BYTES, OutputStore
from jobs.domain.errors import OutputNotFoundError


def noisy_png(width: int, height: int) -> bytes:
    """Random pixels: the worst case for compression, so the preview must really be squeezed."""
    rng = random.Random(7)
    image = Image.frombytes("RGBA", (width, height), rng.randbytes(width * height * 4))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture(scope="module")
def big_png() -> bytes:
    return noisy_png(1024, 1024)


async def test_save_image_stores_png_and_a_small_jpeg_preview(
    output_store: OutputStore, big_png: bytes
) -> None:
    output = await output_store.save_image("job-1", 0, big_png)

    assert output.index == 0
    assert output.content_type == "image/png"
    assert output.blob_name == "job-1/0.png"
    assert output.preview_blob_name == "job-1/0.preview.jpg"
    assert (output.width, output.height) == (1024, 1024)
    assert await output_store.read("job-1/0.png") == big_png
    preview = await output_store.read("job-1/0.preview.jpg")
    assert len(preview) <= MAX_PREVIEW_BYTES
    with Image.open(io.BytesIO(preview)) as image:
        assert image.format == "JPEG"
        assert image.mode == "RGB"
        assert max(image.size) <= 1024


async def test_save_image_twice_overwrites(output_store: OutputStore) -> None:
    await output_store.save_image("job-2", 1, noisy_png(32, 16))
    second = noisy_png(16, 32)
    output = await output_store.save_image("job-2", 1, second)
    assert (output.width, output.height) == (16, 32)
    assert await output_store.read("job-2/1.png") == second


async def test_sas_url_is_fetchable_and_read_only(
    output_store: OutputStore, azurite_connection_string: str
) -> None:
    png = noisy_png(64, 64)
    output = await output_store.save_image("job-3", 0, png)
    assert output.blob_name and output.preview_blob_name
    url = await output_store.url_for(output.blob_name, ttl=timedelta(minutes=5))
    preview_url = await output_store.url_for(output.preview_blob_name, ttl=timedelta(hours=168))

    blob_endpoint = dict(
        part.split("=", 1) for part in azurite_connection_string.split(";") if part
    )["BlobEndpoint"]
    assert url.startswith(blob_endpoint + "/")
    async with aiohttp.ClientSession() as session:
        async with session.get(url) as response:
            assert response.status == 200
            assert response.headers["Content-Type"] == "image/png"
            assert await response.read() == png
        async with session.get(preview_url) as response:
            assert response.status == 200
            assert response.headers["Content-Type"] == "image/jpeg"
        put = {"x-ms-blob-type": "BlockBlob"}
        async with session.put(url, data=b"overwritten", headers=put) as response:
            assert response.status == 403
    assert await output_store.read(output.blob_name) == png


async def test_read_of_a_missing_blob_raises_output_not_found(output_store: OutputStore) -> None:
    with pytest.raises(OutputNotFoundError):
        await output_store.read("nope/0.png")


async def test_delete_job_removes_only_that_jobs_blobs(output_store: OutputStore) -> None:
    assert await output_store.delete_job("job-4") == 0  # before the container even exists
    for index in range(2):
        await output_store.save_image("job-4", index, noisy_png(8, 8))
    await output_store.save_image("job-40", 0, noisy_png(8, 8))

    assert await output_store.delete_job("job-4") == 4
    assert await output_store.delete_job("job-4") == 0
    with pytest.raises(OutputNotFoundError):
        await output_store.read("job-4/0.png")
    assert await output_store.read("job-40/0.png")


async def test_an_unreadable_png_raises_and_leaves_no_blob(output_store: OutputStore) -> None:
    # The image upload starts while the preview is made; a picture that cannot be decoded takes it back.
    broken = b"\x89PNG\r\n\x1a\n" + b"not really a picture" * 50
    with pytest.raises(OSError):
        await output_store.save_image("job-broken", 0, broken)
    assert await output_store.delete_job("job-broken") == 0
