"""Settings: defaults, validation that names the setting, identity-based connections."""

from __future__ import annotations

import pytest

from devhost.azurite import CONNECTION_STRING as AZURITE_CONNECTION_STRING
from jobs.config.connections import DEVELOPMENT_STORAGE_CONNECTION_STRING
from jobs.config.settings import load_settings
from jobs.domain.errors import SettingsError
from jobs.domain.models import JobKind

LOCAL = {"GENERATION_STORAGE": "UseDevelopmentStorage=true"}
IDENTITY = {
    "GENERATION_STORAGE__blobServiceUri": "https://acct.blob.core.windows.net/",
    "GENERATION_STORAGE__tableServiceUri": "https://acct.table.core.windows.net",
    "GENERATION_STORAGE__queueServiceUri": "https://acct.queue.core.windows.net",
}


def test_quotas_are_read_and_empty_means_unlimited() -> None:
    settings = load_settings({**LOCAL, "QUOTA_JOBS_IN_FLIGHT": "5", "QUOTA_IMAGES_PER_DAY": " "})
    assert (settings.quota_limits.jobs_in_flight, settings.quota_limits.images_per_day) == (5, None)


def test_defaults() -> None:
    settings = load_settings(LOCAL)
    assert settings.provider == "offline"
    assert settings.openai_image_model == "gpt-image-1"
    assert settings.openai_text_model == "gpt-4o-mini"
    assert settings.line_default_kind is JobKind.IMAGE
    assert settings.line_reply_token_ttl_seconds == 50
    assert settings.line_image_url_ttl_hours == 168
    assert settings.offline_latency_ms == 0
    assert settings.generation_deadline_seconds == 600
    assert settings.job_retention_days == 30
    assert settings.queue_kind == "storage"
    assert settings.queue_name == "generation-jobs"
    assert settings.servicebus is None
    assert settings.quota_jobs_in_flight is None and settings.quota_images_per_day is None
    assert settings.quota_limits.unlimited


def test_use_development_storage_is_the_azurite_account() -> None:
    settings = load_settings(LOCAL)
    assert settings.storage.connection_string == DEVELOPMENT_STORAGE_CONNECTION_STRING
    assert DEVELOPMENT_STORAGE_CONNECTION_STRING == AZURITE_CONNECTION_STRING
    assert not settings.storage.uses_identity


@pytest.mark.parametrize(
    ("proxies", "expected"),
    [
        ({}, False),
        ({"NO_PROXY": "localhost"}, False),
        ({"HTTPS_PROXY": ""}, False),
        ({"https_proxy": "http://proxy:3128"}, True),
        ({"HTTP_PROXY": "http://proxy:3128"}, True),
        ({"ALL_PROXY": "http://proxy:3128"}, True),
    ],
)
def test_sdk_clients_read_proxies_from_the_environment_only_when_one_is_set(
    proxies: dict[str, str], expected: bool
) -> None:
    assert load_settings({**LOCAL, **proxies}).storage.env_proxies is expected
    assert load_settings({**IDENTITY, **proxies}).storage.env_proxies is expected


def test_values_are_read_and_empty_values_mean_unset() -> None:
    settings = load_settings(
        {
            **LOCAL,
            "GENERATION_PROVIDER": "OpenAI",
            "OPENAI_API_KEY": "sk-test",
            "OPENAI_BASE_URL": "",
            "OFFLINE_LATENCY_MS": "1500",
            "LINE_DEFAULT_KIND": "text",
            "JOBS_QUEUE_NAME": "other-jobs",
        }
    )
    assert settings.provider == "openai"
    assert settings.openai_base_url is None
    assert settings.offline_latency_ms == 1500
    assert settings.line_default_kind is JobKind.TEXT
    assert settings.queue_name == "other-jobs"


def test_missing_storage_names_generation_storage() -> None:
    with pytest.raises(SettingsError, match="GENERATION_STORAGE is not set"):
        load_settings({})


def test_identity_based_storage_uses_service_uris() -> None:
    storage = load_settings(IDENTITY).storage
    assert storage.uses_identity
    assert storage.connection_string is None
    assert storage.blob_service_uri == "https://acct.blob.core.windows.net"
    assert storage.table_service_uri == "https://acct.table.core.windows.net"
    assert storage.queue_service_uri == "https://acct.queue.core.windows.net"


def test_account_name_derives_the_service_uris() -> None:
    storage = load_settings({"GENERATION_STORAGE__accountName": "acct"}).storage
    assert storage.table_service_uri == "https://acct.table.core.windows.net"


def test_incomplete_identity_storage_names_the_missing_uri() -> None:
    partial = {key: value for key, value in IDENTITY.items() if "table" not in key}
    with pytest.raises(SettingsError, match="GENERATION_STORAGE__tableServiceUri"):
        load_settings(partial)


