"""One typed settings object, read from the environment when the services are built, failing fast by name."""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from jobs.config.connections import (
    ServiceBusSettings,
    StorageSettings,
    load_service_bus_settings,
    load_storage_settings,
)
from jobs.domain.errors import SettingsError
from jobs.domain.limiter_rules import TOKENS_PER_TEXT_CALL, LimiterConfig
from jobs.domain.models import JobKind
from jobs.names import DEFAULT_QUEUE_NAME
from jobs.tables.quotas import QuotaLimits

PROVIDERS = ("offline", "openai", "azure_openai")
DEFAULT_IMAGE_MODEL = "gpt-image-1"
DEFAULT_TEXT_MODEL = "gpt-4o-mini"
DEFAULT_OPENAI_API_VERSION = "2025-04-01-preview"
QUEUE_KINDS = ("storage", "servicebus")
REVIEW_MODES = ("off", "flagged", "all")
# Providers whose rate limit is learned (from 429s and rate-limit headers) when none is configured.
LEARNING_PROVIDERS = ("openai", "azure_openai")
# A user-delegation key (and so any SAS signed with it) lives at most 7 days.
MAX_IMAGE_URL_TTL_HOURS = 168
# The in-flight job ids of a user live in one Table property (at most 32,768 UTF-16 units).
MAX_JOBS_IN_FLIGHT = 500
# Storage queue naming rules, leaving room for the "-poison" suffix the host adds.
_STORAGE_QUEUE_NAME = re.compile(r"^(?=.{3,56}$)[a-z0-9]+(?:-[a-z0-9]+)*$")


@dataclass(frozen=True)
class Settings:
    """Every setting the app reads (the README's "Configuration" table); secrets are kept out of repr()."""

    storage: StorageSettings
    provider: str = "offline"
    openai_api_key: str | None = field(default=None, repr=False)
    openai_base_url: str | None = None
    openai_image_model: str = DEFAULT_IMAGE_MODEL
    openai_text_model: str = DEFAULT_TEXT_MODEL
    azure_openai_endpoint: str | None = None
    azure_openai_api_key: str | None = field(default=None, repr=False)
    openai_api_version: str = DEFAULT_OPENAI_API_VERSION
    azure_openai_image_deployment: str | None = None
    azure_openai_text_deployment: str | None = None
    azure_client_id: str | None = None
    line_channel_secret: str | None = field(default=None, repr=False)
    line_channel_access_token: str | None = field(default=None, repr=False)
    line_api_host: str | None = None
    line_default_kind: JobKind = JobKind.IMAGE
    line_reply_token_ttl_seconds: int = 50
    line_image_url_ttl_hours: int = 168
    offline_latency_ms: int = 0
    generation_deadline_seconds: int = 600
    job_retention_days: int = 30
    conversation_max_tokens: int = 4000
    conversation_max_turns: int = 20
    review_mode: str = "off"
    review_terms: tuple[str, ...] = ()
    review_timeout_seconds: int = 86400
    queue_kind: str = "storage"
    queue_name: str = DEFAULT_QUEUE_NAME
    servicebus: ServiceBusSettings | None = None
    trust_forwarded_headers: bool = True
    easy_auth_enabled: bool = False
    quota_jobs_in_flight: int | None = None
    quota_images_per_day: int | None = None
    provider_images_per_minute: int | None = None
    provider_requests_per_minute: int | None = None
    provider_tokens_per_minute: int | None = None
    callback_signing_secret: str | None = field(default=None, repr=False)
    callback_allow_loopback_http: bool = False
    telemetry_exporter: str = "none"
    # Derived once from the fields above: the shared limiter each kind's calls go through; a kind
    # that is missing is not paced (the offline provider without limits).
    limiters: Mapping[JobKind, LimiterConfig] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        limiters = {kind: config for kind in JobKind if (config := _limiter(self, kind)) is not None}
        object.__setattr__(self, "limiters", limiters)

    @property
    def quota_limits(self) -> QuotaLimits:
        return QuotaLimits(jobs_in_flight=self.quota_jobs_in_flight, images_per_day=self.quota_images_per_day)

    @property
    def servicebus_connection(self) -> str | None:
        return self.servicebus.connection_string if self.servicebus else None

    def require_servicebus(self) -> ServiceBusSettings:
        if self.servicebus is None:
            raise SettingsError(
                "ServiceBusConnection is not set (a connection string, or "
                "ServiceBusConnection__fullyQualifiedNamespace for a managed identity)"
            )
        return self.servicebus


