"""The OpenAPI document is valid and documents every route of the status blueprint."""

from __future__ import annotations

import re
from typing import Any

import azure.durable_functions as df
import azure.functions as func
from openapi_spec_validator import validate

from status.blueprint import bp
from status.openapi import openapi_document

HTTP_METHODS = {"get", "put", "post", "delete", "patch", "head", "options"}


def http_routes(app: df.DFApp) -> dict[str, set[str]]:
    """`/api/<route>` (parameter constraints stripped) → methods, for every HTTP trigger of `app`."""
    routes: dict[str, set[str]] = {}
    for function in app.get_functions():
        for binding in function.get_bindings_dict()["bindings"]:
            if binding["type"] == "httpTrigger":
                route = re.sub(r"\{(\w+)(:[^}]*)?\??\}", r"{\1}", binding["route"])
                methods = {str(getattr(m, "value", m)).lower() for m in binding["methods"]}
                routes.setdefault(f"/api/{route}", set()).update(methods)
    return routes


def documented(document: dict[str, Any]) -> dict[str, set[str]]:
    return {path: set(item) & HTTP_METHODS for path, item in document["paths"].items()}


def test_document_is_valid_openapi_31() -> None:
    document = openapi_document(base_url="https://api.example.com")
    validate(document)
    assert document["openapi"].startswith("3.1")
    assert document["servers"] == [{"url": "https://api.example.com"}]


def test_every_status_route_is_documented_with_its_methods() -> None:
    app = df.DFApp(http_auth_level=func.AuthLevel.FUNCTION)
    app.register_functions(bp)
    paths = documented(openapi_document(base_url="http://h"))
    for route, methods in http_routes(app).items():
        assert route in paths, route
        assert methods <= paths[route], (route, methods, paths[route])


def test_anonymous_routes_say_so() -> None:
    paths = openapi_document(base_url="http://h")["paths"]
    assert paths["/api/health"]["get"]["security"] == []
    assert paths["/api/openapi.json"]["get"]["security"] == []
    assert "security" not in paths["/api/generations/{id}"]["get"]
