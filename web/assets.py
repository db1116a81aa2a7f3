"""The page's static files, read from `static/` beside this module, with the headers they go out with."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

STATIC_DIR = Path(__file__).with_name("static")
PAGE = "index.html"
# A flat folder of plain names: nothing a request names can step outside it.
_ASSET_NAME = re.compile(r"[a-z0-9][a-z0-9-]*\.(?:js|css|svg|png)")
CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
}
# Scripts and styles come from this app only; pictures come through the 303 to blob storage, whose
# host differs per deployment, so any image source is allowed (images cannot run code).
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
    "img-src * data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    # The key may ride in image links as `code`: never hand page or link addresses to other hosts.
    "Referrer-Policy": "no-referrer",
    # Revalidate each time so a deployment's new files are picked up at once.
    "Cache-Control": "no-cache",
}


@dataclass(frozen=True)
class Asset:
    body: bytes
    content_type: str


def load_asset(name: str) -> Asset | None:
    """The file `name` of the page (`index.html` or a listed asset), or None when there is none.

    Read on each call (small files, a page load or two per visit): nothing is kept between requests.
    """
    if name != PAGE and not _ASSET_NAME.fullmatch(name):
        return None
    path = STATIC_DIR / name
    if not path.is_file():
        return None
    return Asset(body=path.read_bytes(), content_type=CONTENT_TYPES[path.suffix])
