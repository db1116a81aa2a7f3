"""Small typed views of the settings one feature needs, returned by `Settings.require_*()`."""

from __future__ import annotations

from dataclasses import dataclass, field

from jobs.errors import SettingsError
from jobs.models import JobKind


@dataclass(frozen=True)
class OpenAISettings:
    api_key: str = field(repr=False)
    base_url: str | None
    image_model: str
    text_model: str

    def model_for(self, kind: JobKind) -> str:
        return self.image_model if kind is JobKind.IMAGE else self.text_model


@dataclass(frozen=True)
class AzureOpenAISettings:
    """Azure OpenAI; without `api_key` the client authenticates with Entra ID (managed identity)."""

    endpoint: str
    api_key: str | None = field(repr=False)
    api_version: str
    image_deployment: str | None
    text_deployment: str | None
    client_id: str | None

    def deployment_for(self, kind: JobKind) -> str:
        if kind is JobKind.IMAGE:
            if not self.image_deployment:
                raise SettingsError("AZURE_OPENAI_IMAGE_DEPLOYMENT is not set (needed for image jobs)")
            return self.image_deployment
        if not self.text_deployment:
            raise SettingsError("AZURE_OPENAI_TEXT_DEPLOYMENT is not set (needed for text jobs)")
        return self.text_deployment


@dataclass(frozen=True)
class LineSettings:
    channel_secret: str = field(repr=False)
    channel_access_token: str = field(repr=False)
    api_host: str | None
    default_kind: JobKind
    reply_token_ttl_seconds: int
    image_url_ttl_hours: int
