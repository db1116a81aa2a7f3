"""Shared fixtures: one real Azurite for the whole run, started from npm or reused if listening."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest

from devhost.azurite import ensure_azurite


@pytest.fixture(scope="session")
def azurite_connection_string() -> Iterator[str]:
    """Connection string of a running Azurite (the default development account)."""
    azurite = ensure_azurite(os.environ.get("AZURITE_LOCATION"))
    yield azurite.connection_string
    azurite.stop()


@pytest.fixture
def unique_name() -> str:
    """A lowercase, letter-first name that is valid for tables, queues and containers."""
    return "t" + uuid.uuid4().hex[:20]
