"""The OpenAI provider, and the image and text calls it shares with Azure OpenAI (whose client is an
AsyncOpenAI too)."""

from __future__ import annotations

import asyncio
import base64
import binascii
import io
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import httpx2
import openai
from azure.core.exceptions import AzureError
from PIL import Image, UnidentifiedImageError

from generation.providers import record
from generation.providers.base import (
    ContentRejectedError,
    ProviderConfigError,
    ScreenedText,
    UpstreamUnavailableError,
)
from generation.providers.errors import SettingsHint, translate
from generation.providers.moderation import MODERATION_MODEL, annotation_reason, moderation_reason
from jobs.blobs.outputs import PNG_SIGNATURE
from jobs.config.settings import DEFAULT_IMAGE_MODEL, DEFAULT_TEXT_MODEL

DEFAULT_TIMEOUT_SECONDS = 120.0
_CONNECT_TIMEOUT_SECONDS = 10.0
ANSWER_BLOCKED_MESSAGE = "The answer was blocked by the provider's content filter."
# Exceptions a call can raise that translate() knows; anything else is a bug and propagates.
_SDK_ERRORS = (openai.OpenAIError, AzureError)


def client_timeout(seconds: float) -> httpx2.Timeout:
    """Read/write budget `seconds`, but fail fast when the host cannot even be reached."""
    return httpx2.Timeout(seconds, connect=min(_CONNECT_TIMEOUT_SECONDS, seconds))


@dataclass(frozen=True)
class Target:
    """One model (OpenAI) or deployment (Azure) and the settings that name it."""

    name: str | None
    hint: SettingsHint
    timeout: float = DEFAULT_TIMEOUT_SECONDS

    def require(self) -> str:
        if not self.name:
            raise ProviderConfigError(f"{self.hint.target_setting} is not set.")
        return self.name


class OpenAICalls:
    """Issues the two calls the app makes and translates every failure at this one boundary."""

    def __init__(self, *, client: openai.AsyncOpenAI, image: Target, text: Target) -> None:
        self._client = client
        self._image = image
        self._text = text

    async def generate_image(self, *, prompt: str, size: str, index: int) -> bytes:
        """One image per call (the caller fans out per index), returned as PNG bytes."""
        del index  # every call is an independent sample; the index only matters to the caller
        model = self._image.require()
        try:
            # The raw response keeps the x-ratelimit-* headers the shared limiter learns from.
            raw = await self._client.images.with_raw_response.generate(
                model=model,
                prompt=prompt,
                size=size,
                n=1,
                # DALL-E answers with a URL unless told otherwise; GPT image models refuse the parameter.
                response_format="b64_json" if "dall-e" in model.lower() else openai.omit,
                timeout=client_timeout(self._image.timeout),
            )
            record(raw.headers)
            response = raw.parse()
        except _SDK_ERRORS as exc:
            raise translate(exc, hint=self._image.hint) from None
        first = response.data[0] if response.data else None
        if first is None or not first.b64_json:
            return self._missing_image(has_url=bool(first and first.url))
        try:
            return await asyncio.to_thread(png_from_base64, first.b64_json)
        except ValueError:
            label = self._image.hint.label
            raise UpstreamUnavailableError(f"{label} returned an unreadable image.") from None

    def _missing_image(self, *, has_url: bool) -> bytes:
        hint = self._image.hint
        if has_url:
            # Provider URLs expire and leak to users; images are stored from base64 only.
            raise ProviderConfigError(
                f"{hint.target_setting} '{hint.target}' answered with an image URL instead of image "
                "data; use a GPT image model or a DALL-E deployment whose name contains 'dall-e'."
            )
        raise UpstreamUnavailableError(f"{hint.label} returned no image.")

    async def generate_text(self, *, prompt: str, history: Sequence[tuple[str, str]] = ()) -> str:
        model = self._text.require()
        messages: list[Any] = [{"role": role, "content": content} for role, content in history]
        messages.append({"role": "user", "content": prompt})
        try:
            raw = await self._client.chat.completions.with_raw_response.create(
                model=model,
                messages=messages,
                timeout=client_timeout(self._text.timeout),
            )
            record(raw.headers)
            completion = raw.parse()
        except _SDK_ERRORS as exc:
            raise translate(exc, hint=self._text.hint) from None
        if not completion.choices:
            raise UpstreamUnavailableError(f"{self._text.hint.label} returned no answer.")
        choice = completion.choices[0]
        if choice.finish_reason == "content_filter":
            raise ContentRejectedError(ANSWER_BLOCKED_MESSAGE)
        if choice.message.content is None:
            raise UpstreamUnavailableError(f"{self._text.hint.label} returned an empty answer.")
        # Azure OpenAI annotates what its content filter let through; OpenAI's answers carry none.
        return ScreenedText(choice.message.content, annotation_reason(completion))

    async def moderation_verdict(self, text: str) -> str | None:
        """OpenAI's moderation endpoint on `text` (a failure is translated like any other call)."""
        try:
            response = await self._client.moderations.create(
                model=MODERATION_MODEL, input=text, timeout=client_timeout(self._text.timeout))
        except _SDK_ERRORS as exc:
            raise translate(exc, hint=self._text.hint) from None
        return moderation_reason(response)

    async def aclose(self) -> None:
        await self._client.close()


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


class OpenAIProvider(OpenAICalls):
    """Images and text from OpenAI; the SDK never retries (the orchestrator owns retries)."""

    name = "openai"

    def __init__(
        self,
        *,
        api_key: str | None,
        base_url: str | None = None,
        image_model: str = DEFAULT_IMAGE_MODEL,
        text_model: str = DEFAULT_TEXT_MODEL,
        image_timeout: float = DEFAULT_TIMEOUT_SECONDS,
        text_timeout: float = DEFAULT_TIMEOUT_SECONDS,
    ) -> None:
        if not api_key:
            raise ProviderConfigError("OPENAI_API_KEY is not set (needed by GENERATION_PROVIDER=openai).")
        client = openai.AsyncOpenAI(
            api_key=api_key,
            base_url=base_url or None,
            max_retries=0,
            timeout=client_timeout(max(image_timeout, text_timeout)),
        )
        super().__init__(
            client=client,
            image=Target(image_model, _hint("OPENAI_IMAGE_MODEL", image_model, api_key), image_timeout),
            text=Target(text_model, _hint("OPENAI_TEXT_MODEL", text_model, api_key), text_timeout),
        )

    async def moderate(self, *, text: str) -> str | None:
        return await self.moderation_verdict(text)


def _hint(setting: str, model: str, api_key: str) -> SettingsHint:
    return SettingsHint(
        label="OpenAI",
        credential="OPENAI_API_KEY",
        target_setting=setting,
        target=model,
        not_found_also="OPENAI_BASE_URL",
        secrets=(api_key,),
    )
