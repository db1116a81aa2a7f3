"""Status handlers against real stores on Azurite and a fake durable HTTP API over a socket."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.integration.jobs.conftest import (  # noqa: F401 - fixtures shared with the jobs tests
    blob_service,
    deletion_ledger,
    job_store,
    output_store,
    queue_service,
    table_service,
)
from tests.integration.status.durable_api import FakeDurableApi, durable_api


@pytest.fixture
async def durable() -> AsyncIterator[FakeDurableApi]:
    async with durable_api() as fake:
        yield fake
