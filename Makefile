# Everything a contributor runs. `make help` lists the targets.
SHELL := /bin/bash
VENV ?= .venv
PYTHON_VERSION ?= 3.13
BIN := $(VENV)/bin
# sam build needs python3.13 on PATH for the python3.13 runtime: the venv provides it (tools/find-python
# finds the interpreter that makes the venv: PATH, then pyenv, then uv).
export PATH := $(abspath $(BIN)):$(PATH)
export SAM_CLI_TELEMETRY := 0

.PHONY: help install install-security local status test test-unit check lint ruff typecheck security build validate \
  bootstrap deploy deploy-prod destroy preflight capacity chaos fuzz bench cost loadtest coldstart invoke seed orders \
  trace asl-errors clean

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-17s %s\n", $$1, $$2}'

$(BIN)/python:
	@python=$$(tools/find-python $(PYTHON_VERSION)) && echo "$$python -m venv $(VENV)" && $$python -m venv $(VENV)

# The pinned requirements, then this project itself, editable and without dependencies (all pinned already): the
# commands saga-local and saga-ops, and the packages importable from any folder.
# uv installs the same pins as pip would, in seconds instead of a minute (CI starts from a fresh clone).
UV_VERSION := 0.13.8
UV = $(1)/bin/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION) && $(1)/bin/uv pip install --quiet --python $(1)/bin/python
# --compile-bytecode: the tests start many processes at once, each of which would otherwise compile the same modules.
$(VENV)/.installed: $(BIN)/python requirements-dev.txt functions/shared/requirements.txt pyproject.toml
	$(call UV,$(VENV)) --compile-bytecode -r requirements-dev.txt
	$(BIN)/uv pip install --quiet --python $(BIN)/python --no-deps --no-build-isolation -e .
	touch $@

# The security tools pin boto3/botocore versions that conflict with requirements-dev.txt: a venv of their own.
SECURITY_VENV := .venv-security
$(SECURITY_VENV)/.installed: requirements-security.txt | $(BIN)/python
	$(BIN)/python -m venv $(SECURITY_VENV)
	$(call UV,$(SECURITY_VENV)) -r requirements-security.txt
	touch $@

dev: $(VENV)/.installed
.PHONY: dev

install: $(VENV)/.installed $(SECURITY_VENV)/.installed ## Create .venv (the project, editable, with the pinned tools) and .venv-security

install-security: $(SECURITY_VENV)/.installed ## Only the security tools' venv (checkov, bandit, pip-audit)

local: dev ## Run the whole template on this machine: API on :3000, AWS endpoint on :4566 (Ctrl-C stops)
	$(BIN)/saga-local up

status: dev ## Is a local stack running: its endpoints, outputs file and log file
	$(BIN)/saga-local status

ORDERS ?= 2000
CONCURRENCY ?= 8
chaos: dev ## Chaos run: ORDERS orders (2000) at CONCURRENCY (8) with faults everywhere, then every invariant checked
	$(BIN)/python -m reliability.chaos --orders $(ORDERS) --concurrency $(CONCURRENCY)

invoke: dev ## Invoke a function of the running stack: make invoke FUNCTION=InventoryFunction EVENT=events/inventory-reserve.json
	$(BIN)/saga-local invoke $(FUNCTION) $(if $(EVENT),-e $(EVENT))

seed: dev ## Add inventory to the running stack: make seed FILE=data/inventory-seed.json
	$(BIN)/saga-local seed $(or $(FILE),data/inventory-seed.json)

orders: dev ## Recent orders of the running stack
	$(BIN)/saga-local orders

trace: dev ## An order's trace as a timeline: make trace ORDER=ord_...
	$(BIN)/saga-local trace $(ORDER)

bench: dev ## Benchmark the local stack: start-up time, saga latency through the local API
	$(BIN)/python -m benchmarks.local_saga

fuzz: dev ## Fuzz the API from api/openapi.yaml (schemathesis, every check): make fuzz [EXAMPLES=120]; .local/reports/fuzz.json
	$(BIN)/python -m reliability.fuzz $(if $(EXAMPLES),--max-examples $(EXAMPLES)) $(FUZZ_ARGS)

cost: dev ## What an order costs on AWS, per saga path, from a local run's real calls: reports/cost.json
	$(BIN)/python -m benchmarks.cost $(COST_ARGS)

loadtest: dev ## Load test the local API (Locust, open model): make loadtest RATE=1 DURATION=60s; reports/loadtest/
	$(BIN)/python -m loadtest.run --rate $(or $(RATE),1) --duration $(or $(DURATION),60s) -- $(LOADTEST_ARGS)

coldstart: dev ## Each Lambda handler's init time against a boto3 baseline (fails above 1.5x): reports/cold-start.json
	$(BIN)/python -m benchmarks.cold_start $(COLDSTART_ARGS)

lint: ruff ## ruff, the template (sam validate --lint) and the state machine
	$(BIN)/sam validate --lint
	$(BIN)/cfn-lint bootstrap/account.yaml

