# aicloud developer tasks. `make` (or `make help`) lists them.
#
# The database: `make db` uses $DATABASE_URL when it is set, otherwise it runs a
# project-local PostgreSQL cluster (see .ci/pg-local) whose URL it writes to
# .data/database.url, where the server and the tests find it.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help
MAKEFLAGS += --no-print-directory

CARGO ?= cargo
PG_LOCAL := ./.ci/pg-local
AICLOUD := ./target/release/aicloud
VENV := .data/venv
SCHEMATHESIS_VERSION := 4.32.5
SDK_VENV := .data/sdk-venv
SDK_NODE := tests/sdk/node

.PHONY: browser fuzz-tools sdk-tools bench-tools help db db-url db-url-owner db-stop db-clean build run onboard test bench fmt lint check

help: ## Show this list of targets
	@echo "Usage: make <target>"
	@echo
	@grep -hE '^[a-zA-Z0-9_-]+:.*## ' $(MAKEFILE_LIST) \
		| awk 'BEGIN { FS = ":.*## " } { printf "  %-10s %s\n", $$1, $$2 }'

db: ## Ensure a database is running (DATABASE_URL, else a project-local cluster)
	@$(PG_LOCAL) ensure

db-url: ## Print the server role's database URL (starting the local cluster if needed)
	@$(PG_LOCAL) url

db-url-owner: ## Print the owner role's URL (migrations; DATABASE_OWNER_URL, else DATABASE_URL)
	@$(PG_LOCAL) url-owner

db-stop: ## Stop the project-local PostgreSQL cluster
	@$(PG_LOCAL) stop

db-clean: ## Stop and delete the project-local cluster and .data/
	@$(PG_LOCAL) clean

build: ## Build the release binary
	$(CARGO) build --release

# `exec` replaces the recipe shell, so Ctrl-C reaches the server directly and it
# shuts down gracefully (make waits for it before exiting).
run: db build ## Migrate, onboard config/products/*.toml, create the first admin and the demo key, serve
	$(AICLOUD) migrate
	$(MAKE) onboard AICLOUD=$(AICLOUD)
	$(AICLOUD) bootstrap --if-absent --email $${AICLOUD_ADMIN_EMAIL:-admin@example.com}
	@$(AICLOUD) user grant $${AICLOUD_ADMIN_EMAIL:-admin@example.com} token_factory.admin >/dev/null 2>&1 \
	  || echo "Token Factory's operator pages need its admin role: ./target/release/aicloud user grant EMAIL token_factory.admin"
	$(AICLOUD) tf demo --if-absent
	@echo "Portal: http://127.0.0.1:$${AICLOUD__SERVER__PORT:-8080}/ (sign in as $${AICLOUD_ADMIN_EMAIL:-admin@example.com})"
	exec $(AICLOUD) serve

# The platform's packet first: products refer to its scopes and retention classes.
onboard: db build ## Onboard every packet in config/products (the platform's first); idempotent
	$(AICLOUD) product onboard config/products/platform.toml
	@for packet in config/products/*.toml; do \
		[ "$$packet" = config/products/platform.toml ] || $(AICLOUD) product onboard "$$packet"; \
	done

browser: ## Ensure Debian's chromium is installed (the key-creation test drives it)
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq chromium >/dev/null; \
	  else echo "install chromium (sudo apt-get install chromium) to run the browser test" >&2; exit 1; fi; }

# Quick when the pinned version is already there; otherwise (re)creates the venv.
fuzz-tools: ## Install the pinned schemathesis into .data/venv (the API fuzz test runs it)
	@[ "$$($(VENV)/bin/python -c 'import importlib.metadata as m; print(m.version("schemathesis"))' 2>/dev/null)" \
	    = "$(SCHEMATHESIS_VERSION)" ] || { \
	  python3 -m venv $(VENV) \
	  && $(VENV)/bin/pip install --quiet --disable-pip-version-check schemathesis==$(SCHEMATHESIS_VERSION); }

# The official openai SDKs at the versions pinned in tests/sdk (the Python one in
# tests/sdk/python/requirements.txt, the Node one in tests/sdk/node/package-lock.json).
# Quick when those versions are already there; otherwise (re)installs them.
sdk-tools: ## Install the pinned openai SDKs into .data/sdk-venv and tests/sdk/node (the SDK test runs them)
	@want=$$(sed -n 's/^openai==//p' tests/sdk/python/requirements.txt); \
	[ "$$($(SDK_VENV)/bin/python -c 'import importlib.metadata as m; print(m.version("openai"))' 2>/dev/null)" \
	    = "$$want" ] || { \
	  python3 -m venv $(SDK_VENV) \
	  && $(SDK_VENV)/bin/pip install --quiet --disable-pip-version-check -r tests/sdk/python/requirements.txt; }
	@want=$$(node -p 'require("./$(SDK_NODE)/package.json").dependencies.openai'); \
	[ "$$(node -p 'require("./$(SDK_NODE)/node_modules/openai/package.json").version' 2>/dev/null)" \
	    = "$$want" ] || ( cd $(SDK_NODE) && npm ci --no-audit --no-fund )

test: db browser fuzz-tools sdk-tools ## Check formatting, run clippy, run all tests
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --all-targets -- -D warnings
	$(CARGO) test --all-targets

# oha, the load generator of the gateway bench, is built once into .data/tools.
OHA_VERSION := 1.16.0
OHA := .data/tools/bin/oha

bench-tools: ## Install the pinned oha load generator into .data/tools (the gateway bench uses it)
	@[ "$$($(OHA) --version 2>/dev/null)" = "oha $(OHA_VERSION)" ] || \
	  $(CARGO) install oha --version $(OHA_VERSION) --locked --root .data/tools

bench: db bench-tools ## Benchmarks beside their baselines (BENCH_ONLY=a,b picks sections; BENCH_EVENTS sets the verify chain length)
	OHA=$(OHA) $(CARGO) bench --bench platform

fmt: ## Format the code
	$(CARGO) fmt --all

lint: ## Run clippy with warnings as errors
	$(CARGO) clippy --all-targets -- -D warnings

check: db ## Check configuration, database reachability and pending migrations
	$(CARGO) run --quiet -- check
