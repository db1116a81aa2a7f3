"""Schemathesis hooks for the OpenAPI run (tests/e2e/test_schemathesis.py), loaded via SCHEMATHESIS_HOOKS.

Some values cannot be generated from a schema faithfully, so positive cases get realistic ones
(negative cases keep their generated, invalid values and are still checked for rejection):

- `cursor` is a token the service issues; the schema gives its shape, but only the service knows
  which positions it handed out. A positive case gets a well-formed cursor for a random position.
- `Idempotency-Key` ties a key to the first body sent with it; the same key with another body is a
  422 by contract. Generated keys are short and collide across unrelated cases, so each positive
  case gets a key of its own (the generated key, plus a unique suffix).
- `callback_url` must reach a receiver the SSRF guard admits, which a generated URI almost never does
  (its host does not resolve, or is not public): a positive case gets a loopback URL, which the run's
  app admits for local development, where nothing listens (its deliveries fail and retry harmlessly).
- `x-line-signature` is an HMAC of the body with the channel secret: a positive case is signed with
  the run's dummy secret, so that its body reaches the webhook's parser instead of stopping at 401.
"""

from __future__ import annotations

import json
import secrets
import uuid
from typing import Any

import schemathesis

from jobs.tables.index import encode_cursor
from testing.factories_line import sign

MAX_KEY_CHARS = 255
IDEMPOTENCY_HEADER = "Idempotency-Key"
LINE_WEBHOOK = "line_webhook"
UNHEARD_CALLBACK = "http://127.0.0.1:9/job-finished"  # the discard port: nothing answers there


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
    if isinstance(case.body, dict) and isinstance(case.body.get("callback_url"), str):
        case.body["callback_url"] = UNHEARD_CALLBACK
    if case.operation.definition.raw.get("operationId") == LINE_WEBHOOK:
        _sign(case)


def _sign(case: Any) -> None:
    # The bytes requests will send for `json=body` (json.dumps with its defaults, then UTF-8); the body
    # itself stays as generated, so schemathesis still judges the case by it.
    body = json.dumps(case.body, allow_nan=False).encode()
    case.headers = {**(case.headers or {}), "x-line-signature": sign(body)}
