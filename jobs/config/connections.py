"""Connection settings for Storage and Service Bus: connection strings or identity-based URIs."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from jobs.domain.errors import SettingsError

# The emulator's well-known development account (public, only valid against Azurite); this is what
# "UseDevelopmentStorage=true" means to the Azure SDKs' host.
DEV_ACCOUNT_NAME = "devstoreaccount1"
DEV_ACCOUNT_KEY = (
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)
DEVELOPMENT_STORAGE_CONNECTION_STRING = (
    "DefaultEndpointsProtocol=http;"
    f"AccountName={DEV_ACCOUNT_NAME};AccountKey={DEV_ACCOUNT_KEY};"
    f"BlobEndpoint=http://127.0.0.1:10000/{DEV_ACCOUNT_NAME};"
    f"QueueEndpoint=http://127.0.0.1:10001/{DEV_ACCOUNT_NAME};"
    f"TableEndpoint=http://127.0.0.1:10002/{DEV_ACCOUNT_NAME};"
)
_SERVICES = ("blob", "table", "queue")


def resolve_connection_string(value: str) -> str:
    """Expand the "UseDevelopmentStorage=true" shorthand the Functions host understands."""
    if value.strip().rstrip(";").replace(" ", "").lower() == "usedevelopmentstorage=true":
        return DEVELOPMENT_STORAGE_CONNECTION_STRING
    return value


@dataclass(frozen=True)
class StorageSettings:
    """App data storage: a connection string, or service URIs used with a token credential."""

    connection_string: str | None = field(default=None, repr=False)
    blob_service_uri: str | None = None
    table_service_uri: str | None = None
    queue_service_uri: str | None = None
    # Whether the SDK clients read proxies from the environment. When they do, aiohttp looks the
    # proxy up (and reads ~/.netrc) in a worker thread for every call, about a quarter of an
    # accept's CPU; so it is on only when a proxy is configured.
    env_proxies: bool = True

    @property
    def uses_identity(self) -> bool:
        return self.connection_string is None


def _service_uri(name: str, value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("https", "http") or not parts.netloc:
        raise SettingsError(f"{name} must be an http(s) URL, got {value!r}")
    return value.rstrip("/")


def proxy_configured(env: Mapping[str, str]) -> bool:
    """Whether the environment names a proxy the way urllib reads one (`http_proxy`, `HTTPS_PROXY`, ...)."""
    return any(key.lower().endswith("_proxy") and key.lower() != "no_proxy" and env[key] for key in env)


def load_storage_settings(env: Mapping[str, str], *, prefix: str, need_queue: bool) -> StorageSettings:
    """Read `prefix` as Azure Functions does: a connection string or `prefix__<service>ServiceUri`."""
    connection = env.get(prefix)
    if connection:
        return StorageSettings(
            connection_string=resolve_connection_string(connection), env_proxies=proxy_configured(env)
        )
    uris = {service: env.get(f"{prefix}__{service}ServiceUri") for service in _SERVICES}
    account = env.get(f"{prefix}__accountName")
    if account:
        # Functions derives the public-cloud endpoints from the account name the same way.
        for service in _SERVICES:
            uris[service] = uris[service] or f"https://{account}.{service}.core.windows.net"
    if not any(uris.values()):
        raise SettingsError(
            f"{prefix} is not set (a connection string, or {prefix}__blobServiceUri, "
            f"{prefix}__tableServiceUri and {prefix}__queueServiceUri for a managed identity)"
        )
    needed = [s for s in _SERVICES if s != "queue" or need_queue]
    missing = [f"{prefix}__{s}ServiceUri" for s in needed if not uris[s]]
    if missing:
        raise SettingsError(f"{', '.join(missing)} is not set (identity-based {prefix} needs it)")
    return StorageSettings(
        blob_service_uri=_service_uri(f"{prefix}__blobServiceUri", uris["blob"] or ""),
        table_service_uri=_service_uri(f"{prefix}__tableServiceUri", uris["table"] or ""),
        queue_service_uri=(
            _service_uri(f"{prefix}__queueServiceUri", uris["queue"]) if uris["queue"] else None
        ),
        env_proxies=proxy_configured(env),
    )


@dataclass(frozen=True)
class ServiceBusSettings:
    """A Service Bus connection string, or a fully qualified namespace used with a token credential."""

    connection_string: str | None = field(default=None, repr=False)
    fully_qualified_namespace: str | None = None


def load_service_bus_settings(env: Mapping[str, str], *, prefix: str) -> ServiceBusSettings | None:
    connection = env.get(prefix)
    if connection:
        return ServiceBusSettings(connection_string=connection)
    namespace = env.get(f"{prefix}__fullyQualifiedNamespace")
    if namespace:
        # Accept "sb://name.servicebus.windows.net/" as well as the bare host name.
        host = urlsplit(namespace).netloc if "://" in namespace else namespace.strip("/")
        if not host:
            raise SettingsError(f"{prefix}__fullyQualifiedNamespace is not a host name: {namespace!r}")
        return ServiceBusSettings(fully_qualified_namespace=host)
    return None
