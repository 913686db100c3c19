# Cairn: `make run` serves the dashboard, `make test` runs every test.
# Both install what is missing first (idempotent, quick when all is there).

SHELL := /bin/bash
.DEFAULT_GOAL := run

CARGO_TARGET_DIR ?= $(CURDIR)/target
export CARGO_TARGET_DIR
SITE := $(CARGO_TARGET_DIR)/site
PKG := $(SITE)/pkg
CAIRN := $(CARGO_TARGET_DIR)/release/cairn
WASM := $(CARGO_TARGET_DIR)/wasm32-unknown-unknown/wasm-release/frontend.wasm
NODE_BIN := $(CURDIR)/end2end/node_modules/.bin
WASM_BINDGEN_VERSION := $(shell awk '/^name = "wasm-bindgen"$$/ { getline; gsub(/"/, "", $$3); print $$3 }' Cargo.lock)
WASM_OPT_FEATURES := --enable-bulk-memory --enable-nontrapping-float-to-int --enable-sign-ext \
	--enable-mutable-globals --enable-reference-types --enable-multivalue
ADDR ?= 127.0.0.1:3000

.PHONY: run test build tools browser moto duckdb unit e2e samples bench bench-peers bench-load demo dev clean

## Build and serve the dashboard on ./data/cairn.db.
run: build
	$(CAIRN) serve --addr $(ADDR) --site $(SITE)

## Everything: unit, integration and browser tests, then the real-sample tier.
test: build browser unit e2e samples

## The site (wasm, js, css) and the release server.
build: tools
	cargo build --release --locked -p server
	cargo build --locked -p frontend --lib --target wasm32-unknown-unknown --profile wasm-release
	mkdir -p $(PKG)
	@if [ ! -f $(PKG)/cairn_bg.wasm ] || [ $(WASM) -nt $(PKG)/cairn_bg.wasm ]; then \
		echo "wasm-bindgen + wasm-opt"; \
		wasm-bindgen --target web --no-typescript --out-dir $(PKG) --out-name cairn $(WASM) && \
		$(NODE_BIN)/wasm-opt -Oz $(WASM_OPT_FEATURES) -o $(PKG)/cairn_bg.wasm $(PKG)/cairn_bg.wasm \
		|| { rm -f $(PKG)/cairn_bg.wasm; exit 1; }; \
	fi
	cp style/main.css $(PKG)/cairn.css
	cp -R public/. $(SITE)/
	@ls -l $(PKG) | awk 'NR>1 { printf "  %-20s %8d bytes\n", $$9, $$5 }'

## Build tools: the wasm target, wasm-bindgen at the version in Cargo.lock, npm tooling
## (wasm-opt, the browser driver, axe, and the OpenID provider the sign-in journeys use).
tools:
	@rustup target list --installed | grep -q '^wasm32-unknown-unknown$$' || rustup target add wasm32-unknown-unknown
	@if [ "$$(wasm-bindgen --version 2>/dev/null)" != "wasm-bindgen $(WASM_BINDGEN_VERSION)" ]; then \
		echo "installing wasm-bindgen-cli $(WASM_BINDGEN_VERSION)"; \
		cargo install wasm-bindgen-cli --version $(WASM_BINDGEN_VERSION); \
	fi
	@[ -x $(NODE_BIN)/wasm-opt ] && [ -d end2end/node_modules/playwright-core ] && [ -d end2end/node_modules/axe-core ] && \
		[ -d end2end/node_modules/oauth2-mock-server ] || \
		npm ci --prefix end2end --no-audit --no-fund

## Debian's Chromium for the browser tests.
browser:
	@command -v chromium >/dev/null || { \
		[ "$$(id -u)" = 0 ] && SUDO= || SUDO=sudo; \
		$$SUDO apt-get update -qq && $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }

