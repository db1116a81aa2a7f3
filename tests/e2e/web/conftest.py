"""The web page in Debian's Chromium, driven by Playwright, against the product app on devhost.

Playwright never downloads a browser here: it starts the system's /usr/bin/chromium (installed by
`make test` where absent). Screenshots of the page's main states go to `test-output/web/`.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from testing.devhost import DevhostProcess
from testing.product_app import REPO_ROOT, product_settings

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
SCREENSHOTS = REPO_ROOT / "test-output" / "web"
# Slow enough that a job is seen queued and running (and can be cancelled), fast enough for the suite.
LATENCY_MS = "2500"
DESKTOP = {"width": 1200, "height": 900}


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: `make test` installs it (apt-get install chromium)")
    os.environ["PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD"] = "1"
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield launched
        launched.close()


def start_devhost(connection_string: str, **overrides: str) -> DevhostProcess:
    settings = product_settings(connection_string, OFFLINE_LATENCY_MS=LATENCY_MS, **overrides)
    process = DevhostProcess(app="function_app", app_dir=REPO_ROOT, settings=settings)
    process.start()
    try:
        process.wait_ready()
    except BaseException:
        process.kill()
        raise
    return process


@pytest.fixture(scope="module")
def web_app(azurite_connection_string: str) -> Iterator[DevhostProcess]:
    """The product app without function keys, as `make run` serves it."""
    process = start_devhost(azurite_connection_string)
    yield process
    process.stop()


@pytest.fixture
def user() -> str:
    """A name of this test's own, so the page's list shows only the jobs the test made."""
    return f"web-{uuid.uuid4().hex[:12]}"


def open_page(browser: Browser, base_url: str, *, user: str | None = None, key: str | None = None,
              viewport: dict[str, int] | None = None, headers: dict[str, str] | None = None) -> Page:
    """A fresh browser context (its own local storage, `headers` on every request) with the page loaded."""
    context = browser.new_context(viewport=viewport or DESKTOP, extra_http_headers=headers)
    stored = {"generation.user": user, "generation.functionKey": key}
    script = "".join(
        f"localStorage.setItem({name!r}, {value!r});" for name, value in stored.items() if value)
    if script:
        context.add_init_script(script)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(f"{base_url}/api/ui")
    page.script_errors = errors  # type: ignore[attr-defined]
    return page


def screenshot(page: Page, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
