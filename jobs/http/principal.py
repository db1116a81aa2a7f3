"""Who the caller is, when App Service Authentication (Easy Auth) says so.

Behind Easy Auth the platform signs people in and passes the caller to the app in
`X-MS-CLIENT-PRINCIPAL-*` headers, which it strips from outside requests; the platform sets
`WEBSITE_AUTH_ENABLED=True` in that case. Without it those headers are whatever a client chose to send,
so they are ignored, and function keys plus the body's `user` stay the rules (the setting is read into
`Settings.easy_auth_enabled`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import azure.functions as func

from jobs.domain.errors import JobNotFoundError
from jobs.domain.models import Job
from jobs.http.responses import problem

ID_HEADER = "x-ms-client-principal-id"
NAME_HEADER = "x-ms-client-principal-name"
MAX_PRINCIPAL_CHARS = 64


class NotSignedInError(Exception):
    """Easy Auth is on, yet the request carries no principal (anonymous requests were let through)."""


class NotYoursError(Exception):
    """The request names a `user` other than the signed-in principal; `field` is where it did."""

    def __init__(self, field: str) -> None:
        super().__init__(f"{field} names another user")
        self.field = field


@dataclass(frozen=True)
class Principal:
    id: str
    name: str | None = None


def principal_of(headers: Mapping[str, str], *, easy_auth: bool) -> Principal | None:
    """The signed-in caller behind Easy Auth; None without it. `headers` match case-insensitively."""
    if not easy_auth:
        return None
    lowered = {name.lower(): value for name, value in headers.items()}
    principal_id = lowered.get(ID_HEADER, "").strip()
    if not principal_id or len(principal_id) > MAX_PRINCIPAL_CHARS or not principal_id.isprintable():
        raise NotSignedInError
    return Principal(id=principal_id, name=lowered.get(NAME_HEADER, "").strip() or None)


def owner_of(headers: Mapping[str, str], *, easy_auth: bool) -> str | None:
    """The user every job of this request must belong to: the principal's id, or None without Easy Auth."""
    principal = principal_of(headers, easy_auth=easy_auth)
    return None if principal is None else principal.id


def claimed_user(named: str | None, owner: str | None, *, field: str) -> str | None:
    """The `user` a request acts as: the owner when there is one (naming another is NotYoursError)."""
    if owner is None:
        return named
    if named is not None and named != owner:
        raise NotYoursError(field)
    return owner


def check_owner(job: Job, owner: str | None) -> Job:
    """The job, when `owner` may see it; another principal's job does not exist for this caller."""
    if owner is not None and job.user != owner:
        raise JobNotFoundError(job.id)
    return job


def refusal(error: NotSignedInError | NotYoursError) -> func.HttpResponse:
    """The problem answer for a caller who is not signed in (401) or acts as someone else (403)."""
    if isinstance(error, NotSignedInError):
        return problem(401, title="Not signed in", detail="Sign in first: this service knows its callers.")
    return problem(
        403, title="Not your user",
        detail="Signed-in callers act as themselves: leave `user` out or give your own id.",
        errors=[{"field": error.field, "message": "names another user than the signed-in caller"}],
    )
