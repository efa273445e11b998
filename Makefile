# krakenpy — the single entry point for humans and CI.
#   make run    install, start the demo backend and serve sample-configs/ (CONFIG=..., HOST=..., PORT=...,
#               BACKEND_PORT=...; the gateway listens on 127.0.0.1 unless HOST says otherwise)
#   make test   install everything (incl. the Lambda emulator venv and the Debian packages the tests run)
#               and run every test; skips are listed at the end (-ra in pyproject's addopts)
#   make check  lint + types + tests
#   make compile         build the hot-path modules with mypyc in place (the .so beside each .py wins
#                        the import until make clean-compiled; krakenpy version names stale ones)
#   make clean-compiled  remove them: back to pure Python (the editable install never compiles)
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
MINISTACK_VENV := .venv-ministack
CONFIG ?= sample-configs/krakend.json
PORT ?= 8080
HOST ?= 127.0.0.1
BACKEND_PORT ?= 8000

.PHONY: install install-emulator install-redis install-test-deps run test test-compiled compile clean-compiled lint \
  typecheck fmt check bench clean

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

# Debian packages the tests run for real, as package:command. A package is installed only when its
# command is missing (one apt-get for all of them), with sudo only when not root.
#   redis-server  the cluster-wide rate limit tests start their own
#   nodejs        the emulator runs the Node.js Lambda functions with `node`
#   chromium      the CORS test drives a headless browser
#   nats-server   the nats:// pub/sub backend tests start their own
#   rabbitmq-server  the async agent and AMQP backend tests start their own broker
#   golang-go     the revoker RPC tests compile a Go net/rpc client (standard library only)
# Not installed, and skipped with the reason listed by -ra: the 60 corpus configs
# (../shared/corpus/krakend-configs or $$KRAKENPY_CORPUS) are not vendored, their licences vary and
# some state none.
TEST_PACKAGES := redis-server:redis-server nodejs:node chromium:chromium nats-server:nats-server \
  rabbitmq-server:rabbitmq-server golang-go:go
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

install-test-deps:
	@missing=; for item in $(TEST_PACKAGES); do \
	  command -v $${item#*:} >/dev/null 2>&1 || missing="$$missing $${item%%:*}"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "apt-get install$$missing"; \
	  $(SUDO) apt-get update -qq && \
	  $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	fi

install-redis: install-test-deps

run: install
	$(BIN)/python sample-configs/run_demo.py --config $(CONFIG) --host $(HOST) --port $(PORT) --backend-port $(BACKEND_PORT)

test: install install-emulator install-test-deps
	MINISTACK_BIN=$(CURDIR)/$(MINISTACK_VENV)/bin/ministack $(BIN)/pytest
	# the conformance cases again on the ClientSession client (KRAKENPY_HTTP_CLIENT=aiohttp)
	KRAKENPY_HTTP_CLIENT=aiohttp $(BIN)/pytest -q tests/specs tests/proxy tests/server
	# and on uvloop, the loop `krakenpy run` serves on (the CLI tests above already do)
	KRAKENPY_TEST_LOOP=uvloop $(BIN)/pytest -q tests/specs tests/proxy tests/server/test_protocol.py tests/server/test_connection.py
	# and the hot subset again on the mypyc-compiled modules (what a wheel built with a compiler runs)
	$(MAKE) test-compiled

# The compiled hot path under the spec, proxy and server tests: built in place, removed afterwards
# (also when a test fails), so that no stale extension outlives the run.
test-compiled: install
	$(MAKE) compile
	$(BIN)/python -c "import krakenpy.compiled as c, sys; s = c.summary(); print(s); sys.exit(s == 'pure Python')"
	status=0; $(BIN)/pytest -q -p no:cacheprovider tests/specs tests/proxy tests/server || status=$$?; \
	  $(MAKE) clean-compiled; exit $$status
	# a wheel built with the compiler (KRAKENPY_COMPILE=1) installs, imports compiled and serves
	KRAKENPY_TEST_COMPILED_WHEEL=1 $(BIN)/pytest -q -p no:cacheprovider tests/test_packaging.py -k compiled

COMPILED_GLOB := -name '*.cpython-*.so' -path './krakenpy/*'

compile: install
	KRAKENPY_COMPILE=1 $(BIN)/python setup.py -q build_ext --inplace --build-temp build/mypyc-temp

clean-compiled:
	find . $(COMPILED_GLOB) -delete
	rm -rf build

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
	rm -rf $(VENV) $(MINISTACK_VENV) .mypy_cache .ruff_cache .pytest_cache build
	find . $(COMPILED_GLOB) -delete
