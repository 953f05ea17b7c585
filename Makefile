# `make test` sets up a fresh Debian machine from nothing and runs the whole suite.
# bash with pipefail: a recipe that pipes its output (molecule's prefix) fails with it.
SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# Dallinger itself, in its own venv (its pins must not shape ours): the tests check
# that it reads what we write (the data extra: dallinger.data reads our exports). The
# tool is installed there too, as `dlgr-ansible[dallinger]` in an experiment's
# environment, to build an experiment's image with Dallinger's code. click 8.1.8: with
# 8.2 or later, `dallinger docker-ssh deploy` takes every deploy for an --update
# (benchmarks/side_by_side.py runs it).
DALLINGER_VENV ?= .venv-dallinger
DALLINGER_STAMP := $(DALLINGER_VENV)/.installed-dlgr
# A PsyNet experiment's environment: PsyNet 13.3 pinned as the test bed's experiment
# (examples/psynet) pins it, with `dlgr-ansible[psynet]`, which runs PsyNet's preparation.
PSYNET_VENV ?= .venv-psynet
PSYNET_STAMP := $(PSYNET_VENV)/.installed-dlgr

# pytest-xdist workers for the test suite (tests/conftest.py groups the modules); each
# worker has its own targets and loopback addresses (tests/testbed/targets.py).
PYTEST_WORKERS ?= 2

.PHONY: deps system-deps browser-deps lint unit testbed-images pytest molecule test test-pytest test-molecule demo clean

deps: system-deps browser-deps $(STAMP) $(DALLINGER_STAMP) $(PSYNET_STAMP)

system-deps:
	./scripts/install-system-deps.sh

# Headless Chromium for the participant's path in tests/e2e (not needed by `make demo`).
browser-deps:
	./scripts/install-system-deps.sh --browser

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

$(DALLINGER_STAMP): pyproject.toml
	$(PYTHON) -m venv $(DALLINGER_VENV)
	$(DALLINGER_VENV)/bin/pip install --quiet 'dallinger[data]==12.4.0' 'click==8.1.8' -e '.[dallinger]'
	touch $@

$(PSYNET_STAMP): pyproject.toml examples/psynet/constraints.txt
	$(PYTHON) -m venv $(PSYNET_VENV)
	$(PSYNET_VENV)/bin/pip install --quiet --constraint examples/psynet/constraints.txt -e '.[psynet]'
	touch $@

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/yamllint --strict .
	$(BIN)/ansible-lint --offline

unit: $(STAMP)
	$(BIN)/python -m pytest tests/unit

# Every test image, each cached by the content it is built from (a warm run only
# compares labels), built before the runs that share them start side by side.
testbed-images: $(STAMP)
	./scripts/ensure-docker.sh
	$(BIN)/python -m tests.testbed.targets build
	$(BIN)/python -m tests.testbed.targets build --suite bookworm
	$(BIN)/python -m tests.testbed.service_images
	$(BIN)/python -m tests.testbed.experiment_image

pytest: $(STAMP)
	$(BIN)/python -m pytest -n $(PYTEST_WORKERS) --durations=30

# Molecule runs ansible-playbook by name, so the venv's bin/ goes first on PATH.
molecule: $(STAMP)
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/molecule test --all

# Molecule's targets have names and loopback addresses of their own (molecule/README.md)
# and pytest removes only its own leftovers, so the two run side by side; both run to
# the end, and `make` fails if either failed. Their lines are prefixed with their names
# (whole lines: the two outputs interleave) and each says how long it took.
test: deps lint testbed-images
	$(MAKE) --no-print-directory --jobs=2 test-pytest test-molecule

test-pytest:
	@start=$$SECONDS; status=0; \
	$(MAKE) --no-print-directory pytest 2>&1 | sed -u 's/^/[pytest] /' || status=$$?; \
	echo "== pytest: exit $$status after $$((SECONDS - start)) s"; exit $$status

test-molecule:
	@start=$$SECONDS; status=0; \
	$(MAKE) --no-print-directory molecule 2>&1 | sed -u 's/^/[molecule] /' || status=$$?; \
	echo "== molecule: exit $$status after $$((SECONDS - start)) s"; exit $$status

# The sample experiment on a rehearsal server on this machine; prints its URL.
demo: system-deps $(STAMP)
	./scripts/ensure-docker.sh
	$(BIN)/python examples/demo.py

clean:
	rm -rf $(VENV) $(DALLINGER_VENV) $(PSYNET_VENV) build dist *.egg-info
