"""SDK exceptions (real openai types over httpx2 responses) → the provider error hierarchy."""

from __future__ import annotations

import pickle
from typing import Any

import httpx2
import openai
import pytest
from azure.core.exceptions import ClientAuthenticationError
from azure.identity import CredentialUnavailableError

from generation.providers.base import (
    ContentRejectedError,
    ProviderConfigError,
    ProviderError,
    ProviderTimeoutError,
    RateLimitedError,
    UpstreamUnavailableError,
)
from generation.providers.errors import SettingsHint, sanitize, translate

KEY = "sk-live-0123456789abcdefSECRET"
OPENAI_IMAGE = SettingsHint(
    label="OpenAI",
    credential="OPENAI_API_KEY",
    target_setting="OPENAI_IMAGE_MODEL",
    target="gpt-image-1",
    not_found_also="OPENAI_BASE_URL",
    secrets=(KEY,),
)
AZURE_IMAGE = SettingsHint(
    label="Azure OpenAI",
    credential="AZURE_OPENAI_API_KEY",
    target_setting="AZURE_OPENAI_IMAGE_DEPLOYMENT",
    target="images-prod",
    not_found_also="AZURE_OPENAI_ENDPOINT and OPENAI_API_VERSION",
)
REQUEST = httpx2.Request("POST", "https://api.openai.com/v1/images/generations")
SDK_ERRORS: dict[int, type[openai.APIStatusError]] = {
    400: openai.BadRequestError,
    401: openai.AuthenticationError,
    403: openai.PermissionDeniedError,
    404: openai.NotFoundError,
    409: openai.ConflictError,
    422: openai.UnprocessableEntityError,
    429: openai.RateLimitError,
}


def status_error(status: int, error: Any, headers: dict[str, str] | None = None) -> openai.APIStatusError:
    """The exception the SDK raises: `body` is the response's `error` object (as the client unwraps it)."""
    response = httpx2.Response(status, json={"error": error}, headers=headers or {}, request=REQUEST)
    kind = SDK_ERRORS.get(status, openai.InternalServerError if status >= 500 else openai.APIStatusError)
    return kind(f"Error code: {status}", response=response, body=error)


def openai_error(
    code: str | None, message: str = "details", type_: str = "invalid_request_error"
) -> dict[str, Any]:
    return {"message": message, "type": type_, "param": None, "code": code}


@pytest.mark.parametrize(
    "error",
    [
        openai_error("moderation_blocked", type_="image_generation_user_error"),
        openai_error("content_policy_violation"),
        {
            "code": "content_filter",
            "message": "filtered",
            "innererror": {"code": "ResponsibleAIPolicyViolation"},
        },
        {"code": "content_policy_violation", "inner_error": {"code": "ResponsibleAIPolicyViolation"}},
        {"code": "BadRequest", "message": "x", "innererror": {"code": "ResponsibleAIPolicyViolation"}},
        {"code": "contentFilter", "message": "Your task failed as a result of our safety system."},
    ],
)
def test_content_policy_refusals_are_permanent_content_rejections(error: dict[str, Any]) -> None:
    result = translate(status_error(400, error), hint=AZURE_IMAGE)
    assert isinstance(result, ContentRejectedError)
    assert result.code == "content_rejected"
    assert result.retryable is False
    assert "content policy" in str(result)


def test_rejection_is_found_in_a_body_that_was_not_unwrapped() -> None:
    response = httpx2.Response(400, request=REQUEST)
    exc = openai.BadRequestError(
        "Error code: 400", response=response, body={"error": {"code": "content_filter"}}
    )
    assert isinstance(translate(exc, hint=AZURE_IMAGE), ContentRejectedError)


def test_a_plain_bad_request_is_a_configuration_error_with_the_providers_words() -> None:
    error = openai_error("invalid_value", "Invalid value: '999x999'. Supported values are: 1024x1024.")
    result = translate(status_error(400, error), hint=OPENAI_IMAGE)
    assert isinstance(result, ProviderConfigError)
    assert result.retryable is False
    assert "OPENAI_IMAGE_MODEL 'gpt-image-1'" in str(result)
    assert "Invalid value: '999x999'" in str(result)


@pytest.mark.parametrize(
    ("headers", "expected"),
    [({"retry-after": "1"}, 1.0), ({"retry-after-ms": "250", "retry-after": "9"}, 0.25), ({}, None)],
)
def test_rate_limits_are_retryable_and_carry_the_providers_wait(
    headers: dict[str, str], expected: float | None
) -> None:
    result = translate(status_error(429, openai_error("rate_limit_exceeded"), headers), hint=OPENAI_IMAGE)
    assert isinstance(result, RateLimitedError)
    assert (result.code, result.retryable, result.retry_after) == ("rate_limited", True, expected)


def test_exhausted_quota_is_not_worth_retrying() -> None:
    result = translate(
        status_error(429, openai_error("insufficient_quota", type_="insufficient_quota")), hint=OPENAI_IMAGE
    )
    assert isinstance(result, ProviderConfigError)
    assert "quota" in str(result)


