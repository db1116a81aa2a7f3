"""Submit one job to a running app, follow its status URL, and save the images it made.

    .venv/bin/python scripts/try_it.py --base http://localhost:7071 --prompt "a lighthouse at dawn"
"""

from __future__ import annotations

import argparse
import json
import sys
import urllib.error
import urllib.request
from pathlib import Path

TERMINAL = {"succeeded", "failed", "canceled"}


def _call(method: str, url: str, body: dict[str, object] | None = None) -> tuple[int, dict[str, str], bytes]:
    data = json.dumps(body).encode() if body is not None else None
    headers = {"Content-Type": "application/json"}
    request = urllib.request.Request(url, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", default="http://localhost:7071")
    parser.add_argument("--prompt", default="a lighthouse at dawn, watercolour")
    parser.add_argument("--n", type=int, default=1)
    parser.add_argument("--out", type=Path, default=Path("."))
    args = parser.parse_args()

    request = {"prompt": args.prompt, "n": args.n}
    status, headers, body = _call("POST", f"{args.base}/api/generations", request)
    print(f"POST /api/generations -> {status}")
    if status != 202:
        print(body.decode(errors="replace"))
        return 1
    status_url = headers["Location"]
    job = json.loads(body)
    while job["status"] not in TERMINAL:
        print(f"  {job['status']}: {job['progress']['completed']}/{job['progress']['total']} outputs")
        _, _, body = _call("GET", f"{status_url}?wait=10")
        job = json.loads(body)
    print(f"job {job['id']} {job['status']}")
    if job["error"]:
        print(f"  error: {job['error']['code']}: {job['error']['message']}")
    for output in job["outputs"]:
        if "text" in output:
            print(output["text"])
        elif "url" in output:
            code, _, image = _call("GET", output["url"])
            path = args.out / f"{job['id']}-{output['index']}.png"
            path.write_bytes(image)
            print(f"  output {output['index']}: saved {path} ({len(image)} bytes, HTTP {code})")
    return 0 if job["status"] == "succeeded" else 1


if __name__ == "__main__":
    sys.exit(main())
