"""Telling a LINE chat, once, that its job waits for the provider's capacity and roughly how long.

The orchestrator asks for the notice when a job's first provider slot is more than
`generation.fanout.WAIT_NOTICE` away. It goes by reply while the event's token is fresh and unspent:
a reply is free, and after such a wait the result would mostly come too late for the token anyway
(the delivery then pushes it, as it does for any token already taken). Otherwise it is pushed with a
retry key of its own, so a retried notice is shown once. A notice is a courtesy: one whose reply
token an earlier attempt took is not sent again, and a job already finished gets none.
"""

from __future__ import annotations

import logging
from datetime import datetime

from linebot.v3.messaging import TextMessage

from line_webhook import texts
from line_webhook.calls import Sent, push, reply
from line_webhook.delivery import LineDelivery
from line_webhook.reply_state import ReplyState
from line_webhook.retry_keys import waiting_retry_key

logger = logging.getLogger(__name__)


async def notify_waiting(delivery: LineDelivery, job_id: str, *, start_at: datetime) -> str:
    """Send the notice: "reply", "push", or "skipped" (job gone or finished, token taken before)."""
    job = await delivery.jobs.find(job_id)
    if job is None or job.status.is_terminal or job.delivery is None:
        return "skipped"
    chat = job.delivery
    messages = [TextMessage(text=texts.waiting(start_at - delivery.clock()))]
    if chat.reply_token and delivery.token_fresh(chat):
        if not await ReplyState(delivery.ledger).take_token(job.id):
            logger.info("job %s: reply token taken before; no second waiting notice", job.id)
            return "skipped"
        if await reply(delivery.api, chat.reply_token, messages) is Sent.SENT:
            logger.info("job %s: told the chat it waits for provider capacity (reply)", job.id)
            return "reply"
    await push(delivery.api, chat.to, messages, retry_key=waiting_retry_key(job.id))
    logger.info("job %s: told the chat it waits for provider capacity (push)", job.id)
    return "push"
