"""Delivery against the shared Azurite (own tables and container per test) and a fake LINE server."""

from __future__ import annotations

import asyncio
import contextlib
import io
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from datetime import timedelta

import pytest
from azure.core.exceptions import ResourceNotFoundError
from azure.data.tables.aio import TableServiceClient
from azure.storage.blob.aio import BlobServiceClient
from linebot.v3.messaging import AsyncApiClient, AsyncMessagingApi, Configuration
from PIL import Image

from jobs.blobs.outputs import OutputStore
from jobs.domain.models import Channel, ChatDelivery, Job, JobError, JobKind, JobStatus, Output
from jobs.tables.events import EventLedger
from jobs.tables.store import JobStore
from line_webhook.delivery import LineDelivery
from testing.factories import make_job
from testing.factories_line import CHANNEL_ACCESS_TOKEN, now_ms, user_id
from testing.fakes.line_server import FakeLine

TTL_SECONDS = 50


@pytest.fixture
def fake_line() -> Iterator[FakeLine]:
    with FakeLine(CHANNEL_ACCESS_TOKEN) as fake:
        yield fake


@pytest.fixture
async def line_api(fake_line: FakeLine) -> AsyncIterator[AsyncMessagingApi]:
    client = AsyncApiClient(Configuration(access_token=CHANNEL_ACCESS_TOKEN, host=fake_line.base_url))
    yield AsyncMessagingApi(client)
    await client.close()


@pytest.fixture
async def delivery(
    azurite_connection_string: str, unique_name: str, line_api: AsyncMessagingApi
) -> AsyncIterator[LineDelivery]:
    tables = TableServiceClient.from_connection_string(azurite_connection_string)
    blobs = BlobServiceClient.from_connection_string(azurite_connection_string)
    names = [f"{unique_name}jobs", f"{unique_name}idx", f"{unique_name}idem", f"{unique_name}events"]
    yield LineDelivery(
        jobs=JobStore(tables, jobs_table=names[0], index_table=names[1], idempotency_table=names[2]),
        outputs=OutputStore(blobs, container=unique_name),
        ledger=EventLedger(tables, table=names[3]),
        api=line_api,
        reply_token_ttl=timedelta(seconds=TTL_SECONDS),
        image_url_ttl=timedelta(hours=168),
    )
    await asyncio.gather(*(tables.delete_table(name) for name in names), return_exceptions=True)
    with contextlib.suppress(ResourceNotFoundError):
        await blobs.delete_container(unique_name)
    await asyncio.gather(tables.close(), blobs.close())


def png(width: int = 64, height: int = 48) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (200, 80, 40)).save(buffer, format="PNG")
    return buffer.getvalue()


def line_delivery(
    *,
    to: str | None = None,
    reply_token: str | None = None,
    age_seconds: float = 0,
    source_type: str = "user",
) -> ChatDelivery:
    """The delivery record the webhook stores, for an event `age_seconds` old."""
    chat = to or user_id()
    return ChatDelivery(
        to=chat,
        source_type=source_type,
        user_id=chat if source_type == "user" else user_id(),
        reply_token=reply_token,
        event_timestamp_ms=now_ms() - int(age_seconds * 1000),
    )


async def finished_job(
    delivery: LineDelivery,
    *,
    line: ChatDelivery,
    kind: JobKind = JobKind.IMAGE,
    n: int = 1,
    answer: str = "",
    error: JobError | None = None,
) -> Job:
    """A LINE job stored and finished the way the pipeline finishes it."""
    job = await delivery.jobs.create(make_job(channel=Channel.LINE, kind=kind, n=n, delivery=line))
    await delivery.jobs.mark_running(job.id)
    if error is not None:
        return await delivery.jobs.finish(job.id, status=JobStatus.FAILED, error=error)
    if kind is JobKind.TEXT:
        outputs = [Output(index=0, content_type="text/plain", text=answer)]
    else:
        outputs = [await delivery.outputs.save_image(job.id, index, png()) for index in range(n)]
    return await delivery.jobs.finish(job.id, status=JobStatus.SUCCEEDED, outputs=outputs)


def with_clock(delivery: LineDelivery, *, later_by: timedelta) -> LineDelivery:
    """The same delivery seen `later_by` after now (a retry that comes after the token's lifetime)."""
    base = delivery.clock
    return replace(delivery, clock=lambda: base() + later_by)
