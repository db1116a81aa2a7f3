from __future__ import annotations

import hashlib
import json

import pytest

from generation.intake import (
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
        ({"prompt": "\x1d\u3000\ufeff\x85\u2028"}, {"prompt"}),  # separators and spaces only
        ({"prompt": "x" * 4001}, {"prompt"}),
        ({"prompt": 5}, {"prompt"}),
        ({"prompt": "p", "n": "2"}, {"n"}),
        ({"prompt": "p", "n": True}, {"n"}),
        ({"prompt": "p", "n": 2.5}, {"n"}),
        ({"prompt": "p", "n": float("nan")}, {"n"}),
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


def test_an_integral_number_written_with_a_fraction_is_that_integer() -> None:
    # JSON (and JSON Schema's "integer") do not tell 2.0 from 2.
    assert parse_generation_request(b'{"prompt": "p", "n": 2.0}').n == 2
    assert parse_generation_request(b'{"prompt": "p", "n": 3e0}').n == 3


def test_prompt_at_the_limit_is_fine() -> None:
    assert len(_parse({"prompt": "x" * 4000}).prompt) == 4000  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    "body",
    [
        b"[" * 30_000 + b"]" * 30_000,  # nesting past the recursion limit
        b'{"prompt": "p", "n": ' + b"9" * 5_000 + b"}",  # past the int-from-string digit limit
    ],
    ids=["deep-nesting", "huge-integer"],
)
def test_json_past_the_parser_limits_is_400(body: bytes) -> None:
    with pytest.raises(InvalidRequestError) as exc:
        parse_generation_request(body)
    assert exc.value.status == 400
    assert "too deeply or holds a number too large" in exc.value.detail


@pytest.mark.parametrize("field", ["prompt", "user"])
def test_lone_surrogates_are_422_naming_the_field(field: str) -> None:
    body = {"prompt": "a fox", field: "a\ud800b"}
    # json.dumps escapes the surrogate as \ud800: legal JSON that decodes to unstorable text.
    with pytest.raises(InvalidRequestError) as exc:
        _parse(body)
    assert exc.value.status == 422
    assert _fields(exc) == {field}
    assert "surrogate" in exc.value.errors[0]["message"]


@pytest.mark.parametrize("user", ["", "tab\tname", "bell\x07", "c1\x85"])
def test_empty_or_control_character_user_is_422(user: str) -> None:
    with pytest.raises(InvalidRequestError) as exc:
        _parse({"prompt": "p", "user": user})
    assert _fields(exc) == {"user"}


def test_user_may_hold_any_other_text() -> None:
    for user in ("alice@example.com", "line:U123", "a/b#c?d", "名前 with spaces", "\u00a0nbsp"):
        assert _parse({"prompt": "p", "user": user}).user == user  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    "key", ["", "x" * 256, "tab\tkey", " lead", "trail ", "caf\u00e9", "\udce9", "nul\x00"])
def test_malformed_idempotency_key(key: str) -> None:
    with pytest.raises(InvalidRequestError) as exc:
        check_idempotency_key(key)
    assert exc.value.status == 400


def test_idempotency_key_passes_through() -> None:
    assert check_idempotency_key(None) is None
    assert check_idempotency_key("order-42") == "order-42"
    assert check_idempotency_key("x" * 255) == "x" * 255
    assert check_idempotency_key("inner space ok") == "inner space ok"


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
