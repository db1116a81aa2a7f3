"""Queue message decoding and timer schedules (pure logic: no host needed)."""

from __future__ import annotations

import base64
from datetime import UTC, datetime

import pytest

from devhost.queues import decode_body
from devhost.timers import Schedule


def test_base64_messages_are_decoded() -> None:
    assert decode_body(base64.b64encode(b"\xff\x00job").decode(), "base64") == b"\xff\x00job"


def test_text_that_is_not_base64_is_handed_over_as_is() -> None:
    assert decode_body('{"job_id": "x"}', "base64") == b'{"job_id": "x"}'


def test_encoding_none_never_decodes() -> None:
    assert decode_body("aGVsbG8=", "none") == b"aGVsbG8="


def test_six_field_schedule_counts_seconds() -> None:
    schedule = Schedule("*/15 * * * * *")
    start = datetime(2024, 1, 1, 0, 0, 7, tzinfo=UTC)
    assert schedule.next_after(start) == datetime(2024, 1, 1, 0, 0, 15, tzinfo=UTC)


def test_weekday_schedule() -> None:
    schedule = Schedule("0 30 9 * * 1-5")
    saturday = datetime(2024, 1, 6, 12, 0, tzinfo=UTC)
    assert schedule.next_after(saturday) == datetime(2024, 1, 8, 9, 30, tzinfo=UTC)


def test_timespan_schedule_is_an_interval() -> None:
    start = datetime(2024, 1, 1, tzinfo=UTC)
    assert Schedule("00:05:00").next_after(start) == datetime(2024, 1, 1, 0, 5, tzinfo=UTC)


@pytest.mark.parametrize("expression", ["*/5 * * * *", "0 0 25 * * *", "every minute", "00:00:00"])
def test_invalid_schedules(expression: str) -> None:
    with pytest.raises(ValueError):
        Schedule(expression)