def _limiter(settings: Settings, kind: JobKind) -> LimiterConfig | None:
    """The limiter for `kind` on the configured provider: the lowest configured rate, or a learned one."""
    rates: list[float] = []
    if settings.provider_requests_per_minute is not None:
        rates.append(settings.provider_requests_per_minute)
    if kind is JobKind.IMAGE and settings.provider_images_per_minute is not None:
        rates.append(settings.provider_images_per_minute)
    if kind is JobKind.TEXT and settings.provider_tokens_per_minute is not None:
        rates.append(settings.provider_tokens_per_minute / TOKENS_PER_TEXT_CALL)
    configured = min(rates) if rates else None
    learn = configured is None and settings.provider in LEARNING_PROVIDERS
    if configured is None and not learn:
        return None
    return LimiterConfig(key=_limiter_key(settings, kind), configured=configured, learn=learn)


def _limiter_key(settings: Settings, kind: JobKind) -> str:
    """Limits belong to an account's model (OpenAI) or a deployment (Azure OpenAI): one record each."""
    if settings.provider == "azure_openai":
        target = settings.azure_openai_image_deployment if kind is JobKind.IMAGE else (
            settings.azure_openai_text_deployment)
        where = f"{settings.azure_openai_endpoint}|{target}"
    elif settings.provider == "openai":
        model = settings.openai_image_model if kind is JobKind.IMAGE else settings.openai_text_model
        where = f"{settings.openai_base_url or 'api.openai.com'}|{model}"
    else:
        where = settings.provider
    digest = hashlib.sha256(where.encode()).hexdigest()[:16]
    return f"{settings.provider}-{kind.value}-{digest}"


def _int(env: Mapping[str, str], name: str, default: int, *, low: int, high: int | None = None) -> int:
    raw = env.get(name)
    if raw is None:
        return default
    text = raw.strip()
    bounds = f">= {low}" if high is None else f"between {low} and {high}"
    # int() would also take "1_000" and " +5"; settings are plain decimal digits.
    if not text.lstrip("-").isdigit() or not text.isascii():
        raise SettingsError(f"{name} must be an integer {bounds}, got {raw!r}")
    value = int(text)
    if value < low or (high is not None and value > high):
        raise SettingsError(f"{name} must be an integer {bounds}, got {raw!r}")
    return value


def _flag(env: Mapping[str, str], name: str) -> bool:
    """On unless set to an explicit "off" word (a typo must not quietly turn a feature off)."""
    return env.get(name, "true").strip().lower() not in ("false", "0", "no", "off")


def _optional_int(env: Mapping[str, str], name: str, *, low: int, high: int) -> int | None:
    """An optional limit: unset (or empty) means none."""
    return _int(env, name, 0, low=low, high=high) if name in env else None


def _choice(env: Mapping[str, str], name: str, default: str, choices: tuple[str, ...]) -> str:
    value = (env.get(name) or default).strip().lower()
    if value not in choices:
        raise SettingsError(f"{name} must be one of {', '.join(choices)}, got {env.get(name)!r}")
    return value


def _callback_secret(env: Mapping[str, str]) -> str | None:
    """A Standard Webhooks secret, `whsec_` and base64 (the error message never quotes it)."""
    secret = env.get("CALLBACK_SIGNING_SECRET")
    if secret is None:
        return None
    try:
        key = base64.b64decode(secret.strip().removeprefix("whsec_"), validate=True)
    except (binascii.Error, ValueError):
        key = b""
    if not secret.strip().startswith("whsec_") or len(key) < 24:
        raise SettingsError(
            "CALLBACK_SIGNING_SECRET must be 'whsec_' followed by base64 of at least 24 random bytes"
        )
    return secret.strip()


