"""What a text message asks for: a picture, an answer, help, or nothing the bot should answer."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from jobs.domain.models import MAX_PROMPT_CHARS, JobKind

# Slash commands and the job kind each one asks for; `/help` is handled on its own.
COMMAND_KINDS = {"image": JobKind.IMAGE, "ask": JobKind.TEXT}
# Japanese keyboards often type the full-width solidus.
_SLASHES = ("/", "\uff0f")


class Action(StrEnum):
    GENERATE = "generate"
    HELP = "help"
    USAGE = "usage"  # nothing usable was asked: answer with the usage text
    TOO_LONG = "too_long"
    IGNORE = "ignore"  # not for the bot (plain chatter in a group)


@dataclass(frozen=True)
class Command:
    action: Action
    kind: JobKind | None = None
    prompt: str = ""


def parse_command(text: str, *, default_kind: JobKind, commands_only: bool) -> Command:
    """Read one text message. In groups and rooms (`commands_only`) only known commands count."""
    stripped = text.strip()
    if not stripped.startswith(_SLASHES):
        if commands_only:
            return Command(Action.IGNORE)
        return _generate(default_kind, stripped)
    # The command ends at the first whitespace, which may be a newline rather than a space.
    parts = stripped[1:].split(maxsplit=1)
    name = parts[0].lower() if parts else ""
    rest = parts[1] if len(parts) > 1 else ""
    if name == "help":
        return Command(Action.HELP)
    if name in COMMAND_KINDS:
        return _generate(COMMAND_KINDS[name], rest.strip())
    return Command(Action.IGNORE if commands_only else Action.USAGE)


def _generate(kind: JobKind, prompt: str) -> Command:
    if not prompt:
        return Command(Action.USAGE)
    if len(prompt) > MAX_PROMPT_CHARS:
        return Command(Action.TOO_LONG)
    return Command(Action.GENERATE, kind=kind, prompt=prompt)
