"""ConversationStore on real Azurite: turns in order, idempotent writes, scoping, the lease, purge."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from jobs.domain.conversations import Turn
from jobs.domain.models import Channel, utcnow
from jobs.tables.conversations import ConversationStore, conversation_partition, conversation_scope


def _turn(job_id: str, *, answer: str = "an answer", seconds_ago: float = 0) -> Turn:
    return Turn(job_id=job_id, question=f"question of {job_id}", answer=answer,
                created_at=utcnow() - timedelta(seconds=seconds_ago))


async def test_turns_come_back_oldest_first(conversation_store: ConversationStore) -> None:
    await conversation_store.add_turn("c1", _turn("job-b", seconds_ago=1))
    await conversation_store.add_turn("c1", _turn("job-c"))
    await conversation_store.add_turn("c1", _turn("job-a", seconds_ago=2))
    await conversation_store.add_turn("c2", _turn("job-other"))
    turns = await conversation_store.turns("c1")
    assert [turn.job_id for turn in turns] == ["job-a", "job-b", "job-c"]
    assert turns[0].question == "question of job-a"
    assert await conversation_store.turns("nobody") == []


async def test_writing_the_same_turn_again_adds_nothing(conversation_store: ConversationStore) -> None:
    turn = _turn("job-1")
    await conversation_store.add_turn("c", turn)
    await conversation_store.add_turn("c", turn)
    assert [t.job_id for t in await conversation_store.turns("c")] == ["job-1"]


async def test_a_long_answer_survives_the_property_limit(conversation_store: ConversationStore) -> None:
    answer = "長い答え" * 20_000  # 80,000 characters: more than one string property holds
    await conversation_store.add_turn("c", _turn("job-long", answer=answer))
    assert (await conversation_store.turns("c"))[0].answer == answer


def test_conversations_are_scoped_to_their_user_and_channel() -> None:
    alice = conversation_partition(conversation_scope(Channel.API, "alice"), "chat-1")
    bob = conversation_partition(conversation_scope(Channel.API, "bob"), "chat-1")
    anonymous = conversation_partition(conversation_scope(Channel.API, None), "chat-1")
    line = conversation_partition(conversation_scope(Channel.LINE, "alice"), "chat-1")
    assert len({alice, bob, anonymous, line}) == 4
    assert conversation_partition(conversation_scope(Channel.LINE, "bob"), "chat-1") == line


async def test_delete_forgets_every_turn(conversation_store: ConversationStore) -> None:
    await asyncio.gather(*(conversation_store.add_turn("c", _turn(f"job-{i}")) for i in range(3)))
    await conversation_store.add_turn("kept", _turn("job-kept"))
    assert await conversation_store.delete("c") == 3
    assert await conversation_store.turns("c") == []
    assert len(await conversation_store.turns("kept")) == 1


async def test_the_lease_has_one_holder_at_a_time(conversation_store: ConversationStore) -> None:
    taken = await asyncio.gather(
        *(conversation_store.take_lease("c", holder=f"job-{i}", seconds=60) for i in range(5))
    )
    assert sorted(taken) == [False, False, False, False, True]
    holder = f"job-{taken.index(True)}"
    assert await conversation_store.take_lease("c", holder=holder, seconds=60)  # renewed
    await conversation_store.release_lease("c", holder="job-not-holding")  # no effect
    assert not await conversation_store.take_lease("c", holder="job-late", seconds=60)
    await conversation_store.release_lease("c", holder=holder)
    assert await conversation_store.take_lease("c", holder="job-late", seconds=60)


async def test_a_lease_past_its_time_is_free(conversation_store: ConversationStore) -> None:
    assert await conversation_store.take_lease("c", holder="job-dead", seconds=0.2)
    assert not await conversation_store.take_lease("c", holder="job-next", seconds=60)
    await asyncio.sleep(0.4)
    assert await conversation_store.take_lease("c", holder="job-next", seconds=60)


async def test_purge_removes_only_older_turns(conversation_store: ConversationStore) -> None:
    await conversation_store.add_turn("c", _turn("job-old", seconds_ago=3600))
    await conversation_store.add_turn("d", _turn("job-older", seconds_ago=7200))
    await conversation_store.add_turn("c", _turn("job-new"))
    assert await conversation_store.purge_older_than(utcnow() - timedelta(minutes=30)) == 2
    assert [turn.job_id for turn in await conversation_store.turns("c")] == ["job-new"]
    assert await conversation_store.turns("d") == []
