"""The fake server's own contract: error shapes and routing as the real services answer."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx2

from testing.fakes.openai_server import FakeOpenAI

ROOT = Path(__file__).resolve().parents[4]


def test_openai_auth_errors_have_openais_shape(fake_openai: FakeOpenAI) -> None:
    missing = httpx2.post(f"{fake_openai.base_url}/chat/completions", json={"model": "gpt-4o-mini"})
    assert missing.status_code == 401
    assert set(missing.json()["error"]) == {"message", "type", "param", "code"}
    wrong = httpx2.post(
        f"{fake_openai.base_url}/chat/completions",
        json={"model": "gpt-4o-mini", "messages": []},
        headers={"Authorization": "Bearer sk-nope-12345678"},
    )
    assert wrong.json()["error"]["code"] == "invalid_api_key"


def test_azure_needs_an_api_version_and_a_known_deployment(fake_openai: FakeOpenAI) -> None:
    url = f"{fake_openai.azure_endpoint}/openai/deployments/gpt-image-1/images/generations"
    headers = {"api-key": fake_openai.azure_api_key}
    no_version = httpx2.post(url, json={"prompt": "p"}, headers=headers)
    unknown = httpx2.post(
        url.replace("gpt-image-1", "nope"), params={"api-version": "v"}, json={}, headers=headers
    )
    assert (no_version.status_code, no_version.json()["error"]["code"]) == (404, "404")
    assert (unknown.status_code, unknown.json()["error"]["code"]) == (404, "DeploymentNotFound")


def test_faults_are_consumed_in_order(fake_openai: FakeOpenAI) -> None:
    fake_openai.fail_next(500, times=2)
    url = f"{fake_openai.base_url}/chat/completions"
    body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}
    headers = {"Authorization": f"Bearer {fake_openai.api_key}"}
    statuses = [httpx2.post(url, json=body, headers=headers).status_code for _ in range(3)]
    assert statuses == [500, 500, 200]


def test_a_fault_window_spoils_every_call_until_it_closes(fake_openai: FakeOpenAI) -> None:
    url = f"{fake_openai.base_url}/chat/completions"
    body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}
    headers = {"Authorization": f"Bearer {fake_openai.api_key}"}
    fake_openai.windows.open("429", seconds=60, retry_after=7)
    limited = [httpx2.post(url, json=body, headers=headers) for _ in range(3)]
    assert [answer.status_code for answer in limited] == [429, 429, 429]
    assert limited[0].headers["retry-after"] == "7"
    assert limited[0].json()["error"]["code"] == "rate_limit_exceeded"
    fake_openai.windows.open("timeout", seconds=60, hang=0.2)
    assert httpx2.post(url, json=body, headers=headers, timeout=5).status_code == 504
    fake_openai.windows.open("500", seconds=0.3)
    assert httpx2.post(url, json=body, headers=headers).status_code == 500
    time.sleep(0.4)
    assert httpx2.post(url, json=body, headers=headers).status_code == 200
    assert fake_openai.windows.spoiled == {"429": 3, "timeout": 1, "500": 1}


def test_runs_standalone_for_manual_use() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = subprocess.Popen(
        [sys.executable, "-m", "testing.fakes.openai_server", "--port", str(port)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        assert process.stdout.readline().strip() == f"OPENAI_BASE_URL=http://127.0.0.1:{port}/v1"
        answer = httpx2.post(
            f"http://127.0.0.1:{port}/v1/chat/completions",
            json={"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "ping"}]},
            headers={"Authorization": "Bearer sk-test-dummy"},
        )
        assert answer.json()["choices"][0]["message"]["content"] == "Fake answer to: ping"
    finally:
        process.kill()
        process.wait(5)
