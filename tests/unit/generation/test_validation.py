from __future__ import annotations

import hashlib
import json

import pytest

from generation.validation import (
    MAX_BODY_BYTES,
    InvalidRequestError,
    check_idempotency_key,
    parse_generation_request,
    request_fingerprint,
)
from jobs.domain.models import JobKind


def _parse(body: object) -> object:
    return parse_generation_request(json.dumps(body).encode())


def _fields(exc: pytest.ExceptionInfo[InvalidRequestError]) -> set[str]:
    return {error["field"] for error in exc.value.errors}


def test_defaults_fill_in() -> None:
    request = _parse({"prompt": "a red fox"})
    assert request.prompt == "a red fox"
    assert request.kind is JobKind.IMAGE
    assert (request.n, request.size, request.user) == (1, "1024x1024", None)


def test_every_field_accepted() -> None:
    request = _parse({"prompt": "p", "kind": "image", "n": 4, "size": "1536x1024", "user": "alice"})
    assert (request.n, request.size, request.user) == (4, "1536x1024", "alice")
    assert _parse({"prompt": "why?", "kind": "text"}).kind is JobKind.TEXT


@pytest.mark.parametrize(
    "body",
    [b"", b"not json", b"{'prompt': 1}", b"\xff\xfe", b'{"prompt": "x"'],
)
def test_non_json_is_400(body: bytes) -> None:
    with pytest.raises(InvalidRequestError) as exc:
        parse_generation_request(body)
    assert exc.value.status == 400


def test_oversize_body_is_413() -> None:
    body = json.dumps({"prompt": "x" * MAX_BODY_BYTES}).encode()
    with pytest.raises(InvalidRequestError) as exc:
        parse_generation_request(body)
    assert exc.value.status == 413


@pytest.mark.parametrize(
    ("body", "bad"),
    [
        ([1, 2], {"body"}),
        ("prompt", {"body"}),
        ({}, {"prompt"}),
        ({"prompt": ""}, {"prompt"}),
        ({"prompt": "   "}, {"prompt"}),
        ({"prompt": "x" * 4001}, {"prompt"}),
        ({"prompt": 5}, {"prompt"}),
        ({"prompt": "p", "n": "2"}, {"n"}),
        ({"prompt": "p", "n": True}, {"n"}),
        ({"prompt": "p", "n": 2.0}, {"n"}),
        ({"prompt": "p", "n": 0}, {"n"}),
        ({"prompt": "p", "n": 5}, {"n"}),
        ({"prompt": "p", "kind": "text", "n": 2}, {"n"}),
        ({"prompt": "p", "size": "512x512"}, {"size"}),
        ({"prompt": "p", "size": 1024}, {"size"}),
        ({"prompt": "p", "kind": "video"}, {"kind"}),
        ({"prompt": "p", "user": "u" * 65}, {"user"}),
        ({"prompt": "p", "user": 7}, {"user"}),
        ({"prompt": "p", "colour": "red"}, {"colour"}),
        ({"prompt": 1, "n": "x", "size": "big", "extra": 1}, {"prompt", "n", "size", "extra"}),
    ],
)
def test_bad_fields_are_422_and_named(body: object, bad: set[str]) -> None:
    with pytest.raises(InvalidRequestError) as exc:
        _parse(body)
    assert exc.value.status == 422
    assert _fields(exc) == bad
    assert all(error["message"] for error in exc.value.errors)


def test_prompt_at_the_limit_is_fine() -> None:
    assert len(_parse({"prompt": "x" * 4000}).prompt) == 4000  # type: ignore[attr-defined]


@pytest.mark.parametrize("key", ["", "x" * 256, "tab\tkey"])
def test_malformed_idempotency_key(key: str) -> None:
    with pytest.raises(InvalidRequestError) as exc:
        check_idempotency_key(key)
    assert exc.value.status == 400


def test_idempotency_key_passes_through() -> None:
    assert check_idempotency_key(None) is None
    assert check_idempotency_key("order-42") == "order-42"


def test_fingerprint_ignores_formatting_but_not_content() -> None:
    spaced = parse_generation_request(b'{ "prompt" : "fox",  "n": 2 }')
    compact = parse_generation_request(b'{"n":2,"prompt":"fox"}')
    other = parse_generation_request(b'{"n":3,"prompt":"fox"}')
    assert request_fingerprint(spaced) == request_fingerprint(compact)
    assert request_fingerprint(spaced) != request_fingerprint(other)


def test_callback_url_is_taken_as_text_and_checked_by_the_guard_later() -> None:
    request = _parse({"prompt": "fox", "callback_url": "https://hooks.example.com/x"})
    assert request.callback_url == "https://hooks.example.com/x"  # type: ignore[attr-defined]
    with pytest.raises(InvalidRequestError) as refused:
        _parse({"prompt": "fox", "callback_url": 7})
    assert _fields(refused) == {"callback_url"}


def test_the_fingerprint_covers_the_callback_url_and_is_unchanged_without_one() -> None:
    plain = parse_generation_request(b'{"prompt":"fox"}')
    called = parse_generation_request(b'{"prompt":"fox","callback_url":"https://a.example/x"}')
    elsewhere = parse_generation_request(b'{"prompt":"fox","callback_url":"https://b.example/x"}')
    assert len({request_fingerprint(plain), request_fingerprint(called), request_fingerprint(elsewhere)}) == 3
    canonical = '{"kind":"image","n":1,"prompt":"fox","size":"1024x1024","user":null}'
    assert request_fingerprint(plain) == hashlib.sha256(canonical.encode()).hexdigest()
