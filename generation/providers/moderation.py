"""Reading the providers' moderation verdicts: OpenAI's moderation endpoint and Azure OpenAI's
content-filter annotations. Each answers "why should a person review this?" or None.

Azure OpenAI blocks content at its filter's threshold itself (that is `content_rejected`); what it lets
through still carries a severity per category on the prompt (`prompt_filter_results`) and on the answer
(`choices[].content_filter_results`). An answer let through at `medium` or above, or one where a
detector (jailbreak, protected material) fired, is what the review gate holds.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

MODERATION_MODEL = "omni-moderation-latest"
REVIEW_SEVERITIES = frozenset({"medium", "high"})


def moderation_reason(response: Any) -> str | None:
    """OpenAI `/v1/moderations`: the categories of every flagged result, or None when none is flagged."""
    categories: list[str] = []
    flagged = False
    for result in getattr(response, "results", None) or []:
        if not getattr(result, "flagged", False):
            continue
        flagged = True
        named = result.categories.model_dump(by_alias=True) if result.categories is not None else {}
        categories += [name for name, on in named.items() if on is True]
    if not flagged:
        return None
    return "moderation flagged " + (", ".join(sorted(set(categories))) or "the output")


def _severe(results: Any) -> list[str]:
    """Categories of one `content_filter_results` object that the gate holds (not filtered, yet severe)."""
    if not isinstance(results, Mapping):
        return []
    found: list[str] = []
    for category, verdict in results.items():
        if not isinstance(verdict, Mapping) or verdict.get("filtered") is True:
            continue
        if verdict.get("severity") in REVIEW_SEVERITIES:
            found.append(f"{category} ({verdict['severity']})")
        elif verdict.get("detected") is True:
            found.append(f"{category} (detected)")
    return found


def _prompt_results(extra: Mapping[str, Any]) -> Iterable[Any]:
    entries = extra.get("prompt_filter_results")
    return [entry.get("content_filter_results") for entry in entries if isinstance(entry, Mapping)] \
        if isinstance(entries, list) else []


def annotation_reason(completion: Any) -> str | None:
    """Azure OpenAI chat completion: the severe annotations on its prompt and its first answer."""
    extra = getattr(completion, "model_extra", None) or {}
    in_prompt = [item for results in _prompt_results(extra) for item in _severe(results)]
    choices = getattr(completion, "choices", None) or []
    choice_extra = getattr(choices[0], "model_extra", None) or {} if choices else {}
    in_answer = _severe(choice_extra.get("content_filter_results"))
    parts = [f"content filter on the {where}: {', '.join(items)}"
             for where, items in (("prompt", in_prompt), ("answer", in_answer)) if items]
    return "; ".join(parts) or None