@pytest.mark.parametrize("status", [500, 502, 503, 504, 409])
def test_server_errors_are_upstream_unavailable(status: int) -> None:
    result = translate(status_error(status, openai_error(None), {"retry-after": "5"}), hint=OPENAI_IMAGE)
    assert isinstance(result, UpstreamUnavailableError)
    assert (result.code, result.retryable, result.retry_after) == ("provider_unavailable", True, 5.0)


def test_connection_errors_and_timeouts_are_transient() -> None:
    unavailable = translate(openai.APIConnectionError(request=REQUEST), hint=OPENAI_IMAGE)
    timed_out = translate(openai.APITimeoutError(request=REQUEST), hint=OPENAI_IMAGE)
    gateway_timeout = translate(status_error(408, openai_error(None)), hint=OPENAI_IMAGE)
    assert isinstance(unavailable, UpstreamUnavailableError)
    assert isinstance(timed_out, ProviderTimeoutError)
    assert isinstance(gateway_timeout, ProviderTimeoutError)
    assert (timed_out.code, timed_out.retryable) == ("timeout", True)


@pytest.mark.parametrize("status", [401, 403])
def test_rejected_credentials_name_the_setting_and_never_the_key(status: int) -> None:
    # OpenAI echoes part of a wrong key in its message; none of it may reach the job row.
    message = f"Incorrect API key provided: {KEY[:3]}*****{KEY[-4:]}. You can find your API key at ..."
    result = translate(status_error(status, openai_error("invalid_api_key", message)), hint=OPENAI_IMAGE)
    assert isinstance(result, ProviderConfigError)
    assert "OPENAI_API_KEY was rejected" in str(result)
    assert KEY not in str(result)
    assert KEY[-4:] not in str(result)


def test_unknown_model_names_the_model_setting() -> None:
    error = openai_error("model_not_found", "The model `gpt-image-9` does not exist")
    result = translate(status_error(404, error), hint=OPENAI_IMAGE)
    assert isinstance(result, ProviderConfigError)
    assert str(result) == "OPENAI_IMAGE_MODEL 'gpt-image-1' was not found by OpenAI."


def test_unknown_deployment_names_the_deployment_setting() -> None:
    result = translate(status_error(404, {"code": "DeploymentNotFound", "message": "x"}), hint=AZURE_IMAGE)
    assert str(result) == "AZURE_OPENAI_IMAGE_DEPLOYMENT 'images-prod' was not found by Azure OpenAI."


def test_a_bare_not_found_also_points_at_the_endpoint_and_version() -> None:
    result = translate(status_error(404, {"code": "404", "message": "Resource not found"}), hint=AZURE_IMAGE)
    assert "AZURE_OPENAI_IMAGE_DEPLOYMENT 'images-prod'" in str(result)
    assert "AZURE_OPENAI_ENDPOINT and OPENAI_API_VERSION" in str(result)


def test_a_filtered_answer_is_a_content_rejection() -> None:
    result = translate(openai.ContentFilterFinishReasonError(), hint=OPENAI_IMAGE)
    assert isinstance(result, ContentRejectedError)


@pytest.mark.parametrize(
    "exc", [ClientAuthenticationError("no token"), CredentialUnavailableError("no managed identity endpoint")]
)
def test_entra_id_token_failures_are_configuration_errors(exc: Exception) -> None:
    result = translate(exc, hint=AZURE_IMAGE)
    assert isinstance(result, ProviderConfigError)
    assert "AZURE_CLIENT_ID" in str(result)


def test_provider_errors_pass_through_and_unknown_errors_are_generic() -> None:
    original = RateLimitedError("slow down", retry_after=3.0)
    assert translate(original, hint=OPENAI_IMAGE) is original
    unknown = translate(RuntimeError(f"boom {KEY}"), hint=OPENAI_IMAGE)
    assert isinstance(unknown, UpstreamUnavailableError)
    assert KEY not in str(unknown)


def test_sanitize_removes_secrets_and_key_like_tokens_and_keeps_one_short_line() -> None:
    text = f"bad\nrequest  with {KEY} and sk-proj-abcdEFGH1234 " + "x" * 1000
    cleaned = sanitize(text, hint=OPENAI_IMAGE)
    assert KEY not in cleaned
    assert "sk-proj" not in cleaned
    assert "\n" not in cleaned
    assert cleaned.startswith("bad request with [redacted] and [redacted]")
    assert len(cleaned) <= 300


@pytest.mark.parametrize(
    ("error", "code", "retryable"),
    [
        (ContentRejectedError("x"), "content_rejected", False),
        (RateLimitedError("x", retry_after=2.5), "rate_limited", True),
        (UpstreamUnavailableError("x"), "provider_unavailable", True),
        (ProviderTimeoutError("x"), "timeout", True),
        (ProviderConfigError("x"), "configuration", False),
    ],
)
def test_error_classes_carry_code_and_retry_decision_and_survive_pickling(
    error: ProviderError, code: str, retryable: bool
) -> None:
    assert (error.code, error.retryable) == (code, retryable)
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is type(error)
    assert (str(copy), copy.retry_after) == (str(error), error.retry_after)
