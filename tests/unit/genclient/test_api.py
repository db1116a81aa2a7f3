"""What genctl sends: the key and token to the service, nothing of them to the picture's storage."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from genclient.api import GenerationClient
from genclient.cli import main


class Recorder(BaseHTTPRequestHandler):
    """A stand-in service on loopback: a list page, an output that redirects to a 'blob' path."""

    seen: list[tuple[str, dict[str, str]]] = []

    def do_GET(self) -> None:
        Recorder.seen.append((self.path, {name.lower(): value for name, value in self.headers.items()}))
        if self.path.split("?")[0] == "/api/generations":
            self._send(200, json.dumps({"items": [], "next_cursor": None}).encode(), "application/json")
        elif self.path == "/api/generations/j1/outputs/0":
            self.send_response(303)
            self.send_header("Location", "/blob/j1/0.png?sig=abc")
            self.end_headers()
        elif self.path.startswith("/blob/"):
            self._send(200, b"\x89PNG picture", "image/png")
        else:
            self._send(404, b"{}", "application/problem+json")

    def _send(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def service() -> Iterator[str]:
    Recorder.seen = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_key_and_token_go_to_the_service(service: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["list", "--base-url", service, "--key", "k1", "--token", "t1"]) == 0
    assert capsys.readouterr().err == ""
    ((path, headers),) = Recorder.seen
    assert path == "/api/generations"
    assert headers["x-functions-key"] == "k1"
    assert headers["authorization"] == "Bearer t1"


def test_token_from_the_environment(service: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GENERATION_API_TOKEN", "t2")
    assert main(["list", "--base-url", service]) == 0
    assert Recorder.seen[0][1]["authorization"] == "Bearer t2"
    assert "x-functions-key" not in Recorder.seen[0][1]


def test_pictures_come_through_the_303_without_key_or_token(service: str) -> None:
    client = GenerationClient(service, key="k1", token="t1")
    picture = b"".join(client.download(f"{service}/api/generations/j1/outputs/0"))
    assert picture == b"\x89PNG picture"
    (_, to_service), (blob_path, to_storage) = Recorder.seen
    assert to_service["x-functions-key"] == "k1"
    assert blob_path == "/blob/j1/0.png?sig=abc"
    assert "x-functions-key" not in to_storage and "authorization" not in to_storage
