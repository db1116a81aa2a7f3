"""The webhook's work: check the signature, read the events, accept jobs, answer within LINE's 2 s.

The acknowledgement waits for every job to be safely accepted (de-duplication record, job row,
queue message) and for nothing else. Greeting and usage replies and the loading animation start
alongside; the response waits for them at most `SIDE_CALLS_WAIT_SECONDS`, and the ones still
running finish on the worker's event loop after the response has gone.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Any

import azure.functions as func
from linebot.v3.messaging import TextMessage
from linebot.v3.webhook import WebhookParser

from generation.intake import accept_job
from jobs.domain.errors import QuotaExceededError, SettingsError
from jobs.domain.models import Channel, JobKind
from jobs.http import json_response, problem
from jobs.services import Services
from jobs.tables.conversations import conversation_partition, conversation_scope
from line_webhook import texts
from line_webhook.calls import LineCallError, reply, show_loading
from line_webhook.client import line_api
from line_webhook.plan import NewJob, Plan, ReplyNow, ResetConversation, plan_event
from line_webhook.settings import line_settings
from line_webhook.signature import signature_is_valid

logger = logging.getLogger(__name__)

SIDE_CALLS_WAIT_SECONDS = 0.3
# LINE's maximum; the animation stops by itself when the result message arrives.
LOADING_SECONDS = 60
# The signature is verified on the exact bytes received (`respond`); the parser would re-verify a
# decoded and re-encoded copy, which is redundant work on the acknowledgement path.
_PARSER = WebhookParser("verified-before-parsing", skip_signature_verification=lambda: True)


class InvalidWebhookBodyError(ValueError):
    """A correctly signed body that is not a webhook payload this SDK understands."""


async def respond(req: func.HttpRequest, services: Services) -> func.HttpResponse:
    """200 once every event is accepted; 401 for a bad signature; 500 so that LINE redelivers."""
    try:
        line = line_settings(services.settings)
    except SettingsError as exc:
        logger.error("LINE webhook is not configured: %s", exc)
        return problem(500, detail="The LINE channel is not configured.")
    body = req.get_body()
    if not signature_is_valid(line.channel_secret, body, req.headers.get("x-line-signature")):
        logger.warning("LINE webhook: missing or wrong signature; nothing accepted")
        return problem(401, detail="Missing or invalid x-line-signature.")
    try:
        plans = plan_events(parse_events(body), default_kind=line.default_kind)
    except InvalidWebhookBodyError as exc:
        # 400, never 500: LINE redelivers a 5xx, and this body would fail the same way forever.
        logger.warning("LINE webhook: %s", exc)
        return problem(400, detail=str(exc))
    try:
        await handle_plans(services, plans)
    except Exception:
        logger.exception("LINE webhook: an event could not be accepted; answering 500 for a redelivery")
        return problem(500, detail="The events could not be accepted now; LINE will redeliver them.")
    return json_response({})


def parse_events(body: bytes) -> list[Any]:
    """The events of a webhook body whose signature was already checked on the raw bytes."""
    try:
        return list(_PARSER.parse(body.decode("utf-8"), ""))
    except Exception as exc:
        # Whatever the SDK raises on a body it cannot read: UnicodeDecodeError, pydantic errors,
        # RecursionError on deep nesting, ValueError on integers past the digit limit.
        raise InvalidWebhookBodyError(f"unreadable webhook body: {type(exc).__name__}") from None


def plan_events(events: Sequence[Any], *, default_kind: JobKind) -> list[Plan]:
    """What each event needs; InvalidWebhookBodyError when an event cannot even be planned."""
    try:
        return [plan_event(event, default_kind=default_kind) for event in events]
    except Exception as exc:
        logger.exception("LINE webhook: an event could not be planned")
        raise InvalidWebhookBodyError(f"unreadable webhook event: {type(exc).__name__}") from None


async def handle_plans(services: Services, plans: Sequence[Plan]) -> None:
    """Accept every job the plans ask for; raises when one could not be accepted.

    Replies and loading animations run concurrently; they delay the acknowledgement by at most
    `SIDE_CALLS_WAIT_SECONDS` and never fail it.
    """
    side_calls = [services.spawn(_reply_now(services, plan)) for plan in plans if isinstance(plan, ReplyNow)]
    resets = [plan for plan in plans if isinstance(plan, ResetConversation)]
    side_calls += [services.spawn(_reset(services, plan)) for plan in resets]
    accepts = [_accept(services, plan, side_calls) for plan in plans if isinstance(plan, NewJob)]
    results = await asyncio.gather(*accepts, return_exceptions=True)
    if side_calls:
        await asyncio.wait(side_calls, timeout=SIDE_CALLS_WAIT_SECONDS)
    failures = [result for result in results if isinstance(result, BaseException)]
    if failures:
        raise failures[0]


async def _accept(services: Services, plan: NewJob, side_calls: list[asyncio.Task[None]]) -> None:
    """Claim the event, then accept its job; a failed accept gives the claim back for a redelivery."""
    ledger = services.events
    if not await ledger.claim(plan.event_id):
        logger.info("webhook event %s seen before; no new job", plan.event_id)
        return
    try:
        accepted = await accept_job(
            services,
            plan.request,
            channel=Channel.LINE,
            delivery=plan.delivery,
            # The row from an accept whose queue send failed is found again on redelivery.
            idempotency_key=f"line-event:{plan.event_id}",
            fingerprint=plan.event_id,
        )
    except QuotaExceededError as over:
        # The claim stays: the answer is final, and a redelivery must not make the job later.
        logger.info("webhook event %s: over %s; no job", plan.event_id, over.quota)
        if plan.delivery.reply_token:
            note = ReplyNow(plan.delivery.reply_token, texts.over_quota(over.quota, over.limit))
            side_calls.append(services.spawn(_reply_now(services, note)))
        return
    except Exception:
        logger.warning(
            "webhook event %s: job not accepted; releasing the event for redelivery", plan.event_id
        )
        await _release(services, plan.event_id)
        raise
    job = accepted.job
    logger.info("job %s accepted from LINE event %s (%s chat)", job.id, plan.event_id, plan.chat.source_type)
    # Dots only in 1:1 chats (LINE refuses group ids) and only while the result is still to come.
    if not plan.chat.is_group and not job.status.is_terminal:
        api = services.component(line_api)
        side_calls.append(
            services.spawn(show_loading(api, plan.chat.to, seconds=LOADING_SECONDS, job_id=job.id))
        )


async def _release(services: Services, event_id: str) -> None:
    try:
        await services.events.release(event_id)
    except Exception:
        # The claim stays, so a redelivery is skipped: a job row written before the failure is
        # re-driven by the maintenance timer; an event that got no row is lost, as this log says.
        logger.exception("webhook event %s: could not release the claim", event_id)


async def _reset(services: Services, plan: ResetConversation) -> None:
    """Forget the chat's turns, then say so (or that it failed: the user can simply send /reset again)."""
    partition = conversation_partition(conversation_scope(Channel.LINE, None), plan.conversation_id)
    try:
        forgotten = await services.conversations.delete(partition)
        logger.info("conversation %s reset (%d turns forgotten)", plan.conversation_id, forgotten)
        text = texts.RESET_DONE
    except Exception:
        logger.exception("conversation %s could not be reset", plan.conversation_id)
        text = texts.RESET_FAILED
    await _reply_now(services, ReplyNow(plan.reply_token, text))


async def _reply_now(services: Services, plan: ReplyNow) -> None:
    try:
        await reply(services.component(line_api), plan.reply_token, [TextMessage(text=plan.text)])
    except LineCallError as exc:
        logger.warning("immediate LINE reply failed: %s", exc)
