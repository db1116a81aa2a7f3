"""The callback URL of a submitted request, checked by the SSRF guard before anything is stored."""

from __future__ import annotations

import logging
from dataclasses import replace

from generation.callbacks.delivery import callback_sender
from generation.callbacks.guard import CallbackRefusedError
from generation.validation import InvalidRequestError
from jobs.domain.models import JobRequest
from jobs.services import Services

logger = logging.getLogger(__name__)


def _refused(message: str) -> InvalidRequestError:
    errors = [{"field": "callback_url", "message": message}]
    return InvalidRequestError(422, f"The callback_url is refused: it {message}.", errors)


async def with_checked_callback(request: JobRequest, services: Services, *, base_url: str) -> JobRequest:
    """The request with its callback's status-URL base, when its callback URL passes the guard;
    InvalidRequestError (422 naming `callback_url`) when it does not, or callbacks are not set up."""
    if request.callback_url is None:
        return request
    if services.settings.callback_signing_secret is None:
        raise _refused("cannot be used: this service has no CALLBACK_SIGNING_SECRET")
    try:
        await services.component(callback_sender).check(request.callback_url)
    except CallbackRefusedError as exc:
        logger.info("callback URL refused at submit: %s", exc)
        raise _refused(str(exc)) from None
    return replace(request, callback_base_url=base_url)
