"""Test helpers for the shared provider limiter: services whose image limiter starts empty."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager

from azure.core.exceptions import ResourceNotFoundError
from azure.data.tables.aio import TableClient

from jobs.config.settings import load_settings
from jobs.domain.limiter_rules import LimiterConfig
from jobs.domain.models import JobKind
from jobs.names import PACING_TABLE
from jobs.services import Services, build_services
from jobs.tables.limiter import LIMITER_PARTITION


def image_limiter(services: Services) -> LimiterConfig:
    config = services.settings.limiters.get(JobKind.IMAGE)
    assert config is not None, "these settings do not pace image calls"
    return config


async def forget_limiter(services: Services) -> None:
    """Remove the image limiter's record (shared Azurite: a test must not inherit another's line)."""
    await services.limiter.read(image_limiter(services))  # creates the table if needed
    connection = services.settings.storage.connection_string or ""
    async with TableClient.from_connection_string(connection, PACING_TABLE) as table:
        with contextlib.suppress(ResourceNotFoundError):
            await table.delete_entity(LIMITER_PARTITION, image_limiter(services).key)


@asynccontextmanager
async def services_with_fresh_limiter(environ: Mapping[str, str]) -> AsyncIterator[Services]:
    """Services for `environ` whose image limiter record is removed before and after."""
    async with build_services(load_settings(environ)) as services:
        await forget_limiter(services)
        yield services
        await forget_limiter(services)
