# The two commands the README promises. Both create .venv and install what they need.
PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin

.PHONY: install system run test lint bench

$(BIN)/slawatch: pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $@

install: $(BIN)/slawatch

# Prism + Twilio's spec (npm), Chromium and docker-compose (Debian): what the tests start.
system:
	bash .ci/install-system

run: install
	bash .ci/install-standins  # Prism + Twilio's OpenAPI spec for the Twilio stand-in (npm)
	$(BIN)/slawatch dev

lint: install
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .
	$(BIN)/mypy .

test: lint system
	$(BIN)/pytest -q

bench: install
	$(BIN)/python benchmarks/clock.py

# Dev server + worker + stand-ins benchmarks (docs/benchmarks.md); add ARGS="--tickets 10000".
bench-lag: install
	bash .ci/install-standins
	$(BIN)/python -m benchmarks.lag $(ARGS)

bench-intake: install
	$(BIN)/python -m benchmarks.intake $(ARGS)

bench-footprint: install
	bash .ci/install-standins
	$(BIN)/python -m benchmarks.footprint $(ARGS)