# Every folder of functions/ is a package root, as on Lambda (a function's CodeUri, the layer's ContentUri): a new
# service is type-checked by existing.
FUNCTION_ROOTS := $(subst $() ,:,$(patsubst %/,%,$(wildcard functions/*/)))

typecheck: dev ## mypy: strict on the functions (every functions/*/) and the ASL tooling, then the rest
	MYPYPATH=$(FUNCTION_ROOTS) $(BIN)/mypy --strict functions statemachine
	MYPYPATH=$(FUNCTION_ROOTS) $(BIN)/mypy

asl-errors: dev ## Rewrite the ASL's no-retry lists from the errors the handler tables declare final
	$(BIN)/python -m statemachine.steps --write

# pytest-xdist: one worker per core plus one, up to 4: e2e tests spend part of their time waiting on a stack (its
# start, a sweep's schedule), and the extra worker fills that idle core (on 2 cores: 4 min instead of 5). A test file
# stays on one worker, so its module-scoped stack starts once. PYTEST_PARALLEL= (empty) runs everything in one process.
PYTEST_WORKERS ?= $(shell n=$$(($$(nproc) + 1)); echo $$((n < 4 ? n : 4)))
PYTEST_PARALLEL ?= -n $(PYTEST_WORKERS) --dist loadfile

# The tests marked `alone` time Lambda at the local scale factor 1: they run after the others, with the machine to
# themselves. PYTEST_ARGS narrows both runs (e.g. PYTEST_ARGS=tests/e2e).
test: dev ## Every test (sam build included): in parallel, then the few that need the machine alone
	$(BIN)/pytest $(PYTEST_PARALLEL) -m "not alone" $(PYTEST_ARGS)
	$(BIN)/pytest -m alone $(PYTEST_ARGS)

test-unit: dev ## The unit tests only: no stack, no sam (pytest -m unit)
	$(BIN)/pytest -m unit -n 0

# The static checks run beside the tests: each is mostly one core, and they fill the cores the tests leave idle
# while a stack starts (on 2 cores, CI's fresh clone in about 5 min instead of 6).
check: install ## Everything CI runs: security, ruff, mypy and every test, side by side
	$(MAKE) --no-print-directory --output-sync=target -j4 security ruff typecheck test

.PHONY: static
static: security ruff typecheck ## security, ruff and mypy (make -j2 static runs them side by side)

ruff: dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

security: dev install-security ## checkov (template.yaml and its SAM translation), bandit, pip-audit of the pinned requirements
	@tmp=$$(mktemp -d) && trap 'rm -rf "$$tmp"' EXIT && \
	  $(BIN)/python -m tests.security.translated_template $$tmp/translated-template.json && \
	  $(SECURITY_VENV)/bin/checkov --framework cloudformation --skip-download --quiet --compact \
	    -f template.yaml -f $$tmp/translated-template.json -f bootstrap/account.yaml
	$(SECURITY_VENV)/bin/bandit -r functions saga_local saga_ops benchmarks loadtest reliability --severity-level medium --quiet
	$(SECURITY_VENV)/bin/python tests/security/pip_audit_pins.py requirements-dev.txt functions/shared/requirements.txt

build: dev ## sam build (arm64, python3.13)
	$(BIN)/sam build

validate: dev ## sam validate --lint
	$(BIN)/sam validate --lint

# Once per account and region, before the first deploy: the CloudWatch Logs role API Gateway needs for the stage's
# access logs (bootstrap/account.yaml). Idempotent: a second run finds no change and succeeds. It overwrites the
# region's existing API Gateway CloudWatch Logs role setting, if one is set.
BOOTSTRAP_STACK ?= order-saga-account
bootstrap: dev ## Per-account prerequisites (API Gateway CloudWatch Logs role), before the first deploy (needs AWS credentials)
	$(BIN)/sam deploy --template-file bootstrap/account.yaml --stack-name $(BOOTSTRAP_STACK) \
	  --capabilities CAPABILITY_IAM --no-fail-on-empty-changeset --no-confirm-changeset $(BOOTSTRAP_ARGS)

preflight: dev ## Before sam deploy: read the account and say what would fail: make preflight [ENV=prod] (AWS credentials)
	$(BIN)/saga-ops preflight --env $(or $(ENV),default) $(PREFLIGHT_ARGS)

capacity: dev ## The capacity model (docs/capacity.md): make capacity [ENV=prod] [RATE=orders/s]
	$(BIN)/saga-ops capacity --env $(or $(ENV),prod) $(if $(RATE),--rate $(RATE)) $(CAPACITY_ARGS)

deploy: build ## sam deploy --guided (needs AWS credentials)
	$(BIN)/sam deploy --guided

deploy-prod: build ## sam deploy to the prod environment of samconfig.toml
	$(BIN)/sam deploy --config-env prod

# The stack's name comes from samconfig.toml's ENV environment (default: default), as sam deploy's.
DESTROY_ENV = $(or $(ENV),default)
destroy: dev ## Delete the deployed stack of samconfig.toml's ENV environment: make destroy [ENV=prod] [YES=1] (AWS credentials)
	@stack=$$($(BIN)/python -c 'import sys, tomllib; print(tomllib.load(open("samconfig.toml", "rb"))[sys.argv[1]]["global"]["parameters"]["stack_name"])' $(DESTROY_ENV)) && \
	if [ "$(YES)" != 1 ]; then \
	  read -r -p "Delete stack $$stack (samconfig.toml environment '$(DESTROY_ENV)')? Retained tables stay. [y/N] " answer && \
	  { [ "$$answer" = y ] || [ "$$answer" = Y ] || { echo "Not deleted."; exit 1; }; }; \
	fi && \
	echo "$(BIN)/sam delete --stack-name $$stack --config-env $(DESTROY_ENV) --no-prompts" && \
	$(BIN)/sam delete --stack-name $$stack --config-env $(DESTROY_ENV) --no-prompts

clean: ## Remove build output and caches
	rm -rf .aws-sam .pytest_cache .ruff_cache .mypy_cache
