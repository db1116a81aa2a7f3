"""The review gate's pure rules: when outputs are held, term matching, and the decision transitions."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from jobs.domain.errors import InvalidTransitionError
from jobs.domain.models import (
    Job,
    JobError,
    JobStatus,
    Output,
    apply_hold,
    apply_pass,
    apply_progress,
    apply_rejection,
    apply_review_decision,
    apply_review_expiry,
    start_running,
)
from jobs.domain.review import (
    ALL_REASON,
    Decision,
    Review,
    ReviewMode,
    ReviewNotPendingError,
    ReviewState,
    hold_reason,
    matching_term,
    rejection_message,
)
from testing.factories import make_job

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
PENDING = Review(ReviewState.PENDING, "why", NOW, NOW + timedelta(hours=1))


def _gated(**fields: object) -> Job:
    job = start_running(make_job(**fields), gated=True)
    assert job is not None
    return job


def test_terms_match_case_insensitively_anywhere_in_any_text() -> None:
    assert matching_term(["A LightHouse at dawn"], ("harbour", "lighthouse")) == "lighthouse"
    assert matching_term(["calm sea", "answer about a HARBOUR"], ("harbour",)) == "harbour"
    assert matching_term(["nothing here"], ("harbour",)) is None
    assert matching_term(["anything"], ()) is None


@pytest.mark.parametrize(("mode", "flags", "term", "expected"), [
    (ReviewMode.OFF, ["moderation flagged violence"], "x", None),
    (ReviewMode.FLAGGED, [], None, None),
    (ReviewMode.FLAGGED, ["moderation flagged violence"], None, "moderation flagged violence"),
    (ReviewMode.FLAGGED, [], "harbour", "matches the review term 'harbour'"),
    (ReviewMode.FLAGGED, ["a", "a"], "t", "a; matches the review term 't'"),
    (ReviewMode.ALL, [], None, ALL_REASON),
    (ReviewMode.ALL, [], "harbour", "matches the review term 'harbour'"),
])
def test_hold_reason(mode: ReviewMode, flags: list[str], term: str | None, expected: str | None) -> None:
    assert hold_reason(mode, flags=flags, term=term) == expected


def test_a_gated_job_is_not_finished_by_its_last_output_and_hides_it() -> None:
    job = _gated()
    progressed = apply_progress(job, [Output(index=0, content_type="image/png", blob_name="b")])
    assert progressed is not None and progressed.status is JobStatus.RUNNING
    assert progressed.outputs_withheld
    passed = apply_pass(progressed)
    assert passed is not None and not passed.outputs_withheld and apply_pass(passed) is None


def test_one_review_per_job_and_only_on_a_running_job() -> None:
    job = _gated()
    held = apply_hold(job, PENDING)
    assert held is not None and held.review == PENDING
    assert apply_hold(held, replace(PENDING, reason="other")) is None, "a second hold keeps the first"
    assert apply_hold(replace(job, cancel_requested=True), PENDING) is None
    assert apply_hold(make_job(), PENDING) is None, "a queued job is not held"


def test_a_decision_is_made_once() -> None:
    held = apply_hold(_gated(), PENDING)
    assert held is not None
    approved = apply_review_decision(held, Decision.APPROVE, note=None)
    assert approved.review is not None and approved.review.state is ReviewState.APPROVED
    assert approved.review.decided_at is not None and not approved.outputs_withheld
    with pytest.raises(ReviewNotPendingError, match="already approved"):
        apply_review_decision(approved, Decision.REJECT, note="late")
    with pytest.raises(ReviewNotPendingError, match="not held"):
        apply_review_decision(_gated(), Decision.APPROVE, note=None)
    with pytest.raises(ReviewNotPendingError, match="canceled"):
        apply_review_decision(replace(held, cancel_requested=True), Decision.APPROVE, note=None)


def test_expiry_rejects_only_a_pending_review() -> None:
    held = apply_hold(_gated(), PENDING)
    assert held is not None
    expired = apply_review_expiry(held)
    assert expired is not None and expired.review is not None and expired.review.timed_out
    assert expired.review.state is ReviewState.REJECTED
    assert apply_review_expiry(apply_review_decision(held, Decision.APPROVE, note=None)) is None


def test_a_rejection_fails_the_job_without_outputs_and_the_message_carries_the_note() -> None:
    held = apply_hold(_gated(), PENDING)
    assert held is not None
    rejected = apply_review_decision(held, Decision.REJECT, note="off topic")
    assert rejected.review is not None
    message = rejection_message(rejected.review)
    assert message.endswith("Note: off topic")
    failed = apply_rejection(replace(rejected, outputs=(Output(index=0, text="t"),), completed=1),
                             JobError("review_rejected", message))
    assert failed.status is JobStatus.FAILED and failed.outputs == () and failed.completed == 0
    with pytest.raises(InvalidTransitionError):
        apply_rejection(failed, JobError("review_rejected", message))
    assert "in time" in rejection_message(replace(PENDING, timed_out=True))


def test_the_review_record_survives_its_row_form() -> None:
    decided = PENDING.decided(Decision.REJECT, note="n", now=NOW)
    assert Review.from_dict(decided.to_dict()) == decided
    assert Review.from_dict(PENDING.expired(now=NOW).to_dict()).timed_out
