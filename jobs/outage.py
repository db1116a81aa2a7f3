"""Telling a storage outage (worth a retry later) from a fault of ours (a bug to log)."""

from __future__ import annotations

from azure.core.exceptions import HttpResponseError, ServiceRequestError, ServiceResponseError

# How long a client should wait before trying again while storage is down.
STORAGE_RETRY_AFTER_SECONDS = "5"


def storage_is_down(exc: BaseException) -> bool:
    """A network failure, a timeout or a 5xx from Table, Blob or Queue Storage."""
    if isinstance(exc, ServiceRequestError | ServiceResponseError):
        return True
    return isinstance(exc, HttpResponseError) and (exc.status_code or 0) >= 500
