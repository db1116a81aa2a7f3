from __future__ import annotations

import pytest

from jobs.domain.models import MAX_PROMPT_CHARS, JobKind
from line_webhook.commands import Action, Command, parse_command


def _parse(text: str, *, default_kind: JobKind = JobKind.IMAGE, group: bool = False) -> Command:
    return parse_command(text, default_kind=default_kind, commands_only=group)


@pytest.mark.parametrize(
    ("text", "kind", "prompt"),
    [
        ("/image a red fox", JobKind.IMAGE, "a red fox"),
        ("/IMAGE   a red fox  ", JobKind.IMAGE, "a red fox"),
        ("/ask why is the sky blue?", JobKind.TEXT, "why is the sky blue?"),
        ("/ask\nline one\nline two", JobKind.TEXT, "line one\nline two"),
        ("\uff0fimage 富士山の夕焼け", JobKind.IMAGE, "富士山の夕焼け"),
    ],
)
def test_commands_name_the_kind_and_keep_the_prompt(text: str, kind: JobKind, prompt: str) -> None:
    assert _parse(text) == Command(Action.GENERATE, kind=kind, prompt=prompt)


@pytest.mark.parametrize("default_kind", list(JobKind))
def test_plain_text_in_a_1to1_chat_uses_the_default_kind(default_kind: JobKind) -> None:
    command = _parse("  a lighthouse at dawn ", default_kind=default_kind)
    assert command == Command(Action.GENERATE, kind=default_kind, prompt="a lighthouse at dawn")


def test_plain_text_in_a_group_is_not_for_the_bot() -> None:
    assert _parse("see you tomorrow", group=True).action is Action.IGNORE


def test_commands_work_in_groups() -> None:
    assert _parse("/image a cat", group=True) == Command(Action.GENERATE, kind=JobKind.IMAGE, prompt="a cat")
    assert _parse("/help", group=True).action is Action.HELP


@pytest.mark.parametrize("text", ["/help", "/Help me please"])
def test_help(text: str) -> None:
    assert _parse(text).action is Action.HELP


@pytest.mark.parametrize("text", ["/image", "/ask   ", "/", "   "])
def test_nothing_to_make_gets_the_usage_text(text: str) -> None:
    assert _parse(text).action is Action.USAGE


def test_unknown_commands_get_usage_in_1to1_and_are_ignored_in_groups() -> None:
    assert _parse("/draw a cat").action is Action.USAGE
    assert _parse("/draw a cat", group=True).action is Action.IGNORE


def test_prompt_length_limit_is_the_api_limit() -> None:
    assert _parse("/image " + "x" * MAX_PROMPT_CHARS).action is Action.GENERATE
    assert _parse("/image " + "x" * (MAX_PROMPT_CHARS + 1)).action is Action.TOO_LONG
    assert _parse("y" * (MAX_PROMPT_CHARS + 1)).action is Action.TOO_LONG
