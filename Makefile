# pgha: `make up` deploys a stack (default: dev), `make test` runs the test suite.
STACK ?= dev
SHELL := /bin/bash
ENV := . scripts/env.sh &&

.PHONY: setup up down outputs preview status wait switchover drill check test unit
SCENARIO ?= kill-primary
TRIALS ?= 3

setup:
	scripts/setup.sh

up: setup
	$(ENV) python -m pgha.stacks prepare $(STACK) && pulumi up --yes --stack $(STACK)

preview: setup
	$(ENV) python -m pgha.stacks prepare $(STACK) && pulumi preview --stack $(STACK)

down:
	$(ENV) pulumi destroy --yes --stack $(STACK)

outputs:
	@$(ENV) pulumi stack output --json --show-secrets --stack $(STACK)

status:
	@$(ENV) python -m pgha --stack $(STACK) status

wait:
	@$(ENV) python -m pgha --stack $(STACK) wait

switchover:
	@$(ENV) python -m pgha --stack $(STACK) switchover

drill:
	@$(ENV) python -m pgha --stack $(STACK) drill $(SCENARIO) --trials $(TRIALS)

check:
	@$(ENV) python -m pgha --stack $(STACK) check

test: setup
	$(ENV) python -m pytest -q -rs tests

unit:
	$(ENV) python -m pytest -q tests/unit