def test_service_bus_queue_does_not_need_a_storage_queue_uri() -> None:
    env = {key: value for key, value in IDENTITY.items() if "queue" not in key}
    env |= {
        "JOBS_QUEUE_KIND": "servicebus",
        "ServiceBusConnection__fullyQualifiedNamespace": "sb://ns.servicebus.windows.net/",
    }
    settings = load_settings(env)
    assert settings.queue_kind == "servicebus"
    assert settings.servicebus is not None
    assert settings.servicebus.fully_qualified_namespace == "ns.servicebus.windows.net"
    assert settings.servicebus_connection is None


def test_service_bus_queue_without_a_connection_names_the_setting() -> None:
    with pytest.raises(SettingsError, match="ServiceBusConnection"):
        load_settings({**LOCAL, "JOBS_QUEUE_KIND": "servicebus"})


def test_bad_service_uri_is_named() -> None:
    with pytest.raises(SettingsError, match="GENERATION_STORAGE__blobServiceUri"):
        load_settings({**IDENTITY, "GENERATION_STORAGE__blobServiceUri": "acct.blob"})


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("OFFLINE_LATENCY_MS", "fast"),
        ("OFFLINE_LATENCY_MS", "-1"),
        ("GENERATION_DEADLINE_SECONDS", "0"),
        ("GENERATION_DEADLINE_SECONDS", "1.5"),
        ("JOB_RETENTION_DAYS", "1_000"),
        ("LINE_REPLY_TOKEN_TTL_SECONDS", "abc"),
        ("LINE_IMAGE_URL_TTL_HOURS", "169"),
        ("QUOTA_JOBS_IN_FLIGHT", "0"),
        ("QUOTA_JOBS_IN_FLIGHT", "501"),
        ("QUOTA_IMAGES_PER_DAY", "ten"),
    ],
)
def test_bad_integers_name_the_setting_and_value(name: str, value: str) -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings({**LOCAL, name: value})
    assert name in str(caught.value)
    assert repr(value) in str(caught.value)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("GENERATION_PROVIDER", "anthropic"),
        ("JOBS_QUEUE_KIND", "kafka"),
        ("LINE_DEFAULT_KIND", "video"),
        ("JOBS_QUEUE_NAME", "Bad_Name"),
    ],
)
def test_bad_choices_name_the_setting(name: str, value: str) -> None:
    with pytest.raises(SettingsError, match=name):
        load_settings({**LOCAL, name: value})


def test_secrets_stay_out_of_repr() -> None:
    secrets = {
        "OPENAI_API_KEY": "sk-secret",
        "LINE_CHANNEL_SECRET": "line-secret",
        "AZURE_OPENAI_API_KEY": "az",
    }
    settings = load_settings({**LOCAL, **secrets})
    text = repr(settings)
    for secret in ("sk-secret", "line-secret", "AccountKey", "Eby8vdM0"):
        assert secret not in text


@pytest.mark.parametrize(("value", "expected"), [
    (None, True), ("", True), ("true", True), ("TRUE", True), ("false", False), ("0", False), ("off", False),
])
def test_trust_forwarded_headers_is_on_unless_switched_off(value: str | None, expected: bool) -> None:
    env = LOCAL if value is None else {**LOCAL, "TRUST_FORWARDED_HEADERS": value}
    assert load_settings(env).trust_forwarded_headers is expected


def test_callback_settings_are_off_by_default() -> None:
    settings = load_settings(LOCAL)
    assert settings.callback_signing_secret is None
    assert settings.callback_allow_loopback_http is False


def test_a_callback_secret_in_the_standard_webhooks_form_is_read_and_kept_out_of_repr() -> None:
    secret = "whsec_" + "dGVzdC1vbmx5LWNhbGxiYWNrLXNlY3JldC1kdW1teQ=="
    settings = load_settings({**LOCAL, "CALLBACK_SIGNING_SECRET": secret})
    assert settings.callback_signing_secret == secret
    assert secret not in repr(settings)


@pytest.mark.parametrize("secret", [
    "plain-text", "whsec_not base64!", "whsec_c2hvcnQ=", "dGVzdC1vbmx5LWNhbGxiYWNrLXNlY3JldC1kdW1teQ==",
])
def test_a_malformed_callback_secret_is_named_without_quoting_it(secret: str) -> None:
    with pytest.raises(SettingsError, match="CALLBACK_SIGNING_SECRET") as refused:
        load_settings({**LOCAL, "CALLBACK_SIGNING_SECRET": secret})
    assert secret not in str(refused.value)


def test_loopback_http_callbacks_are_for_local_runs_only() -> None:
    assert load_settings({**LOCAL, "CALLBACK_ALLOW_LOOPBACK_HTTP": "true"}).callback_allow_loopback_http
    with pytest.raises(SettingsError, match="CALLBACK_ALLOW_LOOPBACK_HTTP"):
        load_settings({**LOCAL, "CALLBACK_ALLOW_LOOPBACK_HTTP": "true", "WEBSITE_INSTANCE_ID": "abc123"})
