"""Signed webhook bodies that are legal JSON but hostile: never a 500 (LINE would redeliver forever)."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from azure.data.tables import TableClient

from jobs.names import JOBS_TABLE
from line_webhook import texts
from testing.devhost import DevhostProcess
from testing.factories_line import sign, source, text_event, user_id
from testing.fakes.line_server import FakeLine
from tests.e2e.line.conftest import jobs_of, post_webhook, sent_to

pytestmark = pytest.mark.e2e


def _signed(body: bytes) -> dict[str, str]:
    return {"Content-Type": "application/json; charset=utf-8", "x-line-signature": sign(body)}


def _escaped_body(events: list[dict[str, Any]]) -> bytes:
    # ASCII-escaped, as a lone surrogate can only travel: "\ud800" is legal JSON, not valid UTF-8.
    return json.dumps({"destination": "U" + "0" * 32, "events": events}).encode()


@pytest.mark.parametrize(
    "body",
    [
        b'{"destination": "U0", "events": ' + b"[" * 30_000 + b"]" * 30_000 + b"}",
        b'{"destination": "U0", "events": [], "n": ' + b"7" * 5_000 + b"}",
        b'{"destination": "U0", "events": [{"type": "message", "timestamp": "soon"}]}',
        b"\xff\xfe\x00",
    ],
    ids=["deep-nesting", "huge-integer", "wrong-types", "not-utf8"],
)
def test_a_signed_unreadable_body_is_400_never_500(line_app: DevhostProcess, body: bytes) -> None:
    answer = post_webhook(line_app, body, _signed(body))

    assert answer.status == 400, answer.text
    assert answer.json()["status"] == 400


def test_a_text_with_a_lone_surrogate_gets_a_friendly_reply_and_no_job(
    line_app: DevhostProcess, fake_line: FakeLine
) -> None:
    user = user_id()
    token = fake_line.issue_reply_token(to=user)
    body = _escaped_body([text_event("a\ud800b", src=source(user=user), reply_token=token)])

    answer = post_webhook(line_app, body, _signed(body))

    assert answer.status == 200, answer.text
    [sent] = sent_to(fake_line, user)
    assert sent["messages"] == [{"type": "text", "text": texts.UNREADABLE_TEXT}]
    assert jobs_of(line_app, user) == []


@pytest.mark.parametrize("shape", ["01ABC/{}", "01ABC#{}?x", "tab\t{}"])
def test_an_event_id_the_table_forbids_still_makes_exactly_one_job(
    line_app: DevhostProcess, fake_line: FakeLine, shape: str
) -> None:
    user, event_id = user_id(), shape.format(uuid.uuid4().hex)  # fresh: the ledger outlives a run
    event = text_event("a red fox", src=source(user=user), event_id=event_id,
                       reply_token=fake_line.issue_reply_token(to=user))
    body = _escaped_body([event])

    first = post_webhook(line_app, body, _signed(body))
    again = post_webhook(line_app, body, _signed(body))

    assert (first.status, again.status) == (200, 200), (first.text, again.text)
    assert len(jobs_of(line_app, user)) == 1


def test_an_event_whose_ids_are_not_unicode_is_ignored_without_a_job(
    line_app: DevhostProcess, azurite_connection_string: str
) -> None:
    marker = f"fox {uuid.uuid4().hex}"
    body = _escaped_body([text_event(marker, src=source(user="U\udc00" + "0" * 31))])

    answer = post_webhook(line_app, body, _signed(body))

    assert answer.status == 200, answer.text
    assert "ids that are not valid Unicode text; ignored" in line_app.output()
    table = TableClient.from_connection_string(azurite_connection_string, JOBS_TABLE)
    assert [row for row in table.list_entities() if marker in str(row.get("Prompt", ""))] == []
