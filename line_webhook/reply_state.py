"""Whether a job's reply token was spent, and whether its reply got through.

A reply token works once and a reply carries no retry key, so a delivery that is retried must know
what an earlier attempt did with the token. Two insert-if-absent records in the webhook-event
ledger say so: `line-reply:{job}` (an attempt took the token) and `line-replied:{job}` (LINE
accepted the reply). Their keys cannot collide with webhook event ids (26-character ULIDs).
"""

from __future__ import annotations

import logging

from jobs.tables.events import EventLedger

logger = logging.getLogger(__name__)


def _taken(job_id: str) -> str:
    return f"line-reply:{job_id}"


def _replied(job_id: str) -> str:
    return f"line-replied:{job_id}"


class ReplyState:
    def __init__(self, ledger: EventLedger) -> None:
        self._ledger = ledger

    async def take_token(self, job_id: str) -> bool:
        """True for the one attempt that may use the reply token; False once any attempt took it."""
        return await self._ledger.claim(_taken(job_id), job_id=job_id)

    async def mark_replied(self, job_id: str) -> None:
        """Record that LINE accepted the reply. A failure is logged, not raised: the message is
        already in the chat, and raising would make the retry push it a second time."""
        try:
            await self._ledger.claim(_replied(job_id), job_id=job_id)
        except Exception:
            logger.exception("job %s: could not record the reply as sent", job_id)

    async def was_replied(self, job_id: str) -> bool:
        """Whether an earlier attempt recorded a reply that got through.

        The ledger only offers insert-if-absent, so this claims the record and, when the claim
        succeeds (nothing was recorded), removes it again.
        """
        if not await self._ledger.claim(_replied(job_id), job_id=job_id):
            return True
        try:
            await self._ledger.release(_replied(job_id))
        except Exception:
            # The answer is still known (not replied). The stray record only misleads a later
            # attempt if this one's push fails too; that attempt would then skip the first batch.
            logger.exception("job %s: could not remove a probe record", job_id)
        return False
