"""Conversation history: turns, the token estimate and the trimming to a budget (pure, no I/O)."""

from __future__ import annotations

import math
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

MAX_CONVERSATION_ID_CHARS = 64
# Client-chosen ids become part of Table keys and URLs: letters, digits, "-", "_" and "." only.
_CONVERSATION_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
# Each chat message costs a few tokens of framing beyond its text (role, separators).
MESSAGE_OVERHEAD_TOKENS = 4
# LINE conversations are derived from the chat, so the id never shows the chat's LINE id.
_LINE_NAMESPACE = uuid.UUID("6f2a4d8e-1b7c-5e3f-9a0d-4c8b2e6f1a35")


def is_valid_conversation_id(value: str) -> bool:
    return bool(_CONVERSATION_ID.match(value))


def new_conversation_id() -> str:
    return str(uuid.uuid4())


def line_conversation_id(chat_id: str) -> str:
    """The one conversation of a LINE chat (a 1:1 chat, a group or a room)."""
    return "line-" + str(uuid.uuid5(_LINE_NAMESPACE, chat_id))


@dataclass(frozen=True)
class Turn:
    """One exchange of a conversation: the question a job asked and the answer it got."""

    job_id: str
    question: str
    answer: str
    created_at: datetime

    def to_dict(self) -> dict[str, str]:
        return {
            "job_id": self.job_id,
            "question": self.question,
            "answer": self.answer,
            "created_at": self.created_at.isoformat().replace("+00:00", "Z"),
        }


def estimate_tokens(text: str) -> int:
    """A tokenizer-free estimate of a text's tokens, on the high side.

    BPE tokenizers (cl100k, o200k) average about four characters of English per token, while CJK and
    Thai characters take about one token each (often more than one byte-pair): ASCII counts a quarter,
    every other character counts one. Overestimating only drops an old turn a little early.
    """
    ascii_chars = sum(1 for char in text if char.isascii())
    return math.ceil(ascii_chars / 4) + (len(text) - ascii_chars)


def turn_tokens(turn: Turn) -> int:
    return estimate_tokens(turn.question) + estimate_tokens(turn.answer) + 2 * MESSAGE_OVERHEAD_TOKENS


def trim_history(
    turns: Sequence[Turn], *, prompt: str, max_tokens: int, max_turns: int
) -> list[Turn]:
    """The newest turns (oldest first) that fit `max_turns` and, with `prompt`, `max_tokens`.

    Older turns are dropped first; a turn is never cut in half. The prompt itself is always sent,
    even when it alone is over the budget (the provider then decides).
    """
    budget = max_tokens - estimate_tokens(prompt) - MESSAGE_OVERHEAD_TOKENS
    kept: list[Turn] = []
    for turn in reversed(turns):
        if len(kept) >= max_turns:
            break
        cost = turn_tokens(turn)
        if cost > budget:
            break
        budget -= cost
        kept.append(turn)
    kept.reverse()
    return kept


def history_messages(turns: Sequence[Turn]) -> list[tuple[str, str]]:
    """The turns as (role, content) chat messages, oldest first."""
    messages: list[tuple[str, str]] = []
    for turn in turns:
        messages += [("user", turn.question), ("assistant", turn.answer)]
    return messages
