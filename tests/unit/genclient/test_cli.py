"""The command line's parsing and its usage errors (exit 2, one line, nothing sent)."""

from __future__ import annotations

import pytest

from genclient.api import api_root
from genclient.cli import build_parser, main
from genclient.show import job_lines, list_lines


@pytest.mark.parametrize("given", [
    "http://h:7071", "http://h:7071/", "http://h:7071/api", "http://h:7071/api/", " http://h:7071 "])
def test_base_url_with_or_without_api(given: str) -> None:
    assert api_root(given) == "http://h:7071"


def test_options_go_before_or_after_the_command() -> None:
    parser = build_parser()
    before = parser.parse_args(["--json", "--key", "k", "status", "abc"])
    after = parser.parse_args(["status", "abc", "--json", "--key", "k"])
    for args in (before, after):
        assert (args.json, args.key, args.id) == (True, "k", "abc")


@pytest.mark.parametrize("argv", [
    ["submit", "p", "--n", "0"], ["submit", "p", "--n", "2.0"], ["submit", "p", "--size", "10x10"],
    ["list", "--status", "done"], ["get"], [], ["--base-url", "localhost:7071", "list"],
])
def test_usage_errors_exit_2_with_one_line(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.count("\n") == 1 and captured.err.startswith("genctl: usage error: ")


def test_base_url_from_the_environment(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("GENERATION_API_URL", "ftp://nowhere")
    assert main(["list"]) == 2
    assert "ftp://nowhere" in capsys.readouterr().err


def test_human_lines() -> None:
    job = {
        "id": "j1", "status": "failed", "kind": "image", "n": 2, "size": "1024x1024", "prompt": "p",
        "user": "u", "created_at": "2026-01-01T00:00:00.000Z", "progress": {"completed": 1, "total": 2},
        "error": {"code": "content_rejected", "message": "no"},
        "outputs": [{"index": 0, "url": "http://h/o/0", "width": 1024, "height": 1024},
                    {"index": 1, "error": {"code": "content_rejected", "message": "no"}}],
    }
    assert job_lines(job) == [
        "id        j1", "status    failed", "kind      image, 2 x 1024x1024", "prompt    p",
        "progress  1/2", "created   2026-01-01T00:00:00.000Z", "user      u",
        "error     content_rejected: no", "output 0  http://h/o/0 (1024x1024)", "output 1  failed: no",
    ]
    long_prompt = {**job, "prompt": "word " * 40}
    (line,) = list_lines({"items": [long_prompt]})
    assert line.startswith("j1  failed     image  2026-01-01T00:00:00.000Z  word word")
    assert line.endswith("…") and len(line.split("  ")[-1]) == 48
