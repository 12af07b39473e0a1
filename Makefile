# The two commands the README promises. Both create .venv and install what they need.
# PY picks the interpreter (3.11, the default, 3.12 or 3.13: pyproject's requires-python);
# .ci/find-python finds it on PATH or among pyenv's versions. Another PY gets its own venv,
# e.g. `make test-smoke PY=python3.13` builds .venv-python3.13 and leaves .venv alone.
PY ?= python3.11
VENV ?= $(if $(filter python3.11,$(PY)),.venv,.venv-$(notdir $(PY)))
BIN := $(VENV)/bin

.PHONY: install system run test test-smoke lint bench fuzz

$(BIN)/slawatch: pyproject.toml
	python=$$(bash .ci/find-python $(PY)) && $$python -m venv $(VENV)
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
# Two pytest processes (pytest-xdist), a test file each at a time, so a file's fixtures start
# once: many tests wait on servers and timers rather than use a whole core. A test over its
# timeout ends its process (stacks dumped, the test named) and is not retried: the other process
# finishes its file and the run fails. TEST_WORKERS=0 runs the suite in one process.
TEST_TIMEOUT ?= 30m
TEST_WORKERS ?= 2
test: lint system
	timeout --kill-after=30s $(TEST_TIMEOUT) $(BIN)/pytest -q -n $(TEST_WORKERS) --dist loadfile \
		--max-worker-restart 0

# A quick check on another Python (CI: PY=python3.13 after `make test` on 3.11): the pure tests
# (clock, policies, settings, messages, vendor errors) and one scenario on a time-skipping
# Temporal server, about a minute. The full suite stays on 3.11.
SMOKE_TESTS := tests/test_clock.py tests/test_policy_schema.py tests/test_notify_messages.py \
	tests/test_vendor_errors.py tests/test_settings_logging.py tests/test_cli_output.py \
	tests/test_replay.py \
	tests/test_ticket_events.py::test_pause_and_resume_shift_resolution_by_paused_business_time
test-smoke: install
	timeout --kill-after=30s 5m $(BIN)/pytest -q -p no:cacheprovider $(SMOKE_TESTS)

# Random exploration on purpose: new examples every run, ten times as many; SEED=n replays one.
# Failing examples are printed ready to paste as @example(...) above the test (tests/profiles.py).
FUZZ_TESTS := tests/test_clock_properties.py tests/test_fuzz_policies.py tests/test_fuzz_api.py \
	tests/test_oncall_properties.py tests/test_oncall_fuzz.py
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
