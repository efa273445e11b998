# krakenpy — the single entry point for humans and CI.
#   make run    install, start the demo backend and serve sample-configs/ (CONFIG=..., HOST=..., PORT=...,
#               BACKEND_PORT=...; the gateway listens on 127.0.0.1 unless HOST says otherwise)
#   make test   install everything (incl. the Lambda emulator venv) and run every test
#   make check  lint + types + tests
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
MINISTACK_VENV := .venv-ministack
CONFIG ?= sample-configs/krakend.json
PORT ?= 8080
HOST ?= 127.0.0.1
BACKEND_PORT ?= 8000

.PHONY: install install-emulator install-redis run test lint typecheck fmt check bench clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --disable-pip-version-check --upgrade pip
	$(BIN)/pip install -q --disable-pip-version-check -e '.[dev]'
	touch $@

# The Lambda emulator needs its own venv: its botocore pin conflicts with aiobotocore's.
install-emulator: $(MINISTACK_VENV)/.installed

$(MINISTACK_VENV)/.installed:
	$(PYTHON) -m venv $(MINISTACK_VENV)
	$(MINISTACK_VENV)/bin/pip install -q --disable-pip-version-check ministack==1.5.33
	touch $@

# The cluster-wide rate limit tests start their own redis-server (Debian package; CI runs as root).
install-redis:
	@command -v redis-server >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq redis-server; }

run: install
	$(BIN)/python sample-configs/run_demo.py --config $(CONFIG) --host $(HOST) --port $(PORT) --backend-port $(BACKEND_PORT)

test: install install-emulator install-redis
	MINISTACK_BIN=$(CURDIR)/$(MINISTACK_VENV)/bin/ministack $(BIN)/pytest
	# the conformance cases again on the ClientSession client (KRAKENPY_HTTP_CLIENT=aiohttp)
	KRAKENPY_HTTP_CLIENT=aiohttp $(BIN)/pytest -q tests/specs tests/proxy tests/server

lint: install
	$(BIN)/ruff check krakenpy tests bench sample-configs
	$(BIN)/ruff format --check krakenpy tests bench sample-configs

typecheck: install
	$(BIN)/mypy

fmt: install
	$(BIN)/ruff format krakenpy tests bench sample-configs
	$(BIN)/ruff check --fix krakenpy tests bench sample-configs

check: lint typecheck test

bench: install install-emulator
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) $(MINISTACK_VENV) .mypy_cache .ruff_cache .pytest_cache
