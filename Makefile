# GreenLane: the common paths. `make help` lists them.
SHELL := /bin/bash
.DEFAULT_GOAL := help

.PHONY: help setup proto build up down status demo test test-unit bench chaos lint clean certs

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

setup: ## install npm packages, Debian packages and the Kafka jars; build
	@bash scripts/setup.sh

proto: ## regenerate common/src/gen from proto/ (ts-proto through buf)
	npx buf generate
	npx tsc -b common

build: ## compile every workspace (tsc -b)
	npx tsc -b

up: setup ## start Redis, Kafka and the embedded TimescaleDB (reusing what already runs); CLUSTER=1 adds the cluster layout
	@bash infra/infra.sh up $(if $(DATABASE_URL),--no-embedded-db,) $(if $(CLUSTER),--cluster,)

down: ## stop what `make up` started (the cluster too)
	@bash infra/infra.sh down

certs: ## development CA, server and car certificates, a JWT signing key and its JWKS in .cache/certs (openssl)
	@node scripts/certs.mjs $(if $(CARS),--cars $(CARS),)

status: ## what answers where (and each node of the cluster)
	@bash infra/infra.sh status

demo: ## run the whole system with simulated cars; Ctrl+C stops it
	@bash scripts/demo.sh

test: ## install, start the servers, run every test; ends with `N passed, N failed`
	@bash scripts/test.sh

test-unit: ## only the tests that need no servers
	@bash scripts/test.sh --unit

bench: setup ## benchmarks that print their figures (each workspace's `npm run bench`)
	@bash infra/infra.sh up --postgres
	node infra/bench-startup.mjs
	npm run bench --workspaces --if-present
	node bench/e2e.mjs
	node bench/cluster.mjs

chaos: setup ## fault injection, bad input at volume, scale-out, the cluster layout; each ends with the checker (chaos/README.md)
	node chaos/run.mjs
	node chaos/fuzz.mjs
	node chaos/run.mjs --scale
	node chaos/run.mjs --cluster

lint: ## type-check and lint the contract
	npx tsc -b
	npx buf lint
	npx buf format --diff --exit-code

clean: ## remove build output (keeps .cache)
	npx tsc -b --clean
