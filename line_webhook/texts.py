"""What the bot says: greeting, usage, and short, friendly notes about failed or canceled jobs."""

from __future__ import annotations

import math
from datetime import timedelta

from jobs.domain.models import MAX_PROMPT_CHARS, JobError, JobKind

_COMMANDS = (
    "/image <description> - draw a picture\n"
    "/ask <question> - get a written answer (I remember this chat's recent questions)\n"
    "/reset - make me forget our conversation\n"
    "/help - show this message"
)
_PLAIN = {
    JobKind.IMAGE: "Send me a description and I will draw it (it takes up to a minute).",
    JobKind.TEXT: "Send me a question and I will answer it (it takes up to a minute).",
}
GROUP_HINT = "In a group, start your message with /image or /ask."
TOO_LONG = f"That is too long for me: please keep it under {MAX_PROMPT_CHARS:,} characters."
RESET_DONE = "Done: I forgot our conversation. Your next question starts a new one."
RESET_FAILED = "Sorry, I could not forget our conversation just now. Please send /reset again."
UNREADABLE_TEXT = "Sorry, I could not read some characters of that message. Please send it as plain text."
CANCELED = "That request was canceled."
REJECTED = (
    "Sorry, I can't make that: the request was declined by the content filter. Please try rephrasing it."
)
TOO_SLOW = "Sorry, that took too long to make. Please try again later."
BUSY = "Sorry, I'm busy right now. Please try again in a few minutes."
TRY_LATER = "Sorry, something went wrong while making that. Please try again later."
IN_REVIEW = "A person is checking the answer before I send it. I'll send it here once it's approved."
WITHHELD = "Sorry, I can't send that answer: it did not pass our review. Please try asking differently."
TOO_MANY_AT_ONCE = (
    "You already have {limit} requests in progress. Please send this again once one of them is done."
)
DAILY_LIMIT = "You reached today's limit of {limit} pictures. It starts again at midnight UTC."
_BY_CODE = {
    "content_rejected": REJECTED,
    "timeout": TOO_SLOW,
    "deadline_exceeded": TOO_SLOW,
    "rate_limited": BUSY,
    "conversation_busy": BUSY,
    "canceled": CANCELED,
    # The reviewer's note is in the error's message, which is never shown here.
    "review_rejected": WITHHELD,
    "review_timeout": WITHHELD,
}


def waiting(wait: timedelta) -> str:
    """The notice to a chat whose request waits its turn for the provider (`wait` until it starts)."""
    seconds = max(0.0, wait.total_seconds())
    if seconds < 90:
        when = f"{max(10, round(seconds / 10) * 10)} seconds"
    else:
        minutes = math.ceil(seconds / 60)
        when = f"{minutes} minute{'s' if minutes > 1 else ''}"
    return (
        f"Lots of requests right now, so yours is waiting its turn: it should start in about {when}. "
        "I'll send it as soon as it's ready."
    )


def over_quota(quota: str, limit: int) -> str:
    """The reply to a request over a per-user quota (no job was made)."""
    template = DAILY_LIMIT if quota == "QUOTA_IMAGES_PER_DAY" else TOO_MANY_AT_ONCE
    return template.format(limit=limit)


def usage(default_kind: JobKind, *, in_group: bool = False) -> str:
    first = GROUP_HINT if in_group else _PLAIN[default_kind]
    return f"{first}\n\n{_COMMANDS}"


def greeting(default_kind: JobKind) -> str:
    return f"Thanks for adding me!\n{usage(default_kind)}"


def failure(error: JobError | None) -> str:
    """The note for a failed job; never the error's own message (it is written for developers)."""
    return _BY_CODE.get(error.code, TRY_LATER) if error else TRY_LATER


def partial_failure(failed: int, total: int) -> str:
    noun = "picture" if total == 1 else "pictures"
    return f"{failed} of {total} {noun} could not be made."