def _loopback_http(env: Mapping[str, str]) -> bool:
    """Plain-HTTP callbacks to this machine, for local development: off unless asked, refused on Azure."""
    wanted = env.get("CALLBACK_ALLOW_LOOPBACK_HTTP", "").strip().lower() in ("true", "1")
    if wanted and "WEBSITE_INSTANCE_ID" in env:
        raise SettingsError("CALLBACK_ALLOW_LOOPBACK_HTTP is for local development and cannot be on in Azure")
    return wanted


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Read and validate every setting; SettingsError names the first one missing or invalid."""
    source = os.environ if environ is None else environ
    # An empty value (as in local.settings.json.sample) means "not set".
    env = {key: value for key, value in source.items() if value.strip()}
    queue_kind = _choice(env, "JOBS_QUEUE_KIND", "storage", QUEUE_KINDS)
    settings = Settings(
        storage=load_storage_settings(env, prefix="GENERATION_STORAGE", need_queue=queue_kind == "storage"),
        provider=_choice(env, "GENERATION_PROVIDER", "offline", PROVIDERS),
        openai_api_key=env.get("OPENAI_API_KEY"),
        openai_base_url=env.get("OPENAI_BASE_URL"),
        openai_image_model=env.get("OPENAI_IMAGE_MODEL", DEFAULT_IMAGE_MODEL),
        openai_text_model=env.get("OPENAI_TEXT_MODEL", DEFAULT_TEXT_MODEL),
        azure_openai_endpoint=env.get("AZURE_OPENAI_ENDPOINT"),
        azure_openai_api_key=env.get("AZURE_OPENAI_API_KEY"),
        openai_api_version=env.get("OPENAI_API_VERSION", DEFAULT_OPENAI_API_VERSION),
        azure_openai_image_deployment=env.get("AZURE_OPENAI_IMAGE_DEPLOYMENT"),
        azure_openai_text_deployment=env.get("AZURE_OPENAI_TEXT_DEPLOYMENT"),
        azure_client_id=env.get("AZURE_CLIENT_ID"),
        line_channel_secret=env.get("LINE_CHANNEL_SECRET"),
        line_channel_access_token=env.get("LINE_CHANNEL_ACCESS_TOKEN"),
        line_api_host=env.get("LINE_API_HOST"),
        line_default_kind=JobKind(_choice(env, "LINE_DEFAULT_KIND", "image", tuple(JobKind))),
        line_reply_token_ttl_seconds=_int(env, "LINE_REPLY_TOKEN_TTL_SECONDS", 50, low=1),
        line_image_url_ttl_hours=_int(
            env, "LINE_IMAGE_URL_TTL_HOURS", 168, low=1, high=MAX_IMAGE_URL_TTL_HOURS
        ),
        offline_latency_ms=_int(env, "OFFLINE_LATENCY_MS", 0, low=0),
        generation_deadline_seconds=_int(env, "GENERATION_DEADLINE_SECONDS", 600, low=1),
        job_retention_days=_int(env, "JOB_RETENTION_DAYS", 30, low=1),
        conversation_max_tokens=_int(env, "CONVERSATION_MAX_TOKENS", 4000, low=1, high=10**7),
        conversation_max_turns=_int(env, "CONVERSATION_MAX_TURNS", 20, low=0, high=1000),
        review_mode=_choice(env, "REVIEW_MODE", "off", REVIEW_MODES),
        review_terms=_terms(env.get("REVIEW_TERMS", "")),
        # Durable timers may be long; 30 days keeps a forgotten review from outliving the job's retention.
        review_timeout_seconds=_int(env, "REVIEW_TIMEOUT_SECONDS", 86400, low=1, high=30 * 86400),
        queue_kind=queue_kind,
        queue_name=env.get("JOBS_QUEUE_NAME", DEFAULT_QUEUE_NAME),
        servicebus=load_service_bus_settings(env, prefix="ServiceBusConnection"),
        # Status URLs believe X-Forwarded-Proto/-Host; "false" when clients can bypass the front door.
        trust_forwarded_headers=_flag(env, "TRUST_FORWARDED_HEADERS"),
        # App Service sets this when its Authentication (Easy Auth) is on; only then are the
        # X-MS-CLIENT-PRINCIPAL-* headers the platform's rather than whatever a client sent.
        easy_auth_enabled=env.get("WEBSITE_AUTH_ENABLED", "").strip().lower() in ("true", "1"),
        quota_jobs_in_flight=_optional_int(env, "QUOTA_JOBS_IN_FLIGHT", low=1, high=MAX_JOBS_IN_FLIGHT),
        quota_images_per_day=_optional_int(env, "QUOTA_IMAGES_PER_DAY", low=1, high=10**9),
        provider_images_per_minute=_optional_int(env, "PROVIDER_IMAGES_PER_MINUTE", low=1, high=10**6),
        provider_requests_per_minute=_optional_int(env, "PROVIDER_REQUESTS_PER_MINUTE", low=1, high=10**6),
        provider_tokens_per_minute=_optional_int(env, "PROVIDER_TOKENS_PER_MINUTE", low=1, high=10**9),
        callback_signing_secret=_callback_secret(env),
        callback_allow_loopback_http=_loopback_http(env),
        telemetry_exporter=_telemetry_exporter(env),
    )
    if queue_kind == "servicebus":
        settings.require_servicebus()
    elif not _STORAGE_QUEUE_NAME.match(settings.queue_name):
        raise SettingsError(
            f"JOBS_QUEUE_NAME must be 3-56 lowercase letters, digits and single hyphens, "
            f"got {settings.queue_name!r}"
        )
    return settings


def _terms(value: str) -> tuple[str, ...]:
    """REVIEW_TERMS: comma-separated, matched case-insensitively (empty entries dropped)."""
    return tuple(term.strip().casefold() for term in value.split(",") if term.strip())


def _telemetry_exporter(env: Mapping[str, str]) -> str:
    value = env.get("TELEMETRY_EXPORTER", "none").strip()
    if value in ("none", "console", "azure-monitor") or (value.startswith("file:") and value != "file:"):
        return value
    raise SettingsError(
        f"TELEMETRY_EXPORTER must be none, console, azure-monitor or file:<path>, got {value!r}"
    )
