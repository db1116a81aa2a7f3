"""Telling a storage outage (worth a retry later) from a fault of ours, and answering it."""

from __future__ import annotations

import azure.functions as func
from azure.core.exceptions import HttpResponseError, ServiceRequestError, ServiceResponseError

from jobs.http.responses import problem

# How long a client should wait before trying again while storage is down.
STORAGE_RETRY_AFTER_SECONDS = "5"
STORE_UNAVAILABLE = "The job store is unavailable; try again shortly."


def storage_is_down(exc: BaseException) -> bool:
    """A network failure, a timeout or a 5xx from Table, Blob or Queue Storage."""
    if isinstance(exc, ServiceRequestError | ServiceResponseError):
        return True
    return isinstance(exc, HttpResponseError) and (exc.status_code or 0) >= 500


def unavailable(detail: str = STORE_UNAVAILABLE) -> func.HttpResponse:
    """A 503 problem with Retry-After: nothing was changed, the client may simply try again."""
    return problem(503, detail=detail, headers={"Retry-After": STORAGE_RETRY_AFTER_SECONDS})
