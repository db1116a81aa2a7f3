"""What `build_services` makes for each kind of settings (no request to any service)."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from azure.identity.aio import DefaultAzureCredential

from jobs.config.connections import DEV_ACCOUNT_KEY, DEV_ACCOUNT_NAME
from jobs.config.settings import load_settings
from jobs.queues.servicebus import ServiceBusJobQueue
from jobs.queues.storage import StorageJobQueue
from jobs.services import build_credential, build_services

IDENTITY = {
    "GENERATION_STORAGE__blobServiceUri": "https://acct.blob.core.windows.net",
    "GENERATION_STORAGE__tableServiceUri": "https://acct.table.core.windows.net",
    "GENERATION_STORAGE__queueServiceUri": "https://acct.queue.core.windows.net",
}


async def test_connection_string_settings_sign_with_the_account_key() -> None:
    async with build_services(load_settings({"GENERATION_STORAGE": "UseDevelopmentStorage=true"})) as built:
        assert isinstance(built.queue, StorageJobQueue)
        # Signed locally with the key (no request; past the 7 days a delegation key allows).
        url = await built.outputs.url_for("job-1/0.png", ttl=timedelta(days=8))
    assert url.startswith(f"http://127.0.0.1:10000/{DEV_ACCOUNT_NAME}/outputs/job-1/0.png?")
    query = parse_qs(urlsplit(url).query)
    assert query["sp"] == ["r"] and query["sig"]
    assert DEV_ACCOUNT_KEY not in url


async def test_identity_settings_sign_with_a_user_delegation_key() -> None:
    async with build_services(load_settings(IDENTITY)) as built:
        assert isinstance(built.queue, StorageJobQueue)
        # Only a user-delegation signer refuses this, and before any request is made.
        with pytest.raises(ValueError, match="user-delegation SAS cannot outlive its 7-day key"):
            await built.outputs.url_for("job-1/0.png", ttl=timedelta(days=8))


async def test_service_bus_settings_make_a_service_bus_queue() -> None:
    env = {
        **IDENTITY,
        "JOBS_QUEUE_KIND": "servicebus",
        "ServiceBusConnection__fullyQualifiedNamespace": "ns.servicebus.windows.net",
    }
    bundle = build_services(load_settings(env))
    try:
        assert isinstance(bundle.queue, ServiceBusJobQueue)
    finally:
        await bundle.close()


async def test_credential_uses_the_user_assigned_identity() -> None:
    env = {**IDENTITY, "AZURE_CLIENT_ID": "00000000-0000-0000-0000-000000000001"}
    credential = build_credential(load_settings(env))
    try:
        assert isinstance(credential, DefaultAzureCredential)
    finally:
        await credential.close()
