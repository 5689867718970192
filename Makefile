# ferry — the two commands that do all the set-up: `make demo` and `make test`.
SHELL := /bin/bash
.DEFAULT_GOAL := help
NODE_MODULES_STAMP := node_modules/.ferry-installed

.PHONY: help install system-deps node-deps build lint typecheck test test-unit demo lab bench dev-up dev-down clean

help:
	@echo "make demo    set everything up and run ferry's main job on the local dev stack"
	@echo "make test    install what is missing, start what the tests need, run every test"
	@echo "make lab     run the pre-dump chain inside the soft-dirty qemu lab"
	@echo "make bench   run the benchmarks and rewrite BENCHMARKS.md"

# CRIU >= 4.1, the Temporal CLI (dev server) and MinIO; each installer skips what already works.
system-deps:
	bash infra/install.sh

# `npm install` against the committed lock file, not `npm ci`: node-unix-socket lists prebuilt
# packages for platforms the registry does not serve, and `npm ci` rejects a lock file without
# them. Install scripts are not needed: native code comes prebuilt, ferry's addon is built by
# `npm run build`.
$(NODE_MODULES_STAMP): package.json package-lock.json
	npm install --ignore-scripts --no-audit --no-fund
	touch $@

node-deps: $(NODE_MODULES_STAMP)

build: node-deps
	npm run --silent build

install: system-deps build

lint: node-deps
	npx eslint .

# TypeScript, then the JavaScript (scripts, bench, lab, config files) through its JSDoc types.
typecheck: node-deps
	npx tsc -p tsconfig.json --noEmit
	npx tsc -p tsconfig.js.json

# Unit tests start no process and need no build (the native helper is for test/integration).
test-unit: node-deps
	npx jest test/unit

test: install lint typecheck
	bash scripts/run-tests.sh

demo: install
	bash scripts/demo.sh

lab: install
	bash infra/lab/run-lab.sh

bench: install
	bash bench/run-all.sh

dev-up: build
	node bin/ferry.js dev up

dev-down: build
	node bin/ferry.js dev down

clean:
	rm -rf dist build coverage
