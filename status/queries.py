"""The strict parsing of the status API's query strings and route values: the list's `?user=&status=
&limit=&cursor=`, a conversation's `?user=`, an output's index and `?variant=` (`?wait=` is
`jobs.http.parse_wait`, beside the long-poll it asks for)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from jobs.domain.models import MAX_USER_CHARS, JobStatus
from jobs.http import DIGITS, InvalidQueryError, field_error

DEFAULT_LIMIT = 20
MAX_LIMIT = 100
VARIANTS = ("original", "preview")
# What an owner id may hold (the submit body's rule): no C0/C1 controls, no lone surrogates.
_BAD_USER = re.compile(r"[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
EMPTY = "must not be empty (leave the parameter out instead)"


@dataclass(frozen=True)
class ListQuery:
    user: str | None
    status: JobStatus | None
    limit: int
    cursor: str | None


def _digits(value: str) -> int | None:
    """A plain non-negative decimal integer ("+1", "1.0", " 1" and "-1" are not)."""
    if not DIGITS.fullmatch(value) or len(value) > 9:
        return None
    return int(value)


def _parse_limit(raw: str | None, errors: list[dict[str, str]]) -> int:
    if raw is None:
        return DEFAULT_LIMIT
    limit = _digits(raw)
    if limit is None or not 1 <= limit <= MAX_LIMIT:
        errors.append(field_error("limit", f"must be an integer from 1 to {MAX_LIMIT}"))
        return DEFAULT_LIMIT
    return limit


def _parse_status(raw: str | None, errors: list[dict[str, str]]) -> JobStatus | None:
    if raw is None:
        return None
    try:
        return JobStatus(raw)
    except ValueError:
        errors.append(field_error("status", f"must be one of {', '.join(s.value for s in JobStatus)}"))
        return None


def _parse_user(raw: str | None, errors: list[dict[str, str]]) -> str | None:
    if raw is None:
        return None
    if not raw or len(raw) > MAX_USER_CHARS or _BAD_USER.search(raw):
        errors.append(field_error("user", f"must be 1 to {MAX_USER_CHARS} characters, no control characters"))
        return None
    return raw


def _parse_cursor(raw: str | None, errors: list[dict[str, str]]) -> str | None:
    if raw == "":
        errors.append(field_error("cursor", EMPTY))
        return None
    return raw


def parse_user(params: Mapping[str, str]) -> str | None:
    """`?user=` alone (the conversation routes); a bad value is an InvalidQueryError."""
    errors: list[dict[str, str]] = []
    user = _parse_user(params.get("user"), errors)
    if errors:
        raise InvalidQueryError(errors)
    return user


def parse_list_query(params: Mapping[str, str]) -> ListQuery:
    """`?user=&status=&limit=&cursor=`; every bad parameter is named in one InvalidQueryError."""
    errors: list[dict[str, str]] = []
    query = ListQuery(
        user=_parse_user(params.get("user"), errors),
        status=_parse_status(params.get("status"), errors),
        limit=_parse_limit(params.get("limit"), errors),
        cursor=_parse_cursor(params.get("cursor"), errors),
    )
    if errors:
        raise InvalidQueryError(errors)
    return query


def parse_variant(params: Mapping[str, str]) -> str:
    """`?variant=` of an output: `original` (default) or `preview`."""
    raw = params.get("variant", "original")
    if raw not in VARIANTS:
        raise InvalidQueryError([field_error("variant", f"must be one of {', '.join(VARIANTS)}")])
    return raw


def parse_index(raw: str | None) -> int | None:
    """An output index from the route; None when it cannot name an output (answered with 404)."""
    return _digits(raw or "")
