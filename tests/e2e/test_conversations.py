"""Conversations end to end: the product app on devhost, OpenAI's fake behind the real SDK, Azurite."""

from __future__ import annotations

import concurrent.futures
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from status.openapi import openapi_document
from testing.devhost import DevhostProcess
from testing.fakes.openai_server import FakeOpenAI
from testing.http import Reply, call
from testing.product_app import REPO_ROOT, product_settings
from tests.e2e.test_openapi import schema_validator

pytestmark = pytest.mark.e2e

DOCUMENT = openapi_document(base_url="http://h")


@pytest.fixture(scope="module")
def openai() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as fake:
        yield fake


@pytest.fixture(scope="module")
def app(azurite_connection_string: str, openai: FakeOpenAI) -> Iterator[DevhostProcess]:
    settings = product_settings(
        azurite_connection_string,
        GENERATION_PROVIDER="openai",
        OPENAI_API_KEY=openai.api_key,
        OPENAI_BASE_URL=openai.base_url,
        OPENAI_TEXT_MODEL="gpt-4o-mini",
    )
    with DevhostProcess(app="function_app", app_dir=REPO_ROOT, settings=settings) as host:
        yield host


def _ask(app: DevhostProcess, prompt: str, **fields: Any) -> dict[str, Any]:
    body = {"prompt": prompt, "kind": "text", "user": "alice", **fields}
    reply = call("POST", f"{app.base_url}/api/generations", json_body=body, timeout=10)
    assert reply.status == 202, reply.text
    job: dict[str, Any] = reply.json()
    return job


def _finished(app: DevhostProcess, job: dict[str, Any]) -> dict[str, Any]:
    for _ in range(6):
        done: dict[str, Any] = call(
            "GET", f"{app.base_url}/api/generations/{job['id']}?wait=10", timeout=20).json()
        if done["status"] in ("succeeded", "failed", "canceled"):
            assert done["status"] == "succeeded", done
            return done
    raise AssertionError(f"job {job['id']} did not finish")


def _conversation(app: DevhostProcess, conversation: str, *, method: str = "GET", user: str | None = "alice"
                  ) -> Reply:
    query = "" if user is None else f"?user={user}"
    return call(method, f"{app.base_url}/api/conversations/{conversation}{query}", timeout=10)


def _messages_asking(openai: FakeOpenAI, prompt: str) -> list[dict[str, str]]:
    """The messages of the one chat call that asked `prompt`."""
    chats = openai.requests_to("/chat/completions")
    calls = [chat for chat in chats if chat.json["messages"][-1]["content"] == prompt]
    assert len(calls) == 1, calls
    messages: list[dict[str, str]] = calls[0].json["messages"]
    return messages


def test_three_turns_each_see_the_earlier_ones(app: DevhostProcess, openai: FakeOpenAI) -> None:
    first = _ask(app, "Name a harbour town.")
    conversation = first["conversation_id"]
    assert conversation
    _finished(app, first)
    second = _ask(app, "How old is its lighthouse?", conversation_id=conversation)
    assert second["conversation_id"] == conversation
    _finished(app, second)
    third = _finished(app, _ask(app, "Summarise what we said.", conversation_id=conversation))

    assert third["outputs"][0]["text"] == "Fake answer to: Summarise what we said."
    assert _messages_asking(openai, "Summarise what we said.") == [
        {"role": "user", "content": "Name a harbour town."},
        {"role": "assistant", "content": "Fake answer to: Name a harbour town."},
        {"role": "user", "content": "How old is its lighthouse?"},
        {"role": "assistant", "content": "Fake answer to: How old is its lighthouse?"},
        {"role": "user", "content": "Summarise what we said."},
    ]
    listed = _conversation(app, conversation)
    assert listed.status == 200, listed.text
    body = listed.json()
    errors = [e.message for e in schema_validator(DOCUMENT, "Conversation").iter_errors(body)]
    assert not errors, errors
    assert (body["id"], body["user"]) == (conversation, "alice")
    assert [turn["question"] for turn in body["turns"]] == [
        "Name a harbour town.", "How old is its lighthouse?", "Summarise what we said."]
    assert [turn["job_id"] for turn in body["turns"]] == [first["id"], second["id"], third["id"]]


def test_another_users_conversation_is_not_found(app: DevhostProcess, openai: FakeOpenAI) -> None:
    conversation = f"private-{uuid.uuid4()}"
    _finished(app, _ask(app, "A secret question.", conversation_id=conversation))
    for user in ("bob", None):
        for method in ("GET", "DELETE"):
            reply = _conversation(app, conversation, method=method, user=user)
            assert reply.status == 404, (user, method, reply.text)
            assert reply.headers["Content-Type"].startswith("application/problem+json")
    assert _conversation(app, f"never-{uuid.uuid4()}").status == 404
    assert _conversation(app, "not%20an%20id").status == 404
    # Bob naming Alice's id starts a conversation of his own: he sees none of hers.
    _finished(app, _ask(app, "What did Alice ask?", conversation_id=conversation, user="bob"))
    assert len(_messages_asking(openai, "What did Alice ask?")) == 1
    assert len(_conversation(app, conversation).json()["turns"]) == 1


def test_a_deleted_conversation_is_forgotten(app: DevhostProcess, openai: FakeOpenAI) -> None:
    conversation = f"forget-{uuid.uuid4()}"
    _finished(app, _ask(app, "Remember the number 7.", conversation_id=conversation))
    assert _conversation(app, conversation, method="DELETE").status == 204
    assert _conversation(app, conversation).status == 404
    _finished(app, _ask(app, "Which number was it?", conversation_id=conversation))
    assert _messages_asking(openai, "Which number was it?") == [
        {"role": "user", "content": "Which number was it?"}]


def test_questions_sent_at_once_are_answered_in_turn(app: DevhostProcess, openai: FakeOpenAI) -> None:
    conversation = f"busy-{uuid.uuid4()}"
    prompts = [f"Parallel question {i} of {conversation}" for i in range(2)]
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        jobs = list(pool.map(lambda prompt: _ask(app, prompt, conversation_id=conversation), prompts))
    for job in jobs:
        _finished(app, job)
    turns = _conversation(app, conversation).json()["turns"]
    assert sorted(turn["question"] for turn in turns) == sorted(prompts)
    earlier, later = (turn["question"] for turn in turns)
    assert _messages_asking(openai, earlier) == [{"role": "user", "content": earlier}]
    assert _messages_asking(openai, later) == [
        {"role": "user", "content": earlier},
        {"role": "assistant", "content": f"Fake answer to: {earlier}"},
        {"role": "user", "content": later},
    ]


def test_a_conversation_id_is_for_text_and_must_be_key_safe(app: DevhostProcess) -> None:
    for body in ({"prompt": "a boat", "conversation_id": "c-1"},
                 {"prompt": "why?", "kind": "text", "conversation_id": "a/b"},
                 {"prompt": "why?", "kind": "text", "conversation_id": 7}):
        reply = call("POST", f"{app.base_url}/api/generations", json_body=body, timeout=10)
        assert reply.status == 422, reply.text
        assert [error["field"] for error in reply.json()["errors"]] == ["conversation_id"]
