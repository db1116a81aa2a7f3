# One-command setup: `make run` serves the app locally, `make test` runs the whole suite.
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
PORT ?= 7071
CHROMIUM := /usr/bin/chromium
# The browser tests drive Debian's Chromium; Playwright must never fetch a browser of its own.
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD := 1

.PHONY: setup run test lint bench azurite clean

$(VENV)/.installed: requirements.txt requirements-dev.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	$(PY) -m pip install --quiet --no-deps --editable .  # the `genctl` command
	touch $@

# checkov (the Bicep scan in `make lint`) lives in a venv of its own: it brings a hundred packages of its
# own that neither the app nor its tests need, with version pins of their own.
.venv-checkov/.installed: requirements-checkov.txt
	test -x .venv-checkov/bin/python || $(PYTHON) -m venv .venv-checkov || python3 -m venv .venv-checkov
	.venv-checkov/bin/python -m pip install --quiet -r requirements-checkov.txt
	touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

# Only where it is missing: the web page's tests run in it.
$(CHROMIUM):
	apt-get update
	DEBIAN_FRONTEND=noninteractive apt-get install -y chromium

local.settings.json:
	cp local.settings.json.sample local.settings.json

setup: $(VENV)/.installed node_modules/.installed local.settings.json

run: setup
	PORT=$(PORT) scripts/run_local.sh

test: $(VENV)/.installed node_modules/.installed $(CHROMIUM)
	$(PY) -m pytest

lint: $(VENV)/.installed .venv-checkov/.installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports
	.venv-checkov/bin/checkov --config-file .checkov.yaml

bench: setup
	$(PY) bench/accept.py
	$(PY) bench/pipeline.py
	$(PY) bench/orchestration.py
	$(PY) bench/line_webhook.py
	$(PY) bench/goodput.py
	$(PY) bench/index_cost.py
	$(PY) bench/request_path.py

azurite: node_modules/.installed
	$(PY) -m devhost.azurite --location .azurite

clean:
	rm -rf .azurite .servicebus .pytest_cache .mypy_cache .ruff_cache .venv-checkov
