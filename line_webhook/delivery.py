"""The `deliver_line` activity's work: tell the chat how its job ended, by reply or by push.

A reply is free but its token works once and only for about a minute after the event, so the
first batch of messages goes by reply while the token is fresh (`LINE_REPLY_TOKEN_TTL_SECONDS`,
counted from the event's timestamp) and unspent; everything else is pushed with a retry key
derived from the job id, so a retried push is never shown twice.

Failures: transient ones (429, 5xx, no answer) raise TransientLineError, and the orchestrator's
retry runs the activity again. Permanent ones (a 4xx other than an invalid reply token) return a
result with status "failed" after logging: running the same request again cannot succeed.

The remaining duplicate window: LINE accepts a reply, then this process dies (or the ledger write
fails and the activity's result is lost) before the reply is recorded. The retry finds the token
taken but no reply recorded and pushes the first batch, so the chat sees it twice. The window is
the time between LINE's answer and one Table insert. A reply answered with a 5xx or not answered at
all is treated the same way: LINE may or may not have shown it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from linebot.v3.messaging import AsyncMessagingApi, Message

from jobs.blobs.outputs import OutputStore
from jobs.contracts import DeliveryResult
from jobs.domain.models import ChatDelivery, Job, utcnow
from jobs.tables.events import EventLedger
from jobs.tables.store import JobStore
from line_webhook.calls import PermanentLineError, Sent, TransientLineError, push, reply
from line_webhook.messages import build_messages, image_urls, in_batches
from line_webhook.reply_state import ReplyState
from line_webhook.retry_keys import retry_key

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class LineDelivery:
    """Everything a delivery needs: the stores, the LINE client and the two lifetimes."""

    jobs: JobStore
    outputs: OutputStore
    ledger: EventLedger
    api: AsyncMessagingApi
    reply_token_ttl: timedelta
    image_url_ttl: timedelta
    clock: Callable[[], datetime] = utcnow

    async def deliver(self, job_id: str) -> DeliveryResult:
        """Send the finished job to its chat; returns what happened (raises on transient failure)."""
        job = await self.jobs.find(job_id)
        if job is None or not job.status.is_terminal:
            reason = "job not found" if job is None else f"job is {job.status.value}"
            logger.warning("job %s: not delivered to LINE: %s", job_id, reason)
            return {"job_id": job_id, "status": "skipped", "reason": reason}
        if job.delivery is None:
            logger.error("job %s: no LINE chat to deliver to", job_id)
            return {"job_id": job_id, "status": "failed", "reason": "no chat to deliver to"}
        messages = build_messages(job, await image_urls(job, self.outputs, ttl=self.image_url_ttl))
        try:
            via = await self._send(job, job.delivery, in_batches(messages))
        except TransientLineError as exc:
            logger.warning("job %s: LINE delivery will be retried: %s", job_id, exc)
            raise
        except PermanentLineError as exc:
            logger.error("job %s: LINE refused the delivery, not retrying: %s", job_id, exc)
            return {"job_id": job_id, "status": "failed", "reason": str(exc)}
        logger.info(
            "job %s: delivered to LINE %s via %s (%d messages)",
            job_id,
            job.delivery.source_type,
            via,
            len(messages),
        )
        return {"job_id": job_id, "status": "delivered", "via": via, "messages": len(messages)}

    async def _send(self, job: Job, chat: ChatDelivery, batches: Sequence[Sequence[Message]]) -> str:
        replied = await self._reply_first(job, chat, batches[0])
        for number in range(1 if replied else 0, len(batches)):
            outcome = await push(self.api, chat.to, batches[number], retry_key=retry_key(job.id, number))
            if outcome is Sent.ALREADY_SENT:
                logger.info("job %s: push %d was accepted before (409); not sent again", job.id, number)
        return "reply" if replied else "push"

    async def _reply_first(self, job: Job, chat: ChatDelivery, batch: Sequence[Message]) -> bool:
        """True when the first batch is in the chat by reply (now or in an earlier attempt)."""
        token = chat.reply_token
        if not token:
            return False
        state = ReplyState(self.ledger)
        if not await state.take_token(job.id):
            replied = await state.was_replied(job.id)
            logger.info(
                "job %s: reply token used before (reply %s)", job.id, "sent" if replied else "not sent"
            )
            return replied
        if not self.token_fresh(chat):
            logger.info("job %s: reply token too old; pushing", job.id)
            return False
        if await reply(self.api, token, batch) is Sent.INVALID_REPLY_TOKEN:
            logger.info("job %s: LINE refused the reply token; pushing", job.id)
            return False
        await state.mark_replied(job.id)
        return True

    def token_fresh(self, chat: ChatDelivery) -> bool:
        stamp = chat.event_timestamp_ms
        if stamp is None:
            return False
        event_time = datetime.fromtimestamp(stamp / 1000, tz=UTC)
        return self.clock() - event_time < self.reply_token_ttl
