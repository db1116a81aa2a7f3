"""Previews: JPEG, RGB, bounded in bytes and pixels, transparent areas painted white."""

from __future__ import annotations

import io
import random

from PIL import Image

from jobs.blobs.outputs import jpeg_preview, prepare_image


def _png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def _noise(width: int, height: int) -> Image.Image:
    return Image.frombytes("RGB", (width, height), random.Random(3).randbytes(width * height * 3))


def test_prepare_image_keeps_png_bytes_and_reads_the_size() -> None:
    data = _png(_noise(300, 200))
    prepared = prepare_image(data)
    assert prepared.png == data
    assert (prepared.width, prepared.height) == (300, 200)
    with Image.open(io.BytesIO(prepared.preview)) as preview:
        assert preview.format == "JPEG"
        assert preview.size == (300, 200)


def test_prepare_image_converts_other_formats_to_png() -> None:
    buffer = io.BytesIO()
    _noise(20, 10).save(buffer, format="JPEG")
    prepared = prepare_image(buffer.getvalue())
    with Image.open(io.BytesIO(prepared.png)) as image:
        assert image.format == "PNG"
        assert image.size == (20, 10)


def test_preview_shrinks_until_it_fits() -> None:
    image = _noise(1536, 1024)
    preview = jpeg_preview(image, max_bytes=40_000)
    assert len(preview) <= 40_000
    with Image.open(io.BytesIO(preview)) as decoded:
        assert decoded.mode == "RGB"
        assert decoded.width < 1024  # quality alone could not make noise this small
        assert abs(decoded.width / decoded.height - 1.5) < 0.05


def test_large_images_are_capped_at_1024_pixels() -> None:
    preview = jpeg_preview(Image.new("RGB", (1536, 1024), (10, 20, 30)))
    with Image.open(io.BytesIO(preview)) as decoded:
        assert decoded.size == (1024, 683)


def test_transparency_becomes_white() -> None:
    preview = jpeg_preview(Image.new("RGBA", (8, 8), (0, 0, 0, 0)))
    with Image.open(io.BytesIO(preview)) as decoded:
        red, green, blue = decoded.convert("RGB").getpixel((4, 4))  # type: ignore[misc]
        assert min(red, green, blue) > 245


def test_the_source_image_is_left_as_it_was() -> None:
    image = Image.new("RGB", (1536, 1024), (10, 20, 30))
    jpeg_preview(image, max_bytes=2_000)
    assert image.size == (1536, 1024)
    assert image.getpixel((0, 0)) == (10, 20, 30)
