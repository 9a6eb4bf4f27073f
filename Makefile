# Oblivion developer commands. `make test` is what CI runs (through .ci/run).
VENV ?= .venv
PY := $(VENV)/bin/python
BIN := $(VENV)/bin
PYTEST_ARGS ?=

.PHONY: help install test lint typecheck imports pytest bench clean

help: ## list the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

$(BIN)/oblivion: pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $@

install: $(BIN)/oblivion ## create .venv and install oblivion with the dev extra

test: install lint typecheck imports pytest ## lint, types, import layers, then the whole test suite

lint: install ## ruff
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: install ## mypy --strict on the four packages
	$(BIN)/mypy

imports: install ## import-linter layer contracts
	$(BIN)/lint-imports

pytest: install ## the test suite (real PostgreSQL and Redis must be running)
	$(BIN)/pytest $(PYTEST_ARGS)

bench: install ## run every benchmark under bench/
	@for b in bench/*.py; do echo "== $$b"; $(PY) $$b || exit 1; done

clean: ## remove caches
	rm -rf .mypy_cache .ruff_cache .pytest_cache .cache

include mk/kind.mk
