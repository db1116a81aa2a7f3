"""Callers who are who they say: behind Easy Auth (devhost's stand-in) the principal owns its jobs."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from testing.devhost import DevhostProcess
from testing.http import call
from testing.product_app import REPO_ROOT, product_settings
from tests.e2e.cli.test_genctl import genctl
from tests.e2e.test_status_api import assert_problem

pytestmark = pytest.mark.e2e


def principal(name: str) -> dict[str, str]:
    """The headers App Service writes for a signed-in caller (an Entra object id and a name)."""
    return {"X-MS-CLIENT-PRINCIPAL-ID": str(uuid.uuid5(uuid.NAMESPACE_URL, name + uuid.uuid4().hex)),
            "X-MS-CLIENT-PRINCIPAL-NAME": f"{name}@example.com", "X-MS-CLIENT-PRINCIPAL-IDP": "aad"}


@pytest.fixture(scope="module")
def app(azurite_connection_string: str) -> Iterator[DevhostProcess]:
    settings = product_settings(azurite_connection_string, DEVHOST_EASY_AUTH="true")
    with DevhostProcess(app="function_app", app_dir=REPO_ROOT, settings=settings) as process:
        yield process


def generations(app: DevhostProcess) -> str:
    return f"{app.base_url}/api/generations"


def test_the_principal_owns_what_it_submits(app: DevhostProcess) -> None:
    alice = principal("alice")
    made = call("POST", generations(app), json_body={"prompt": "a fox", "kind": "text"}, headers=alice)
    assert made.status == 202, made.body
    assert made.json()["user"] == alice["X-MS-CLIENT-PRINCIPAL-ID"]
    own = call("POST", generations(app), headers=alice,
               json_body={"prompt": "a fox", "kind": "text", "user": alice["X-MS-CLIENT-PRINCIPAL-ID"]})
    assert own.status == 202 and own.json()["user"] == alice["X-MS-CLIENT-PRINCIPAL-ID"]


def test_naming_another_user_is_403_and_stores_nothing(app: DevhostProcess) -> None:
    alice, bob = principal("alice"), principal("bob")
    bob_id = bob["X-MS-CLIENT-PRINCIPAL-ID"]
    refused = call("POST", generations(app), json_body={"prompt": "a fox", "user": bob_id}, headers=alice)
    problem = assert_problem(refused, 403)
    assert problem["errors"] == [{"field": "user", "message": "names another user than the signed-in caller"}]
    assert call("GET", generations(app), headers=bob).json()["items"] == []
    listing = call("GET", f"{generations(app)}?user={bob_id}", headers=alice)
    assert assert_problem(listing, 403)["errors"][0]["field"] == "user"


def test_another_principals_job_is_404_on_every_route(app: DevhostProcess) -> None:
    alice, bob = principal("alice"), principal("bob")
    job = call("POST", generations(app), json_body={"prompt": "a lighthouse"}, headers=alice).json()
    url = f"{generations(app)}/{job['id']}"
    done = call("GET", f"{url}?wait=30", headers=alice)
    assert done.json()["status"] == "succeeded"
    for method, target in (("GET", url), ("GET", f"{url}?wait=1"), ("GET", f"{url}/outputs/0"),
                           ("POST", f"{url}/cancel"), ("DELETE", url)):
        reply = call(method, target, headers=bob)
        assert assert_problem(reply, 404)["detail"] == f"No generation job with id '{job['id']}' exists."
    assert [item["id"] for item in call("GET", generations(app), headers=bob).json()["items"]] == []
    # Alice's job is untouched by all of that, and hers to read, list, fetch and delete.
    assert call("GET", url, headers=alice).json()["status"] == "succeeded"
    assert [i["id"] for i in call("GET", generations(app), headers=alice).json()["items"]] == [job["id"]]
    assert call("GET", f"{url}/outputs/0", headers=alice).status == 303
    assert call("DELETE", url, headers=alice).status == 204


def test_without_a_principal_the_api_answers_401(app: DevhostProcess) -> None:
    for method, target in (("POST", generations(app)), ("GET", generations(app)),
                           ("GET", f"{generations(app)}/{uuid.uuid4()}")):
        reply = call(method, target, json_body={"prompt": "p"} if method == "POST" else None)
        assert assert_problem(reply, 401)["title"] == "Not signed in"
    assert call("GET", f"{app.base_url}/api/health").status == 200


def test_auth_me_names_the_caller(app: DevhostProcess) -> None:
    alice = principal("alice")
    me = call("GET", f"{app.base_url}/.auth/me", headers=alice)
    assert me.status == 200
    (identity,) = me.json()
    assert identity["user_id"] == "alice@example.com"
    assert {"typ": "http://schemas.microsoft.com/identity/claims/objectidentifier",
            "val": alice["X-MS-CLIENT-PRINCIPAL-ID"]} in identity["user_claims"]
    assert call("GET", f"{app.base_url}/.auth/me").status == 401


def test_without_easy_auth_principal_headers_are_ignored(start_app: object) -> None:
    plain = start_app()  # type: ignore[operator]
    alice = principal("alice")
    made = call("POST", f"{plain.base_url}/api/generations", headers=alice,
                json_body={"prompt": "a fox", "kind": "text", "user": "bob"})
    assert made.status == 202 and made.json()["user"] == "bob"
    assert call("GET", f"{plain.base_url}/.auth/me", headers=alice).status == 404


def test_genctl_says_when_the_service_wants_a_signed_in_caller(app: DevhostProcess) -> None:
    run = genctl("list", url=app.base_url)
    assert run.code == 3
    assert run.err == "genctl: HTTP 401: Sign in first: this service knows its callers.\n"
