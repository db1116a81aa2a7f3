from __future__ import annotations

from dataclasses import replace

import pytest
from linebot.v3.messaging import ImageMessage, TextMessage

from jobs.domain.models import Channel, Job, JobError, JobKind, JobRequest, JobStatus, Output
from line_webhook import texts
from line_webhook.messages import (
    EMPTY_ANSWER,
    MAX_TEXT_UNITS,
    build_messages,
    in_batches,
    split_text,
)
from testing.text import utf16_units


def _job(kind: JobKind = JobKind.IMAGE, n: int = 1, **changes: object) -> Job:
    job = Job.new(JobRequest(prompt="a red fox", kind=kind, n=n), channel=Channel.LINE)
    return replace(job, **changes)  # type: ignore[arg-type]


def _image(index: int) -> Output:
    return Output(
        index=index,
        content_type="image/png",
        blob_name=f"j/{index}.png",
        preview_blob_name=f"j/{index}.preview.jpg",
        width=1024,
        height=1024,
    )


def _urls(*indexes: int) -> dict[int, tuple[str, str]]:
    return {i: (f"https://blob/j/{i}.png?sig", f"https://blob/j/{i}.preview.jpg?sig") for i in indexes}


# ---- split_text -------------------------------------------------------------------------------
def test_short_text_is_one_piece() -> None:
    assert split_text("  hello  ") == ["hello"]
    assert split_text("") == []


def test_long_text_is_cut_at_paragraph_breaks_within_the_limit() -> None:
    paragraphs = ["a" * 3000, "b" * 3000, "c" * 3000]
    pieces = split_text("\n\n".join(paragraphs))
    assert pieces == paragraphs


def test_text_without_breaks_is_cut_hard_at_the_limit() -> None:
    pieces = split_text("x" * 12_001)
    assert [len(piece) for piece in pieces] == [MAX_TEXT_UNITS, MAX_TEXT_UNITS, 2001]


def test_words_are_not_cut_when_a_space_is_near() -> None:
    text = " ".join(["word"] * 3000)  # 14,999 characters
    pieces = split_text(text)
    assert all(utf16_units(piece) <= MAX_TEXT_UNITS for piece in pieces)
    assert all(piece.split(" ") == ["word"] * len(piece.split(" ")) for piece in pieces)
    assert " ".join(pieces) == text


def test_the_limit_counts_utf16_units_and_never_splits_a_character() -> None:
    text = "\U0001f98a" * 3000  # each fox emoji is 2 UTF-16 units
    pieces = split_text(text)
    assert [len(piece) for piece in pieces] == [2500, 500]
    assert all(utf16_units(piece) <= MAX_TEXT_UNITS for piece in pieces)
    assert "".join(pieces) == text


def test_batches_hold_at_most_five_messages() -> None:
    messages = [TextMessage(text=str(i)) for i in range(11)]
    batches = in_batches(messages)
    assert [len(batch) for batch in batches] == [5, 5, 1]
    assert [m for batch in batches for m in batch] == messages


# ---- build_messages ---------------------------------------------------------------------------
def test_a_finished_image_job_becomes_image_messages_with_original_and_preview() -> None:
    job = _job(n=2, status=JobStatus.SUCCEEDED, outputs=(_image(1), _image(0)), completed=2)
    messages = build_messages(job, _urls(0, 1))
    assert all(isinstance(message, ImageMessage) for message in messages)
    assert [(m.original_content_url, m.preview_image_url) for m in messages] == [_urls(0)[0], _urls(1)[1]]


def test_outputs_that_failed_are_mentioned_once_after_the_images() -> None:
    failed = Output(index=1, error=JobError("provider_unavailable", "upstream 503"))
    job = _job(n=3, status=JobStatus.SUCCEEDED, outputs=(_image(0), failed, _image(2)), completed=2)
    messages = build_messages(job, _urls(0, 2))
    assert [type(m) for m in messages] == [ImageMessage, ImageMessage, TextMessage]
    assert messages[-1].text == "1 of 3 pictures could not be made."


def test_a_text_answer_is_split_into_text_messages() -> None:
    answer = "\n\n".join(["a" * 4000, "b" * 4000, "c" * 10])
    job = _job(JobKind.TEXT, status=JobStatus.SUCCEEDED, outputs=(Output(index=0, text=answer),))
    messages = build_messages(job, {})
    # Paragraphs stay together while they fit in one message.
    assert [m.text for m in messages] == ["a" * 4000, "b" * 4000 + "\n\n" + "c" * 10]


def test_an_empty_answer_gets_a_note_instead_of_an_empty_message() -> None:
    job = _job(JobKind.TEXT, status=JobStatus.SUCCEEDED, outputs=(Output(index=0, text="  "),))
    assert [m.text for m in build_messages(job, {})] == [EMPTY_ANSWER]


def test_rejected_content_says_so_and_suggests_rephrasing() -> None:
    error = JobError("content_rejected", "Error code: 400 - {'error': {'code': 'moderation_blocked'}}")
    messages = build_messages(_job(status=JobStatus.FAILED, error=error), {})
    assert [m.text for m in messages] == [texts.REJECTED]
    assert "rephras" in texts.REJECTED
    assert "moderation_blocked" not in messages[0].text


@pytest.mark.parametrize("code", ["provider_unavailable", "internal", "configuration", "something_new"])
def test_other_failures_say_try_again_later_without_details(code: str) -> None:
    error = JobError(code, "Traceback (most recent call last): ... secret-ish detail")
    [message] = build_messages(_job(status=JobStatus.FAILED, error=error), {})
    assert message.text == texts.TRY_LATER
    assert "Traceback" not in message.text


def test_a_canceled_job_gets_a_short_note() -> None:
    job = _job(status=JobStatus.CANCELED, error=JobError("canceled", "The job was canceled."))
    assert [m.text for m in build_messages(job, {})] == [texts.CANCELED]


def test_a_succeeded_job_without_images_is_reported_as_a_failure() -> None:
    job = _job(status=JobStatus.SUCCEEDED, outputs=())
    assert [m.text for m in build_messages(job, {})] == [texts.TRY_LATER]
