"""The caller behind Easy Auth: trusted only when the platform says Easy Auth is on."""

from __future__ import annotations

import json

import pytest

from jobs.config.settings import load_settings
from jobs.domain.errors import JobNotFoundError
from jobs.http import (
    NotSignedInError,
    NotYoursError,
    Principal,
    check_owner,
    claimed_user,
    principal_of,
    refusal,
)
from testing.factories import make_job

ALICE = {"X-MS-CLIENT-PRINCIPAL-ID": "0b8c3f0e-1111-4a5b-9c1d-2e3f4a5b6c7d",
         "X-MS-CLIENT-PRINCIPAL-NAME": "alice@example.com"}


@pytest.mark.parametrize(("value", "enabled"), [
    (None, False), ("", False), ("False", False), ("false", False), ("True", True), ("true", True),
    ("1", True)])
def test_the_platform_variable_says_whether_easy_auth_is_on(value: str | None, enabled: bool) -> None:
    environ = {"GENERATION_STORAGE": "UseDevelopmentStorage=true"}
    if value is not None:
        environ["WEBSITE_AUTH_ENABLED"] = value
    assert load_settings(environ).easy_auth_enabled is enabled


def test_without_easy_auth_the_headers_are_ignored() -> None:
    assert principal_of(ALICE, easy_auth=False) is None
    assert principal_of({}, easy_auth=False) is None


def test_behind_easy_auth_the_headers_name_the_caller_in_any_case() -> None:
    lowered = {name.lower(): value for name, value in ALICE.items()}
    for headers in (ALICE, lowered):
        assert principal_of(headers, easy_auth=True) == Principal(
            id="0b8c3f0e-1111-4a5b-9c1d-2e3f4a5b6c7d", name="alice@example.com")
    assert principal_of({"x-ms-client-principal-id": "p1"}, easy_auth=True) == Principal(id="p1")


@pytest.mark.parametrize("principal_id", [None, "", "  ", "x" * 65, "a\nb"])
def test_behind_easy_auth_a_missing_or_unusable_principal_is_not_signed_in(principal_id: str | None) -> None:
    headers = {} if principal_id is None else {"X-MS-CLIENT-PRINCIPAL-ID": principal_id}
    with pytest.raises(NotSignedInError):
        principal_of(headers, easy_auth=True)


def test_claimed_user() -> None:
    assert claimed_user("bob", None, field="user") == "bob"  # no Easy Auth: the body decides
    assert claimed_user(None, None, field="user") is None
    assert claimed_user(None, "alice", field="user") == "alice"
    assert claimed_user("alice", "alice", field="user") == "alice"
    with pytest.raises(NotYoursError) as refused:
        claimed_user("bob", "alice", field="user")
    assert refused.value.field == "user"


def test_check_owner_hides_other_principals_jobs() -> None:
    job = make_job(user="alice")
    assert check_owner(job, None) is job
    assert check_owner(job, "alice") is job
    with pytest.raises(JobNotFoundError) as missing:
        check_owner(job, "bob")
    assert missing.value.job_id == job.id
    with pytest.raises(JobNotFoundError):
        check_owner(make_job(user=None), "bob")


def test_refusals_are_problems() -> None:
    unauthenticated = refusal(NotSignedInError())
    assert unauthenticated.status_code == 401
    assert unauthenticated.mimetype == "application/problem+json"
    forbidden = refusal(NotYoursError("user"))
    body = json.loads(forbidden.get_body())
    assert (forbidden.status_code, body["status"]) == (403, 403)
    assert body["errors"] == [{"field": "user", "message": "names another user than the signed-in caller"}]
