"""Read-only blob SAS: signed with the account key, or with a cached user-delegation key."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Protocol

from azure.storage.blob import BlobSasPermissions, UserDelegationKey, generate_blob_sas
from azure.storage.blob.aio import BlobServiceClient

# The service refuses a user-delegation key that lives longer than 7 days.
MAX_KEY_LIFETIME = timedelta(days=7) - timedelta(minutes=5)
# How much shorter than asked a URL may be before a new key is fetched (keys are reused meanwhile):
# at most an hour, and at most a tenth of the URL's lifetime.
KEY_REUSE_SLACK = timedelta(hours=1)
# Tolerated clock skew between this host and Storage.
CLOCK_SKEW = timedelta(minutes=5)


class SasSigner(Protocol):
    async def sign(self, container: str, blob_name: str, *, ttl: timedelta) -> str:
        """A read-only SAS query string (without "?") for one blob."""
        ...


def _utcnow() -> datetime:
    return datetime.now(UTC)


class AccountKeySigner:
    """For connection strings: the account key signs locally, no request needed."""

    def __init__(self, account_name: str, account_key: str) -> None:
        self._account_name = account_name
        self._account_key = account_key

    async def sign(self, container: str, blob_name: str, *, ttl: timedelta) -> str:
        now = _utcnow()
        return generate_blob_sas(
            self._account_name,
            container,
            blob_name,
            account_key=self._account_key,
            permission=BlobSasPermissions(read=True),
            start=now - CLOCK_SKEW,
            expiry=now + ttl,
        )


def delegation_key_usable(key_expiry: datetime, *, now: datetime, ttl: timedelta) -> bool:
    """Whether a key expiring at `key_expiry` can sign a URL valid for (almost) `ttl` from `now`."""
    return key_expiry >= now + ttl - min(KEY_REUSE_SLACK, ttl / 10)


def parse_key_time(value: str | None) -> datetime:
    if not value:
        return datetime.min.replace(tzinfo=UTC)
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


class DelegationKeySigner:
    """For managed identity: a user-delegation key (one request), cached until it is too short-lived."""

    def __init__(self, service: BlobServiceClient) -> None:
        self._service = service
        self._key: UserDelegationKey | None = None
        self._lock = asyncio.Lock()

    async def _key_for(self, ttl: timedelta) -> UserDelegationKey:
        async with self._lock:
            now = _utcnow()
            key = self._key
            if key is None or not delegation_key_usable(parse_key_time(key.signed_expiry), now=now, ttl=ttl):
                key = await self._service.get_user_delegation_key(
                    key_start_time=now - CLOCK_SKEW, key_expiry_time=now + MAX_KEY_LIFETIME
                )
                self._key = key
            return key

    async def sign(self, container: str, blob_name: str, *, ttl: timedelta) -> str:
        if ttl > MAX_KEY_LIFETIME + KEY_REUSE_SLACK:
            raise ValueError("a user-delegation SAS cannot outlive its 7-day key")
        key = await self._key_for(ttl)
        now = _utcnow()
        expiry = min(now + ttl, parse_key_time(key.signed_expiry))
        return generate_blob_sas(
            self._service.account_name or "",
            container,
            blob_name,
            user_delegation_key=key,
            permission=BlobSasPermissions(read=True),
            start=now - CLOCK_SKEW,
            expiry=expiry,
        )
