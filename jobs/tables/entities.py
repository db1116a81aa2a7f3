"""How a Job is laid out in Table Storage (the row, its index entries, its idempotency record), and the
tables created lazily, once per store."""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import re
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from azure.core.exceptions import ResourceExistsError, ResourceNotFoundError
from azure.data.tables.aio import TableClient, TableServiceClient

from jobs.domain.callbacks import Callback
from jobs.domain.models import Channel, ChatDelivery, Job, JobError, JobKind, JobStatus, Output
from jobs.domain.review import Review

logger = logging.getLogger(__name__)

JOB_ROW_KEY = "job"
IDEMPOTENCY_ROW_KEY = "key"
# The index spreads every job over INDEX_BUCKETS partitions by a hash of its id, so that no one
# partition takes every accept (Table storage serves about 2,000 entities a second per partition).
# The bucket is part of the key: changing the count needs the index rebuilt.
INDEX_BUCKETS = 8
ALL_PREFIX = "all:"
OPEN_PREFIX = "open:"
# A string property holds at most 64 KiB of UTF-16 (32,768 code units); stay well below it.
CHUNK_UNITS = 30_000
OUTPUTS_PREFIX = "Outputs"
CHUNK_COUNT = "OutputsChunks"
# Inverted timestamps: microseconds since the epoch subtracted from this, zero-padded to 16 digits,
# so that a plain ascending RowKey scan returns the newest job first.
_INVERT_FROM = 10**16 - 1
# The characters the service forbids in keys, and lone surrogates (no UTF-8 form to send).
_KEY_FORBIDDEN = re.compile(r"[/\\#?\x00-\x1f\x7f-\x9f\ud800-\udfff]")
MAX_KEY_CHARS = 512


def is_valid_key(value: str) -> bool:
    """Whether `value` may be used as a PartitionKey/RowKey (the characters the service forbids)."""
    return 0 < len(value) <= MAX_KEY_CHARS and not _KEY_FORBIDDEN.search(value)


def user_partition(user: str) -> str:
    # Users are free text; percent-encoding keeps "/", "#", "?" and "\" out of the key.
    return "user:" + quote(user, safe="")


def index_bucket(job_id: str) -> str:
    digest = hashlib.sha256(job_id.encode()).digest()
    return f"{int.from_bytes(digest[:4], 'big') % INDEX_BUCKETS:02d}"


def bucket_partitions(prefix: str) -> list[str]:
    """Every partition of one bucketed index (`all:` for every job, `open:` for unfinished ones)."""
    return [f"{prefix}{bucket:02d}" for bucket in range(INDEX_BUCKETS)]


def open_partition(job_id: str) -> str:
    return OPEN_PREFIX + index_bucket(job_id)


def entry_partitions(job_id: str, user: str | None) -> list[str]:
    """The listing partitions of one job: its `all` bucket and, if it has one, its user's partition."""
    everyone = ALL_PREFIX + index_bucket(job_id)
    return [everyone] if user is None else [everyone, user_partition(user)]


def index_partitions(job: Job) -> list[str]:
    return entry_partitions(job.id, job.user)


def inverted_ticks(moment: datetime) -> str:
    micros = int(moment.timestamp()) * 1_000_000 + moment.microsecond
    return f"{_INVERT_FROM - micros:016d}"


def index_row_key(job: Job) -> str:
    return f"{inverted_ticks(job.created_at)}_{job.id}"


def idempotency_partition(user: str | None, key: str) -> str:
    return hashlib.sha256(f"{user or ''}|{key}".encode()).hexdigest()


def split_utf16(text: str, limit: int = CHUNK_UNITS) -> list[str]:
    """Split `text` into pieces of at most `limit` UTF-16 code units, never inside a character."""
    if len(text.encode("utf-16-le")) == 2 * len(text):
        return [text[i : i + limit] for i in range(0, len(text), limit)] or [""]
    chunks: list[str] = []
    start, units = 0, 0
    for position, char in enumerate(text):
        width = 2 if ord(char) > 0xFFFF else 1
        if units + width > limit:
            chunks.append(text[start:position])
            start, units = position, 0
        units += width
    chunks.append(text[start:])
    return chunks


def outputs_properties(outputs: tuple[Output, ...]) -> dict[str, str | int]:
    """Outputs as JSON spread over `Outputs0`, `Outputs1`, ... (long text answers exceed 64 KiB).

    `OutputsChunks` says how many to read: a MERGE update that writes fewer chunks than before
    leaves the old tail in the row, where it must be ignored.
    """
    payload = json.dumps([output.to_dict() for output in outputs], ensure_ascii=False, separators=(",", ":"))
    chunks = split_utf16(payload)
    properties: dict[str, str | int] = {f"{OUTPUTS_PREFIX}{i}": chunk for i, chunk in enumerate(chunks)}
    properties[CHUNK_COUNT] = len(chunks)
    return properties


def outputs_from_properties(entity: Mapping[str, Any]) -> tuple[Output, ...]:
    count = int(entity.get(CHUNK_COUNT, 0))
    if count == 0:
        return ()
    payload = "".join(str(entity[f"{OUTPUTS_PREFIX}{i}"]) for i in range(count))
    return tuple(Output.from_dict(item) for item in json.loads(payload))


