"""Image bytes helpers: sizes, base64 payloads, PNG conversion."""

from __future__ import annotations

import base64
import binascii
import io

from PIL import Image, UnidentifiedImageError

from jobs.blobs.previews import PNG_SIGNATURE

MAX_SIDE = 4096


def parse_size(size: str) -> tuple[int, int]:
    """(width, height) of a "WIDTHxHEIGHT" size; ValueError if it is not one."""
    width_text, sep, height_text = size.lower().partition("x")
    if not sep or not width_text.isdigit() or not height_text.isdigit():
        raise ValueError(f"image size must look like 1024x1024, got {size!r}")
    width, height = int(width_text), int(height_text)
    if not (0 < width <= MAX_SIDE and 0 < height <= MAX_SIDE):
        raise ValueError(f"image size {size!r} is out of range")
    return width, height


def png_from_base64(data: str) -> bytes:
    """PNG bytes from a provider's base64 image, converting JPEG/WebP payloads; ValueError if garbage."""
    try:
        raw = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValueError("image payload is not valid base64") from exc
    return ensure_png(raw)


def ensure_png(raw: bytes) -> bytes:
    if raw.startswith(PNG_SIGNATURE):
        return raw
    try:
        with Image.open(io.BytesIO(raw)) as image:
            image.load()
            converted = image if image.mode in ("RGB", "RGBA", "L", "LA") else image.convert("RGBA")
            buffer = io.BytesIO()
            converted.save(buffer, format="PNG")
    except (UnidentifiedImageError, OSError) as exc:
        raise ValueError("image payload is not an image") from exc
    return buffer.getvalue()