## moto, the AWS emulator the sync tests run against, in its own virtualenv.
MOTO_VENV := $(HOME)/.cache/cairn/moto
MOTO := $(MOTO_VENV)/bin/moto_server
moto:
	@[ -x $(MOTO) ] || { echo "installing moto[server] 5.2.1"; \
		python3 -m venv $(MOTO_VENV) && $(MOTO_VENV)/bin/pip install -q 'moto[server]==5.2.1'; }

## Unit and integration tests (release profile: reuses the server build).
unit: tools moto
	CAIRN_MOTO_SERVER=$(MOTO) cargo test --release --locked -p server -p app

## Browser journeys against the built server.
e2e: build browser moto
	CAIRN_BIN=$(CAIRN) CAIRN_SITE=$(SITE) CAIRN_MOTO_SERVER=$(MOTO) node --test --test-concurrency=1 end2end/tests/

## The real-sample tier: tests over CloudTrail files written by others, kept beside the
## repository in ../shared/data (or SAMPLES=...). Counted on their own, never as passes
## of the tiers above. Without the samples it says so and runs nothing, except under
## CI=true, where missing samples are a failure.
SAMPLES ?= $(abspath $(CURDIR)/../shared/data)
samples: build browser
	@if [ -d "$(SAMPLES)" ]; then \
		echo "real-sample tier: $(SAMPLES)"; \
		CAIRN_SAMPLES=$(SAMPLES) cargo test --release --locked -p server --test samples -- --ignored && \
		CAIRN_SAMPLES=$(SAMPLES) CAIRN_BIN=$(CAIRN) CAIRN_SITE=$(SITE) node --test --test-concurrency=1 end2end/samples/; \
	elif [ "$$CI" = true ]; then \
		echo "error: the real-sample tier cannot run: $(SAMPLES) is absent (CI=true needs it)" >&2; exit 1; \
	else \
		echo "real-sample tier: not run ($(SAMPLES) is absent; a clone alone has no samples)"; \
	fi

## Import benchmark: 1,000,000 events (override with EVENTS=...).
EVENTS ?= 1000000
bench: build
	$(CAIRN) bench --events $(EVENTS)

## DuckDB, the peer `make bench-peers` loads the same files into, in its own virtualenv.
DUCKDB_VENV := $(HOME)/.cache/cairn/duckdb
DUCKDB_PY := $(DUCKDB_VENV)/bin/python
duckdb:
	@$(DUCKDB_PY) -c 'import duckdb' 2>/dev/null || { echo "installing duckdb 2.0.1"; \
		python3 -m venv $(DUCKDB_VENV) && $(DUCKDB_VENV)/bin/pip install -q 'duckdb==2.0.1'; }

## Cairn's import against DuckDB's load of the same generated files, alternated three
## times on this machine: both medians and the ratio.
bench-peers: build duckdb
	$(CAIRN) bench --events $(EVENTS) --duckdb $(DUCKDB_PY) --rounds 3

## 64 analysts at once on all-time views, for 60 s, against `cairn serve` on loopback over
## a generated database of $(EVENTS) events (made the first time, then kept).
LOAD_DB := $(HOME)/.cache/cairn/bench-load-$(EVENTS).db
bench-load: build
	@[ -f $(LOAD_DB) ] || $(CAIRN) --db $(LOAD_DB) demo --events $(EVENTS) --days 30
	$(CAIRN) --db $(LOAD_DB) bench --load --connections 64 --seconds 60

## Development: rebuild and restart on every change (debug build, cargo-leptos).
## Installs cargo-leptos 0.3.10 the first time (about 20 minutes on 2 cores).
dev: tools
	@[ "$$(cargo leptos --version 2>/dev/null)" = "cargo-leptos 0.3.10" ] || \
		cargo install cargo-leptos@0.3.10 --locked --features no_downloads
	PATH="$(NODE_BIN):$$PATH" cargo leptos watch -- serve --addr $(ADDR)

## Fill ./data/cairn.db with generated events.
demo: build
	$(CAIRN) demo

clean:
	cargo clean
