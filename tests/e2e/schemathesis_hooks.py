"""Schemathesis hooks for the OpenAPI run (tests/e2e/test_schemathesis.py), loaded via SCHEMATHESIS_HOOKS.

Two parameters take values a schema cannot generate faithfully, so positive cases get realistic ones
(negative cases keep their generated, invalid values and are still checked for rejection):

- `cursor` is a token the service issues; the schema gives its shape, but only the service knows
  which positions it handed out. A positive case gets a well-formed cursor for a random position.
- `Idempotency-Key` ties a key to the first body sent with it; the same key with another body is a
  422 by contract. Generated keys are short and collide across unrelated cases, so each positive
  case gets a key of its own (the generated key, plus a unique suffix).
"""

from __future__ import annotations

import secrets
import uuid
from typing import Any

import schemathesis

from jobs.tables.cursor import encode_cursor

MAX_KEY_CHARS = 255
IDEMPOTENCY_HEADER = "Idempotency-Key"


def _positive(case: Any) -> bool:
    meta = case.meta
    return meta is None or meta.generation.mode.is_positive


@schemathesis.hook
def before_call(context: Any, case: Any, **kwargs: Any) -> None:
    if not _positive(case):
        return
    if case.query and "cursor" in case.query:
        case.query["cursor"] = encode_cursor(f"{secrets.randbelow(10**16):016d}_{uuid.uuid4()}")
    if case.headers and IDEMPOTENCY_HEADER in case.headers:
        suffix = "-" + uuid.uuid4().hex
        key = case.headers[IDEMPOTENCY_HEADER]
        case.headers[IDEMPOTENCY_HEADER] = key[: MAX_KEY_CHARS - len(suffix)] + suffix
