# The two set-up commands: `make demo` and `make test`. Both create .venv and install confab into it from
# requirements.lock, every dependency at the version the suite last passed with (`make lock` refreshes it).
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
LOCK := requirements.lock
PIP := pip==26.3
# one worker per core (pytest-xdist); a test file's tests share a worker, and with it the file's fixtures
PYTEST := python -m pytest -q -ra -n auto --dist loadfile

.PHONY: demo test lint install lock test-ranges test-seeds clean

$(STAMP): pyproject.toml $(LOCK)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet '$(PIP)'
	$(BIN)/python -m pip install --quiet --constraint $(LOCK) -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/confab demo

test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/$(PYTEST)

lint: $(STAMP)
	$(BIN)/ruff check .

# Re-resolve every dependency from pyproject.toml's ranges to today's releases and write the lock; then run
# `make test-ranges` (or `make clean test`) before committing it.
lock:
	rm -rf .venv-lock
	$(PYTHON) -m venv .venv-lock
	.venv-lock/bin/python -m pip install --quiet '$(PIP)' 'pip-tools==7.6.2'
	.venv-lock/bin/pip-compile --quiet --upgrade --extra dev --strip-extras --no-emit-index-url \
		--no-emit-find-links --no-emit-trusted-host --unsafe-package confab --output-file $(LOCK) pyproject.toml
	rm -rf .venv-lock

# What someone who pip-installs confab into their own environment gets: the ranges alone, today's releases,
# then the whole suite. Run it before refreshing the lock and when a dependency has a new release.
test-ranges:
	rm -rf .venv-ranges
	$(PYTHON) -m venv .venv-ranges
	.venv-ranges/bin/python -m pip install --quiet --upgrade pip
	.venv-ranges/bin/python -m pip install --quiet -e '.[dev]'
	@echo "versions that differ from $(LOCK) (<: locked, >: installed from the ranges):"
	@grep -E '^[A-Za-z0-9]' $(LOCK) | tr A-Z_ a-z- | sort > .venv-ranges/locked.txt
	@.venv-ranges/bin/python -m pip freeze --all --exclude-editable | grep -v "^pip==" | tr A-Z_ a-z- | sort > .venv-ranges/installed.txt
	@diff .venv-ranges/locked.txt .venv-ranges/installed.txt | grep '^[<>]' || echo "  none"
	.venv-ranges/bin/ruff check .
	.venv-ranges/bin/$(PYTEST)

# The tests that train (marker `trains`) with three more seeds: a threshold must hold whatever the seed.
test-seeds: $(STAMP)
	for seed in 1 2 3; do CONFAB_TEST_SEED=$$seed $(BIN)/$(PYTEST) -m trains || exit 1; done

clean:
	rm -rf $(VENV) .venv-lock .venv-ranges build
