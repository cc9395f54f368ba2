# Quantization tutorial. The two commands: `make run-all` and `make test`.
# Everything runs inside .venv, created by `make setup` from the pinned requirements.txt.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
QUICK ?= 0
RUN_FLAGS := $(if $(filter 1 yes true,$(QUICK)),--quick,)
LAB_FLAGS = $(if $(PORT),--port $(PORT)) $(if $(IP),--ip $(IP)) \
	$(if $(filter 1 yes true,$(HEADLESS)),--headless) $(if $(filter 0 no false,$(HEADLESS)),--no-headless)

.PHONY: help setup data run-all test test-browser browser readme-results lab lint clean

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

data: setup  ## make sure Fashion-MNIST is present (Debian package offline, else Keras download)
	$(BIN)/python -m helpers.data

run-all: setup data  ## run notebooks 01-05 with papermill into outputs/ (QUICK=1: small parameters)
	$(BIN)/python -m helpers.runner $(RUN_FLAGS)

# The committed notebooks run under nbval with their default parameters, writing into a
# temporary ARTIFACTS_DIR so that `make test` never overwrites the results of `make run-all`.
test: setup data  ## unit and smoke tests, then nbval runs the committed notebooks as a learner gets them
	$(BIN)/python -m pytest tests
	@tmp=$$(mktemp -d) && echo "nbval: ARTIFACTS_DIR=$$tmp" && \
	ARTIFACTS_DIR=$$tmp $(BIN)/python -m pytest --nbval-lax --nbval-current-env notebooks/; \
	status=$$?; rm -rf $$tmp; exit $$status

test-browser: setup data browser  ## JupyterLab in a headless Chromium: run 01 and 03 through the UI, check the page
	$(BIN)/python -m pytest -m browser tests/browser

# Like `make data`: nothing to do if present, else Debian's package as root, else say how.
browser:  ## make sure Chromium is present for the browser test (Debian's chromium, as root)
	@if command -v chromium >/dev/null; then echo "Chromium present: $$(command -v chromium)"; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		echo "Installing Debian's chromium for the browser test ..."; \
		export DEBIAN_FRONTEND=noninteractive; apt-get update -qq && apt-get install -y -qq chromium; \
	else echo "No chromium, and installing it needs root and apt-get: the browser test will skip." \
		"Install it with: sudo apt-get install chromium"; fi

readme-results: setup  ## copy the last full run's table and figure into README.md and docs/
	$(BIN)/python -m helpers.report

# PORT=8890: exactly that port (default: the first free one from 8888). HEADLESS=1: no browser
# (the default on Linux without a display); HEADLESS=0: open one. IP=0.0.0.0 inside a container.
lab: setup data  ## open JupyterLab on notebooks/ with the .venv kernel (PORT=, HEADLESS=1, IP=0.0.0.0)
	@$(BIN)/python -m helpers.lab $(LAB_FLAGS)

lint: setup  ## ruff over helpers, tests and notebooks
	$(BIN)/ruff check helpers tests notebooks
	$(BIN)/ruff format --check helpers tests notebooks

clean:  ## remove artifacts/, outputs/ and caches (keeps .venv)
	rm -rf artifacts outputs .pytest_cache .ruff_cache
	find . -name __pycache__ -not -path './$(VENV)/*' -prune -exec rm -rf {} +
