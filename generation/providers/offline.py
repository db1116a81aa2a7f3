"""A provider that needs no network: Pillow-drawn placeholders, the same bytes for the same input.

A prompt containing the marker `[reject]` is refused like a content-policy rejection, and text
containing `[review]` is flagged by its moderation, so both paths can be seen without OpenAI.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import textwrap
from collections.abc import Sequence

from PIL import Image, ImageDraw, ImageFont

from generation.providers.base import CONTENT_REJECTED_MESSAGE, ContentRejectedError, ProviderConfigError

REJECT_MARKER = "[reject]"
REVIEW_MARKER = "[review]"
_MAX_PROMPT_LINES = 12
MAX_SIDE = 4096  # the largest side of a picture any size may ask for


def parse_size(size: str) -> tuple[int, int]:
    """(width, height) of a "WIDTHxHEIGHT" size; ValueError if it is not one."""
    width_text, sep, height_text = size.lower().partition("x")
    if not sep or not width_text.isdigit() or not height_text.isdigit():
        raise ValueError(f"image size must look like 1024x1024, got {size!r}")
    width, height = int(width_text), int(height_text)
    if not (0 < width <= MAX_SIDE and 0 < height <= MAX_SIDE):
        raise ValueError(f"image size {size!r} is out of range")
    return width, height


class OfflineProvider:
    """Deterministic placeholders after `latency_ms` of simulated work."""

    name = "offline"

    def __init__(self, *, latency_ms: int = 0) -> None:
        if latency_ms < 0:
            raise ProviderConfigError("OFFLINE_LATENCY_MS must not be negative.")
        self.latency_ms = latency_ms
        # Blend masks by picture size (read-only once made; the same for every prompt).
        self._masks: dict[tuple[int, int], Image.Image] = {}

    async def generate_image(self, *, prompt: str, size: str, index: int) -> bytes:
        self._check(prompt)
        try:
            width, height = parse_size(size)
        except ValueError as exc:
            raise ProviderConfigError(f"Unsupported image size: {exc}.") from None
        await self._simulate_latency()
        # Encoding a large PNG takes tens of milliseconds: keep the event loop free meanwhile.
        mask = self._mask(width, height)
        return await asyncio.to_thread(render_placeholder, prompt, mask=mask, index=index)

    def _mask(self, width: int, height: int) -> Image.Image:
        if (width, height) not in self._masks:
            self._masks[width, height] = Image.linear_gradient("L").resize((width, height))
        return self._masks[width, height]

    async def generate_text(self, *, prompt: str, history: Sequence[tuple[str, str]] = ()) -> str:
        self._check(prompt)
        await self._simulate_latency()
        digest = hashlib.sha256(prompt.encode("utf-8")).hexdigest()[:12]
        # Says what it was shown of the conversation, so continuity can be seen without an AI service.
        earlier = sum(1 for role, _ in history if role == "user")
        remembered = f"\n\nEarlier questions I was shown: {earlier}" if history else ""
        return (
            "This is a placeholder answer from the offline provider (no AI service is configured).\n\n"
            f"You asked:\n{prompt}\n\n"
            f"Answer id: {digest}{remembered}"
        )

    async def moderate(self, *, text: str) -> str | None:
        return f"offline moderation flagged the marker {REVIEW_MARKER}" if REVIEW_MARKER in text else None

    async def aclose(self) -> None:
        """Nothing to release; present so every provider can be closed the same way."""

    def _check(self, prompt: str) -> None:
        if REJECT_MARKER in prompt:
            raise ContentRejectedError(CONTENT_REJECTED_MESSAGE)

    async def _simulate_latency(self) -> None:
        if self.latency_ms:
            await asyncio.sleep(self.latency_ms / 1000)


def render_placeholder(prompt: str, *, mask: Image.Image, index: int) -> bytes:
    """A PNG of `mask`'s size: a gradient (blended by `mask`) whose colours come from
    sha256(prompt, index), with the prompt and index drawn."""
    seed = hashlib.sha256(f"{index}\x00{prompt}".encode()).digest()
    start, end = tuple(seed[0:3]), tuple(seed[3:6])
    width, height = mask.size
    image = Image.composite(
        Image.new("RGB", (width, height), start), Image.new("RGB", (width, height), end), mask
    )
    draw = ImageDraw.Draw(image)
    text_size = max(12, min(width, height) // 28)
    font = ImageFont.load_default(size=text_size)
    ink = (255, 255, 255) if sum(seed[0:6]) < 3 * 255 else (20, 20, 20)
    margin = max(8, width // 20)
    lines = textwrap.wrap(prompt, width=max(10, (width - 2 * margin) * 2 // text_size))
    if len(lines) > _MAX_PROMPT_LINES:
        lines = [*lines[: _MAX_PROMPT_LINES - 1], lines[_MAX_PROMPT_LINES - 1] + " …"]
    draw.multiline_text((margin, margin), "\n".join(lines), font=font, fill=ink, spacing=text_size // 3)
    badge = f"#{index}"
    badge_font = ImageFont.load_default(size=text_size * 2)
    left, top, right, bottom = draw.textbbox((0, 0), badge, font=badge_font)
    x, y = width - margin - (right - left), height - margin - (bottom - top)
    pad = text_size // 2
    draw.rectangle((x - pad, y - pad, x + right - left + pad, y + bottom - top + pad), fill=(0, 0, 0))
    draw.text((x - left, y - top), badge, font=badge_font, fill=(255, 255, 255))
    buffer = io.BytesIO()
    # Light compression: placeholders are drawn often and stay on the local machine.
    image.save(buffer, format="PNG", compress_level=1)
    return buffer.getvalue()
