"""ASP.NET-style route templates, as the Functions host reads them: `{name}`, `{name?}`, `{id:int}`."""

from __future__ import annotations

import math
import re
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TypeVar
from urllib.parse import unquote

T = TypeVar("T")

INT32 = (-(2**31), 2**31 - 1)
INT64 = (-(2**63), 2**63 - 1)


class RouteError(ValueError):
    """A route template that cannot be parsed (unbalanced braces, unknown constraint...)."""


def _is_integer(value: str, bounds: tuple[int, int]) -> bool:
    if not re.fullmatch(r"[+-]?\d+", value):
        return False
    return bounds[0] <= int(value) <= bounds[1]


def _is_number(value: str) -> bool:
    try:
        return math.isfinite(float(value))
    except ValueError:
        return False


def _is_guid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


def _is_datetime(value: str) -> bool:
    try:
        datetime.fromisoformat(value)
    except ValueError:
        return False
    return True


SIMPLE_CONSTRAINTS: dict[str, Callable[[str], bool]] = {
    "int": lambda v: _is_integer(v, INT32),
    "long": lambda v: _is_integer(v, INT64),
    "bool": lambda v: v.lower() in ("true", "false"),
    "guid": _is_guid,
    "alpha": lambda v: re.fullmatch(r"[A-Za-z]+", v) is not None,
    "decimal": _is_number,
    "double": _is_number,
    "float": _is_number,
    "datetime": _is_datetime,
    "required": lambda v: v != "",
}


def _numbers(args: str) -> list[int]:
    try:
        return [int(part) for part in args.split(",")]
    except ValueError as exc:
        raise RouteError(f"constraint arguments must be integers: {args!r}") from exc


def _argument_constraint(name: str, args: str) -> Callable[[str], bool]:
    if name == "regex":
        # Route templates double literal braces, also inside a regex constraint.
        pattern = re.compile(args.replace("{{", "{").replace("}}", "}"), re.IGNORECASE)
        return lambda v: pattern.search(v) is not None
    numbers = _numbers(args)
    checks: dict[str, Callable[[str], bool]] = {
        "minlength": lambda v: len(v) >= numbers[0],
        "maxlength": lambda v: len(v) <= numbers[0],
        "length": lambda v: (len(v) == numbers[0]) if len(numbers) == 1
        else numbers[0] <= len(v) <= numbers[1],
        "min": lambda v: _is_integer(v, INT64) and int(v) >= numbers[0],
        "max": lambda v: _is_integer(v, INT64) and int(v) <= numbers[0],
        "range": lambda v: _is_integer(v, INT64) and numbers[0] <= int(v) <= numbers[-1],
    }
    if name not in checks:
        raise RouteError(f"unsupported route constraint {name!r}")
    return checks[name]


def _constraint(text: str) -> Callable[[str], bool]:
    match = re.fullmatch(r"(\w+)(?:\((.*)\))?", text, re.DOTALL)
    if not match:
        raise RouteError(f"malformed route constraint {text!r}")
    name, args = match.group(1).lower(), match.group(2)
    if args is None:
        if name not in SIMPLE_CONSTRAINTS:
            raise RouteError(f"unsupported route constraint {name!r}")
        return SIMPLE_CONSTRAINTS[name]
    return _argument_constraint(name, args)


@dataclass(frozen=True)
class Parameter:
    name: str
    optional: bool = False
    default: str | None = None
    catch_all: bool = False
    constraints: tuple[Callable[[str], bool], ...] = field(default=(), compare=False)
    constraint_count: int = 0


def _split_outside_parens(text: str, separator: str) -> list[str]:
    parts: list[str] = []
    current: list[str] = []
    depth = 0
    for char in text:
        depth += (char == "(") - (char == ")")
        if char == separator and depth == 0:
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    parts.append("".join(current))
    return parts


def _parameter(body: str) -> Parameter:
    catch_all = body.startswith("*")
    body = body.lstrip("*")
    default = None
    head, *constraint_texts = _split_outside_parens(body, ":")
    tail = constraint_texts[-1] if constraint_texts else head
    optional = tail.endswith("?")
    if optional:
        tail = tail[:-1]
    if "=" in tail and not tail.startswith("regex("):
        tail, default = tail.split("=", 1)
    if constraint_texts:
        constraint_texts[-1] = tail
    else:
        head = tail
    if not re.fullmatch(r"[A-Za-z_]\w*", head):
        raise RouteError(f"invalid route parameter name {head!r}")
    checks = tuple(_constraint(text) for text in constraint_texts)
    return Parameter(name=head, optional=optional or default is not None or catch_all, default=default,
                     catch_all=catch_all, constraints=checks, constraint_count=len(checks))


