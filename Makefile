# Oblivion developer commands. `make test` is what CI runs (through .ci/run).
VENV ?= .venv
PY := $(VENV)/bin/python
BIN := $(VENV)/bin
PYTEST_ARGS ?=

# The locks under requirements/ pin every package with its hashes; installs never resolve anew.
# One lock per extra of pyproject.toml (an extra added later gets its own), plus build.txt for images.
LOCK_PROFILES := $(shell python3 -c 'import tomllib; print(*tomllib.load(open("pyproject.toml", "rb"))["project"]["optional-dependencies"])')
UV_COMPILE = $(BIN)/uv pip compile --quiet --generate-hashes --universal --python-version 3.11 \
	--custom-compile-command "make lock" $(if $(UPGRADE),--upgrade)

.PHONY: help install lock audit sbom docs-config docs docs-serve test lint typecheck imports pytest mcp-adapters-env bench clean

help: ## list the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

$(BIN)/oblivion: pyproject.toml requirements/dev.txt
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check --require-hashes --no-deps -r requirements/dev.txt
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	touch $@

install: $(BIN)/oblivion ## create .venv from requirements/dev.txt (hash-checked), oblivion editable on top

lock: install ## regenerate requirements/*.txt from pyproject.toml (UPGRADE=1: newest versions too)
	@for profile in $(LOCK_PROFILES); do \
	  echo "requirements/$$profile.txt"; \
	  $(UV_COMPILE) pyproject.toml --extra $$profile -o requirements/$$profile.txt || exit 1; \
	done
	@echo "requirements/build.txt"
	@$(PY) -c 'import tomllib; print("\n".join(tomllib.load(open("pyproject.toml", "rb"))["build-system"]["requires"]))' \
	  | $(UV_COMPILE) - -o requirements/build.txt

audit: install ## pip-audit every lock (one line and no failure when the service is unreachable)
	$(PY) scripts/audit_locks.py $(foreach p,$(LOCK_PROFILES) build,requirements/$(p).txt)

# The locks the images install (the agent image installs the agent-langgraph extra's).
SBOM_IMAGES ?= nexus operator agent-langgraph
SBOM_DIR ?= build/sbom
sbom: install ## a CycloneDX SBOM of each image's lock (nexus, operator, agent-langgraph) in build/sbom/
	@mkdir -p $(SBOM_DIR)
	@for image in $(SBOM_IMAGES); do \
	  $(BIN)/cyclonedx-py requirements --of JSON -o $(SBOM_DIR)/$$image.cdx.json requirements/$$image.txt || exit 1; \
	  echo "$(SBOM_DIR)/$$image.cdx.json"; \
	done

docs-config: install ## regenerate docs/configuration.md from the settings' field descriptions
	$(PY) scripts/config_reference.py

docs: install ## build the documentation site strictly (a broken link or anchor fails) into build/site
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --site-dir build/site

docs-serve: install ## preview the documentation site on http://127.0.0.1:8000, rebuilt on every save
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs serve --dev-addr 127.0.0.1:8000

test: install lint typecheck imports audit pytest ## lint, types, import layers, audit, then the whole test suite

lint: install ## ruff
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: install ## mypy --strict on the four packages
	$(BIN)/mypy

imports: install ## import-linter layer contracts
	$(BIN)/lint-imports

pytest: install apiserver mcp-adapters-env ## the test suite (real PostgreSQL and Redis must be running)
	$(BIN)/pytest $(PYTEST_ARGS)

# The MCP adapter test's own virtualenv (tests/integration/tools/test_mcp_adapters.py): the
# mcp-adapters lock alone, hash-checked, since langchain-mcp-adapters needs the mcp SDK 1.x and Nexus
# runs 2.x. Rebuilt when the lock changes; the stamp is written last, so a broken build is redone.
MCP_ADAPTERS_ENV := .cache/mcp-adapters
$(MCP_ADAPTERS_ENV)/installed: requirements/mcp-adapters.txt
	rm -rf $(MCP_ADAPTERS_ENV)
	python3 -m venv $(MCP_ADAPTERS_ENV)
	$(MCP_ADAPTERS_ENV)/bin/python -m pip install --quiet --disable-pip-version-check --require-hashes --no-deps -r $<
	touch $@

mcp-adapters-env: $(MCP_ADAPTERS_ENV)/installed ## the MCP adapter test's virtualenv (mcp SDK 1.x) in .cache/

bench: install ## run every benchmark under bench/
	@for b in bench/*.py; do echo "== $$b"; $(PY) $$b || exit 1; done

clean: ## remove caches
	rm -rf .mypy_cache .ruff_cache .pytest_cache .cache

include mk/kind.mk
include mk/controlplane.mk
