"""OpenAI (api.openai.com or a compatible OPENAI_BASE_URL) through AsyncOpenAI."""

from __future__ import annotations

import openai

from generation.providers.base import ProviderConfigError
from generation.providers.errors import SettingsHint
from generation.providers.openai_common import DEFAULT_TIMEOUT_SECONDS, OpenAICalls, Target, client_timeout
from jobs.config.settings import DEFAULT_IMAGE_MODEL, DEFAULT_TEXT_MODEL


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