def _tokenize_segment(segment: str) -> list[str | Parameter]:
    """Split one path segment into literals and parameters; `{{`/`}}` are literal braces."""
    tokens: list[str | Parameter] = []
    literal: list[str] = []
    index = 0
    while index < len(segment):
        char = segment[index]
        if segment.startswith("{{", index) or segment.startswith("}}", index):
            literal.append(char)
            index += 2
            continue
        if char == "}":
            raise RouteError(f"unbalanced '}}' in {segment!r}")
        if char != "{":
            literal.append(char)
            index += 1
            continue
        end, depth = index + 1, 0
        while end < len(segment) and (segment[end] != "}" or depth > 0):
            depth += (segment[end] == "(") - (segment[end] == ")")
            end += 1
        if end >= len(segment):
            raise RouteError(f"unbalanced '{{' in {segment!r}")
        if literal:
            tokens.append("".join(literal))
            literal = []
        tokens.append(_parameter(segment[index + 1:end]))
        index = end + 1
    if literal:
        tokens.append("".join(literal))
    return tokens


def _split_segments(template: str) -> list[str]:
    """Split on '/' that is not inside a parameter (regex constraints may hold slashes)."""
    segments: list[str] = []
    current: list[str] = []
    depth = 0
    for char in template:
        depth += (char == "{") - (char == "}")
        if char == "/" and depth == 0:
            segments.append("".join(current))
            current = []
        else:
            current.append(char)
    segments.append("".join(current))
    return [segment for segment in segments if segment != ""]


class RouteTemplate:
    """One compiled route template; `match(path)` returns the route parameters or None."""

    def __init__(self, template: str) -> None:
        self.template = template.strip("/")
        self.segments = [_tokenize_segment(segment) for segment in _split_segments(self.template)]
        self.parameters: list[Parameter] = [
            token for segment in self.segments for token in segment if isinstance(token, Parameter)]
        self._groups = {f"p{index}": parameter for index, parameter in enumerate(self.parameters)}
        self._regex = re.compile(self._pattern(), re.IGNORECASE | re.DOTALL)

    def _pattern(self) -> str:
        pieces: list[str] = []
        group = iter(self._groups)
        for position, segment in enumerate(self.segments):
            slash = "/" if position else ""
            only = segment[0] if len(segment) == 1 else None
            if isinstance(only, Parameter) and only.optional:
                value = ".*" if only.catch_all else "[^/]+"
                pieces.append(f"(?:{slash}(?P<{next(group)}>{value}))?")
                continue
            body = []
            for token in segment:
                if isinstance(token, Parameter):
                    body.append(f"(?P<{next(group)}>{'.+' if token.catch_all else '[^/]+'})")
                else:
                    body.append(re.escape(token))
            pieces.append(slash + "".join(body))
        return "".join(pieces)

    def match(self, path: str) -> dict[str, str] | None:
        """Match a raw (percent-encoded) path relative to the route prefix, without leading slash."""
        found = self._regex.fullmatch(path.strip("/"))
        if found is None:
            return None
        values: dict[str, str] = {}
        for group, parameter in self._groups.items():
            raw = found.group(group)
            if raw is None:
                if parameter.default is not None:
                    values[parameter.name] = parameter.default
                continue
            value = unquote(raw)
            if not all(check(value) for check in parameter.constraints):
                return None
            values[parameter.name] = value
        return values

    def precedence(self) -> tuple[int, ...]:
        """Sort key: literal segments before constrained parameters, before plain ones, catch-alls last."""
        key = []
        for segment in self.segments:
            params = [t for t in segment if isinstance(t, Parameter)]
            if not params:
                key.append(0)
            elif any(p.catch_all for p in params):
                key.append(4)
            elif len(segment) > 1:
                key.append(1)
            else:
                key.append(2 if params[0].constraint_count else 3)
        # A template that ends here beats a longer one (e.g. `items` over `items/{id?}` for /items).
        return (*key, -1)


def ordered(templates: Sequence[tuple[RouteTemplate, T]]) -> list[tuple[RouteTemplate, T]]:
    """Order routes the way ASP.NET picks among several that match: most specific first."""
    return sorted(templates, key=lambda item: item[0].precedence())
