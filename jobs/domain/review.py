"""The human review gate's record and rules: pure, no I/O and no clock (callers pass `now`).

A held job keeps its status (`running`) and carries a `Review`: pending until a reviewer decides or
the wait runs out. Decisions are exact under concurrency because the store applies them as ETag-guarded
transitions of the job row (`jobs.domain.models.apply_review_decision`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum
from typing import Any

MAX_NOTE_CHARS = 1000
ALL_REASON = "every output is reviewed (REVIEW_MODE=all)"


class ReviewMode(StrEnum):
    OFF = "off"
    FLAGGED = "flagged"
    ALL = "all"


class ReviewState(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"


class Decision(StrEnum):
    APPROVE = "approve"
    REJECT = "reject"


class ReviewNotPendingError(Exception):
    """The job has no review waiting for a decision (never held, already decided, or finished)."""

    def __init__(self, job_id: str, state: str) -> None:
        super().__init__(f"job {job_id} is not waiting for review ({state})")
        self.job_id = job_id
        self.state = state


@dataclass(frozen=True)
class Review:
    """A job's review: why it was held, until when it waits, and what was decided."""

    state: ReviewState
    reason: str
    requested_at: datetime
    expires_at: datetime
    decided_at: datetime | None = None
    note: str | None = None
    timed_out: bool = False

    @property
    def pending(self) -> bool:
        return self.state is ReviewState.PENDING

    def decided(self, decision: Decision, *, note: str | None, now: datetime) -> Review:
        state = ReviewState.APPROVED if decision is Decision.APPROVE else ReviewState.REJECTED
        return replace(self, state=state, decided_at=now, note=note or None)

    def expired(self, *, now: datetime) -> Review:
        return replace(self, state=ReviewState.REJECTED, decided_at=now, timed_out=True)

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "state": self.state.value,
            "reason": self.reason,
            "requested_at": self.requested_at.isoformat(),
            "expires_at": self.expires_at.isoformat(),
        }
        if self.decided_at is not None:
            data["decided_at"] = self.decided_at.isoformat()
        if self.note:
            data["note"] = self.note
        if self.timed_out:
            data["timed_out"] = True
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Review:
        decided = data.get("decided_at")
        return cls(
            state=ReviewState(data["state"]),
            reason=str(data["reason"]),
            requested_at=datetime.fromisoformat(data["requested_at"]),
            expires_at=datetime.fromisoformat(data["expires_at"]),
            decided_at=datetime.fromisoformat(decided) if decided else None,
            note=data.get("note") or None,
            timed_out=bool(data.get("timed_out", False)),
        )


def matching_term(texts: Iterable[str], terms: Sequence[str]) -> str | None:
    """The first of `terms` (already case-folded) found in any of `texts`, ignoring case."""
    folded = [text.casefold() for text in texts]
    return next((term for term in terms if any(term in text for text in folded)), None)


def hold_reason(mode: ReviewMode, *, flags: Sequence[str], term: str | None) -> str | None:
    """Why the outputs wait for a person, or None when they go out at once.

    `flags` are the provider's moderation verdicts on the outputs (one reason each), `term` the
    REVIEW_TERMS entry they matched. In `all` mode every job waits, saying why when it was flagged too.
    """
    if mode is ReviewMode.OFF:
        return None
    reasons = [*flags, *([f"matches the review term '{term}'"] if term else [])]
    if reasons:
        return "; ".join(dict.fromkeys(reasons))
    return ALL_REASON if mode is ReviewMode.ALL else None


def rejection_message(review: Review) -> str:
    """The job error's message: the reviewer's note when there is one (never shown on LINE)."""
    if review.timed_out:
        return "No reviewer decided in time, so the output was withheld."
    base = "A reviewer withheld the output."
    return f"{base} Note: {review.note}" if review.note else base
