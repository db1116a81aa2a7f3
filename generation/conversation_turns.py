"""Text answers that continue a conversation: the provider sees the recent turns, and the answer
becomes the next turn.

One job at a time answers in a conversation: it holds the conversation's lease (a row beside the
turns, taken under its ETag) from reading the turns until its own turn is written, so two questions
sent at once are answered one after the other, the second seeing the first's turn.
"""

from __future__ import annotations

import asyncio
import logging

from generation.providers.base import Provider, ProviderError
from jobs.domain.conversations import Turn, history_messages, trim_history
from jobs.domain.models import Job, utcnow
from jobs.services import Services
from jobs.tables.conversations import conversation_partition, conversation_scope

logger = logging.getLogger(__name__)

# Longer than a text call may take (the provider's client timeout is 120 s), so a live holder keeps
# it; a holder that died frees the conversation when it runs out.
LEASE_SECONDS = 180.0
# How long an activity waits for the lease before handing the wait back to the orchestrator.
WAIT_SECONDS = 60.0
POLL_SECONDS = 0.25
BUSY_RETRY_AFTER_SECONDS = 2.0


class ConversationBusyError(ProviderError):
    """Another job of the conversation is still answering; try again shortly.

    A ProviderError so that it takes the provider failures' one path: a transient failure the
    orchestrator retries, whose message the user sees if the job runs out of time.
    """

    code = "conversation_busy"
    retryable = True


async def _take_lease(services: Services, partition: str, job_id: str) -> None:
    loop = asyncio.get_running_loop()
    give_up = loop.time() + WAIT_SECONDS
    store = services.conversations
    while not await store.take_lease(partition, holder=job_id, seconds=LEASE_SECONDS):
        if loop.time() >= give_up:
            raise ConversationBusyError(
                "Another question of this conversation is still being answered; please try again.",
                retry_after=BUSY_RETRY_AFTER_SECONDS,
            )
        await asyncio.sleep(POLL_SECONDS)


async def _stopped(services: Services, job_id: str) -> bool:
    current = await services.jobs.find(job_id)
    return current is None or current.cancel_requested or current.status.is_terminal


async def answer_in_conversation(services: Services, job: Job, provider: Provider) -> str:
    """The answer to a text job, given its conversation's recent turns; stored as a new turn.

    Idempotent on the job id: a retried activity whose turn was already written returns that answer
    without asking the provider again, and never adds a second turn.
    """
    assert job.conversation_id is not None
    partition = conversation_partition(conversation_scope(job.channel, job.user), job.conversation_id)
    await _take_lease(services, partition, job.id)
    try:
        turns = await services.conversations.turns(partition)
        written = next((turn for turn in turns if turn.job_id == job.id), None)
        if written is not None:
            logger.info("job %s: its turn was written by an earlier attempt", job.id)
            return written.answer
        settings = services.settings
        history = trim_history(
            turns, prompt=job.prompt,
            max_tokens=settings.conversation_max_tokens, max_turns=settings.conversation_max_turns,
        )
        answer = await provider.generate_text(prompt=job.prompt, history=history_messages(history))
        if await _stopped(services, job.id):
            # Canceled or deleted meanwhile: the user never sees this answer, so later turns must not.
            logger.info("job %s stopped while answering; no turn is written", job.id)
            return answer
        turn = Turn(job_id=job.id, question=job.prompt, answer=answer, created_at=utcnow())
        await services.conversations.add_turn(partition, turn)
        logger.info("job %s answered with %d of %d earlier turns", job.id, len(history), len(turns))
        return answer
    finally:
        await services.conversations.release_lease(partition, holder=job.id)
