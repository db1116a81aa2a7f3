"""The one boundary where SDK exceptions become ProviderErrors, and the reading of a provider's "come
back later" hint from response headers."""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import openai
from azure.core.exceptions import ClientAuthenticationError, ServiceRequestError

from generation.providers.base import (
    CONTENT_REJECTED_MESSAGE,
    ContentRejectedError,
    ProviderConfigError,
    ProviderError,
    ProviderTimeoutError,
    RateLimitedError,
    UpstreamUnavailableError,
)

REJECTION_CODES = frozenset(
    {"moderation_blocked", "content_policy_violation", "content_filter", "contentfilter"}
)
AZURE_POLICY_CODE = "ResponsibleAIPolicyViolation"
_NOT_FOUND_CODES = frozenset({"model_not_found", "DeploymentNotFound"})
_MAX_DETAIL_CHARS = 300
# Keys that look like OpenAI keys, even when the provider echoes them half-masked.
_KEY_PATTERN = re.compile(r"\b(?:sk|pk|rk)-[A-Za-z0-9_*.\-]{4,}")


@dataclass(frozen=True)
class SettingsHint:
    """Which settings a failure points at, so the message can name them (never their values)."""

    label: str  # "OpenAI", "Azure OpenAI"
    credential: str  # "OPENAI_API_KEY", or how an Entra ID token was obtained
    target_setting: str  # "OPENAI_IMAGE_MODEL", "AZURE_OPENAI_TEXT_DEPLOYMENT"
    target: str  # the model or deployment name
    not_found_also: str = ""  # other settings that can cause a 404 (endpoint, API version)
    auth_advice: str = ""  # a sentence on fixing a rejected credential
    secrets: tuple[str, ...] = field(default=(), repr=False)


def translate(exc: BaseException, *, hint: SettingsHint) -> ProviderError:
    """The ProviderError for an exception raised while calling a provider."""
    if isinstance(exc, ProviderError):
        return exc
    if isinstance(exc, openai.APIStatusError):
        return _from_status(exc, hint=hint)
    # Order matters: APITimeoutError is an APIConnectionError, every SDK error an OpenAIError.
    for kind, build in _BY_TYPE:
        if isinstance(exc, kind):
            return build(exc, hint)
    return UpstreamUnavailableError(f"Unexpected {type(exc).__name__} while calling {hint.label}.")


_BY_TYPE: tuple[tuple[type[BaseException], Callable[[BaseException, SettingsHint], ProviderError]], ...] = (
    (openai.APITimeoutError, lambda _, hint: ProviderTimeoutError(f"{hint.label} did not answer in time.")),
    (openai.APIConnectionError, lambda _, hint: UpstreamUnavailableError(f"Could not reach {hint.label}.")),
    (openai.ContentFilterFinishReasonError, lambda _, hint: ContentRejectedError(CONTENT_REJECTED_MESSAGE)),
    (
        ClientAuthenticationError,
        lambda _, hint: ProviderConfigError(
            f"Could not get a Microsoft Entra ID token for {hint.label}; check the managed identity "
            "and AZURE_CLIENT_ID, or set AZURE_OPENAI_API_KEY."
        ),
    ),
    (
        ServiceRequestError,
        lambda _, hint: UpstreamUnavailableError(f"Could not reach the identity endpoint for {hint.label}."),
    ),
    (
        openai.OpenAIError,
        lambda exc, hint: ProviderConfigError(f"{hint.label} client error: {sanitize(str(exc), hint=hint)}"),
    ),
)


def _from_status(exc: openai.APIStatusError, *, hint: SettingsHint) -> ProviderError:
    status = exc.status_code
    if 400 <= status < 500 and is_content_rejection(exc):
        return ContentRejectedError(CONTENT_REJECTED_MESSAGE)
    if status == 429:
        return _rate_limited(exc, hint=hint)
    if status in (401, 403):
        advice = f" {hint.auth_advice}" if hint.auth_advice else ""
        return ProviderConfigError(f"{hint.credential} was rejected by {hint.label} (HTTP {status}).{advice}")
    if status == 404:
        # A named unknown model/deployment is certain; a bare 404 may also be a wrong URL or version.
        known = exc.code in _NOT_FOUND_CODES or not hint.not_found_also
        also = "" if known else f" (check also {hint.not_found_also})"
        return ProviderConfigError(
            f"{hint.target_setting} '{hint.target}' was not found by {hint.label}{also}."
        )
    return _other_status(exc, hint=hint)


def _rate_limited(exc: openai.APIStatusError, *, hint: SettingsHint) -> ProviderError:
    if exc.code == "insufficient_quota":
        # OpenAI answers 429 for an exhausted budget too, but waiting will not refill it.
        return ProviderConfigError(f"The {hint.label} account has no quota left; check its plan and billing.")
    retry_after = parse_retry_after(exc.response.headers)
    error = RateLimitedError(f"{hint.label} is rate limiting requests.", retry_after=retry_after)
    error.limits = parse_rate_limits(exc.response.headers)
    return error


