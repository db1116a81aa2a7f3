"""Test-side helpers for the sample app: its settings and its results queue."""

from __future__ import annotations

import contextlib
import json
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from azure.core.exceptions import ResourceExistsError, ResourceNotFoundError
from azure.storage.queue import QueueClient

from testing.devhost import wait_for

SAMPLE_APP = Path(__file__).resolve().parent
YEARLY = "0 0 0 1 1 *"


def sample_settings(connection_string: str, **overrides: str) -> dict[str, str]:
    """Settings for one sample-app run: its own queues and task hub on the shared Azurite."""
    suffix = uuid.uuid4().hex[:12]
    return {
        "AzureWebJobsStorage": connection_string,
        "SAMPLE_STORAGE": connection_string,
        "SAMPLE_QUEUE": f"sample-{suffix}",
        "SAMPLE_FAIL_QUEUE": f"fail-{suffix}",
        "SAMPLE_SLOW_QUEUE": f"slow-{suffix}",
        "SAMPLE_RESULTS_QUEUE": f"results-{suffix}",
        "SAMPLE_SCHEDULE": YEARLY,
        "SAMPLE_TASK_HUB": f"hub{suffix}",
        **overrides,
    }


def queue_exists(client: QueueClient) -> bool:
    try:
        client.get_queue_properties()
    except ResourceNotFoundError:
        return False
    return True


@dataclass
class Results:
    """The records the sample functions append to the results queue, read as they arrive."""

    client: QueueClient
    seen: list[dict[str, Any]] = field(default_factory=list)

    @classmethod
    def open(cls, settings: dict[str, str]) -> Results:
        client = QueueClient.from_connection_string(
            settings["SAMPLE_STORAGE"], settings["SAMPLE_RESULTS_QUEUE"])
        with contextlib.suppress(ResourceExistsError):
            client.create_queue()
        return cls(client)

    def collect(self) -> list[dict[str, Any]]:
        for message in self.client.receive_messages(messages_per_page=32, max_messages=32):
            self.seen.append(json.loads(message.content))
            self.client.delete_message(message)
        return self.seen

    def matching(self, **fields: Any) -> list[dict[str, Any]]:
        self.collect()
        return [r for r in self.seen if all(r.get(k) == v for k, v in fields.items())]

    def wait_for(self, count: int = 1, timeout: float = 20, **fields: Any) -> list[dict[str, Any]]:
        """Wait until at least `count` records match `fields`; return them."""
        return wait_for(lambda: (found := self.matching(**fields)) and len(found) >= count and found,
                        timeout=timeout, interval=0.2)

    def delete_queue(self) -> None:
        with contextlib.suppress(ResourceNotFoundError):
            self.client.delete_queue()
        self.client.close()
