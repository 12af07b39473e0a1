# The two commands the README promises. Both create .venv and install what they need.
PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin

.PHONY: install system run test lint bench fuzz

$(BIN)/slawatch: pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $@

install: $(BIN)/slawatch

# Prism + Twilio's spec (npm), Chromium, docker-compose, promtool and PostgreSQL (Debian): what
# the tests use.
system:
	bash .ci/install-system

run: install
	bash .ci/install-standins  # Prism + Twilio's OpenAPI spec for the Twilio stand-in (npm)
	$(BIN)/slawatch dev

lint: install
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .
	$(BIN)/mypy .

# The whole run is bounded too: a hang outside any test's own timeout (collection, a session
# fixture) ends with SIGTERM, every stack dumped by faulthandler (tests/conftest.py), well before
# CI's limit. Hypothesis runs its fixed examples (profile "ci" under CI=true, "dev" otherwise).
TEST_TIMEOUT ?= 30m
test: lint system
	timeout --kill-after=30s $(TEST_TIMEOUT) $(BIN)/pytest -q

# Random exploration on purpose: new examples every run, ten times as many; SEED=n replays one.
# Failing examples are printed ready to paste as @example(...) above the test (tests/profiles.py).
FUZZ_TESTS := tests/test_clock_properties.py tests/test_fuzz_policies.py tests/test_fuzz_api.py
fuzz: install system
	HYPOTHESIS_PROFILE=fuzz $(BIN)/pytest -q --timeout 1800 $(if $(SEED),--hypothesis-seed=$(SEED)) $(FUZZ_TESTS)

# Each takes ARGS (`--help` lists them); tests/test_benchmarks_smoke.py runs each at its smallest.
bench: install
	$(BIN)/python -m benchmarks.clock $(ARGS)

# Dev server + worker + stand-ins benchmarks (docs/benchmarks.md); add ARGS="--tickets 10000".
bench-lag: install
	bash .ci/install-standins
	$(BIN)/python -m benchmarks.lag $(ARGS)

bench-intake: install
	$(BIN)/python -m benchmarks.intake $(ARGS)

bench-footprint: install
	bash .ci/install-standins
	$(BIN)/python -m benchmarks.footprint $(ARGS)
