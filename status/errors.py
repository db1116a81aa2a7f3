"""One place that turns what the status handlers raise into RFC 9457 problems."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

import azure.functions as func

from jobs.domain.errors import ConversationNotFoundError, InvalidCursorError, JobNotFoundError
from jobs.http import NotSignedInError, NotYoursError, problem, refusal, storage_is_down, unavailable
from status.queries import InvalidQueryError

logger = logging.getLogger(__name__)


def not_found(job_id: str) -> func.HttpResponse:
    return problem(404, detail=f"No generation job with id '{job_id}' exists.")


def _missing(error: JobNotFoundError | ConversationNotFoundError) -> func.HttpResponse:
    if isinstance(error, ConversationNotFoundError):
        return problem(404, detail=f"No conversation with id '{error.conversation_id}' exists.")
    return not_found(error.job_id)


async def answer(
    work: Callable[[], Awaitable[func.HttpResponse]], *, job_id: str | None = None
) -> func.HttpResponse:
    """Run a handler; map expected errors to 4xx problems, a storage outage to a 503 with
    Retry-After, and anything else to a bare 500.

    `work` is called inside the guard so that building the stores (settings) is covered too.
    """
    try:
        return await work()
    except (NotSignedInError, NotYoursError) as refused:
        return refusal(refused)
    except InvalidQueryError as invalid:
        return problem(400, title="Invalid query", detail=str(invalid), errors=invalid.errors)
    except InvalidCursorError:
        return problem(
            400, title="Invalid cursor",
            detail="The cursor is not one this service issued; start again without it.",
            errors=[{"field": "cursor", "message": "is malformed or was altered"}],
        )
    except (JobNotFoundError, ConversationNotFoundError) as missing:
        return _missing(missing)
    except Exception as exc:
        return _unexpected(exc, job_id=job_id)


def _unexpected(exc: Exception, *, job_id: str | None) -> func.HttpResponse:
    """A storage outage is a 503 with Retry-After; anything else a bare 500."""
    if storage_is_down(exc):
        logger.warning("job %s: storage unavailable; answered 503: %s", job_id or "-", type(exc).__name__)
        return unavailable()
    # The trace goes to the log only; the client learns nothing about internals.
    logger.exception("job %s: unexpected error answering a status API request", job_id or "-")
    return problem(500, detail="The request could not be completed; try again later.")
