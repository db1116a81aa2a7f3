"""The provider contract: what a provider does and the small error hierarchy it raises."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar, Protocol

CONTENT_REJECTED_MESSAGE = "The prompt was rejected by the provider's content policy."


class ProviderError(Exception):
    """A provider failure with a user-safe message (no secrets, no stack) and a retry decision."""

    code: ClassVar[str] = "provider_unavailable"
    retryable: ClassVar[bool] = True

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.retry_after = retry_after

    def __reduce__(self) -> tuple[Any, ...]:
        # Keyword-only arguments are lost by the default exception pickling.
        return (_rebuild, (type(self), self.message, self.retry_after))

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r}, retry_after={self.retry_after!r})"


def _rebuild(cls: type[ProviderError], message: str, retry_after: float | None) -> ProviderError:
    return cls(message, retry_after=retry_after)


class ContentRejectedError(ProviderError):
    """The provider's content policy refused the prompt or the answer; retrying cannot help."""

    code = "content_rejected"
    retryable = False


class RateLimitedError(ProviderError):
    """Too many requests; `retry_after` carries the provider's hint when it gave one, and `limits` the
    per-minute limits its `x-ratelimit-limit-*` headers named ("requests", "tokens", "images")."""

    code = "rate_limited"
    retryable = True
    limits: dict[str, float] = {}  # replaced per instance (errors.py), never mutated


class UpstreamUnavailableError(ProviderError):
    """5xx answers and connection failures."""

    code = "provider_unavailable"
    retryable = True


class ProviderTimeoutError(ProviderError):
    """The provider did not answer within the client timeout."""

    code = "timeout"
    retryable = True


class ProviderConfigError(ProviderError):
    """Rejected credentials, unknown model or deployment, or a request the provider calls invalid."""

    code = "configuration"
    retryable = False


class ScreenedText(str):
    """A text answer carrying the provider's moderation verdict on it: `flag` says why it should be
    reviewed (None: nothing to say). A str, so callers that want only the text need nothing else."""

    flag: str | None

    def __new__(cls, text: str, flag: str | None = None) -> ScreenedText:
        screened = super().__new__(cls, text)
        screened.flag = flag
        return screened


def flag_of(text: str) -> str | None:
    """The moderation verdict an answer came with (None for a plain str)."""
    return text.flag if isinstance(text, ScreenedText) else None


class Provider(Protocol):
    """An image and text generator; every failure is raised as a ProviderError."""

    name: str

    async def generate_image(self, *, prompt: str, size: str, index: int) -> bytes:
        """PNG bytes of one image of `size` ("WIDTHxHEIGHT")."""
        ...

    async def generate_text(self, *, prompt: str, history: Sequence[tuple[str, str]] = ()) -> str:
        """An answer to `prompt`, after the conversation's earlier (role, content) messages (a
        ScreenedText when the provider annotates its answers)."""
        ...

    async def moderate(self, *, text: str) -> str | None:
        """Why the provider's moderation would have a person review `text`, or None."""
        ...
