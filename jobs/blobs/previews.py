"""Pillow work for stored images (CPU-bound: callers run it in a thread)."""

from __future__ import annotations

import io
from dataclasses import dataclass

from PIL import Image

# LINE's previewImageUrl must be a JPEG of at most 1 MB; 1024 px on the long side is plenty.
MAX_PREVIEW_BYTES = 1_000_000
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
MAX_PREVIEW_SIDE = 1024
_QUALITIES = (85, 75, 65, 50, 35)


@dataclass(frozen=True)
class PreparedImage:
    png: bytes
    preview: bytes
    width: int
    height: int


def prepare_image(data: bytes) -> PreparedImage:
    """The image as PNG (re-encoded only if it is not one already), its size and a JPEG preview."""
    with Image.open(io.BytesIO(data)) as image:
        image.load()
        png = data if image.format == "PNG" else _encode(image, "PNG")
        return PreparedImage(png=png, preview=jpeg_preview(image), width=image.width, height=image.height)


def jpeg_preview(image: Image.Image, *, max_bytes: int = MAX_PREVIEW_BYTES) -> bytes:
    """An RGB JPEG of at most `max_bytes`: lower quality first, then smaller, until it fits."""
    rgb = _flatten(image)
    if max(rgb.size) > MAX_PREVIEW_SIDE:
        scale = MAX_PREVIEW_SIDE / max(rgb.size)
        rgb = rgb.resize((max(1, round(rgb.width * scale)), max(1, round(rgb.height * scale))),
                         Image.Resampling.LANCZOS)
    while True:
        for quality in _QUALITIES:
            encoded = _encode(rgb, "JPEG", quality=quality, optimize=True)
            if len(encoded) <= max_bytes:
                return encoded
        if max(rgb.size) <= 16:
            return encoded
        rgb = rgb.resize((max(1, rgb.width * 3 // 4), max(1, rgb.height * 3 // 4)))


def _flatten(image: Image.Image) -> Image.Image:
    """The image as RGB: itself when it already is (callers never change it in place)."""
    if image.mode == "RGB":
        return image
    # JPEG has no alpha: paint transparent pixels white rather than letting them turn black.
    if image.mode in ("RGBA", "LA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        background = Image.new("RGB", rgba.size, (255, 255, 255))
        background.paste(rgba, mask=rgba.getchannel("A"))
        return background
    return image.convert("RGB")


def _encode(image: Image.Image, fmt: str, **options: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()
