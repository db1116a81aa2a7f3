"""The OpenAPI document covers every HTTP function of the product app, and only real ones."""

from __future__ import annotations

import re
from functools import cache
from typing import Any

from jsonschema import Draft202012Validator
from openapi_spec_validator import validate

from devhost.functions import FunctionSpec, load_app
from generation.intake import VISIBLE_CHAR
from status.openapi import openapi_document
from testing.product_app import REPO_ROOT

HTTP_METHODS = {"get", "put", "post", "delete", "patch", "head", "options"}


def schema_validator(document: dict[str, Any], name: str) -> Draft202012Validator:
    """A validator for `#/components/schemas/<name>` that resolves the document's own $refs."""
    root = {"$ref": f"#/components/schemas/{name}", "components": document["components"]}
    return Draft202012Validator(root)


@cache
def http_functions() -> tuple[FunctionSpec, ...]:
    """The HTTP functions of function_app.py (indexed once: an app can be indexed only once)."""
    specs = load_app("function_app", app_dir=REPO_ROOT)
    return tuple(spec for spec in specs if spec.trigger_type == "httpTrigger")


def app_routes() -> dict[str, set[str]]:
    """`/api/<route>` → methods for every HTTP trigger in function_app.py."""
    routes: dict[str, set[str]] = {}
    for spec in http_functions():
        route = re.sub(r"\{(\w+)(:[^}]*)?\??\}", r"{\1}", spec.trigger["route"])
        methods = {str(method).lower() for method in spec.trigger["methods"]}
        routes.setdefault(f"/api/{route}", set()).update(methods)
    return routes


def anonymous_routes() -> set[tuple[str, str]]:
    found = set()
    for spec in http_functions():
        if str(spec.trigger.get("authLevel")).lower() == "anonymous":
            for method in spec.trigger["methods"]:
                found.add((f"/api/{spec.trigger['route']}", str(method).lower()))
    return found


def test_document_is_valid() -> None:
    validate(openapi_document(base_url="https://gen.example.com"))


def test_routes_and_methods_match_function_app_both_ways() -> None:
    document = openapi_document(base_url="http://h")
    documented = {path: set(item) & HTTP_METHODS for path, item in document["paths"].items()}
    assert documented == app_routes()


def test_anonymous_functions_are_documented_without_security() -> None:
    paths = openapi_document(base_url="http://h")["paths"]
    anonymous = anonymous_routes()
    assert ("/api/health", "get") in anonymous
    for path, item in paths.items():
        for method in set(item) & HTTP_METHODS:
            expected_open = (path, method) in anonymous
            assert (item[method].get("security") == []) is expected_open, (path, method)


def test_submit_body_schema_matches_the_validation_rules() -> None:
    document = openapi_document(base_url="http://h")
    prompt = document["components"]["schemas"]["GenerationRequest"]["properties"]["prompt"]
    assert prompt["pattern"] == VISIBLE_CHAR  # one spelling of "not blank" for both sides
    validator = schema_validator(document, "GenerationRequest")
    assert validator.is_valid({"prompt": "a fox"})
    assert validator.is_valid({"prompt": "p", "kind": "text", "n": 1, "size": "1536x1024", "user": "u"})
    for bad in ({}, {"prompt": ""}, {"prompt": "p" * 4001}, {"prompt": "p", "n": 5},
                {"prompt": "p", "n": "2"}, {"prompt": "p", "size": "10x10"}, {"prompt": "p", "extra": 1},
                {"prompt": "p", "user": "u" * 65}, {"prompt": "p", "kind": "video"},
                {"prompt": "\x1d\ufeff "}, {"prompt": "p", "user": ""}, {"prompt": "p", "user": "a\tb"},
                {"prompt": "p", "kind": "text", "n": 2}):
        assert not validator.is_valid(bad), bad
