"""Provider image payloads become PNG bytes; sizes are parsed strictly."""

from __future__ import annotations

import base64
import io

import pytest
from PIL import Image

from generation.providers.offline import parse_size
from generation.providers.openai_provider import png_from_base64
from jobs.blobs.outputs import PNG_SIGNATURE


def encoded(image_format: str, size: tuple[int, int] = (32, 16)) -> str:
    buffer = io.BytesIO()
    Image.new("RGB", size, (200, 10, 10)).save(buffer, format=image_format)
    return base64.b64encode(buffer.getvalue()).decode()


def test_png_passes_through_unchanged() -> None:
    payload = encoded("PNG")
    assert png_from_base64(payload) == base64.b64decode(payload)


@pytest.mark.parametrize("image_format", ["JPEG", "WEBP"])
def test_other_formats_are_converted_to_png(image_format: str) -> None:
    png = png_from_base64(encoded(image_format))
    assert png.startswith(PNG_SIGNATURE)
    with Image.open(io.BytesIO(png)) as image:
        assert image.size == (32, 16)


@pytest.mark.parametrize("payload", ["not base64!!", base64.b64encode(b"plain text, not an image").decode()])
def test_garbage_is_a_value_error(payload: str) -> None:
    with pytest.raises(ValueError, match="not"):
        png_from_base64(payload)


def test_parse_size() -> None:
    assert parse_size("1536x1024") == (1536, 1024)
    with pytest.raises(ValueError, match="1024x1024"):
        parse_size("1536*1024")
