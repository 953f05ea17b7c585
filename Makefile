# `make test` sets up a fresh Debian machine from nothing and runs the whole suite.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: deps system-deps lint unit test clean

deps: system-deps $(STAMP)

system-deps:
	./scripts/install-system-deps.sh

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/yamllint --strict .
	$(BIN)/ansible-lint --offline

unit: $(STAMP)
	$(BIN)/python -m pytest tests/unit

test: deps lint
	$(BIN)/python -m pytest

clean:
	rm -rf $(VENV) build dist *.egg-info
