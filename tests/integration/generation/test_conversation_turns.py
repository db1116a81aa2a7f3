"""Text jobs in a conversation, through the generate_output activity on Azurite (offline provider,
whose answer says how many earlier questions it was shown)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest

from generation import activities, conversation_turns
from generation.providers import provider_for
from jobs.config.settings import load_settings
from jobs.domain.models import Channel, Job, JobKind
from jobs.services import Services, build_services
from jobs.tables.conversations import conversation_partition, conversation_scope
from testing.factories import make_job


def _settings(connection_string: str, **extra: str) -> Services:
    return build_services(load_settings({
        "GENERATION_STORAGE": connection_string, "GENERATION_PROVIDER": "offline",
        "OFFLINE_LATENCY_MS": "0", "JOBS_QUEUE_KIND": "storage", **extra,
    }))


@pytest.fixture
async def svc(azurite_connection_string: str) -> AsyncIterator[Services]:
    async with _settings(azurite_connection_string) as services:
        yield services


async def _ask(services: Services, conversation: str, prompt: str, *, user: str = "u1") -> Job:
    job = await services.jobs.create(
        make_job(kind=JobKind.TEXT, prompt=prompt, user=user, conversation_id=conversation))
    await services.jobs.mark_running(job.id)
    return job


def _partition(conversation: str, user: str = "u1") -> str:
    return conversation_partition(conversation_scope(Channel.API, user), conversation)


async def _answer(services: Services, job: Job) -> str:
    assert (await activities.generate_output(services, job.id, 0))["status"] == "succeeded"
    (output,) = (await services.jobs.get(job.id)).outputs
    assert output.text is not None
    return output.text


async def test_each_answer_sees_the_earlier_turns(svc: Services) -> None:
    conversation = f"c-{uuid.uuid4()}"
    first = await _answer(svc, await _ask(svc, conversation, "Name a harbour."))
    second = await _answer(svc, await _ask(svc, conversation, "How deep is it?"))
    third = await _answer(svc, await _ask(svc, conversation, "And its lighthouse?"))
    assert "Earlier questions" not in first
    assert "Earlier questions I was shown: 1" in second
    assert "Earlier questions I was shown: 2" in third
    turns = await svc.conversations.turns(_partition(conversation))
    assert [turn.question for turn in turns] == ["Name a harbour.", "How deep is it?", "And its lighthouse?"]
    assert [turn.answer for turn in turns] == [first, second, third]


async def test_another_user_with_the_same_id_has_a_separate_conversation(svc: Services) -> None:
    conversation = f"c-{uuid.uuid4()}"
    await _answer(svc, await _ask(svc, conversation, "Mine.", user="alice"))
    answer = await _answer(svc, await _ask(svc, conversation, "Whose?", user="mallory"))
    assert "Earlier questions" not in answer
    assert len(await svc.conversations.turns(_partition(conversation, "alice"))) == 1


async def test_a_retried_answer_adds_no_second_turn_and_reuses_the_first_answer(svc: Services) -> None:
    conversation = f"c-{uuid.uuid4()}"
    job = await _ask(svc, conversation, "Once only?")
    provider = svc.component(provider_for)
    first = await conversation_turns.answer_in_conversation(svc, job, provider)
    # The activity died after writing the turn and before recording the output: it runs again.
    assert await _answer(svc, job) == first
    assert len(await svc.conversations.turns(_partition(conversation))) == 1


async def test_the_turn_limit_bounds_what_the_provider_sees(azurite_connection_string: str) -> None:
    conversation = f"c-{uuid.uuid4()}"
    async with _settings(azurite_connection_string, CONVERSATION_MAX_TURNS="1") as services:
        for prompt in ("one", "two", "three"):
            answer = await _answer(services, await _ask(services, conversation, prompt))
        assert len(await services.conversations.turns(_partition(conversation))) == 3
    assert "Earlier questions I was shown: 1" in answer


async def test_questions_sent_at_once_are_answered_one_after_the_other(svc: Services) -> None:
    conversation = f"c-{uuid.uuid4()}"
    jobs = [await _ask(svc, conversation, f"question {i}") for i in range(3)]
    answers = await asyncio.gather(*(_answer(svc, job) for job in jobs))
    turns = await svc.conversations.turns(_partition(conversation))
    assert sorted(turn.job_id for turn in turns) == sorted(job.id for job in jobs)
    # Each answer saw exactly the turns written before it.
    by_job = dict(zip([job.id for job in jobs], answers, strict=True))
    assert "Earlier questions" not in by_job[turns[0].job_id]
    for position, turn in enumerate(turns[1:], start=1):
        assert f"Earlier questions I was shown: {position}" in by_job[turn.job_id]


async def test_a_busy_conversation_is_a_transient_failure(
    svc: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    conversation = f"c-{uuid.uuid4()}"
    assert await svc.conversations.take_lease(_partition(conversation), holder="job-elsewhere", seconds=60)
    monkeypatch.setattr(conversation_turns, "WAIT_SECONDS", 0.3)
    answer = await activities.generate_output(svc, (await _ask(svc, conversation, "now?")).id, 0)
    assert answer["status"] == "retry"
    assert answer.get("error", {}).get("code") == "conversation_busy"
    assert await svc.conversations.turns(_partition(conversation)) == []


async def test_an_answer_for_a_job_canceled_meanwhile_is_not_remembered(
    svc: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    conversation = f"c-{uuid.uuid4()}"
    job = await _ask(svc, conversation, "Never mind?")
    provider = svc.component(provider_for)
    answer_text = provider.generate_text

    async def answer_then_cancel(**kwargs: object) -> str:
        text = await answer_text(**kwargs)  # type: ignore[arg-type]
        await svc.jobs.request_cancel(job.id)  # the user cancels while the provider answers
        return text

    monkeypatch.setattr(provider, "generate_text", answer_then_cancel)
    # As for any output, the cancel request keeps it from finishing the job (the cancel ends the job).
    result = await activities.generate_output(svc, job.id, 0)
    assert not result.get("job_finished")
    assert await svc.conversations.turns(_partition(conversation)) == []