def _utc(value: datetime) -> datetime:
    # The SDK returns its own datetime subclass; keep plain, aware UTC datetimes in the model.
    value = value if value.tzinfo else value.replace(tzinfo=UTC)
    value = value.astimezone(UTC)
    return datetime(
        *value.timetuple()[:6], microsecond=value.microsecond, tzinfo=UTC
    )


def job_to_entity(job: Job, *, idempotency_partition_key: str | None = None) -> dict[str, Any]:
    entity: dict[str, Any] = {
        "PartitionKey": job.id,
        "RowKey": JOB_ROW_KEY,
        "Status": job.status.value,
        "Kind": job.kind.value,
        "Prompt": job.prompt,
        "N": job.n,
        "Size": job.size,
        "Channel": job.channel.value,
        "CreatedAt": job.created_at,
        "UpdatedAt": job.updated_at,
        "Completed": job.completed,
        "CancelRequested": job.cancel_requested,
        "ReviewGate": job.gated,
        "Delivery": json.dumps(
            job.delivery.to_dict() if job.delivery else {}, ensure_ascii=False, separators=(",", ":")
        ),
        "IndexRowKey": index_row_key(job),
        **outputs_properties(job.outputs),
    }
    if job.user is not None:
        entity["User"] = job.user
    if job.conversation_id is not None:
        entity["ConversationId"] = job.conversation_id
    if job.error is not None:
        entity["Error"] = json.dumps(job.error.to_dict(), ensure_ascii=False)
    if job.callback is not None:
        entity["Callback"] = json.dumps(job.callback.to_dict(), ensure_ascii=False, separators=(",", ":"))
    if job.review is not None:
        entity["Review"] = json.dumps(job.review.to_dict(), ensure_ascii=False, separators=(",", ":"))
    if idempotency_partition_key is not None:
        entity["IdempotencyKey"] = idempotency_partition_key
    return entity


def _conversation_id(value: object) -> str | None:
    # A row written by hand may hold anything here; the job still reads (as one without a conversation).
    return value if isinstance(value, str) and value else None


def job_from_entity(entity: Mapping[str, Any], *, etag: str | None) -> Job:
    error = entity.get("Error")
    return Job(
        id=str(entity["PartitionKey"]),
        status=JobStatus(entity["Status"]),
        kind=JobKind(entity["Kind"]),
        prompt=str(entity["Prompt"]),
        n=int(entity["N"]),
        size=str(entity["Size"]),
        user=entity.get("User"),
        channel=Channel(entity["Channel"]),
        created_at=_utc(entity["CreatedAt"]),
        updated_at=_utc(entity["UpdatedAt"]),
        completed=int(entity.get("Completed", 0)),
        outputs=outputs_from_properties(entity),
        error=JobError.from_dict(json.loads(error)) if error else None,
        delivery=ChatDelivery.from_dict(json.loads(entity.get("Delivery") or "{}")),
        cancel_requested=bool(entity.get("CancelRequested", False)),
        gated=bool(entity.get("ReviewGate", False)),
        waiting=json.loads(entity["Waiting"]) if entity.get("Waiting") else None,
        conversation_id=_conversation_id(entity.get("ConversationId")),
        callback=Callback.from_dict(json.loads(entity["Callback"])) if entity.get("Callback") else None,
        review=Review.from_dict(json.loads(entity["Review"])) if entity.get("Review") else None,
        etag=etag,
    )


def index_entity(job: Job, partition: str) -> dict[str, Any]:
    entity: dict[str, Any] = {
        "PartitionKey": partition,
        "RowKey": index_row_key(job),
        "JobId": job.id,
        "Status": job.status.value,
        "CreatedAt": job.created_at,
    }
    if job.user is not None:
        # Lets maintenance find the user partition of an entry whose job row is gone.
        entity["User"] = job.user
    return entity


def record_entity(partition: str, *, job_id: str, fingerprint: str) -> dict[str, str]:
    return {
        "PartitionKey": partition,
        "RowKey": IDEMPOTENCY_ROW_KEY,
        "JobId": job_id,
        "Fingerprint": fingerprint,
    }


class IdempotencyRecords:
    def __init__(self, table: TableClient) -> None:
        self.table = table

    @staticmethod
    def partition(user: str | None, key: str) -> str:
        # Hashed: the key is client-chosen text, and the row should not echo it back.
        return idempotency_partition(user, key)

    async def read(self, partition: str) -> tuple[str, str] | None:
        """(first job id, its fingerprint), or None if the record is gone."""
        try:
            entity = await self.table.get_entity(partition, IDEMPOTENCY_ROW_KEY)
        except ResourceNotFoundError:
            return None
        return str(entity["JobId"]), str(entity.get("Fingerprint", ""))

    async def remove(self, partition: str) -> None:
        await self.table.delete_entity(partition, IDEMPOTENCY_ROW_KEY)


async def _create(service: TableServiceClient, name: str, known: set[str]) -> None:
    try:
        await service.create_table(name)
        logger.info("created table %s", name)
    except ResourceExistsError:
        pass
    known.add(name)


async def ensure_tables(service: TableServiceClient, names: Iterable[str], *, known: set[str]) -> None:
    """Create the tables not in `known` (the caller's record of tables created or found, which this
    fills in): the store that owns `known` pays for each table's check once, later calls do no I/O."""
    missing = [name for name in names if name not in known]
    if missing:
        await asyncio.gather(*(_create(service, name, known) for name in missing))
