# asa: two commands do everything.
#   make run    set up .venv, apply migrations, start the bot
#   make test   set up .venv with dev tools, lint, type-check, test on SQLite and PostgreSQL
#   make test-latency   the suite 3x on both databases with 40 ms added to each database call
#               (Debian's chromium is installed for the browser tests when missing)

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cksum pyproject.toml | cut -d' ' -f1)

.PHONY: run test test-latency lint typecheck test-sqlite test-postgresql postgres chromium bench migrate check-config clean

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "asa needs Python 3.11 or newer: set PYTHON=python3.11")'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	rm -f $(VENV)/.installed-*
	touch $@

run: $(STAMP)
	$(BIN)/python -m bot migrate
	$(BIN)/python -m bot run

migrate: $(STAMP)
	$(BIN)/python -m bot migrate

check-config: $(STAMP)
	$(BIN)/python -m bot check-config

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

chromium:
	scripts/ensure-chromium

test-sqlite: $(STAMP) chromium
	ASA_TEST_DB=sqlite $(BIN)/python -m pytest -q -p no:cacheprovider

postgres:
	scripts/ensure-postgres

test-postgresql: $(STAMP) postgres chromium
	ASA_TEST_DB=postgresql $(BIN)/python -m pytest -q -p no:cacheprovider

test: lint typecheck test-sqlite test-postgresql

# The whole suite three times in a row on both databases, 40 ms added to every database call
# (scripts/test-latency; ROUNDS, LATENCY_MS, WORKERS and DATABASES override).
test-latency: $(STAMP) postgres chromium
	scripts/test-latency

bench: $(STAMP) postgres
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
