"""An emulator per test module, on a free port, with its store in a temporary folder."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from azure.servicebus import ServiceBusClient

from devhost.servicebus.entities import QueueConfig
from devhost.servicebus.server import Emulator
from testing.servicebus import running_emulator

QUEUES = [
    QueueConfig(name="plain"),
    QueueConfig(name="short-lock", lock_duration=1.0, max_delivery_count=2),
    QueueConfig(name="dedupe", requires_duplicate_detection=True, duplicate_detection_window=60.0),
    QueueConfig(name="expiring", default_ttl=1.0, dead_lettering_on_expiration=True),
    QueueConfig(name="vanishing", default_ttl=1.0),
]


@pytest.fixture(scope="module")
def emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Emulator]:
    with running_emulator(QUEUES, Path(tmp_path_factory.mktemp("servicebus"))) as server:
        yield server


@pytest.fixture
def client(emulator: Emulator) -> Iterator[ServiceBusClient]:
    with ServiceBusClient.from_connection_string(emulator.connection_string, retry_total=0) as bus:
        yield bus
