"""Strict parsing of a generation request body, shared by every channel that takes JSON."""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from typing import Any

from jobs.domain.models import (
    DEFAULT_SIZE,
    IMAGE_SIZES,
    MAX_OUTPUTS,
    MAX_PROMPT_CHARS,
    MAX_USER_CHARS,
    JobKind,
    JobRequest,
    is_storable_text,
)

MAX_BODY_BYTES = 65_536
MAX_IDEMPOTENCY_KEY_CHARS = 255
FIELDS = ("prompt", "kind", "n", "size", "user", "callback_url")
# A character that is not white space, spelled out so that the OpenAPI pattern (an ECMA-262 regex,
# whose \s differs from Python's) says exactly the same: every space and separator either engine
# knows, and the byte order mark.
VISIBLE_CHAR = r"[^\t-\r \u001c-\u001f\u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff]"
_VISIBLE = re.compile(VISIBLE_CHAR)
# C0 and C1 controls: never in an owner id (they end up in logs and table keys).
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
# Visible ASCII, inner spaces allowed (an HTTP parser strips outer ones): an RFC 8941 string.
_IDEMPOTENCY_KEY = re.compile(r"[!-~](?:[ -~]*[!-~])?")


@dataclass
class InvalidRequestError(Exception):
    """A request that cannot be accepted: `status` is 400, 413 or 422; `errors` name each bad field."""

    status: int
    detail: str
    errors: list[dict[str, str]] = field(default_factory=list)

    def __str__(self) -> str:
        return self.detail


def _field_error(name: str, message: str) -> dict[str, str]:
    return {"field": name, "message": message}


def _check_prompt(value: Any, errors: list[dict[str, str]]) -> str:
    if not isinstance(value, str):
        errors.append(_field_error("prompt", "must be a string"))
        return ""
    if not is_storable_text(value):
        errors.append(_field_error("prompt", "must be valid Unicode text (no lone surrogates)"))
    elif not _VISIBLE.search(value):
        errors.append(_field_error("prompt", "must not be empty"))
    elif len(value) > MAX_PROMPT_CHARS:
        errors.append(_field_error("prompt", f"must be at most {MAX_PROMPT_CHARS} characters"))
    return value


def _check_kind(value: Any, errors: list[dict[str, str]]) -> JobKind:
    kinds = [kind.value for kind in JobKind]
    if not isinstance(value, str) or value not in kinds:
        errors.append(_field_error("kind", f"must be one of {', '.join(kinds)}"))
        return JobKind.IMAGE
    return JobKind(value)


def _check_n(value: Any, kind: JobKind, errors: list[dict[str, str]]) -> int:
    # JSON has one number type: 2.0 is the integer 2 (as JSON Schema reads it), 2.5 is not one.
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    # bool is an int subclass in Python; JSON true is not a number.
    if not isinstance(value, int) or isinstance(value, bool):
        errors.append(_field_error("n", "must be an integer"))
        return 1
    if not 1 <= value <= MAX_OUTPUTS:
        errors.append(_field_error("n", f"must be between 1 and {MAX_OUTPUTS}"))
    elif kind is JobKind.TEXT and value != 1:
        errors.append(_field_error("n", "must be 1 for kind text"))
    return value


def _check_size(value: Any, errors: list[dict[str, str]]) -> str:
    if not isinstance(value, str) or value not in IMAGE_SIZES:
        errors.append(_field_error("size", f"must be one of {', '.join(IMAGE_SIZES)}"))
        return DEFAULT_SIZE
    return value


def _check_user(value: Any, errors: list[dict[str, str]]) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        errors.append(_field_error("user", "must be a string"))
        return None
    if not is_storable_text(value):
        errors.append(_field_error("user", "must be valid Unicode text (no lone surrogates)"))
    elif not value or len(value) > MAX_USER_CHARS or _CONTROL.search(value):
        message = f"must be 1 to {MAX_USER_CHARS} characters, no control characters"
        errors.append(_field_error("user", message))
    return value


def _check_callback_url(value: Any, errors: list[dict[str, str]]) -> str | None:
    # Leave it out for no callback: null is refused, as the schema says (a string).
    """Only the type here: the URL guard (scheme, addresses) runs where the settings and DNS are."""
    if not isinstance(value, str):
        errors.append(_field_error("callback_url", "must be a string"))
        return None
    return value


def _load_object(body: bytes) -> dict[str, Any]:
    if len(body) > MAX_BODY_BYTES:
        raise InvalidRequestError(413, f"The request body is larger than {MAX_BODY_BYTES} bytes.")
    try:
        data = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidRequestError(400, f"The request body is not valid JSON: {exc}.") from None
    except (ValueError, RecursionError):
        # Well-formed JSON past the parser's limits: an integer of more than 4,300 digits, or
        # nesting deeper than the interpreter's recursion limit. The message names neither safely.
        detail = "The request body nests too deeply or holds a number too large."
        raise InvalidRequestError(400, detail) from None
    if not isinstance(data, dict):
        errors = [_field_error("body", "must be an object")]
        raise InvalidRequestError(422, "The request body must be a JSON object.", errors)
    return data


def parse_generation_request(body: bytes) -> JobRequest:
    """Validate a `POST /api/generations` body; raise InvalidRequestError naming every bad field."""
    data = _load_object(body)
    errors = [_field_error(name, "is not a known field") for name in data if name not in FIELDS]
    if "prompt" not in data:
        errors.append(_field_error("prompt", "is required"))
    prompt = _check_prompt(data.get("prompt", ""), errors) if "prompt" in data else ""
    kind = _check_kind(data.get("kind", JobKind.IMAGE.value), errors)
    n = _check_n(data.get("n", 1), kind, errors)
    size = _check_size(data.get("size", DEFAULT_SIZE), errors)
    user = _check_user(data.get("user"), errors)
    callback_url = _check_callback_url(data["callback_url"], errors) if "callback_url" in data else None
    if errors:
        raise InvalidRequestError(422, "The request has invalid fields.", errors)
    return JobRequest(prompt=prompt, kind=kind, n=n, size=size, user=user, callback_url=callback_url)


def check_idempotency_key(value: str | None) -> str | None:
    """An Idempotency-Key header value, or None; raise InvalidRequestError (400) when malformed.

    Visible ASCII only: what a header carries faithfully, and what the idempotency record hashes the
    same way on every host (bytes outside ASCII reach the app decoded differently per server).
    """
    if value is None:
        return None
    if len(value) > MAX_IDEMPOTENCY_KEY_CHARS or not _IDEMPOTENCY_KEY.fullmatch(value):
        raise InvalidRequestError(
            400,
            f"The Idempotency-Key header must be 1 to {MAX_IDEMPOTENCY_KEY_CHARS} visible ASCII characters.",
            [_field_error("Idempotency-Key", "malformed")],
        )
    return value


def request_fingerprint(request: JobRequest) -> str:
    """A digest of what was asked for, so a reused idempotency key with another body is detected."""
    asked: dict[str, Any] = {"prompt": request.prompt, "kind": request.kind.value, "n": request.n,
                             "size": request.size, "user": request.user}
    if request.callback_url is not None:  # absent otherwise, so earlier records keep their digest
        asked["callback_url"] = request.callback_url
    canonical = json.dumps(
        asked,
        sort_keys=True,
        separators=(",", ":"),
    )
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()
