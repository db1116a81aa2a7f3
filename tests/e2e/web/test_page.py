"""The page's flows in a real browser: submit and watch, errors, cancel, delete, paging, keys, phone width."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect

from testing.devhost import DevhostProcess
from tests.e2e.web.conftest import open_page, screenshot, start_devhost

pytestmark = pytest.mark.e2e
# Generous: the machine is shared, and a job of the offline provider takes LATENCY_MS per output.
JOB_TIMEOUT_MS = 30_000
_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def api(method: str, url: str, body: Any = None, headers: dict[str, str] | None = None) -> tuple[int, Any]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method,
                                     headers={"Content-Type": "application/json", **(headers or {})})
    try:
        with _DIRECT.open(request, timeout=30) as response:
            raw = response.read()
            return response.status, json.loads(raw) if raw else None
    except urllib.error.HTTPError as error:
        return error.code, None


@contextmanager
def keyed_app(connection_string: str, key: str) -> Iterator[DevhostProcess]:
    process = start_devhost(connection_string, DEVHOST_FUNCTION_KEYS=key)
    try:
        yield process
    finally:
        process.stop()


def job_card(page: Page, index: int = 0) -> Any:
    return page.locator("#jobs > li").nth(index)


def submit(page: Page, prompt: str, *, n: int = 1) -> None:
    page.get_by_label("Prompt").fill(prompt)
    page.get_by_label("How many").select_option(str(n))
    page.get_by_role("button", name="Generate").click()


def test_submit_shows_progress_then_the_pictures(
        browser: Browser, web_app: DevhostProcess, user: str) -> None:
    page = open_page(browser, web_app.base_url, user=user)
    expect(page.get_by_text("No jobs yet")).to_be_visible()
    screenshot(page, "01-empty")
    submit(page, "a lighthouse at dawn, watercolour", n=2)
    card = job_card(page)
    expect(card.locator(".badge")).to_have_text("Running", timeout=JOB_TIMEOUT_MS)
    expect(card.get_by_role("progressbar")).to_be_visible()
    screenshot(page, "02-running")
    expect(card.locator(".badge")).to_have_text("Done", timeout=JOB_TIMEOUT_MS)
    images = card.get_by_role("img")
    expect(images).to_have_count(2)
    for index in range(2):
        image = images.nth(index)
        # The preview really arrived through the 303 to blob storage and decoded as a picture.
        expect(image).to_have_js_property("complete", True)
        assert image.evaluate("img => img.naturalWidth") > 0
    link = card.get_by_role("link", name="Picture 1 of 2, open full size in a new tab")
    assert link.get_attribute("href").endswith("/outputs/0")
    screenshot(page, "03-done")
    assert page.script_errors == []  # type: ignore[attr-defined]


def test_a_rejected_prompt_shows_why(browser: Browser, web_app: DevhostProcess, user: str) -> None:
    page = open_page(browser, web_app.base_url, user=user)
    submit(page, "a cat [reject]")
    card = job_card(page)
    expect(card.locator(".badge")).to_have_text("Failed", timeout=JOB_TIMEOUT_MS)
    expect(card.get_by_role("alert")).to_contain_text("rejected by the provider's content policy")
    expect(card.get_by_role("img")).to_have_count(0)
    screenshot(page, "04-rejected")


def test_an_invalid_request_shows_the_problem_detail_and_fields(
        browser: Browser, web_app: DevhostProcess, user: str) -> None:
    page = open_page(browser, web_app.base_url, user=user)
    submit(page, "x" * 4001)
    error = page.locator("#submit-error")
    expect(error).to_be_visible()
    expect(error).to_contain_text("The request has invalid fields.")
    expect(error).to_contain_text("prompt:")
    expect(page.locator("#jobs > li")).to_have_count(0)
    expect(page.get_by_label("Prompt")).to_be_focused()
    screenshot(page, "05-invalid")


def test_cancel_a_running_job(browser: Browser, web_app: DevhostProcess, user: str) -> None:
    page = open_page(browser, web_app.base_url, user=user)
    submit(page, "a slow fox", n=4)
    card = job_card(page)
    card.get_by_role("button", name="Cancel").click()
    expect(card.locator(".badge")).to_have_text("Canceled", timeout=JOB_TIMEOUT_MS)
    expect(card.get_by_role("button", name="Cancel")).to_be_hidden()
    screenshot(page, "06-canceled")
    job_id = card.get_attribute("data-job-id")
    status, job = api("GET", f"{web_app.base_url}/api/generations/{job_id}")
    assert (status, job["status"]) == (200, "canceled")


def test_delete_asks_twice_then_removes_the_job(browser: Browser, web_app: DevhostProcess, user: str) -> None:
    status, job = api("POST", f"{web_app.base_url}/api/generations",
                      {"prompt": "to be deleted", "kind": "text", "user": user})
    assert status == 202
    page = open_page(browser, web_app.base_url, user=user)
    card = page.locator(f"#jobs > li[data-job-id='{job['id']}']")
    expect(card.locator(".badge")).to_have_text("Done", timeout=JOB_TIMEOUT_MS)
    expect(card.locator(".answer")).not_to_be_empty()
    card.get_by_role("button", name="Delete").click()
    confirm = card.get_by_role("button", name="Press again to delete")
    expect(confirm).to_be_visible()
    assert api("GET", f"{web_app.base_url}/api/generations/{job['id']}")[0] == 200
    confirm.press("Enter")
    expect(card).to_have_count(0)
    expect(page.get_by_text("No jobs yet")).to_be_visible()
    assert api("GET", f"{web_app.base_url}/api/generations/{job['id']}")[0] == 404


def test_the_list_pages_with_next_cursor(browser: Browser, web_app: DevhostProcess, user: str) -> None:
    made = []
    for number in range(10):
        status, job = api("POST", f"{web_app.base_url}/api/generations",
                          {"prompt": f"page test {number}", "kind": "text", "user": user})
        assert status == 202
        made.append(job["id"])
    page = open_page(browser, web_app.base_url, user=user)
    cards = page.locator("#jobs > li")
    expect(cards).to_have_count(8)
    more = page.get_by_role("button", name="Show older jobs")
    more.click()
    expect(cards).to_have_count(10)
    expect(more).to_be_hidden()
    shown = [cards.nth(index).get_attribute("data-job-id") for index in range(10)]
    assert shown == list(reversed(made))  # newest first, each once
    screenshot(page, "07-paged")


def test_keyboard_only_submit(browser: Browser, web_app: DevhostProcess, user: str) -> None:
    page = open_page(browser, web_app.base_url, user=user)
    page.keyboard.press("Tab")  # the skip link comes first
    page.keyboard.press("Enter")
    expect(page.get_by_label("Prompt")).to_be_focused()
    page.keyboard.type("why is the sea salty?")
    page.keyboard.press("Tab")
    expect(page.get_by_label("Kind")).to_be_focused()
    page.get_by_label("Kind").select_option("text")
    page.get_by_label("Prompt").press("Control+Enter")
    card = job_card(page)
    expect(card.locator(".badge")).to_have_text("Done", timeout=JOB_TIMEOUT_MS)
    expect(card.locator(".answer")).to_contain_text("salty")
    assert card.locator(".meta").inner_text().startswith("Text answer")


def test_usable_at_phone_width(browser: Browser, web_app: DevhostProcess, user: str) -> None:
    status, _ = api("POST", f"{web_app.base_url}/api/generations",
                    {"prompt": "a tall lighthouse", "size": "1024x1536", "user": user})
    assert status == 202
    page = open_page(browser, web_app.base_url, user=user, viewport={"width": 390, "height": 844})
    expect(job_card(page).locator(".badge")).to_have_text("Done", timeout=JOB_TIMEOUT_MS)
    expect(job_card(page).get_by_role("img")).to_have_js_property("complete", True)
    # Nothing sticks out sideways: no horizontal scrolling at phone width.
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    button = page.get_by_role("button", name="Generate")
    assert button.bounding_box()["width"] > 300  # the main action spans the screen
    screenshot(page, "08-phone")


def test_with_function_keys_the_page_asks_for_one_and_uses_it(
        browser: Browser, azurite_connection_string: str, user: str) -> None:
    key = "dummy-web-function-key"
    with keyed_app(azurite_connection_string, key) as app:
        page = open_page(browser, app.base_url, user=user)
        expect(page.locator("#list-error")).to_have_text(
            "This service needs a function key: paste it under Settings.")
        expect(page.get_by_label("Function key")).to_be_focused()
        screenshot(page, "09-key-needed")
        page.get_by_label("Function key").fill(key)
        page.get_by_label("Function key").press("Enter")
        expect(page.locator("#list-error")).to_be_hidden()
        submit(page, "a keyed lighthouse")
        card = job_card(page)
        expect(card.locator(".badge")).to_have_text("Done", timeout=JOB_TIMEOUT_MS)
        # An <img> cannot send the header: the key rides as `code`, and the picture still loads.
        image = card.get_by_role("img")
        expect(image).to_have_js_property("complete", True)
        assert image.evaluate("img => img.naturalWidth") > 0
        assert f"code={key}" in image.get_attribute("src")
        assert page.evaluate("localStorage.getItem('generation.functionKey')") == key


def test_behind_easy_auth_the_page_shows_who_is_signed_in_and_their_jobs_only(
        browser: Browser, azurite_connection_string: str) -> None:
    alice = {"X-MS-CLIENT-PRINCIPAL-ID": f"alice-{uuid.uuid4()}",
             "X-MS-CLIENT-PRINCIPAL-NAME": "alice@example.com"}
    bob = {"X-MS-CLIENT-PRINCIPAL-ID": f"bob-{uuid.uuid4()}", "X-MS-CLIENT-PRINCIPAL-NAME": "bob@example.com"}
    process = start_devhost(azurite_connection_string, DEVHOST_EASY_AUTH="true")
    try:
        generations = f"{process.base_url}/api/generations"
        assert api("POST", generations, {"prompt": "bob's fox", "kind": "text"}, headers=bob)[0] == 202
        # The platform adds the signed-in caller's headers to every request, pictures included.
        page = open_page(browser, process.base_url, user="someone-else", headers=alice)
        expect(page.locator("#who")).to_have_text("Signed in as alice@example.com Sign out")
        expect(page.get_by_text("No jobs yet")).to_be_visible()
        page.get_by_text("Settings").click()
        expect(page.get_by_label("Your name")).to_be_hidden()
        page.get_by_text("Settings").click()
        submit(page, "alice's lighthouse")
        card = job_card(page)
        expect(card.locator(".badge")).to_have_text("Done", timeout=JOB_TIMEOUT_MS)
        assert card.get_by_role("img").evaluate("img => img.naturalWidth") > 0
        screenshot(page, "10-signed-in")
        status, page_of_jobs = api("GET", generations, headers=alice)
        assert status == 200
        assert [job["user"] for job in page_of_jobs["items"]] == [alice["X-MS-CLIENT-PRINCIPAL-ID"]]
        expect(page.locator("#jobs > li")).to_have_count(1)
    finally:
        process.stop()
