"""Route templates as the Functions host matches them (pure logic: no host needed)."""

from __future__ import annotations

import pytest

from devhost.routes import RouteError, RouteTemplate, ordered


def test_literal_and_parameter_segments() -> None:
    route = RouteTemplate("generations/{id}/outputs/{index}")
    assert route.match("generations/abc/outputs/0") == {"id": "abc", "index": "0"}
    assert route.match("generations/abc/outputs") is None
    assert route.match("generations/abc/outputs/0/extra") is None


def test_literals_match_case_insensitively_and_values_are_decoded() -> None:
    route = RouteTemplate("Generations/{id}")
    assert route.match("generations/a%20b") == {"id": "a b"}


def test_optional_parameter_may_be_absent() -> None:
    route = RouteTemplate("items/{id?}")
    assert route.match("items") == {}
    assert route.match("items/7") == {"id": "7"}


def test_default_value_fills_an_absent_parameter() -> None:
    route = RouteTemplate("docs/{lang=en}")
    assert route.match("docs") == {"lang": "en"}
    assert route.match("docs/fr") == {"lang": "fr"}


@pytest.mark.parametrize(("template", "good", "bad"), [
    ("n/{v:int}", "-42", "4.2"),
    ("n/{v:int}", "2147483647", "2147483648"),
    ("n/{v:long}", "2147483648", "x"),
    ("n/{v:guid}", "6f1c3a5e-1111-4c4c-9d9d-000000000000", "not-a-guid"),
    ("n/{v:alpha}", "abcXYZ", "abc1"),
    ("n/{v:bool}", "True", "yes"),
    ("n/{v:double}", "2.5", "nan"),
    ("n/{v:minlength(3)}", "abc", "ab"),
    ("n/{v:maxlength(2)}", "ab", "abc"),
    ("n/{v:length(2,3)}", "abc", "abcd"),
    ("n/{v:range(1,5)}", "5", "6"),
    ("n/{v:min(10)}", "10", "9"),
    ("n/{v:int:max(3)}", "3", "4"),
    ("n/{v:regex(^\\d{{3}}$)}", "123", "1234"),
])
def test_constraints(template: str, good: str, bad: str) -> None:
    route = RouteTemplate(template)
    assert route.match(f"n/{good}") == {"v": good}
    assert route.match(f"n/{bad}") is None


def test_optional_constrained_parameter() -> None:
    route = RouteTemplate("items/{id:int?}")
    assert route.match("items") == {}
    assert route.match("items/3") == {"id": "3"}
    assert route.match("items/x") is None


def test_complex_segment_takes_the_last_separator() -> None:
    route = RouteTemplate("files/{stem}.{ext}")
    assert route.match("files/report.final.pdf") == {"stem": "report.final", "ext": "pdf"}


def test_catch_all_takes_the_rest_of_the_path() -> None:
    route = RouteTemplate("static/{*path}")
    assert route.match("static/a/b/c.txt") == {"path": "a/b/c.txt"}
    assert route.match("static") == {}


@pytest.mark.parametrize("template", ["a/{id", "a/{id:unknown}", "a/{1bad}", "a/id}"])
def test_malformed_templates_are_rejected(template: str) -> None:
    with pytest.raises(RouteError):
        RouteTemplate(template)


def test_more_specific_routes_are_tried_first() -> None:
    routes = ordered([(RouteTemplate("items/{id}"), "any"), (RouteTemplate("items/{id:int}"), "int"),
                      (RouteTemplate("items/new"), "literal"), (RouteTemplate("{*rest}"), "catch-all")])
    assert [name for _, name in routes] == ["literal", "int", "any", "catch-all"]
    first = next(name for template, name in routes if template.match("items/5") is not None)
    assert first == "int"
