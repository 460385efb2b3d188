# pgha: `make up` deploys a stack (default: dev), `make test` runs the test suite.
STACK ?= dev
SHELL := /bin/bash
ENV := . scripts/env.sh &&

.PHONY: setup up down outputs preview status wait switchover drill soak check bench backup backups drop-backups dashboard metrics-cost experiment swarm-lab swarm-lab-down swarm-lab-status lint test durations unit
SCENARIO ?= kill-primary
TRIALS ?= 3
DURATION ?= 30m
TYPE ?= incr
SINCE ?= 10m
NODES ?= 3
LAB ?= lab

setup:
	scripts/setup.sh

# The stack's settings come from Pulumi.$(STACK).yaml through a config file of this machine's (pgha/model/stacks.py),
# so that deploying never writes into a tracked file.
PREPARE = config=$$(python -m pgha.model.stacks prepare $(STACK))
ON_STACK = --stack $(STACK) --config-file "$$config"

up: setup
	$(ENV) $(PREPARE) && pulumi up --yes $(ON_STACK)

preview: setup
	$(ENV) $(PREPARE) && pulumi preview $(ON_STACK)

down:
	$(ENV) $(PREPARE) && pulumi destroy --yes $(ON_STACK)

# The deployed stack's outputs as JSON, secrets shown; a stack not (fully) deployed is said in one line, exit 2.
outputs:
	@$(ENV) pgha --stack $(STACK) outputs

status:
	@$(ENV) pgha --stack $(STACK) status

wait:
	@$(ENV) pgha --stack $(STACK) wait

switchover:
	@$(ENV) pgha --stack $(STACK) switchover

drill:
	@$(ENV) pgha --stack $(STACK) drill $(SCENARIO) --trials $(TRIALS)

# Random faults (seeded: SEED= repeats a sequence) one after another for $(DURATION), the cluster whole between them.
soak:
	@$(ENV) pgha --stack $(STACK) soak --duration $(DURATION) $(if $(SEED),--seed $(SEED))

check:
	@$(ENV) pgha --stack $(STACK) check

bench:
	@$(ENV) pgha --stack $(STACK) bench

backup:
	@$(ENV) pgha --stack $(STACK) backup --type $(TYPE)

backups:
	@$(ENV) pgha --stack $(STACK) backups

# The repository outlives `make down`; this removes it, with every backup of the stack.
drop-backups:
	@$(ENV) pgha --stack $(STACK) drop-backups

# A PNG of the standard Prometheus panels over the last $(SINCE), under reports/.
dashboard:
	@$(ENV) pgha --stack $(STACK) dashboard --since $(SINCE)

# pgbench with pgha:metrics on and off on the same stack, turn by turn (it deploys the stack each turn).
metrics-cost:
	@$(ENV) pgha --stack $(STACK) metrics-cost

# Every variant of experiments/$(EXP).yaml deployed, drilled, benchmarked and destroyed; one comparison report.
# TRIALS= overrides the file's; PARALLEL=n runs n variants side by side; KEEP=1 leaves the stacks up.
experiment: setup
	@test -n "$(EXP)" || { echo "make experiment EXP=name: one of $$(ls experiments | sed 's/.yaml//' | xargs)"; exit 2; }
	@$(ENV) pgha experiment $(EXP) $(if $(filter command line environment,$(origin TRIALS)),--trials $(TRIALS)) \
		$(if $(PARALLEL),--parallel $(PARALLEL)) $(if $(KEEP),--keep)

# A Docker Swarm of $(NODES) engines in containers on this machine (pgha/ops/lab/swarm_lab.py): node 1 the manager, its API
# on tcp://127.0.0.1:23750; the base image on every node. A healthy lab is left as it is; anything else is made anew.
swarm-lab: setup
	@$(ENV) pgha swarm-lab --name $(LAB) --nodes $(NODES)

# Every container, volume and network of the lab.
swarm-lab-down:
	@$(ENV) pgha swarm-lab --name $(LAB) --down

swarm-lab-status:
	@$(ENV) pgha swarm-lab --name $(LAB) --status

# The code as the project keeps it (pyproject.toml): formatted, linted, type-checked and every import pointing down
# (import-linter's contracts), before any test runs.
lint: setup
	$(ENV) ruff format --check . && ruff check . && mypy && lint-imports

# The run's JUnit report (each test's own time) goes outside the checkout; `make durations` keeps its times.
test: setup lint
	$(ENV) python -m pytest -q -rs --durations=25 --junitxml="$$PGHA_HOME/test-report.xml" \
		-o junit_family=xunit1 -o junit_duration_report=call tests

durations:
	@$(ENV) python -m tests.durations "$$PGHA_HOME/test-report.xml" \
		"$$(date -u +%F) · $$(git rev-parse --short HEAD) · $$(hostname -s)"

unit:
	$(ENV) python -m pytest -q tests/unit
