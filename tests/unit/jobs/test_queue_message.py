"""Job queue messages: JSON body, base64 for Storage queues, strict parsing."""

from __future__ import annotations

import base64
import json

import pytest

from jobs.contracts import (
    JobMessage,
    job_message_body,
    parse_job_message,
    read_job_message,
    storage_message_text,
)


def test_body_is_json_with_the_job_id() -> None:
    assert json.loads(job_message_body("job-1")) == {"job_id": "job-1"}


def test_body_carries_the_output_count_when_given() -> None:
    assert json.loads(job_message_body("job-1", 3)) == {"job_id": "job-1", "outputs": 3}
    assert read_job_message(storage_message_text("job-1", 3)) == JobMessage("job-1", 3)


@pytest.mark.parametrize("outputs", ['"3"', "0", "-1", "99", "2.0", "true", "null"])
def test_an_unusable_output_count_is_ignored_not_fatal(outputs: str) -> None:
    # The count is only a hint for starting early; the job row has the real one.
    assert read_job_message('{"job_id": "job-1", "outputs": ' + outputs + "}") == JobMessage("job-1", None)


def test_storage_text_is_base64_of_the_body() -> None:
    text = storage_message_text("job-1")
    assert base64.b64decode(text, validate=True).decode() == job_message_body("job-1")


@pytest.mark.parametrize(
    "body",
    [
        '{"job_id": "job-1"}',
        b'{"job_id": "job-1"}',
        ' {"job_id":"job-1"}\n',
        storage_message_text("job-1"),
        storage_message_text("job-1").encode(),
    ],
)
def test_parse_accepts_json_and_base64_json(body: str | bytes) -> None:
    assert parse_job_message(body) == "job-1"


@pytest.mark.parametrize(
    "body",
    [
        "",
        "hello",
        "{not json",
        "[]",
        '"job-1"',
        "{}",
        '{"job_id": 5}',
        '{"job_id": ""}',
        '{"job_id": "a/b"}',
        '{"job_id": "' + "x" * 200 + '"}',
        base64.b64encode(b"[1]").decode(),
        b"\xff\xfe",
    ],
)
def test_parse_rejects_garbage_with_value_error(body: str | bytes) -> None:
    with pytest.raises(ValueError):
        parse_job_message(body)