def _other_status(exc: openai.APIStatusError, *, hint: SettingsHint) -> ProviderError:
    status = exc.status_code
    if status == 408:
        return ProviderTimeoutError(f"{hint.label} did not answer in time.")
    if status == 409 or status >= 500:
        retry_after = parse_retry_after(exc.response.headers)
        return UpstreamUnavailableError(
            f"{hint.label} is unavailable (HTTP {status}).", retry_after=retry_after
        )
    detail = sanitize(_provider_message(exc), hint=hint)
    return ProviderConfigError(
        f"{hint.label} refused the request for {hint.target_setting} '{hint.target}' "
        f"(HTTP {status}): {detail}"
    )


def is_content_rejection(exc: openai.APIStatusError) -> bool:
    """True when the error body says a content policy blocked the request."""
    codes = {exc.code}
    body = exc.body
    if isinstance(body, Mapping):
        nested = body.get("error")
        for part in (body, nested if isinstance(nested, Mapping) else {}):
            codes.add(_text(part.get("code")))
            inner = part.get("innererror")
            if isinstance(inner, Mapping) and inner.get("code") == AZURE_POLICY_CODE:
                return True
    return any(code and code.lower() in REJECTION_CODES for code in codes)


def sanitize(text: str, *, hint: SettingsHint) -> str:
    """Provider text made safe to store: known secrets and key-like tokens removed, one short line."""
    for secret in hint.secrets:
        if secret:
            text = text.replace(secret, "[redacted]")
    text = _KEY_PATTERN.sub("[redacted]", text)
    text = " ".join(text.split())
    if len(text) > _MAX_DETAIL_CHARS:
        text = text[: _MAX_DETAIL_CHARS - 1].rstrip() + "…"
    return text or "no details given"


def _provider_message(exc: openai.APIStatusError) -> str:
    body = exc.body
    if isinstance(body, Mapping):
        message = body.get("message")
        if isinstance(message, str):
            return message
    if isinstance(body, str):
        return body
    return ""


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


# OpenAI writes resets as Go durations: "1s", "6m0s", "20ms", "1h2m3.5s".
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|h|m|s)")
_UNIT_SECONDS = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}


def parse_retry_after(headers: Mapping[str, str], *, now: datetime | None = None) -> float | None:
    """Seconds to wait, from `retry-after-ms`, `retry-after` (seconds or HTTP date) or the
    `x-ratelimit-reset-*` header of an exhausted limit; None when the provider gave no hint."""
    lowered = {key.lower(): value.strip() for key, value in headers.items()}
    millis = _number(lowered.get("retry-after-ms"))
    if millis is not None:
        return millis / 1000.0
    retry_after = lowered.get("retry-after")
    if retry_after:
        seconds = _number(retry_after)
        if seconds is None:
            seconds = _seconds_until(retry_after, now=now or datetime.now(UTC))
        if seconds is not None:
            return seconds
    return _exhausted_limit_reset(lowered)


def parse_rate_limits(headers: Mapping[str, str]) -> dict[str, float]:
    """The per-minute limits named by `x-ratelimit-limit-requests`, `-tokens` and `-images`."""
    lowered = {key.lower(): value for key, value in headers.items()}
    limits: dict[str, float] = {}
    for name in ("requests", "tokens", "images"):
        value = _number(lowered.get(f"x-ratelimit-limit-{name}"))
        if value:
            limits[name] = value
    return limits


def parse_duration(text: str) -> float | None:
    """Seconds in a Go-style duration ("6m0s", "20ms", "1.5s"); None if it is not one."""
    text = text.strip()
    parts = _DURATION_PART.findall(text)
    if not parts or "".join(number + unit for number, unit in parts) != text:
        return _number(text)
    return sum(float(number) * _UNIT_SECONDS[unit] for number, unit in parts)


def _exhausted_limit_reset(headers: Mapping[str, str]) -> float | None:
    waits = [
        parse_duration(headers.get(f"x-ratelimit-reset-{limit}", ""))
        for limit in ("requests", "tokens")
        if headers.get(f"x-ratelimit-remaining-{limit}") == "0"
    ]
    known = [wait for wait in waits if wait is not None]
    return max(known) if known else None


def _number(text: str | None) -> float | None:
    if not text:
        return None
    try:
        value = float(text)
    except ValueError:
        return None
    if not math.isfinite(value):
        return None
    return max(value, 0.0)


def _seconds_until(http_date: str, *, now: datetime) -> float | None:
    try:
        when = parsedate_to_datetime(http_date)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max((when - now).total_seconds(), 0.0)
