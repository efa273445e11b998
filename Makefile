# krakenpy — the single entry point for humans and CI.
#   make run    install, start the demo backend and serve sample-configs/ (CONFIG=..., HOST=..., PORT=...,
#               BACKEND_PORT=...; the gateway listens on 127.0.0.1 unless HOST says otherwise)
#   make test   install everything (incl. the Lambda emulator venv and the Debian packages the tests run)
#               and run the hot subset pure, then every test on the compiled hot path (see below);
#               skips are listed at the end (-ra in pyproject's addopts)
#   make check  lint + types + tests
#   make compile         build the hot-path modules with mypyc in place (the .so beside each .py wins
#                        the import until make clean-compiled; krakenpy version names stale ones)
#   make clean-compiled  remove every krakenpy/**/*.so: back to pure Python (the editable install
#                        never compiles)
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
MINISTACK_VENV := .venv-ministack
CONFIG ?= sample-configs/krakend.json
PORT ?= 8080
HOST ?= 127.0.0.1
BACKEND_PORT ?= 8000

.PHONY: install install-emulator install-redis install-test-deps run test compile clean-compiled lint \
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
#   curl          the make run hint tests run the printed curl line as it is
# Not installed, and skipped with the reason listed by -ra: the 60 corpus configs
# (../shared/corpus/krakend-configs or $$KRAKENPY_CORPUS) are not vendored, their licences vary and
# some state none.
TEST_PACKAGES := redis-server:redis-server nodejs:node chromium:chromium nats-server:nats-server \
  rabbitmq-server:rabbitmq-server golang-go:go curl:curl
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

# `make test`: first, on one core, the compiled wheel is built as `pip install .` builds it for users
# where a C compiler is present (from an sdist of a copy of the sources, never an in-place build;
# tests/wheel_build.py; ~4 CPU minutes of mypyc for krakenpy/compiled.py's HOT_MODULES) while, on the other, the hot subset
# runs on the pure-Python build. Then that wheel's extensions are copied into the checkout (the same
# files an in-place `make compile` writes: one compile instead of two) and the whole suite runs on the
# compiled hot path on both cores (pytest-xdist, TEST_WORKERS=2: most tests wait on a subprocess or a
# socket; one core serially took 11 min of a 22-min run), its packaging test installing that wheel into
# a fresh venv; the conformance cases (specs, proxy, the server's protocol and connection tests) again
# on the ClientSession client (KRAKENPY_HTTP_CLIENT=aiohttp) and on uvloop (the loop `krakenpy run`
# serves on; the server's process-level tests, drain, workers and signals, test the server, not the
# backend client, and run twice already). The extensions are removed, and the wheel's build stopped (its own process
# group: pip and the compiler go too), on every exit (a failed test, Ctrl-C) by the shell's trap.
HOT_TESTS := tests/specs tests/proxy tests/server
CONFORMANCE_TESTS := tests/specs tests/proxy tests/server/test_protocol.py tests/server/test_connection.py
TEST_WORKERS ?= 2
PURE_TESTS := $(HOT_TESTS) tests/backends tests/telemetry tests/components/telemetry tests/lua tests/test_compiled.py
SUMMARY := import krakenpy.compiled as c, sys; s = c.summary(); print("hot path:", s); sys.exit
test: install install-emulator install-test-deps
	wheel_dir=$$(mktemp -d); wheel=; \
	trap '[ -z "$$wheel" ] || kill -- -$$wheel 2>/dev/null; rm -rf "$$wheel_dir"; $(CLEAN_COMPILED)' EXIT; \
	trap 'exit 130' INT TERM; set -e; \
	$(CLEAN_COMPILED); \
	setsid $(BIN)/python -m tests.wheel_build build "$$wheel_dir/build" >"$$wheel_dir/log" 2>&1 & wheel=$$!; \
	$(BIN)/python -c '$(SUMMARY)(s != "pure Python")'; \
	$(BIN)/pytest -q -p no:cacheprovider $(PURE_TESTS); \
	echo "== the compiled wheel (built meanwhile) =="; \
	status=0; wait $$wheel || status=$$?; wheel=; cat "$$wheel_dir/log"; [ $$status = 0 ]; \
	built=$$(tail -n 1 "$$wheel_dir/log"); \
	$(BIN)/python -m tests.wheel_build extract "$$built" .; \
	$(BIN)/python -c '$(SUMMARY)(not s.startswith("compiled (") or "stale" in s or "left over" in s)'; \
	KRAKENPY_TEST_COMPILED_WHEEL="$$built" MINISTACK_BIN=$(CURDIR)/$(MINISTACK_VENV)/bin/ministack \
	  $(BIN)/pytest -n $(TEST_WORKERS); \
	KRAKENPY_HTTP_CLIENT=aiohttp $(BIN)/pytest -q $(CONFORMANCE_TESTS); \
	KRAKENPY_TEST_LOOP=uvloop $(BIN)/pytest -q $(CONFORMANCE_TESTS)

# every extension module in the package (the hot modules', the group library and any left over from
# a module since dropped from HOT_MODULES) and the build directory
CLEAN_COMPILED := find krakenpy -name "*.so" -delete; rm -rf build

compile: install
	KRAKENPY_COMPILE=1 $(BIN)/python setup.py -q build_ext --inplace --build-temp build/mypyc-temp

clean-compiled:
	$(CLEAN_COMPILED)

lint: install
	$(BIN)/ruff check krakenpy tests bench sample-configs
	$(BIN)/ruff format --check krakenpy tests bench sample-configs

typecheck: install
	$(BIN)/mypy
	@# and as on the newest Python we support: a branch on sys.version_info is checked on both sides
	$(BIN)/mypy --python-version 3.13

fmt: install
	$(BIN)/ruff format krakenpy tests bench sample-configs
	$(BIN)/ruff check --fix krakenpy tests bench sample-configs

check: lint typecheck test

bench: install install-emulator
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) $(MINISTACK_VENV) .mypy_cache .ruff_cache .pytest_cache build
	find krakenpy -name "*.so" -delete
