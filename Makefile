# Quantization tutorial. The two commands: `make run-all` and `make test`.
# Everything runs inside .venv, created by `make setup` from the pinned requirements.txt.

PYTHON ?= python3
# The Pythons the pinned wheels exist for; pyproject.toml's requires-python says the same (a unit
# test checks) and `make test-pythons` runs the quick chain on each of them.
SUPPORTED_PYTHONS := 3.11 3.12 3.13
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
SETUP_PYTHON := $(if $(wildcard $(BIN)/python),$(BIN)/python,$(PYTHON))
QUICK ?= 0
RUN_FLAGS := $(if $(filter 1 yes true,$(QUICK)),--quick,)
LAB_FLAGS = $(if $(PORT),--port $(PORT)) $(if $(IP),--ip $(IP)) \
	$(if $(filter 1 yes true,$(HEADLESS)),--headless) $(if $(filter 0 no false,$(HEADLESS)),--no-headless)

.PHONY: help setup data run-all seeds book test test-full test-browser test-pythons browser readme-results lab lint clean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/'

setup: $(STAMP)  ## create .venv with the pinned stack and helpers (no-op when current)
ifeq ($(origin PYTHON),command line)
	@want=$$($(PYTHON) -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null); \
	have=$$($(BIN)/python -c 'import sys; print("%d.%d" % sys.version_info[:2])'); \
	[ "$$want" = "$$have" ] || echo "make setup: $(VENV) already runs Python $$have, not $(PYTHON); \
	to switch: rm -rf $(VENV) && make setup PYTHON=$(PYTHON)"
endif

# Before anything is installed, one line if the interpreter cannot work: .venv's own if it exists,
# else $(PYTHON).
$(STAMP): requirements.txt pyproject.toml
	@v=$$($(SETUP_PYTHON) -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null); \
	found="is Python $$v"; [ -n "$$v" ] || found="does not run"; \
	case " $(SUPPORTED_PYTHONS) " in *" $$v "*) ;; *) echo "make setup: '$(SETUP_PYTHON)' $$found; \
	the pinned stack needs one of Python $(SUPPORTED_PYTHONS). Pick one: \
	$(if $(wildcard $(BIN)/python),rm -rf $(VENV) && )make setup PYTHON=python3.13 (a name or a path)"; exit 1;; esac
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

run-all: setup data  ## run notebooks 01-09 with papermill into outputs/ (QUICK=1: small parameters)
	$(BIN)/python -m helpers.cli.runner $(RUN_FLAGS)

# Not part of run-all: notebooks 01-04 again for SEEDS other training seeds, each seed in its own
# artifacts/seeds/seed_<s>/, then artifacts/seed_study.json (resumes an interrupted study).
SEEDS ?= 3
seeds: setup data  ## notebooks 01-04 for SEEDS training seeds (default 3) -> artifacts/seed_study.json
	$(BIN)/python -m helpers.cli.seeds --seeds $(SEEDS)

# The book reads a finished run; it never re-runs a notebook. QUICK=1: the quick run's own book
# (outputs/quick/book); ALLOW_QUICK=1: accept a QUICK=1 run found in outputs/.
BOOK_FLAGS = $(if $(filter 1 yes true,$(QUICK)),--quick) $(if $(filter 1 yes true,$(ALLOW_QUICK)),--allow-quick)
book: setup  ## the last full run's executed notebooks as an HTML book in outputs/book (QUICK=1: the quick run's)
	@$(BIN)/python -m helpers.cli.book $(BOOK_FLAGS)

# `make test`: nbval executes the committed notebooks once, with the quick parameters (papermill's
# prepare-only mode writes parameterized copies), into a temporary ARTIFACTS_DIR; the unit and
# smoke tests run in the same pytest session and judge what that run recorded. Never touches
# artifacts/ or outputs/.
PYTEST := $(BIN)/python -m pytest -c pyproject.toml --rootdir . --durations=10
test: setup data  ## unit tests, the committed notebooks under nbval (quick parameters), smoke tests
	@tmp=$$(mktemp -d) && trap 'rm -rf "$$tmp"' EXIT && \
	$(BIN)/python -m helpers.cli.runner --quick --prepare-only --artifacts-dir "$$tmp/artifacts" \
	    --output-dir "$$tmp/notebooks" >/dev/null && \
	QUICK_CHAIN_ARTIFACTS="$$tmp/artifacts" $(PYTEST) --nbval-lax --nbval-current-env \
	    tests/unit "$$tmp/notebooks" tests/smoke

# `make test-full`: nbval on the committed notebooks exactly as a learner gets them (full
# defaults), into a temporary ARTIFACTS_DIR; then the standalone recipes of 03 and 04, run as
# scripts against that run.
test-full: setup data  ## nbval on the committed notebooks with their default parameters, then the standalone recipes
	@tmp=$$(mktemp -d) && trap 'rm -rf "$$tmp"' EXIT && echo "nbval: ARTIFACTS_DIR=$$tmp" && \
	ARTIFACTS_DIR=$$tmp $(PYTEST) --nbval-lax --nbval-current-env notebooks/ tests/full

test-browser: setup data browser  ## JupyterLab and the book in a headless Chromium, as a learner meets them
	$(BIN)/python -m pytest -m browser tests/browser

# Each Python found gets a fresh venv in a temporary folder (built by `make setup`; about 1 GB of
# wheels, fast again from pip's cache) and runs the quick chain. Missing Pythons are skipped with
# the reason printed. PYTHONS="3.12" to try only some.
PYTHONS ?= $(SUPPORTED_PYTHONS)
test-pythons: setup data  ## the quick chain on each supported Python found here, each in a fresh venv
	$(BIN)/python scripts/test_pythons.py $(PYTHONS)

# Like `make data`: nothing to do if present, else Debian's package as root, else say how.
browser:  ## make sure Chromium is present for the browser test (Debian's chromium, as root)
	@if command -v chromium >/dev/null; then echo "Chromium present: $$(command -v chromium)"; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		echo "Installing Debian's chromium for the browser test ..."; \
		export DEBIAN_FRONTEND=noninteractive; apt-get update -qq && apt-get install -y -qq chromium; \
	else echo "No chromium, and installing it needs root and apt-get: the browser test will skip." \
		"Install it with: sudo apt-get install chromium"; fi

readme-results: setup  ## rebuild README.md's results section from the last full run's summary.json
	$(BIN)/python -m helpers.cli.readme

# PORT=8890: exactly that port (default: the first free one from 8888). HEADLESS=1: no browser
# (the default on Linux without a display); HEADLESS=0: open one. IP=0.0.0.0 inside a container.
lab: setup data  ## open JupyterLab on notebooks/ with the .venv kernel (PORT=, HEADLESS=1, IP=0.0.0.0)
	@$(BIN)/python -m helpers.cli.lab $(LAB_FLAGS)

lint: setup  ## ruff over helpers, tests, notebooks and scripts
	$(BIN)/ruff check helpers tests notebooks scripts docs
	$(BIN)/ruff format --check helpers tests notebooks scripts docs

clean:  ## remove artifacts/, outputs/ and caches (keeps .venv)
	rm -rf artifacts outputs .pytest_cache .ruff_cache
	find . -name __pycache__ -not -path './$(VENV)/*' -prune -exec rm -rf {} +
