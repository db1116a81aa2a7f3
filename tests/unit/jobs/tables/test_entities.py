"""The Table layout of a Job: round trip, outputs chunking, index keys."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from jobs.domain.callbacks import Callback, CallbackState
from jobs.domain.models import ChatDelivery, JobError, JobKind, JobStatus, Output
from jobs.tables.entities import (
    CHUNK_COUNT,
    index_row_key,
    is_valid_key,
    job_from_entity,
    job_to_entity,
    outputs_from_properties,
    outputs_properties,
    split_utf16,
    user_partition,
)
from testing.factories import make_job
from testing.text import utf16_units


def test_job_round_trips_through_an_entity() -> None:
    job = make_job(user="alice", delivery=ChatDelivery(to="U1"), kind=JobKind.IMAGE, n=2)
    job = job.with_status(JobStatus.RUNNING)
    job = job.with_status(
        JobStatus.FAILED,
        outputs=(Output(index=0, blob_name="x/0.png", width=1, height=2),),
        error=JobError("timeout", "too slow"),
    )
    assert job_from_entity(job_to_entity(job), etag="e1") == replace(job, etag="e1")


def test_small_outputs_fit_one_property() -> None:
    properties = outputs_properties((Output(index=0, text="hi"),))
    assert properties[CHUNK_COUNT] == 1
    assert json.loads(str(properties["Outputs0"])) == [{"index": 0, "text": "hi"}]


def test_long_outputs_are_chunked_under_the_property_limit_and_reassembled() -> None:
    outputs = (Output(index=0, text="答" * 70_000 + "🦊" * 20_000), Output(index=1, text="a" * 50_000))
    properties = outputs_properties(outputs)
    chunks = [str(properties[f"Outputs{i}"]) for i in range(int(properties[CHUNK_COUNT]))]
    assert len(chunks) > 1
    assert all(utf16_units(chunk) <= 30_000 for chunk in chunks)
    assert outputs_from_properties(properties) == outputs


def test_stale_chunks_beyond_the_count_are_ignored() -> None:
    properties = {**outputs_properties((Output(index=0, text="x"),)), "Outputs1": "garbage"}
    assert outputs_from_properties(properties) == (Output(index=0, text="x"),)
    assert outputs_from_properties({}) == ()


def test_split_utf16_never_splits_a_character() -> None:
    text = "a🦊" * 10
    chunks = split_utf16(text, limit=4)
    assert "".join(chunks) == text
    assert all(utf16_units(chunk) <= 4 for chunk in chunks)
    assert split_utf16("") == [""]


def test_index_row_keys_sort_newest_first() -> None:
    base = datetime(2026, 1, 1, tzinfo=UTC)
    keys = [index_row_key(make_job(created_at=base + timedelta(microseconds=i * 999_983))) for i in range(50)]
    assert sorted(keys) == list(reversed(keys))


def test_user_partitions_keep_forbidden_characters_out() -> None:
    partition = user_partition("a/b#c?d\\e")
    assert is_valid_key(partition)
    assert user_partition("a/b") != user_partition("a_b")
    assert not is_valid_key("a/b")
    assert not is_valid_key("")


def test_a_callback_round_trips_and_only_its_delivery_state_is_public() -> None:
    callback = Callback(url="https://hooks.example.com/x?token=t", base_url="https://api.example.com")
    job = make_job(callback=callback.attempted(state=CallbackState.PENDING, last_status=500))
    stored = job_from_entity(job_to_entity(job), etag="e1")
    assert stored.callback == job.callback
    assert stored.callback is not None
    assert stored.callback.public() == {"state": "pending", "attempts": 1, "last_status": 500}
    assert job_from_entity(job_to_entity(make_job()), etag="e1").callback is None
