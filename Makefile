# Timestack — `make lab` builds the local lab and deploys + verifies the stack on it;
# `make test` runs the whole suite (unit + integration on the lab).
VENV      ?= .venv
PYTHON    ?= python3
INVENTORY ?= inventory/lab.py
BIN        = $(VENV)/bin
STAMP      = $(VENV)/.timestack-deps

.PHONY: deps lab lab-up lab-down deploy verify test unit integration lint molecule

deps: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

lab: lab-up deploy verify

lab-up: deps
	$(BIN)/python -m lab up

lab-down: deps
	$(BIN)/python -m lab down

deploy: deps
	$(BIN)/pyinfra -y $(INVENTORY) deploy.py

verify: deps
	$(BIN)/pytest tests/verify --inventory $(INVENTORY)

test: deps
	$(BIN)/pytest tests/unit tests/integration --durations=40

unit: deps
	$(BIN)/pytest tests/unit

integration: deps
	$(BIN)/pytest tests/integration

lint: deps
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy .

# Molecule's full sequence on the lab (destroy, create, converge, idempotence, verify,
# destroy): ansible-core and molecule come with the dev extra; both look for ansible-* on PATH.
molecule: deps
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/molecule test
