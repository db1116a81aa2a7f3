"""The app on the Service Bus path (devhost's emulator): duplicate detection, dead-lettering after
maxDeliveryCount and redrive, and the health probe's Service Bus branch."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import requests
from azure.data.tables.aio import TableServiceClient
from azure.servicebus import ServiceBusSubQueue
from azure.servicebus.aio import ServiceBusClient

from jobs.domain.models import JobStatus
from jobs.queues.servicebus import ServiceBusJobQueue
from jobs.tables.store import JobStore
from testing.devhost import DevhostProcess
from testing.factories import make_job
from testing.fixtures import StartApp
from testing.product_app import REPO_ROOT

pytestmark = [pytest.mark.e2e, pytest.mark.parametrize("queue_kind", ["servicebus"], indirect=True)]

STARTED = "orchestration started"


@pytest.fixture
async def jobs(app_settings: dict[str, str]) -> AsyncIterator[JobStore]:
    tables = TableServiceClient.from_connection_string(app_settings["GENERATION_STORAGE"])
    yield JobStore(tables)
    await tables.close()


def _queue(settings: dict[str, str]) -> ServiceBusJobQueue:
    client = ServiceBusClient.from_connection_string(settings["ServiceBusConnection"])
    return ServiceBusJobQueue(client, queue_name=settings["JOBS_QUEUE_NAME"])


async def _wait_status(jobs: JobStore, job_id: str, status: JobStatus) -> None:
    """Fails (TimeoutError) when the job does not reach `status` within 40 s."""
    async with asyncio.timeout(40):
        job = await jobs.get(job_id)
        while job.status is not status:
            await asyncio.sleep(0.2)
            job = await jobs.get(job_id)


def _set_queue_property(settings: dict[str, str], name: str, value: str) -> None:
    path = Path(settings["DEVHOST_SERVICEBUS_CONFIG"])
    document = json.loads(path.read_text())
    document["UserConfig"]["Namespaces"][0]["Queues"][0]["Properties"][name] = value
    path.write_text(json.dumps(document))


async def _dead_letters(settings: dict[str, str]) -> list[str]:
    connection, queue = settings["ServiceBusConnection"], settings["JOBS_QUEUE_NAME"]
    async with ServiceBusClient.from_connection_string(connection) as bus, \
            bus.get_queue_receiver(queue, sub_queue=ServiceBusSubQueue.DEAD_LETTER) as dlq:
        peeked = await dlq.peek_messages(max_message_count=10)
    return [f"{m.message_id}:{m.dead_letter_reason}" for m in peeked]


async def test_a_second_send_of_one_job_is_dropped(start_app: StartApp, app_settings: dict[str, str],
                                                   jobs: JobStore) -> None:
    app = start_app()
    job = await jobs.create(make_job())
    queue = _queue(app_settings)
    await queue.send(job)
    await queue.send(job)
    await queue.close()
    await _wait_status(jobs, job.id, JobStatus.SUCCEEDED)
    app.stop()
    log = app.output()
    assert log.count("Executed 'start_generation_from_service_bus'") == 1, log
    assert log.count(f"job {job.id}: {STARTED}") == 1
    assert "orchestration already exists" not in log


async def test_a_failing_starter_dead_letters_and_redrive_finishes_the_job_once(
    app_settings: dict[str, str], jobs: JobStore, start_app: StartApp,
) -> None:
    # Duplicate detection keys on the message id, which a redrive keeps: within the window (2 min on
    # Azure) the service would drop the re-sent copy, so this queue's window is short and passes first.
    _set_queue_property(app_settings, "DuplicateDetectionHistoryTimeWindow", "PT2S")
    failing = DevhostProcess(app="tests.e2e.failing_starter_app", app_dir=REPO_ROOT, settings=app_settings)
    with failing:
        job = await jobs.create(make_job())
        queue = _queue(app_settings)
        await queue.send(job)
        await queue.close()
        async with asyncio.timeout(30):
            dead = await _dead_letters(app_settings)
            while not dead:
                await asyncio.sleep(0.3)
                dead = await _dead_letters(app_settings)
        assert dead == [f"{job.id}:MaxDeliveryCountExceeded"]
    assert failing.output().count("Executed 'start_generation_from_service_bus' (Failed") == 5

    await asyncio.sleep(2.5)  # past the duplicate detection window
    app = start_app()  # same emulator port and data folder: the dead-lettered message is still there
    response = await asyncio.to_thread(requests.post, f"{app.base_url}/admin/functions/redrive_dead_letters",
                                       json={"input": ""}, timeout=10)
    assert response.status_code == 202
    await _wait_status(jobs, job.id, JobStatus.SUCCEEDED)
    assert await _dead_letters(app_settings) == []
    app.stop()
    assert app.output().count(f"job {job.id}: {STARTED}") == 1
    assert "redrive_dead_letters finished: moved=1" in app.output()


def test_health_probe_reaches_the_emulator(start_app: StartApp) -> None:
    app = start_app()
    health = requests.get(f"{app.base_url}/api/health", timeout=20)
    assert health.status_code == 200, health.text
    assert health.json()["dependencies"]["queue"] == "ok"


def test_health_probe_names_service_bus_down(start_app: StartApp, app_settings: dict[str, str]) -> None:
    # 127.0.0.2 is not a host devhost starts an emulator for, and nothing listens there.
    down = app_settings["ServiceBusConnection"].replace("127.0.0.1", "127.0.0.2")
    app = start_app(ServiceBusConnection=down)
    health = requests.get(f"{app.base_url}/api/health", timeout=30)
    assert health.status_code == 503, health.text
    assert json.loads(health.text)["dependencies"]["queue"] != "ok"
