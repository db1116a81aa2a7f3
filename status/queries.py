"""Strict parsing of the status API's query strings and route values."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from jobs.domain.models import MAX_USER_CHARS, JobStatus

MAX_WAIT_SECONDS = 30
DEFAULT_LIMIT = 20
MAX_LIMIT = 100
VARIANTS = ("original", "preview")
_DIGITS = re.compile(r"[0-9]+")
# What an owner id may hold (the submit body's rule): no C0/C1 controls, no lone surrogates.
_BAD_USER = re.compile(r"[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
EMPTY = "must not be empty (leave the parameter out instead)"


class InvalidQueryError(ValueError):
    """Bad query parameters; `errors` name each one ({field, message}) for a 400 problem."""

    def __init__(self, errors: list[dict[str, str]]) -> None:
        super().__init__("; ".join(f"{e['field']}: {e['message']}" for e in errors))
        self.errors = errors


@dataclass(frozen=True)
class ListQuery:
    user: str | None
    status: JobStatus | None
    limit: int
    cursor: str | None


def _error(name: str, message: str) -> dict[str, str]:
    return {"field": name, "message": message}


def _digits(value: str) -> int | None:
    """A plain non-negative decimal integer ("+1", "1.0", " 1" and "-1" are not)."""
    if not _DIGITS.fullmatch(value) or len(value) > 9:
        return None
    return int(value)


def parse_wait(params: Mapping[str, str]) -> int:
    """Seconds `?wait=` asks to hold the request (0 when absent); above 30 is treated as 30."""
    raw = params.get("wait")
    if raw is None:
        return 0
    if not _DIGITS.fullmatch(raw):
        raise InvalidQueryError([_error("wait", "must be a whole number of seconds, 0 or more")])
    # Any long digit string is simply a long wait; never int() unbounded input.
    significant = raw.lstrip("0") or "0"
    return MAX_WAIT_SECONDS if len(significant) > 2 else min(int(significant), MAX_WAIT_SECONDS)


def _parse_limit(raw: str | None, errors: list[dict[str, str]]) -> int:
    if raw is None:
        return DEFAULT_LIMIT
    limit = _digits(raw)
    if limit is None or not 1 <= limit <= MAX_LIMIT:
        errors.append(_error("limit", f"must be an integer from 1 to {MAX_LIMIT}"))
        return DEFAULT_LIMIT
    return limit


def _parse_status(raw: str | None, errors: list[dict[str, str]]) -> JobStatus | None:
    if raw is None:
        return None
    try:
        return JobStatus(raw)
    except ValueError:
        errors.append(_error("status", f"must be one of {', '.join(s.value for s in JobStatus)}"))
        return None


def _parse_user(raw: str | None, errors: list[dict[str, str]]) -> str | None:
    if raw is None:
        return None
    if not raw or len(raw) > MAX_USER_CHARS or _BAD_USER.search(raw):
        errors.append(_error("user", f"must be 1 to {MAX_USER_CHARS} characters, no control characters"))
        return None
    return raw


def _parse_cursor(raw: str | None, errors: list[dict[str, str]]) -> str | None:
    if raw == "":
        errors.append(_error("cursor", EMPTY))
        return None
    return raw


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
        raise InvalidQueryError([_error("variant", f"must be one of {', '.join(VARIANTS)}")])
    return raw


def parse_index(raw: str | None) -> int | None:
    """An output index from the route; None when it cannot name an output (answered with 404)."""
    return _digits(raw or "")
