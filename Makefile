# Impressox: `make up` runs everything locally, `make test` runs the whole suite.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
CONTRACTS_STAMP := contracts/node_modules/.installed
WEB_MODULES := web/node_modules/.installed
WEB_STAMP := web/dist/.built
WEB_SOURCES := $(shell find web/src web/public -type f 2>/dev/null) web/index.html web/vite.config.ts web/tsconfig.json web/package.json web/package-lock.json
CHROMIUM := /usr/bin/chromium
# Playwright drives Debian's chromium (/usr/bin/chromium): never a browser download of its own
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD := 1

.PHONY: up test lint format bench install contracts web browser stack-up stack-down clean

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

## the web app (web/, React + Vite): npm ci and a production build into web/dist, again only
## when its sources or lock changed; the gateway serves web/dist at /
$(WEB_MODULES): web/package-lock.json
	@command -v npm >/dev/null || { echo "error: npm not found: the web app needs Node.js 20+ and npm" >&2; exit 1; }
	npm ci --prefix web --no-audit --no-fund
	@touch $@

$(WEB_STAMP): $(WEB_MODULES) $(WEB_SOURCES)
	@echo "building the web app into web/dist"
	npm run --prefix web build
	@touch $@

web: $(WEB_STAMP)

## Debian's chromium for the browser tests (Playwright drives it; no browser download)
browser:
	@if [ -x $(CHROMIUM) ]; then exit 0; fi; \
	if ! command -v apt-get >/dev/null; then \
		echo "error: $(CHROMIUM) is missing and apt-get is not available: install Chromium and link it at $(CHROMIUM)" >&2; exit 1; \
	fi; \
	SUDO=; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
	echo "installing Debian's chromium for the browser tests"; \
	$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium

install: $(STAMP) $(CONTRACTS_STAMP)

## the main job: local stack (Kafka, FerretDB, Redis) and every service, in the foreground;
## prints a "ready" line with the gateway and API docs addresses once everything answers
up: install web
	$(BIN)/ixo up

## the whole suite: lint, types, import layers, unit and integration tests on real services;
## TEST_WORKERS=2 runs it in two pytest-xdist processes (each with its own stack, a test file
## per worker at once; faster, see decision 0178); the default is one process
TEST_WORKERS ?= 0
test: install lint web browser
	$(BIN)/pytest -n $(TEST_WORKERS) --dist loadfile --durations=25

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
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache web/node_modules web/dist
