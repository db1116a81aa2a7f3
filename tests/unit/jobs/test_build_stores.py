"""Which clients `build_stores` makes for each kind of settings (construction only, no I/O)."""

from __future__ import annotations

from azure.identity.aio import DefaultAzureCredential

from jobs.blobs.sas import AccountKeySigner, DelegationKeySigner
from jobs.clients import build_credential, build_stores
from jobs.config.settings import load_settings
from jobs.queues.servicebus import ServiceBusJobQueue
from jobs.queues.storage import StorageJobQueue

IDENTITY = {
    "GENERATION_STORAGE__blobServiceUri": "https://acct.blob.core.windows.net",
    "GENERATION_STORAGE__tableServiceUri": "https://acct.table.core.windows.net",
    "GENERATION_STORAGE__queueServiceUri": "https://acct.queue.core.windows.net",
}


async def test_connection_string_settings_sign_with_the_account_key() -> None:
    bundle = build_stores(load_settings({"GENERATION_STORAGE": "UseDevelopmentStorage=true"}))
    try:
        assert isinstance(bundle.queue, StorageJobQueue)
        assert isinstance(bundle.outputs._signer, AccountKeySigner)
    finally:
        await bundle.close()


async def test_identity_settings_use_the_service_uris_and_user_delegation() -> None:
    bundle = build_stores(load_settings(IDENTITY))
    try:
        assert bundle.jobs._service.url.startswith("https://acct.table.core.windows.net")
        assert isinstance(bundle.outputs._signer, DelegationKeySigner)
        assert isinstance(bundle.queue, StorageJobQueue)
    finally:
        await bundle.close()


async def test_service_bus_settings_make_a_service_bus_queue() -> None:
    env = {
        **IDENTITY,
        "JOBS_QUEUE_KIND": "servicebus",
        "ServiceBusConnection__fullyQualifiedNamespace": "ns.servicebus.windows.net",
    }
    bundle = build_stores(load_settings(env))
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
