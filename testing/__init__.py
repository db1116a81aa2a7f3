"""Shared test support, used by tests/ and bench/ alike (never by the app).

- `factories`, `factories_line`: jobs, requests, and LINE webhook events and payloads.
- `fakes/`: fake OpenAI and LINE servers (real HTTP, behind the real SDKs).
- `http`: `call`, the one HTTP client for talking to devhost (no proxy, redirects returned).
- `devhost`: `DevhostProcess`, the app on devhost as a subprocess, and `free_port`.
- `product_app`: settings for one isolated run of the product app.
- `durable_engine`: the devhost Durable engine in-process, for orchestrator tests.
- `fixtures`: the pytest fixtures (Azurite, unique names, the product app), loaded with `-p testing.fixtures`.
- `text`: text measures tests check limits with.
- `operator`: run a timer function on devhost (admin API) and read its summary lines.
- `leftovers`: what a storage account still holds about given jobs (rows, index, blobs, history).
- `chaos`, `chaos_audit`: the chaos world and its faults (tests/chaos, bench/soak.py), and the audit.
"""
