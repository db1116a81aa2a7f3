"""Shared fixtures: one real Azurite for the whole run, started from npm or reused if listening."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest

from devhost.azurite import Azurite, connection_string_for, ensure_azurite, start_azurite


def _start_or_reuse_azurite() -> Azurite:
    """The default ports' Azurite, or with AZURITE_PORTS=blob,queue,table one of the run's own there
    (so two runs on one machine do not share, and clean up, each other's jobs)."""
    location = os.environ.get("AZURITE_LOCATION")
    ports = os.environ.get("AZURITE_PORTS")
    if not ports:
        return ensure_azurite(location)
    blob, queue, table = (int(port) for port in ports.split(","))
    try:
        return start_azurite(location, ports=(blob, queue, table), in_memory=location is None)
    except RuntimeError:  # already running there (a previous run left it up): reuse it
        return Azurite(connection_string=connection_string_for(blob, queue, table))


@pytest.fixture(scope="session")
def azurite_connection_string() -> Iterator[str]:
    """Connection string of a running Azurite (the default development account)."""
    azurite = _start_or_reuse_azurite()
    yield azurite.connection_string
    azurite.stop()


@pytest.fixture
def unique_name() -> str:
    """A lowercase, letter-first name that is valid for tables, queues and containers."""
    return "t" + uuid.uuid4().hex[:20]
