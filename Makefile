# Quantization tutorial. The two commands: `make run-all` and `make test`.
# Everything runs inside .venv, created by `make setup` from the pinned requirements.txt.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
QUICK ?= 0
RUN_FLAGS := $(if $(filter 1 yes true,$(QUICK)),--quick,)

.PHONY: help setup data run-all test test-full readme-results lab lint clean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/'

setup: $(STAMP)  ## create .venv with the pinned stack and helpers (no-op when current)

$(STAMP): requirements.txt pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt
	$(BIN)/python -m pip install --quiet --no-deps -e .
	@touch $@
	@echo "Environment ready: $(VENV)"

# Offline first: as root with apt-get, Debian's dataset-fashion-mnist; helpers.data then verifies
# the files (and, as a last resort, downloads them with Keras).
DATA_FILE := /usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz
data: setup  ## make sure Fashion-MNIST is present (Debian package offline, else Keras download)
	@if [ -z "$$FASHION_MNIST_DIR" ] && [ ! -f $(DATA_FILE) ] && [ ! -f $$HOME/.keras/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz ] \
	    && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  echo "Installing Debian's dataset-fashion-mnist (offline copy of the original files) ..."; \
	  DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dataset-fashion-mnist || \
	  echo "apt-get could not install it; trying Keras' download instead."; \
	fi
	$(BIN)/python -m helpers.data

run-all: setup data  ## run notebooks 01-05 with papermill into outputs/ (QUICK=1: small parameters)
	$(BIN)/python -m helpers.runner $(RUN_FLAGS)

# `make test`: nbval executes the committed notebooks once, with the quick parameters (papermill's
# prepare-only mode writes parameterized copies), into a temporary ARTIFACTS_DIR; the unit and
# smoke tests run in the same pytest session and judge what that run recorded. Never touches
# artifacts/ or outputs/.
PYTEST := $(BIN)/python -m pytest -c pyproject.toml --rootdir . --durations=10
test: setup data  ## unit tests, the committed notebooks under nbval (quick parameters), smoke tests
	@tmp=$$(mktemp -d) && trap 'rm -rf "$$tmp"' EXIT && \
	$(BIN)/python -m helpers.runner --quick --prepare-only --artifacts-dir "$$tmp/artifacts" \
	    --output-dir "$$tmp/notebooks" >/dev/null && \
	QUICK_CHAIN_ARTIFACTS="$$tmp/artifacts" $(PYTEST) --nbval-lax --nbval-current-env \
	    tests/unit "$$tmp/notebooks" tests/smoke

# `make test-full`: nbval on the committed notebooks exactly as a learner gets them (full
# defaults), into a temporary ARTIFACTS_DIR.
test-full: setup data  ## nbval on the committed notebooks with their default parameters
	@tmp=$$(mktemp -d) && trap 'rm -rf "$$tmp"' EXIT && echo "nbval: ARTIFACTS_DIR=$$tmp" && \
	ARTIFACTS_DIR=$$tmp $(PYTEST) --nbval-lax --nbval-current-env notebooks/

readme-results: setup  ## rebuild README.md's results section from the last full run's summary.json
	$(BIN)/python -m helpers.readme

lab: setup data  ## open JupyterLab on the notebooks
	$(BIN)/jupyter lab --notebook-dir=notebooks

lint: setup  ## ruff over helpers, tests and notebooks
	$(BIN)/ruff check helpers tests notebooks
	$(BIN)/ruff format --check helpers tests notebooks

clean:  ## remove artifacts/, outputs/ and caches (keeps .venv)
	rm -rf artifacts outputs .pytest_cache .ruff_cache
	find . -name __pycache__ -not -path './$(VENV)/*' -prune -exec rm -rf {} +
