"""The operator functions on devhost (Storage queue kind), run as the portal runs them: POST /admin/functions.

Jobs are written straight into the app's tables, the way a failed queue send, a poisoned message or
a dead worker leaves them; then `maintenance` or `redrive_dead_letters` runs and the outcome is read
back. Maintenance acts on every job in the app's tables, whose names are fixed, so this module runs
the app against an Azurite of its own rather than the one other tests share.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

import pytest
from azure.core.exceptions import ResourceExistsError
from azure.data.tables.aio import TableServiceClient
from azure.storage.blob.aio import BlobServiceClient
from azure.storage.queue.aio import QueueClient
from PIL import Image

from devhost.azurite import start_azurite
from jobs.blobs.outputs import OutputStore, job_blob_prefix
from jobs.contracts import storage_message_text
from jobs.domain.models import Channel, ChatDelivery, Job, JobStatus, utcnow
from jobs.names import OUTPUTS_CONTAINER, WEBHOOK_EVENTS_TABLE
from jobs.queues.storage import poison_queue_name
from jobs.tables.events import EVENT_ROW_KEY
from jobs.tables.store import JobStore
from testing.devhost import DevhostProcess, free_port, wait_for
from testing.factories import make_job
from testing.factories_line import user_id, webhook_event_id
from testing.fakes.line_server import FakeLine
from testing.fixtures import StartApp
from testing.operator import MASTER_KEY, finished_runs, run_function

pytestmark = pytest.mark.e2e

LINE_TOKEN = "operations-line-token"


@pytest.fixture(scope="module")
def azurite_connection_string(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A private Azurite on free ports (overrides the shared one for this module's app and stores)."""
    ports = (free_port(), free_port(), free_port())
    azurite = start_azurite(str(tmp_path_factory.mktemp("azurite")), ports=ports)
    yield azurite.connection_string
    azurite.stop()


@dataclass
class Data:
    """The app's stores, opened on the test's own event loop against the app's Azurite."""

    jobs: JobStore
    outputs: OutputStore
    tables: TableServiceClient
    blobs: BlobServiceClient
    connection_string: str


@pytest.fixture
async def data(azurite_connection_string: str) -> AsyncIterator[Data]:
    tables = TableServiceClient.from_connection_string(azurite_connection_string)
    blobs = BlobServiceClient.from_connection_string(azurite_connection_string)
    yield Data(JobStore(tables), OutputStore(blobs), tables, blobs, azurite_connection_string)
    await tables.close()
    await blobs.close()


def start(start_app: StartApp, **overrides: str) -> DevhostProcess:
    return start_app(DEVHOST_MASTER_KEY=MASTER_KEY, **overrides)


def log_count(app: DevhostProcess, text: str) -> int:
    return app.output().count(text)


def new_job(*, created: datetime, **fields: object) -> Job:
    return make_job(created_at=created, **fields)


async def wait_status(store: JobStore, job_id: str, status: JobStatus) -> Job:
    """The job once it has `status`; fails after 40 s with the status it stayed in."""
    job = await store.get(job_id)
    try:
        async with asyncio.timeout(40):
            while job.status is not status:
                await asyncio.sleep(0.2)
                job = await store.get(job_id)
    except TimeoutError:
        raise AssertionError(f"job {job_id} stayed {job.status.value}; expected {status.value}") from None
    return job


async def test_maintenance_redrives_a_lost_job_and_fails_a_stuck_line_job(
    start_app: StartApp, data: Data
) -> None:
    now = utcnow()
    # Accepted five minutes ago, but its queue message never arrived (a send answered with 503).
    lost = await data.jobs.create(new_job(created=now - timedelta(minutes=5)))
    # A LINE job running for twenty minutes whose orchestration is gone (its history was lost).
    chat = user_id()
    delivery = ChatDelivery(
        to=chat,
        source_type="user",
        user_id=chat,
        reply_token="long-expired-reply-token",
        event_timestamp_ms=int((now - timedelta(minutes=20)).timestamp() * 1000),
    )
    stuck = await data.jobs.create(
        new_job(
            created=now - timedelta(minutes=20), status=JobStatus.RUNNING,
            channel=Channel.LINE, delivery=delivery, user=f"line:{chat}",
        )
    )
    # Running for five minutes when its orchestration vanished: it still has time, so it runs again.
    interrupted = await data.jobs.create(
        new_job(created=now - timedelta(minutes=5), status=JobStatus.RUNNING, n=2)
    )

    with FakeLine(LINE_TOKEN) as line:
        app = start(start_app, LINE_API_HOST=line.base_url, LINE_CHANNEL_ACCESS_TOKEN=LINE_TOKEN)
        run_function(app, "maintenance")

        done = await wait_status(data.jobs, lost.id, JobStatus.SUCCEEDED)
        failed = await wait_status(data.jobs, stuck.id, JobStatus.FAILED)
        resumed = await wait_status(data.jobs, interrupted.id, JobStatus.SUCCEEDED)
        sent = line.wait_for_sent(1)

        # Run again: both jobs are settled, so nothing is re-sent, re-failed or re-delivered.
        run_function(app, "maintenance")
        wait_for(lambda: len(finished_runs(app, "maintenance")) >= 2, timeout=30)
        after = line.sent_snapshot()

    assert done.completed == 1 and done.error is None
    assert failed.error is not None and failed.error.code == "deadline_exceeded"
    assert "try again" in failed.error.message
    assert resumed.completed == 2 and resumed.error is None
    assert [entry["to"] for entry in sent] == [chat]
    assert sent[0]["via"] == "push", "the reply token expired long ago"
    assert all(message["type"] == "text" for message in sent[0]["messages"])
    assert after == sent
    assert log_count(app, f"job {lost.id}: queue message sent again") == 1
    assert log_count(app, f"job {stuck.id}: failed by maintenance") == 1
    assert log_count(app, f"job {interrupted.id}: orchestration started again") == 1
    first, second = finished_runs(app, "maintenance")[:2]
    assert first.startswith("maintenance finished: redriven=1 failed=1 skipped=0 purged=0"), first
    assert second.startswith("maintenance finished: redriven=0 failed=0 skipped=0 purged=0"), second
    assert first.endswith("restarted=1 deletions_finished=0 reindexed=0 errors=0 past_due=False"), first
    assert second.endswith("restarted=0 deletions_finished=0 reindexed=0 errors=0 past_due=False"), second


