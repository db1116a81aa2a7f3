"""The service's HTTP API as the command line uses it: JSON resources, RFC 9457 problems as errors."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urljoin

import requests

KEY_HEADER = "x-functions-key"
CONNECT_TIMEOUT = 10.0
READ_TIMEOUT = 30.0
CHUNK_BYTES = 64 * 1024


class ServiceError(Exception):
    """The service answered with an error, or could not be reached; the message is one line for a person."""


class ApiError(ServiceError):
    def __init__(self, status: int, detail: str) -> None:
        super().__init__(f"HTTP {status}: {detail}")
        self.status = status
        self.detail = detail


@dataclass(frozen=True)
class Answer:
    """A job (or list page) and how long the service asks to wait before looking again."""

    body: dict[str, Any]
    retry_after: float | None = None
    location: str | None = None


def api_root(base_url: str) -> str:
    """`http://host:7071`, `http://host:7071/` and `http://host:7071/api` all name the same service."""
    root = base_url.strip().rstrip("/")
    return root[: -len("/api")] if root.endswith("/api") else root


def _detail(response: requests.Response) -> str:
    try:
        problem = response.json()
    except ValueError:
        if response.status_code == 401:
            # The Functions host answers a missing or wrong key with an empty 401.
            return "the service needs a function key (--key or GENERATION_API_KEY), or refused the one given"
        return response.reason or "no detail given"
    detail = str(problem.get("detail") or response.reason) if isinstance(problem, dict) else response.reason
    fields = problem.get("errors") if isinstance(problem, dict) else None
    if isinstance(fields, list) and fields:
        named = "; ".join(f"{f.get('field')}: {f.get('message')}" for f in fields if isinstance(f, dict))
        detail = f"{detail} ({named})"
    return detail


def _retry_after(response: requests.Response) -> float | None:
    raw = response.headers.get("Retry-After", "")
    return float(raw) if raw.isdigit() else None


class GenerationClient:
    """One service at `base_url`. `key` goes as `x-functions-key` and `token` (an Entra ID access token, for
    a service behind App Service Authentication) as a bearer token, to the service only, never to storage."""

    def __init__(
        self, base_url: str, *, key: str | None = None, token: str | None = None,
        session: requests.Session | None = None,
    ) -> None:
        self.root = api_root(base_url)
        self.key = key or None
        self.token = token or None
        self.session = session or requests.Session()

    def _url(self, *parts: str) -> str:
        return "/".join([f"{self.root}/api/generations", *(quote(part, safe="") for part in parts)])

    def _send(
        self, method: str, url: str, *, read_timeout: float = READ_TIMEOUT, **kwargs: Any
    ) -> requests.Response:
        headers = {"Accept": "application/json"}
        if self.key:
            headers[KEY_HEADER] = self.key
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        try:
            response = self.session.request(
                method, url, headers=headers, timeout=(CONNECT_TIMEOUT, read_timeout),
                allow_redirects=False, **kwargs)
        except requests.RequestException as error:
            raise ServiceError(f"could not reach {self.root}: {type(error).__name__}") from error
        if response.status_code >= 400:
            raise ApiError(response.status_code, _detail(response))
        return response

    def _answer(self, response: requests.Response) -> Answer:
        try:
            body = response.json()
        except ValueError as error:
            raise ServiceError(f"HTTP {response.status_code}: the answer was not JSON") from error
        return Answer(body, _retry_after(response), response.headers.get("Location"))

    def submit(self, request: dict[str, Any]) -> Answer:
        return self._answer(self._send("POST", self._url(), json=request))

    def get(self, job_id: str, *, wait: int = 0) -> Answer:
        params = {"wait": str(wait)} if wait else None
        response = self._send("GET", self._url(job_id), params=params, read_timeout=READ_TIMEOUT + wait)
        return self._answer(response)

    def list(self, *, user: str | None, status: str | None, limit: int | None, cursor: str | None) -> Answer:
        query = {"user": user, "status": status, "limit": limit, "cursor": cursor}
        params = {name: str(value) for name, value in query.items() if value is not None}
        return self._answer(self._send("GET", self._url(), params=params))

    def cancel(self, job_id: str) -> Answer:
        return self._answer(self._send("POST", self._url(job_id, "cancel")))

    def delete(self, job_id: str) -> None:
        self._send("DELETE", self._url(job_id))

    def download(self, output_url: str) -> Iterator[bytes]:
        """The picture behind an output link: the service answers 303 to a short-lived blob URL."""
        answer = self._send("GET", output_url)
        location = answer.headers.get("Location") if answer.status_code == 303 else None
        if location is None:
            raise ServiceError(f"HTTP {answer.status_code}: expected a 303 to the picture at {output_url}")
        try:
            # A plain request: the key and token belong to the service, not to the storage account.
            # (A relative Location is legal HTTP; the service's own is an absolute SAS URL.)
            target = urljoin(output_url, location)
            picture = self.session.get(target, stream=True, timeout=(CONNECT_TIMEOUT, READ_TIMEOUT))
            picture.raise_for_status()
            yield from picture.iter_content(CHUNK_BYTES)
        except requests.RequestException as error:
            raise ServiceError(f"could not download {output_url}: {type(error).__name__}") from error
