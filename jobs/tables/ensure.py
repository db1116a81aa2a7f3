"""Create tables lazily, once per process, instead of on every call."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable

from azure.core.exceptions import ResourceExistsError
from azure.data.tables.aio import TableServiceClient

logger = logging.getLogger(__name__)

# (table endpoint, table name) pairs known to exist; shared by every event loop of the process.
_created: set[tuple[str, str]] = set()


async def _create(service: TableServiceClient, name: str) -> None:
    try:
        await service.create_table(name)
        logger.info("created table %s", name)
    except ResourceExistsError:
        pass
    _created.add((service.url, name))


async def ensure_tables(service: TableServiceClient, names: Iterable[str]) -> None:
    """Create the tables this process has not yet seen; a no-op (no I/O) after the first call."""
    missing = [name for name in names if (service.url, name) not in _created]
    if missing:
        await asyncio.gather(*(_create(service, name) for name in missing))