async def test_redrive_dead_letters_moves_a_poisoned_message_back(start_app: StartApp, data: Data) -> None:
    job = await data.jobs.create(new_job(created=utcnow()))
    app = start(start_app)
    queue_name = app.settings["JOBS_QUEUE_NAME"]
    poison = QueueClient.from_connection_string(data.connection_string, poison_queue_name(queue_name))
    async with poison:
        with contextlib.suppress(ResourceExistsError):
            await poison.create_queue()
        # What the host leaves after maxDequeueCount failed deliveries: the message, verbatim.
        await poison.send_message(storage_message_text(job.id))

        run_function(app, "redrive_dead_letters")
        done = await wait_status(data.jobs, job.id, JobStatus.SUCCEEDED)
        left = await poison.peek_messages(max_messages=32)

    assert done.completed == 1
    assert left == []
    assert finished_runs(app, "redrive_dead_letters")[0].startswith(
        f"redrive_dead_letters finished: moved=1 queue={queue_name}"
    )


def _png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 64), (30, 90, 160)).save(buffer, format="PNG")
    return buffer.getvalue()


async def _blob_names(data: Data, job_id: str) -> list[str]:
    container = data.blobs.get_container_client(OUTPUTS_CONTAINER)
    return [blob.name async for blob in container.list_blobs(name_starts_with=job_blob_prefix(job_id))]


async def test_maintenance_purges_jobs_past_retention(start_app: StartApp, data: Data) -> None:
    owner = f"retention-{user_id()}"
    long_ago = utcnow() - timedelta(days=40)
    expired = await data.jobs.create(
        new_job(created=long_ago, status=JobStatus.SUCCEEDED, user=owner, completed=1)
    )
    await data.outputs.save_image(expired.id, 0, _png())
    recent = await data.jobs.create(new_job(created=utcnow(), status=JobStatus.SUCCEEDED, user=owner))
    events = data.tables.get_table_client(WEBHOOK_EVENTS_TABLE)
    with contextlib.suppress(ResourceExistsError):
        await data.tables.create_table(WEBHOOK_EVENTS_TABLE)
    old_event, new_event = webhook_event_id(), webhook_event_id()
    for event_id, claimed in ((old_event, long_ago), (new_event, utcnow())):
        await events.create_entity({"PartitionKey": event_id, "RowKey": EVENT_ROW_KEY, "ClaimedAt": claimed})
    assert len(await _blob_names(data, expired.id)) == 2  # the image and its preview

    app = start(start_app)
    run_function(app, "maintenance")
    wait_for(lambda: finished_runs(app, "maintenance"), timeout=30)

    assert await data.jobs.find(expired.id) is None
    assert await _blob_names(data, expired.id) == []
    listed, _ = await data.jobs.list_jobs(user=owner, status=None, limit=10, cursor=None)
    assert [job.id for job in listed] == [recent.id]
    remaining = {entity["PartitionKey"] async for entity in events.query_entities(
        "PartitionKey eq @a or PartitionKey eq @b", parameters={"a": old_event, "b": new_event}
    )}
    assert remaining == {new_event}
    assert log_count(app, f"job {expired.id}: purged after retention") == 1
    summary = finished_runs(app, "maintenance")[0]
    expected = "purged=1 events_purged=1 turns_purged=0 restarted=0 deletions_finished=0 reindexed=0 errors=0"
    assert expected in summary, summary
    await events.close()
