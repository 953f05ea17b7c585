# `make test` sets up a fresh Debian machine from nothing and runs the whole suite.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# Dallinger itself, in its own venv (its pins must not shape ours): the tests check
# that it reads what we write (the data extra: dallinger.data reads our exports). The
# tool is installed there too, as `dlgr-ansible[dallinger]` in an experiment's
# environment, to build an experiment's image with Dallinger's code.
DALLINGER_VENV ?= .venv-dallinger
DALLINGER_STAMP := $(DALLINGER_VENV)/.installed-dlgr

.PHONY: deps system-deps lint unit molecule test demo clean

deps: system-deps $(STAMP) $(DALLINGER_STAMP)

system-deps:
	./scripts/install-system-deps.sh

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

$(DALLINGER_STAMP): pyproject.toml
	$(PYTHON) -m venv $(DALLINGER_VENV)
	$(DALLINGER_VENV)/bin/pip install --quiet 'dallinger[data]==12.4.0' -e '.[dallinger]'
	touch $@

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/yamllint --strict .
	$(BIN)/ansible-lint --offline

unit: $(STAMP)
	$(BIN)/python -m pytest tests/unit

# Molecule runs ansible-playbook by name, so the venv's bin/ goes first on PATH.
molecule: $(STAMP)
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/molecule test --all

# The sample experiment on a rehearsal server on this machine; prints its URL.
demo: system-deps $(STAMP)
	./scripts/ensure-docker.sh
	$(BIN)/python examples/demo.py

test: deps lint
	$(BIN)/python -m pytest
	$(MAKE) molecule

clean:
	rm -rf $(VENV) $(DALLINGER_VENV) build dist *.egg-info
