"""Query strings of the status API: strict, with every bad parameter named."""

from __future__ import annotations

import pytest

from jobs.domain.models import JobStatus
from jobs.http import InvalidQueryError
from status.queries import DEFAULT_LIMIT, parse_index, parse_list_query, parse_variant


def test_list_query_defaults() -> None:
    query = parse_list_query({})
    assert (query.user, query.status, query.limit, query.cursor) == (None, None, DEFAULT_LIMIT, None)


def test_list_query_reads_every_parameter() -> None:
    query = parse_list_query({"user": "u1", "status": "running", "limit": "100", "cursor": "abc"})
    assert (query.user, query.status, query.limit, query.cursor) == ("u1", JobStatus.RUNNING, 100, "abc")


@pytest.mark.parametrize("limit", ["0", "101", "-1", "ten", "2.0"])
def test_list_limit_out_of_range_is_named(limit: str) -> None:
    with pytest.raises(InvalidQueryError) as caught:
        parse_list_query({"limit": limit})
    assert [error["field"] for error in caught.value.errors] == ["limit"]


def test_every_bad_list_parameter_is_named_at_once() -> None:
    with pytest.raises(InvalidQueryError) as caught:
        parse_list_query({"status": "done", "limit": "1000", "user": "u" * 65})
    assert sorted(error["field"] for error in caught.value.errors) == ["limit", "status", "user"]
    assert "queued, running, succeeded, failed, canceled" in str(caught.value)


def test_variant() -> None:
    assert parse_variant({}) == "original"
    assert parse_variant({"variant": "preview"}) == "preview"
    for bad in ("thumbnail", ""):
        with pytest.raises(InvalidQueryError):
            parse_variant({"variant": bad})


@pytest.mark.parametrize("name", ["user", "status", "limit", "cursor"])
def test_an_empty_list_parameter_is_named_not_ignored(name: str) -> None:
    # As the OpenAPI document says: a parameter is absent, or it holds a value of its type.
    with pytest.raises(InvalidQueryError) as caught:
        parse_list_query({name: ""})
    assert [error["field"] for error in caught.value.errors] == [name]


@pytest.mark.parametrize("user", ["tab\tname", "nul\x00", "c1\x9f", "half\ud800"])
def test_a_user_filter_no_job_could_have_is_named(user: str) -> None:
    with pytest.raises(InvalidQueryError) as caught:
        parse_list_query({"user": user})
    assert [error["field"] for error in caught.value.errors] == ["user"]


@pytest.mark.parametrize(("raw", "expected"), [("0", 0), ("3", 3), ("-1", None), ("x", None), ("", None)])
def test_index(raw: str, expected: int | None) -> None:
    assert parse_index(raw) == expected
