"""JobStore on real Azurite: create/get/list, idempotency, delete and big outputs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from jobs.domain.errors import IdempotencyConflictError, InvalidCursorError, JobExistsError, JobNotFoundError
from jobs.domain.models import Channel, ChatDelivery, JobError, JobKind, JobStatus, Output
from jobs.tables.store import JobStore
from testing.factories import make_job

BASE = datetime(2026, 1, 2, 3, 4, 5, 123456, tzinfo=UTC)


async def test_create_then_get_round_trips_every_field(job_store: JobStore) -> None:
    delivery = ChatDelivery(to="U1", source_type="user", reply_token="r", event_timestamp_ms=1700000000000)
    job = make_job(kind=JobKind.IMAGE, n=3, size="1536x1024", user="line:U1", channel=Channel.LINE,
                   delivery=delivery, created_at=BASE)
    created = await job_store.create(job)
    assert created.etag

    read = await job_store.get(job.id)
    assert read.etag == created.etag
    assert read == created


async def test_unknown_and_malformed_ids_are_not_found(job_store: JobStore) -> None:
    assert await job_store.find("no-such-job") is None
    assert await job_store.find("a/b?c#d") is None
    with pytest.raises(JobNotFoundError):
        await job_store.get("no-such-job")


async def test_creating_the_same_id_twice_raises_job_exists(job_store: JobStore) -> None:
    job = await job_store.create(make_job())
    with pytest.raises(JobExistsError):
        await job_store.create(make_job(id=job.id, created_at=job.created_at + timedelta(seconds=1)))
    jobs, _ = await job_store.list_jobs(user=None, status=None, limit=10, cursor=None)
    assert [listed.id for listed in jobs] == [job.id]


async def test_list_is_newest_first_with_cursor_paging(job_store: JobStore) -> None:
    ids = []
    for minute in range(5):
        job = await job_store.create(make_job(user="alice", created_at=BASE + timedelta(minutes=minute)))
        ids.append(job.id)
    newest_first = list(reversed(ids))

    page1, cursor1 = await job_store.list_jobs(user="alice", status=None, limit=2, cursor=None)
    page2, cursor2 = await job_store.list_jobs(user="alice", status=None, limit=2, cursor=cursor1)
    page3, cursor3 = await job_store.list_jobs(user="alice", status=None, limit=2, cursor=cursor2)

    assert [job.id for job in page1 + page2 + page3] == newest_first
    assert cursor1 and cursor2
    assert cursor3 is None


async def test_exact_last_page_has_no_cursor(job_store: JobStore) -> None:
    for minute in range(2):
        await job_store.create(make_job(created_at=BASE + timedelta(minutes=minute)))
    page, cursor = await job_store.list_jobs(user=None, status=None, limit=2, cursor=None)
    assert len(page) == 2
    assert cursor is None


async def test_list_filters_by_user_and_status(job_store: JobStore) -> None:
    alice_old = await job_store.create(make_job(user="alice", created_at=BASE))
    alice_new = await job_store.create(make_job(user="alice", created_at=BASE + timedelta(minutes=1)))
    bob = await job_store.create(make_job(user="bob/with?odd#chars", created_at=BASE + timedelta(minutes=2)))
    anonymous = await job_store.create(make_job(created_at=BASE + timedelta(minutes=3)))
    await job_store.mark_running(alice_old.id)

    everyone, _ = await job_store.list_jobs(user=None, status=None, limit=10, cursor=None)
    alices, _ = await job_store.list_jobs(user="alice", status=None, limit=10, cursor=None)
    bobs, _ = await job_store.list_jobs(user="bob/with?odd#chars", status=None, limit=10, cursor=None)
    running, _ = await job_store.list_jobs(user=None, status=JobStatus.RUNNING, limit=10, cursor=None)
    alice_queued, _ = await job_store.list_jobs(user="alice", status=JobStatus.QUEUED, limit=10, cursor=None)

    assert [j.id for j in everyone] == [anonymous.id, bob.id, alice_new.id, alice_old.id]
    assert [j.id for j in alices] == [alice_new.id, alice_old.id]
    assert [j.id for j in bobs] == [bob.id]
    assert [(j.id, j.status) for j in running] == [(alice_old.id, JobStatus.RUNNING)]
    assert [j.id for j in alice_queued] == [alice_new.id]


@pytest.mark.parametrize("cursor", ["", "not base64!", "e30", "eyJ2IjoxLCJhZnRlciI6Ii4uIn0", "x" * 2000])
async def test_bad_cursor_is_invalid_cursor(job_store: JobStore, cursor: str) -> None:
    with pytest.raises(InvalidCursorError):
        await job_store.list_jobs(user=None, status=None, limit=10, cursor=cursor)


async def test_same_key_same_fingerprint_names_the_first_job(job_store: JobStore) -> None:
    first = await job_store.create(make_job(user="alice"), idempotency_key="k1", fingerprint="f1")
    second = make_job(user="alice")

    with pytest.raises(IdempotencyConflictError) as caught:
        await job_store.create(second, idempotency_key="k1", fingerprint="f1")

    assert caught.value.job_id == first.id
    assert caught.value.same_request is True
    assert await job_store.find(second.id) is None
    listed, _ = await job_store.list_jobs(user="alice", status=None, limit=10, cursor=None)
    assert [job.id for job in listed] == [first.id]


async def test_same_key_different_fingerprint_is_not_the_same_request(job_store: JobStore) -> None:
    first = await job_store.create(make_job(user="alice"), idempotency_key="k1", fingerprint="f1")
    loser = make_job(user="alice")

    with pytest.raises(IdempotencyConflictError) as caught:
        await job_store.create(loser, idempotency_key="k1", fingerprint="other")

    assert caught.value.job_id == first.id
    assert caught.value.same_request is False
    assert await job_store.find(loser.id) is None
    listed, _ = await job_store.list_jobs(user=None, status=None, limit=10, cursor=None)
    assert [job.id for job in listed] == [first.id]


async def test_idempotency_keys_are_per_user(job_store: JobStore) -> None:
    await job_store.create(make_job(user="alice"), idempotency_key="k1", fingerprint="f1")
    bobs = await job_store.create(make_job(user="bob"), idempotency_key="k1", fingerprint="f1")
    assert (await job_store.get(bobs.id)).id == bobs.id


async def test_delete_removes_row_index_and_idempotency_record(job_store: JobStore) -> None:
    job = await job_store.create(make_job(user="alice"), idempotency_key="k1", fingerprint="f1")

    await job_store.delete(job.id)

    assert await job_store.find(job.id) is None
    for user in ("alice", None):
        listed, _ = await job_store.list_jobs(user=user, status=None, limit=10, cursor=None)
        assert listed == []
    # The key is free again: a new job may take it.
    again = await job_store.create(make_job(user="alice"), idempotency_key="k1", fingerprint="f2")
    assert (await job_store.get(again.id)).id == again.id
    with pytest.raises(JobNotFoundError):
        await job_store.delete(job.id)


async def test_text_outputs_of_200_kb_round_trip(job_store: JobStore) -> None:
    job = await job_store.create(make_job(kind=JobKind.TEXT))
    await job_store.mark_running(job.id)
    # Mixed scripts (including characters outside the BMP) to exercise the UTF-16 chunking.
    text = ("長い答え 🦊 long answer with \"quotes\" and \\ backslashes.\n" * 4000)[:200_000]
    outputs = [Output(index=0, content_type="text/plain", text=text)]

    finished = await job_store.finish(job.id, status=JobStatus.SUCCEEDED, outputs=outputs)

    read = await job_store.get(job.id)
    assert read.outputs == finished.outputs == tuple(outputs)
    assert read.completed == 1


async def test_shrinking_outputs_are_read_back_without_old_chunks(job_store: JobStore) -> None:
    job = await job_store.create(make_job(kind=JobKind.TEXT))
    await job_store.record_progress(job.id, [Output(index=0, text="x" * 100_000)])
    await job_store.finish(job.id, status=JobStatus.FAILED, outputs=[Output(index=0, text="short")],
                           error=JobError("internal", "boom"))
    read = await job_store.get(job.id)
    assert read.outputs == (Output(index=0, text="short"),)
    assert read.error == JobError("internal", "boom")


async def test_maintenance_queries_use_the_index(job_store: JobStore) -> None:
    old_queued = await job_store.create(make_job(created_at=BASE))
    old_done = await job_store.create(make_job(created_at=BASE + timedelta(seconds=1)))
    await job_store.finish(old_done.id, status=JobStatus.FAILED, error=JobError("internal", "x"))
    recent = await job_store.create(make_job())

    unfinished = await job_store.list_unfinished(datetime.now(UTC) - timedelta(minutes=1))
    expired = await job_store.list_expired(BASE + timedelta(days=1))

    assert [job.id for job in unfinished] == [old_queued.id]
    assert {job.id for job in expired} == {old_queued.id, old_done.id}
    assert recent.id not in {job.id for job in expired}
