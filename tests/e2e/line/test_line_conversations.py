"""LINE conversations end to end: `/ask` remembers the chat's questions, `/reset` forgets them
(offline provider: its answer says how many earlier questions it was shown)."""

from __future__ import annotations

from typing import Any

import pytest

from line_webhook import texts
from testing.devhost import DevhostProcess
from testing.factories_line import group_id, source, text_event, user_id
from testing.fakes.line_server import FakeLine
from tests.e2e.line.conftest import post_events, sent_to

pytestmark = pytest.mark.e2e


def _say(
    app: DevhostProcess, fake: FakeLine, text: str, *, src: dict[str, Any], chat: str, count: int
) -> str:
    """Send `text` to the bot and return its answer: the `count`th message that reached `chat`."""
    token = fake.issue_reply_token(to=chat)
    assert post_events(app, [text_event(text, src=src, reply_token=token)]).status == 200
    sent = sent_to(fake, chat, count=count)
    assert len(sent) == count, sent
    [message] = sent[-1]["messages"]
    assert message["type"] == "text"
    answer: str = message["text"]
    return answer


def test_ask_remembers_the_chat_and_reset_forgets_it(line_app: DevhostProcess, fake_line: FakeLine) -> None:
    user = user_id()
    src = source(user=user)

    first = _say(line_app, fake_line, "/ask Which harbour is oldest?", src=src, chat=user, count=1)
    second = _say(line_app, fake_line, "/ask How deep is it?", src=src, chat=user, count=2)
    third = _say(line_app, fake_line, "/ask And its lighthouse?", src=src, chat=user, count=3)
    assert "Earlier questions" not in first
    assert "Earlier questions I was shown: 1" in second
    assert "Earlier questions I was shown: 2" in third

    assert _say(line_app, fake_line, "/reset", src=src, chat=user, count=4) == texts.RESET_DONE
    fresh = _say(line_app, fake_line, "/ask Where were we?", src=src, chat=user, count=5)
    assert "Where were we?" in fresh and "Earlier questions" not in fresh


def test_a_group_shares_one_conversation(line_app: DevhostProcess, fake_line: FakeLine) -> None:
    chat, alice, bob = group_id(), user_id(), user_id()
    _say(line_app, fake_line, "/ask Lunch at noon?", src=source("group", user=alice, chat=chat),
         chat=chat, count=1)
    answer = _say(line_app, fake_line, "/ask Where?", src=source("group", user=bob, chat=chat),
                  chat=chat, count=2)
    assert "Earlier questions I was shown: 1" in answer
    # Another chat of the same member starts on its own.
    alone = _say(line_app, fake_line, "/ask Where?", src=source(user=bob), chat=bob, count=1)
    assert "Earlier questions" not in alone


def test_help_explains_the_conversation(line_app: DevhostProcess, fake_line: FakeLine) -> None:
    user = user_id()
    help_text = _say(line_app, fake_line, "/help", src=source(user=user), chat=user, count=1)
    assert "/reset" in help_text and "remember" in help_text
