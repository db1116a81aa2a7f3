"""A job's completion callback: where it goes and how its delivery stands."""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any


class CallbackState(StrEnum):
    """`pending` until the job ends and a receiver answers 2xx (`delivered`) or retries run out (`failed`);
    `dropped` when the job is being deleted (no row shows it: the job is gone right after)."""

    PENDING = "pending"
    DELIVERED = "delivered"
    FAILED = "failed"
    DROPPED = "dropped"


@dataclass(frozen=True)
class Callback:
    """The callback of a job: the receiver's URL and the public base of the status URLs in the body
    (both private to the row), and the delivery state the job resource shows."""

    url: str
    base_url: str
    state: CallbackState = CallbackState.PENDING
    attempts: int = 0
    last_status: int | None = None  # the receiver's HTTP status; None when no answer came (timeout)

    def attempted(self, *, state: CallbackState, last_status: int | None) -> Callback:
        return replace(self, state=state, attempts=self.attempts + 1, last_status=last_status)

    def dropped(self) -> Callback:
        return self if self.state is not CallbackState.PENDING else replace(self, state=CallbackState.DROPPED)

    def public(self) -> dict[str, Any]:
        """The job resource's `callback` field (the URL may hold a receiver's token: never shown)."""
        return {"state": self.state.value, "attempts": self.attempts, "last_status": self.last_status}

    def to_dict(self) -> dict[str, Any]:
        return {"url": self.url, "base_url": self.base_url, **self.public()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Callback | None:
        url, base_url = data.get("url"), data.get("base_url")
        if not isinstance(url, str) or not isinstance(base_url, str):
            return None
        status = data.get("last_status")
        return cls(
            url=url,
            base_url=base_url,
            state=CallbackState(data.get("state", CallbackState.PENDING.value)),
            attempts=int(data.get("attempts", 0)),
            last_status=status if type(status) is int else None,
        )
