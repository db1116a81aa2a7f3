"""Reading and forgetting a conversation of the HTTP API: its turns, oldest first."""

from __future__ import annotations

from collections.abc import Mapping

import azure.functions as func

from jobs.domain.conversations import Turn, is_valid_conversation_id
from jobs.domain.errors import ConversationNotFoundError
from jobs.domain.models import Channel
from jobs.http import claimed_user, json_response
from jobs.tables.conversations import ConversationStore, conversation_partition, conversation_scope
from status.queries import parse_user


async def _turns_of(
    conversation_id: str, params: Mapping[str, str], *, store: ConversationStore, owner: str | None
) -> tuple[str, str | None, list[Turn]]:
    """(partition, user, turns) of the caller's conversation; ConversationNotFoundError when it has none.

    Conversations are scoped to their user: another user's id names a conversation that, for this
    caller, does not exist.
    """
    user = claimed_user(parse_user(params), owner, field="user")
    if not is_valid_conversation_id(conversation_id):
        raise ConversationNotFoundError(conversation_id)
    partition = conversation_partition(conversation_scope(Channel.API, user), conversation_id)
    turns = await store.turns(partition)
    if not turns:
        raise ConversationNotFoundError(conversation_id)
    return partition, user, turns


async def get_conversation(
    conversation_id: str, params: Mapping[str, str], *, store: ConversationStore, owner: str | None = None
) -> func.HttpResponse:
    _, user, turns = await _turns_of(conversation_id, params, store=store, owner=owner)
    body = {"id": conversation_id, "user": user, "turns": [turn.to_dict() for turn in turns]}
    return json_response(body, headers={"Cache-Control": "no-store"})


async def delete_conversation(
    conversation_id: str, params: Mapping[str, str], *, store: ConversationStore, owner: str | None = None
) -> func.HttpResponse:
    partition, _, _ = await _turns_of(conversation_id, params, store=store, owner=owner)
    await store.delete(partition)
    return func.HttpResponse(status_code=204)
