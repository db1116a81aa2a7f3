"""A Service Bus emulator for tests: devhost's, in this process, on a free port, data in a temp folder."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from devhost.servicebus.entities import NamespaceConfig, QueueConfig
from devhost.servicebus.server import Emulator
from testing.devhost import free_port

KEY_NAME = "RootManageSharedAccessKey"
KEY = "test-dummy-key"


@contextmanager
def running_emulator(queues: Sequence[QueueConfig], data_dir: Path) -> Iterator[Emulator]:
    namespace = NamespaceConfig(key_name=KEY_NAME, key=KEY, queues={q.name.lower(): q for q in queues})
    emulator = Emulator(namespace, port=free_port(), data_dir=data_dir)
    emulator.start()
    try:
        yield emulator
    finally:
        emulator.stop()
