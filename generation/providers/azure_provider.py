"""Azure OpenAI through AsyncAzureOpenAI, with an API key or a Microsoft Entra ID token."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import openai
from azure.identity.aio import DefaultAzureCredential, get_bearer_token_provider

from generation.providers.base import ProviderConfigError
from generation.providers.errors import SettingsHint
from generation.providers.openai_provider import DEFAULT_TIMEOUT_SECONDS, OpenAICalls, Target, client_timeout

COGNITIVE_SERVICES_SCOPE = "https://cognitiveservices.azure.com/.default"
TokenProvider = Callable[[], Awaitable[str]]
_ENTRA_CREDENTIAL = "The Microsoft Entra ID token (managed identity, AZURE_CLIENT_ID)"
_ENTRA_ADVICE = (
    "Grant the identity the 'Cognitive Services OpenAI User' role on the resource, "
    "or set AZURE_OPENAI_API_KEY."
)
_NEEDED = "(needed by GENERATION_PROVIDER=azure_openai)"


class AzureOpenAIProvider(OpenAICalls):
    """Images and text from Azure OpenAI deployments; the SDK never retries."""

    name = "azure_openai"

    def __init__(
        self,
        *,
        endpoint: str | None,
        api_version: str | None,
        image_deployment: str | None,
        text_deployment: str | None,
        api_key: str | None = None,
        token_provider: TokenProvider | None = None,
        client_id: str | None = None,
        image_timeout: float = DEFAULT_TIMEOUT_SECONDS,
        text_timeout: float = DEFAULT_TIMEOUT_SECONDS,
    ) -> None:
        """Authenticates with `api_key` when given, else `token_provider`, else DefaultAzureCredential
        (user-assigned identity `client_id`, from AZURE_CLIENT_ID)."""
        if not endpoint:
            raise ProviderConfigError(f"AZURE_OPENAI_ENDPOINT is not set {_NEEDED}.")
        if not api_version:
            raise ProviderConfigError(f"OPENAI_API_VERSION is not set {_NEEDED}.")
        self._credential: DefaultAzureCredential | None = None
        if not api_key and token_provider is None:
            self._credential = DefaultAzureCredential(managed_identity_client_id=client_id or None)
            token_provider = get_bearer_token_provider(self._credential, COGNITIVE_SERVICES_SCOPE)
        client = openai.AsyncAzureOpenAI(
            azure_endpoint=endpoint,
            api_version=api_version,
            api_key=api_key or None,
            azure_ad_token_provider=None if api_key else token_provider,
            max_retries=0,
            timeout=client_timeout(max(image_timeout, text_timeout)),
        )
        image_hint = _hint("AZURE_OPENAI_IMAGE_DEPLOYMENT", image_deployment, api_key=api_key)
        text_hint = _hint("AZURE_OPENAI_TEXT_DEPLOYMENT", text_deployment, api_key=api_key)
        super().__init__(
            client=client,
            image=Target(image_deployment, image_hint, image_timeout),
            text=Target(text_deployment, text_hint, text_timeout),
        )

    async def moderate(self, *, text: str) -> str | None:
        """None: Azure OpenAI has no moderation endpoint; its verdicts are the content-filter
        annotations that come with each answer (`ScreenedText.flag`)."""
        del text
        return None

    async def aclose(self) -> None:
        await super().aclose()
        if self._credential is not None:
            await self._credential.close()


def _hint(setting: str, deployment: str | None, *, api_key: str | None) -> SettingsHint:
    return SettingsHint(
        label="Azure OpenAI",
        credential="AZURE_OPENAI_API_KEY" if api_key else _ENTRA_CREDENTIAL,
        target_setting=setting,
        target=deployment or "",
        not_found_also="AZURE_OPENAI_ENDPOINT and OPENAI_API_VERSION",
        auth_advice="" if api_key else _ENTRA_ADVICE,
        secrets=(api_key,) if api_key else (),
    )
