# Impressox: `make up` runs everything locally, `make test` runs the whole suite.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
CONTRACTS_STAMP := contracts/node_modules/.installed

.PHONY: up test lint format bench install contracts stack-up stack-down clean

$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "error: $(PYTHON) not found: install Python 3.11" >&2; exit 1; }
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@echo "installing the Python dependencies into $(VENV) (the first time takes a few minutes)"
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --progress-bar on -e '.[dev,rag]'
	@touch $(STAMP)

## the contracts' pinned npm packages (solc, OpenZeppelin, upgrades-core, anvil), again only
## when contracts/package-lock.json changed; without npm the chain is skipped, not an error
$(CONTRACTS_STAMP): contracts/package-lock.json
	@if command -v npm >/dev/null; then \
		echo "installing the contracts' npm packages into contracts/node_modules"; \
		npm ci --prefix contracts --ignore-scripts --no-audit --no-fund && touch $@; \
	else \
		echo "note: npm not found: the contracts and the local chain (anvil) are skipped (install Node.js 18+)"; \
	fi

contracts: $(CONTRACTS_STAMP)

install: $(STAMP) $(CONTRACTS_STAMP)

## the main job: local stack (Kafka, FerretDB, Redis) and every service, in the foreground;
## prints a "ready" line with the gateway and API docs addresses once everything answers
up: install
	$(BIN)/ixo up

## the whole suite: lint, types, import layers, unit and integration tests on real services
test: install lint
	$(BIN)/pytest

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

## every benchmark; each also runs alone: python -m benchmarks.<name>
bench: install
	$(BIN)/python -m benchmarks

stack-up: install
	$(BIN)/ixo stack up

stack-down: install
	$(BIN)/ixo stack down

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
