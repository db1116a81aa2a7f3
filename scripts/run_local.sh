#!/usr/bin/env bash
# Serve the app on devhost (Azurite started or reused; the Service Bus emulator runs inside devhost when
# local.settings.json names it, as the sample does), then print commands to try it.
set -euo pipefail
cd "$(dirname "$0")/.."
PORT="${PORT:-7071}"
PY=.venv/bin/python
# The app's spans and metrics (JSON lines); the environment wins over local.settings.json.
export TELEMETRY_EXPORTER="${TELEMETRY_EXPORTER:-file:.telemetry/telemetry.jsonl}"
mkdir -p .telemetry

"$PY" -m devhost --port "$PORT" --azurite &
host_pid=$!
trap 'kill -TERM "$host_pid" 2>/dev/null || true; wait "$host_pid" 2>/dev/null || true' INT TERM
trap 'kill -TERM "$host_pid" 2>/dev/null || true' EXIT

"$PY" - "$PORT" <<'PYEOF'
import sys, time, urllib.request
url = f"http://127.0.0.1:{sys.argv[1]}/admin/host/status"
for _ in range(240):
    try:
        urllib.request.urlopen(url, timeout=1).read()
        break
    except OSError:
        time.sleep(0.25)
else:
    sys.exit("devhost did not become ready; see the log above")
PYEOF

base="http://localhost:${PORT}"
cat <<HINT

  The app is running on ${base} (offline provider: Pillow-drawn images, no network;
  job queue: the JOBS_QUEUE_KIND of local.settings.json, Service Bus in the sample).
  Try it in another terminal:

    # 1. ask for two images; the answer is 202 with the status URL in Location
    curl -si -X POST ${base}/api/generations -H 'Content-Type: application/json' \\
         -d '{"prompt": "a lighthouse at dawn, watercolour", "n": 2}'

    # 2. follow the status URL (waits up to 30 s for the job to finish)
    curl -s "${base}/api/generations/<id>?wait=30"

    # 3. save the first image (303 to a short-lived read-only blob URL)
    curl -sL -o image.png ${base}/api/generations/<id>/outputs/0

    # or all in one go (submits, waits with a progress bar, saves the images):
    .venv/bin/genctl --base-url ${base} submit "a lighthouse at dawn" --n 2 -o .

    # or open the web page: ${base}/api/ui

  Traces and metrics: ${TELEMETRY_EXPORTER} (one JSON object a line; see docs/operate.md).
  Ctrl+C stops the app (Azurite keeps its data in .azurite/, the Service Bus emulator in .servicebus/).

HINT
wait "$host_pid"
